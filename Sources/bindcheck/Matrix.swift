import ArgumentParser
import BindConformance
import BindKit
import Foundation

struct MatrixCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "matrix",
        abstract: "The exhaustive conformance matrix: every combination of family, address, transport and option, model against kernel.",
        discussion: """
            Runs in private network namespaces (root, or CAP_SYS_ADMIN + CAP_NET_ADMIN); without that privilege, \
            in the host's namespace on free high ports and the host's own addresses, listing what it skips. \
            Exit status: 0 all agree, 1 any disagreement, 64 bad arguments, 77 nothing could run.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, markdown, html }

    @Option(help: "Only one transport: tcp or udp.") var only: String?
    @Option(help: "Run a random sample of N cells.") var sample: Int?
    @Option(help: "Seed of the sample.") var seed: UInt64 = 1
    @Option(help: "text, json (JSON Lines: docs/reports.md), markdown or html.") var format: Format = .text
    @Option(help: "Write the report to FILE (default: standard output).") var output: String?
    @Flag(help: "Only the bind cells: no reach cells (which socket a connection or a datagram reaches).") var noReach = false
    @Option(help: "Worker threads (default: one per core).") var workers: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        if let only, Transport(rawValue: only) == nil { throw ValidationError("--only takes tcp or udp, not \(only)") }
        if let sample, sample < 1 { throw ValidationError("--sample must be at least 1") }
        if workers < 1 || workers > 256 { throw ValidationError("--workers must be 1 to 256") }
    }

    func run() throws {
        let transport = only.flatMap(Transport.init(rawValue:))
        var cells = Matrix.cells(only: transport)
        var reachCells = noReach ? [] : Matrix.reachCells(only: transport)
        if let sample, sample < cells.count + reachCells.count {
            // The same share of each kind of cell.
            var rng = SeededGenerator(seed: seed)
            let share = Double(sample) / Double(cells.count + reachCells.count)
            let reachCount = Int((Double(reachCells.count) * share).rounded())
            cells.shuffle(using: &rng)
            cells = Array(cells.prefix(sample - reachCount))
            reachCells.shuffle(using: &rng)
            reachCells = Array(reachCells.prefix(reachCount))
        }
        let total = cells.count
        let progress = Progress(total: total, enabled: isatty(2) == 1)
        let summary: MatrixRunner.Summary
        do {
            summary = try MatrixRunner.run(cells, workers: workers) { d, b in progress.update(done: d, bad: b) }
        } catch NamespaceError.notPermitted(let why) {
            warn("bindcheck: \(why); running in the host's namespace instead")
            summary = try MatrixRunner.runOnHost(cells) { d, b in progress.update(done: d, bad: b) }
        }
        progress.finish()
        var report = MatrixReport(summary)
        if !reachCells.isEmpty {
            if summary.mode == "namespaces" {
                let reachProgress = Progress(total: reachCells.count, enabled: isatty(2) == 1, unit: "reach cells")
                let reach = try ReachRunner.run(reachCells, workers: workers) { d, b in reachProgress.update(done: d, bad: b) }
                reachProgress.finish()
                report.reach = reach.records
                report.reachSeconds = reach.seconds
            } else {
                warn("bindcheck: the \(reachCells.count) reach cells need private namespaces (a peer namespace on the link): not run")
            }
        }
        if report.cells == report.skipped { throw fail("nothing could run without privilege: \(report.text)", code: 77) }
        if format == .json {
            // JSON Lines, a buffer at a time: the report is never held as text.
            do {
                let writer = try output.map { try JSONLinesWriter(path: $0) } ?? JSONLinesWriter()
                try report.writeJSONLines(to: writer)
                try writer.close()
            } catch {
                throw fail("cannot write \(output ?? "the report"): \(error.localizedDescription)", code: 73)
            }
            if output != nil { print(report.text.split(separator: "\n").prefix(2).joined(separator: "\n")) }
            if !report.allAgree { throw ExitCode(1) }
            return
        }
        let text: String
        switch format {
        case .text, .json: text = report.text
        case .markdown: text = MatrixMarkdown.render(report)
        case .html: text = MatrixHTML.render(report)
        }
        if let output {
            do { try text.write(toFile: output, atomically: true, encoding: .utf8) } catch {
                throw fail("cannot write \(output): \(error.localizedDescription)", code: 73)
            }
            if format != .text { print(report.text.split(separator: "\n").prefix(2).joined(separator: "\n")) }
        } else {
            print(text)
        }
        if !report.allAgree { throw ExitCode(1) }
    }
}

/// Progress on a terminal: cells done, agreement so far, time left. Silent otherwise.
final class Progress: @unchecked Sendable {
    private let total: Int
    private let enabled: Bool
    private let start = ContinuousClock.now
    private let lock = NSLock()
    private var last = ContinuousClock.now

    private let unit: String

    init(total: Int, enabled: Bool, unit: String = "cells") {
        self.total = total
        self.enabled = enabled
        self.unit = unit
    }

    func update(done: Int, bad: Int) {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        let now = ContinuousClock.now
        guard now - last > .milliseconds(250) || done == total else { return }
        last = now
        let elapsed = Double((now - start).components.seconds) + Double((now - start).components.attoseconds) / 1e18
        let left = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
        let agree = done > 0 ? 100 * Double(done - bad) / Double(done) : 100
        FileHandle.standardError.write(
            Data(("\r\(done)/\(total) \(unit), " + String(format: "%.2f%% agree, %.0f s left   ", agree, left)).utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
