import BindKit
import BindTestSupport
import Foundation
import SystemPackage
import Testing

// connect() and signals. A signal caught while connect(2) waits makes it fail with EINTR, but the
// connection goes on in the kernel; calling connect() again is not the way back (EALREADY on a
// non-blocking socket, and on a blocking one once SO_SNDTIMEO runs out). Socket.connect must wait
// for the connection instead, for no longer than it was asked to.
//
// The connection is kept pending by a listener whose accept queue is full (backlog 0 holds one
// connection, which a first client takes): the kernel drops the next SYN, and the client sends it
// again 1 s later. Every wait is bounded: net.ipv4.tcp_syn_retries 2 gives a connection up after
// 7 s, and the signals stop after at most `count` of them.

/// Installs a handler for SIGUSR2 that does nothing, without SA_RESTART (a system call it
/// interrupts fails with EINTR instead of being restarted), and unblocks SIGUSR2 on the calling
/// thread (a thread started from libdispatch's workers, as the tests run on, inherits their mask,
/// which blocks it), while `body` runs.
private func withSignalHandler<R>(_ body: () throws -> R) rethrows -> R {
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in }
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0
    var old = sigaction()
    sigaction(SIGUSR2, &action, &old)
    var usr2 = sigset_t()
    sigemptyset(&usr2)
    sigaddset(&usr2, SIGUSR2)
    var oldMask = sigset_t()
    pthread_sigmask(SIG_UNBLOCK, &usr2, &oldMask)
    defer {
        pthread_sigmask(SIG_SETMASK, &oldMask, nil)
        sigaction(SIGUSR2, &old, nil)
    }
    return try body()
}

/// Sends SIGUSR2 to the calling thread every `interval`, `count` times at most, from a thread of
/// its own while `body` runs; after the `drainAfter`-th signal that thread accepts (and closes)
/// one connection of the listener `drain`, which makes room in its queue.
private func whileSignalled<R>(
    every interval: Duration, count: Int, drain: (listener: Int32, after: Int)? = nil, _ body: () throws -> R
) throws -> R {
    let target = pthread_self()
    let stop = Locked(false)
    let micros = useconds_t(interval.components.seconds * 1_000_000 + interval.components.attoseconds / 1_000_000_000_000)
    let sender = try JoinedThread<Void> {
        for i in 1...count {
            usleep(micros)
            // The target joins this thread before it ends: while this runs, it is there to signal.
            if stop.withLock({ $0 }) { return }
            pthread_kill(target, SIGUSR2)
            if let drain, i == drain.after {
                let accepted = accept(drain.listener, nil, nil)
                if accepted >= 0 { close(accepted) }
            }
        }
    }
    defer {
        stop.withLock { $0 = true }
        _ = sender.join()
    }
    return try body()
}

/// A listener on the loopback whose accept queue is full, and a second client socket ready to
/// connect to it, in the calling thread's namespace.
private struct FullListener: ~Copyable {
    let listener: Socket
    let first: Socket
    let client: Socket
    let target: SocketAddress

    init() throws {
        let listener = try Socket(family: .inet, transport: .tcp)
        try listener.bind(to: SocketAddress(ip: .v4(.loopback), port: 0))
        try listener.listen(backlog: 0)
        let target = try listener.localAddress
        let first = try Socket(family: .inet, transport: .tcp)
        try first.connect(to: target, timeout: .seconds(2))
        let client = try Socket(family: .inet, transport: .tcp)
        self.listener = listener
        self.first = first
        self.client = client
        self.target = target
    }
}

private let boundedSYNs = [(name: "net.ipv4.tcp_syn_retries", value: "2")]

/// The SocketError `body` throws, or nil (on the namespace's thread, where no test issue can be
/// recorded).
private func socketError(_ body: () throws(SocketError) -> Void) -> SocketError? {
    do throws(SocketError) {
        try body()
        return nil
    } catch {
        return error
    }
}

@Suite("connect and signals", .checksLeaks, .serialized, .enabled(if: mayMakeNamespaces, "needs root to create a network namespace"))
struct ConnectSignalTests {
    @Test("a blocking connect that signals interrupt goes on, and succeeds once the listener has room")
    func blockingConnectSurvivesSignals() throws {
        let (elapsed, state) = try inFreshNamespace(sysctls: boundedSYNs) { () throws -> (Duration, TCPState) in
            let f = try FullListener()
            let start = ContinuousClock.now
            try withSignalHandler {
                try whileSignalled(every: .milliseconds(50), count: 12, drain: (f.listener.descriptor, 8)) {
                    try f.client.connect(to: f.target)
                }
            }
            return (ContinuousClock.now - start, try f.client.tcpState())
        }
        #expect(state == .established)
        // Pending until room was made after the 8th signal: the signals came while it waited.
        #expect(elapsed >= .milliseconds(400), "connected after \(elapsed)")
    }

    @Test("signals do not stretch connect's timeout")
    func timeoutHoldsUnderSignals() throws {
        let (quiet, signalled) = try inFreshNamespace(sysctls: boundedSYNs) { () throws -> (SocketError?, (SocketError?, Duration)) in
            let f = try FullListener()
            let quiet = socketError { () throws(SocketError) in try f.client.connect(to: f.target, timeout: .milliseconds(300)) }
            let g = try FullListener()
            let start = ContinuousClock.now
            let caught = try withSignalHandler {
                try whileSignalled(every: .milliseconds(50), count: 40) {
                    socketError { () throws(SocketError) in try g.client.connect(to: g.target, timeout: .milliseconds(300)) }
                }
            }
            return (quiet, (caught, ContinuousClock.now - start))
        }
        #expect(quiet?.errno == .timedOut)
        #expect(signalled.0?.errno == quiet?.errno, "with signals as without")
        // The signals go on for 2 s: waiting 300 ms afresh after each would end past them.
        #expect(signalled.1 < .milliseconds(1500), "timed out after \(signalled.1)")
    }

    @Test("a blocking connect with SO_SNDTIMEO: with signals as without, never EALREADY")
    func sendTimeoutUnderSignals() throws {
        let (quiet, signalled) = try inFreshNamespace(sysctls: boundedSYNs) { () throws -> (SocketError?, (SocketError?, Duration)) in
            let f = try FullListener()
            try f.client.setSendTimeout(.milliseconds(300))
            // What connect(2) itself says when SO_SNDTIMEO runs out first: EINPROGRESS.
            let quiet = socketError { () throws(SocketError) in try f.client.connect(to: f.target) }
            let g = try FullListener()
            try g.client.setSendTimeout(.milliseconds(300))
            let start = ContinuousClock.now
            let caught = try withSignalHandler {
                try whileSignalled(every: .milliseconds(50), count: 40) {
                    socketError { () throws(SocketError) in try g.client.connect(to: g.target) }
                }
            }
            return (quiet, (caught, ContinuousClock.now - start))
        }
        #expect(quiet?.errno == .nowInProgress)
        #expect(signalled.0?.errno == quiet?.errno, "with signals as without")
        #expect(signalled.0?.errno != .alreadyInProcess)
        #expect(signalled.1 < .milliseconds(1500), "ended after \(signalled.1)")
    }
}
