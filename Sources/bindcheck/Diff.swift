import ArgumentParser
import BindConformance
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
            switch format {
            case .text: print(diff.text(limit: limit))
            case .markdown: print(diff.markdown(limit: limit), terminator: "")
            case .html: print(diff.html(limit: limit), terminator: "")
            }
        }
        if diff.exitStatus != 0 { throw ExitCode(diff.exitStatus) }
    }
}
