import BindKit
import Foundation
import SystemPackage

/// The namespaces of one scenario run: the host's (the fixture) and, for a scenario with a
/// `"on": "peer"` socket, the peer's, the other machine on the link (SCENARIOS.md, "The peer").
/// The descriptors stay open while the run lasts; the thread is in the host namespace between
/// steps.
public final class ScenarioNamespaces: @unchecked Sendable {
    public let hostFacts: HostFacts
    public let peerFacts: HostFacts?
    package let host: FileDescriptor
    package let peer: FileDescriptor?

    init(hostFacts: HostFacts, peerFacts: HostFacts?, host: FileDescriptor, peer: FileDescriptor?) {
        self.hostFacts = hostFacts
        self.peerFacts = peerFacts
        self.host = host
        self.peer = peer
    }

    deinit {
        try? host.close()
        try? peer?.close()
    }
}

extension Fixture {
    /// The peer's addresses on `bk1`.
    public static let peerIPv4 = IPv4Address(192, 0, 2, 2)
    public static let peerIPv6 = IPv6Address(high: 0x2001_0db8_0000_0000, low: 2, zone: nil)
    public static let peerLinkLocal = IPv6Address(high: 0xfe80_0000_0000_0000, low: 2, zone: nil)

    /// ICMP errors are rate limited per destination and in total; a scenario's ECONNREFUSED on a
    /// connected UDP socket must not depend on how many came before, so the namespaces the
    /// project makes have no limit.
    static func unlimitICMP() throws(NamespaceError) {
        try setSysctl("net.ipv4.icmp_ratelimit", "0")
        try setSysctl("net.ipv4.icmp_ratemask", "0")
        try setSysctl("net.ipv6.icmp.ratelimit", "0")
    }

    /// Makes the peer namespace from the fixture's (the calling thread's): `bk1` moves there with
    /// `192.0.2.2/24`, `2001:db8::2/64`, `fe80::2/64` (no DAD, no generated address), `lo` up.
    /// Returns the peer's descriptor and facts; the thread is back in the host namespace.
    static func buildPeer(host: FileDescriptor) throws(NamespaceError) -> (FileDescriptor, HostFacts) {
        try step("unshare(CLONE_NEWNET) for the peer") { () throws(Errno) in try NetworkNamespace.unshare() }
        let peer = try step("open the peer namespace") { () throws(Errno) in try NetworkNamespace.openCurrent() }
        do throws(NamespaceError) {
            try setSysctl("net.ipv6.conf.default.addr_gen_mode", "1")
            try unlimitICMP()
            try step("peer lo up") { () throws(Errno) in try NetworkNamespace.setLinkUp("lo") }
            try step("back to the host namespace") { () throws(Errno) in try NetworkNamespace.enter(host) }
            try step("move \(Self.peer) to the peer") { () throws(Errno) in try NetworkNamespace.moveLink(Self.peer, to: peer) }
            try step("enter the peer namespace") { () throws(Errno) in try NetworkNamespace.enter(peer) }
            // The moved device's IPv6 settings are made anew from the peer's defaults; set again.
            try setSysctl("net.ipv6.conf.\(Self.peer).addr_gen_mode", "1")
            let index = try step("index of \(Self.peer) in the peer") { () throws(Errno) in try Interface.index(named: Self.peer) }
            try step("\(peerIPv4)/\(ipv4Prefix)") { () throws(Errno) in
                try NetworkNamespace.addAddress(.v4(peerIPv4), prefixLength: UInt8(ipv4Prefix), toInterface: index)
            }
            for a in [peerIPv6, peerLinkLocal] {
                try step("\(a)/64") { () throws(Errno) in
                    try NetworkNamespace.addAddress(.v6(a), prefixLength: 64, toInterface: index, noDAD: true)
                }
            }
            try step("\(Self.peer) up in the peer") { () throws(Errno) in try NetworkNamespace.setLinkUp(Self.peer) }
            // Until both ends have carrier and the routes are in, a connection fails: wait until
            // one to a closed port of the other side is refused (a reset came back).
            let toHost: [IPAddress] = [
                .v4(ipv4), .v6(ipv6), .v6(IPv6Address(high: linkLocal.high, low: linkLocal.low, zone: .name(Self.peer))),
            ]
            try waitRefused(toHost)
            let facts: HostFacts
            do { facts = try HostFacts.current() } catch let error {
                throw NamespaceError.setup(
                    NamespaceFailure(step: "facts of the peer namespace", errno: (error as? SocketError)?.errno ?? .ioError))
            }
            try step("back to the host namespace") { () throws(Errno) in try NetworkNamespace.enter(host) }
            let toPeer: [IPAddress] = [
                .v4(peerIPv4), .v6(peerIPv6), .v6(IPv6Address(high: peerLinkLocal.high, low: peerLinkLocal.low, zone: .name(veth))),
            ]
            try waitRefused(toPeer)
            return (peer, facts)
        } catch {
            _ = try? NetworkNamespace.enter(host)
            try? peer.close()
            throw error
        }
    }

    /// Waits (at most 3 s each) until a TCP connection to port 9 of each address is refused.
    private static func waitRefused(_ targets: [IPAddress]) throws(NamespaceError) {
        for ip in targets {
            var last: Errno = .timedOut
            var done = false
            for _ in 0..<300 where !done {
                do throws(SocketError) {
                    let probe = try Socket(family: ip.family, transport: .tcp)
                    try probe.connect(to: SocketAddress(ip: ip, port: 9), timeout: .milliseconds(100))
                    done = true
                } catch {
                    last = error.errno
                    if error.errno == .connectionRefused { done = true } else { usleep(10000) }
                }
            }
            if !done { throw .setup(NamespaceFailure(step: "waiting for a reset from \(ip)", errno: last)) }
        }
    }
}

/// Runs `body` on a thread of its own inside a fresh fixture namespace with `sysctls`, and a
/// peer namespace when `peer` is true (see `withPrivateNamespace`): nothing of either outlives
/// the call.
public func withScenarioNamespaces<T: Sendable>(
    sysctls: [(name: String, value: String)] = [], peer: Bool,
    _ body: @escaping @Sendable (ScenarioNamespaces) throws -> T
) throws -> T {
    try onJoinedThread {
        try enterFixture(sysctls: sysctls)
        let host: FileDescriptor
        do throws(Errno) { host = try NetworkNamespace.openCurrent() } catch {
            throw NamespaceError.setup(NamespaceFailure(step: "open the host namespace", errno: error))
        }
        var peerFD: FileDescriptor?
        var peerFacts: HostFacts?
        if peer {
            do {
                let (fd, facts) = try Fixture.buildPeer(host: host)
                peerFD = fd
                peerFacts = facts
            } catch {
                try? host.close()
                throw error
            }
        }
        let hostFacts: HostFacts
        do { hostFacts = try HostFacts.current() } catch {
            try? host.close()
            try? peerFD?.close()
            throw error
        }
        return try body(ScenarioNamespaces(hostFacts: hostFacts, peerFacts: peerFacts, host: host, peer: peerFD))
    }
}
