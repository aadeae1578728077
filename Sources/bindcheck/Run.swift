import ArgumentParser
import BindConformance
import BindRules
import Foundation

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run scenario files: the model predicts each step, the kernel answers in a private namespace.",
        discussion: """
            Exit status: 0 when every compared pair (model, kernel, expect) agrees, 1 when any differs, \
            64 for an invalid file or arguments, 77 when a kernel run needs privileges the process lacks.
            """)

    @Argument(help: "Scenario files, or directories searched for *.json.") var paths: [String]
    @Flag(help: "One JSON object per step.") var json = false
    @Flag(help: "Run the model alone.") var model = false
    @Flag(help: "Run the kernel alone.") var kernel = false

    func validate() throws {
        if model && kernel { throw ValidationError("--model and --kernel exclude each other; give neither for both") }
    }

    func run() throws {
        let mode: RunMode = model ? .model : kernel ? .kernel : .both
        let files: [(file: String, scenarios: [Scenario])]
        do { files = try ScenarioLoader.load(paths: paths) } catch { throw fail("\(error)", code: 64) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var steps = 0
        var differing = 0
        for (_, scenarios) in files {
            for scenario in scenarios {
                let records: [StepRecord]
                do { records = try ScenarioRunner.run(scenario, mode: mode) } catch let e as NamespaceError {
                    if case .notPermitted = e { throw fail("\(e)", code: 77) }
                    throw fail("scenario \"\(scenario.name)\": \(e)", code: 1)
                }
                for r in records {
                    steps += 1
                    if !r.agrees { differing += 1 }
                    if json {
                        print(String(decoding: try encoder.encode(r), as: UTF8.self))
                    } else {
                        print(RunReport.line(r))
                    }
                }
            }
        }
        if !json { print(RunReport.summary(steps: steps, differing: differing, mode: mode)) }
        if differing > 0 { throw ExitCode(1) }
    }
}
