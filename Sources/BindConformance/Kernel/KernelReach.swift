import BindKit
import BindRules
import Foundation
import SystemPackage

/// The accepted end of a connection a `connect` step made: no id of its own.
final class Accepted {
    let socket: Socket
    /// The connecting socket and the listener whose accept queue got the connection.
    let client: String
    let listener: String

    init(_ socket: consuming Socket, client: String, listener: String) {
        self.socket = socket
        self.client = client
        self.listener = listener
    }
}

// The reach steps on the kernel (SCENARIOS.md, "Reach"): `connect` and `send`, and who got the
// connection or the datagram.
extension KernelExecutor {
    /// How long a TCP connect may take before the step is ETIMEDOUT (the socket stays connecting).
    static let connectLimit: Duration = .seconds(2)
    /// How a `send` waits for delivery to settle: polls every `interval` µs until `quiet` polls in
    /// a row saw no receive queue change, at most `limit` polls; with `unicast`, it stops as soon
    /// as one socket has the datagram.
    package struct Settle {
        var interval: UInt32
        var quiet: Int
        var limit: Int
        var unicast: Bool
        /// Scenarios: 30 ms quiet, at most 400 ms (the corpus's timing, made for a loaded host).
        static let scenario = Settle(interval: 5000, quiet: 6, limit: 80, unicast: false)
        /// The matrix's reach cells: loopback and veth deliver in the sender's own system call
        /// (the receive runs in the softirq its transmit raised), so 3 ms quiet, at most 400 ms.
        package static func matrix(unicast: Bool) -> Settle { Settle(interval: 500, quiet: 6, limit: 800, unicast: unicast) }
    }

    /// How long a completed connection may take to reach an accept queue (over the veth pair the
    /// final ACK is handled after connect() returns).
    static let acceptLimit: Duration = .milliseconds(500)

    func connect(_ s: KernelSocket, to address: SocketAddress) -> Outcome {
        let tcp = s.socket.transport == .tcp
        let result = asCreds(s.uid, s.caps) {
            outcome { () throws(SocketError) in
                try s.socket.connect(to: address, timeout: tcp ? Self.connectLimit : nil)
            }
        }
        if let port = try? s.socket.localPort, port != 0 { setPort(s.id, port) }
        guard tcp else { return result }
        lastBy = []
        // `connect(to:timeout:)` leaves the socket as a blocking connect(2) would (connected, or
        // unconnected after a refusal): a later step sees EISCONN, or connects afresh.
        guard result == .ok else { return result }
        restoreCredentials()
        if let listener = acceptConnection(of: s) { lastBy = [listener] }
        return result
    }

    /// Finds the listener of the scenario (in either namespace) whose accept queue got the
    /// connection `client` just made: the accepted socket whose peer is the client's local end and
    /// whose local end is the client's peer. The accepted end is kept.
    private func acceptConnection(of client: KernelSocket) -> String? {
        guard let local = try? client.socket.localAddress, let remote = try? client.socket.remoteAddress else { return nil }
        let deadline = ContinuousClock.now + Self.acceptLimit
        repeat {
            for l in listeners() {
                while let a = try? l.socket.accept(timeout: .zero) {
                    guard let peer = try? a.remoteAddress, let mine = try? a.localAddress else { continue }
                    if Self.sameEnd(peer, local) && Self.sameEnd(mine, remote) {
                        accepted.append(Accepted(a, client: client.id, listener: l.id))
                        return l.id
                    }
                    // Another connection (none is expected): dropped.
                }
            }
            usleep(1000)
        } while ContinuousClock.now < deadline
        return nil
    }

    private func listeners() -> [KernelSocket] { sockets.filter { $0.listening } }

    /// The same port and address, an IPv4 address and its v4-mapped form counted equal, zones
    /// ignored (the two ends may be in different namespaces).
    static func sameEnd(_ a: SocketAddress, _ b: SocketAddress) -> Bool {
        guard a.port == b.port else { return false }
        func bare(_ ip: IPAddress) -> (UInt64, UInt64) {
            switch ip {
            case .v4(let v):
                let m = IPv6Address(v4Mapped: v)
                return (m.high, m.low)
            case .v6(let v): return (v.high, v.low)
            }
        }
        return bare(a.ip) == bare(b.ip)
    }

    /// Closes the accepted ends of connections `id` made or took, before `id` itself closes.
    func closeAccepted(of id: String) {
        accepted.removeAll { $0.client == id || $0.listener == id }
    }

    /// One datagram from `s`, then every UDP socket of the scenario whose receive queue grew once
    /// delivery has settled; queues are drained, except where an error is pending (left for the
    /// socket's next call).
    func send(_ s: KernelSocket, to address: SocketAddress?) -> Outcome {
        let udp = sockets.filter { $0.socket.transport == .udp }
        let before = udp.map { (try? $0.socket.receiveQueueBytes) ?? 0 }
        let payload: [UInt8] = [0x42]
        let result = asCreds(s.uid, s.caps) {
            outcome { () throws(SocketError) in
                if let address {
                    try s.socket.send(payload, to: address, timeout: .seconds(1))
                } else {
                    try s.socket.send(payload, timeout: .seconds(1))
                }
            }
        }
        restoreCredentials()
        if let port = try? s.socket.localPort, port != 0 { setPort(s.id, port) }
        var now = udp.map { (try? $0.socket.receiveQueueBytes) ?? 0 }
        // Settled: no queue changed for `quiet` polls (at most `limit` in all); a unicast
        // datagram reaches one socket at most, so once one has it nothing more will come.
        var stable = 0
        var waited = 0
        func reached() -> Bool { zip(now, before).contains { $0 > $1 } }
        while stable < settle.quiet && waited < settle.limit && !(settle.unicast && reached()) {
            usleep(settle.interval)
            waited += 1
            let next = udp.map { (try? $0.socket.receiveQueueBytes) ?? 0 }
            stable = next == now ? stable + 1 : 0
            now = next
        }
        var by: [String] = []
        for (i, u) in udp.enumerated() where now[i] > before[i] {
            by.append(u.id)
            drain(u)
        }
        lastBy = by.sorted()
        return result
    }

    /// Reads every queued datagram of `u`, unless an error is pending: reading would report and
    /// clear it, and it belongs to the socket's next call.
    private func drain(_ u: KernelSocket) {
        for _ in 0..<1024 {
            guard (try? u.socket.hasPendingError()) == false, (try? u.socket.isReadable(timeout: .zero)) == true else { return }
            guard (try? u.socket.receive(maxBytes: 2048, timeout: .zero)) != nil else { return }
        }
    }
}
