import BindKit
import BindRules
import Foundation

/// The matrix as one self-contained HTML file: a colour grid per transport, first state, option
/// pair, owner and sysctl variant (rows the first socket's place, columns the second's), filters,
/// a legend and a tooltip per square. The records are embedded once as compact JSON (a table of
/// strings, a table of outcome pairs, and four small integers per cell); the page's script builds
/// the grids that the filters select. No external assets, no network.
public enum MatrixHTML {
    public static func render(_ r: MatrixReport) -> String {
        let data = embed(r)
        var out: [UInt8] = []
        out.reserveCapacity(data.strings.reduce(0) { $0 + $1.utf8.count + 3 } + data.grids.reduce(0) { $0 + $1.cells.count * 4 } + 65_536)
        out.append(contentsOf: head(r).utf8)
        out.append(contentsOf: #"<script type="application/json" id="data">"#.utf8)
        data.write(into: &out)
        out.append(contentsOf: "</script>\n".utf8)
        var reach = ""
        ReachReport.html(r.reach, into: &reach)
        out.append(contentsOf: reach.utf8)
        out.append(contentsOf: script.utf8)
        out.append(contentsOf: "</body>\n</html>\n".utf8)
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: Data

    /// What the page's script reads. Strings are indexes into `strings` (-1: none).
    struct Embedded {
        /// Every string, once.
        var strings: [String] = []
        /// Outcome pairs: model, kernel, skipped-why, CSS classes of the square, 1 if they disagree.
        var outcomes: [[Int]] = []
        var grids: [GridData] = []
        /// The filters' first values: group, transport, state, options, owner, sysctls.
        var defaults: [Int] = []

        /// Compact JSON that can stand inside a script element (every `<` escaped).
        var json: String {
            var out: [UInt8] = []
            write(into: &out)
            return String(decoding: out, as: UTF8.self)
        }

        func write(into out: inout [UInt8]) {
            out.append(contentsOf: #"{"strings":["#.utf8)
            for (i, s) in strings.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                let start = out.count
                JSONSerializer.appendQuoted(s, to: &out)
                if out[start...].contains(UInt8(ascii: "<")) {
                    let quoted = Array(out[start...])
                    out.removeSubrange(start...)
                    for c in quoted {
                        if c == UInt8(ascii: "<") { out.append(contentsOf: #"\u003c"#.utf8) } else { out.append(c) }
                    }
                }
            }
            out.append(contentsOf: #"],"outcomes":["#.utf8)
            for (i, p) in outcomes.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.write(p, into: &out)
            }
            out.append(contentsOf: #"],"grids":["#.utf8)
            for (i, g) in grids.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: #"{"title":"#.utf8)
                JSONSerializer.appendDecimal(g.title, to: &out)
                out.append(contentsOf: #","corner":"#.utf8)
                JSONSerializer.appendDecimal(g.corner, to: &out)
                for (name, list) in [
                    ("facets", g.facets), ("counts", g.counts), ("rowShort", g.rowShort), ("rowText", g.rowText),
                    ("columnShort", g.columnShort), ("columnText", g.columnText), ("rowKeys", g.rowKeys), ("columnKeys", g.columnKeys),
                    ("cells", g.cells), ("keyOverrides", g.keyOverrides),
                ] {
                    out.append(contentsOf: ",\"\(name)\":".utf8)
                    Self.write(list, into: &out)
                }
                out.append(UInt8(ascii: "}"))
            }
            out.append(contentsOf: #"],"defaults":"#.utf8)
            Self.write(defaults, into: &out)
            out.append(UInt8(ascii: "}"))
        }

        static func write(_ list: [Int], into out: inout [UInt8]) {
            out.append(UInt8(ascii: "["))
            for (i, v) in list.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONSerializer.appendDecimal(v, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
    }

    struct GridData {
        /// Title, and what the rows and columns are.
        var title: Int, corner: Int
        /// Facets, as the filters: group, transport, state, options, owner, sysctls (-1: does not apply).
        var facets: [Int]
        /// Cells, agree, disagree, skipped.
        var counts: [Int]
        /// Row labels (short, full), column labels (short, full).
        var rowShort: [Int], rowText: [Int], columnShort: [Int], columnText: [Int]
        /// The key of a cell is its row's part, a space, and its column's part.
        var rowKeys: [Int], columnKeys: [Int]
        /// Four integers a cell: row, column, outcome pair, reason.
        var cells: [Int]
        /// Cells whose key does not split that way: ordinal, key.
        var keyOverrides: [Int]
    }

    struct Strings {
        var list: [String] = []
        var index: [String: Int] = [:]

        mutating func id(_ s: String?) -> Int {
            guard let s else { return -1 }
            if let i = index[s] { return i }
            index[s] = list.count
            list.append(s)
            return list.count - 1
        }
    }

    struct PairKey: Hashable {
        var model: CellOutcome?
        var kernel: CellOutcome?
        var skipped: String?
        var square: MatrixLayout.Square
    }

    /// A reason without words: its text is its rule and kernel function, the same for many cells.
    struct RuleKey: Hashable {
        var rule: String
        var kernel: String
    }

    static func embed(_ r: MatrixReport) -> Embedded {
        var strings = Strings()
        var pairs: [PairKey: Int] = [:]
        var rules: [RuleKey: Int] = [:]
        var data = Embedded()
        let records = r.records
        for t in MatrixGrids(records).tables {
            let g = t.grid
            let facets = [g.group.rawValue, g.transportText, g.state?.rawValue, g.optionsText, g.ownerText, g.sysctlsText]
            var columnKeys = Array(repeating: -1, count: t.columns.count)
            // The column parts as bytes, to compare each key's rest with (nil: not yet seen).
            var columnBytes: [[UInt8]?] = Array(repeating: nil, count: t.columns.count)
            let rowBytes = t.rowKeys.map { Array($0.utf8) }
            var d: [Int] = []
            d.reserveCapacity(t.cells.count * 4)
            var overrides: [Int] = []
            var agree = 0
            var skipped = 0
            for (n, c) in t.cells.enumerated() {
                if records[c.record].skipped != nil { skipped += 1 } else if records[c.record].agrees { agree += 1 }
                // The key: the row's part, then the column's (the first cell of a column names it).
                var key = records[c.record].cell.key
                let split: Bool = key.withUTF8 { k in
                    let row = rowBytes[c.row]
                    guard k.count >= row.count, UnsafeBufferPointer(rebasing: k[..<row.count]).elementsEqual(row) else { return false }
                    var rest = UnsafeBufferPointer(rebasing: k[row.count...])
                    if let first = rest.first {
                        guard first == UInt8(ascii: " ") else { return false }
                        rest = UnsafeBufferPointer(rebasing: rest.dropFirst())
                    }
                    if columnBytes[c.column] == nil {
                        columnBytes[c.column] = Array(rest)
                        columnKeys[c.column] = strings.id(String(decoding: rest, as: UTF8.self))
                    }
                    return columnBytes[c.column]!.elementsEqual(rest)
                }
                if !split { overrides += [n, strings.id(key)] }
                let pk = PairKey(
                    model: records[c.record].model, kernel: records[c.record].kernel, skipped: records[c.record].skipped,
                    square: MatrixLayout.Square(records[c.record]))
                let p: Int
                if let known = pairs[pk] {
                    p = known
                } else {
                    p = data.outcomes.count
                    pairs[pk] = p
                    data.outcomes.append([
                        strings.id(pk.model?.description), strings.id(pk.kernel?.description), strings.id(pk.skipped),
                        strings.id(pk.square.classes), pk.square.mismatch ? 1 : 0,
                    ])
                }
                var reason = -1
                if let why = records[c.record].reason {
                    if why.text.isEmpty && why.fix == nil {
                        // Without words, the rule and kernel function say it all: described once.
                        let rk = RuleKey(rule: why.rule, kernel: why.kernel)
                        if let known = rules[rk] {
                            reason = known
                        } else {
                            reason = strings.id(MatrixReport.describe(why))
                            rules[rk] = reason
                        }
                    } else {
                        reason = strings.id(MatrixReport.describe(why))
                    }
                }
                d.append(c.row)
                d.append(c.column)
                d.append(p)
                d.append(reason)
            }
            data.grids.append(
                GridData(
                    title: strings.id(g.title), corner: strings.id(g.corner), facets: facets.map { strings.id($0) },
                    counts: [t.cells.count, agree, t.cells.count - agree - skipped, skipped],
                    rowShort: t.rows.map { strings.id($0.short) }, rowText: t.rows.map { strings.id($0.text) },
                    columnShort: t.columns.map { strings.id($0.short) }, columnText: t.columns.map { strings.id($0.text) },
                    rowKeys: t.rowKeys.map { strings.id($0) }, columnKeys: columnKeys, cells: d, keyOverrides: overrides))
        }
        data.defaults = ["pair", nil, nil, "none / none", "same uid", "defaults"].map { s in s.flatMap { strings.index[$0] } ?? -1 }
        data.strings = strings.list
        return data
    }

    // MARK: Page

    static func html(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(ch)
            }
        }
        return out
    }

    static func head(_ r: MatrixReport) -> String {
        let mode = r.mode == "host" ? "host namespace" : "private namespaces"
        let verdict =
            r.disagree == 0
            ? "The model and the kernel agree on every cell that ran."
            : "\(r.disagree) cells disagree: black-edged squares with ✗ (tick “only disagreements”)."
        var swatches = ""
        let colours: [(String, String)] = [
            ("ok", "ok"), ("inuse", "EADDRINUSE"), ("notavail", "EADDRNOTAVAIL"), ("inval", "EINVAL"), ("acces", "EACCES"),
            ("afnosup", "EAFNOSUPPORT"), ("other", "other errno"), ("skip", "skipped"), ("none", "not in this report"),
        ]
        for (cls, text) in colours { swatches += #"<span class="key"><span class="q \#(cls)"></span>\#(text)</span>"# }
        let marks: [(String, String)] = [
            ("inuse lis", "bind ok, then listen() failed (colour: listen's errno)"),
            ("inuse f1", "the first socket's setup failed (colour: the second's result)"),
            ("inuse x", "✗ model ≠ kernel (colour: the kernel's)"),
        ]
        for (cls, text) in marks {
            swatches += #"<span class="key"><span class="q \#(cls)">\#(cls.hasSuffix(" x") ? "✗" : "")</span>\#(text)</span>"#
        }
        return #"""
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Conformance matrix: Linux \#(html(r.kernel))</title>
            <style>
            \#(style)
            \#(r.reach.isEmpty ? "" : ReachReport.css)
            </style>
            </head>
            <body>
            <h1>Conformance matrix: Linux \#(html(r.kernel))</h1>
            <p class="sum">Run in \#(mode): <b>\#(r.cells)</b> cells, <b>\#(r.agree)</b> agree, <b>\#(r.disagree)</b> disagree, <b>\#(r.skipped)</b> skipped, \#(String(format: "%.1f", r.seconds)) s.</p>
            <p class="verdict">\#(html(verdict))</p>
            <div id="filters"><label><input type="checkbox" id="only"> only disagreements</label><span id="status"></span></div>
            <div id="legend">\#(swatches)</div>
            <p class="kinds">Rows: the first socket; columns: the second. Kinds: v4 inet · v6d inet6 IPV6_V6ONLY=0 · v6o inet6 IPV6_V6ONLY=1 · v6 inet6 leaving it to net.ipv6.bindv6only.
            Single sockets: b6 net.ipv6.bindv6only=1 · n4 net.ipv4.ip_nonlocal_bind=1 · n6 net.ipv6.ip_nonlocal_bind=1 · FB IP_FREEBIND · – none.
            Privileged ports: root−NBS root without CAP_NET_BIND_SERVICE · start N ip_unprivileged_port_start=N.
            Hover a square for its cell, click it to keep the text: the model's rule and kernel function, and where model and kernel differ, its words.</p>
            <div id="grids"></div>
            <button id="more" hidden></button>
            <div id="bad"></div>
            <div id="detail"><button title="close">×</button><span></span></div>

            """#
    }

    /// The page's style and script, from the resource files beside this one (embedded in the
    /// binary at build time: the report stays one file).
    static let style = String(decoding: PackageResources.matrix_css, as: UTF8.self)
    static let script = "<script>\n" + String(decoding: PackageResources.matrix_js, as: UTF8.self) + "</script>\n"
}
