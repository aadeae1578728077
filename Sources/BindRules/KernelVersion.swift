/// A Linux kernel version: `major.minor.sublevel`, as bind()'s rules change with it. The
/// sublevel (the stable release) matters where a fix was backported to a stable series: 6.1.168
/// answers otherwise than 6.1.100. A version written without one (`6.1`) stands for the newest
/// release of its series (every backport in), and sorts above each numbered one.
public struct KernelVersion: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    /// The stable release; nil when unknown (then the newest of the series).
    public var sublevel: Int?

    public init(_ major: Int, _ minor: Int, _ sublevel: Int? = nil) {
        self.major = major
        self.minor = minor
        self.sublevel = sublevel
    }

    /// Parses `6.1`, `6.1.168`, `6.1.0-31-cloud-amd64`, `6.18.44-fc-v857`, `5.10.223`.
    public init?(_ text: String) {
        var numbers: [Int] = []
        var current: Int?
        for c in text.utf8 {
            if c >= 48 && c <= 57 {
                let d = Int(c - 48)
                current = (current ?? 0) &* 10 &+ d
                if current! > 1_000_000 { return nil }
                continue
            }
            guard let n = current else { break }
            numbers.append(n)
            current = nil
            // Only dots join the numbers of a version: `-31-cloud` is Debian's ABI, not a part.
            if c != UInt8(ascii: ".") || numbers.count == 3 { break }
        }
        if let n = current, numbers.count < 3 { numbers.append(n) }
        guard numbers.count >= 2 else { return nil }
        self.init(numbers[0], numbers[1], numbers.count > 2 ? numbers[2] : nil)
    }

    /// The version of a kernel from what uname(2) gives: the release (`uname -r`) and, when known,
    /// the version string (`uname -v`). Debian's release keeps the series' first sublevel
    /// (`6.1.0-31-cloud-amd64`) while its version string names the real one
    /// (`#1 SMP PREEMPT_DYNAMIC Debian 6.1.168-1 (2026-03-28)`); Ubuntu's names it after its own
    /// package (`#64-Ubuntu …`), which is not a kernel version, so only `Debian X.Y.Z` is read.
    public init?(release: String, build: String? = nil) {
        guard var v = KernelVersion(release) else { return nil }
        if let build, let debian = KernelVersion.debianVersion(in: build), debian.major == v.major, debian.minor == v.minor {
            v.sublevel = debian.sublevel
        }
        self = v
    }

    /// `Debian 6.1.168-1` (or `Debian 6.1.168-1+deb12u1`) in a `uname -v` string.
    static func debianVersion(in build: String) -> KernelVersion? {
        var rest = Substring(build)
        while let r = rest.range(of: "Debian ") {
            let after = rest[r.upperBound...]
            if let v = KernelVersion(String(after.prefix { $0 != " " })), v.sublevel != nil { return v }
            rest = after
        }
        return nil
    }

    /// `major.minor`: the series.
    public var series: KernelVersion { KernelVersion(major, minor) }

    public var description: String {
        sublevel.map { "\(major).\(minor).\($0)" } ?? "\(major).\(minor)"
    }

    public static func < (a: KernelVersion, b: KernelVersion) -> Bool {
        if a.major != b.major { return a.major < b.major }
        if a.minor != b.minor { return a.minor < b.minor }
        return (a.sublevel ?? Int.max) < (b.sublevel ?? Int.max)
    }

    /// Whether `self` is in the series `major.minor`.
    public func isIn(_ major: Int, _ minor: Int) -> Bool { self.major == major && self.minor == minor }

    /// The oldest series these rules know, and the newest: between them each change is keyed by
    /// the release that made it; outside, the nearest known rules answer with a note.
    public static let oldestKnown = KernelVersion(5, 10)
    public static let newestKnown = KernelVersion(6, 18)
    /// The series whose rules were checked against the kernel itself (scripts/kernels.sh boots
    /// Debian's 5.10, 6.1 and 6.12; 6.18 is this project's own machine).
    public static let verifiedSeries = [KernelVersion(5, 10), KernelVersion(6, 1), KernelVersion(6, 12), KernelVersion(6, 18)]
}

/// The bind rules of one kernel version, one flag per rule that changed between releases,
/// worked out once when a model is made (each check in a step is then a load, not a version
/// comparison). Each flag is the change of `KernelChanges` of the same name.
struct KernelRules: Hashable, Sendable {
    /// `IP_LOCAL_PORT_RANGE` exists (SocketOptions.swift).
    var localPortRangeOption = true
    /// A subnet's lowest address is plain unicast, not a broadcast route (Host.swift).
    var networkAddressIsUnicast = true
    /// TCP bind() looks a specific address up in bhash2 (Conflicts.swift).
    var tcpBhash2 = true
    /// TIME_WAIT entries are in bhash2 (Conflicts.swift).
    var timeWaitInBhash2 = true
    /// The bind bucket's fast path is set by the first owner (PortSelection.swift).
    var fastReuseFromFirstOwner = false
    /// TCP bind() looks a v4-mapped specific address up in bhash2 too (Conflicts.swift).
    var v4MappedInBhash2 = true
    /// bhash2 keys IPv4 addresses in v4-mapped form; without, 6.1's match of the wildcard
    /// buckets misses an inet6 `[::ffff:0.0.0.0]` holder for a v4-mapped socket (Overlap.swift).
    var bhash2KeysV4Mapped = true
    /// A UDP wildcard bind scans the whole port however many sockets share it (Conflicts.swift).
    var udpWildcardScansPort = true

    init() {}

    /// The rules of `version`; nil is the newest rules.
    init(_ version: KernelVersion?) {
        guard let v = version.map(KernelRules.clamped) else { return }
        localPortRangeOption = KernelChanges.localPortRangeOption.isIn(v)
        networkAddressIsUnicast = KernelChanges.networkAddressUnicast.isIn(v)
        tcpBhash2 = KernelChanges.tcpBhash2.isIn(v)
        timeWaitInBhash2 = KernelChanges.timeWaitBhash2.isIn(v)
        fastReuseFromFirstOwner = !KernelChanges.fastReuseFirstOwner.isIn(v)
        v4MappedInBhash2 = KernelChanges.v4MappedBhash2.isIn(v)
        bhash2KeysV4Mapped = KernelChanges.v4MappedBhash2Key.isIn(v)
        udpWildcardScansPort = KernelChanges.udpWildcardHash2.isIn(v)
    }

    /// A version outside the known series answers with the nearest known rules.
    static func clamped(_ v: KernelVersion) -> KernelVersion {
        if v.series > KernelVersion.newestKnown { return KernelVersion.newestKnown }
        if v.series < KernelVersion.oldestKnown { return KernelVersion(5, 10, 0) }
        return v
    }

    /// What a person should know about the answers for `version`: nil when its series was
    /// checked against the kernel itself.
    static func note(_ version: KernelVersion?, release: String? = nil) -> String? {
        let newest = KernelVersion.newestKnown
        guard let v = version else {
            let which = release.map { "the kernel release \"\($0)\" names no version" } ?? "the kernel's version is unknown"
            return "\(which): answered with the rules of Linux \(newest), the newest these rules know"
        }
        if v.series > newest {
            return "Linux \(v) is newer than the newest release these rules know (\(newest)): answered with \(newest)'s rules"
        }
        if v.series < KernelVersion.oldestKnown {
            return
                "Linux \(v) is older than the oldest release these rules know (\(KernelVersion.oldestKnown)): answered with \(KernelVersion.oldestKnown)'s rules, other differences are not modeled"
        }
        if !KernelVersion.verifiedSeries.contains(v.series) {
            return "Linux \(v.series) was not checked against the kernel itself: its rules come from the releases each change landed in"
        }
        return nil
    }
}
