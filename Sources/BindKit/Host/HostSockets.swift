import SystemPackage

/// A socket of the host holding a port, as the kernel's socket diagnostics (`NETLINK_SOCK_DIAG`,
/// what `ss` reads) or, where those are missing, `/proc/net/{tcp,tcp6,udp,udp6}` list it. What the
/// source does not tell is nil: `/proc/net` has no cookie, device, IPV6_V6ONLY or
/// IP_FREEBIND / IP_TRANSPARENT, and neither source has SO_REUSEADDR or SO_REUSEPORT (a holder's
/// own descriptor tells those: ``HolderOptions``).
public struct HostSocket: Hashable, Sendable, Codable {
    public enum State: String, Sendable, Codable {
        case listening
        case timeWait = "time-wait"
        /// Connected (TCP ESTABLISHED, or a UDP socket with a peer).
        case established
        /// Bound and nothing more: a UDP socket without a peer, a TCP socket bound but not
        /// listening (TCP_CLOSE with a port).
        case bound
        /// Any other TCP state (SYN_SENT, SYN_RECV, FIN_WAIT1, …).
        case other
    }

    /// Where the socket was read.
    public enum Source: String, Sendable, Codable {
        case sockDiag = "sock_diag"
        case procNet = "/proc/net"
    }

    public var transport: Transport
    public var family: AddressFamily
    public var local: SocketAddress
    public var state: State
    /// `sk_uid`: the effective uid that created the socket (not who holds it now), as the
    /// reader's user namespace maps it.
    public var uid: UInt32
    /// The socket's inode (`socket:[N]` in /proc/PID/fd); 0 for a TIME_WAIT entry or a request
    /// socket, which no process holds.
    public var inode: UInt64
    /// The peer of a connected socket; nil when it has none.
    public var remote: SocketAddress?
    /// The kernel's state number (`TCP_LISTEN`, …; a UDP socket is ESTABLISHED with a peer,
    /// CLOSE without), as `idiag_state` or the `st` column report it.
    public var kernelState: TCPState
    /// The socket cookie (`SO_COOKIE`), unique for the boot; nil from /proc/net.
    public var cookie: UInt64?
    /// `sk_bound_dev_if`: the SO_BINDTODEVICE interface, or the scope of a link-local bind;
    /// 0 for none; nil from /proc/net.
    public var interfaceIndex: UInt32?
    /// `INET_DIAG_SKV6ONLY`: IPV6_V6ONLY, which the kernel reports for an inet6 socket that
    /// listens or is only bound; nil otherwise (and from /proc/net).
    public var v6only: Bool?
    /// IP_FREEBIND / IPV6_FREEBIND from `INET_DIAG_SOCKOPT` (Linux 5.10+); nil where not reported.
    public var freebind: Bool?
    /// IP_TRANSPARENT / IPV6_TRANSPARENT from `INET_DIAG_SOCKOPT`; nil where not reported.
    public var transparent: Bool?
    /// `INET_DIAG_CGROUP_ID`: the inode of the cgroup v2 directory the socket was created in
    /// (Linux 5.8+); nil where not reported.
    public var cgroupID: UInt64?
    public var source: Source

    public init(transport: Transport, family: AddressFamily, local: SocketAddress, state: State, uid: UInt32, inode: UInt64) {
        self.transport = transport
        self.family = family
        self.local = local
        self.state = state
        self.uid = uid
        self.inode = inode
        self.kernelState = Self.defaultKernelState(state)
        self.source = .procNet
    }

    /// Every field, as the diagnostics give them.
    public init(
        transport: Transport, family: AddressFamily, local: SocketAddress, remote: SocketAddress?, kernelState: TCPState,
        uid: UInt32, inode: UInt64, cookie: UInt64?, interfaceIndex: UInt32?, v6only: Bool?, freebind: Bool?,
        transparent: Bool?, cgroupID: UInt64?, source: Source, timeWaitTimer: Bool = false
    ) {
        self.transport = transport
        self.family = family
        self.local = local
        self.remote = remote
        self.kernelState = kernelState
        self.state = Self.state(kernelState, transport: transport, timeWaitTimer: timeWaitTimer)
        self.uid = uid
        self.inode = inode
        self.cookie = cookie
        self.interfaceIndex = interfaceIndex
        self.v6only = v6only
        self.freebind = freebind
        self.transparent = transparent
        self.cgroupID = cgroupID
        self.source = source
    }

    /// Whether the socket holds its local port for bind(): every socket but a TCP request socket
    /// (SYN_RECV), which lives in the listener's queue and in no bind bucket.
    public var holdsPort: Bool { !(transport == .tcp && kernelState == .synReceived && inode == 0) }

    /// The model's state for a kernel state number. A TIME_WAIT bucket may report a substate
    /// (FIN_WAIT2 for an orphan); its timer tells it apart.
    static func state(_ k: TCPState, transport: Transport, timeWaitTimer: Bool) -> State {
        if transport == .tcp && (k == .timeWait || timeWaitTimer) { return .timeWait }
        switch k {
        case .listen where transport == .tcp: return .listening
        case .established: return .established
        // An unconnected UDP socket is TCP_CLOSE too, as is a TCP socket bound but not listening.
        case .close: return .bound
        default: return .other
        }
    }

    private static func defaultKernelState(_ s: State) -> TCPState {
        switch s {
        case .listening: .listen
        case .timeWait: .timeWait
        case .established: .established
        case .bound: .close
        case .other: TCPState(rawValue: 0)
        }
    }

    /// The sockets of the calling thread's network namespace that hold a local port, from
    /// `/proc/thread-self/net` only (see ``list(_:ports:)`` for the kernel's own view).
    public static func current() -> [HostSocket] {
        var all: [HostSocket] = []
        for transport in [Transport.tcp, .udp] {
            if case .success(let s) = procNet(transport) { all += s }
        }
        return all
    }

    /// The tables of `transport` under `/proc/thread-self/net` (which follows this thread's
    /// network namespace), both families; the errno of the IPv4 table when it cannot be read (a
    /// missing IPv6 table means IPv6 is off).
    static func procNet(_ transport: Transport) -> Result<[HostSocket], Errno> {
        var all: [HostSocket] = []
        for family in [AddressFamily.inet, .inet6] {
            let file = (transport == .tcp ? "tcp" : "udp") + (family == .inet6 ? "6" : "")
            // A line is 150 bytes: 1 GiB is 7 million sockets.
            switch Sysctl.readFile("/proc/thread-self/net/" + file, maximum: 1 << 30) {
            case .success(let bytes): all += parse(String(decoding: bytes, as: UTF8.self), transport: transport, family: family)
            case .failure(let e) where family == .inet: return .failure(e)
            case .failure: break
            }
        }
        return .success(all)
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
            let kernelState = TCPState(rawValue: stateCode)
            var s = HostSocket(
                transport: transport, family: family, local: SocketAddress(ip: ip, port: port),
                state: state(kernelState, transport: transport, timeWaitTimer: false), uid: uid, inode: inode)
            s.kernelState = kernelState
            let peer = f[2].split(separator: ":")
            if peer.count == 2, let rport = UInt16(peer[1], radix: 16), rport != 0, let rip = decodeHex(peer[0], family: family) {
                s.remote = SocketAddress(ip: rip, port: rport)
            }
            out.append(s)
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

extension TCPState: Codable {}
