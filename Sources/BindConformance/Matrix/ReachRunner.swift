import BindKit
import BindRules
import Foundation
import Synchronization

/// Runs reach cells: one worker per core, each in its own pair of namespaces (the fixture and
/// the peer, as a scenario with a peer runs); every cell's sockets are closed before the next.
public enum ReachRunner {
    public struct Summary: Sendable {
        public var records: [ReachRecord]
        public var seconds: Double
    }

    /// Runs `cells` with `workers` threads; `progress` gets the count of cells done and of cells
    /// that disagree so far.
    public static func run(
        _ cells: [ReachCell], workers: Int = ProcessInfo.processInfo.activeProcessorCount, progress: (@Sendable (Int, Int) -> Void)? = nil
    ) throws -> Summary {
        let start = ContinuousClock.now
        let w = max(1, workers)
        // Chunks of at most cellsPerNamespace (a port each), as many as a multiple of the workers.
        var count = (cells.count + MatrixRunner.cellsPerNamespace - 1) / MatrixRunner.cellsPerNamespace
        count = max(1, (count + w - 1) / w * w)
        let size = max(1, (cells.count + count - 1) / count)
        let chunks = stride(from: 0, to: cells.count, by: size).map { $0..<min($0 + size, cells.count) }
        let slots = ReachSlots(count: cells.count)
        let counters = Counters()
        DispatchQueue.concurrentPerform(iterations: w) { _ in
            while true {
                let k = counters.nextChunk.wrappingAdd(1, ordering: .relaxed).oldValue
                guard k < chunks.count, counters.failure.withLock({ $0 == nil }) else { return }
                let chunk = chunks[k]
                do {
                    try withScenarioNamespaces(peer: true) { ns in
                        let host = ModelHost(facts: ns.hostFacts)
                        let peer = ns.peerFacts.map(ModelHost.init(facts:))
                        let model = ScenarioModel(host: host, peer: peer, explains: false)
                        let executor = KernelExecutor(namespaces: ns)
                        for (n, i) in chunk.enumerated() {
                            let cell = cells[i]
                            executor.settle = .matrix(unicast: cell.isUnicast(host: host, peer: peer))
                            let r = ReachCellRun.run(cell, port: MatrixRunner.firstPort &+ UInt16(n), model: model, executor: executor)
                            slots.set(i, r)
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
        return Summary(records: slots.all(), seconds: Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    }
}

extension ReachCell {
    /// Whether the destination is one socket's at most for the sender's namespace (the rule
    /// `ScenarioRunner.isUnicast` follows: not multicast, not a broadcast address of that side).
    package func isUnicast(host: ModelHost, peer: ModelHost?) -> Bool {
        guard let ip = Matrix.reachParsed[destination] ?? (try? IPAddress(parsing: destination)) else { return true }
        return !ScenarioModel.isGroupDestination(ip, in: sender == .peer ? (peer ?? host) : host)
    }
}

/// Results written by index from several threads.
final class ReachSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [ReachRecord?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: ReachRecord) {
        lock.lock()
        slots[i] = r
        lock.unlock()
    }
    func all() -> [ReachRecord] {
        lock.lock()
        defer { lock.unlock() }
        return slots.compactMap { $0 }
    }
}
