import BindKit
import CBindShim
import Foundation
import SystemPackage

/// Why a kernel run could not start.
public enum NamespaceError: Error, CustomStringConvertible, Equatable {
    /// The process may not create network namespaces (needs CAP_SYS_ADMIN; CAP_NET_ADMIN for the fixture).
    case notPermitted(String)
    /// Building the fixture failed.
    case setup(String)

    public var description: String {
        switch self {
        case .notPermitted(let s): "needs privilege: \(s)"
        case .setup(let s): "namespace setup failed: \(s)"
        }
    }
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
        do { try Sysctl.write("net.ipv6.conf.default.addr_gen_mode", "1") } catch {
            throw .setup("net.ipv6.conf.default.addr_gen_mode: \(error)")
        }
        try check(bk_link_up("lo"), "lo up")
        try check(bk_veth_create(veth, peer), "veth \(veth)/\(peer)")
        let index = bk_if_nametoindex(veth)
        try check(index, "index of \(veth)")
        try check(
            ipv4.bytes.withUnsafeBufferPointer { bk_addr_add(UInt32(index), AF_INET, $0.baseAddress, UInt8(ipv4Prefix), false) },
            "192.0.2.1/24")
        for a in [ipv6, linkLocal] {
            try check(a.bytes.withUnsafeBufferPointer { bk_addr_add(UInt32(index), AF_INET6, $0.baseAddress, 64, true) }, "\(a)/64")
        }
        try check(bk_link_up(veth), "\(veth) up")
        try check(bk_link_up(peer), "\(peer) up")
        // Routes to the new addresses are installed asynchronously (addrconf work, carrier); until
        // then a connection to them (a `timewait` step) can fail with EHOSTUNREACH. A UDP connect
        // sends nothing and fails the same way, so wait until it succeeds for each address.
        let targets: [IPAddress] = [.v4(ipv4), .v6(ipv6), .v6(IPv6Address(high: linkLocal.high, low: linkLocal.low, zone: .name(veth)))]
        for ip in targets {
            var ready = false
            for _ in 0..<2000 where !ready {
                if let probe = try? Socket(family: ip.family, transport: .udp),
                    (try? probe.connect(to: SocketAddress(ip: ip, port: 9))) != nil
                {
                    ready = true
                } else {
                    usleep(500)
                }
            }
            if !ready { throw .setup("no route to \(ip) after 1 s") }
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
            if !ready { throw .setup("no TCP connection to \(ip) after 1 s") }
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

    private static func check(_ r: Int32, _ what: String) throws(NamespaceError) {
        if r < 0 { throw .setup("\(what): \(ErrnoName.name(-r) ?? "errno \(-r)")") }
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
        let r = bk_unshare_netns()
        if r < 0 {
            let name = ErrnoName.name(-r) ?? "errno \(-r)"
            throw NamespaceError.notPermitted(
                "unshare(CLONE_NEWNET) failed with \(name); run as root or with CAP_SYS_ADMIN and CAP_NET_ADMIN")
        }
        try Fixture.build()
        for (name, value) in sysctls {
            do { try Sysctl.write(name, value) } catch {
                throw NamespaceError.setup("sysctl \(name)=\(value): \(error)")
            }
        }
        return try body(try HostFacts.current())
    }
}

/// Runs `body` on a new thread with an 8 MiB stack and returns (or throws) what it did once the
/// thread has ended: pthread_join, which Foundation's `Thread` does not offer.
func onJoinedThread<T>(_ body: @escaping () throws -> T) throws -> T {
    var result: Result<T, any Error>?
    // A C thread start takes one pointer: a boxed closure that stores the result.
    let context = Unmanaged.passRetained(ThreadStart { result = Result { try body() } }).toOpaque()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setstacksize(&attributes, 8 << 20)
    var thread = pthread_t()
    let r = pthread_create(
        &thread, &attributes,
        { context in
            Unmanaged<ThreadStart>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, context)
    if r != 0 {
        Unmanaged<ThreadStart>.fromOpaque(context).release()
        throw NamespaceError.setup("pthread_create: \(ErrnoName.name(r) ?? "errno \(r)")")
    }
    pthread_join(thread, nil)  // the thread's writes happen before the join returns
    return try result!.get()
}

/// What a joined thread runs.
final class ThreadStart {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}
