import BindKit
import BindRules
import Foundation

/// The matrix's results as a report: counts, timing, every record.
public struct MatrixReport: Sendable {
    public var kernel: String
    public var host: HostFacts?
    public var mode: String
    public var cells: Int
    public var agree: Int
    public var disagree: Int
    public var skipped: Int
    public var seconds: Double
    public var records: [MatrixRecord]
    /// The reach cells (ReachReport.swift), after the bind cells.
    public var reach: [ReachRecord] = []
    public var reachSeconds: Double = 0

    public init(_ s: MatrixRunner.Summary) {
        self.init(kernel: HostFacts.kernelRelease(), host: s.facts, mode: s.mode, seconds: s.seconds, records: s.records)
    }

    /// A report of `records` (the counts follow from them).
    public init(kernel: String, host: HostFacts? = nil, mode: String, seconds: Double, records: [MatrixRecord]) {
        self.kernel = kernel
        self.host = host
        self.mode = mode
        self.records = records
        cells = records.count
        // One pass, without copying the records (a filter would copy each one it keeps).
        var skipped = 0
        var agree = 0
        for i in records.indices {
            if records[i].skipped != nil { skipped += 1 } else if records[i].agrees { agree += 1 }
        }
        self.skipped = skipped
        self.agree = agree
        disagree = cells - skipped - agree
        self.seconds = (seconds * 1000).rounded() / 1000
    }

    public var cellsPerSecond: Double { seconds > 0 ? Double(cells - skipped) / seconds : 0 }

    /// The text report: the counts, then every disagreement with its cell, both results and the
    /// model's reason, then what was skipped and why.
    public var text: String {
        var lines = [
            "bindcheck matrix on Linux \(kernel) (\(mode == "host" ? "host namespace" : "private namespaces"))",
            "cells \(cells), agreed \(agree), disagreed \(disagree), skipped \(skipped), \(String(format: "%.1f", seconds)) s, \(String(format: "%.0f", cellsPerSecond)) cells/s",
        ]
        let bad = records.filter { $0.skipped == nil && !$0.agrees }
        if !bad.isEmpty {
            lines.append("")
            lines.append("disagreements:")
            for r in bad {
                lines.append("  \(r.cell.key)")
                lines.append("    model:  \(r.model?.description ?? "-")")
                lines.append("    kernel: \(r.kernel?.description ?? "-")")
                if let reason = r.reason { lines.append("    reason: \(MatrixReport.describe(reason))") }
            }
        }
        let skippedWhy = Dictionary(grouping: records.compactMap(\.skipped), by: { $0 }).mapValues(\.count)
        if !skippedWhy.isEmpty {
            lines.append("")
            lines.append("skipped:")
            for (why, n) in skippedWhy.sorted(by: { $0.key < $1.key }) { lines.append("  \(n) cells: \(why)") }
        }
        let reachLines = ReachReport.textLines(reach)
        if !reachLines.isEmpty {
            lines.append("")
            lines += reachLines
        }
        return lines.joined(separator: "\n")
    }

    /// Whether every bind cell and every reach cell that ran agrees.
    public var allAgree: Bool { disagree == 0 && ReachReport.Counts(reach).disagree == 0 }

    /// A reason in one line: `rule (kernel function): text; fix`.
    public static func describe(_ reason: Reason) -> String {
        var s = "\(reason.rule) (\(reason.kernel))"
        let words = reason.description
        if !words.isEmpty { s += ": " + words }
        return s
    }

    // MARK: JSON Lines

    /// The format's name and version in the header line.
    public static let format = "bindcheck-matrix"
    public static let version = 2

    /// The report as JSON Lines (see docs/reports.md): a header line, one line a record, a
    /// summary line. Written a buffer at a time.
    public func writeJSONLines(to writer: JSONLinesWriter) throws {
        try writer.line(try headerLine())
        for r in records { try writer.object { Self.write(r, into: &$0) } }
        for r in reach { try writer.object { ReachReport.write(r, into: &$0) } }
        try writer.line(summaryLine())
    }

    /// The whole report as JSON Lines in a string (for tests and small reports).
    public func jsonLines() throws -> String {
        var out = try headerLine() + "\n"
        for r in records {
            var o = JSONObjectWriter()
            Self.write(r, into: &o)
            out += o.finished + "\n"
        }
        for r in reach {
            var o = JSONObjectWriter()
            ReachReport.write(r, into: &o)
            out += o.finished + "\n"
        }
        return out + summaryLine().finished + "\n"
    }

    func summaryLine() -> JSONObjectWriter {
        var t = JSONObjectWriter()
        t.string("summary", Self.format)
        t.integer("cells", cells)
        t.integer("agree", agree)
        t.integer("disagree", disagree)
        t.integer("skipped", skipped)
        t.value("seconds", .number(String(format: "%.3f", seconds)))
        if !reach.isEmpty {
            let c = ReachReport.Counts(reach)
            t.integer("reachCells", c.cells)
            t.integer("reachAgree", c.agree)
            t.integer("reachDisagree", c.disagree)
            t.value("reachSeconds", .number(String(format: "%.3f", reachSeconds)))
        }
        return t
    }

    func headerLine() throws -> String {
        var h = JSONObjectWriter()
        h.string("format", Self.format)
        h.integer("version", Self.version)
        h.string("kernel", kernel)
        h.string("mode", mode)
        if let host { h.value("host", try JSONValue(encoding: host)) }
        return h.finished
    }

    /// One record's line: its key, whether the sides agree, the kernel's outcome, the model's
    /// (only where it differs), the model's rule and kernel function, its words (where it has
    /// them), why it was skipped, and last its port (so that lines of two runs compare without it).
    static func write(_ r: MatrixRecord, into o: inout JSONObjectWriter) {
        o.string("key", r.cell.key)
        if let skipped = r.skipped {
            o.string("skipped", skipped)
        } else {
            o.bool("agree", r.agrees)
            if let k = r.kernel { o.object("kernel") { write(k, into: &$0) } }
            if !r.agrees, let m = r.model { o.object("model") { write(m, into: &$0) } }
        }
        if let reason = r.reason {
            o.string("rule", reason.rule)
            o.string("function", reason.kernel)
            if !reason.text.isEmpty { o.string("text", reason.text) }
            if let fix = reason.fix { o.string("fix", fix) }
            if let h = reason.holder {
                o.object("holder") {
                    $0.string("id", h.id)
                    $0.string("address", h.address)
                    $0.string("summary", h.summary)
                }
            }
            if let p = reason.port, p != r.port { o.integer("reasonPort", p) }
        }
        if let port = r.port { o.integer("port", port) }
    }

    /// `{"setup":{"bind":"EADDRNOTAVAIL"},"bind":"ok","listen":"ok"}`: each step's op names its outcome.
    static func write(_ c: CellOutcome, into o: inout JSONObjectWriter) {
        if let setup = c.setup { o.object("setup") { $0.string(setup.op.rawValue, setup.outcome.description) } }
        o.string(c.result.op.rawValue, c.result.outcome.description)
        if let l = c.listen { o.string("listen", l.description) }
    }
}
