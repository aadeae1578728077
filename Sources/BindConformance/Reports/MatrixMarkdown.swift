import BindKit
import BindRules
import Foundation

/// The matrix as Markdown: the summary, a legend of the codes, counts per grid, the
/// disagreements, then tables (rows: the first socket's place, columns: the second's) for the
/// pairs of each transport and first state under the option pairs that matter most, and for the
/// cross-transport, single-socket and privileged-port cells.
public enum MatrixMarkdown {
    /// The option pairs whose same-uid, default-sysctl pair grids get a table; every other grid is
    /// counted in the summary, and its disagreements listed.
    static let tabled: [(ReuseOptions, ReuseOptions)] = [(.none, .none), (.reuseaddr, .reuseaddr), (.reuseport, .reuseport)]
    /// At most this many disagreements are listed one by one.
    static let listed = 200

    public static func render(_ r: MatrixReport) -> String {
        let grids = MatrixGrids(r.records)
        let numbers = placeNumbers(grids)
        var out = ""
        heading(r, into: &out)
        legend(r, numbers: numbers, into: &out)
        summary(r, grids, into: &out)
        disagreements(r, into: &out)
        pairs(r, grids, numbers: numbers, into: &out)
        others(r, grids, numbers: numbers, into: &out)
        ReachReport.markdown(r.reach, into: &out)
        skipped(r, into: &out)
        return out
    }

    // MARK: Sections

    static func heading(_ r: MatrixReport, into out: inout String) {
        let mode = r.mode == "host" ? "host namespace" : "private namespaces"
        out += "# Conformance matrix: Linux \(md(r.kernel))\n\n"
        out += "| kernel | run in | cells | agree | disagree | skipped | seconds |\n| --- | --- | ---: | ---: | ---: | ---: | ---: |\n"
        out +=
            "| \(md(r.kernel)) | \(mode) | \(r.cells) | \(r.agree) | \(r.disagree) | \(r.skipped) | \(String(format: "%.1f", r.seconds)) |\n\n"
        if r.disagree == 0 {
            out += "The model and the kernel agree on every cell that ran.\n\n"
        } else {
            out += "**\(r.disagree) cells disagree**: marked ✗ in the tables and listed under [Disagreements](#disagreements).\n\n"
        }
    }

    static func legend(_ r: MatrixReport, numbers: [String: Int], into out: inout String) {
        out += "## Legend\n\n"
        out += "A cell shows the second socket's result (its bind(), then for TCP its listen()) as the kernel gave it. "
        out += "Rows are the first socket's place, columns the second's, numbered as in the list of places below.\n\n"
        out += "| code | meaning |\n| --- | --- |\n"
        out += "| `ok` | bind() succeeded (and listen(), for TCP) |\n"
        for (errno, meaning) in errnoMeanings(r) {
            out += "| `\(MatrixLayout.short(errno))` | \(errno)\(meaning.isEmpty ? "" : ": " + meaning) |\n"
        }
        out += "| `X/L-Y` | bind() gave X, then listen() failed with Y |\n"
        out += "| `S-X` | socket() (or an option set when it was made) failed with X |\n"
        out +=
            "| `1:X …` | the first socket's setup failed with X (`L-X` its listen(), `TW-X` leaving TIME_WAIT), then the second's code; a row where it failed the same way in every cell says so in its label instead |\n"
        out += "| `✗ m:A k:B` | **disagreement**: the model predicted A, the kernel answered B |\n"
        out += "| `skip` | not run (see [Skipped](#skipped)) |\n"
        out += "| (empty) | not in this report (a sample, or not a cell of the matrix) |\n\n"
        out +=
            "Kinds: `v4` inet; `v6d` inet6 with IPV6_V6ONLY=0; `v6o` inet6 with IPV6_V6ONLY=1; `v6` inet6 leaving IPV6_V6ONLY to net.ipv6.bindv6only. "
        out +=
            "Single-socket variants: `b6` net.ipv6.bindv6only=1, `n4` net.ipv4.ip_nonlocal_bind=1, `n6` net.ipv6.ip_nonlocal_bind=1, `FB` IP_FREEBIND, `–` none. "
        out += "Credentials: `root−NBS` root without CAP_NET_BIND_SERVICE; `start N` net.ipv4.ip_unprivileged_port_start=N.\n\n"
        out += "Places:\n\n| # | place | # | place | # | place |\n| ---: | --- | ---: | --- | ---: | --- |\n"
        let places = numbers.sorted { $0.value < $1.value }
        let third = (places.count + 2) / 3
        for i in 0..<third {
            var cells: [String] = []
            for j in [i, i + third, i + 2 * third] {
                cells += j < places.count ? ["\(places[j].value)", "`\(places[j].key)`"] : ["", ""]
            }
            out += "| " + cells.joined(separator: " | ") + " |\n"
        }
        out += "\n"
    }

    static func summary(_ r: MatrixReport, _ grids: MatrixGrids, into out: inout String) {
        out += "## Summary\n\nOne row per grid: counts, and the kernel's results, most frequent first.\n\n"
        out +=
            "| cells of | transport | sysctls | first state | first options | second options | owner | cells | agree | disagree | skipped | kernel results |\n"
        out += "| --- | --- | --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- |\n"
        var codes: [CellOutcome: String] = [:]
        for t in grids.tables {
            var agree = 0
            var skipped = 0
            var results: [String: Int] = [:]
            for c in t.cells {
                let rec = r.records[c.record]
                if rec.skipped != nil {
                    skipped += 1
                    continue
                }
                if rec.agrees { agree += 1 }
                var code = "-"
                if let k = rec.kernel {
                    if let known = codes[k] {
                        code = known
                    } else {
                        code = MatrixLayout.code(k)
                        codes[k] = code
                    }
                }
                results[code, default: 0] += 1
            }
            let top = results.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            var shown = top.prefix(4).map { "`\($0.key)` \($0.value)" }
            if top.count > 4 { shown.append("… \(top.count - 4) more") }
            let g = t.grid
            let fields = [
                g.group.rawValue, g.transportText, g.sysctlsText ?? "variants", g.state?.rawValue ?? "–", g.firstOptions?.rawValue ?? "–",
                g.secondOptions?.rawValue ?? "–", g.ownerText ?? "–", "\(t.cells.count)", "\(agree)",
                "\(t.cells.count - skipped - agree)", "\(skipped)",
            ]
            out += "| " + fields.map(md).joined(separator: " | ") + " | " + shown.joined(separator: ", ") + " |\n"
        }
        out += "\n"
    }

    static func disagreements(_ r: MatrixReport, into out: inout String) {
        out += "## Disagreements\n\n"
        var n = 0
        for rec in r.records where rec.skipped == nil && !rec.agrees {
            n += 1
            guard n <= listed else { continue }
            out += "- `\(rec.cell.key)`\n"
            out += "  - model: \(md(rec.model?.description ?? "-"))\(rec.reason.map { " (" + md(MatrixReport.describe($0)) + ")" } ?? "")\n"
            out += "  - kernel: \(md(rec.kernel?.description ?? "-"))\n"
        }
        if n == 0 { out += "None.\n" }
        if n > listed {
            out += "- … and \(n - listed) more: `bindcheck matrix` prints them all in its text report, the JSON report has every cell.\n"
        }
        out += "\n"
    }

    static func pairs(_ r: MatrixReport, _ grids: MatrixGrids, numbers: [String: Int], into out: inout String) {
        var byGrid: [MatrixLayout.Grid: Int] = [:]
        for (i, t) in grids.tables.enumerated() { byGrid[t.grid] = i }
        for transport in Transport.allCases {
            let states = FirstState.allCases.filter { s in
                grids.tables.contains { $0.grid.group == .pair && $0.grid.transport == transport && $0.grid.state == s }
            }
            guard !states.isEmpty else { continue }
            out += "## Pairs: \(transport.rawValue.uppercased())\n\n"
            out +=
                "Same uid, default sysctls. The other option pairs, the other uid and net.ipv6.bindv6only=1 are counted in the summary.\n\n"
            for state in states {
                for (a, b) in tabled {
                    let grid = MatrixLayout.Grid(
                        group: .pair, transport: transport, state: state, firstOptions: a, secondOptions: b, sameOwner: true, sysctls: [])
                    guard let i = byGrid[grid] else { continue }
                    out += "### \(md(grid.title))\n\n"
                    table(r, grids.tables[i], numbers: numbers, numbered: true, into: &out)
                }
            }
        }
    }

    static func others(_ r: MatrixReport, _ grids: MatrixGrids, numbers: [String: Int], into out: inout String) {
        let sections: [(MatrixCell.Group, String, Bool)] = [
            (.crossTransport, "Cross-transport pairs", true),
            (.single, "Single sockets", false),
            (.privilege, "Privileged ports", false),
        ]
        for (group, title, numbered) in sections {
            let tables = grids.tables.filter { $0.grid.group == group }
            guard !tables.isEmpty else { continue }
            out += "## \(title)\n\n"
            for t in tables {
                out += "### \(md(t.grid.title))\n\n"
                table(r, t, numbers: numbers, numbered: numbered, into: &out)
            }
        }
    }

    static func skipped(_ r: MatrixReport, into out: inout String) {
        out += "## Skipped\n\n"
        let why = Dictionary(grouping: r.records.compactMap(\.skipped), by: { $0 }).mapValues(\.count)
        if why.isEmpty { out += "None.\n" }
        for (reason, n) in why.sorted(by: { $0.key < $1.key }) { out += "- \(n) cells: \(md(reason))\n" }
    }

    // MARK: Tables

    /// One grid as a table. Numbered tables head their columns with the numbers of the places.
    static func table(_ r: MatrixReport, _ t: MatrixGrids.Table, numbers: [String: Int], numbered: Bool, into out: inout String) {
        let dense = t.dense
        let width = t.columns.count
        // A grid whose every cell reads the same needs no table.
        var codes = Set<String>()
        for c in t.cells { codes.insert(MatrixLayout.code(r.records[c.record])) }
        if codes.count == 1, let only = codes.first, t.cells.count == t.rows.count * width {
            out += "All \(t.cells.count) cells (\(t.rows.count) × \(width)): `\(only)`.\n\n"
            return
        }
        let header = t.columns.map { numbered ? numbers[$0.text].map(String.init) ?? md($0.short) : md($0.short) }
        out += "| \(t.grid.corner) | " + header.joined(separator: " | ") + " |\n"
        out += "| --- |" + String(repeating: " --- |", count: width) + "\n"
        for (row, label) in t.rows.enumerated() {
            let cells = dense[(row * width)..<((row + 1) * width)]
            let setup = commonSetup(r, cells)
            var line = "| "
            if numbered, let n = numbers[label.text] { line += "\(n) " }
            line += md(numbered ? label.short : label.text)
            if let setup { line += " (first: \(setup))" }
            line += " |"
            for i in cells { line += " " + (i < 0 ? "" : md(MatrixLayout.code(r.records[i], withSetup: setup == nil))) + " |" }
            out += line + "\n"
        }
        out += "\n"
    }

    /// The first socket's failed setup, when it failed the same way on both sides in every cell of a row.
    static func commonSetup(_ r: MatrixReport, _ row: ArraySlice<Int>) -> String? {
        var common: String?
        for i in row where i >= 0 {
            let rec = r.records[i]
            guard rec.skipped == nil, let m = rec.model, let k = rec.kernel, m.setup == k.setup, let s = MatrixLayout.setupCode(k) else {
                return nil
            }
            if common == nil { common = s } else if common != s { return nil }
        }
        return common
    }

    // MARK: Helpers

    /// Every place in the report numbered: the matrix's places in their order, then any others.
    static func placeNumbers(_ grids: MatrixGrids) -> [String: Int] {
        var numbers: [String: Int] = [:]
        for p in Matrix.places where numbers[p.place] == nil { numbers[p.place] = numbers.count + 1 }
        var extra = Set<String>()
        for t in grids.tables where t.grid.group == .pair || t.grid.group == .crossTransport {
            for l in t.rows + t.columns where numbers[l.text] == nil { extra.insert(l.text) }
        }
        for p in extra.sorted() { numbers[p] = numbers.count + 1 }
        return numbers
    }

    /// The errnos in the report, the common ones always, with what they mean for bind().
    static func errnoMeanings(_ r: MatrixReport) -> [(String, String)] {
        let known: [(String, String)] = [
            ("EADDRINUSE", "another socket holds the address and port"),
            ("EADDRNOTAVAIL", "the address is not one of this host's (or cannot be bound)"),
            (
                "EINVAL",
                "invalid here: e.g. an IPv4 sockaddr on inet6, a v4-mapped address on a v6-only socket, link-local without a scope, TCP on multicast"
            ),
            ("EACCES", "a privileged port without CAP_NET_BIND_SERVICE"),
            ("EAFNOSUPPORT", "an address of the other family"),
        ]
        var outcomes = Set<CellOutcome>()
        for rec in r.records {
            if let m = rec.model { outcomes.insert(m) }
            if let k = rec.kernel { outcomes.insert(k) }
        }
        var seen = Set<String>()
        for o in outcomes {
            for outcome in [o.setup?.outcome, o.result.outcome, o.listen] {
                if case .errno(let e)? = outcome { seen.insert(e) }
            }
        }
        let knownNames = Set(known.map(\.0))
        return known + seen.subtracting(knownNames).sorted().map { ($0, "") }
    }

    /// Text safe in a Markdown table cell or list item.
    static func md(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        var previous: Character = " "
        for ch in s {
            switch ch {
            case "|", "\\", "`", "*", "<", ">": out.append("\\")
            case "_" where !(previous.isLetter || previous.isNumber): out.append("\\")
            default: break
            }
            out.append(ch)
            previous = ch
        }
        return out
    }
}
