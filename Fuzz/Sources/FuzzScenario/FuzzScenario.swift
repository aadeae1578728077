// Fuzz target for scenario files: the decoder and validator, the encoder, and the model.
//
// Every input either decodes or is rejected with a one-line error naming the file; what decodes
// encodes back to text that decodes to the same scenarios; and the model (pure, no system call)
// predicts every step of every decoded scenario on the described fixture (and peer) without trapping.
import BindConformance
import BindRules

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let scenarios: [Scenario]
    do {
        scenarios = try ScenarioDecoder.decode(data: bytes, file: "fuzz.json")
    } catch {
        let text = error.description
        if text.isEmpty || text.contains("\n") || !text.hasPrefix("fuzz.json") { fatalError("bad error text: \(text.debugDescription)") }
        return 0
    }
    let again: [Scenario]
    do { again = try ScenarioDecoder.decode(text: ScenarioEncoder.encode(scenarios), file: "again.json") } catch {
        fatalError("encoded scenarios do not decode: \(error)")
    }
    if again != scenarios { fatalError("encode/decode round trip changed the scenarios") }
    for s in scenarios {
        guard let host = try? Fixture.describedHost(sysctls: s.sysctls, withPeer: s.hasPeer) else { continue }
        let peer = s.hasPeer ? try? Fixture.describedPeer() : nil
        let predictions = ScenarioModel(host: host, peer: peer).run(s.steps)
        if predictions.count != s.steps.count { fatalError("the model skipped steps") }
        for (p, step) in zip(predictions, s.steps) {
            if p.reason.rule.isEmpty { fatalError("a prediction without a rule") }
            // Reach steps name their receivers (sorted, distinct); no other step does.
            let hasBy: Bool
            switch step.action {
            case .send: hasBy = true
            case .connect: hasBy = p.by != nil
            default: hasBy = false
            }
            if hasBy != (p.by != nil) { fatalError("by on a step without one, or none on a send") }
            if let by = p.by, by != Array(Set(by)).sorted() { fatalError("by is not sorted and distinct: \(by)") }
        }
    }
    return 0
}
