import SystemPackage

/// The host's sockets of one question (transports, ports), and what the listing cannot show.
public struct SocketListing: Hashable, Sendable {
    public var sockets: [HostSocket]
    /// What is missing from `sockets`, and why; empty when the kernel told everything it can.
    public var notes: [ListingNote]

    public init(sockets: [HostSocket], notes: [ListingNote]) {
        self.sockets = sockets
        self.notes = notes
    }

    /// Every fact a note says is unknown for `transport`.
    public func lost(for transport: Transport) -> Set<ListingNote.Lost> {
        Set(notes.filter { $0.transport == transport }.flatMap(\.lost))
    }
}

/// Something a socket listing cannot show.
public enum ListingNote: Hashable, Sendable, CustomStringConvertible {
    /// The kernel's socket diagnostics could not be used for `transport` (the errno says why:
    /// EPROTONOSUPPORT without NETLINK_SOCK_DIAG, ENOENT without the tcp_diag / udp_diag module),
    /// so the listing comes from /proc/net.
    case procNetFallback(transport: Transport, errno: Errno)
    /// The kernel (before Linux 6.8) does not dump TCP sockets that are bound but not listening.
    case boundOnlyTCPNotDumped(kernel: String)
    /// Neither source could be read for `transport`.
    case unreadable(transport: Transport, errno: Errno)

    /// A fact the note makes unknown.
    public enum Lost: String, Hashable, Sendable, Codable, CaseIterable {
        /// TCP sockets bound but not listening: they are not listed at all.
        case boundOnlyTCPSockets = "bound-only TCP sockets"
        /// Every socket of the transport: nothing is listed.
        case allSockets = "every socket"
        /// SO_BINDTODEVICE (`idiag_if`).
        case device
        /// IPV6_V6ONLY (`INET_DIAG_SKV6ONLY`).
        case v6only = "IPV6_V6ONLY"
        /// IP_FREEBIND and IP_TRANSPARENT (`INET_DIAG_SOCKOPT`).
        case freebindTransparent = "IP_FREEBIND/IP_TRANSPARENT"
        /// The socket cookie, which ties a descriptor to the listed socket.
        case cookie
    }

    public var transport: Transport {
        switch self {
        case .procNetFallback(let t, _), .unreadable(let t, _): t
        case .boundOnlyTCPNotDumped: .tcp
        }
    }

    /// What is unknown because of this note.
    public var lost: [Lost] {
        switch self {
        case .procNetFallback(let t, _): (t == .tcp ? [.boundOnlyTCPSockets] : []) + [.device, .v6only, .freebindTransparent, .cookie]
        case .boundOnlyTCPNotDumped: [.boundOnlyTCPSockets]
        case .unreadable: [.allSockets]
        }
    }

    public var description: String {
        switch self {
        case .procNetFallback(let t, let e):
            "\(t) sockets read from /proc/net (sock_diag: \(e.name)), which lacks \(lost.map(\.rawValue).joined(separator: ", "))"
        case .boundOnlyTCPNotDumped(let k):
            "Linux \(k) does not dump TCP sockets bound but not listening (Linux 6.8 does): such a holder is not seen"
        case .unreadable(let t, let e): "\(t) sockets cannot be read: \(e.name)"
        }
    }
}

extension HostSocket {
    /// The sockets of `transports` in the calling thread's network namespace whose local port is
    /// one of `ports` (nil: all): through sock_diag (``SockDiag``), or from /proc/net where that
    /// fails, with a note of what is then missing.
    public static func list(_ transports: [Transport] = [.tcp, .udp], ports: [UInt16]? = nil) -> SocketListing {
        let diag = Result { () throws(Errno) in try SockDiag() }
        return list(transports, ports: ports, diag: diag, procNet: { procNet($0) })
    }

    /// The listing through `diag` (or the errno that kept it from opening), falling back per
    /// transport to `procNet`, which reads /proc/net in the right namespace.
    static func list(
        _ transports: [Transport], ports: [UInt16]?, diag: Result<SockDiag, Errno>,
        procNet: (Transport) -> Result<[HostSocket], Errno>
    ) -> SocketListing {
        var sockets: [HostSocket] = []
        var notes: [ListingNote] = []
        for t in transports {
            let viaDiag = diag.mapError(SockDiagError.kernel).flatMap { $0._sockets(t, family: nil, ports: ports) }
            switch viaDiag {
            case .success(let s):
                sockets += s
                if t == .tcp && !SockDiag.dumpsBoundOnlyTCP { notes.append(.boundOnlyTCPNotDumped(kernel: HostFacts.kernelRelease())) }
            case .failure(let e):
                let why: Errno
                if case .kernel(let k) = e { why = k } else { why = .badMessage }
                switch procNet(t) {
                case .success(let s):
                    sockets += ports.map { p in s.filter { p.contains($0.local.port) } } ?? s
                    notes.append(.procNetFallback(transport: t, errno: why))
                case .failure(let pe):
                    notes.append(.unreadable(transport: t, errno: pe))
                }
            }
        }
        return SocketListing(sockets: sockets, notes: notes)
    }
}
