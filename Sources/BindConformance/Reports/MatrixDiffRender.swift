import Foundation

/// The comparison of two reports for a person (text, Markdown, HTML) and as JSON. The cells
/// whose kernel result differs come grouped by the model's rule and kernel function and the pair
/// of results; `changes` (a rule's name → the kernel change that explains it) adds a "change"
/// line to each group it names.
extension MatrixDiff {
    /// `A: a.json: Linux 6.1 (private namespaces), 313980 cells, …`.
    func headerLines() -> [String] {
        var lines: [String] = []
        for (name, s) in [("A", a), ("B", b)] {
            var line = "\(name): \(s.file): Linux \(s.kernel) (\(s.mode == "host" ? "host namespace" : "private namespaces")), "
            line += "\(s.cells) cells, \(s.agree) agree, \(s.disagree) disagree, \(s.skipped) skipped"
            if s.duplicates > 0 { line += ", \(s.duplicates) duplicate keys (the first counts)" }
            lines.append(line)
        }
        var counts = "\(matched) cells in both: kernel differs in \(kernelDiffers.count), model differs in \(modelDiffers.count); "
        counts +=
            "only in A \(onlyInA.count), only in B \(onlyInB.count); run only in A \(ranOnlyInA.count), run only in B \(ranOnlyInB.count)"
        lines.append(counts)
        return lines
    }

    /// `A Linux 6.1: bind EADDRINUSE → B Linux 6.18: bind ok, listen ok`.
    func resultsText(_ g: Group) -> String {
        "A: \(g.a?.description ?? "-") → B: \(g.b?.description ?? "-")"
    }

    /// The other lists, in the order they print: title and keys.
    var keyLists: [(String, [String])] {
        [
            ("only in A", onlyInA), ("only in B", onlyInB), ("run only in A (skipped in B)", ranOnlyInA),
            ("run only in B (skipped in A)", ranOnlyInB),
        ]
    }

    /// The comparison for a person: both headers, the counts, the kernel's differences by rule,
    /// then each other kind of difference, with at most `limit` cells listed a list (0: all).
    public func text(limit: Int = 100, changes: [String: String] = [:]) -> String {
        var out = headerLines().joined(separator: "\n") + "\n"
        func prefix<T>(_ list: [T]) -> ArraySlice<T> { list.prefix(limit > 0 ? limit : list.count) }
        func more(_ count: Int, indent: String) {
            if limit > 0, count > limit { out += "\(indent)… and \(count - limit) more\n" }
        }
        let groups = groups
        if !groups.isEmpty {
            out += "\nkernel result differs (\(kernelDiffers.count)), by rule (\(groups.count) groups):\n"
            for g in groups {
                out += "  rule \(g.ruleText): \(g.keys.count) cells\n"
                out += "    \(resultsText(g))\n"
                if let c = g.change(changes) { out += "    change: \(c)\n" }
                for k in prefix(g.keys) { out += "    \(k)\n" }
                more(g.keys.count, indent: "    ")
            }
        }
        if !modelDiffers.isEmpty {
            out += "\nmodel result differs (\(modelDiffers.count)):\n"
            for c in prefix(modelDiffers) {
                out += "  \(c.key)\n    A: \(c.a?.description ?? "-")\n    B: \(c.b?.description ?? "-")\n"
            }
            more(modelDiffers.count, indent: "  ")
        }
        for (title, list) in keyLists where !list.isEmpty {
            out += "\n\(title) (\(list.count)):\n"
            for k in prefix(list) { out += "  \(k)\n" }
            more(list.count, indent: "  ")
        }
        if out.hasSuffix("\n") { out.removeLast() }
        return out
    }

    /// The comparison as Markdown: the headers as a table, a table of the groups (rule, results,
    /// cells, change), then each group's cells and the other lists.
    public func markdown(limit: Int = 100, changes: [String: String] = [:]) -> String {
        let md = MatrixMarkdown.md
        var out = "# Matrix diff: Linux \(md(a.kernel)) (A) and Linux \(md(b.kernel)) (B)\n\n"
        out +=
            "| side | file | kernel | run in | cells | agree | disagree | skipped |\n| --- | --- | --- | --- | ---: | ---: | ---: | ---: |\n"
        for (name, s) in [("A", a), ("B", b)] {
            out += "| \(name) | \(md(s.file)) | \(md(s.kernel)) | \(s.mode == "host" ? "host namespace" : "private namespaces") | "
            out += "\(s.cells) | \(s.agree) | \(s.disagree) | \(s.skipped) |\n"
        }
        out += "\n\(md(headerLines()[2])).\n\n"
        let groups = groups
        out += "## Kernel results that differ, by rule\n\n"
        if groups.isEmpty {
            out += "None.\n\n"
        } else {
            out += "| rule (kernel function) | A | B | cells | change |\n| --- | --- | --- | ---: | --- |\n"
            for g in groups {
                out += "| \(md(g.ruleText)) | \(md(g.a?.description ?? "-")) | \(md(g.b?.description ?? "-")) | \(g.keys.count) | "
                out += "\(md(g.change(changes) ?? "")) |\n"
            }
            out += "\n"
            for g in groups {
                out += "### \(md(g.ruleText)): \(md(resultsText(g)))\n\n"
                if let c = g.change(changes) { out += "Change: \(md(c))\n\n" }
                for k in g.keys.prefix(limit > 0 ? limit : g.keys.count) { out += "- `\(k)`\n" }
                if limit > 0, g.keys.count > limit { out += "- … and \(g.keys.count - limit) more\n" }
                out += "\n"
            }
        }
        if !modelDiffers.isEmpty {
            out += "## Model results that differ (\(modelDiffers.count))\n\n"
            for c in modelDiffers.prefix(limit > 0 ? limit : modelDiffers.count) {
                out += "- `\(c.key)`: A \(md(c.a?.description ?? "-")), B \(md(c.b?.description ?? "-"))\n"
            }
            if limit > 0, modelDiffers.count > limit { out += "- … and \(modelDiffers.count - limit) more\n" }
            out += "\n"
        }
        for (title, list) in keyLists where !list.isEmpty {
            out += "## \(title.prefix(1).uppercased() + title.dropFirst()) (\(list.count))\n\n"
            for k in list.prefix(limit > 0 ? limit : list.count) { out += "- `\(k)`\n" }
            if limit > 0, list.count > limit { out += "- … and \(list.count - limit) more\n" }
            out += "\n"
        }
        return out
    }

    /// The comparison as one self-contained HTML page (no script): the headers, the groups as a
    /// table, each group's cells in a collapsible list.
    public func html(limit: Int = 100, changes: [String: String] = [:]) -> String {
        let h = MatrixHTML.html
        var out = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>Matrix diff: Linux \(h(a.kernel)) and Linux \(h(b.kernel))</title>
            <style>
            body{font:13px/1.4 system-ui,sans-serif;margin:16px 20px;color:#222}
            table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:2px 8px;text-align:left;vertical-align:top}
            td.n{text-align:right;font-variant-numeric:tabular-nums}code,li{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
            </style>
            </head>
            <body>
            <h1>Matrix diff: Linux \(h(a.kernel)) (A) and Linux \(h(b.kernel)) (B)</h1>
            <table><tr><th>side</th><th>file</th><th>kernel</th><th>cells</th><th>agree</th><th>disagree</th><th>skipped</th></tr>

            """
        for (name, s) in [("A", a), ("B", b)] {
            out += "<tr><td>\(name)</td><td>\(h(s.file))</td><td>\(h(s.kernel))</td><td class=\"n\">\(s.cells)</td>"
            out += "<td class=\"n\">\(s.agree)</td><td class=\"n\">\(s.disagree)</td><td class=\"n\">\(s.skipped)</td></tr>\n"
        }
        out += "</table>\n<p>\(h(headerLines()[2])).</p>\n<h2>Kernel results that differ, by rule</h2>\n"
        func list(_ keys: [String]) {
            out += "<ul>\n"
            for k in keys.prefix(limit > 0 ? limit : keys.count) { out += "<li>\(h(k))</li>\n" }
            if limit > 0, keys.count > limit { out += "<li>… and \(keys.count - limit) more</li>\n" }
            out += "</ul>\n"
        }
        let groups = groups
        if groups.isEmpty {
            out += "<p>None.</p>\n"
        } else {
            out += "<table><tr><th>rule (kernel function)</th><th>A</th><th>B</th><th>cells</th><th>change</th></tr>\n"
            for g in groups {
                out += "<tr><td>\(h(g.ruleText))</td><td>\(h(g.a?.description ?? "-"))</td><td>\(h(g.b?.description ?? "-"))</td>"
                out += "<td class=\"n\">\(g.keys.count)</td><td>\(h(g.change(changes) ?? ""))</td></tr>\n"
            }
            out += "</table>\n"
            for g in groups {
                out += "<details><summary>\(h(g.ruleText)): \(h(resultsText(g))) (\(g.keys.count) cells)</summary>\n"
                if let c = g.change(changes) { out += "<p>Change: \(h(c))</p>\n" }
                list(g.keys)
                out += "</details>\n"
            }
        }
        if !modelDiffers.isEmpty {
            out += "<h2>Model results that differ (\(modelDiffers.count))</h2>\n"
            list(modelDiffers.map { "\($0.key): A \($0.a?.description ?? "-"), B \($0.b?.description ?? "-")" })
        }
        for (title, keys) in keyLists where !keys.isEmpty {
            out += "<h2>\(h(title)) (\(keys.count))</h2>\n"
            list(keys)
        }
        out += "</body>\n</html>\n"
        return out
    }

    /// The comparison as JSON: both headers, the counts, every list in full, and the groups.
    public var jsonValue: JSONValue {
        func str(_ s: String) -> JSONValue { .string(s) }
        func outcome(_ o: CellOutcome?) -> JSONValue {
            guard let o else { return .null }
            var w = JSONObjectWriter()
            MatrixReport.write(o, into: &w)
            return (try? JSONValue(parsing: w.finished)) ?? .null
        }
        func rule(_ r: RuleName?) -> JSONValue {
            r.map { .object([JSONMember(key: "rule", value: str($0.rule)), JSONMember(key: "function", value: str($0.function))]) } ?? .null
        }
        func side(_ s: Side) -> JSONValue {
            .object([
                .init(key: "file", value: str(s.file)), .init(key: "kernel", value: str(s.kernel)), .init(key: "mode", value: str(s.mode)),
                .init(key: "cells", value: .integer(s.cells)), .init(key: "agree", value: .integer(s.agree)),
                .init(key: "disagree", value: .integer(s.disagree)), .init(key: "skipped", value: .integer(s.skipped)),
                .init(key: "duplicates", value: .integer(s.duplicates)),
            ])
        }
        func changes(_ list: [Change]) -> JSONValue {
            .array(
                list.map { c in
                    .object([
                        .init(key: "key", value: str(c.key)), .init(key: "a", value: outcome(c.a)), .init(key: "b", value: outcome(c.b)),
                        .init(key: "ruleA", value: rule(c.ruleA)), .init(key: "ruleB", value: rule(c.ruleB)),
                    ])
                })
        }
        func keys(_ list: [String]) -> JSONValue { .array(list.map(str)) }
        return .object([
            .init(key: "a", value: side(a)), .init(key: "b", value: side(b)), .init(key: "matched", value: .integer(matched)),
            .init(
                key: "groups",
                value: .array(
                    groups.map { g in
                        .object([
                            .init(key: "ruleA", value: rule(g.ruleA)), .init(key: "ruleB", value: rule(g.ruleB)),
                            .init(key: "a", value: outcome(g.a)), .init(key: "b", value: outcome(g.b)),
                            .init(key: "cells", value: .integer(g.keys.count)), .init(key: "keys", value: keys(g.keys)),
                        ])
                    })),
            .init(key: "kernelDiffers", value: changes(kernelDiffers)), .init(key: "modelDiffers", value: changes(modelDiffers)),
            .init(key: "onlyInA", value: keys(onlyInA)), .init(key: "onlyInB", value: keys(onlyInB)),
            .init(key: "ranOnlyInA", value: keys(ranOnlyInA)), .init(key: "ranOnlyInB", value: keys(ranOnlyInB)),
        ])
    }
}
