import CBindShim
import SystemPackage

/// How `shutdown(2)` closes a connected socket.
public enum ShutdownKind: Sendable {
    case read, write, both
    var cValue: Int32 {
        switch self {
        case .read: BK_SHUT_RD
        case .write: BK_SHUT_WR
        case .both: BK_SHUT_RDWR
        }
    }
}

/// An owned socket descriptor. It closes in `deinit`; being `~Copyable`, it can be
/// neither leaked by a copy nor closed twice.
public struct Socket: ~Copyable {
    /// The descriptor, valid while this value lives.
    public let descriptor: Int32
    public let family: AddressFamily
    public let transport: Transport

    /// Creates a socket. The corresponding C function is socket(2) (with SOCK_CLOEXEC).
    public init(family: AddressFamily, transport: Transport) throws(SocketError) {
        let fd = bk_socket(family.cValue, transport == .tcp ? 0 : 1)
        guard fd >= 0 else { throw SocketError(errno: Errno(rawValue: -fd), operation: "socket") }
        self.init(adopting: fd, family: family, transport: transport)
    }

    init(adopting fd: Int32, family: AddressFamily, transport: Transport) {
        self.descriptor = fd
        self.family = family
        self.transport = transport
    }

    deinit { _ = bk_close(descriptor) }

    /// Closes now, reporting an error the kernel gives. The corresponding C function is close(2).
    public consuming func close() throws(SocketError) {
        let fd = descriptor
        discard self
        let r = bk_close(fd)
        if r < 0 { throw SocketError(errno: Errno(rawValue: -r), operation: "close") }
    }

    // MARK: - Operations

    /// Binds to `address`; an IPv6 zone name is resolved to its interface index first.
    /// The corresponding C function is bind(2).
    public func bind(to address: SocketAddress) throws(SocketError) {
        try Socket.bind(descriptor, address).get()
    }

    /// Listens. The corresponding C function is listen(2).
    public func listen(backlog: Int32 = 128) throws(SocketError) {
        let r = bk_listen(descriptor, backlog)
        // The address (one more system call) only for the error.
        if r < 0 { throw SocketError(errno: Errno(rawValue: -r), operation: "listen", address: localAddressIfAny()) }
    }

    /// Accepts one connection, retrying EINTR; the peer is the new socket's `remoteAddress`.
    /// The corresponding C function is accept4(2).
    public func accept() throws(SocketError) -> Socket {
        let fd = bk_accept(descriptor, nil)
        guard fd >= 0 else { throw SocketError(errno: Errno(rawValue: -fd), operation: "accept", address: localAddressIfAny()) }
        return Socket(adopting: fd, family: family, transport: transport)
    }

    /// Connects, waiting at most `timeout` when one is given. Once the wait ends with the
    /// connection made or refused, the socket is left as a blocking connect(2) leaves it
    /// (connected, or unconnected so that connecting again starts afresh); past the timeout it
    /// is left connecting (a later call is EALREADY). The corresponding C function is connect(2).
    public func connect(to address: SocketAddress, timeout: Duration? = nil) throws(SocketError) {
        var raw = try Socket.cAddress(address, operation: "connect").get()
        let ms: Int32
        if let timeout {
            let total = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
            ms = Int32(clamping: max(0, total))
        } else {
            ms = -1
        }
        try Socket.check(bk_connect(descriptor, &raw, ms), "connect", address: address)
    }

    /// Binds to `local` first (a client-side bind), then connects to `remote`.
    public func connect(to remote: SocketAddress, from local: SocketAddress, timeout: Duration? = nil) throws(SocketError) {
        try bind(to: local)
        try connect(to: remote, timeout: timeout)
    }

    /// The corresponding C function is shutdown(2).
    public func shutdown(_ how: ShutdownKind) throws(SocketError) {
        try Socket.check(bk_shutdown(descriptor, how.cValue), "shutdown")
    }

    /// The address the socket is bound to. The corresponding C function is getsockname(2).
    public var localAddress: SocketAddress {
        get throws(SocketError) { try name(bk_getsockname, "getsockname") }
    }

    /// The port the socket is bound to, without decoding its address. The corresponding C
    /// function is getsockname(2).
    public var localPort: UInt16 {
        get throws(SocketError) {
            var raw = bk_addr()
            try Socket.check(bk_getsockname(descriptor, &raw), "getsockname")
            return raw.port
        }
    }

    /// The connected peer. The corresponding C function is getpeername(2).
    public var remoteAddress: SocketAddress {
        get throws(SocketError) { try name(bk_getpeername, "getpeername") }
    }

    private func name(_ call: (Int32, UnsafeMutablePointer<bk_addr>?) -> Int32, _ op: String) throws(SocketError) -> SocketAddress {
        var raw = bk_addr()
        try Socket.check(call(descriptor, &raw), op)
        guard let address = SocketAddress(raw) else { throw SocketError(errno: .addressFamilyNotSupported, operation: op) }
        return address
    }

    func localAddressIfAny() -> SocketAddress? {
        var raw = bk_addr()
        return bk_getsockname(descriptor, &raw) == 0 ? SocketAddress(raw) : nil
    }

    // MARK: - Helpers over one system call each

    static func bind(_ fd: Int32, _ address: SocketAddress) -> Result<Void, SocketError> {
        switch cAddress(address, operation: "bind") {
        case .failure(let e): return .failure(e)
        case .success(var raw):
            let r = bk_bind(fd, &raw)
            return r < 0 ? .failure(SocketError(errno: Errno(rawValue: -r), operation: "bind", address: address)) : .success(())
        }
    }

    static func check(_ r: Int32, _ op: String, option: String? = nil, address: SocketAddress? = nil) throws(SocketError) {
        if r < 0 { throw SocketError(errno: Errno(rawValue: -r), operation: op, option: option, address: address) }
    }

    /// The C form of an address, with a zone name resolved to its interface index.
    package static func cAddress(_ address: SocketAddress, operation: String) -> Result<bk_addr, SocketError> {
        var raw = bk_addr(address)
        if case .v6(let a) = address.ip {
            switch a.zone {
            case nil: raw.scope_id = 0
            case .index(let i)?: raw.scope_id = i
            case .name(let name)?:
                // What the kernel answers for a scope id that names no interface.
                guard case .success(let index) = Interface._index(named: name) else {
                    return .failure(SocketError(errno: .operationNotSupportedByDevice, operation: operation, address: address))
                }
                raw.scope_id = index
            }
        }
        return .success(raw)
    }
}

extension bk_addr {
    /// Family, port and address bytes of `address` (no scope id: a zone name needs a lookup).
    init(_ address: SocketAddress) {
        self.init()
        port = address.port
        switch address.ip {
        case .v4(let a):
            family = AddressFamily.inet.cValue
            withUnsafeMutableBytes(of: &bytes) { $0.storeBytes(of: a.rawValue.bigEndian, as: UInt32.self) }
        case .v6(let a):
            family = AddressFamily.inet6.cValue
            withUnsafeMutableBytes(of: &bytes) {
                $0.storeBytes(of: a.high.bigEndian, as: UInt64.self)
                $0.storeBytes(of: a.low.bigEndian, toByteOffset: 8, as: UInt64.self)
            }
        }
    }
}

extension SocketAddress {
    /// Decodes the shim's form; nil for a family other than AF_INET / AF_INET6.
    init?(_ raw: bk_addr) {
        let bytes = withUnsafeBytes(of: raw.bytes) { Array($0) }
        if raw.family == AddressFamily.inet.cValue, let a = IPv4Address(bytes: bytes.prefix(4)) {
            self.init(ip: .v4(a), port: raw.port)
        } else if raw.family == AddressFamily.inet6.cValue, var a = IPv6Address(bytes: bytes) {
            if raw.scope_id != 0 { a.zone = .index(raw.scope_id) }
            self.init(ip: .v6(a), port: raw.port)
        } else {
            return nil
        }
    }
}

// MARK: - Port helpers

extension Socket {
    /// Whether a plain bind (no options) of `port` on `address` would succeed now for `transport`.
    /// It binds a throwaway socket and closes it at once.
    public static func isPortFree(_ port: UInt16, on address: IPAddress, transport: Transport) -> Bool {
        guard let s = try? Socket(family: address.family, transport: transport) else { return false }
        return (try? s.bind(to: SocketAddress(ip: address, port: port))) != nil
    }

    /// A port the kernel picks from the ephemeral range for `address` (bind to port 0, read it back).
    /// Free at the moment of the call only.
    public static func findFreePort(on address: IPAddress, transport: Transport) throws(SocketError) -> UInt16 {
        let s = try Socket(family: address.family, transport: transport)
        try s.bind(to: SocketAddress(ip: address, port: 0))
        return try s.localAddress.port
    }
}

extension SocketAddress {
    /// Decodes a raw `sockaddr` (as the kernel or another library hands it over): AF_INET needs 16
    /// bytes, AF_INET6 24 (without a scope id) or 28; any other family is EAFNOSUPPORT, a short
    /// buffer EINVAL.
    public init(sockaddr bytes: some Collection<UInt8>) throws(SocketError) {
        let raw = Array(bytes)
        var out = bk_addr()
        let r = raw.withUnsafeBytes { bk_sockaddr_decode($0.baseAddress, $0.count, &out) }
        if r < 0 { throw SocketError(errno: Errno(rawValue: -r), operation: "sockaddr") }
        guard let a = SocketAddress(out) else { throw SocketError(errno: .addressFamilyNotSupported, operation: "sockaddr") }
        self = a
    }

    /// The `sockaddr_in` / `sockaddr_in6` bytes of this address (a zone name cannot be encoded
    /// without the host's interfaces: only an index zone is kept).
    public var sockaddrBytes: [UInt8] {
        var raw = bk_addr(self)
        if case .v6(let a) = ip, case .index(let i)? = a.zone { raw.scope_id = i }
        var storage = sockaddr_storage()
        let n = bk_sockaddr_encode(&raw, &storage)
        return withUnsafeBytes(of: &storage) { Array($0.prefix(Int(max(0, n)))) }
    }
}
