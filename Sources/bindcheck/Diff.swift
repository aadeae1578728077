import ArgumentParser
import BindConformance
import Foundation

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compares two matrix reports (bindcheck matrix --format json) cell by cell: two hosts, two kernels.",
        discussion: """
            Matches cells by their key and prints the cells whose kernel result differs, whose model result differs, \
            that only one report has, and that only one report ran. \
            Exit status: 0 no kernel result differs, 1 some do, 64 an unreadable or invalid file, 66 a missing file.
            """)

    @Argument(help: "The first report (A).") var a: String
    @Argument(help: "The second report (B).") var b: String
    @Flag(help: "Print the comparison as JSON.") var json = false
    @Option(help: "List at most N cells of each kind (0: all; the JSON always has all).") var limit: Int = 100

    func validate() throws {
        if limit < 0 { throw ValidationError("--limit must be 0 or more") }
    }

    func run() throws {
        let diff = MatrixDiff(try load(a), try load(b), aName: a, bName: b)
        if json {
            print(String(decoding: try diff.json(), as: UTF8.self))
        } else {
            print(diff.text(limit: limit))
        }
        if diff.exitStatus != 0 { throw ExitCode(diff.exitStatus) }
    }

    func load(_ path: String) throws -> MatrixReport {
        do throws(MatrixDiff.LoadError) {
            return try MatrixDiff.load(path)
        } catch {
            throw fail(error.description, code: error.exitStatus)
        }
    }
}
