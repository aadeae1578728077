import BindKit
import BindRules
import Foundation
import Synchronization

/// Runs matrix cells: one worker per core, each in its own private network namespace with the
/// fixture; every cell's sockets are closed before the next cell starts.
public enum MatrixRunner {
    /// How many cells a namespace runs before it is replaced (TIME_WAIT entries hold their port
    /// for 60 s, so each cell in a namespace gets a port of its own).
    public static let cellsPerNamespace = 16_000
    package static let firstPort: UInt16 = 10_000

    public struct Summary: Sendable {
        public var records: [MatrixRecord]
        public var seconds: Double
        public var mode: String  // "namespaces" or "host"
        public var facts: HostFacts?
        /// The facts read back from a namespace of each sysctl variant (the model's input).
        public var factsByVariant: [[SysctlSetting]: HostFacts] = [:]
    }

    /// Runs `cells` with `workers` threads. `progress` is called (from any thread) with the count
    /// of cells done and of cells that disagree so far.
    public static func run(
        _ cells: [MatrixCell], workers: Int = ProcessInfo.processInfo.activeProcessorCount,
        progress: (@Sendable (Int, Int) -> Void)? = nil
    ) throws -> Summary {
        let start = ContinuousClock.now
        // Group by sysctl variant (a namespace holds one), then cut into chunks.
        var byVariant: [[SysctlSetting]: [Int]] = [:]
        var variantOrder: [[SysctlSetting]] = []
        for (i, c) in cells.enumerated() {
            if byVariant[c.sysctls] == nil { variantOrder.append(c.sysctls) }
            byVariant[c.sysctls, default: []].append(i)
        }
        // Chunks of equal size, as many as a multiple of the workers, so that no worker is left
        // with a last chunk alone while the others idle.
        var chunks: [(sysctls: [SysctlSetting], indexes: ArraySlice<Int>)] = []
        let w = max(1, workers)
        for v in variantOrder {
            let idx = byVariant[v] ?? []
            var count = (idx.count + cellsPerNamespace - 1) / cellsPerNamespace
            if idx.count >= 256 * w { count = (count + w - 1) / w * w }
            let size = (idx.count + max(count, 1) - 1) / max(count, 1)
            var s = 0
            while s < idx.count {
                let e = min(s + size, idx.count)
                chunks.append((v, idx[s..<e]))
                s = e
            }
        }
        // The largest first: the small sysctl variants fill in at the end.
        chunks.sort { $0.indexes.count > $1.indexes.count }
        // Even chunks across workers: split large chunks so that every worker has work.
        let results = ResultSlots(count: cells.count)
        let counters = Counters()
        let chunkList = chunks
        DispatchQueue.concurrentPerform(iterations: max(1, workers)) { _ in
            while true {
                let k = counters.nextChunk.wrappingAdd(1, ordering: .relaxed).oldValue
                guard k < chunkList.count, counters.failure.withLock({ $0 == nil }) else { return }
                let chunk = chunkList[k]
                do {
                    try withPrivateNamespace(sysctls: chunk.sysctls.map { ($0.name, $0.value) }) { nsFacts in
                        counters.facts.withLock { if $0[chunk.sysctls] == nil { $0[chunk.sysctls] = nsFacts } }
                        var model = ModelSide(model: BindModel(host: ModelHost(facts: nsFacts), explains: false))
                        let executor = KernelExecutor()
                        for (n, i) in chunk.indexes.enumerated() {
                            let port = firstPort &+ UInt16(n)
                            let r = CellRun.run(cells[i], port: port, model: &model, executor: executor)
                            results.set(i, r)
                            let d = counters.done.wrappingAdd(1, ordering: .relaxed).newValue
                            let b =
                                r.agrees ? counters.bad.load(ordering: .relaxed) : counters.bad.wrappingAdd(1, ordering: .relaxed).newValue
                            progress?(d, b)
                        }
                    }
                } catch {
                    counters.failure.withLock { $0 = error }
                    return
                }
            }
        }
        if let e = counters.failure.withLock({ $0 }) { throw e }
        let d = ContinuousClock.now - start
        return Summary(
            records: results.all(), seconds: Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18,
            mode: "namespaces", facts: counters.facts.withLock { $0[[]] }, factsByVariant: counters.facts.withLock { $0 })
    }

    /// Without the privilege to make namespaces: the cells that can run in the host's own
    /// namespace (loopback and wildcard addresses, the process's own uid, free high ports, no
    /// TIME_WAIT left behind, no sysctl changed); every other cell is recorded as skipped.
    public static func runOnHost(_ cells: [MatrixCell], progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> Summary {
        let start = ContinuousClock.now
        let facts = try HostFacts.current()
        var model = ModelSide(model: BindModel(host: ModelHost(facts: facts), explains: false))
        let executor = KernelExecutor()
        let hostAddresses: Set<String> = ["0.0.0.0", "127.0.0.1", "127.0.0.2", "::", "::1", "::ffff:0.0.0.0", "::ffff:127.0.0.1"]
        var records: [MatrixRecord] = []
        var bad = 0
        for (n, cell) in cells.enumerated() {
            var why: String?
            if !cell.sysctls.isEmpty {
                why = "changes a sysctl: needs a private namespace"
            } else if cell.group == .privilege || cell.sameOwner == false {
                why = "changes credentials: needs root"
            } else if cell.state == .timeWait {
                why = "would leave a TIME_WAIT entry on the host"
            } else if !hostAddresses.contains(cell.first.address) || !(cell.second.map { hostAddresses.contains($0.address) } ?? true) {
                why = "uses an address of the fixture: needs a private namespace"
            }
            if let why {
                records.append(MatrixRecord(cell: cell, model: nil, kernel: nil, reason: nil, skipped: why))
                continue
            }
            guard let port = freePort() else {
                records.append(MatrixRecord(cell: cell, model: nil, kernel: nil, reason: nil, skipped: "no free port"))
                continue
            }
            let r = CellRun.run(cell, port: port, model: &model, executor: executor)
            if !r.agrees { bad += 1 }
            records.append(r)
            progress?(n + 1, bad)
        }
        let d = ContinuousClock.now - start
        return Summary(
            records: records, seconds: Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18, mode: "host", facts: facts)
    }

    /// A port free for TCP and UDP on every address right now (the kernel's pick for TCP, checked for UDP).
    static func freePort() -> UInt16? {
        for _ in 0..<20 {
            guard let p = try? Socket.findFreePort(on: .v6(.any), transport: .tcp) else { return nil }
            if Socket.isPortFree(p, on: .v6(.any), transport: .udp) && Socket.isPortFree(p, on: .v4(.any), transport: .udp) { return p }
        }
        return nil
    }
}

/// One cell on both sides.
package enum CellRun {
    /// A step's outcome, and the model's reason (nil on the kernel side).
    typealias StepAnswer = (outcome: Outcome, reason: Reason?)

    /// Both sides of one cell. The model runs without its words (its reasons keep their rule,
    /// kernel function and port); where the sides disagree it runs once more with them, so that
    /// the words are built only for the cells a person reads.
    package static func run(_ cell: MatrixCell, port: UInt16, model: inout ModelSide, executor: KernelExecutor) -> MatrixRecord {
        let steps = Matrix.steps(cell, port: port)
        let m = modelOutcome(cell, steps, side: &model)
        var kernel = KernelSide(executor: executor)
        let k = outcome(cell, steps, on: &kernel)
        executor.closeAll()
        var reason = m.reason
        if m.outcome != k.outcome {
            var words = ModelSide(model: model.model.explaining(true))
            reason = outcome(cell, steps, on: &words).reason
        }
        return MatrixRecord(cell: cell, model: m.outcome, kernel: k.outcome, reason: reason, port: cell.port ?? port)
    }

    /// The model's side of a cell, with its words when `model` explains.
    package static func modelOutcome(_ cell: MatrixCell, _ steps: CellSteps, model: BindModel) -> (outcome: CellOutcome, reason: Reason?) {
        var side = ModelSide(model: model)
        return modelOutcome(cell, steps, side: &side)
    }

    /// The model's side of a cell, on `side`'s table (emptied first, its storage reused).
    static func modelOutcome(_ cell: MatrixCell, _ steps: CellSteps, side: inout ModelSide) -> (outcome: CellOutcome, reason: Reason?) {
        side.table.removeAll()
        return outcome(cell, steps, on: &side)
    }

    /// The steps a fold adds, made once.
    private static let listenA = Step(id: "a", action: .listen(backlog: 128))
    private static let listenB = Step(id: "b", action: .listen(backlog: 128))
    private static let closeA = Step(id: "a", action: .close)

    /// Runs a cell's steps through one side and folds the results. Generic over the side (not
    /// closures): specialized for each, steps pass without being copied (from `steps`, a value
    /// the caller holds; out of an array, each would be copied) and answers are destroyed inline.
    static func outcome<Side: CellSide>(_ cell: MatrixCell, _ steps: CellSteps, on side: inout Side) -> (
        outcome: CellOutcome, reason: Reason?
    ) {
        func perform(_ step: Step) -> StepAnswer { side.perform(step) }
        let isTCP = (cell.secondTransport ?? cell.transport) == .tcp
        guard let second = steps.second else {
            // A single socket: its creation, its bind, and for TCP its listen.
            let created = perform(steps.socketA)
            let bound = perform(steps.bindA)
            var listen: Outcome?
            var reason = bound.reason
            if isTCP && bound.outcome == .ok {
                let l = perform(listenA)
                listen = l.outcome
                if l.outcome != .ok { reason = l.reason }
            }
            _ = perform(closeA)
            let setup = created.outcome == .ok ? nil : StepResult(.socket, created.outcome)
            return (CellOutcome(setup: setup, bind: bound.outcome, listen: listen), reason)
        }
        var setup: StepResult?
        // The first socket's steps stop at its first failure (no listen() after a failed bind).
        func setUp(_ step: Step, _ op: CellOp) -> Bool {
            let p = perform(step)
            if p.outcome != .ok { setup = StepResult(op, p.outcome) }
            return p.outcome == .ok
        }
        if setUp(steps.socketA, .socket) && setUp(steps.bindA, .bind) && steps.listensA { _ = setUp(listenA, .listen) }
        if steps.leaveTimeWait && setup == nil {
            let p = side.leaveTimeWait()
            if p.outcome != .ok { setup = StepResult(.timewait, p.outcome) }
            _ = perform(closeA)
        }
        let created = perform(second.socket)
        guard created.outcome == .ok else {
            return (CellOutcome(setup: setup, result: StepResult(.socket, created.outcome)), created.reason)
        }
        let bound = perform(second.bind)
        var reason = bound.reason
        var listen: Outcome?
        if isTCP && bound.outcome == .ok {
            let l = perform(listenB)
            listen = l.outcome
            if l.outcome != .ok { reason = l.reason }
        }
        return (CellOutcome(setup: setup, bind: bound.outcome, listen: listen), reason)
    }
}

/// One side of a cell, as `CellRun.outcome` drives it.
protocol CellSide {
    mutating func perform(_ step: Step) -> CellRun.StepAnswer
    /// Leaves a TIME_WAIT entry from the listening socket "a".
    mutating func leaveTimeWait() -> CellRun.StepAnswer
}

/// The model's side: a table of its own, threaded through the steps. A worker keeps one for
/// all its cells, so that each cell's table reuses the last one's storage.
package struct ModelSide: CellSide {
    var model: BindModel
    var table = SocketTable()

    package init(model: BindModel) { self.model = model }

    mutating func perform(_ step: Step) -> CellRun.StepAnswer {
        let p = model.apply(step, to: &table)
        return (p.outcome, p.reason)
    }

    mutating func leaveTimeWait() -> CellRun.StepAnswer {
        let p = model.leaveTimeWait("a", in: table)
        table = p.table
        return (p.outcome, p.reason)
    }
}

/// The kernel's side (the executor gives no reasons).
struct KernelSide: CellSide {
    let executor: KernelExecutor

    func perform(_ step: Step) -> CellRun.StepAnswer { (executor.perform(step), nil) }
    func leaveTimeWait() -> CellRun.StepAnswer { (executor.leaveTimeWait("a"), nil) }
}

/// Shared between the workers.
final class Counters: Sendable {
    let nextChunk = Atomic<Int>(0)
    let done = Atomic<Int>(0)
    let bad = Atomic<Int>(0)
    let failure = Locked<(any Error)?>(nil)
    let facts = Locked<[[SysctlSetting]: HostFacts]>([:])
}

/// Results written by index from several threads.
final class ResultSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [MatrixRecord?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: MatrixRecord) {
        lock.lock()
        slots[i] = r
        lock.unlock()
    }
    func all() -> [MatrixRecord] {
        lock.lock()
        defer { lock.unlock() }
        return slots.compactMap { $0 }
    }
}
