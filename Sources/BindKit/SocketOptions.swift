import CBindShim
import SystemPackage

/// One typed setter/getter pair per option. Each names the C constant and what it changes
/// for `bind()` on Linux. The levels and names are the shim's BK_ constants, each checked
/// against the system header's value when the shim compiles.
extension Socket {
    private func setInt(_ level: Int32, _ name: Int32, _ value: Int32, _ label: String) throws(SocketError) {
        try Socket.check(bk_setsockopt_int(descriptor, level, name, value), "setsockopt", option: label)
    }

    private func getInt(_ level: Int32, _ name: Int32, _ label: String) throws(SocketError) -> Int32 {
        var v: Int32 = 0
        try Socket.check(bk_getsockopt_int(descriptor, level, name, &v), "getsockopt", option: label)
        return v
    }

    private var ipLevel: Int32 { family == .inet ? BK_IPPROTO_IP : BK_IPPROTO_IPV6 }

    /// `SO_REUSEADDR`. TCP: two sockets may bind one address and port when both set it and the
    /// holder is not listening (and a new bind may take a port held by TIME_WAIT when both set it).
    /// UDP: both setting it suffices.
    public func setReuseAddress(_ on: Bool) throws(SocketError) {
        try setInt(BK_SOL_SOCKET, BK_SO_REUSEADDR, on ? 1 : 0, "SO_REUSEADDR")
    }
    public func reuseAddress() throws(SocketError) -> Bool { try getInt(BK_SOL_SOCKET, BK_SO_REUSEADDR, "SO_REUSEADDR") != 0 }

    /// `SO_REUSEPORT`: sockets that all set it, created under the same effective uid, may share a
    /// port, listening or not; the kernel spreads connections or datagrams among them.
    public func setReusePort(_ on: Bool) throws(SocketError) {
        try setInt(BK_SOL_SOCKET, BK_SO_REUSEPORT, on ? 1 : 0, "SO_REUSEPORT")
    }
    public func reusePort() throws(SocketError) -> Bool { try getInt(BK_SOL_SOCKET, BK_SO_REUSEPORT, "SO_REUSEPORT") != 0 }

    /// `IPV6_V6ONLY` (inet6 only): when set, `[::]` takes IPv6 alone and v4-mapped addresses are
    /// refused (EINVAL); when clear, `[::]` also takes every IPv4 address on the port. Defaults to
    /// `net.ipv6.bindv6only`. Must be set before bind.
    public func setV6Only(_ on: Bool) throws(SocketError) {
        try setInt(BK_IPPROTO_IPV6, BK_IPV6_V6ONLY, on ? 1 : 0, "IPV6_V6ONLY")
    }
    public func v6Only() throws(SocketError) -> Bool { try getInt(BK_IPPROTO_IPV6, BK_IPV6_V6ONLY, "IPV6_V6ONLY") != 0 }

    /// `IP_FREEBIND` / `IPV6_FREEBIND`: bind an address this host does not (yet) have, instead of
    /// EADDRNOTAVAIL.
    public func setFreebind(_ on: Bool) throws(SocketError) {
        let name = family == .inet ? BK_IP_FREEBIND : BK_IPV6_FREEBIND
        try setInt(ipLevel, name, on ? 1 : 0, family == .inet ? "IP_FREEBIND" : "IPV6_FREEBIND")
    }
    public func freebind() throws(SocketError) -> Bool {
        let name = family == .inet ? BK_IP_FREEBIND : BK_IPV6_FREEBIND
        return try getInt(ipLevel, name, family == .inet ? "IP_FREEBIND" : "IPV6_FREEBIND") != 0
    }

    /// `IP_TRANSPARENT` / `IPV6_TRANSPARENT` (needs CAP_NET_ADMIN or CAP_NET_RAW): like freebind for
    /// bind's locality check, for transparent proxies.
    public func setTransparent(_ on: Bool) throws(SocketError) {
        let name = family == .inet ? BK_IP_TRANSPARENT : BK_IPV6_TRANSPARENT
        try setInt(ipLevel, name, on ? 1 : 0, family == .inet ? "IP_TRANSPARENT" : "IPV6_TRANSPARENT")
    }
    public func transparent() throws(SocketError) -> Bool {
        let name = family == .inet ? BK_IP_TRANSPARENT : BK_IPV6_TRANSPARENT
        return try getInt(ipLevel, name, family == .inet ? "IP_TRANSPARENT" : "IPV6_TRANSPARENT") != 0
    }

    /// `SO_BINDTODEVICE`: restricts the socket to one interface; sockets on different devices do
    /// not collide on a port, and for IPv6 link-local addresses the device acts as the scope.
    /// `nil` or an empty name removes the binding.
    public func setBindToDevice(_ name: String?) throws(SocketError) {
        var bytes = Array((name ?? "").utf8)
        guard bytes.count < Int(BK_IFNAMSIZ) else {
            throw SocketError(errno: .invalidArgument, operation: "setsockopt", option: "SO_BINDTODEVICE")
        }
        bytes.append(0)
        let r = bytes.withUnsafeBytes { buf in
            bk_setsockopt_raw(descriptor, BK_SOL_SOCKET, BK_SO_BINDTODEVICE, buf.baseAddress, socklen_t(buf.count))
        }
        try Socket.check(r, "setsockopt", option: "SO_BINDTODEVICE")
    }
    public func bindToDevice() throws(SocketError) -> String? {
        var buf = [UInt8](repeating: 0, count: Int(BK_IFNAMSIZ))
        var len = socklen_t(buf.count)
        let r = buf.withUnsafeMutableBytes { bk_getsockopt_raw(descriptor, BK_SOL_SOCKET, BK_SO_BINDTODEVICE, $0.baseAddress, &len) }
        try Socket.check(r, "getsockopt", option: "SO_BINDTODEVICE")
        let name = String(decoding: buf.prefix(Int(len)).prefix { $0 != 0 }, as: UTF8.self)
        return name.isEmpty ? nil : name
    }

    /// `IP_LOCAL_PORT_RANGE` (Linux 6.3+): the per-socket range port 0 picks from, intersected with
    /// `net.ipv4.ip_local_port_range`. `nil` (0, 0) clears it. Encoded as `low | high << 16`.
    public func setLocalPortRange(_ range: (low: UInt16, high: UInt16)?) throws(SocketError) {
        let v = range.map { UInt32($0.low) | UInt32($0.high) << 16 } ?? 0
        try setInt(BK_IPPROTO_IP, BK_IP_LOCAL_PORT_RANGE, Int32(bitPattern: v), "IP_LOCAL_PORT_RANGE")
    }
    public func localPortRange() throws(SocketError) -> (low: UInt16, high: UInt16)? {
        let v = UInt32(bitPattern: try getInt(BK_IPPROTO_IP, BK_IP_LOCAL_PORT_RANGE, "IP_LOCAL_PORT_RANGE"))
        return v == 0 ? nil : (UInt16(v & 0xffff), UInt16(v >> 16))
    }

    /// `SO_RCVBUF` (the kernel doubles what is set, and reports the doubled value).
    public func setReceiveBufferSize(_ bytes: Int32) throws(SocketError) { try setInt(BK_SOL_SOCKET, BK_SO_RCVBUF, bytes, "SO_RCVBUF") }
    public func receiveBufferSize() throws(SocketError) -> Int32 { try getInt(BK_SOL_SOCKET, BK_SO_RCVBUF, "SO_RCVBUF") }

    /// `SO_SNDBUF` (doubled by the kernel, like SO_RCVBUF).
    public func setSendBufferSize(_ bytes: Int32) throws(SocketError) { try setInt(BK_SOL_SOCKET, BK_SO_SNDBUF, bytes, "SO_SNDBUF") }
    public func sendBufferSize() throws(SocketError) -> Int32 { try getInt(BK_SOL_SOCKET, BK_SO_SNDBUF, "SO_SNDBUF") }

    /// `SO_KEEPALIVE`: no effect on bind.
    public func setKeepAlive(_ on: Bool) throws(SocketError) { try setInt(BK_SOL_SOCKET, BK_SO_KEEPALIVE, on ? 1 : 0, "SO_KEEPALIVE") }
    public func keepAlive() throws(SocketError) -> Bool { try getInt(BK_SOL_SOCKET, BK_SO_KEEPALIVE, "SO_KEEPALIVE") != 0 }

    /// `SO_RCVTIMEO`; the kernel stores jiffies, so what is read back is rounded to the tick. `nil` or zero means wait forever.
    public func setReceiveTimeout(_ timeout: Duration?) throws(SocketError) {
        try Socket.check(bk_set_timeout_us(descriptor, BK_SO_RCVTIMEO, Socket.micros(timeout)), "setsockopt", option: "SO_RCVTIMEO")
    }
    public func receiveTimeout() throws(SocketError) -> Duration? {
        var us: Int64 = 0
        try Socket.check(bk_get_timeout_us(descriptor, BK_SO_RCVTIMEO, &us), "getsockopt", option: "SO_RCVTIMEO")
        return us == 0 ? nil : .microseconds(us)
    }

    /// `SO_SNDTIMEO`; the kernel stores jiffies, so what is read back is rounded to the tick. `nil` or zero means wait forever.
    public func setSendTimeout(_ timeout: Duration?) throws(SocketError) {
        try Socket.check(bk_set_timeout_us(descriptor, BK_SO_SNDTIMEO, Socket.micros(timeout)), "setsockopt", option: "SO_SNDTIMEO")
    }
    public func sendTimeout() throws(SocketError) -> Duration? {
        var us: Int64 = 0
        try Socket.check(bk_get_timeout_us(descriptor, BK_SO_SNDTIMEO, &us), "getsockopt", option: "SO_SNDTIMEO")
        return us == 0 ? nil : .microseconds(us)
    }

    /// `SO_LINGER`: with a time, close(2) waits up to that many seconds for unsent data to leave;
    /// with 0 it resets the connection (RST) at once and leaves no TIME_WAIT behind. `nil` turns it
    /// off (the default: close returns at once and the kernel sends what is left).
    public func setLinger(_ seconds: Int32?) throws(SocketError) {
        try Socket.check(bk_set_linger(descriptor, seconds == nil ? 0 : 1, seconds ?? 0), "setsockopt", option: "SO_LINGER")
    }
    public func linger() throws(SocketError) -> Int32? {
        var on: Int32 = 0
        var seconds: Int32 = 0
        try Socket.check(bk_get_linger(descriptor, &on, &seconds), "getsockopt", option: "SO_LINGER")
        return on == 0 ? nil : seconds
    }

    /// `TCP_INFO` (TCP only, read only): the connection's state, `tcpi_state`.
    public func tcpState() throws(SocketError) -> TCPState {
        let r = bk_get_tcp_state(descriptor)
        try Socket.check(r, "getsockopt", option: "TCP_INFO")
        return TCPState(rawValue: UInt8(truncatingIfNeeded: r))
    }

    /// `O_NONBLOCK` through fcntl(2).
    public func setNonBlocking(_ on: Bool) throws(SocketError) {
        try Socket.check(bk_set_nonblocking(descriptor, on), "fcntl", option: "O_NONBLOCK")
    }
    public func isNonBlocking() throws(SocketError) -> Bool {
        let r = bk_get_nonblocking(descriptor)
        try Socket.check(r, "fcntl", option: "F_GETFL")
        return r == 1
    }

    private static func micros(_ d: Duration?) -> Int64 {
        guard let d else { return 0 }
        let (s, atto) = d.components
        return max(0, s.multipliedReportingOverflow(by: 1_000_000).overflow ? Int64.max : s * 1_000_000 + atto / 1_000_000_000_000)
    }
}

/// The state of a TCP socket, numbered as the kernel's `TCP_*` states (`<netinet/tcp.h>`): what
/// `TCP_INFO` reports, and what `/proc/net/tcp` prints in its `st` column (UDP sockets use the same
/// numbers there: 7 unconnected, 1 connected).
public struct TCPState: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    private init(_ c: Int32) { rawValue = UInt8(c) }

    public static let established = TCPState(BK_TCP_ESTABLISHED)
    public static let synSent = TCPState(BK_TCP_SYN_SENT)
    public static let synReceived = TCPState(BK_TCP_SYN_RECV)
    public static let finWait1 = TCPState(BK_TCP_FIN_WAIT1)
    public static let finWait2 = TCPState(BK_TCP_FIN_WAIT2)
    public static let timeWait = TCPState(BK_TCP_TIME_WAIT)
    public static let close = TCPState(BK_TCP_CLOSE)
    public static let closeWait = TCPState(BK_TCP_CLOSE_WAIT)
    public static let lastAck = TCPState(BK_TCP_LAST_ACK)
    public static let listen = TCPState(BK_TCP_LISTEN)
    public static let closing = TCPState(BK_TCP_CLOSING)

    private static let names: [TCPState: String] = [
        .established: "ESTABLISHED", .synSent: "SYN_SENT", .synReceived: "SYN_RECV", .finWait1: "FIN_WAIT1",
        .finWait2: "FIN_WAIT2", .timeWait: "TIME_WAIT", .close: "CLOSE", .closeWait: "CLOSE_WAIT", .lastAck: "LAST_ACK",
        .listen: "LISTEN", .closing: "CLOSING",
    ]

    /// The kernel's name without `TCP_`, e.g. `TIME_WAIT`.
    public var description: String { Self.names[self] ?? "state \(rawValue)" }
}
