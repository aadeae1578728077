import BindConformance
import BindKit
import BindRules
import BindTestSupport
import CBindShim
import Foundation
import PropertyBased
import Testing

/// Whether this process may create network namespaces (root, or CAP_SYS_ADMIN + CAP_NET_ADMIN).
let canMakeNamespaces: Bool = {
    (try? withPrivateNamespace { _ in true }) ?? false
}()

let scenarioRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Scenarios").path

@Suite("Scenario corpus against the kernel", .checksLeaks, .enabled(if: canMakeNamespaces, "needs root to create network namespaces"))
struct CorpusTests {
    @Test("every step of Tests/Scenarios: model == kernel == expect")
    func corpusAgrees() throws {
        let files = try ScenarioLoader.load(paths: [scenarioRoot])
        var scenarios = 0
        var steps = 0
        for (file, list) in files {
            for scenario in list {
                scenarios += 1
                for r in try ScenarioRunner.run(scenario, mode: .both) {
                    steps += 1
                    if file.contains("/rules/") {
                        #expect(r.expect != nil, "\(file): \(scenario.name) step \(r.step) has no expect")
                    }
                    #expect(
                        r.model == r.kernel && (r.expect == nil || r.expect == r.kernel),
                        "\(file): \(scenario.name) step \(r.step) \(r.op): model \(r.model ?? "-") kernel \(r.kernel ?? "-") expect \(r.expect ?? "-") — \(r.reason ?? "")"
                    )
                }
            }
        }
        #expect(scenarios >= 300, "the corpus has \(scenarios) scenarios")
        print("corpus: \(files.count) files, \(scenarios) scenarios, \(steps) steps")
    }
}

/// A random-number generator over PropertyBased's, usable where a generic one is wanted.
struct ForwardingRNG: RandomNumberGenerator {
    var base: any SeededRandomNumberGenerator
    mutating func next() -> UInt64 { base.next() }
}

@Suite("Random scenarios against the kernel", .checksLeaks, .enabled(if: canMakeNamespaces, "needs root to create network namespaces"))
struct RandomScenarioTests {
    static let generator = Generator<Scenario, [Scenario]>(
        run: { rng in
            var r = ForwardingRNG(base: rng)
            let s = ScenarioGenerator(timewait: true).scenario(name: "random", using: &r)
            rng = r.base
            return s
        },
        shrink: { ScenarioShrinker.candidates($0) })

    @Test("model == kernel at every step of 500 random scenarios")
    func randomScenariosAgree() async {
        await propertyCheck(count: 500, input: Self.generator) { scenario in
            let records: [StepRecord]
            do { records = try ScenarioRunner.run(scenario, mode: .both) } catch {
                Issue.record("kernel run failed: \(error)")
                return
            }
            if let bad = records.first(where: { !$0.agrees }) {
                Issue.record(
                    """
                    step \(bad.step) \(bad.op): model \(bad.model ?? "-") kernel \(bad.kernel ?? "-") — \(bad.reason ?? "")
                    scenario file:
                    \(ScenarioEncoder.encode([Soak.withExpectations(scenario)]))
                    """)
            }
        }
    }
}
