import BindKit
import BindTestSupport
import Foundation
import SystemPackage
import Testing

/// Multicast join and leave, multicast loopback and TCP_NODELAY, each against the kernel in a
/// network namespace of the test's own (IPv4 groups on `lo`; IPv6 on a veth pair, since `lo`
/// carries no IPv6 multicast).
@Suite(
    "Socket multicast and TCP_NODELAY", .checksLeaks,
    .enabled(if: mayMakeNamespaces, "needs root to create network namespaces"))
struct SocketMulticastTests {
    static let group4 = IPAddress.v4(IPv4Address(239, 1, 2, 3))

    @Test func ipv4JoinReceivesAndLeaveStops() throws {
        try inFreshNamespace {
            let lo = try Interface.index(named: "lo")
            let receiver = try Socket(family: .inet, transport: .udp)
            try receiver.bind(to: SocketAddress(ip: .v4(.any), port: 0))
            let port = try receiver.localPort
            let sender = try Socket(family: .inet, transport: .udp)
            try sender.setBindToDevice("lo")  // the route to the group: lo has none of its own
            let target = SocketAddress(ip: Self.group4, port: port)

            try sendDatagram(sender, "before", to: target)
            #expect(try receiveDatagram(receiver) == nil, "no member yet: nothing arrives")
            try receiver.joinMulticastGroup(Self.group4, interfaceIndex: lo)
            try sendDatagram(sender, "member", to: target)
            #expect(try receiveDatagram(receiver) == "member")
            try receiver.leaveMulticastGroup(Self.group4, interfaceIndex: lo)
            try sendDatagram(sender, "after", to: target)
            #expect(try receiveDatagram(receiver) == nil, "after leaving, nothing arrives")
        }
    }

    @Test func ipv4JoinByInterfaceAddress() throws {
        try inFreshNamespace {
            let s = try Socket(family: .inet, transport: .udp)
            try s.joinMulticastGroup(IPv4Address(239, 1, 2, 4), interfaceAddress: .loopback)
            try s.leaveMulticastGroup(IPv4Address(239, 1, 2, 4), interfaceAddress: .loopback)
            #expect(throws: SocketError.self) {
                try s.joinMulticastGroup(IPv4Address(239, 1, 2, 4), interfaceAddress: IPv4Address(192, 0, 2, 9))
            }
        }
    }

    /// The kernel's refusals, each named by its errno and option.
    @Test func refusals() throws {
        try inFreshNamespace {
            let lo = try Interface.index(named: "lo")
            let udp = try Socket(family: .inet, transport: .udp)
            try udp.joinMulticastGroup(Self.group4, interfaceIndex: lo)
            #expect(failure { try udp.joinMulticastGroup(Self.group4, interfaceIndex: lo) } == (.addressInUse, "IP_ADD_MEMBERSHIP"))
            try udp.leaveMulticastGroup(Self.group4, interfaceIndex: lo)
            #expect(
                failure { try udp.leaveMulticastGroup(Self.group4, interfaceIndex: lo) } == (.addressNotAvailable, "IP_DROP_MEMBERSHIP"))
            #expect(failure { try udp.joinMulticastGroup(.v4(IPv4Address(10, 1, 2, 3)), interfaceIndex: lo) }?.0 == .invalidArgument)
            // No route to the group in a namespace with lo alone: the interface must be named.
            #expect(failure { try udp.joinMulticastGroup(Self.group4) }?.0 == .operationNotSupportedByDevice)
            #expect(failure { try udp.joinMulticastGroup(Self.group4, interfaceIndex: 9999) }?.0 == .operationNotSupportedByDevice)
            let tcp = try Socket(family: .inet, transport: .tcp)
            #expect(failure { try tcp.joinMulticastGroup(Self.group4, interfaceIndex: lo) }?.0 == .protocolError)
            #expect(
                failure { try udp.joinMulticastGroup(try IPAddress(parsing: "ff02::1234"), interfaceIndex: lo) }?.0 == .protocolNotAvailable
            )
            // An inet6 socket may join an IPv4 group.
            let dual = try Socket(family: .inet6, transport: .udp)
            try dual.joinMulticastGroup(Self.group4, interfaceIndex: lo)
        }
    }

    @Test func ipv6JoinOnAnInterfaceReceives() throws {
        try inFreshNamespace(sysctls: [("net.ipv6.conf.default.accept_dad", "0")]) {
            try NetworkNamespace.createVethPair("mc0", peer: "mc1")
            try NetworkNamespace.setLinkUp("mc0")
            try NetworkNamespace.setLinkUp("mc1")
            let index = try Interface.index(named: "mc0")
            let group = try IPAddress(parsing: "ff02::1234")
            let receiver = try Socket(family: .inet6, transport: .udp)
            try receiver.bind(to: SocketAddress(parsing: "[::]:0"))
            try receiver.joinMulticastGroup(group, interfaceIndex: index)
            #expect(failure { try receiver.joinMulticastGroup(group, interfaceIndex: index) } == (.addressInUse, "IPV6_JOIN_GROUP"))
            let sender = try Socket(family: .inet6, transport: .udp)
            let target = try SocketAddress(parsing: "[ff02::1234%mc0]:\(try receiver.localPort)")
            // The link-local address of mc0 may take a moment to be usable as a source.
            var sent = false
            for _ in 0..<50 where !sent {
                do {
                    try sendDatagram(sender, "six", to: target)
                    sent = true
                } catch { usleep(20_000) }
            }
            #expect(sent)
            #expect(try receiveDatagram(receiver) == "six")
            try receiver.leaveMulticastGroup(group, interfaceIndex: index)
            #expect(
                failure { try receiver.leaveMulticastGroup(group, interfaceIndex: index) } == (.addressNotAvailable, "IPV6_LEAVE_GROUP"))
            // The zone gives the interface when no index is passed.
            try receiver.joinMulticastGroup(try IPAddress(parsing: "ff02::1234%mc0"))
            try receiver.leaveMulticastGroup(group, interfaceIndex: index)
            #expect(
                failure { try receiver.joinMulticastGroup(try IPAddress(parsing: "ff02::1234%nosuch")) }?.0
                    == .operationNotSupportedByDevice)
        }
    }

    @Test func multicastLoopAndNoDelayReadBack() throws {
        for family in [AddressFamily.inet, .inet6] {
            let udp = try Socket(family: family, transport: .udp)
            #expect(try udp.multicastLoop())
            try udp.setMulticastLoop(false)
            #expect(try !udp.multicastLoop())
            let tcp = try Socket(family: family, transport: .tcp)
            #expect(try !tcp.noDelay())
            try tcp.setNoDelay(true)
            #expect(try tcp.noDelay())
            try tcp.setNoDelay(false)
            #expect(try !tcp.noDelay())
            #expect(failure { try udp.setNoDelay(true) } == (.protocolNotAvailable, "TCP_NODELAY"))
        }
    }

    /// IP_MULTICAST_LOOP governs the copy the host keeps of what it sends out of an interface.
    /// On `lo` the datagram comes back in anyway (it is what `lo` does), so this runs on a veth
    /// end: the member joined on mc0 gets the sender's datagram only with the loop on.
    @Test(arguments: [true, false])
    func multicastLoopDecidesTheLocalCopy(_ loop: Bool) throws {
        try inFreshNamespace {
            try NetworkNamespace.createVethPair("mc0", peer: "mc1")
            try NetworkNamespace.setLinkUp("mc0")
            try NetworkNamespace.setLinkUp("mc1")
            let receiver = try Socket(family: .inet, transport: .udp)
            try receiver.bind(to: SocketAddress(ip: .v4(.any), port: 0))
            try receiver.joinMulticastGroup(Self.group4, interfaceIndex: try Interface.index(named: "mc0"))
            let sender = try Socket(family: .inet, transport: .udp)
            try sender.setBindToDevice("mc0")
            try sender.setMulticastLoop(loop)
            try sendDatagram(sender, "copy", to: SocketAddress(ip: Self.group4, port: try receiver.localPort))
            #expect(try receiveDatagram(receiver) == (loop ? "copy" : nil))
        }
    }
}

/// The errno and option of the SocketError `body` throws, or nil.
func failure(_ body: () throws -> Void) -> (Errno, String?)? {
    do {
        try body()
        return nil
    } catch let e as SocketError {
        return (e.errno, e.option)
    } catch {
        return nil
    }
}

func == (a: (Errno, String?)?, b: (Errno, String)) -> Bool { a?.0 == b.0 && a?.1 == b.1 }

/// One datagram of `text` from `socket` to `address`.
func sendDatagram(_ socket: borrowing Socket, _ text: String, to address: SocketAddress) throws {
    try socket.send(Array(text.utf8), to: address)
}

/// One datagram within 300 ms, or nil.
func receiveDatagram(_ socket: borrowing Socket) throws -> String? {
    do {
        return String(decoding: try socket.receive(maxBytes: 2048, timeout: .milliseconds(300)), as: UTF8.self)
    } catch  where error.errno == .resourceTemporarilyUnavailable {
        return nil
    }
}
