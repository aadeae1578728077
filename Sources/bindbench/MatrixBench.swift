import BindConformance
import BindKit
import BindRules
import CBindBench
import CBindShim
import Foundation

/// The figures of bindbench's matrix section: a worker's cells/s against a C loop of the same
/// system calls, and the speed-up of two workers over one.
enum MatrixBench {
    /// Seconds for one worker (model + kernel, as the matrix runs them) and for the C loop over the
    /// same cells, each in a fresh private namespace. Only cells under the namespace defaults.
    static func oneWorker(_ cells: [MatrixCell]) throws -> (swift: Double, c: Double) {
        let plain = cells.filter { $0.sysctls.isEmpty }
        waitForQuietMachine()
        let swift = try withPrivateNamespace { facts in
            var model = ModelSide(model: BindModel(host: ModelHost(facts: facts), explains: false))
            let executor = KernelExecutor()
            let start = ContinuousClock.now
            for (i, cell) in plain.enumerated() {
                _ = CellRun.run(cell, port: MatrixRunner.firstPort &+ UInt16(i), model: &model, executor: executor)
            }
            return seconds(ContinuousClock.now - start)
        }
        waitForQuietMachine()
        let c = try withPrivateNamespace { _ in
            let permitted: UInt64 = {
                var caps = bk_capsets()
                return bk_caps_self(&caps) == 0 ? caps.permitted : 0
            }()
            let cCells = plain.enumerated().map { i, cell in cCell(cell, port: MatrixRunner.firstPort &+ UInt16(i)) }
            let start = ContinuousClock.now
            _ = cCells.withUnsafeBufferPointer { bk_bench_cells($0.baseAddress, Int32($0.count), permitted) }
            return seconds(ContinuousClock.now - start)
        }
        return (swift, c)
    }

    /// Seconds for the matrix runner over `cells` with `workers` workers.
    static func runner(_ cells: [MatrixCell], workers: Int) throws -> Double {
        waitForQuietMachine()
        return try MatrixRunner.run(cells, workers: workers).seconds
    }

    /// Waits until the machine is idle, at most `limit`: until a 100 ms window of /proc/stat shows
    /// the CPUs at least 90% idle. A namespace ends in the kernel after its last thread has: the
    /// kernel's worker tears down its sockets (thousands in TIME_WAIT after a run) in the
    /// background, and without this wait that work lands on whichever run comes next.
    static func waitForQuietMachine(limit: Duration = .seconds(10)) {
        let deadline = ContinuousClock.now + limit
        var last = cpuTimes()
        while ContinuousClock.now < deadline {
            usleep(100_000)
            let now = cpuTimes()
            let total = now.total &- last.total
            let idle = now.idle &- last.idle
            last = now
            if total > 0 && Double(idle) >= 0.9 * Double(total) { return }
        }
    }

    /// The first line of /proc/stat: all CPUs' time, and the idle part of it (idle + iowait).
    static func cpuTimes() -> (total: UInt64, idle: UInt64) {
        guard let data = FileManager.default.contents(atPath: "/proc/stat"),
            let line = String(decoding: data, as: UTF8.self).split(separator: "\n").first
        else { return (0, 0) }
        let fields = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard fields.count >= 5 else { return (0, 0) }
        return (fields.reduce(0, &+), fields[3] &+ fields[4])
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// The C form of a cell: the same sockets, options, credentials, binds, listens and TIME_WAIT.
    static func cCell(_ cell: MatrixCell, port: UInt16) -> bk_bench_cell {
        let p = cell.port ?? port
        var out = bk_bench_cell()
        let allCaps = Capability.mask(of: Set(Capability.allCases))
        out.a = cSock(
            cell.first, cell.transport, port: p, uid: cell.credentials == .unprivileged ? 1000 : 0,
            caps: cell.credentials == .unprivileged
                ? 0
                : cell.credentials == .rootWithoutBindService
                    ? allCaps & ~Capability.mask(of: [.netBindService]) : allCaps,
            listen: cell.second == nil ? cell.transport == .tcp : cell.state != .bound,
            timewait: cell.state == .timeWait)
        if let second = cell.second {
            out.has_b = 1
            let other = cell.sameOwner == false
            out.b = cSock(
                second, cell.secondTransport ?? cell.transport, port: p, uid: other ? 1000 : 0, caps: other ? 0 : allCaps,
                listen: (cell.secondTransport ?? cell.transport) == .tcp, timewait: false)
        }
        return out
    }

    static func cSock(_ c: SocketConfig, _ transport: Transport, port: UInt16, uid: UInt32, caps: UInt64, listen: Bool, timewait: Bool)
        -> bk_bench_sock
    {
        var s = bk_bench_sock()
        s.family = c.kind.family.cValue
        s.transport = transport == .tcp ? 0 : 1
        s.v6only = c.kind == .inet6Dual ? 0 : c.kind == .inet6Only ? 1 : -1
        s.reuseaddr = c.options == .reuseaddr || c.options == .both ? 1 : 0
        s.reuseport = c.options == .reuseport || c.options == .both ? 1 : 0
        s.freebind = c.freebind ? 1 : 0
        s.uid = uid
        s.caps = caps
        s.listen = listen ? 1 : 0
        s.timewait = timewait ? 1 : 0
        if let ip = try? IPAddress(parsing: c.address),
            case .success(let raw) = Socket.cAddress(SocketAddress(ip: ip, port: port), operation: "bind")
        {
            s.addr = raw
        }
        return s
    }
}

extension MatrixBench {
    /// Seconds the model alone takes over `cells` (for profiling the worker's overhead).
    static func modelOnly(_ cells: [MatrixCell]) throws -> Double {
        let host = try Fixture.describedHost(sysctls: [])
        let model = BindModel(host: host, explains: false)
        let start = ContinuousClock.now
        for (i, cell) in cells.enumerated() {
            _ = CellRun.modelOutcome(
                cell, Matrix.steps(cell, port: MatrixRunner.firstPort &+ UInt16(i % 16000)), model: model)
        }
        return seconds(ContinuousClock.now - start)
    }
}
