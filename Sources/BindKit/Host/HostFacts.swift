import CBindShim
import Foundation
import SystemPackage

/// One address of an interface.
public struct InterfaceAddress: Hashable, Sendable, Codable {
    public var ip: IPAddress
    public var prefixLength: Int
    public init(ip: IPAddress, prefixLength: Int) {
        self.ip = ip
        self.prefixLength = prefixLength
    }
}

/// A network interface of a namespace and its addresses.
public struct Interface: Hashable, Sendable, Codable {
    public var name: String
    public var index: UInt32
    public var isUp: Bool
    public var isLoopback: Bool
    public var addresses: [InterfaceAddress]
    public init(name: String, index: UInt32, isUp: Bool, isLoopback: Bool, addresses: [InterfaceAddress]) {
        self.name = name
        self.index = index
        self.isUp = isUp
        self.isLoopback = isLoopback
        self.addresses = addresses
    }

    /// The interfaces of the calling thread's network namespace, sorted by index.
    public static func current() throws(SocketError) -> [Interface] {
        var capacity = 64
        var entries: [bk_ifaddr] = []
        while true {
            entries = [bk_ifaddr](repeating: bk_ifaddr(), count: capacity)
            let n = bk_interfaces(&entries, Int32(capacity))
            if n < 0 { throw SocketError(errno: Errno(rawValue: -n), operation: "getifaddrs") }
            if Int(n) <= capacity {
                entries.removeSubrange(Int(n)...)
                break
            }
            capacity = Int(n)
        }
        var byName: [String: Interface] = [:]
        for e in entries {
            let name = withUnsafeBytes(of: e.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            var iface =
                byName[name]
                ?? Interface(
                    name: name, index: e.index, isUp: e.flags & UInt32(BK_IFF_UP) != 0,
                    isLoopback: e.flags & UInt32(BK_IFF_LOOPBACK) != 0, addresses: [])
            let bytes = withUnsafeBytes(of: e.addr) { Array($0) }
            if e.family == AddressFamily.inet.cValue, let a = IPv4Address(bytes: bytes.prefix(4)) {
                iface.addresses.append(InterfaceAddress(ip: .v4(a), prefixLength: Int(e.prefix_len)))
            } else if e.family == AddressFamily.inet6.cValue, var a = IPv6Address(bytes: bytes) {
                if a.isLinkLocal { a.zone = .name(name) }
                iface.addresses.append(InterfaceAddress(ip: .v6(a), prefixLength: Int(e.prefix_len)))
            }
            byName[name] = iface
        }
        return byName.values.sorted { $0.index < $1.index }
    }
}

/// The sysctls that decide bind(), as read from `/proc/sys` (of the calling thread's network namespace).
public struct BindSysctls: Hashable, Sendable, Codable {
    /// `net.ipv4.ip_unprivileged_port_start`: ports below it need CAP_NET_BIND_SERVICE (IPv6 too).
    public var unprivilegedPortStart: Int
    /// `net.ipv4.ip_nonlocal_bind`
    public var ipv4NonlocalBind: Bool
    /// `net.ipv6.ip_nonlocal_bind`
    public var ipv6NonlocalBind: Bool
    /// `net.ipv6.bindv6only`: the default of IPV6_V6ONLY (bit 0 of the value: the kernel copies it
    /// into a one-bit field).
    public var bindv6only: Bool
    /// `net.ipv4.ip_local_port_range`: where port 0 picks from.
    public var localPortRange: PortRange
    /// `net.ipv4.ip_autobind_reuse`
    public var autobindReuse: Bool

    public struct PortRange: Hashable, Sendable, Codable, CustomStringConvertible {
        public var low: UInt16
        public var high: UInt16
        public init(low: UInt16, high: UInt16) {
            self.low = low
            self.high = high
        }
        public var description: String { "\(low) \(high)" }
    }

    public init(
        unprivilegedPortStart: Int = 1024, ipv4NonlocalBind: Bool = false, ipv6NonlocalBind: Bool = false,
        bindv6only: Bool = false, localPortRange: PortRange = PortRange(low: 32768, high: 60999), autobindReuse: Bool = false
    ) {
        self.unprivilegedPortStart = unprivilegedPortStart
        self.ipv4NonlocalBind = ipv4NonlocalBind
        self.ipv6NonlocalBind = ipv6NonlocalBind
        self.bindv6only = bindv6only
        self.localPortRange = localPortRange
        self.autobindReuse = autobindReuse
    }

    /// The names this type reads, as written under /proc/sys with dots.
    public static let names = [
        "net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_nonlocal_bind", "net.ipv6.ip_nonlocal_bind",
        "net.ipv6.bindv6only", "net.ipv4.ip_local_port_range", "net.ipv4.ip_autobind_reuse",
    ]

    /// Reads them from `/proc/sys`.
    public static func current() throws -> BindSysctls {
        var values: [String: String] = [:]
        for name in names { values[name] = try Sysctl.read(name) }
        return try BindSysctls(values: values)
    }

    /// Builds from name → text (as in /proc/sys); a missing name keeps the kernel default.
    public init(values: [String: String]) throws {
        self.init()
        for (name, text) in values { try apply(name: name, value: text) }
    }

    /// Applies one sysctl as written to /proc/sys; names this type does not know are ignored
    /// (they do not change bind()).
    public mutating func apply(name: String, value text: String) throws {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
        func int(_ i: Int = 0) throws -> Int {
            guard i < fields.count, let v = Int(fields[i]) else { throw SysctlError.badValue(name: name, value: text) }
            return v
        }
        switch name {
        case "net.ipv4.ip_unprivileged_port_start": unprivilegedPortStart = try int()
        case "net.ipv4.ip_nonlocal_bind": ipv4NonlocalBind = try int() != 0
        case "net.ipv6.ip_nonlocal_bind": ipv6NonlocalBind = try int() != 0
        // inet6_create() copies it into the one-bit sk_ipv6only: only bit 0 counts (2 acts as 0).
        case "net.ipv6.bindv6only": bindv6only = try int() & 1 != 0
        case "net.ipv4.ip_autobind_reuse": autobindReuse = try int() != 0
        case "net.ipv4.ip_local_port_range":
            let lo = try int(0)
            let hi = try int(1)
            guard let l = UInt16(exactly: lo), let h = UInt16(exactly: hi) else { throw SysctlError.badValue(name: name, value: text) }
            localPortRange = PortRange(low: l, high: h)
        default: break
        }
    }
}

public enum SysctlError: Error, CustomStringConvertible, Equatable {
    case badName(String)
    case badValue(name: String, value: String)
    /// Opening, reading or writing its file under /proc/sys failed: ENOENT for a name this kernel
    /// (or this namespace) does not have, EACCES for one this process may not read or write,
    /// EINVAL for a value the kernel refuses, …
    case io(name: String, errno: Errno)
    public var description: String {
        switch self {
        case .badName(let n): "not a sysctl name: \(n)"
        case .badValue(let n, let v): "\(n): cannot read \"\(v)\""
        case .io(let n, let e): "\(n): \(e.name)"
        }
    }
}

/// Reads and writes `/proc/sys` entries by their dotted name. Writing is for private namespaces
/// only: BindKit never writes a sysctl of the host's own namespace.
public enum Sysctl {
    /// The most a value may hold (the largest under /proc/sys/net are a few KiB).
    public static let maximumSize = 1 << 20

    public static func path(_ name: String) throws(SysctlError) -> String {
        let ok =
            !name.isEmpty && !name.contains("..") && !name.contains("/")
            && name.unicodeScalars.allSatisfy {
                ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "_" || $0 == "." || $0 == "-"
            }
        guard ok else { throw .badName(name) }
        return "/proc/sys/" + name.replacingOccurrences(of: ".", with: "/")
    }

    /// Reads a value, without the spaces and newline around it. The corresponding C functions are
    /// open(2) and read(2).
    public static func read(_ name: String) throws(SysctlError) -> String {
        let p = try path(name)
        switch readFile(p) {
        case .success(let bytes): return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        case .failure(let e): throw .io(name: name, errno: e)
        }
    }

    /// Writes a value, in one write; used only inside network namespaces the caller created. The
    /// corresponding C functions are open(2) and write(2).
    public static func write(_ name: String, _ value: String) throws(SysctlError) {
        let p = try path(name)
        if case .failure(let e) = writeFile(p, value) { throw .io(name: name, errno: e) }
    }

    /// The whole file at `path` (EFBIG past `maximum` bytes): open(2) and read(2) until EOF, for
    /// /proc and /sys files whose size stat(2) does not know.
    public static func readFile(_ path: String, maximum: Int = maximumSize) -> Result<[UInt8], Errno> {
        var capacity = 4096
        while true {
            var buffer = [UInt8](repeating: 0, count: capacity)
            let n = buffer.withUnsafeMutableBytes { bk_read_file(path, $0.baseAddress, $0.count) }
            switch shimResult(n) {
            case .failure(let e): return .failure(e)
            case .success(let count) where count < capacity: return .success(Array(buffer.prefix(Int(count))))
            case .success:
                // Full: there may be more. Read again from the start into more room.
                guard capacity < maximum else { return .failure(.fileTooLarge) }
                capacity *= 4
            }
        }
    }

    static func writeFile(_ path: String, _ value: String) -> Result<Void, Errno> {
        var bytes = Array(value.utf8)
        return shimVoid(bytes.withUnsafeMutableBytes { bk_write_file(path, $0.baseAddress, $0.count) })
    }
}

/// The capability sets of a process or a file.
public struct CapabilitySets: Hashable, Sendable, Codable {
    public var effective: Set<Capability>
    public var permitted: Set<Capability>
    public var inheritable: Set<Capability>
    public var bounding: Set<Capability>
    public var ambient: Set<Capability>

    init(_ c: CapabilityMasks) {
        effective = Capability.set(fromMask: c.effective)
        permitted = Capability.set(fromMask: c.permitted)
        inheritable = Capability.set(fromMask: c.inheritable)
        bounding = Capability.set(fromMask: c.bounding)
        ambient = Capability.set(fromMask: c.ambient)
    }

    public init(
        effective: Set<Capability> = [], permitted: Set<Capability> = [], inheritable: Set<Capability> = [],
        bounding: Set<Capability> = [], ambient: Set<Capability> = []
    ) {
        self.effective = effective
        self.permitted = permitted
        self.inheritable = inheritable
        self.bounding = bounding
        self.ambient = ambient
    }

    enum CodingKeys: String, CodingKey { case effective, permitted, inheritable, bounding, ambient }

    // Sets are written sorted, so that reports are stable.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(effective.sorted(), forKey: .effective)
        try c.encode(permitted.sorted(), forKey: .permitted)
        try c.encode(inheritable.sorted(), forKey: .inheritable)
        try c.encode(bounding.sorted(), forKey: .bounding)
        try c.encode(ambient.sorted(), forKey: .ambient)
    }
}

/// Who the process is, for bind's privilege check.
public struct ProcessCredentials: Hashable, Sendable, Codable {
    public var uid: UInt32
    public var effectiveUID: UInt32
    public var capabilities: CapabilitySets
    /// False inside a user namespace (a rootless container): there capabilities count for
    /// network namespaces that user namespace owns.
    public var inInitialUserNamespace: Bool
    public var noNewPrivileges: Bool

    public init(uid: UInt32, effectiveUID: UInt32, capabilities: CapabilitySets, inInitialUserNamespace: Bool, noNewPrivileges: Bool) {
        self.uid = uid
        self.effectiveUID = effectiveUID
        self.capabilities = capabilities
        self.inInitialUserNamespace = inInitialUserNamespace
        self.noNewPrivileges = noNewPrivileges
    }

    /// The calling thread's. (Should /proc/self/uid_map or prctl fail, that part reads false.)
    public static func current() throws(Errno) -> ProcessCredentials {
        ProcessCredentials(
            uid: getuid(), effectiveUID: geteuid(), capabilities: try CapabilitySets.current(),
            inInitialUserNamespace: (try? ThreadCredentials.inInitialUserNamespace()) ?? false,
            noNewPrivileges: (try? ThreadCredentials.noNewPrivileges()) ?? false)
    }
}

/// Everything about a host (or a namespace) that decides bind(), read once.
public struct HostFacts: Hashable, Sendable, Codable {
    /// `uname -r`: `6.1.0-31-cloud-amd64`.
    public var kernelRelease: String
    /// `uname -v`: `#1 SMP PREEMPT_DYNAMIC Debian 6.1.168-1 (2026-03-28)`, where a distribution
    /// names the real stable release that `kernelRelease` does not; nil when not read.
    public var kernelBuild: String?
    public var interfaces: [Interface]
    public var sysctls: BindSysctls
    public var credentials: ProcessCredentials

    public init(
        kernelRelease: String, kernelBuild: String? = nil, interfaces: [Interface], sysctls: BindSysctls,
        credentials: ProcessCredentials
    ) {
        self.kernelRelease = kernelRelease
        self.kernelBuild = kernelBuild
        self.interfaces = interfaces
        self.sysctls = sysctls
        self.credentials = credentials
    }

    /// The facts of the calling thread's network namespace and the process.
    public static func current() throws -> HostFacts {
        HostFacts(
            kernelRelease: kernelRelease(), kernelBuild: kernelBuild(), interfaces: try Interface.current(),
            sysctls: try BindSysctls.current(), credentials: try ProcessCredentials.current())
    }

    /// `uname -v`.
    public static func kernelBuild() -> String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: u.version) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    public static func kernelRelease() -> String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}
