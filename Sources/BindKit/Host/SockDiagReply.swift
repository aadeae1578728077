import CBindShim
import SystemPackage

/// Why a sock_diag dump has no answer.
public enum SockDiagError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kernel refused (its NLMSG_ERROR, the error of NLMSG_DONE) or a system call failed:
    /// ENOENT when no module handles the family or transport, EINVAL for a filter it does not
    /// know, EPROTONOSUPPORT / EAFNOSUPPORT without NETLINK_SOCK_DIAG.
    case kernel(Errno)
    /// A reply that does not parse: the byte offset in its datagram and what is wrong there.
    case malformed(offset: Int, String)

    public var description: String {
        switch self {
        case .kernel(let e): "sock_diag: \(e.name)"
        case .malformed(let offset, let what): "sock_diag: malformed reply at byte \(offset): \(what)"
        }
    }
}

/// The reply datagrams of a sock_diag dump (`inet_diag_msg` and its attributes in netlink
/// messages), parsed in Swift over plain bytes: nothing a datagram holds can make it read outside
/// the buffer or trap.
public enum SockDiagReply {
    /// Whether the dump has more datagrams to come.
    public enum Progress: Hashable, Sendable {
        case more
        /// NLMSG_DONE was seen.
        case done
    }

    /// Parses one datagram of a dump of `transport`, appending a socket for each message of the
    /// dump `sequence` that holds a local port (messages of other sequences, NLMSG_NOOP and
    /// unknown types are skipped). An NLMSG_ERROR or a failed NLMSG_DONE is the kernel's errno.
    public static func parse(
        _ buffer: UnsafeRawBufferPointer, sequence: UInt32, transport: Transport, into sockets: inout [HostSocket]
    ) -> Result<Progress, SockDiagError> {
        let bytes = ByteReader(buffer)
        let header = Int(BK_NLMSG_HDRLEN)
        var offset = 0
        while offset + header <= buffer.count {
            let length = Int(bytes.u32(offset))
            let type = Int32(bytes.u16(offset + 4))
            let seq = bytes.u32(offset + 8)
            guard length >= header, length <= buffer.count - offset else {
                return .failure(.malformed(offset: offset, "message length \(length) with \(buffer.count - offset) bytes left"))
            }
            let payload = offset + header
            let payloadLength = length - header
            if seq == sequence {
                switch type {
                case BK_NLMSG_DONE:
                    // The dump's end; a negative value is the errno that cut it short.
                    if payloadLength >= 4, case let e = Int32(bitPattern: bytes.u32(payload)), e < 0 {
                        return .failure(.kernel(Errno(rawValue: e == Int32.min ? Int32.max : -e)))
                    }
                    return .success(.done)
                case BK_NLMSG_ERROR:
                    guard payloadLength >= 4 else { return .failure(.malformed(offset: offset, "NLMSG_ERROR without its errno")) }
                    let e = Int32(bitPattern: bytes.u32(payload))
                    guard e < 0 else { return .failure(.malformed(offset: offset, "NLMSG_ERROR \(e) in a dump")) }
                    return .failure(.kernel(Errno(rawValue: e == Int32.min ? Int32.max : -e)))
                case BK_SOCK_DIAG_BY_FAMILY, BK_TCPDIAG_GETSOCK:
                    switch message(bytes, at: payload, length: payloadLength, transport: transport) {
                    case .success(let s?): sockets.append(s)
                    case .success(nil): break
                    case .failure(let e): return .failure(e)
                    }
                default:
                    break
                }
            }
            // Messages are 4-byte aligned; the last one may end the datagram unpadded.
            offset += (length + 3) & ~3
        }
        return .success(.more)
    }

    /// Parses one datagram given as an array (for tests and the fuzz target).
    public static func parse(_ bytes: [UInt8], sequence: UInt32, transport: Transport) -> Result<
        (sockets: [HostSocket], progress: Progress), SockDiagError
    > {
        var sockets: [HostSocket] = []
        return bytes.withUnsafeBytes { parse($0, sequence: sequence, transport: transport, into: &sockets) }.map { (sockets, $0) }
    }

    /// One `inet_diag_msg` at `start` of `length` bytes, and its attributes; nil for a socket on
    /// port 0.
    static func message(_ b: ByteReader, at start: Int, length: Int, transport: Transport) -> Result<HostSocket?, SockDiagError> {
        let fixed = Int(BK_INET_DIAG_MSG_LEN)
        guard length >= fixed else { return .failure(.malformed(offset: start, "inet_diag_msg of \(length) bytes")) }
        let family: AddressFamily
        switch Int32(b.u8(start + Int(BK_IDIAG_FAMILY))) {
        case AddressFamily.inet.cValue: family = .inet
        case AddressFamily.inet6.cValue: family = .inet6
        case let f: return .failure(.malformed(offset: start, "address family \(f)"))
        }
        let ifindex = b.u32(start + Int(BK_IDIAG_IF))
        let localPort = UInt16(bigEndian: b.u16(start + Int(BK_IDIAG_SPORT)))
        let remotePort = UInt16(bigEndian: b.u16(start + Int(BK_IDIAG_DPORT)))
        let local = address(b, at: start + Int(BK_IDIAG_SRC), family: family, port: localPort, ifindex: ifindex)
        let remote = address(b, at: start + Int(BK_IDIAG_DST), family: family, port: remotePort, ifindex: ifindex)
        var v6only: Bool?
        var sockopt: UInt16?
        var cgroup: UInt64?
        var offset = start + fixed
        let end = start + length
        while offset + 4 <= end {
            let attrLength = Int(b.u16(offset))
            let type = Int32(b.u16(offset + 2)) & BK_NLA_TYPE_MASK
            guard attrLength >= 4, attrLength <= end - offset else {
                return .failure(.malformed(offset: offset, "attribute length \(attrLength) with \(end - offset) bytes left"))
            }
            let value = offset + 4
            let valueLength = attrLength - 4
            switch type {
            case BK_INET_DIAG_SKV6ONLY where valueLength >= 1: v6only = b.u8(value) != 0
            case BK_INET_DIAG_SOCKOPT where valueLength >= 2: sockopt = UInt16(b.u8(value)) | UInt16(b.u8(value + 1)) << 8
            case BK_INET_DIAG_CGROUP_ID where valueLength >= 8: cgroup = b.u64(value)
            default: break
            }
            offset += (attrLength + 3) & ~3
        }
        guard localPort != 0 else { return .success(nil) }
        let cookie = UInt64(b.u32(start + Int(BK_IDIAG_COOKIE))) | UInt64(b.u32(start + Int(BK_IDIAG_COOKIE) + 4)) << 32
        return .success(
            HostSocket(
                transport: transport, family: family, local: local, remote: remotePort == 0 && isZero(remote.ip) ? nil : remote,
                kernelState: TCPState(rawValue: b.u8(start + Int(BK_IDIAG_STATE))), uid: b.u32(start + Int(BK_IDIAG_UID)),
                inode: UInt64(b.u32(start + Int(BK_IDIAG_INODE))), cookie: cookie, interfaceIndex: ifindex, v6only: v6only,
                freebind: sockopt.map { $0 & UInt16(BK_DIAG_SOCKOPT_FREEBIND) != 0 },
                transparent: sockopt.map { $0 & UInt16(BK_DIAG_SOCKOPT_TRANSPARENT) != 0 }, cgroupID: cgroup, source: .sockDiag,
                timeWaitTimer: Int32(b.u8(start + Int(BK_IDIAG_TIMER))) == BK_IDIAG_TIMER_TIME_WAIT))
    }

    /// The 16 address bytes at `at` (IPv4 in the first 4); a link-local IPv6 address takes the
    /// socket's interface as its zone, as the bind that made it gave it.
    private static func address(_ b: ByteReader, at: Int, family: AddressFamily, port: UInt16, ifindex: UInt32) -> SocketAddress {
        if family == .inet {
            return SocketAddress(ip: .v4(IPv4Address(rawValue: UInt32(bigEndian: b.u32(at)))), port: port)
        }
        var a = IPv6Address(high: UInt64(bigEndian: b.u64(at)), low: UInt64(bigEndian: b.u64(at + 8)), zone: nil)
        if a.isLinkLocal && ifindex != 0 { a.zone = .index(ifindex) }
        return SocketAddress(ip: .v6(a), port: port)
    }

    private static func isZero(_ ip: IPAddress) -> Bool {
        switch ip {
        case .v4(let a): a.rawValue == 0
        case .v6(let a): a.isUnspecified
        }
    }
}

/// Loads from a buffer in host byte order (netlink's), at any alignment. Every caller checks that
/// `offset + size <= count` first; a load past the end reads zero instead of trapping.
struct ByteReader {
    let buffer: UnsafeRawBufferPointer
    init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    @inline(__always) private func load<T: FixedWidthInteger>(_ offset: Int, as: T.Type) -> T {
        guard offset >= 0, offset <= buffer.count - MemoryLayout<T>.size else { return 0 }
        return buffer.loadUnaligned(fromByteOffset: offset, as: T.self)
    }

    func u8(_ offset: Int) -> UInt8 { load(offset, as: UInt8.self) }
    func u16(_ offset: Int) -> UInt16 { load(offset, as: UInt16.self) }
    func u32(_ offset: Int) -> UInt32 { load(offset, as: UInt32.self) }
    func u64(_ offset: Int) -> UInt64 { load(offset, as: UInt64.self) }
}
