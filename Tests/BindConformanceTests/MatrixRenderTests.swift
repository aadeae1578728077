import BindConformance
import BindKit
import BindRules
import BindTestSupport
import Foundation
import Testing

/// A small report built by hand: agreements, a disagreement, a skipped cell, a listen failure,
/// a row whose first socket fails, and one cell of each other group.
private enum Sample {
    static let any4 = SocketConfig(kind: .inet, address: "0.0.0.0")
    static let lo4 = SocketConfig(kind: .inet, address: "127.0.0.1")
    static let foreign4 = SocketConfig(kind: .inet, address: "192.0.2.2")

    static func pair(_ a: SocketConfig, _ b: SocketConfig, same: Bool = true, state: FirstState = .bound) -> MatrixCell {
        MatrixCell(group: .pair, transport: .tcp, first: a, state: state, second: b, sameOwner: same)
    }

    static func record(_ cell: MatrixCell, _ model: CellOutcome?, _ kernel: CellOutcome?, reason: Reason? = nil) -> MatrixRecord {
        MatrixRecord(cell: cell, model: model, kernel: kernel, reason: reason, port: cell.port ?? 10_000)
    }

    /// A reason as the model makes one (its initializer is the model's own: decoded here).
    static func reason(_ rule: String, _ function: String, _ text: String = "") -> Reason {
        let json = #"{"rule":"\#(rule)","kernel":"\#(function)","text":"\#(text)"}"#
        return try! JSONDecoder().decode(Reason.self, from: Data(json.utf8))
    }

    static let ok = CellOutcome(bind: .ok, listen: .ok)
    static let inUse = CellOutcome(bind: .errno("EADDRINUSE"))

    static var records: [MatrixRecord] {
        [
            record(pair(any4, any4), inUse, inUse, reason: reason("conflict", "inet_csk_bind_conflict")),
            record(pair(any4, lo4), inUse, inUse, reason: reason("conflict", "inet_csk_bind_conflict")),
            // The disagreement.
            record(pair(lo4, any4), ok, inUse, reason: reason("no-conflict", "inet_csk_get_port", "no socket holds 0.0.0.0:10002")),
            record(
                pair(lo4, lo4), CellOutcome(bind: .ok, listen: .errno("EADDRINUSE")), CellOutcome(bind: .ok, listen: .errno("EADDRINUSE"))),
            MatrixRecord(cell: pair(any4, any4, same: false), model: nil, kernel: nil, skipped: "changes credentials: needs root"),
            record(
                pair(foreign4, foreign4), CellOutcome(setup: StepResult(.bind, .errno("EADDRNOTAVAIL")), bind: .errno("EADDRNOTAVAIL")),
                CellOutcome(setup: StepResult(.bind, .errno("EADDRNOTAVAIL")), bind: .errno("EADDRNOTAVAIL"))),
            record(
                pair(foreign4, lo4), CellOutcome(setup: StepResult(.bind, .errno("EADDRNOTAVAIL")), bind: .ok, listen: .ok),
                CellOutcome(setup: StepResult(.bind, .errno("EADDRNOTAVAIL")), bind: .ok, listen: .ok)),
            record(
                MatrixCell(
                    group: .crossTransport, transport: .tcp, secondTransport: .udp, first: any4, state: .bound, second: any4,
                    sameOwner: true),
                CellOutcome(bind: .ok), CellOutcome(bind: .ok)),
            record(
                MatrixCell(group: .single, transport: .udp, first: SocketConfig(kind: .inet, address: "192.0.2.2", freebind: true)),
                CellOutcome(bind: .ok), CellOutcome(bind: .ok)),
            record(
                MatrixCell(
                    group: .privilege, transport: .tcp, first: any4, port: 80, credentials: .unprivileged,
                    sysctls: [SysctlSetting(name: "net.ipv4.ip_unprivileged_port_start", value: "80")]),
                CellOutcome(bind: .ok, listen: .ok), CellOutcome(bind: .ok, listen: .ok)),
            record(
                MatrixCell(group: .privilege, transport: .tcp, first: any4, port: 80, credentials: .unprivileged),
                CellOutcome(bind: .errno("EACCES")), CellOutcome(bind: .errno("EACCES")), reason: reason("privileged-port", "__inet_bind")),
        ]
    }

    static var report: MatrixReport { MatrixReport(kernel: "6.1.0-test", mode: "namespaces", seconds: 1.5, records: records) }

    /// The embedded data of an HTML page.
    static func embedded(_ page: String) throws -> [String: Any] {
        let open = #"<script type="application/json" id="data">"#
        let start = try #require(page.range(of: open))
        let end = try #require(page.range(of: "</script>", range: start.upperBound..<page.endIndex))
        let json = try JSONSerialization.jsonObject(with: Data(page[start.upperBound..<end.lowerBound].utf8))
        return try #require(json as? [String: Any])
    }

    /// Every cell of embedded data as (key, model, kernel, reason), the way the page's script reads it.
    static func cells(_ data: [String: Any]) throws -> [(key: String, model: String?, kernel: String?, reason: String?)] {
        let strings = try #require(data["strings"] as? [String])
        let pairs = try #require(data["outcomes"] as? [[Int]])
        let grids = try #require(data["grids"] as? [[String: Any]])
        func s(_ i: Int) -> String? { i >= 0 ? strings[i] : nil }
        var out: [(String, String?, String?, String?)] = []
        for g in grids {
            let d = try #require(g["cells"] as? [Int])
            let rk = try #require(g["rowKeys"] as? [Int])
            let ck = try #require(g["columnKeys"] as? [Int])
            let ko = try #require(g["keyOverrides"] as? [Int])
            var overrides: [Int: Int] = [:]
            for i in stride(from: 0, to: ko.count, by: 2) { overrides[ko[i]] = ko[i + 1] }
            for j in stride(from: 0, to: d.count, by: 4) {
                let column = s(ck[d[j + 1]]) ?? ""
                let key = overrides[j / 4].flatMap(s) ?? (s(rk[d[j]]) ?? "") + (column.isEmpty ? "" : " " + column)
                let p = pairs[d[j + 2]]
                out.append((key, s(p[0]), s(p[1]), s(d[j + 3])))
            }
        }
        return out
    }
}

@Suite("Matrix renderers and diff", .checksLeaks)
struct MatrixRenderTests {
    @Test func markdownHasSummaryLegendTablesAndTheDisagreement() {
        let md = MatrixMarkdown.render(Sample.report)
        #expect(md.hasPrefix("# Conformance matrix: Linux 6.1.0-test\n"))
        #expect(md.contains("| 6.1.0-test | private namespaces | 11 | 9 | 1 | 1 | 1.5 |"))
        #expect(md.contains("## Legend"))
        #expect(md.contains("| `INUSE` | EADDRINUSE"))
        #expect(md.contains("| `X/L-Y` |"))
        #expect(md.contains("## Summary"))
        #expect(md.contains("### tcp · first bound · none / none · same uid"))
        // Rows and columns: places 1 (0.0.0.0), 2 (127.0.0.1) and 5 (192.0.2.2), numbered as in the legend.
        #expect(md.contains("| 5 | `inet 192.0.2.2` |"))
        #expect(md.contains("| first ↓ second → | 1 | 2 | 5 |\n"))
        #expect(md.contains("| 1 v4 0.0.0.0 | INUSE | INUSE |  |\n"))
        #expect(md.contains("| 2 v4 127.0.0.1 | ✗ m:ok k:INUSE | ok/L-INUSE |  |\n"))
        // The first socket failed in every cell of this row: the label says so once.
        #expect(md.contains("| 5 v4 192.0.2.2 (first: NOTAVAIL) |  | ok | NOTAVAIL |\n"))
        #expect(md.contains("## Disagreements\n\n- `pair tcp inet 127.0.0.1 (bound) | inet 0.0.0.0 same uid`"))
        #expect(md.contains("  - kernel: bind EADDRINUSE"))
        #expect(md.contains("## Cross-transport pairs"))
        #expect(md.contains("## Single sockets"))
        #expect(md.contains("## Privileged ports"))
        #expect(md.contains("- 1 cells: changes credentials: needs root"))
        // The other-uid grid is counted in the summary (its one cell skipped), not tabled.
        #expect(md.contains("| pair | tcp | defaults | bound | none | none | other uid | 1 | 0 | 0 | 1 |"))
        #expect(md.contains("| pair | tcp | defaults | bound | none | none | same uid | 6 | 5 | 1 | 0 |"))
    }

    @Test func markdownTableRowsHaveOneCellPerColumn() {
        let md = MatrixMarkdown.render(Sample.report)
        let lines = md.split(separator: "\n", omittingEmptySubsequences: false)
        guard let header = lines.firstIndex(where: { $0.hasPrefix("| first ↓ second →") }) else {
            Issue.record("no table")
            return
        }
        let columns = lines[header].split(separator: "|", omittingEmptySubsequences: false).count
        var i = header + 1
        while i < lines.count, lines[i].hasPrefix("|") {
            #expect(lines[i].split(separator: "|", omittingEmptySubsequences: false).count == columns, "\(lines[i])")
            i += 1
        }
        #expect(i - header == 5)  // separator + three rows
    }

    @Test func markdownOfAnAgreeingReportSaysSo() {
        let records = Sample.records.filter(\.agrees)
        let md = MatrixMarkdown.render(MatrixReport(kernel: "6.1.0", mode: "host", seconds: 0, records: records))
        #expect(md.contains("agree on every cell that ran"))
        #expect(md.components(separatedBy: "✗").count == 2)  // the legend's only
        #expect(md.contains("## Disagreements\n\nNone."))
    }

    @Test func htmlIsSelfContainedWithLegendFiltersAndData() throws {
        let page = MatrixHTML.render(Sample.report)
        #expect(page.hasPrefix("<!DOCTYPE html>"))
        #expect(page.hasSuffix("</html>\n"))
        for external in ["http://", "https://", "src=", "<link", "@import", "url("] { #expect(!page.contains(external), "\(external)") }
        for part in ["id=\"legend\"", "EADDRINUSE", "EADDRNOTAVAIL", "EINVAL", "EACCES", "model ≠ kernel"] {
            #expect(page.contains(part), "\(part)")
        }
        for part in [
            "id=\"filters\"", "id=\"only\"", "only disagreements", "\"transport\"", "\"first state\"", "\"owner\"",
            "\"options (first / second)\"",
        ] {
            #expect(page.contains(part), "\(part)")
        }
        let data = try Sample.embedded(page)
        let cells = try Sample.cells(data)
        // Every record once, its key rebuilt from the row's and column's parts.
        #expect(cells.count == Sample.records.count)
        #expect(Set(cells.map(\.key)) == Set(Sample.records.map(\.cell.key)))
        let bad = try #require(cells.first { $0.key == "pair tcp inet 127.0.0.1 (bound) | inet 0.0.0.0 same uid" })
        #expect(bad.model == "bind ok, listen ok")
        #expect(bad.kernel == "bind EADDRINUSE")
        // The typed reason: rule and kernel function, and the words where the sides disagree.
        #expect(bad.reason == "no-conflict (inet_csk_get_port): no socket holds 0.0.0.0:10002")
        #expect(cells.contains { $0.reason == "privileged-port (__inet_bind)" })
        // One string table: the reason two cells share is stored once.
        let strings = try #require(data["strings"] as? [String])
        #expect(strings.filter { $0 == "conflict (inet_csk_bind_conflict)" }.count == 1)
        #expect(cells.filter { $0.reason == "conflict (inet_csk_bind_conflict)" }.count == 2)
        let pairs = try #require(data["outcomes"] as? [[Int]])
        #expect(pairs.contains { $0[4] == 1 && strings[$0[3]].hasSuffix(" x") })
    }

    @Test func htmlKeepsScriptDataInsideItsElement() throws {
        var records = Sample.records
        records[0].reason = Sample.reason("conflict", "inet_csk_bind_conflict", "</script><script>alert(1)</script>")
        let page = MatrixHTML.render(MatrixReport(kernel: "<b>6.1</b>", mode: "namespaces", seconds: 0, records: records))
        #expect(!page.contains("<script>alert"))
        #expect(!page.contains("<b>6.1</b>"))
        let cells = try Sample.cells(try Sample.embedded(page))
        #expect(cells.contains { $0.reason == "conflict (inet_csk_bind_conflict): </script><script>alert(1)</script>" })
    }

    @Test func htmlKeysSplitForEveryKindOfMatrixCell() throws {
        // A slice of the real matrix: every key must split into a row part and a column part.
        let all = Matrix.cells()
        let cells = stride(from: 0, to: all.count, by: 97).map { all[$0] }
        let records = cells.map { MatrixRecord(cell: $0, model: Sample.ok, kernel: Sample.ok) }
        let data = try Sample.embedded(MatrixHTML.render(MatrixReport(kernel: "k", mode: "namespaces", seconds: 0, records: records)))
        let grids = try #require(data["grids"] as? [[String: Any]])
        for g in grids { #expect((g["keyOverrides"] as? [Int])?.isEmpty == true) }
        #expect(Set(try Sample.cells(data).map(\.key)) == Set(cells.map(\.key)))
        let groups = Set(cells.map(\.group))
        #expect(groups == Set(MatrixCell.Group.allCases))
    }

    // MARK: Diff

    static func changed() -> MatrixReport {
        var records = Sample.records
        records[0].kernel = Sample.ok  // kernel differs
        records[1].model = Sample.ok  // model differs
        records[3].skipped = "no free port"  // run only in A
        records[3].model = nil
        records[3].kernel = nil
        records.remove(at: 7)  // cross-transport: only in A
        records.append(Sample.record(Sample.pair(Sample.lo4, Sample.lo4, state: .listening), Sample.inUse, Sample.inUse))  // only in B
        return MatrixReport(kernel: "6.8.0-test", mode: "namespaces", seconds: 2, records: records)
    }

    @Test func diffFindsEveryKindOfDifference() throws {
        let a = Sample.report
        let d = try MatrixDiff(a, Self.changed(), aName: "a.json", bName: "b.json")
        #expect(d.a.kernel == "6.1.0-test")
        #expect(d.b.kernel == "6.8.0-test")
        #expect(d.matched == a.records.count - 1)
        let rule = MatrixDiff.RuleName(rule: "conflict", function: "inet_csk_bind_conflict")
        #expect(
            d.kernelDiffers == [MatrixDiff.Change(key: a.records[0].cell.key, a: Sample.inUse, b: Sample.ok, ruleA: rule, ruleB: rule)])
        #expect(d.modelDiffers == [MatrixDiff.Change(key: a.records[1].cell.key, a: Sample.inUse, b: Sample.ok, ruleA: rule, ruleB: rule)])
        #expect(d.onlyInA == [a.records[7].cell.key])
        #expect(d.onlyInB == ["pair tcp inet 127.0.0.1 (listening) | inet 127.0.0.1 same uid"])
        #expect(d.ranOnlyInA == [a.records[3].cell.key])
        #expect(d.ranOnlyInB.isEmpty)
        #expect(d.exitStatus == 1)
        let text = d.text(changes: ["conflict": "6.x: a change that explains it"])
        #expect(text.hasPrefix("A: a.json: Linux 6.1.0-test (private namespaces), 11 cells"))
        #expect(text.contains("\nB: b.json: Linux 6.8.0-test"))
        #expect(
            text.contains(
                """
                kernel result differs (1), by rule (1 groups):
                  rule conflict (inet_csk_bind_conflict): 1 cells
                    A: bind EADDRINUSE → B: bind ok, listen ok
                    change: 6.x: a change that explains it
                    \(a.records[0].cell.key)
                """))
        #expect(!d.text().contains("change:"))
        #expect(text.contains("model result differs (1):"))
        #expect(text.contains("only in A (1):"))
        #expect(text.contains("only in B (1):"))
        #expect(text.contains("run only in A (skipped in B) (1):"))
        let md = d.markdown(changes: ["conflict": "a change"])
        #expect(md.contains("| conflict (inet_csk_bind_conflict) | bind EADDRINUSE | bind ok, listen ok | 1 | a change |"))
        let html = d.html()
        #expect(html.contains("<td>conflict (inet_csk_bind_conflict)</td><td>bind EADDRINUSE</td><td>bind ok, listen ok</td>"))
        #expect(html.hasSuffix("</html>\n"))
    }

    @Test func diffGroupsByRuleAndResults() throws {
        var b = Sample.records
        for i in [0, 1] { b[i].kernel = Sample.ok }
        b[3].kernel = Sample.inUse
        let d = try MatrixDiff(Sample.report, MatrixReport(kernel: "b", mode: "namespaces", seconds: 0, records: b))
        let groups = d.groups
        #expect(groups.map(\.keys.count) == [2, 1])
        #expect(groups[0].ruleText == "conflict (inet_csk_bind_conflict)")
        #expect(groups[0].keys == [Sample.records[0].cell.key, Sample.records[1].cell.key])
        #expect(groups[1].ruleText == "no rule recorded")
        #expect(groups[0].change(["conflict": "x"]) == "x" && groups[1].change(["conflict": "x"]) == nil)
    }

    @Test func diffOfAReportWithItselfIsEmpty() throws {
        let d = try MatrixDiff(Sample.report, Sample.report)
        #expect(d.exitStatus == 0)
        #expect(d.kernelDiffers.isEmpty && d.modelDiffers.isEmpty && d.onlyInA.isEmpty && d.onlyInB.isEmpty && d.ranOnlyInA.isEmpty)
        #expect(d.matched == Sample.records.count)
        let json = try JSONValue(parsing: d.jsonValue.serialized())
        #expect(json["matched"] == .integer(Sample.records.count))
        #expect(json["groups"] == .array([]))
    }

    @Test func diffMatchesCellsInAnyOrderAndWithOtherPorts() throws {
        var b = Sample.records.reversed().map { $0 }
        for i in b.indices { b[i].port = 20_000 + UInt16(i) }
        let d = try MatrixDiff(Sample.report, MatrixReport(kernel: "b", mode: "namespaces", seconds: 0, records: b))
        #expect(d.matched == Sample.records.count)
        #expect(d.kernelDiffers.isEmpty && d.modelDiffers.isEmpty && d.onlyInA.isEmpty && d.onlyInB.isEmpty)
    }

    @Test func diffLimitsTheListsButNotTheCounts() throws {
        let a = MatrixReport(kernel: "a", mode: "namespaces", seconds: 0, records: Sample.records)
        let b = MatrixReport(kernel: "b", mode: "namespaces", seconds: 0, records: [])
        let text = try MatrixDiff(a, b).text(limit: 2)
        #expect(text.contains("only in A (11):"))
        #expect(text.contains("  … and 9 more"))
        #expect(try MatrixDiff(a, b).exitStatus == 0)
    }

    @Test func jsonLinesCarryTheTypedRecord() throws {
        let lines = try Sample.report.jsonLines().split(separator: "\n").map { try JSONValue(parsing: String($0)) }
        #expect(lines.count == Sample.records.count + 2)
        #expect(lines[0]["format"] == .string("bindcheck-matrix") && lines[0]["kernel"] == .string("6.1.0-test"))
        #expect(lines.last?["summary"] == .string("bindcheck-matrix") && lines.last?["disagree"] == .integer(1))
        let bad = lines[3]
        #expect(bad["agree"] == .bool(false))
        #expect(bad["kernel"]?.serialized() == #"{"bind":"EADDRINUSE"}"#)
        #expect(bad["model"]?.serialized() == #"{"bind":"ok","listen":"ok"}"#)
        #expect(bad["rule"] == .string("no-conflict") && bad["function"] == .string("inet_csk_get_port"))
        #expect(bad["text"] == .string("no socket holds 0.0.0.0:10002"))
        #expect(bad["port"] == .integer(10_000))
        // An agreeing record: no model (it is the kernel's), its rule and function all the same.
        #expect(lines[1]["model"] == nil && lines[1]["rule"] == .string("conflict") && lines[1]["text"] == nil)
        #expect(lines[6]["kernel"]?.serialized() == #"{"setup":{"bind":"EADDRNOTAVAIL"},"bind":"EADDRNOTAVAIL"}"#)
        #expect(lines[5]["skipped"] == .string("changes credentials: needs root"))
        // Read back, every outcome is the record's.
        for (r, line) in zip(Sample.records, lines.dropFirst()) where r.skipped == nil {
            let parsed = try MatrixDiff.record(line)
            #expect(parsed.kernel == r.kernel && parsed.model == r.model, "\(r.cell.key)")
        }
    }

    @Test func diffLoadsReportsAndNamesBadFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("matrix-diff-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = dir.appendingPathComponent("good.json").path
        let writer = try JSONLinesWriter(path: good)
        try Sample.report.writeJSONLines(to: writer)
        try writer.close()
        #expect(try String(contentsOfFile: good, encoding: .utf8) == Sample.report.jsonLines())
        let same = try MatrixDiff(files: good, good)
        #expect(same.matched == Sample.records.count && same.exitStatus == 0)

        func error(_ path: String) -> MatrixDiff.LoadError? {
            do {
                _ = try MatrixDiff(files: path, good)
                return nil
            } catch {
                return error
            }
        }
        let missing = dir.appendingPathComponent("missing.json").path
        #expect(error(missing) == .missing(file: missing))
        #expect(error(missing)?.exitStatus == 66)
        #expect(error(missing)?.description == "\(missing): no such file")

        let notJSON = dir.appendingPathComponent("not.json").path
        try Data("{\"kernel\": ".utf8).write(to: URL(fileURLWithPath: notJSON))
        #expect(error(notJSON)?.exitStatus == 64)
        #expect(error(notJSON)?.description.hasPrefix("\(notJSON): not a matrix report") == true)

        let other = dir.appendingPathComponent("other.json").path
        try Data("{\"format\": \"bindcheck-matrix\", \"version\": 2, \"kernel\": \"6.1\"}".utf8).write(to: URL(fileURLWithPath: other))
        #expect(error(other)?.exitStatus == 64)
        #expect(error(other)?.description.contains("missing mode") == true)

        let truncated = dir.appendingPathComponent("truncated.json").path
        let full = try Sample.report.jsonLines().split(separator: "\n")
        try Data(full.dropLast().joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: truncated))
        #expect(error(truncated)?.description.contains("no summary line") == true)

        let badRecord = dir.appendingPathComponent("bad-record.json").path
        let json = try Sample.report.jsonLines().replacingOccurrences(of: #"{"bind":"EADDRINUSE"}"#, with: #"{"bnid":"EADDRINUSE"}"#)
        try Data(json.utf8).write(to: URL(fileURLWithPath: badRecord))
        #expect(error(badRecord)?.exitStatus == 64)
        #expect(error(badRecord)?.description.contains("kernel: unexpected bnid") == true)

        #expect(error(dir.path) == .unreadable(file: dir.path, why: "a directory"))
        #expect(error(dir.path)?.exitStatus == 64)
    }
}
