import BindKit

/// The result of one step: `ok` or an errno name.
public enum Outcome: Hashable, Sendable, Codable, CustomStringConvertible {
    case ok
    case errno(String)

    public var description: String {
        switch self {
        case .ok: "ok"
        case .errno(let name): name
        }
    }

    public init(_ text: String) { self = text == "ok" ? .ok : .errno(text) }

    public init(from decoder: any Decoder) throws { self.init(try decoder.singleValueContainer().decode(String.self)) }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// A socket's state as far as bind() cares.
public enum SocketState: String, Hashable, Sendable, Codable {
    case created, bound, listening
    case timeWait = "time-wait"
}

/// The kernel's view of a bound address: `inet_rcv_saddr` and, for inet6 sockets,
/// `sk_v6_rcv_saddr` (nil for inet sockets, which the kernel treats as v4-mapped).
public struct BoundAddress: Hashable, Sendable {
    /// `inet_rcv_saddr`, host byte order. For an inet6 socket: the IPv4 address of a v4-mapped
    /// address, 0 for `::`, and 127.0.0.6 (LOOPBACK4_IPV6, never matched) for other IPv6 addresses.
    public var v4: UInt32
    /// `sk_v6_rcv_saddr` (without zone); nil for an inet socket.
    public var v6: IPv6Address? {
        get { hasV6 ? IPv6Address(high: v6High, low: v6Low) : nil }
        set {
            hasV6 = newValue != nil
            v6High = newValue?.high ?? 0
            v6Low = newValue?.low ?? 0
        }
    }
    public var port: UInt16
    // `v6` as plain bits (it never has a zone): a bound address copies without reference counting.
    private var v6High: UInt64 = 0
    private var v6Low: UInt64 = 0
    private var hasV6 = false

    init(v4: UInt32, v6: IPv6Address?, port: UInt16) {
        self.v4 = v4
        self.port = port
        self.v6 = v6
    }

    /// The address as a person writes it.
    public var text: String {
        if let v6 { return "[\(v6)]:\(port)" }
        return "\(IPv4Address(rawValue: v4)):\(port)"
    }

    /// Bound to a wildcard: 0.0.0.0, `::` or `::ffff:0.0.0.0` (`!inet_use_bhash2_on_bind`).
    public var isWildcard: Bool {
        if let v6 {
            if v6.isUnspecified { return true }
            if !v6.isV4Mapped { return false }
        }
        return v4 == 0
    }
}

/// One socket the model knows.
public struct ModelSocket: Hashable, Sendable {
    public var id: String
    public var family: AddressFamily
    public var transport: Transport
    /// `sk_uid`: the effective uid when the socket was created (SO_REUSEPORT compares it).
    public var ownerUID: UInt32
    /// The uid and capabilities later operations run under.
    public var uid: UInt32
    /// The capabilities later operations hold, as a mask (bit N = capability N).
    var capMask: UInt64
    public var caps: Set<Capability> {
        get { Capability.set(fromMask: capMask) }
        set { capMask = Capability.mask(of: newValue) }
    }
    func holds(_ c: Capability) -> Bool { capMask & (1 << UInt64(c.rawValue)) != 0 }
    /// Whether the socket holds `port` of `transport`.
    @inline(__always) func holds(_ port: UInt16, _ transport: Transport) -> Bool {
        self.transport == transport && bound?.port == port
    }
    public var reuseAddress = false
    public var reusePort = false
    /// `sk_ipv6only`: copied from net.ipv6.bindv6only at creation; set by binding a real IPv6 address.
    public var v6only = false
    public var freebind = false
    public var transparent = false
    /// `SO_BROADCAST` (`sock_flag(sk, SOCK_BROADCAST)`).
    public var broadcast = false
    /// `sk_bound_dev_if` (may name an index that does not exist, after a failed scoped bind).
    public var device: UInt32 = 0
    /// IP_LOCAL_PORT_RANGE as the kernel stores it (`low | high << 16`), 0 when unset.
    public var localPortRange: UInt32 = 0
    public var state: SocketState = .created
    public var bound: BoundAddress?
    /// Order in which the socket joined its port's owners (the kernel lists the newest first).
    var joined = 0
    /// UDP: an inet6 SO_REUSEPORT socket is added at the tail of its hash chain, others at the head.
    var chainTail = false
    /// TCP: the order in which the socket entered the listening hash (`__inet_hash` at listen()),
    /// 0 while it does not listen; the chain is walked as for UDP (inet6 SO_REUSEPORT at the tail).
    var hashed = 0
    /// The options of a host socket the model was not told (``SocketTable/addExisting(id:family:transport:ip:port:state:ownerUID:reuseAddress:reusePort:v6only:device:v6onlyDefault:)``):
    /// the rules read the fields as they stand, at their likeliest values;
    /// ``BindModel/predictConditionally(_:from:limit:)`` tries the others.
    public var unknown: UnknownOptions = []

    public init(id: String, family: AddressFamily, transport: Transport, uid: UInt32, caps: Set<Capability>) {
        self.init(id: id, family: family, transport: transport, uid: uid, capMask: Capability.mask(of: caps))
    }

    init(id: String, family: AddressFamily, transport: Transport, uid: UInt32, capMask: UInt64) {
        self.id = id
        self.family = family
        self.transport = transport
        self.ownerUID = uid
        self.uid = uid
        self.capMask = capMask
    }

    /// What the socket is, for reasons: `inet6, dual-stack, SO_REUSEADDR, listening`.
    public var summary: String {
        var parts = [family.rawValue]
        if family == .inet6 { parts.append(v6only ? "v6only" : "dual-stack") }
        if reuseAddress { parts.append("SO_REUSEADDR") }
        if reusePort { parts.append("SO_REUSEPORT uid \(ownerUID)") }
        if device != 0 { parts.append("device #\(device)") }
        switch state {
        case .listening: parts.append("listening")
        case .timeWait: parts.append("TIME_WAIT")
        case .bound: parts.append("bound")
        case .created: parts.append("not bound")
        }
        return parts.joined(separator: ", ")
    }
}

/// The sockets the model knows, the TIME_WAIT entries, and the TCP bind buckets' fast-path state.
/// A table holds a handful of sockets: small arrays searched in order are cheaper to look up,
/// copy and compare than dictionaries (no hashing, one buffer each).
public struct SocketTable: Hashable, Sendable {
    /// Open sockets by id.
    var open = SmallMap<String, ModelSocket>()
    /// TIME_WAIT entries left by `timewait` steps (they hold their port until they expire).
    public var timeWait: [ModelSocket] = []
    /// The port each id was last bound to (kept after close, for `$id`).
    var portOf = SmallMap<String, UInt16>()
    /// `struct inet_bind_bucket` fast-path state per TCP port.
    var buckets = SmallMap<UInt16, BindBucket>()
    var joinCounter = 0
    /// Connections and connected destinations (Reach.swift).
    var reach = ReachState()

    public init() {}

    /// Open sockets by id.
    public var sockets: [String: ModelSocket] {
        get { open.dictionary }
        set { open = SmallMap(newValue) }
    }

    /// The port each id was last bound to (kept after close, for `$id`).
    public var ports: [String: UInt16] {
        get { portOf.dictionary }
        set { portOf = SmallMap(newValue) }
    }

    public static func == (a: SocketTable, b: SocketTable) -> Bool {
        a.open == b.open && a.timeWait == b.timeWait && a.portOf == b.portOf && a.buckets == b.buckets && a.joinCounter == b.joinCounter
            && a.reach == b.reach
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(open.dictionary)
        hasher.combine(timeWait)
        hasher.combine(portOf.dictionary)
        hasher.combine(buckets.dictionary)
        hasher.combine(joinCounter)
        hasher.combine(reach)
    }

    /// Every socket holding a port of `transport`: open bound sockets and TIME_WAIT entries,
    /// newest first as the kernel walks its lists.
    func holders(port: UInt16, transport: Transport, excluding id: String? = nil) -> [ModelSocket] {
        var all: [ModelSocket] = []
        for i in open.entries.indices where open.entries[i].value.holds(port, transport) && open.entries[i].value.id != id {
            all.append(open.entries[i].value)
        }
        if transport == .tcp { for i in timeWait.indices where timeWait[i].holds(port, .tcp) { all.append(timeWait[i]) } }
        if all.count < 2 { return all }
        return all.sorted { a, b in
            if a.chainTail != b.chainTail { return !a.chainTail }
            return a.chainTail ? a.joined < b.joined : a.joined > b.joined
        }
    }

    /// Whether the open socket `id` is bound (read in place, without copying the socket).
    func isBound(_ id: String) -> Bool {
        guard let i = open.index(id) else { return false }
        return open.entries[i].value.bound != nil
    }

    /// Whether some socket of `transport` holds `port`.
    func isBusy(_ port: UInt16, transport: Transport) -> Bool {
        for i in open.entries.indices where open.entries[i].value.holds(port, transport) { return true }
        if transport == .tcp { for i in timeWait.indices where timeWait[i].holds(port, .tcp) { return true } }
        return false
    }

    mutating func nextJoin() -> Int {
        joinCounter += 1
        return joinCounter
    }

    /// Empties the table as `SocketTable()` is, keeping its storage for the next steps (the
    /// matrix runs a fresh table per cell).
    package mutating func removeAll() {
        open.removeAll()
        while !timeWait.isEmpty { timeWait.removeLast() }
        portOf.removeAll()
        buckets.removeAll()
        joinCounter = 0
        if !reach.isEmpty { reach = ReachState() }
    }
}

/// A map of a few entries kept in one array, searched in insertion order. Equal maps hold the
/// same entries, in any order (as dictionaries are equal).
struct SmallMap<Key: Hashable & Sendable, Value: Hashable & Sendable>: Hashable, Sendable {
    struct Entry: Hashable, Sendable {
        var key: Key
        var value: Value
    }
    private(set) var entries: [Entry] = []

    init() {}

    init(_ d: [Key: Value]) {
        entries = d.map { Entry(key: $0.key, value: $0.value) }
    }

    var dictionary: [Key: Value] { Dictionary(uniqueKeysWithValues: entries.map { ($0.key, $0.value) }) }

    @inline(__always) func index(_ key: Key) -> Int? {
        var i = 0
        while i < entries.count {
            if entries[i].key == key { return i }
            i += 1
        }
        return nil
    }

    func contains(_ key: Key) -> Bool { index(key) != nil }

    // Inlined: a caller that reads one field of the value, or stores a value it has just made,
    // copies no more than it needs (a whole ModelSocket otherwise, through an Optional).
    subscript(key: Key) -> Value? {
        @inline(__always) get { index(key).map { entries[$0].value } }
        @inline(__always) set {
            if let i = index(key) {
                if let newValue { entries[i].value = newValue } else { entries.remove(at: i) }
            } else if let newValue {
                if entries.capacity == 0 { entries.reserveCapacity(4) }
                entries.append(Entry(key: key, value: newValue))
            }
        }
    }

    /// Removes every entry, keeping the storage (one at a time: cheaper than `removeAll(keepingCapacity:)`
    /// for the few a map holds).
    mutating func removeAll() {
        while !entries.isEmpty { entries.removeLast() }
    }

    @discardableResult
    mutating func removeValue(forKey key: Key) -> Value? {
        guard let i = index(key) else { return nil }
        return entries.remove(at: i).value
    }

    static func == (a: SmallMap, b: SmallMap) -> Bool {
        guard a.entries.count == b.entries.count else { return false }
        for e in a.entries {
            guard let j = b.index(e.key), b.entries[j].value == e.value else { return false }
        }
        return true
    }

    func hash(into hasher: inout Hasher) { hasher.combine(dictionary) }
}

/// The fast-path state of `struct inet_bind_bucket`: `tb->fastreuse`, and the SO_REUSEPORT
/// record (`tb->fastreuseport` with `fastuid`, `fast_rcv_saddr`, …). Since 6.8
/// `tb->fastreuse` and FASTREUSEPORT_ANY cannot be reached: `inet_csk_update_fastreuse` finds the
/// new socket's bhash2 bucket already linked, so it never takes its "first owner" branch
/// (`BindBucket.update(joining:first:)`); before, the port's first socket sets them.
struct BindBucket: Hashable, Sendable {
    /// `tb->fastreuse > 0`: a SO_REUSEADDR newcomer takes the port without the conflict scan.
    var fastReuse = false
    var fast: FastReusePort?

    struct FastReusePort: Hashable, Sendable {
        var uid: UInt32
        var family: AddressFamily
        var v4: UInt32
        var v6: IPv6Address?
        var v6only: Bool
        /// FASTREUSEPORT_ANY (set by the port's first socket): any address matches.
        var any = false
    }
}

extension BoundAddress {
    /// The kernel's view of `ip` bound by a socket of `family` (as `__inet_bind` / `__inet6_bind`
    /// record it).
    public init(ip: IPAddress, port: UInt16, family: AddressFamily) {
        switch ip {
        case .v4(let a):
            self.init(v4: a.rawValue, v6: family == .inet6 ? IPv6Address(v4Mapped: a) : nil, port: port)
        case .v6(let a):
            let bare = IPv6Address(high: a.high, low: a.low, zone: nil)
            let v4 = a.v4Mapped?.rawValue ?? (a.isUnspecified ? 0 : loopback4IPv6)
            self.init(v4: v4, v6: bare, port: port)
        }
    }
}

extension SocketTable {
    /// Adds a socket that already holds a port (read from the host), whose options are unknown:
    /// they are taken as unset, and a `[::]` holder's IPV6_V6ONLY as `v6onlyDefault` (and marked
    /// unknown, see ``ModelSocket/unknown``).
    public mutating func addExisting(
        id: String, family: AddressFamily, transport: Transport, ip: IPAddress, port: UInt16, state: SocketState,
        ownerUID: UInt32, v6onlyDefault: Bool
    ) {
        addExisting(
            id: id, family: family, transport: transport, ip: ip, port: port, state: state, ownerUID: ownerUID, reuseAddress: nil,
            reusePort: nil, v6only: nil, device: nil, v6onlyDefault: v6onlyDefault)
    }

    /// Adds a socket that already holds a port (read from the host), created by `ownerUID`
    /// (`sk_uid`), with what is known of its options; nil is unknown. An unknown option is taken
    /// at its likeliest value, and marked so (``ModelSocket/unknown``): SO_REUSEADDR and
    /// SO_REUSEPORT unset, no device, IPV6_V6ONLY as bind() leaves it (`v6onlyDefault`, the value
    /// of net.ipv6.bindv6only, for `[::]`; set for another IPv6 address, as `__inet6_bind()` sets
    /// it; never for a v4-mapped one, which a v6-only socket cannot bind).
    public mutating func addExisting(
        id: String, family: AddressFamily, transport: Transport, ip: IPAddress, port: UInt16, state: SocketState,
        ownerUID: UInt32, reuseAddress: Bool?, reusePort: Bool?, v6only: Bool?, device: UInt32?, v6onlyDefault: Bool
    ) {
        var sk = ModelSocket(id: id, family: family, transport: transport, uid: ownerUID, capMask: 0)
        let bound = BoundAddress(ip: ip, port: port, family: family)
        sk.bound = bound
        sk.state = state
        sk.reuseAddress = reuseAddress ?? false
        sk.reusePort = reusePort ?? false
        sk.device = device ?? 0
        if reuseAddress == nil { sk.unknown.insert(.reuseAddress) }
        if reusePort == nil { sk.unknown.insert(.reusePort) }
        if device == nil { sk.unknown.insert(.device) }
        if family == .inet6, let v6 = bound.v6 {
            if let v6only {
                sk.v6only = v6only
            } else if v6.isV4Mapped {
                sk.v6only = false
            } else {
                sk.v6only = v6.isUnspecified ? v6onlyDefault : true
                sk.unknown.insert(.v6only)
            }
        }
        sk.joined = nextJoin()
        if state == .timeWait { timeWait.append(sk) } else { open[id] = sk }
    }

    /// Adds a host socket as the kernel lists it, with its options where they were read (nil:
    /// unknown, as for a TIME_WAIT entry): IPV6_V6ONLY from the options or the listing, the
    /// device from the listing (sock_diag) or the options. A socket that holds no port (a TCP
    /// request socket) is not added; returns whether it was.
    @discardableResult
    public mutating func addExisting(_ socket: HostSocket, id: String, options: HolderOptions?, v6onlyDefault: Bool) -> Bool {
        guard socket.holdsPort else { return false }
        let state: SocketState
        switch socket.state {
        case .listening: state = .listening
        case .timeWait: state = .timeWait
        case .bound, .established, .other: state = .bound
        }
        addExisting(
            id: id, family: socket.family, transport: socket.transport, ip: socket.local.ip, port: socket.local.port, state: state,
            ownerUID: socket.uid, reuseAddress: options?.reuseAddress, reusePort: options?.reusePort,
            v6only: options?.v6only ?? socket.v6only, device: socket.interfaceIndex ?? options?.deviceIndex, v6onlyDefault: v6onlyDefault)
        return true
    }
}

/// Options of a host socket the model was not told.
public struct UnknownOptions: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let reuseAddress = UnknownOptions(rawValue: 1 << 0)
    public static let reusePort = UnknownOptions(rawValue: 1 << 1)
    public static let v6only = UnknownOptions(rawValue: 1 << 2)
    public static let device = UnknownOptions(rawValue: 1 << 3)
}
