import BindKit

// The facts the privileged-port model decides from: who calls bind(), with which capabilities,
// in which user namespace, and the program it would exec. BindConformance reads them from the
// host; a file can describe them. In JSON, capability sets are the masks of /proc/PID/status
// and file modes are octal, so that a person can compare them with what the host shows.

/// Where the user namespace that owns the network namespace stands, seen from the process.
/// `ns_capable(net->user_ns, CAP_NET_BIND_SERVICE)` (`cap_capable()`, security/commoncap.c) walks
/// from that owner up towards the process's own user namespace.
public enum NetworkNamespaceOwner: String, Hashable, Sendable, Codable, CaseIterable {
    /// The process's own user namespace: its effective set decides.
    case own
    /// A user namespace below the process's: its effective set decides, and the owner (creator)
    /// of the user namespace just below the process's is capable there without any capability.
    case descendant
    /// A user namespace above or beside the process's (a rootless container on the host's
    /// network): nothing the process holds counts.
    case outside
}

/// The process's user namespace and how it relates to the network namespace.
public struct UserNamespaceFacts: Hashable, Sendable, Codable {
    /// Whether the process is in the initial user namespace (uid map `0 0 4294967295`).
    public var isInitial: Bool
    public var networkNamespaceOwner: NetworkNamespaceOwner
    /// With `.descendant`: the owner uid of the user namespace just below the process's.
    public var childOwnerUID: UInt32?
    /// `/proc/self/uid_map`, lines of "inside outside count".
    public var uidMap: String

    public init(
        isInitial: Bool = true, networkNamespaceOwner: NetworkNamespaceOwner = .own, childOwnerUID: UInt32? = nil,
        uidMap: String = "0 0 4294967295"
    ) {
        self.isInitial = isInitial
        self.networkNamespaceOwner = networkNamespaceOwner
        self.childOwnerUID = childOwnerUID
        self.uidMap = uidMap
    }
}

/// A file's capabilities (`security.capability`, as `cap_get_file` reads them).
public struct FileCapabilities: Hashable, Sendable, Codable {
    public var permitted: Set<Capability>
    public var inheritable: Set<Capability>
    /// The file's one effective bit: at exec the new permitted set becomes the effective set.
    public var effective: Bool

    public init(permitted: Set<Capability> = [], inheritable: Set<Capability> = [], effective: Bool = false) {
        self.permitted = permitted
        self.inheritable = inheritable
        self.effective = effective
    }

    /// As getcap(8) writes it, e.g. `cap_net_bind_service=ep`.
    public var text: String {
        var groups: [String: [Capability]] = [:]
        for c in permitted.union(inheritable) {
            var flags = effective ? "e" : ""
            if inheritable.contains(c) { flags += "i" }
            if permitted.contains(c) { flags += "p" }
            groups[flags, default: []].append(c)
        }
        return groups.sorted { $0.key < $1.key }
            .map { flags, caps in caps.sorted().map { $0.name.lowercased() }.joined(separator: ",") + "=" + flags }
            .joined(separator: " ")
    }

    enum CodingKeys: String, CodingKey { case permitted, inheritable, effective, text }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        permitted = Set(try c.decode([Capability].self, forKey: .permitted))
        inheritable = Set(try c.decode([Capability].self, forKey: .inheritable))
        effective = try c.decode(Bool.self, forKey: .effective)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(permitted.sorted(), forKey: .permitted)
        try c.encode(inheritable.sorted(), forKey: .inheritable)
        try c.encode(effective, forKey: .effective)
        try c.encode(text, forKey: .text)
    }
}

/// An executable the subject would run: what execve() looks at.
public struct BinaryFacts: Hashable, Sendable, Codable {
    public var path: String
    /// nil when the file has no capabilities.
    public var capabilities: FileCapabilities?
    /// st_mode's permission bits, set-user-ID (0o4000) and set-group-ID (0o2000) included.
    @OctalMode public var mode: UInt32
    public var ownerUID: UInt32
    public var ownerGID: UInt32
    /// The file system is mounted nosuid: set-user-ID bits and file capabilities are ignored.
    public var nosuidMount: Bool

    public init(
        path: String, capabilities: FileCapabilities? = nil, mode: UInt32 = 0o755, ownerUID: UInt32 = 0,
        ownerGID: UInt32 = 0, nosuidMount: Bool = false
    ) {
        self.path = path
        self.capabilities = capabilities
        self.mode = mode
        self.ownerUID = ownerUID
        self.ownerGID = ownerGID
        self.nosuidMount = nosuidMount
    }

    public var isSetUID: Bool { mode & 0o4000 != 0 }
    public var isSetGID: Bool { mode & 0o2000 != 0 }
    public var isSetUIDRoot: Bool { isSetUID && ownerUID == 0 }
}

/// The commands this host offers for the fixes (`command -v`), and whether systemd runs it.
public struct HostTools: Hashable, Sendable, Codable {
    public var systemd: Bool
    public var setcap: Bool
    public var setpriv: Bool
    public var nft: Bool
    public var iptables: Bool

    public init(systemd: Bool = true, setcap: Bool = true, setpriv: Bool = true, nft: Bool = true, iptables: Bool = false) {
        self.systemd = systemd
        self.setcap = setcap
        self.setpriv = setpriv
        self.nft = nft
        self.iptables = iptables
    }
}

/// Everything that decides whether a subject may bind a port below
/// `net.ipv4.ip_unprivileged_port_start`.
public struct PrivilegeFacts: Hashable, Sendable, Codable {
    /// Who, for people: "this process", "user www-data".
    public var subject: String
    /// The user's name, when known (for the commands of the fixes).
    public var userName: String?
    public var uid: UInt32
    public var euid: UInt32
    public var gid: UInt32
    public var egid: UInt32
    @CapabilityMasks public var capabilities: CapabilitySets
    public var noNewPrivileges: Bool
    /// SECBIT_NOROOT: uid 0 gets no capabilities from execve().
    public var secureNoRoot: Bool
    /// `net.ipv4.ip_unprivileged_port_start` of the network namespace (IPv6 uses it too).
    public var unprivilegedPortStart: Int
    public var userNamespace: UserNamespaceFacts
    /// The program the subject execs before it binds; nil: the subject binds itself.
    public var binary: BinaryFacts?
    public var tools: HostTools

    public init(
        subject: String, userName: String? = nil, uid: UInt32, euid: UInt32? = nil, gid: UInt32 = 0, egid: UInt32? = nil,
        capabilities: CapabilitySets, noNewPrivileges: Bool = false, secureNoRoot: Bool = false,
        unprivilegedPortStart: Int = 1024, userNamespace: UserNamespaceFacts = UserNamespaceFacts(),
        binary: BinaryFacts? = nil, tools: HostTools = HostTools()
    ) {
        self.subject = subject
        self.userName = userName
        self.uid = uid
        self.euid = euid ?? uid
        self.gid = gid
        self.egid = egid ?? gid
        self.capabilities = capabilities
        self.noNewPrivileges = noNewPrivileges
        self.secureNoRoot = secureNoRoot
        self.unprivilegedPortStart = unprivilegedPortStart
        self.userNamespace = userNamespace
        self.binary = binary
        self.tools = tools
    }

    /// Who, with the uid: "this process (uid 0, root)", "user nobody (uid 65534)".
    public var who: String {
        let name = userName.flatMap { subject.contains($0) ? nil : ", " + $0 } ?? ""
        return "\(subject) (uid \(euid)\(name))"
    }

    /// What a fresh process of `uid` holds (a login, or a service without capability settings):
    /// uid 0 everything in the bounding set, any other uid nothing.
    public static func freshProcess(uid: UInt32, bounding: Set<Capability>) -> CapabilitySets {
        uid == 0 ? CapabilitySets(effective: bounding, permitted: bounding, bounding: bounding) : CapabilitySets(bounding: bounding)
    }
}

/// Capability sets that encode as /proc/PID/status writes them (`"effective": "000001fffeffffff"`;
/// `capsh --decode` names them), with CAP_NET_BIND_SERVICE spelled out per set.
@propertyWrapper
public struct CapabilityMasks: Hashable, Sendable, Codable {
    public var wrappedValue: CapabilitySets

    public init(wrappedValue: CapabilitySets) { self.wrappedValue = wrappedValue }

    struct NetBindService: Codable {
        var effective, permitted, inheritable, bounding, ambient: Bool
    }

    struct Coded: Codable {
        var effective, permitted, inheritable, bounding, ambient: String
        var netBindService: NetBindService?
    }

    public init(from decoder: any Decoder) throws {
        let c = try Coded(from: decoder)
        func set(_ text: String) throws -> Set<Capability> {
            guard let m = UInt64(text, radix: 16) else {
                throw DecodingError.dataCorrupted(
                    .init(codingPath: decoder.codingPath, debugDescription: "not a hexadecimal capability mask: \(text)"))
            }
            return Capability.set(fromMask: m)
        }
        wrappedValue = CapabilitySets(
            effective: try set(c.effective), permitted: try set(c.permitted), inheritable: try set(c.inheritable),
            bounding: try set(c.bounding), ambient: try set(c.ambient))
    }

    public func encode(to encoder: any Encoder) throws {
        let s = wrappedValue
        func hex(_ set: Set<Capability>) -> String {
            let h = String(Capability.mask(of: set), radix: 16)
            return String(repeating: "0", count: max(0, 16 - h.count)) + h
        }
        let nbs = NetBindService(
            effective: s.effective.contains(.netBindService), permitted: s.permitted.contains(.netBindService),
            inheritable: s.inheritable.contains(.netBindService), bounding: s.bounding.contains(.netBindService),
            ambient: s.ambient.contains(.netBindService))
        try Coded(
            effective: hex(s.effective), permitted: hex(s.permitted), inheritable: hex(s.inheritable), bounding: hex(s.bounding),
            ambient: hex(s.ambient), netBindService: nbs
        ).encode(to: encoder)
    }
}

/// A file mode that encodes as octal text, as ls and chmod write it (`"4755"`).
@propertyWrapper
public struct OctalMode: Hashable, Sendable, Codable {
    public var wrappedValue: UInt32

    public init(wrappedValue: UInt32) { self.wrappedValue = wrappedValue }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let m = UInt32(text, radix: 8), m <= 0o7777 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an octal file mode: \(text)"))
        }
        wrappedValue = m
    }

    public func encode(to encoder: any Encoder) throws {
        let octal = String(wrappedValue, radix: 8)
        var c = encoder.singleValueContainer()
        try c.encode(String(repeating: "0", count: max(0, 4 - octal.count)) + octal)
    }
}
