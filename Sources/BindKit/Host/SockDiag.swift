import CBindShim
import SystemPackage

/// A `NETLINK_SOCK_DIAG` socket: the host's TCP and UDP sockets of both families, in every state,
/// as the kernel sees them (what `ss` reads), optionally filtered by local port in the kernel.
///
/// It sees the network namespace of the thread that opened it, from whatever thread it is used.
/// One dump runs at a time (the kernel allows no more per socket): calls from several threads
/// wait for each other.
public final class SockDiag: @unchecked Sendable {
    private let state: Locked<State>

    private struct State {
        let fd: Int32
        /// One reply datagram: the kernel fills at most 32 KiB per dump datagram.
        let buffer: UnsafeMutableRawBufferPointer
        var sequence: UInt32 = 0
        /// S_EQ was refused (Linux < 4.16): filters use S_GE and S_LE.
        var rangeFilters = false
        /// The compat request was refused: TCP takes a request per family.
        var noCompat = false
    }

    /// Opens a socket in the calling thread's network namespace. The corresponding C function is
    /// socket(2) with AF_NETLINK, SOCK_DGRAM and NETLINK_SOCK_DIAG.
    public convenience init() throws(Errno) { try self.init(rangeFilters: false) }

    /// With `rangeFilters`, port filters use S_GE and S_LE from the start, as on Linux < 4.16.
    init(rangeFilters: Bool) throws(Errno) {
        let fd = try shimResult(bk_diag_open()).get()
        state = Locked(State(fd: fd, buffer: .allocate(byteCount: 65536, alignment: 8), rangeFilters: rangeFilters))
    }

    deinit {
        state.withLock {
            _ = bk_close($0.fd)
            $0.buffer.deallocate()
        }
    }

    /// Whether this kernel dumps TCP sockets bound but not listening (the TCP_BOUND_INACTIVE
    /// request bit, Linux 6.8); an older one ignores the bit and lists none of them.
    public static var dumpsBoundOnlyTCP: Bool { KernelRelease.current.isAtLeast(6, 8) }

    /// The sockets of `transport` (of `family`, or both), in every state, whose local port is one
    /// of `ports` (nil: every socket). The filter runs in the kernel (bytecode, as
    /// `ss 'sport = :P'`), so the cost does not grow with the sockets on other ports.
    /// The corresponding C functions are sendto(2) and recvmsg(2) of SOCK_DIAG_BY_FAMILY requests
    /// (TCP of both families in one TCPDIAG_GETSOCK request).
    public func sockets(_ transport: Transport, family: AddressFamily? = nil, ports: [UInt16]? = nil) throws(SockDiagError)
        -> [HostSocket]
    {
        try _sockets(transport, family: family, ports: ports).get()
    }

    func _sockets(_ transport: Transport, family: AddressFamily?, ports: [UInt16]?) -> Result<[HostSocket], SockDiagError> {
        let wanted = ports.map { Array(Set($0)).sorted() }
        if let wanted, wanted.isEmpty { return .success([]) }
        return state.withLock { s -> Result<[HostSocket], SockDiagError> in
            var out: [HostSocket] = []
            // More ports than a filter holds take a request per slice.
            let slices: [[UInt16]?] =
                wanted.map { w in
                    stride(from: 0, to: w.count, by: Int(BK_DIAG_MAX_PORTS)).map {
                        Array(w[$0..<min($0 + Int(BK_DIAG_MAX_PORTS), w.count)])
                    }
                } ?? [nil]
            for slice in slices {
                if case .failure(let e) = Self.dump(&s, transport, family: family, ports: slice, into: &out) { return .failure(e) }
            }
            if let wanted {
                let keep = Set(wanted)
                out.removeAll { !keep.contains($0.local.port) }
            }
            return .success(out)
        }
    }

    /// One transport's requests: TCP of both families in one compat request where the kernel
    /// takes it, else (and for UDP) one request per family.
    private static func dump(
        _ s: inout State, _ transport: Transport, family: AddressFamily?, ports: [UInt16]?, into out: inout [HostSocket]
    ) -> Result<Void, SockDiagError> {
        let proto: UInt8 = transport == .tcp ? 6 : 17
        if transport == .tcp && family == nil && !s.noCompat {
            var got: [HostSocket] = []
            switch request(&s, family: 0, protocol: proto, transport: transport, ports: ports, into: &got) {
            case .success:
                out += got
                return .success(())
            case .failure(.kernel(let e)) where e == .noSuchFileOrDirectory || e == .invalidArgument || e == .notSupported:
                s.noCompat = true
            case .failure(let e):
                return .failure(e)
            }
        }
        for f in family.map({ [$0] }) ?? [.inet, .inet6] {
            if case .failure(let e) = request(&s, family: UInt8(f.cValue), protocol: proto, transport: transport, ports: ports, into: &out)
            {
                // A kernel without IPv6 has no inet6 sockets to list.
                if f == .inet6 && family == nil, case .kernel(.noSuchFileOrDirectory) = e { continue }
                return .failure(e)
            }
        }
        return .success(())
    }

    /// Sends one request and reads its replies to NLMSG_DONE. A filter the kernel refuses with
    /// S_EQ (before Linux 4.16) is sent again with S_GE and S_LE.
    private static func request(
        _ s: inout State, family: UInt8, protocol proto: UInt8, transport: Transport, ports: [UInt16]?, into out: inout [HostSocket]
    ) -> Result<Void, SockDiagError> {
        var got: [HostSocket] = []
        let r = exchange(&s, family: family, protocol: proto, transport: transport, ports: ports, into: &got)
        if case .failure(.kernel(.invalidArgument)) = r, ports != nil, !s.rangeFilters {
            s.rangeFilters = true
            got = []
            return exchange(&s, family: family, protocol: proto, transport: transport, ports: ports, into: &out)
        }
        if case .success = r { out += got }
        return r
    }

    private static func exchange(
        _ s: inout State, family: UInt8, protocol proto: UInt8, transport: Transport, ports: [UInt16]?, into out: inout [HostSocket]
    ) -> Result<Void, SockDiagError> {
        var bytecode = [UInt8](repeating: 0, count: Int(BK_DIAG_MAX_PORTS) * 20)
        var bclen: Int32 = 0
        if let ports {
            bclen = bytecode.withUnsafeMutableBufferPointer { b in
                ports.withUnsafeBufferPointer {
                    bk_diag_bytecode($0.baseAddress, Int32($0.count), s.rangeFilters ? 1 : 0, b.baseAddress, b.count)
                }
            }
            if bclen < 0 { return .failure(.kernel(Errno(rawValue: -bclen))) }
        }
        s.sequence &+= 1
        let seq = s.sequence
        var request = [UInt8](repeating: 0, count: 128 + bytecode.count)
        let rlen = request.withUnsafeMutableBufferPointer { r in
            bytecode.withUnsafeBufferPointer {
                bk_diag_request(r.baseAddress, r.count, seq, family, proto, BK_DIAG_ALL_STATES, $0.baseAddress, Int(bclen))
            }
        }
        if rlen < 0 { return .failure(.kernel(Errno(rawValue: -rlen))) }
        let fd = s.fd
        if case .failure(let e) = shimVoid(request.withUnsafeBufferPointer { bk_diag_send(fd, $0.baseAddress, Int(rlen)) }) {
            return .failure(.kernel(e))
        }
        let buffer = s.buffer
        while true {
            let n = bk_diag_recv(fd, buffer.baseAddress?.assumingMemoryBound(to: UInt8.self), buffer.count)
            if n < 0 { return .failure(.kernel(Errno(rawValue: Int32(clamping: -n)))) }
            if n == 0 { return .failure(.malformed(offset: 0, "empty datagram")) }
            switch SockDiagReply.parse(
                UnsafeRawBufferPointer(rebasing: buffer[0..<Int(n)]), sequence: seq, transport: transport, into: &out)
            {
            case .failure(let e): return .failure(e)
            case .success(.done): return .success(())
            case .success(.more): continue
            }
        }
    }
}

/// The running kernel's release, as uname(2) gives it (`6.18.44-fc-v857`).
struct KernelRelease {
    var major = 0
    var minor = 0

    static let current = KernelRelease(HostFacts.kernelRelease())

    init(_ text: String) {
        let numbers = text.split(whereSeparator: { !$0.isNumber }).prefix(2).map { Int($0) ?? 0 }
        major = numbers.first ?? 0
        minor = numbers.count > 1 ? numbers[1] : 0
    }

    func isAtLeast(_ major: Int, _ minor: Int) -> Bool { (self.major, self.minor) >= (major, minor) }
}
