import BindKit
import BindTestSupport
import CBindShim
import Foundation
import SystemPackage
import Testing

@Suite("Socket on loopback", .checksLeaks)
struct SocketTests {
    @Test func bindListenAcceptConnectShutdown() throws {
        let server = try Socket(family: .inet, transport: .tcp)
        try server.bind(to: SocketAddress(ip: .v4(.loopback), port: 0))
        try server.listen(backlog: 8)
        let local = try server.localAddress
        #expect(local.ip == .v4(.loopback))
        #expect(local.port != 0)

        let client = try Socket(family: .inet, transport: .tcp)
        try client.connect(to: local, timeout: .seconds(5))
        let accepted = try server.accept()
        #expect(try accepted.remoteAddress == client.localAddress)
        #expect(try accepted.localAddress == local)

        try client.shutdown(.write)
        var byte: UInt8 = 0
        #expect(Glibc.read(accepted.descriptor, &byte, 1) == 0)  // EOF after the peer's shutdown
        try accepted.shutdown(.both)
        try accepted.close()
    }

    @Test func ipv6LoopbackAndClientSideBind() throws {
        let server = try Socket(family: .inet6, transport: .tcp)
        try server.bind(to: SocketAddress(parsing: "[::1]:0"))
        try server.listen()
        let target = try server.localAddress
        let client = try Socket(family: .inet6, transport: .tcp)
        try client.connect(to: target, from: SocketAddress(parsing: "[::1]:0"))
        let accepted = try server.accept()
        #expect(try accepted.remoteAddress.port == client.localAddress.port)
    }

    @Test func errorsCarryErrnoOperationAddressAndExplanation() throws {
        let a = try Socket(family: .inet, transport: .tcp)
        try a.bind(to: SocketAddress(ip: .v4(.loopback), port: 0))
        let taken = try a.localAddress
        let b = try Socket(family: .inet, transport: .tcp)
        let e = #expect(throws: SocketError.self) { try b.bind(to: taken) }
        #expect(e?.errno == .addressInUse)
        #expect(e?.operation == "bind")
        #expect(e?.address == taken)
        #expect(e?.errnoName == "EADDRINUSE")
        #expect(e?.description.contains("SO_REUSEADDR") == true)

        let c = try Socket(family: .inet, transport: .udp)
        let notMine = try SocketAddress(parsing: "203.0.113.9:4000")
        let e2 = #expect(throws: SocketError.self) { try c.bind(to: notMine) }
        #expect(e2?.errno == .addressNotAvailable)
        #expect(e2?.explanation.contains("0.0.0.0") == true)

        let udp = try Socket(family: .inet, transport: .udp)
        let e3 = #expect(throws: SocketError.self) { try udp.listen() }
        #expect(e3?.errnoName == "EOPNOTSUPP")

        let v6 = try Socket(family: .inet6, transport: .tcp)
        let e4 = #expect(throws: SocketError.self) { try v6.bind(to: SocketAddress(parsing: "[fe80::1%nosuchif0]:0")) }
        #expect(e4?.errnoName == "ENODEV")
    }

    @Test func connectRefusedAndTimeout() throws {
        let port = try Socket.findFreePort(on: .v4(.loopback), transport: .tcp)
        let c = try Socket(family: .inet, transport: .tcp)
        let e = #expect(throws: SocketError.self) {
            try c.connect(to: SocketAddress(ip: .v4(.loopback), port: port), timeout: .seconds(2))
        }
        #expect(e?.errno == .connectionRefused)
    }

    @Test func portHelpers() throws {
        let port = try Socket.findFreePort(on: .v4(.loopback), transport: .udp)
        #expect(Socket.isPortFree(port, on: .v4(.loopback), transport: .udp))
        let holder = try Socket(family: .inet, transport: .udp)
        try holder.bind(to: SocketAddress(ip: .v4(.loopback), port: port))
        #expect(!Socket.isPortFree(port, on: .v4(.loopback), transport: .udp))
        #expect(Socket.isPortFree(port, on: .v4(.loopback), transport: .tcp))  // TCP and UDP never collide
    }

    @Test func everyOptionSetThenGet() throws {
        let s = try Socket(family: .inet6, transport: .tcp)
        for v in [true, false] {
            try s.setReuseAddress(v)
            #expect(try s.reuseAddress() == v)
            try s.setReusePort(v)
            #expect(try s.reusePort() == v)
            try s.setV6Only(v)
            #expect(try s.v6Only() == v)
            try s.setFreebind(v)
            #expect(try s.freebind() == v)
            try s.setKeepAlive(v)
            #expect(try s.keepAlive() == v)
            try s.setNonBlocking(v)
            #expect(try s.isNonBlocking() == v)
        }
        if geteuid() == 0 {
            try s.setTransparent(true)
            #expect(try s.transparent())
            try s.setTransparent(false)
            #expect(try !s.transparent())
            try s.setBindToDevice("lo")
            #expect(try s.bindToDevice() == "lo")
            try s.setBindToDevice(nil)
            #expect(try s.bindToDevice() == nil)
        }
        try s.setLocalPortRange((40000, 40010))
        let r = try s.localPortRange()
        #expect(r?.low == 40000 && r?.high == 40010)
        try s.setLocalPortRange(nil)
        #expect(try s.localPortRange() == nil)
        try s.setReceiveBufferSize(65536)
        #expect(try s.receiveBufferSize() >= 65536)  // the kernel doubles it
        try s.setSendBufferSize(65536)
        #expect(try s.sendBufferSize() >= 65536)
        try s.setReceiveTimeout(.milliseconds(1500))
        #expect(try s.receiveTimeout() == .milliseconds(1500))
        try s.setSendTimeout(.milliseconds(20))
        #expect(try s.sendTimeout() == .milliseconds(20))  // the kernel keeps jiffies: use a multiple of 10 ms
        try s.setReceiveTimeout(nil)
        #expect(try s.receiveTimeout() == nil)

        let v4 = try Socket(family: .inet, transport: .udp)
        let e = #expect(throws: SocketError.self) { try v4.setV6Only(true) }
        #expect(e?.errnoName == "ENOPROTOOPT")
        let e2 = #expect(throws: SocketError.self) { try v4.setBindToDevice("nosuchif0") }
        #expect(e2?.errnoName == "ENODEV")
        let e3 = #expect(throws: SocketError.self) { try v4.setLocalPortRange((5, 3)) }
        #expect(e3?.errnoName == "EINVAL")
    }

    @Test func errorsNameTheOptionApartFromTheCall() throws {
        let v4 = try Socket(family: .inet, transport: .udp)
        let e = #expect(throws: SocketError.self) { try v4.setV6Only(true) }
        #expect(e?.operation == "setsockopt")
        #expect(e?.option == "IPV6_V6ONLY")
        // The explanation is the one of setsockopt, found from the typed operation.
        #expect(
            e?.description.hasPrefix("setsockopt(IPV6_V6ONLY): ENOPROTOOPT: this option does not exist") == true, "\(String(describing: e))"
        )
        let e2 = #expect(throws: SocketError.self) { try v4.tcpState() }
        #expect(e2?.operation == "getsockopt" && e2?.option == "TCP_INFO")
        #expect(e2?.description.hasPrefix("getsockopt(TCP_INFO): ") == true)
        let bind = SocketError(errno: .permissionDenied, operation: "bind", address: try SocketAddress(parsing: "0.0.0.0:80"))
        #expect(bind.option == nil)
        #expect(bind.description.hasPrefix("bind(0.0.0.0:80): EACCES: ports below"))
    }

    @Test(
        "SO_LINGER set and read back; with 0, close resets the connection; TCP_INFO follows its state",
        .enabled(if: mayMakeNamespaces, "needs root to create a network namespace"))
    func lingerAndTCPState() throws {
        struct Seen {
            var lingers: [Int32?]
            var listening, connected, afterReset: TCPState
            var peerRead: Errno?
        }
        let seen = try inFreshNamespace { () throws -> Seen in
            let listener = try Socket(family: .inet, transport: .tcp)
            try listener.bind(to: SocketAddress(ip: .v4(.loopback), port: 0))
            try listener.listen()
            let client = try Socket(family: .inet, transport: .tcp)
            var lingers: [Int32?] = [try client.linger()]
            for value in [7, nil, 0] as [Int32?] {
                try client.setLinger(value)
                lingers.append(try client.linger())
            }
            try client.connect(to: try listener.localAddress, timeout: .seconds(2))
            let accepted = try listener.accept()
            let connected = try accepted.tcpState()
            try client.close()
            let peerRead = errno {
                var byte: UInt8 = 0
                _ = try withUnsafeMutableBytes(of: &byte) { try FileDescriptor(rawValue: accepted.descriptor).read(into: $0) }
            }
            return Seen(
                lingers: lingers, listening: try listener.tcpState(), connected: connected, afterReset: try accepted.tcpState(),
                peerRead: peerRead)
        }
        #expect(seen.lingers == [nil, 7, nil, 0])
        #expect(seen.listening == .listen)
        #expect(seen.connected == .established)
        #expect(seen.peerRead == .connectionReset, "SO_LINGER 0: close sends RST")
        #expect(seen.afterReset == .close)
    }

    @Test func sockaddrRoundTripThroughTheShim() throws {
        for text in ["127.0.0.1:80", "0.0.0.0:0", "[::1]:65535", "[fe80::1%7]:9", "[::ffff:192.0.2.1]:443", "[2001:db8::1]:1"] {
            let a = try SocketAddress(parsing: text)
            var raw = bk_addr()
            raw.port = a.port
            var storage = sockaddr_storage()
            switch a.ip {
            case .v4(let v4):
                raw.family = AddressFamily.inet.cValue
                withUnsafeMutableBytes(of: &raw.bytes) { for (i, b) in v4.bytes.enumerated() { $0[i] = b } }
            case .v6(let v6):
                raw.family = AddressFamily.inet6.cValue
                withUnsafeMutableBytes(of: &raw.bytes) { for (i, b) in v6.bytes.enumerated() { $0[i] = b } }
                if case .index(let i)? = v6.zone { raw.scope_id = i }
            }
            let len = bk_sockaddr_encode(&raw, &storage)
            #expect(len == (a.family == .inet ? 16 : 28))
            var back = bk_addr()
            #expect(withUnsafeBytes(of: &storage) { bk_sockaddr_decode($0.baseAddress, Int(len), &back) } == 0)
            #expect(back.port == a.port && back.family == raw.family && back.scope_id == raw.scope_id)
            #expect(withUnsafeBytes(of: back.bytes) { Array($0) } == withUnsafeBytes(of: raw.bytes) { Array($0) })
        }
        // Too short for its family, and unknown families.
        var out = bk_addr()
        let short: [UInt8] = [2, 0, 0, 80]
        #expect(short.withUnsafeBytes { bk_sockaddr_decode($0.baseAddress, $0.count, &out) } == -EINVAL)
        let unix: [UInt8] = [1, 0] + [UInt8](repeating: 0, count: 30)
        #expect(unix.withUnsafeBytes { bk_sockaddr_decode($0.baseAddress, $0.count, &out) } == -EAFNOSUPPORT)
    }
}

@Suite("Host facts", .checksLeaks)
struct HostFactsTests {
    @Test func capabilitiesAgreeWithProcStatus() throws {
        let status = try String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8)
        func mask(_ key: String) -> UInt64? {
            status.split(separator: "\n").first { $0.hasPrefix(key + ":") }
                .flatMap { UInt64($0.split(separator: "\t").last.map(String.init) ?? "", radix: 16) }
        }
        let caps = try CapabilitySets.current()
        let known = Capability.mask(of: Set(Capability.allCases))
        #expect(Capability.mask(of: caps.effective) == (mask("CapEff") ?? 0) & known)
        #expect(Capability.mask(of: caps.permitted) == (mask("CapPrm") ?? 0) & known)
        #expect(Capability.mask(of: caps.bounding) == (mask("CapBnd") ?? 0) & known)
        #expect(Capability.mask(of: caps.ambient) == (mask("CapAmb") ?? 0) & known)
    }

    @Test func interfacesIncludeLoopback() throws {
        let ifs = try Interface.current()
        let lo = try #require(ifs.first { $0.isLoopback })
        #expect(lo.addresses.contains { $0.ip == .v4(.loopback) && $0.prefixLength == 8 })
    }

    @Test func sysctlsParseAndValidateNames() throws {
        let s = try BindSysctls.current()
        #expect(s.localPortRange.low <= s.localPortRange.high)
        #expect(throws: SysctlError.self) { try Sysctl.read("net/../../etc/passwd") }
        #expect(throws: SysctlError.self) { try Sysctl.read("net..ipv4") }
        var t = BindSysctls()
        try t.apply(name: "net.ipv4.ip_local_port_range", value: "40000\t40010\n")
        #expect(t.localPortRange == .init(low: 40000, high: 40010))
        #expect(throws: SysctlError.self) { try t.apply(name: "net.ipv4.ip_nonlocal_bind", value: "yes") }
    }

    @Test func capabilityNames() {
        #expect(Capability(name: "cap_net_bind_service") == .netBindService)
        #expect(Capability.netBindService.rawValue == 10)
        #expect(Capability.checkpointRestore.rawValue == 40)
        #expect(Capability(name: "NET_BIND_SERVICE") == nil)
        for c in Capability.allCases {
            #expect(bk_cap_from_name(c.name) == Int32(c.rawValue))
        }
    }
}
