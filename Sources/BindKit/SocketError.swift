import SystemPackage

/// A failed socket operation: the `Errno`, the operation (and the option it was about), the
/// address, and one line a person can act on.
public struct SocketError: Error, Sendable, Equatable, CustomStringConvertible {
    public let errno: Errno
    /// The C call: `bind`, `listen`, `setsockopt`, …
    public let operation: String
    /// What the call was about, when it takes an option: `SO_REUSEADDR` for `setsockopt` or
    /// `getsockopt`, `O_NONBLOCK` for `fcntl`; nil for the other calls.
    public let option: String?
    public let address: SocketAddress?
    /// Why this errno happens for this operation on Linux, and what would change it (built when
    /// read: most failures are only counted, never shown).
    public var explanation: String { SocketError.explain(errno, operation: operation, address: address) }

    public init(errno: Errno, operation: String, option: String? = nil, address: SocketAddress? = nil) {
        self.errno = errno
        self.operation = operation
        self.option = option
        self.address = address
    }

    /// The errno's symbolic name, e.g. `EADDRINUSE`.
    public var errnoName: String { errno.name }

    /// `setsockopt(SO_REUSEADDR): EINVAL: …`, `bind(127.0.0.1:80): EACCES: …`.
    public var description: String {
        let about = option.map { "(\($0))" } ?? ""
        let target = address.map { "(\($0))" } ?? ""
        return "\(operation)\(about)\(target): \(errnoName): \(explanation)"
    }

    static func explain(_ errno: Errno, operation: String, address: SocketAddress?) -> String {
        switch (operation, errno) {
        case ("bind", .addressInUse):
            return
                "another socket already holds this address and port for this transport; SO_REUSEADDR on both (and the holder not listening) or SO_REUSEPORT on both (same user) would share it (`bindcheck explain` names the holder)"
        case ("bind", .addressNotAvailable):
            var text = "the address is not one of this host's addresses"
            if case .v4? = address?.ip { text += "; bind 0.0.0.0 for every interface or 127.0.0.1 for this host only" }
            if case .v6? = address?.ip { text += "; bind [::] for every interface or [::1] for this host only" }
            return text + ", or set IP_FREEBIND / net.ipv4.ip_nonlocal_bind to bind it before it exists"
        case ("bind", .permissionDenied):
            return
                "ports below net.ipv4.ip_unprivileged_port_start (1024 by default) need CAP_NET_BIND_SERVICE; use a higher port, grant the capability, or lower the sysctl"
        case ("bind", .invalidArgument):
            return
                "the socket is already bound, or the address does not suit it (a v4-mapped address on an IPV6_V6ONLY socket, a link-local address without a scope, a multicast address on TCP, or a short address)"
        case ("bind", .addressFamilyNotSupported):
            return "the address's family is not the socket's (an IPv6 address on an IPv4 socket)"
        case ("bind", .operationNotSupportedByDevice):
            return "the scope id or device names no interface of this host"
        case ("listen", .addressInUse):
            return
                "another socket is already listening on this address and port; SO_REUSEADDR lets both bind but only one listen, SO_REUSEPORT on both (same user) lets both listen"
        case ("listen", .notSupported):
            return "only stream sockets (TCP) listen"
        case ("connect", .connectionRefused):
            return "nothing listens on that address and port"
        case ("connect", .timedOut):
            return "no answer within the timeout"
        case ("connect", .addressNotAvailable):
            return
                "no local port is free for the connection (the ephemeral range is exhausted), or the address cannot be used as a destination"
        case ("setsockopt", .operationNotSupportedByDevice):
            return "there is no interface with that name"
        case ("setsockopt", .notPermitted):
            return
                "this option needs a capability the process does not hold (CAP_NET_RAW for SO_BINDTODEVICE, CAP_NET_ADMIN for IP_TRANSPARENT)"
        case ("setsockopt", .invalidArgument):
            return "the value is outside what the kernel accepts for this option"
        case ("setsockopt", .protocolNotAvailable), ("getsockopt", .protocolNotAvailable):
            return "this option does not exist at that level for this socket's family or transport"
        case ("socket", .addressFamilyNotSupported):
            return "this kernel has no such address family (IPv6 disabled?)"
        case ("socket", .tooManyOpenFiles), ("accept", .tooManyOpenFiles):
            return "the process has no descriptor left (ulimit -n)"
        default:
            return errno.description
        }
    }
}

extension SocketError {
    /// For a failed `bind` (or `listen`) of `transport`: this error's line followed by who is on
    /// the address now, read from the live namespace (`host`, or the calling thread's):
    /// `bind(0.0.0.0:8080): EADDRINUSE: held by nginx (pid 812, user root, nginx.service),
    /// listening on [::]:8080 with IPV6_V6ONLY off, SO_REUSEADDR off, SO_REUSEPORT off`. It names
    /// the holders without the model (``PortHolders``); BindConformance's
    /// `SocketError.liveExplanation(transport:request:)` adds the model's verdict, its reason and
    /// what would change it. Errors of other calls, or without an address, give ``description``.
    /// The corresponding C functions are those of ``LiveHost/inspect(_:ports:readOptions:)``.
    public func explainLive(transport: Transport, in host: LiveHost? = nil) -> String {
        guard operation == "bind" || operation == "listen", let address,
            errno == .addressInUse || errno == .invalidArgument && operation == "listen"
        else { return description }
        let head = "\(address): \(errnoName)"
        do {
            let holders = try PortHolders(of: address, transport: transport, in: host)
            return head + ": " + holders.text
        } catch {
            return head + ": \(explanation) (the holders cannot be read: \(error))"
        }
    }
}
