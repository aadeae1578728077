import ArgumentParser
import BindConformance
import BindKit
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
    @Flag(help: "Run the kernel alone (also written `--kernel` with no release after it).") var kernelOnly = false
    @Option(
        name: .customLong("kernel"),
        help: "The kernel release the model answers for (6.1, 6.1.168, 5.10); default: the running kernel's.")
    var kernelRelease: String?

    func validate() throws {
        if model && kernelOnly { throw ValidationError("--model and --kernel-only exclude each other; give neither for both") }
        if let kernelRelease, KernelVersion(kernelRelease) == nil {
            throw ValidationError("--kernel wants a release such as 6.1 or 6.1.168, not \(kernelRelease)")
        }
    }

    func run() throws {
        let mode: RunMode = model ? .model : kernelOnly ? .kernel : .both
        let modelKernel = kernelRelease.flatMap(KernelVersion.init)
        if let modelKernel, let note = BindModel(host: ModelHost(interfaces: [], sysctls: BindSysctls(), kernel: modelKernel)).kernelNote {
            FileHandle.standardError.write(Data("bindcheck: \(note)\n".utf8))
        }
        let files: [(file: String, scenarios: [Scenario])]
        do { files = try ScenarioLoader.load(paths: paths) } catch { throw fail("\(error)", code: 64) }
        var steps = 0
        var differing = 0
        for (_, scenarios) in files {
            for scenario in scenarios {
                let records: [StepRecord]
                do { records = try ScenarioRunner.run(scenario, mode: mode, kernel: modelKernel) } catch let e as NamespaceError {
                    if case .notPermitted = e { throw fail("\(e)", code: 77) }
                    throw fail("scenario \"\(scenario.name)\": \(e)", code: 1)
                }
                for r in records {
                    steps += 1
                    if !r.agrees { differing += 1 }
                    if json {
                        print(try JSONValue(encoding: r).sortingKeys.serialized())
                    } else {
                        print(RunReport.line(r))
                    }
                }
            }
        }
        if !json { print(RunReport.summary(steps: steps, differing: differing, mode: mode)) }
        if differing > 0 { throw ExitCode(1) }
    }

    /// `run --kernel` has two meanings, both in the contracts: SCENARIOS.md's `--kernel` (the
    /// kernel alone) and `--model --kernel 6.1` (the release the model answers for). A `--kernel`
    /// followed by a release that is not a file is the release; any other is `--kernel-only`.
    static func kernelFlags(_ arguments: [String]) -> [String] {
        guard arguments.first == "run" else { return arguments }
        var out = arguments
        for (i, a) in arguments.enumerated() where a == "--kernel" {
            if arguments.prefix(i).contains("--") { break }
            let next = i + 1 < arguments.count ? arguments[i + 1] : nil
            let isRelease = next.map { KernelVersion($0) != nil && !FileManager.default.fileExists(atPath: $0) } ?? false
            if !isRelease { out[i] = "--kernel-only" }
        }
        return out
    }
}
