import ArgumentParser
import BindConformance
import BindRules
import Foundation

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compares two matrix reports (bindcheck matrix --format json) cell by cell: two hosts, two kernels.",
        discussion: """
            Matches cells by their key and prints the cells whose kernel result differs (grouped by the model's rule, \
            its kernel function and the pair of results), whose model result differs, \
            that only one report has, and that only one report ran. \
            Exit status: 0 no kernel result differs, 1 some do, 64 an unreadable or invalid file, 66 a missing file.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, markdown, html }

    @Argument(help: "The first report (A).") var a: String
    @Argument(help: "The second report (B).") var b: String
    @Flag(help: "Print the comparison as JSON.") var json = false
    @Option(help: "text, markdown or html.") var format: Format = .text
    @Option(help: "List at most N cells of each kind (0: all; the JSON always has all).") var limit: Int = 100

    func validate() throws {
        if limit < 0 { throw ValidationError("--limit must be 0 or more") }
    }

    func run() throws {
        let diff: MatrixDiff
        do throws(MatrixDiff.LoadError) {
            diff = try MatrixDiff(files: a, b)
        } catch {
            throw fail(error.description, code: error.exitStatus)
        }
        if json {
            print(diff.jsonValue.serialized(.pretty(indent: 2, inlineDepth: 3)))
        } else {
            let changes = Self.kernelChanges(diff)
            switch format {
            case .text: print(diff.text(limit: limit, changes: changes))
            case .markdown: print(diff.markdown(limit: limit, changes: changes), terminator: "")
            case .html: print(diff.html(limit: limit, changes: changes), terminator: "")
            }
        }
        if diff.exitStatus != 0 { throw ExitCode(diff.exitStatus) }
    }

    /// The upstream changes between the two reports' kernels (`KernelChanges`), by the rule they
    /// touch: each group of differing cells names the change that explains it. Empty when either
    /// kernel's version cannot be read, or the kernels share every change.
    static func kernelChanges(_ d: MatrixDiff) -> [String: String] {
        guard let x = KernelVersion(release: d.a.kernel, build: d.a.build), let y = KernelVersion(release: d.b.kernel, build: d.b.build)
        else { return [:] }
        var byRule: [String: [String]] = [:]
        for c in KernelChanges.changes(between: x, and: y) {
            byRule[c.rule, default: []].append("\(c.summary) (Linux \(c.releases): \(c.commit) \"\(c.subject)\")")
        }
        return byRule.mapValues {
            $0.count == 1 ? $0[0] : "one of the changes to this rule between the two kernels: " + $0.joined(separator: "; ")
        }
    }
}
