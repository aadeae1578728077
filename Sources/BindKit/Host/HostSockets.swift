import Foundation

/// A socket of the host holding a port, as `/proc/net/{tcp,tcp6,udp,udp6}` lists it. Its
/// options (SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY, SO_BINDTODEVICE) are not visible there.
public struct HostSocket: Hashable, Sendable, Codable {
    public enum State: String, Sendable, Codable {
        case listening
        case timeWait = "time-wait"
        case established, bound, other
    }

    public var transport: Transport
    public var family: AddressFamily
    public var local: SocketAddress
    public var state: State
    public var uid: UInt32
    public var inode: UInt64

    public init(transport: Transport, family: AddressFamily, local: SocketAddress, state: State, uid: UInt32, inode: UInt64) {
        self.transport = transport
        self.family = family
        self.local = local
        self.state = state
        self.uid = uid
        self.inode = inode
    }

    /// The sockets of the calling thread's network namespace that hold a local port.
    public static func current() -> [HostSocket] {
        var all: [HostSocket] = []
        for (file, transport, family) in [
            ("tcp", Transport.tcp, AddressFamily.inet), ("tcp6", .tcp, .inet6), ("udp", .udp, .inet), ("udp6", .udp, .inet6),
        ] {
            // /proc/thread-self/net follows this thread's network namespace.
            guard let data = FileManager.default.contents(atPath: "/proc/thread-self/net/\(file)") else { continue }
            all += parse(String(decoding: data, as: UTF8.self), transport: transport, family: family)
        }
        return all
    }

    /// Parses the text of one `/proc/net/tcp`-style table. Lines that do not parse are skipped.
    public static func parse(_ text: String, transport: Transport, family: AddressFamily) -> [HostSocket] {
        var out: [HostSocket] = []
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 10 else { continue }
            let addr = f[1].split(separator: ":")
            guard addr.count == 2, let port = UInt16(addr[1], radix: 16), port != 0,
                let stateCode = UInt8(f[3], radix: 16), let uid = UInt32(f[7]), let inode = UInt64(f[9]),
                let ip = decodeHex(addr[0], family: family)
            else { continue }
            let state: State
            switch (transport, TCPState(rawValue: stateCode)) {
            case (.tcp, .listen): state = .listening
            case (.tcp, .timeWait): state = .timeWait
            case (_, .established): state = .established
            // An unconnected UDP socket is TCP_CLOSE too.
            case (_, .close): state = .bound
            default: state = .other
            }
            out.append(
                HostSocket(
                    transport: transport, family: family, local: SocketAddress(ip: ip, port: port), state: state, uid: uid, inode: inode))
        }
        return out
    }

    /// The kernel prints addresses as 32-bit words in host (little-endian) order.
    static func decodeHex(_ hex: Substring, family: AddressFamily) -> IPAddress? {
        let words = family == .inet ? 1 : 4
        guard hex.count == words * 8, hex.allSatisfy(\.isHexDigit) else { return nil }
        var bytes: [UInt8] = []
        var i = hex.startIndex
        for _ in 0..<words {
            let j = hex.index(i, offsetBy: 8)
            guard let w = UInt32(hex[i..<j], radix: 16) else { return nil }
            bytes += [UInt8(w & 0xff), UInt8((w >> 8) & 0xff), UInt8((w >> 16) & 0xff), UInt8(w >> 24)]
            i = j
        }
        if family == .inet { return IPv4Address(bytes: bytes).map { .v4($0) } }
        return IPv6Address(bytes: bytes).map { .v6($0) }
    }
}
