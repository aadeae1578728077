import ArgumentParser
import BindConformance
import BindRules
import Foundation

struct SoakCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "Random multi-socket scenarios, model against kernel; disagreements are shrunk and written out.")

    @Option(help: "How many scenarios.") var scenarios: Int = 1000
    @Option(help: "Seed; scenario i uses seed+i.") var seed: UInt64 = 1
    @Option(help: "Where shrunk disagreements are written.") var out: String = "soak-failures"
    @Option(help: "Scenarios run at once, each in its own namespace (the same scenarios whatever the number).") var workers: Int = 4
    @Flag(help: "Reach steps too: sockets on the peer, SO_BROADCAST, connect and send (a peer namespace per scenario).")
    var reach = false
    @Flag(help: "Print one JSON object: scenarios, steps, disagree, seconds.") var json = false

    func validate() throws {
        guard scenarios > 0 else { throw ValidationError("--scenarios must be at least 1") }
        guard (1...64).contains(workers) else { throw ValidationError("--workers must be between 1 and 64") }
    }

    func run() throws {
        let terminal = isatty(2) == 1
        let result: Soak.Result
        do {
            let total = scenarios
            let generator = ScenarioGenerator(timewait: true, reach: reach)
            result = try Soak.run(count: scenarios, seed: seed, workers: workers, generator: generator) { done, bad in
                if terminal && (done % 100 == 0 || done == total) {
                    FileHandle.standardError.write(Data("\r\(done)/\(total) scenarios, \(bad) disagree".utf8))
                }
            }
        } catch let e as NamespaceError {
            if case .notPermitted = e { throw fail("\(e)", code: 77) }
            throw fail("\(e)", code: 1)
        }
        if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
        if !result.failures.isEmpty {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            for s in result.failures {
                let file = "\(out)/\(s.name.replacingOccurrences(of: " ", with: "-")).json"
                try ScenarioEncoder.encode([s]).write(toFile: file, atomically: true, encoding: .utf8)
                warn("disagreement written to \(file)")
            }
        }
        if json {
            print(try JSONValue(encoding: result).sortingKeys.serialized())
        } else {
            print(
                "\(result.scenarios) scenarios, \(result.steps) steps, \(result.disagree) disagree, \(String(format: "%.1f", result.seconds)) s (\(String(format: "%.0f", Double(result.scenarios) / max(result.seconds, 1e-9))) scenarios/s)"
            )
        }
        if result.disagree > 0 { throw ExitCode(1) }
    }
}
