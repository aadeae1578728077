import BindKit
import Foundation

/// The matrix's results as a report: counts, timing, every record.
public struct MatrixReport: Codable, Sendable {
    public var kernel: String
    public var host: HostFacts?
    public var mode: String
    public var cells: Int
    public var agree: Int
    public var disagree: Int
    public var skipped: Int
    public var seconds: Double
    public var records: [MatrixRecord]

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
        skipped = records.filter { $0.skipped != nil }.count
        agree = records.filter(\.agrees).count
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
                if let reason = r.reason { lines.append("    reason: \(reason)") }
            }
        }
        let skippedWhy = Dictionary(grouping: records.compactMap(\.skipped), by: { $0 }).mapValues(\.count)
        if !skippedWhy.isEmpty {
            lines.append("")
            lines.append("skipped:")
            for (why, n) in skippedWhy.sorted(by: { $0.key < $1.key }) { lines.append("  \(n) cells: \(why)") }
        }
        return lines.joined(separator: "\n")
    }

    public func json() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try e.encode(self)
    }
}
