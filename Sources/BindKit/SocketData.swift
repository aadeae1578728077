import CBindShim
import SystemPackage

// The data path of a socket: send and receive, with a destination or the connected one, each
// with an optional time limit; EINTR is retried inside the shim with the time left. What a
// reach step needs (one datagram, who received it, a connection accepted without blocking).

extension Socket {
    /// Milliseconds of `timeout` for the shim: -1 without a limit, else at least 0.
    static func milliseconds(_ timeout: Duration?) -> Int32 {
        guard let timeout else { return -1 }
        let total = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
        return Int32(clamping: max(0, total))
    }

    /// Sends `bytes` to the connected destination, waiting at most `timeout` for room when one is
    /// given (EAGAIN after). Returns the count sent. The corresponding C function is send(2)
    /// (sendto(2) without an address, with MSG_NOSIGNAL: a closed connection is EPIPE, no signal).
    @discardableResult
    public func send(_ bytes: [UInt8], timeout: Duration? = nil) throws(SocketError) -> Int {
        let r = bytes.withUnsafeBytes { bk_sendto(descriptor, nil, $0.baseAddress, $0.count, Socket.milliseconds(timeout)) }
        if r < 0 { throw SocketError(errno: Errno(rawValue: Int32(clamping: -r)), operation: "send") }
        return Int(r)
    }

    /// Sends `bytes` to `address` (a UDP datagram; an IPv6 zone name is resolved to its index).
    /// Returns the count sent. The corresponding C function is sendto(2), with MSG_NOSIGNAL.
    @discardableResult
    public func send(_ bytes: [UInt8], to address: SocketAddress, timeout: Duration? = nil) throws(SocketError) -> Int {
        var raw = try Socket.cAddress(address, operation: "sendto").get()
        let r = bytes.withUnsafeBytes { bk_sendto(descriptor, &raw, $0.baseAddress, $0.count, Socket.milliseconds(timeout)) }
        if r < 0 { throw SocketError(errno: Errno(rawValue: Int32(clamping: -r)), operation: "sendto", address: address) }
        return Int(r)
    }

    /// Receives at most `maxBytes` (one datagram for UDP), waiting at most `timeout` when one is
    /// given (EAGAIN after; `.zero` does not wait). A pending error (a connected UDP socket's
    /// ECONNREFUSED) is thrown and cleared. The corresponding C function is recv(2).
    public func receive(maxBytes: Int = 65536, timeout: Duration? = nil) throws(SocketError) -> [UInt8] {
        try receive(from: maxBytes, timeout: timeout).bytes
    }

    /// Receives as `receive(maxBytes:timeout:)` and names the sender (nil when the kernel gives
    /// none). The corresponding C function is recvfrom(2).
    public func receive(from maxBytes: Int = 65536, timeout: Duration? = nil) throws(SocketError) -> (
        bytes: [UInt8], sender: SocketAddress?
    ) {
        var raw = bk_addr()
        var buffer = [UInt8](repeating: 0, count: max(0, maxBytes))
        let r = buffer.withUnsafeMutableBytes { bk_recvfrom(descriptor, $0.baseAddress, $0.count, &raw, Socket.milliseconds(timeout)) }
        if r < 0 { throw SocketError(errno: Errno(rawValue: Int32(clamping: -r)), operation: "recvfrom") }
        buffer.removeSubrange(Int(r)...)
        return (buffer, SocketAddress(raw))
    }

    /// The bytes held in the receive queue, read without taking a datagram or clearing a pending
    /// error (a socket that received something has more than 0). The corresponding C function is
    /// getsockopt(2) with SO_MEMINFO (SK_MEMINFO_RMEM_ALLOC).
    public var receiveQueueBytes: Int {
        get throws(SocketError) {
            let r = bk_rmem_alloc(descriptor)
            if r < 0 { throw SocketError(errno: Errno(rawValue: Int32(clamping: -r)), operation: "getsockopt", option: "SO_MEMINFO") }
            return Int(r)
        }
    }

    /// Accepts a connection that arrives within `timeout`, or returns nil when none does; the new
    /// socket is non-blocking. The corresponding C functions are poll(2) and accept4(2).
    public func accept(timeout: Duration) throws(SocketError) -> Socket? {
        let fd = bk_accept_ready(descriptor, Socket.milliseconds(timeout), nil)
        if fd == -Errno.resourceTemporarilyUnavailable.rawValue { return nil }
        guard fd >= 0 else { throw SocketError(errno: Errno(rawValue: -fd), operation: "accept", address: localAddressIfAny()) }
        return Socket(adopting: fd, family: family, transport: transport)
    }

    /// Whether a read would not block (data, a connection, EOF or an error) within `timeout`.
    /// The corresponding C function is poll(2).
    public func isReadable(timeout: Duration = .zero) throws(SocketError) -> Bool {
        let r = bk_wait(descriptor, Int32(BK_POLLIN), Socket.milliseconds(timeout))
        if r < 0 { throw SocketError(errno: Errno(rawValue: -r), operation: "poll") }
        return r != 0
    }

    /// Whether an error is pending (a connected UDP socket's ECONNREFUSED after an ICMP port
    /// unreachable), without reading or clearing it. The corresponding C function is poll(2)
    /// (POLLERR).
    public func hasPendingError() throws(SocketError) -> Bool {
        let r = bk_wait(descriptor, 0, 0)
        if r < 0 { throw SocketError(errno: Errno(rawValue: -r), operation: "poll") }
        return r & Int32(BK_POLLERR) != 0
    }

    /// `SO_BROADCAST`: a UDP socket may send to a broadcast address (sendto() is EACCES without).
    /// It changes nothing for bind() or for what the socket receives.
    public func setBroadcast(_ on: Bool) throws(SocketError) {
        try Socket.check(bk_setsockopt_int(descriptor, BK_SOL_SOCKET, BK_SO_BROADCAST, on ? 1 : 0), "setsockopt", option: "SO_BROADCAST")
    }

    public func broadcast() throws(SocketError) -> Bool {
        var v: Int32 = 0
        try Socket.check(bk_getsockopt_int(descriptor, BK_SOL_SOCKET, BK_SO_BROADCAST, &v), "getsockopt", option: "SO_BROADCAST")
        return v != 0
    }
}

extension NetworkNamespace {
    /// Moves the interface `name` into the network namespace `namespace` refers to; it is then no
    /// device of this one, and comes down. The corresponding C function is RTM_NEWLINK with
    /// IFLA_NET_NS_FD over rtnetlink.
    package static func moveLink(_ name: String, to namespace: FileDescriptor) throws(Errno) {
        try shimVoid(bk_link_set_netns(name, namespace.rawValue)).get()
    }
}
