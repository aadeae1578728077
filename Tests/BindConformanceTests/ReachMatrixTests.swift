import BindConformance
import BindKit
import BindRules
import BindTestSupport
import Foundation
import Testing

/// Reach records by hand: one agreeing, one where the kernel's one receiver is in the model's
/// SO_REUSEPORT group, one disagreeing.
private enum ReachSample {
    static let any4 = ReachListener(kind: .inet, address: "0.0.0.0", options: .reuseport)
    static let lo4 = ReachListener(kind: .inet, address: "127.0.0.1")

    static var records: [ReachRecord] {
        let json = #"{"rule":"reach","kernel":"__inet_lookup_listener","text":"connected"}"#
        let reason = try? JSONDecoder().decode(Reason.self, from: Data(json.utf8))
        return [
            ReachRecord(
                cell: ReachCell(transport: .tcp, listeners: [lo4], destination: "127.0.0.1", sender: .host), port: 10_000,
                model: ReachOutcome(result: .ok, by: ["a"]), kernel: ReachOutcome(result: .ok, by: ["a"]), reason: reason,
                modelIsGroup: false),
            ReachRecord(
                cell: ReachCell(transport: .tcp, listeners: [any4, any4], destination: "192.0.2.1", sender: .peer), port: 10_001,
                model: ReachOutcome(result: .ok, by: ["a", "b"]), kernel: ReachOutcome(result: .ok, by: ["b"]), reason: reason,
                modelIsGroup: true),
            ReachRecord(
                cell: ReachCell(transport: .udp, listeners: [lo4], destination: "192.0.2.1", sender: .peer), port: 10_002,
                model: ReachOutcome(result: .ok, by: []), kernel: ReachOutcome(result: .ok, by: ["a"]), reason: reason,
                modelIsGroup: false),
        ]
    }

    static var report: MatrixReport {
        var r = MatrixReport(kernel: "test", mode: "namespaces", seconds: 1, records: [])
        r.reach = records
        return r
    }
}

@Suite("Reach cells in the reports", .checksLeaks)
struct ReachReportTests {
    @Test func agreementFollowsTheGroupRule() {
        #expect(ReachSample.records.map(\.agrees) == [true, true, false])
        #expect(!ReachSample.report.allAgree)
    }

    @Test func everyFormatShowsThem() throws {
        let r = ReachSample.report
        #expect(r.text.contains("reach cells 3, agreed 2, disagreed 1"))
        #expect(r.text.contains("reach udp inet 127.0.0.1 → 192.0.2.1 from peer"))
        let json = try r.jsonLines()
        #expect(json.contains(#""kernel":{"connect":"ok","by":["b"]}"#))
        #expect(json.contains(#""reachCells":3,"reachAgree":2,"reachDisagree":1"#))
        let md = MatrixMarkdown.render(r)
        #expect(md.contains("## Reach"))
        #expect(md.contains("✗ m:`·` k:`a`"))
        let html = MatrixHTML.render(r)
        #expect(html.contains(#"<table class="reach">"#))
        #expect(html.contains(#"class="bad""#))
    }

    @Test func diffReadsReachRecords() throws {
        let a = ReachSample.report
        var b = a
        b.reach[0].kernel = ReachOutcome(result: .errno("ECONNREFUSED"), by: [])
        let d = try MatrixDiff(a, b)
        #expect(d.matched == 3)
        #expect(d.kernelDiffers.map(\.key) == [a.reach[0].cell.key])
        #expect(d.kernelDiffers.first?.b?.description == "ECONNREFUSED by []")
    }
}

@Suite("Reach cells against the kernel", .checksLeaks, .enabled(if: canMakeNamespaces, "needs root to create network namespaces"))
struct ReachMatrixKernelTests {
    @Test func aSampleAgrees() throws {
        var cells = Matrix.reachCells()
        #expect(cells.count >= 20_000)
        var rng = SeededGenerator(seed: 11)
        cells.shuffle(using: &rng)
        // One worker: concurrentPerform then runs on this thread (no dispatch worker threads to outlive the test).
        let summary = try ReachRunner.run(Array(cells.prefix(600)), workers: 1)
        let bad = summary.records.filter { !$0.agrees }
        #expect(summary.records.count == 600)
        #expect(
            bad.isEmpty,
            "\(bad.prefix(5).map { "\($0.cell.key): model \($0.model?.description ?? "-") kernel \($0.kernel?.description ?? "-")" })")
        // Connections and datagrams really arrived somewhere in the sample.
        #expect(summary.records.contains { $0.kernel?.by.isEmpty == false && $0.cell.transport == .tcp })
        #expect(summary.records.contains { $0.kernel?.by.isEmpty == false && $0.cell.transport == .udp })
    }
}
