import BindConformance
import BindKit
import BindTestSupport
import CBindShim
import Foundation
import Testing

/// What of the host a run could change: the bind sysctls, addresses and the sockets holding ports.
struct HostSnapshot: Equatable {
    var sysctls: [String: String]
    var interfaces: [Interface]
    var sockets: Set<String>

    static func take() throws -> HostSnapshot {
        var s: [String: String] = [:]
        for name in BindSysctls.names + ["net.ipv6.conf.default.addr_gen_mode"] { s[name] = try Sysctl.read(name) }
        // TIME_WAIT entries of the host's own connections come and go: compare held ports only.
        let socks = HostSocket.current().filter { $0.state != .timeWait && $0.state != .established }
            .map { "\($0.transport) \($0.local) \($0.state) \($0.inode)" }
        return HostSnapshot(sysctls: s, interfaces: try Interface.current(), sockets: Set(socks))
    }
}

@Suite("Conformance matrix", .checksLeaks, .serialized, .enabled(if: canMakeNamespaces, "needs root to create network namespaces"))
struct MatrixTests {
    @Test("the default run: at least 40,000 cells, model == kernel on every one; no descriptor left; the host unchanged")
    func defaultRunAgrees() throws {
        let fdsBefore = bk_count_open_fds()
        let hostBefore = try HostSnapshot.take()
        let all = Matrix.cells()
        #expect(all.count >= 40_000)
        // Under a sanitizer (scripts/sanitize.sh) the run is 10 to 50 times slower: a seeded sample,
        // still run by every worker in parallel. The plain test command runs every cell.
        var cells = all
        if let sample = ProcessInfo.processInfo.environment["BINDKIT_TEST_MATRIX_SAMPLE"].flatMap(Int.init), sample < all.count {
            var rng = SeededGenerator(seed: 20_261_121)
            cells = Array(all.shuffled(using: &rng).prefix(sample))
            print("matrix: a sample of \(sample) of \(all.count) cells (BINDKIT_TEST_MATRIX_SAMPLE)")
        }
        let summary = try MatrixRunner.run(cells)
        let report = MatrixReport(summary)
        #expect(report.cells == cells.count)
        #expect(report.skipped == 0)
        for r in report.records where !r.agrees {
            Issue.record(
                "\(r.cell.key): model \(r.model?.description ?? "-") kernel \(r.kernel?.description ?? "-") — \(r.reason.map(MatrixReport.describe) ?? "")"
            )
        }
        #expect(report.agree == cells.count)
        print("matrix: \(report.cells) cells, \(report.agree) agree, \(report.seconds) s")
        #expect(bk_count_open_fds() == fdsBefore, "descriptors before and after the run")
        let hostAfter = try HostSnapshot.take()
        #expect(hostAfter == hostBefore, "the host's sysctls, addresses and sockets")
    }

    @Test("every dimension of the issue is in the default cells")
    func dimensionsCovered() {
        let cells = Matrix.cells()
        let pairs = cells.filter { $0.group == .pair }
        #expect(Set(pairs.map(\.transport)) == [.tcp, .udp])
        #expect(Set(pairs.compactMap(\.state)) == Set(FirstState.allCases))
        #expect(Set(pairs.map(\.first.kind)) == Set(SocketKind.allCases))
        #expect(Set(pairs.map(\.first.options)) == Set(ReuseOptions.allCases))
        #expect(Set(pairs.compactMap(\.sameOwner)) == [true, false])
        #expect(Set(pairs.map(\.first.address)).isSuperset(of: Matrix.ipv4Addresses + Matrix.ipv6Addresses))
        #expect(cells.contains { $0.group == .crossTransport })
        let priv = cells.filter { $0.group == .privilege }
        #expect(Set(priv.compactMap(\.port)) == Set(Matrix.privilegedPorts))
        #expect(Set(priv.compactMap(\.credentials)) == Set(BindCredentials.allCases))
        let singles = cells.filter { $0.group == .single }
        #expect(singles.contains { $0.first.freebind })
        #expect(Set(singles.map { $0.sysctls.map(\.name).sorted() }).count == 8)
        #expect(Set(cells.map(\.key)).count == cells.count, "every cell is distinct")
    }

    @Test("a sample is reproducible from its seed")
    func sampleIsSeeded() throws {
        var a = SeededGenerator(seed: 42)
        var b = SeededGenerator(seed: 42)
        var x = Matrix.cells()
        var y = Matrix.cells()
        x.shuffle(using: &a)
        y.shuffle(using: &b)
        #expect(x.prefix(100).map(\.key) == y.prefix(100).map(\.key))
        let summary = try MatrixRunner.run(Array(x.prefix(500)), workers: 2)
        #expect(summary.records.count == 500)
        #expect(summary.records.filter { !$0.agrees }.isEmpty)
    }
}
