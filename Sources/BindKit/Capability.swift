/// A Linux capability, numbered as in `<linux/capability.h>`.
///
/// Pure data: the capability sets of a process are read by ``ProcessCredentials``.
public enum Capability: Int, Hashable, Sendable, CaseIterable, Comparable, Codable, CustomStringConvertible {
    case chown = 0
    case dacOverride, dacReadSearch, fowner, fsetid, kill, setgid, setuid, setpcap,
        linuxImmutable, netBindService, netBroadcast, netAdmin, netRaw, ipcLock, ipcOwner,
        sysModule, sysRawio, sysChroot, sysPtrace, sysPacct, sysAdmin, sysBoot, sysNice,
        sysResource, sysTime, sysTtyConfig, mknod, lease, auditWrite, auditControl, setfcap,
        macOverride, macAdmin, syslog, wakeAlarm, blockSuspend, auditRead, perfmon, bpf,
        checkpointRestore

    private static let names: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
        "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ]

    /// The kernel's name, e.g. `CAP_NET_BIND_SERVICE`.
    public var name: String { Self.names[rawValue] }
    public var description: String { name }

    /// Parses a name such as `CAP_NET_BIND_SERVICE` (any case; the `CAP_` prefix is required).
    public init?(name: String) {
        let upper = name.uppercased()
        guard let index = Self.names.firstIndex(of: upper), let cap = Capability(rawValue: index) else { return nil }
        self = cap
    }

    public static func < (a: Capability, b: Capability) -> Bool { a.rawValue < b.rawValue }

    /// The capabilities whose bits are set in `mask` (bit N = capability N).
    public static func set(fromMask mask: UInt64) -> Set<Capability> {
        Set(allCases.filter { mask & (1 << UInt64($0.rawValue)) != 0 })
    }

    /// The bit mask of a set of capabilities.
    public static func mask(of set: Set<Capability>) -> UInt64 {
        set.reduce(0) { $0 | (1 << UInt64($1.rawValue)) }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let cap = Capability(name: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown capability \(text)"))
        }
        self = cap
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(name)
    }
}
