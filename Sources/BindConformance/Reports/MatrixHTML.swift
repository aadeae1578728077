import BindKit
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
                let reason = rec.reason.map { rec.cell.port == nil ? elidingPorts($0) : $0 }
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

    /// A reason with the port the run picked for its cell written `‹port›` (`bound to
    /// 127.0.0.1:10023` → `bound to 127.0.0.1:‹port›`), so that one string serves many cells.
    static func elidingPorts(_ text: String) -> String {
        let bytes = Array(text.utf8)
        let colon = UInt8(ascii: ":")
        guard bytes.contains(colon) else { return text }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 8)
        var i = 0
        while i < bytes.count {
            out.append(bytes[i])
            if bytes[i] == colon, endsAddress(bytes, at: i) {
                var j = i + 1
                while j < bytes.count, isDigit(bytes[j]) { j += 1 }
                if j > i + 1, j == bytes.count || !isWord(bytes[j]) {
                    out += "‹port›".utf8
                    i = j
                    continue
                }
            }
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether the text before `bytes[colon]` ends an address followed by a port: `]` or a dotted quad.
    static func endsAddress(_ bytes: [UInt8], at colon: Int) -> Bool {
        guard colon > 0 else { return false }
        if bytes[colon - 1] == UInt8(ascii: "]") { return true }
        var k = colon - 1
        var dots = 0
        while k >= 0, bytes[k] == UInt8(ascii: ".") || isDigit(bytes[k]) {
            if bytes[k] == UInt8(ascii: ".") { dots += 1 }
            k -= 1
        }
        return dots == 3 && k < colon - 1
            && (k < 0 || !(isWord(bytes[k]) || bytes[k] == UInt8(ascii: ":") || bytes[k] == UInt8(ascii: ".")))
    }

    static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
    static func isWord(_ b: UInt8) -> Bool {
        isDigit(b) || (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
            || b == UInt8(ascii: "_")
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
            :root{--q:10px}
            body{font:13px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:16px 20px;color:#222;background:#fff}
            h1{font-size:20px;margin:0 0 4px}
            h3{font-size:13px;margin:0 0 2px}
            .sum{margin:0 0 4px}.sum b{font-variant-numeric:tabular-nums}
            .verdict{margin:0 0 10px;color:#444}
            #filters{position:sticky;top:0;z-index:10;display:flex;flex-wrap:wrap;gap:6px 14px;align-items:center;padding:8px 10px;background:#f3f4f6;border:1px solid #d6d8dc;border-radius:4px}
            #filters select{font:inherit;max-width:260px}
            #status{margin-left:auto;color:#555}
            #legend{display:flex;flex-wrap:wrap;gap:4px 16px;margin:10px 0 4px;align-items:center}
            .key{display:inline-flex;align-items:center;gap:5px}
            .kinds{color:#555;margin:0 0 12px;font-size:12px}
            #grids{display:flex;flex-wrap:wrap;gap:22px 30px;align-items:flex-start}
            .grid .counts{color:#666;font-size:11px;margin-bottom:4px}
            .m{display:grid;gap:1px;grid-template-rows:max-content;grid-auto-rows:var(--q);font-size:10px;line-height:var(--q)}
            .m .ch{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;line-height:var(--q);padding-top:3px;color:#333;align-self:end}
            .m .rh{white-space:nowrap;padding-right:6px;text-align:right;color:#333}
            .m .corner{color:#888;align-self:end;text-align:right;padding-right:6px;white-space:nowrap}
            .q{width:var(--q);height:var(--q);box-sizing:border-box;display:inline-block;font-size:9px;line-height:var(--q);text-align:center;color:#000;cursor:default}
            .ok{background-color:#2ca02c}.inuse{background-color:#d62728}.notavail{background-color:#9a9a9a}.inval{background-color:#8e44ad}
            .acces{background-color:#ff8c00}.afnosup{background-color:#1f77b4}.other{background-color:#8c564b}
            .skip{background:repeating-linear-gradient(45deg,#c8c8c8 0 2px,#fff 2px 4px)}
            .none{background-color:#f1f1f1}
            .lis{background-image:linear-gradient(135deg,#2ca02c 50%,transparent 50%)}
            .f1{box-shadow:inset 0 0 0 2px #fff}
            .x{outline:2px solid #000;outline-offset:0;position:relative;z-index:1;font-weight:bold}
            .dim .q:not(.x){opacity:.18}
            .grid.hidden{display:none}
            #more{margin:14px 0;font:inherit}
            #detail{position:fixed;right:12px;bottom:12px;max-width:min(760px,60vw);background:#fffef4;border:1px solid #bbb;border-radius:4px;padding:8px 28px 8px 10px;white-space:pre-wrap;font:12px/1.4 ui-monospace,Menlo,Consolas,monospace;box-shadow:0 2px 8px rgba(0,0,0,.2);display:none;z-index:20}
            #detail button{position:absolute;right:4px;top:4px;border:0;background:none;cursor:pointer;font-size:14px}
            #bad{margin-top:24px}#bad table{border-collapse:collapse;font-size:12px}#bad td,#bad th{border-bottom:1px solid #e3e3e3;padding:2px 8px;text-align:left;vertical-align:top}
            #bad td:first-child{font-family:ui-monospace,Menlo,Consolas,monospace}
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
            Hover a square for its cell, click it to keep the text; ‹port› in a reason stands for the port the run picked for that cell.</p>
            <div id="grids"></div>
            <button id="more" hidden></button>
            <div id="bad"></div>
            <div id="detail"><button title="close">×</button><span></span></div>

            """#
    }

    static let script = #"""
        <script>
        "use strict";
        const D = JSON.parse(document.getElementById("data").textContent);
        const S = D.S, P = D.P, G = D.G;
        const str = i => (i >= 0 ? S[i] : "");
        const FACETS = ["cells", "transport", "first state", "options (first / second)", "owner", "sysctls"];
        const LIMIT = 40, BAD = 500;
        let limit = LIMIT;
        const filters = document.getElementById("filters"), only = document.getElementById("only");
        const box = document.getElementById("grids"), more = document.getElementById("more");
        const status = document.getElementById("status"), bad = document.getElementById("bad");
        const detail = document.getElementById("detail");
        for (const g of G) {
          if (g.ko.length) { g.kom = new Map(); for (let i = 0; i < g.ko.length; i += 2) g.kom.set(g.ko[i], g.ko[i + 1]); }
        }
        const selects = FACETS.map((label, fi) => {
          const values = [];
          for (const g of G) if (g.f[fi] >= 0 && !values.includes(g.f[fi])) values.push(g.f[fi]);
          const l = document.createElement("label");
          l.textContent = label + " ";
          const e = document.createElement("select");
          e.add(new Option("all", ""));
          for (const v of values) e.add(new Option(S[v], String(v)));
          if (values.includes(D.defaults[fi])) e.value = String(D.defaults[fi]);
          e.onchange = () => { limit = LIMIT; draw(); };
          l.appendChild(e);
          filters.insertBefore(l, only.parentNode);
          return e;
        });
        only.onchange = () => { limit = LIMIT; draw(); };
        more.onclick = () => { limit = Infinity; draw(); };

        function el(tag, cls, text) {
          const e = document.createElement(tag);
          if (cls) e.className = cls;
          if (text !== undefined) e.textContent = text;
          return e;
        }
        function passes(g) {
          for (let i = 0; i < selects.length; i++) {
            const v = selects[i].value;
            if (v !== "" && g.f[i] >= 0 && String(g.f[i]) !== v) return false;
          }
          return !(only.checked && g.n[2] === 0);
        }
        function key(g, j) {
          const o = g.kom && g.kom.get(j / 4);
          if (o !== undefined) return S[o];
          const c = str(g.ck[g.d[j + 1]]);
          return str(g.rk[g.d[j]]) + (c ? " " + c : "");
        }
        function describe(g, j) {
          const p = P[g.d[j + 2]], q = g.d[j + 3];
          const lines = [key(g, j)];
          if (p[2] >= 0) lines.push("skipped: " + S[p[2]]);
          else {
            if (p[4]) lines.push("✗ the model and the kernel differ");
            lines.push("model:  " + (p[0] >= 0 ? S[p[0]] : "–"));
            lines.push("kernel: " + (p[1] >= 0 ? S[p[1]] : "–"));
          }
          if (q >= 0) lines.push("reason: " + S[q]);
          return lines.join("\n");
        }
        function grid(g) {
          const wrap = el("section", "grid");
          wrap.appendChild(el("h3", "", S[g.t]));
          wrap.appendChild(el("div", "counts", `${g.n[0]} cells · ${g.n[1]} agree · ${g.n[2]} disagree · ${g.n[3]} skipped`));
          const R = g.rl.length, C = g.cl.length;
          const m = el("div", "m");
          m.style.gridTemplateColumns = `max-content repeat(${C}, var(--q))`;
          m.appendChild(el("div", "corner", S[g.c]));
          for (let c = 0; c < C; c++) {
            const h = el("div", "ch", S[g.cl[c]]);
            h.title = S[g.ct[c]];
            m.appendChild(h);
          }
          const squares = new Array(R * C);
          for (let r = 0; r < R; r++) {
            const h = el("div", "rh", S[g.rl[r]]);
            h.title = S[g.rt[r]];
            m.appendChild(h);
            for (let c = 0; c < C; c++) m.appendChild(squares[r * C + c] = el("span", "q none"));
          }
          const d = g.d;
          for (let j = 0; j < d.length; j += 4) {
            const p = P[d[j + 2]], e = squares[d[j] * C + d[j + 1]];
            e.className = "q " + S[p[3]];
            if (p[4]) e.textContent = "✗";
            e.g = g;
            e.j = j;
          }
          wrap.appendChild(m);
          return wrap;
        }
        function draw() {
          const shown = G.filter(passes);
          let cells = 0, disagree = 0;
          for (const g of shown) { cells += g.n[0]; disagree += g.n[2]; }
          status.textContent = `${shown.length} of ${G.length} grids · ${cells} cells · ${disagree} disagree`;
          box.textContent = "";
          box.classList.toggle("dim", only.checked);
          const frag = document.createDocumentFragment();
          for (const g of shown.slice(0, limit)) frag.appendChild(grid(g));
          box.appendChild(frag);
          more.hidden = shown.length <= limit;
          more.textContent = `show all ${shown.length} grids (${shown.length - limit} more)`;
          listBad(shown);
        }
        function listBad(shown) {
          bad.textContent = "";
          const rows = [];
          let total = 0;
          for (const g of shown) {
            if (g.n[2] === 0) continue;
            for (let j = 0; j < g.d.length; j += 4) {
              const p = P[g.d[j + 2]];
              if (!p[4]) continue;
              total++;
              if (rows.length < BAD) rows.push([key(g, j), str(p[0]), str(p[1]), str(g.d[j + 3])]);
            }
          }
          if (!total) return;
          bad.appendChild(el("h2", "", `Disagreements in the grids shown: ${total}` + (total > BAD ? ` (the first ${BAD})` : "")));
          const t = el("table");
          const h = el("tr");
          for (const c of ["cell", "model", "kernel", "model's reason"]) h.appendChild(el("th", "", c));
          t.appendChild(h);
          for (const r of rows) {
            const tr = el("tr");
            for (const c of r) tr.appendChild(el("td", "", c));
            t.appendChild(tr);
          }
          bad.appendChild(t);
        }
        box.addEventListener("mouseover", e => {
          const t = e.target;
          if (t.g && !t.title) t.title = describe(t.g, t.j);
        });
        box.addEventListener("click", e => {
          const t = e.target;
          if (!t.g) return;
          detail.lastChild.textContent = describe(t.g, t.j);
          detail.style.display = "block";
        });
        detail.firstChild.onclick = () => { detail.style.display = "none"; };
        draw();
        </script>

        """#
}
