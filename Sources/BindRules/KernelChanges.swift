/// One upstream change to what bind() (or a step around it) answers: the rule it touches, as
/// `Reason.rule` names it, the release that made it, the stable releases it was backported to,
/// and the commit.
public struct KernelChange: Hashable, Sendable, Codable {
    /// The rule of the reasons it changes (`Reason.rule`), e.g. `conflict`, `address-not-local`.
    public var rule: String
    /// The mainline release the change first shipped in (a series: `6.3`).
    public var mainline: KernelVersion
    /// Stable releases of older series that got it: `6.1.168` means 6.1.168 and later 6.1s.
    public var backports: [KernelVersion]
    /// The upstream commit (12 hex digits) and its subject line.
    public var commit: String
    public var subject: String
    /// Other commits the change needs, with their subjects, when it came as a series.
    public var alsoCommits: [String]
    /// What bind() does differently, before and after, in a sentence.
    public var summary: String

    public init(
        rule: String, mainline: KernelVersion, backports: [KernelVersion] = [], commit: String, subject: String,
        alsoCommits: [String] = [], summary: String
    ) {
        self.rule = rule
        self.mainline = mainline
        self.backports = backports
        self.commit = commit
        self.subject = subject
        self.alsoCommits = alsoCommits
        self.summary = summary
    }

    /// Whether kernel `v` has the change: its series is the mainline release or later, or a
    /// stable release of its series at or after the backport.
    public func isIn(_ v: KernelVersion) -> Bool {
        if v.series >= mainline.series { return true }
        for b in backports where b.isIn(v.major, v.minor) {
            return (v.sublevel ?? Int.max) >= (b.sublevel ?? 0)
        }
        return false
    }

    /// `6.3 (6.1.168)`: the release, then the backports.
    public var releases: String {
        backports.isEmpty ? "\(mainline)" : "\(mainline) (backported: \(backports.map(\.description).joined(separator: ", ")))"
    }
}

/// The changes between the releases the model knows (Linux 5.10 to 6.18) that alter what a
/// scenario step answers, each verified against the kernel that has it and one that has not
/// (scripts/kernels.sh boots Debian's 5.10, 6.1 and 6.12). `KernelRules` reads its flags from
/// these; the rule files name the change beside the rule it keys.
public enum KernelChanges {
    /// SocketOptions.swift, `setLocalPortRange`.
    public static let localPortRangeOption = KernelChange(
        rule: "no-such-option", mainline: KernelVersion(6, 3), backports: [KernelVersion(6, 1, 32)], commit: "91d0b78c5177",
        subject: "inet: Add IP_LOCAL_PORT_RANGE socket option",
        summary: "IP_LOCAL_PORT_RANGE exists (before: setsockopt gives ENOPROTOOPT); stable 6.1.32 took it too")

    /// Host.swift, `ipv4RouteType`.
    public static let networkAddressUnicast = KernelChange(
        rule: "address-not-local", mainline: KernelVersion(5, 14), commit: "94c821c74bf5",
        subject: "ip: Treat IPv4 segment's lowest address as unicast",
        summary:
            "a subnet's lowest address (192.0.2.0 of 192.0.2.1/24) is no longer a broadcast route, so binding it gives EADDRNOTAVAIL (before: it binds)"
    )

    /// Conflicts.swift, `tcpConflict`.
    public static let tcpBhash2 = KernelChange(
        rule: "time-wait", mainline: KernelVersion(6, 1), commit: "28044fc1d495",
        subject: "net: Add a bhash2 table hashed by port and address",
        summary:
            "TCP bind() of a specific address meets only holders of that address and of the wildcards (bhash2), no longer every owner of the port: an inet bind to 127.0.0.6 no longer meets the IPv6 TIME_WAIT entry whose IPv4 field holds 127.0.0.6 (LOOPBACK4_IPV6)"
    )

    /// Conflicts.swift, `tcpConflict`: 6.1.0 to 6.1.4 left TIME_WAIT entries out of bhash2.
    public static let timeWaitBhash2 = KernelChange(
        rule: "time-wait", mainline: KernelVersion(6, 2), backports: [KernelVersion(6, 1, 5)], commit: "936a192f9740",
        subject: "tcp: Add TIME_WAIT sockets in bhash2.",
        summary:
            "a TIME_WAIT entry is in bhash2, so a bind() of its specific address meets it again (6.1.0 to 6.1.4: it binds beside it)"
    )

    /// PortSelection.swift, `BindBucket.update(joining:first:)`.
    public static let fastReuseFirstOwner = KernelChange(
        rule: "conflict", mainline: KernelVersion(6, 8), commit: "822fb91fc724", subject: "tcp: Link bhash2 to bhash.",
        alsoCommits: ["8002d44fe84d tcp: Check hlist_empty(&tb->bhash2) instead of hlist_empty(&tb->owners)."],
        summary:
            "the port's first socket no longer sets the bind bucket's fast path (tb->fastreuse, FASTREUSEPORT_ANY): before, a newcomer with SO_REUSEADDR or SO_REUSEPORT took that path without the conflict scan even after the first socket cleared the option"
    )

    /// Overlap.swift, `wildcardBucketCovers`: 6.1.168 took this as a dependency of the UDP fix
    /// below, without `v4MappedBhash2Key`.
    public static let v4MappedBhash2 = KernelChange(
        rule: "conflict", mainline: KernelVersion(6, 8), backports: [KernelVersion(6, 1, 168)], commit: "5e07e672412b",
        subject: "tcp: Use bhash2 for v4-mapped-v6 non-wildcard address.",
        summary:
            "a v4-mapped specific address ([::ffff:127.0.0.1]) is looked up in bhash2; without the next change (6.1.168 on) that lookup misses an inet6 holder of [::ffff:0.0.0.0], so the bind (and listen, and a port-0 search) succeeds beside it"
    )

    /// Overlap.swift, `wildcardBucketCovers`.
    public static let v4MappedBhash2Key = KernelChange(
        rule: "conflict", mainline: KernelVersion(6, 8), commit: "06a8c04f8994",
        subject: "tcp: Save v4 address as v4-mapped-v6 in inet_bind2_bucket.v6_rcv_saddr.",
        summary: "bhash2 buckets key IPv4 addresses in v4-mapped form, so [::ffff:0.0.0.0] is a wildcard bucket to a v4-mapped socket")

    /// Conflicts.swift, `udpConflict`.
    public static let udpWildcardHash2 = KernelChange(
        rule: "conflict", mainline: KernelVersion(7, 0),
        backports: [
            KernelVersion(6, 1, 168), KernelVersion(6, 6, 131), KernelVersion(6, 12, 80), KernelVersion(6, 18, 21),
            KernelVersion(6, 19, 11),
        ], commit: "e537dd15d0d4", subject: "udp: Fix wildcard bind conflict check when using hash2",
        summary:
            "with more than ten sockets in the port's slot, a UDP wildcard bind is checked against every socket of the port (before: against the wildcard holders only, so it bound beside eleven specific ones)"
    )

    /// Every change, oldest first.
    public static let all: [KernelChange] = [
        networkAddressUnicast, tcpBhash2, timeWaitBhash2, localPortRangeOption, fastReuseFirstOwner, v4MappedBhash2, v4MappedBhash2Key,
        udpWildcardHash2,
    ]

    /// The changes one of the two kernels has and the other has not: what may make them answer
    /// a step differently. Either order gives the same changes.
    public static func changes(between a: KernelVersion, and b: KernelVersion) -> [KernelChange] {
        let x = KernelRules.clamped(a)
        let y = KernelRules.clamped(b)
        return all.filter { $0.isIn(x) != $0.isIn(y) }
    }

    /// The changes of `rule` (as `Reason.rule` names it) between two kernels.
    public static func changes(of rule: String, between a: KernelVersion, and b: KernelVersion) -> [KernelChange] {
        changes(between: a, and: b).filter { $0.rule == rule }
    }
}
