import BindConformance
import BindKit
import BindRules
import CBindBench
import CBindShim
import Foundation

/// bindbench's reach section: one worker's reach cells/s (model + kernel, as the matrix runs
/// them) against a C loop of the same system calls, in the same pair of namespaces.
enum ReachBench {
    /// Seconds for one worker and for the C loop over `cells`.
    static func oneWorker(_ cells: [ReachCell]) throws -> (swift: Double, c: Double) {
        MatrixBench.waitForQuietMachine()
        let swift = try withScenarioNamespaces(peer: true) { ns in
            let host = ModelHost(facts: ns.hostFacts)
            let peer = ns.peerFacts.map(ModelHost.init(facts:))
            let model = ScenarioModel(host: host, peer: peer, explains: false)
            let executor = KernelExecutor(namespaces: ns)
            let start = ContinuousClock.now
            for (i, cell) in cells.enumerated() {
                executor.settle = .matrix(unicast: cell.isUnicast(host: host, peer: peer))
                _ = ReachCellRun.run(cell, port: MatrixRunner.firstPort &+ UInt16(i), model: model, executor: executor)
            }
            return MatrixBench.seconds(ContinuousClock.now - start)
        }
        MatrixBench.waitForQuietMachine()
        let c = try withScenarioNamespaces(peer: true) { ns in
            var socks: [bk_bench_reach_sock] = []
            var cCells: [bk_bench_reach_cell] = []
            for (i, cell) in cells.enumerated() {
                cCells.append(cCell(cell, port: MatrixRunner.firstPort &+ UInt16(i), socks: &socks, ns: ns))
            }
            let peer = ns.peer?.rawValue ?? -1
            let start = ContinuousClock.now
            _ = cCells.withUnsafeBufferPointer { cs in
                socks.withUnsafeBufferPointer { ss in
                    bk_bench_reach(cs.baseAddress, Int32(cs.count), ss.baseAddress, ns.host.rawValue, peer)
                }
            }
            return MatrixBench.seconds(ContinuousClock.now - start)
        }
        return (swift, c)
    }

    static func cAddress(_ text: String, port: UInt16, in facts: HostFacts?) -> bk_addr {
        guard let ip = try? IPAddress(parsing: text) else { return bk_addr() }
        // A zone name is the index of that name in the namespace the socket is in, as the
        // executor looks it up.
        var resolved = ip
        if case .v6(var a) = ip, case .name(let name)? = a.zone, let index = facts?.interfaces.first(where: { $0.name == name })?.index {
            a.zone = .index(index)
            resolved = .v6(a)
        }
        guard case .success(let raw) = Socket.cAddress(SocketAddress(ip: resolved, port: port), operation: "bind") else { return bk_addr() }
        return raw
    }

    /// The C form of a cell (its sockets appended to `socks`).
    static func cCell(_ cell: ReachCell, port: UInt16, socks: inout [bk_bench_reach_sock], ns: ScenarioNamespaces) -> bk_bench_reach_cell {
        var out = bk_bench_reach_cell()
        out.first = Int32(socks.count)
        out.count = Int32(cell.listeners.count)
        out.transport = cell.transport == .tcp ? 0 : 1
        out.sender_family = cell.senderFamily.cValue
        out.from_peer = cell.sender == .peer ? 1 : 0
        out.unicast = cell.isUnicast(host: ModelHost(facts: ns.hostFacts), peer: try? ns.peerFacts.map(ModelHost.init(facts:))) ? 1 : 0
        out.to = cAddress(cell.destination, port: port, in: cell.sender == .peer ? ns.peerFacts : ns.hostFacts)
        for l in cell.listeners {
            var s = bk_bench_reach_sock()
            s.family = l.kind.family.cValue
            s.reuseport = l.options == .reuseport || l.options == .both ? 1 : 0
            s.v6only = l.kind == .inet6Dual ? 0 : l.kind == .inet6Only ? 1 : -1
            if let device = l.device {
                s.has_device = 1
                withUnsafeMutableBytes(of: &s.device) { buf in
                    for (i, b) in device.utf8.prefix(15).enumerated() { buf[i] = b }
                }
            }
            s.addr = cAddress(l.address, port: port, in: ns.hostFacts)
            socks.append(s)
        }
        return out
    }
}
