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
        let json = embed(r).json
        var out = ""
        out.reserveCapacity(json.utf8.count + 16_384)
        out += head(r)
        out += #"<script type="application/json" id="data">"#
        out += json
        out += "</script>\n"
        out += script
        out += "</body>\n</html>\n"
        return out
    }

    // MARK: Data

    /// What the page's script reads. Strings are indexes into `strings` (-1: none); the JSON keys are one letter.
    struct Embedded {
        /// Every string, once.
        var strings: [String] = []
        /// Outcome pairs: model, kernel, skipped-why, CSS classes of the square, 1 if they disagree.
        var pairs: [[Int]] = []
        var grids: [GridData] = []
        /// The filters' first values: group, transport, state, options, owner, sysctls.
        var defaults: [Int] = []

        /// Compact JSON that can stand inside a script element (every `<` escaped).
        var json: String {
            var out = ""
            out.reserveCapacity(strings.reduce(0) { $0 + $1.utf8.count + 3 } + grids.reduce(0) { $0 + $1.d.count * 4 } + 4096)
            out += "{\"S\":["
            for (i, s) in strings.enumerated() {
                if i > 0 { out += "," }
                out += "\""
                let escaped = JSONSerializer.escape(s)
                out += escaped.utf8.contains(UInt8(ascii: "<")) ? escaped.replacing("<", with: "\\u003c") : escaped
                out += "\""
            }
            out += "],\"P\":["
            for (i, p) in pairs.enumerated() {
                if i > 0 { out += "," }
                Self.write(p, into: &out)
            }
            out += "],\"G\":["
            for (i, g) in grids.enumerated() {
                if i > 0 { out += "," }
                out += "{\"t\":\(g.t),\"c\":\(g.c)"
                for (name, list) in [
                    ("f", g.f), ("n", g.n), ("rl", g.rl), ("rt", g.rt), ("cl", g.cl), ("ct", g.ct), ("rk", g.rk), ("ck", g.ck), ("d", g.d),
                    ("ko", g.ko),
                ] {
                    out += ",\"\(name)\":"
                    Self.write(list, into: &out)
                }
                out += "}"
            }
            out += "],\"defaults\":"
            Self.write(defaults, into: &out)
            out += "}"
            return out
        }

        static func write(_ list: [Int], into out: inout String) {
            out += "["
            for (i, v) in list.enumerated() {
                if i > 0 { out += "," }
                out += String(v)
            }
            out += "]"
        }
    }

    struct GridData {
        /// Title, and what the rows and columns are.
        var t: Int, c: Int
        /// Facets, as the filters: group, transport, state, options, owner, sysctls (-1: does not apply).
        var f: [Int]
        /// Cells, agree, disagree, skipped.
        var n: [Int]
        /// Row labels (short, full), column labels (short, full).
        var rl: [Int], rt: [Int], cl: [Int], ct: [Int]
        /// The key of a cell is its row's part, a space, and its column's part.
        var rk: [Int], ck: [Int]
        /// Four integers a cell: row, column, outcome pair, reason.
        var d: [Int]
        /// Cells whose key does not split that way: ordinal, key.
        var ko: [Int]
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

    static func embed(_ r: MatrixReport) -> Embedded {
        var strings = Strings()
        var pairs: [PairKey: Int] = [:]
        var data = Embedded()
        for t in MatrixGrids(r.records).tables {
            let g = t.grid
            let facets = [g.group.rawValue, g.transportText, g.state?.rawValue, g.optionsText, g.ownerText, g.sysctlsText]
            var columnKeys = Array(repeating: -1, count: t.columns.count)
            var d: [Int] = []
            d.reserveCapacity(t.cells.count * 4)
            var overrides: [Int] = []
            var agree = 0
            var skipped = 0
            for (n, c) in t.cells.enumerated() {
                let rec = r.records[c.record]
                if rec.skipped != nil { skipped += 1 } else if rec.agrees { agree += 1 }
                // The key: the row's part, then the column's (the first cell of a column names it).
                let key = rec.cell.key
                let rowKey = t.rowKeys[c.row].utf8
                var split = false
                if key.utf8.starts(with: rowKey) {
                    var rest = key.utf8.dropFirst(rowKey.count)
                    let separated = rest.first == UInt8(ascii: " ")
                    if separated { rest = rest.dropFirst() }
                    if separated || rest.isEmpty {
                        if columnKeys[c.column] < 0 { columnKeys[c.column] = strings.id(String(decoding: rest, as: UTF8.self)) }
                        split = strings.list[columnKeys[c.column]].utf8.elementsEqual(rest)
                    }
                }
                if !split { overrides += [n, strings.id(key)] }
                let pk = PairKey(model: rec.model, kernel: rec.kernel, skipped: rec.skipped, square: MatrixLayout.Square(rec))
                let p: Int
                if let known = pairs[pk] {
                    p = known
                } else {
                    p = data.pairs.count
                    pairs[pk] = p
                    data.pairs.append([
                        strings.id(pk.model?.description), strings.id(pk.kernel?.description), strings.id(pk.skipped),
                        strings.id(pk.square.classes), pk.square.mismatch ? 1 : 0,
                    ])
                }
                let reason = rec.reason.map(MatrixReport.describe)
                d.append(c.row)
                d.append(c.column)
                d.append(p)
                d.append(strings.id(reason))
            }
            data.grids.append(
                GridData(
                    t: strings.id(g.title), c: strings.id(g.corner), f: facets.map { strings.id($0) },
                    n: [t.cells.count, agree, t.cells.count - agree - skipped, skipped],
                    rl: t.rows.map { strings.id($0.short) }, rt: t.rows.map { strings.id($0.text) },
                    cl: t.columns.map { strings.id($0.short) }, ct: t.columns.map { strings.id($0.text) },
                    rk: t.rowKeys.map { strings.id($0) }, ck: columnKeys, d: d, ko: overrides))
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
