import CBindShim
import SystemPackage

// The levels and names of <sys/socket.h> and <netinet/in.h> on Linux (the same on every
// architecture Swift runs on).
private let solSocket: Int32 = 1  // SOL_SOCKET
private let ipprotoIP: Int32 = 0  // IPPROTO_IP
private let ipprotoIPv6: Int32 = 41  // IPPROTO_IPV6
private let soReuseAddr: Int32 = 2  // SO_REUSEADDR
private let soKeepAlive: Int32 = 9  // SO_KEEPALIVE
private let soSndBuf: Int32 = 7  // SO_SNDBUF
private let soRcvBuf: Int32 = 8  // SO_RCVBUF
private let soRcvTimeo: Int32 = 20  // SO_RCVTIMEO
private let soSndTimeo: Int32 = 21  // SO_SNDTIMEO

/// One typed setter/getter pair per option. Each names the C constant and what it changes
/// for `bind()` on Linux.
extension Socket {
    private func setInt(_ level: Int32, _ name: Int32, _ value: Int32, _ label: String) throws(SocketError) {
        try Socket.check(bk_setsockopt_int(descriptor, level, name, value), "setsockopt(\(label))")
    }

    private func getInt(_ level: Int32, _ name: Int32, _ label: String) throws(SocketError) -> Int32 {
        var v: Int32 = 0
        try Socket.check(bk_getsockopt_int(descriptor, level, name, &v), "getsockopt(\(label))")
        return v
    }

    private var ipLevel: Int32 { family == .inet ? ipprotoIP : ipprotoIPv6 }

    /// `SO_REUSEADDR`. TCP: two sockets may bind one address and port when both set it and the
    /// holder is not listening (and a new bind may take a port held by TIME_WAIT when both set it).
    /// UDP: both setting it suffices.
    public func setReuseAddress(_ on: Bool) throws(SocketError) {
        try setInt(solSocket, soReuseAddr, on ? 1 : 0, "SO_REUSEADDR")
    }
    public func reuseAddress() throws(SocketError) -> Bool { try getInt(solSocket, soReuseAddr, "SO_REUSEADDR") != 0 }

    /// `SO_REUSEPORT`: sockets that all set it, created under the same effective uid, may share a
    /// port, listening or not; the kernel spreads connections or datagrams among them.
    public func setReusePort(_ on: Bool) throws(SocketError) {
        try setInt(solSocket, BK_SO_REUSEPORT, on ? 1 : 0, "SO_REUSEPORT")
    }
    public func reusePort() throws(SocketError) -> Bool { try getInt(solSocket, BK_SO_REUSEPORT, "SO_REUSEPORT") != 0 }

    /// `IPV6_V6ONLY` (inet6 only): when set, `[::]` takes IPv6 alone and v4-mapped addresses are
    /// refused (EINVAL); when clear, `[::]` also takes every IPv4 address on the port. Defaults to
    /// `net.ipv6.bindv6only`. Must be set before bind.
    public func setV6Only(_ on: Bool) throws(SocketError) {
        try setInt(ipprotoIPv6, BK_IPV6_V6ONLY, on ? 1 : 0, "IPV6_V6ONLY")
    }
    public func v6Only() throws(SocketError) -> Bool { try getInt(ipprotoIPv6, BK_IPV6_V6ONLY, "IPV6_V6ONLY") != 0 }

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
            throw SocketError(errno: .invalidArgument, operation: "setsockopt(SO_BINDTODEVICE)")
        }
        bytes.append(0)
        let r = bytes.withUnsafeBytes { buf in
            bk_setsockopt_raw(descriptor, solSocket, BK_SO_BINDTODEVICE, buf.baseAddress, socklen_t(buf.count))
        }
        try Socket.check(r, "setsockopt(SO_BINDTODEVICE)")
    }
    public func bindToDevice() throws(SocketError) -> String? {
        var buf = [UInt8](repeating: 0, count: Int(BK_IFNAMSIZ))
        var len = socklen_t(buf.count)
        let r = buf.withUnsafeMutableBytes { bk_getsockopt_raw(descriptor, solSocket, BK_SO_BINDTODEVICE, $0.baseAddress, &len) }
        try Socket.check(r, "getsockopt(SO_BINDTODEVICE)")
        let name = String(decoding: buf.prefix(Int(len)).prefix { $0 != 0 }, as: UTF8.self)
        return name.isEmpty ? nil : name
    }

    /// `IP_LOCAL_PORT_RANGE` (Linux 6.3+): the per-socket range port 0 picks from, intersected with
    /// `net.ipv4.ip_local_port_range`. `nil` (0, 0) clears it. Encoded as `low | high << 16`.
    public func setLocalPortRange(_ range: (low: UInt16, high: UInt16)?) throws(SocketError) {
        let v = range.map { UInt32($0.low) | UInt32($0.high) << 16 } ?? 0
        try setInt(ipprotoIP, BK_IP_LOCAL_PORT_RANGE, Int32(bitPattern: v), "IP_LOCAL_PORT_RANGE")
    }
    public func localPortRange() throws(SocketError) -> (low: UInt16, high: UInt16)? {
        let v = UInt32(bitPattern: try getInt(ipprotoIP, BK_IP_LOCAL_PORT_RANGE, "IP_LOCAL_PORT_RANGE"))
        return v == 0 ? nil : (UInt16(v & 0xffff), UInt16(v >> 16))
    }

    /// `SO_RCVBUF` (the kernel doubles what is set, and reports the doubled value).
    public func setReceiveBufferSize(_ bytes: Int32) throws(SocketError) { try setInt(solSocket, soRcvBuf, bytes, "SO_RCVBUF") }
    public func receiveBufferSize() throws(SocketError) -> Int32 { try getInt(solSocket, soRcvBuf, "SO_RCVBUF") }

    /// `SO_SNDBUF` (doubled by the kernel, like SO_RCVBUF).
    public func setSendBufferSize(_ bytes: Int32) throws(SocketError) { try setInt(solSocket, soSndBuf, bytes, "SO_SNDBUF") }
    public func sendBufferSize() throws(SocketError) -> Int32 { try getInt(solSocket, soSndBuf, "SO_SNDBUF") }

    /// `SO_KEEPALIVE`: no effect on bind.
    public func setKeepAlive(_ on: Bool) throws(SocketError) { try setInt(solSocket, soKeepAlive, on ? 1 : 0, "SO_KEEPALIVE") }
    public func keepAlive() throws(SocketError) -> Bool { try getInt(solSocket, soKeepAlive, "SO_KEEPALIVE") != 0 }

    /// `SO_RCVTIMEO`; the kernel stores jiffies, so what is read back is rounded to the tick. `nil` or zero means wait forever.
    public func setReceiveTimeout(_ timeout: Duration?) throws(SocketError) {
        try Socket.check(bk_set_timeout_us(descriptor, soRcvTimeo, Socket.micros(timeout)), "setsockopt(SO_RCVTIMEO)")
    }
    public func receiveTimeout() throws(SocketError) -> Duration? {
        var us: Int64 = 0
        try Socket.check(bk_get_timeout_us(descriptor, soRcvTimeo, &us), "getsockopt(SO_RCVTIMEO)")
        return us == 0 ? nil : .microseconds(us)
    }

    /// `SO_SNDTIMEO`; the kernel stores jiffies, so what is read back is rounded to the tick. `nil` or zero means wait forever.
    public func setSendTimeout(_ timeout: Duration?) throws(SocketError) {
        try Socket.check(bk_set_timeout_us(descriptor, soSndTimeo, Socket.micros(timeout)), "setsockopt(SO_SNDTIMEO)")
    }
    public func sendTimeout() throws(SocketError) -> Duration? {
        var us: Int64 = 0
        try Socket.check(bk_get_timeout_us(descriptor, soSndTimeo, &us), "getsockopt(SO_SNDTIMEO)")
        return us == 0 ? nil : .microseconds(us)
    }

    /// `O_NONBLOCK` through fcntl(2).
    public func setNonBlocking(_ on: Bool) throws(SocketError) { try Socket.check(bk_set_nonblocking(descriptor, on), "fcntl(O_NONBLOCK)") }
    public func isNonBlocking() throws(SocketError) -> Bool {
        let r = bk_get_nonblocking(descriptor)
        try Socket.check(r, "fcntl(F_GETFL)")
        return r == 1
    }

    private static func micros(_ d: Duration?) -> Int64 {
        guard let d else { return 0 }
        let (s, atto) = d.components
        return max(0, s.multipliedReportingOverflow(by: 1_000_000).overflow ? Int64.max : s * 1_000_000 + atto / 1_000_000_000_000)
    }
}
