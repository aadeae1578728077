import BindKit
import Foundation
import SystemPackage

/// Why a kernel run could not start.
public enum NamespaceError: Error, CustomStringConvertible, Equatable {
    /// The process may not create network namespaces (needs CAP_SYS_ADMIN; CAP_NET_ADMIN for the fixture).
    case notPermitted(NamespaceFailure)
    /// Building the fixture failed.
    case setup(NamespaceFailure)

    public var description: String {
        switch self {
        case .notPermitted(let f): "needs privilege: \(f)"
        case .setup(let f): "namespace setup failed: \(f.step): \(f.errno.name)"
        }
    }
}

/// A system call that failed while a namespace was made or its fixture built: what was being
/// done, and the `Errno` it failed with.
public struct NamespaceFailure: Equatable, Sendable, CustomStringConvertible {
    /// What was being done: `unshare(CLONE_NEWNET)`, `veth bk0/bk1`, `sysctl net.ipv4.ip_nonlocal_bind=1`, …
    public var step: String
    public var errno: Errno
    /// What would let it succeed, when that is known.
    public var hint: String?

    public init(step: String, errno: Errno, hint: String? = nil) {
        self.step = step
        self.errno = errno
        self.hint = hint
    }

    /// `unshare(CLONE_NEWNET) failed with EPERM; run as root …`
    public var description: String { "\(step) failed with \(errno.name)" + (hint.map { "; " + $0 } ?? "") }
}

/// The namespace fixture of SCENARIOS.md.
public enum Fixture {
    public static let veth = "bk0"
    public static let peer = "bk1"
    public static let ipv4 = IPv4Address(192, 0, 2, 1)
    public static let ipv4Prefix = 24
    public static let ipv6 = IPv6Address(high: 0x2001_0db8_0000_0000, low: 1, zone: nil)
    public static let linkLocal = IPv6Address(high: 0xfe80_0000_0000_0000, low: 1, zone: nil)

    /// Builds the fixture in the calling thread's (fresh) network namespace.
    static func build() throws(NamespaceError) {
        // No kernel-generated IPv6 addresses on the veth pair: set before the pair exists.
        try setSysctl("net.ipv6.conf.default.addr_gen_mode", "1")
        try step("lo up") { () throws(Errno) in try NetworkNamespace.setLinkUp("lo") }
        try step("veth \(veth)/\(peer)") { () throws(Errno) in try NetworkNamespace.createVethPair(veth, peer: peer) }
        let index = try step("index of \(veth)") { () throws(Errno) in try Interface.index(named: veth) }
        try step("\(ipv4)/\(ipv4Prefix)") { () throws(Errno) in
            try NetworkNamespace.addAddress(.v4(ipv4), prefixLength: UInt8(ipv4Prefix), toInterface: index)
        }
        for a in [ipv6, linkLocal] {
            try step("\(a)/64") { () throws(Errno) in
                try NetworkNamespace.addAddress(.v6(a), prefixLength: 64, toInterface: index, noDAD: true)
            }
        }
        try step("\(veth) up") { () throws(Errno) in try NetworkNamespace.setLinkUp(veth) }
        try step("\(peer) up") { () throws(Errno) in try NetworkNamespace.setLinkUp(peer) }
        try unlimitICMP()
        // Routes to the new addresses are installed asynchronously (addrconf work, carrier); until
        // then a connection to them (a `timewait` step) can fail with EHOSTUNREACH. A UDP connect
        // sends nothing and fails the same way, so wait until it succeeds for each address.
        let targets: [IPAddress] = [.v4(ipv4), .v6(ipv6), .v6(IPv6Address(high: linkLocal.high, low: linkLocal.low, zone: .name(veth)))]
        for ip in targets {
            var failure: Errno? = .noRouteToHost
            for _ in 0..<2000 where failure != nil {
                failure = udpConnectFailure(to: ip)
                if failure != nil { usleep(500) }
            }
            if let failure { throw .setup(NamespaceFailure(step: "waiting 1 s for a route to \(ip)", errno: failure)) }
        }
        // A route is not yet a local one: until an IPv6 address's local route is in place, a TCP
        // connection to it leaves through bk0 and fails after 3 s of neighbour discovery
        // (EHOSTUNREACH), which stalled the first `timewait` steps of a namespace. Wait until a
        // connection to each address completes at once.
        for ip in targets {
            var ready = false
            for _ in 0..<2000 where !ready {
                ready = connectsAtOnce(to: ip)
                if !ready { usleep(500) }
            }
            if !ready { throw .setup(NamespaceFailure(step: "waiting 1 s for a TCP connection to \(ip)", errno: .timedOut)) }
        }
    }

    /// Why a UDP connect to `ip` fails (it sends nothing: only the route is looked up), or nil.
    private static func udpConnectFailure(to ip: IPAddress) -> Errno? {
        do throws(SocketError) {
            let probe = try Socket(family: ip.family, transport: .udp)
            try probe.connect(to: SocketAddress(ip: ip, port: 9))
            return nil
        } catch {
            return error.errno
        }
    }

    /// Whether a TCP connection to a listener on `ip` completes within a millisecond. The client
    /// closes with a reset (SO_LINGER 0), so nothing is left behind, not even TIME_WAIT.
    private static func connectsAtOnce(to ip: IPAddress) -> Bool {
        guard let listener = try? Socket(family: ip.family, transport: .tcp),
            (try? listener.bind(to: SocketAddress(ip: ip, port: 0))) != nil,
            (try? listener.listen(backlog: 1)) != nil,
            let target = try? listener.localAddress,
            let client = try? Socket(family: ip.family, transport: .tcp),
            (try? client.setLinger(0)) != nil
        else { return false }
        return (try? client.connect(to: target, timeout: .milliseconds(1))) != nil
    }

    /// Runs one system call of the fixture: its error becomes a `.setup` failure of `what`.
    @discardableResult
    static func step<T>(_ what: String, _ body: () throws(Errno) -> T) throws(NamespaceError) -> T {
        do throws(Errno) { return try body() } catch { throw .setup(NamespaceFailure(step: what, errno: error)) }
    }

    /// Writes a sysctl of the fixture's namespace. A name or value Sysctl refuses before any
    /// system call is EINVAL, as the kernel would answer a bad value.
    static func setSysctl(_ name: String, _ value: String) throws(NamespaceError) {
        do throws(SysctlError) { try Sysctl.write(name, value) } catch {
            let e: Errno
            if case .io(_, let io) = error { e = io } else { e = .invalidArgument }
            throw .setup(NamespaceFailure(step: "sysctl \(name)=\(value)", errno: e))
        }
    }
}

/// Runs `body` on a new thread that first moves into a fresh private network namespace holding the
/// fixture and the given sysctls. The call returns once that thread has ended (it is joined, not
/// just heard from), so no thread of this process is left in the namespace: nothing of it outlives
/// the call. `body` receives the namespace's facts, read back from it.
public func withPrivateNamespace<T: Sendable>(
    sysctls: [(name: String, value: String)] = [],
    _ body: @escaping @Sendable (HostFacts) throws -> T
) throws -> T {
    try onJoinedThread {
        try enterFixture(sysctls: sysctls)
        return try body(try HostFacts.current())
    }
}

/// Moves the calling thread into a fresh network namespace and builds the fixture there, with
/// `sysctls` applied.
func enterFixture(sysctls: [(name: String, value: String)]) throws(NamespaceError) {
    do throws(Errno) { try NetworkNamespace.unshare() } catch {
        throw .notPermitted(
            NamespaceFailure(step: "unshare(CLONE_NEWNET)", errno: error, hint: "run as root or with CAP_SYS_ADMIN and CAP_NET_ADMIN"))
    }
    try Fixture.build()
    for (name, value) in sysctls { try Fixture.setSysctl(name, value) }
}

/// Runs `body` on a thread of its own and returns (or throws) what it did once the thread has
/// ended.
func onJoinedThread<T>(_ body: @escaping () throws -> T) throws -> T {
    let result: Result<T, any Error>
    do throws(Errno) { result = try JoinedThread.run(body) } catch {
        throw NamespaceError.setup(NamespaceFailure(step: "pthread_create", errno: error))
    }
    return try result.get()
}
