import BindKit
import BindRules
import Foundation

/// The reach cells in every report format: their counts, their disagreements, a JSON line each,
/// and a grid (rows: the sockets on the port, columns: the destination) per transport and sender.
public enum ReachReport {
    /// Counts of a set of reach records.
    public struct Counts: Sendable, Equatable {
        public var cells = 0
        public var agree = 0
        public var disagree: Int { cells - agree }

        public init(_ records: [ReachRecord]) {
            cells = records.count
            agree = records.lazy.filter(\.agrees).count
        }
    }

    // MARK: Text

    /// The text report's lines for the reach cells: the counts, then each disagreement.
    public static func textLines(_ records: [ReachRecord]) -> [String] {
        guard !records.isEmpty else { return [] }
        let c = Counts(records)
        var lines = ["reach cells \(c.cells), agreed \(c.agree), disagreed \(c.disagree)"]
        let bad = records.filter { !$0.agrees }
        if !bad.isEmpty {
            lines.append("")
            lines.append("reach disagreements:")
            for r in bad {
                lines.append("  \(r.cell.key)")
                lines.append("    model:  \(r.model?.description ?? "-")")
                lines.append("    kernel: \(r.kernel?.description ?? "-")")
                if let reason = r.reason { lines.append("    reason: \(MatrixReport.describe(reason))") }
            }
        }
        return lines
    }

    // MARK: JSON Lines

    /// One reach record's line (docs/reports.md): its key, whether the sides agree, the kernel's
    /// outcome, the model's (only where it differs), the model's rule, kernel function and words
    /// (where it has them), and last its port.
    static func write(_ r: ReachRecord, into o: inout JSONObjectWriter) {
        o.string("key", r.cell.key)
        o.bool("agree", r.agrees)
        let op = r.cell.transport == .tcp ? "connect" : "send"
        if let k = r.kernel { o.object("kernel") { write(k, op: op, into: &$0) } }
        if !r.agrees, let m = r.model { o.object("model") { write(m, op: op, into: &$0) } }
        if let reason = r.reason {
            o.string("rule", reason.rule)
            o.string("function", reason.kernel)
            if !reason.text.isEmpty { o.string("text", reason.text) }
            if let fix = reason.fix { o.string("fix", fix) }
        }
        o.integer("port", r.port)
    }

    /// `{"setup":["b bind EADDRINUSE"],"connect":"ok","by":["a"]}`.
    static func write(_ c: ReachOutcome, op: String, into o: inout JSONObjectWriter) {
        if !c.setup.isEmpty { o.value("setup", .array(c.setup.map { .string($0) })) }
        o.string(op, c.result.description)
        o.value("by", .array(c.by.map { .string($0) }))
    }

    // MARK: Grid

    /// A square's code: who got it (`a`, `a,b`; `·` for a datagram nobody took), or the error in
    /// short (`REFUSED`); `1:` before it when a listener's setup failed.
    static func code(_ o: ReachOutcome) -> String {
        var s = o.setup.isEmpty ? "" : "\(o.setup.count):"
        switch o.result {
        case .ok: s += o.by.isEmpty ? "·" : o.by.joined(separator: ",")
        case .errno(let e): s += MatrixLayout.short(e)
        }
        return s
    }

    /// The grids: one per transport and sender, rows the listener sets in the matrix's order,
    /// columns the destinations.
    struct Grid {
        var transport: Transport
        var sender: Side
        var rows: [String] = []
        var columns: [String] = []
        /// [row][column] → the record's index.
        var index: [[Int?]] = []
    }

    static func grids(_ records: [ReachRecord]) -> [Grid] {
        var out: [Grid] = []
        var at: [String: Int] = [:]
        for (i, r) in records.enumerated() {
            let g = "\(r.cell.transport.rawValue) \(r.cell.sender.rawValue)"
            let n: Int
            if let known = at[g] {
                n = known
            } else {
                n = out.count
                at[g] = n
                out.append(Grid(transport: r.cell.transport, sender: r.cell.sender))
            }
            let row = r.cell.listeners.map(\.description).joined(separator: " | ")
            var ri = out[n].rows.firstIndex(of: row)
            if ri == nil {
                out[n].rows.append(row)
                out[n].index.append(Array(repeating: nil, count: out[n].columns.count))
                ri = out[n].rows.count - 1
            }
            var ci = out[n].columns.firstIndex(of: r.cell.destination)
            if ci == nil {
                out[n].columns.append(r.cell.destination)
                for k in out[n].index.indices { out[n].index[k].append(nil) }
                ci = out[n].columns.count - 1
            }
            out[n].index[ri!][ci!] = i
        }
        return out
    }

    static func senderText(_ s: Side) -> String { s == .host ? "from this host" : "from the peer" }

    // MARK: Markdown

    /// The Markdown section: counts per transport and sender, the disagreements, and a table of
    /// the single-socket rows (listener alone, no device) per grid.
    public static func markdown(_ records: [ReachRecord], into out: inout String) {
        guard !records.isEmpty else { return }
        let c = Counts(records)
        out += "## Reach\n\n"
        out += "Which socket of this host gets a connection (TCP) or a datagram (UDP) sent to a destination at the port of the "
        out += "sockets a cell binds (and listens on, for TCP), from this host or from the peer (the other machine on the link). "
        out += "A square shows the kernel's answer: the ids of the sockets that got it (`a` is the first socket, `b` the second, …), "
        out += "`·` a datagram sent that no socket took, or connect(2)'s or sendto(2)'s error; `N:` first when N of the sockets "
        out += "could not be set up; `✗ m:A k:B` a disagreement.\n\n"
        out += "\(c.cells) reach cells, \(c.agree) agree, \(c.disagree) disagree.\n\n"
        out += "| transport | sender | cells | agree | disagree |\n| --- | --- | ---: | ---: | ---: |\n"
        let gs = grids(records)
        for g in gs {
            let rs = g.index.flatMap { $0.compactMap { $0 } }.map { records[$0] }
            let gc = Counts(rs)
            out += "| \(g.transport.rawValue) | \(senderText(g.sender)) | \(gc.cells) | \(gc.agree) | \(gc.disagree) |\n"
        }
        out += "\n"
        let bad = records.filter { !$0.agrees }
        if !bad.isEmpty {
            out += "### Reach disagreements\n\n| cell | model | kernel | reason |\n| --- | --- | --- | --- |\n"
            for r in bad.prefix(MatrixMarkdown.listed) {
                out +=
                    "| `\(r.cell.key)` | \(r.model.map(\.description) ?? "-") | \(r.kernel.map(\.description) ?? "-") | \(r.reason.map(MatrixReport.describe) ?? "") |\n"
            }
            out += "\n"
        }
        for g in gs {
            out += "### Reach, \(g.transport.rawValue), \(senderText(g.sender)): one socket\n\n"
            out += "| socket | " + g.columns.map { "`\($0)`" }.joined(separator: " | ") + " |\n"
            out += "| --- |" + String(repeating: " --- |", count: g.columns.count) + "\n"
            for (ri, row) in g.rows.enumerated() where !row.contains(" | ") && !row.contains(" dev ") {
                out += "| `\(row)` |"
                for i in g.index[ri] {
                    guard let i else {
                        out += " |"
                        continue
                    }
                    out += " " + square(records[i]) + " |"
                }
                out += "\n"
            }
            out += "\n"
        }
    }

    /// A square's text: the kernel's code, or the disagreement.
    static func square(_ r: ReachRecord) -> String {
        guard let k = r.kernel else { return "-" }
        if r.agrees { return "`\(code(k))`" }
        return "✗ m:`\(r.model.map(code) ?? "-")` k:`\(code(k))`"
    }

    // MARK: HTML

    /// The HTML section: a table per transport and sender, every listener set a row, each square
    /// coloured by the answer (reached, not reached, error) and marked where the sides disagree,
    /// with the cell's key, both answers and the model's reason as its tooltip.
    public static func html(_ records: [ReachRecord], into out: inout String) {
        guard !records.isEmpty else { return }
        let c = Counts(records)
        out += "<section id=\"reach\"><h2>Reach</h2>\n"
        out += "<p>Which socket gets a connection (TCP) or a datagram (UDP) to each destination at the cell's port, "
        out += "from this host or from the peer. A square shows who got it (<code>a</code>: the first socket, <code>b</code>: the "
        out += "second, …), <code>·</code> for a datagram no socket took, or the error. \(c.cells) cells, \(c.agree) agree, "
        out += "<b>\(c.disagree) disagree</b>.</p>\n"
        for g in grids(records) {
            out += "<details\(g.transport == .tcp && g.sender == .peer ? " open" : "")><summary>\(g.transport.rawValue), "
            out += "\(senderText(g.sender)) (\(g.rows.count) socket sets × \(g.columns.count) destinations)</summary>\n"
            out += "<table class=\"reach\"><tr><th>sockets</th>"
            for col in g.columns { out += "<th>\(escape(col))</th>" }
            out += "</tr>\n"
            for (ri, row) in g.rows.enumerated() {
                out += "<tr><th>\(escape(row))</th>"
                for i in g.index[ri] {
                    guard let i else {
                        out += "<td></td>"
                        continue
                    }
                    let r = records[i]
                    let k = r.kernel.map(code) ?? "-"
                    let cls: String
                    if !r.agrees {
                        cls = "bad"
                    } else if r.kernel?.by.isEmpty == false {
                        cls = "hit"
                    } else if r.kernel?.result == .ok {
                        cls = "miss"
                    } else {
                        cls = "err"
                    }
                    var tip = r.cell.key + "\nkernel: " + (r.kernel?.description ?? "-")
                    if !r.agrees { tip += "\nmodel: " + (r.model?.description ?? "-") }
                    if let reason = r.reason { tip += "\n" + MatrixReport.describe(reason) }
                    out += "<td class=\"\(cls)\" title=\"\(escape(tip))\">\(escape(r.agrees ? k : "✗ " + k))</td>"
                }
                out += "</tr>\n"
            }
            out += "</table></details>\n"
        }
        out += "</section>\n"
    }

    /// The reach tables' style: appended to the page's own.
    public static let css = """
        table.reach{border-collapse:collapse;font:11px monospace}table.reach th{text-align:left;font-weight:normal;padding:1px 4px;white-space:nowrap}
        table.reach td{padding:1px 3px;border:1px solid #ddd;text-align:center}table.reach td.hit{background:#c8e6c9}
        table.reach td.miss{background:#fff9c4}table.reach td.err{background:#eceff1}table.reach td.bad{background:#ef9a9a;font-weight:bold}
        """

    /// HTML text, a newline kept as a character reference (tooltips have several lines).
    static func escape(_ s: String) -> String { MatrixHTML.html(s).replacing("\n", with: "&#10;") }
}
