import BindKit

// Reach (SCENARIOS.md, "Reach"): which socket a connection or a datagram reaches, from this host
// or from the peer. The sender's route (Route.swift), then the receiver's lookup: TCP listeners
// (ReachTCP.swift, `__inet_lookup_listener`), UDP sockets (ReachUDP.swift, `__udp4_lib_lookup`,
// `__udp4_lib_mcast_deliver`), and what happens when nothing matches.

/// A reach step that fails before or instead of delivery.
struct ReachFailure: Error {
    var outcome: Outcome
    var reason: Reason
}

/// What a table remembers of connections: the connected destination of each socket (TCP
/// established, UDP connected), the errors pending on connected UDP sockets, and the accepted
/// ends of connections.
struct ReachState: Hashable, Sendable {
    struct Remote: Hashable, Sendable {
        var id: String
        var ip: IPAddress
        var port: UInt16
    }
    struct AcceptedEnd: Hashable, Sendable {
        /// The id the accepted end has in its table (not a scenario id).
        var id: String
        var client: String
        var listener: String
    }
    var remotes: [Remote] = []
    var pending: [String] = []
    /// TCP sockets whose SYN got no answer: still connecting.
    var connecting: [String] = []
    var accepted: [AcceptedEnd] = []
    var acceptedCount = 0
    /// inet6 TCP sockets left with IPv4's transmit functions by a connection over IPv4 (to a
    /// v4-mapped address) that was refused: `tcp_v6_connect()` sets `icsk_af_ops` to
    /// `ipv6_mapped` and puts them back only when `tcp_v4_connect()` itself fails.
    var mappedOps: [String] = []

    var isEmpty: Bool {
        remotes.isEmpty && pending.isEmpty && connecting.isEmpty && accepted.isEmpty && acceptedCount == 0 && mappedOps.isEmpty
    }

    func remote(_ id: String) -> Remote? { remotes.first { $0.id == id } }
    mutating func setRemote(_ r: Remote) {
        remotes.removeAll { $0.id == r.id }
        remotes.append(r)
    }
    mutating func forget(_ id: String) {
        remotes.removeAll { $0.id == id }
        pending.removeAll { $0 == id }
        connecting.removeAll { $0 == id }
        mappedOps.removeAll { $0 == id }
    }
}

/// The sockets of a scenario: the host's table and the peer's, and on which side each id is.
public struct ScenarioTables: Hashable, Sendable {
    public var host = SocketTable()
    public var peer = SocketTable()
    var sides = SmallMap<String, Side>()

    public init() {}

    func side(_ id: String?) -> Side { id.flatMap { sides[$0] } ?? .host }

    subscript(side: Side) -> SocketTable {
        get { side == .host ? host : peer }
        set { if side == .host { host = newValue } else { peer = newValue } }
    }
}

/// One step's prediction in a scenario with reach: the outcome, the reason, and for a TCP
/// `connect` or a `send` the sockets reached, sorted by id.
public struct ReachPrediction: Sendable {
    public var outcome: Outcome
    public var reason: Reason
    public var by: [String]?
    /// Whether `by` is a SO_REUSEPORT group of which the kernel picks one member for unicast.
    public var isGroup: Bool
}

/// The model of a whole scenario: the bind rules in each namespace (``BindModel``), and reach
/// between them. Pure, as BindModel is.
public struct ScenarioModel: Sendable {
    public var host: BindModel
    public var peer: BindModel?

    public init(host: ModelHost, peer: ModelHost?, explains: Bool = true) {
        self.host = BindModel(host: host, explains: explains)
        self.peer = peer.map { BindModel(host: $0, explains: explains) }
    }

    /// The model of one namespace, without a peer.
    public init(host: BindModel) {
        self.host = host
        self.peer = nil
    }

    func model(_ side: Side) -> BindModel { side == .peer ? (peer ?? host) : host }

    /// Runs the steps from empty tables.
    public func run(_ steps: [Step]) -> [ReachPrediction] {
        var t = ScenarioTables()
        return steps.map { apply($0, to: &t) }
    }

    /// Predicts one step and leaves the tables after it in `t`.
    public func apply(_ step: Step, to t: inout ScenarioTables) -> ReachPrediction {
        let side: Side = if case .socket = step.action { step.on } else { t.side(step.id) }
        if case .socket = step.action, let id = step.id { t.sides[id] = side }
        let m = model(side)
        var answer: ReachPrediction
        switch step.action {
        case .connect(let spec):
            answer = m.connect(step.id, to: spec, side: side, in: &t, peerModel: model(side == .host ? .peer : .host), hasPeer: peer != nil)
        case .send(let spec):
            answer = m.send(step.id, to: spec, side: side, in: &t, peerModel: model(side == .host ? .peer : .host), hasPeer: peer != nil)
        case .close:
            if let id = step.id { closeConnections(of: id, side: side, in: &t) }
            var table = t[side]
            let r = m.apply(step, to: &table)
            table.reach.forget(step.id ?? "")
            t[side] = table
            answer = ReachPrediction(outcome: r.outcome, reason: r.reason, by: nil, isGroup: false)
        default:
            var table = t[side]
            let r = m.apply(step, to: &table)
            t[side] = table
            answer = ReachPrediction(outcome: r.outcome, reason: r.reason, by: nil, isGroup: false)
        }
        // `$ID` names a port on either side.
        if let id = step.id, let port = t[side].portOf[id] {
            let other: Side = side == .host ? .peer : .host
            t[other].portOf[id] = port
        }
        return answer
    }

    /// A `close` of a connecting socket or a listener closes the accepted ends first: each
    /// accepted end closes before its client, so it is the one left in TIME_WAIT (FIN_WAIT2 while
    /// the client is open), holding the connection's local address and port.
    func closeConnections(of id: String, side: Side, in t: inout ScenarioTables) {
        for s in [Side.host, .peer] {
            var table = t[s]
            let ends = table.reach.accepted.filter { $0.client == id || $0.listener == id }
            guard !ends.isEmpty else { continue }
            for e in ends {
                if var sk = table.open[e.id] {
                    table.open[e.id] = nil
                    sk.state = .timeWait
                    sk.joined = table.nextJoin()
                    table.timeWait.append(sk)
                }
            }
            table.reach.accepted.removeAll { $0.client == id || $0.listener == id }
            t[s] = table
        }
    }
}

extension BindModel {
    /// The socket of a reach step, or EBADF.
    func reachSocket(_ id: String?, in table: SocketTable) -> Result<ModelSocket, ReachFailure> {
        guard let id, let sk = table.open[id] else {
            return .failure(
                ReachFailure(
                    outcome: .errno("EBADF"),
                    reason: reason(rule: "no-socket", kernel: "sockfd_lookup", text: "no open socket \(id ?? "?") at this step")))
        }
        return .success(sk)
    }

    /// The address a step names, its `$ID` port resolved; a zone name as the socket's namespace
    /// knows it (an unknown name is ENODEV, as the scope id lookup fails).
    func resolve(_ spec: AddressSpec, in table: SocketTable) -> Result<(ip: IPAddress, port: UInt16), ReachFailure> {
        guard let port = resolvePort(spec.port, in: table) else {
            return .failure(
                ReachFailure(
                    outcome: .errno("EINVAL"), reason: reason(rule: "no-port", kernel: "connect", text: "\(spec.port) names no port yet")))
        }
        var ip = spec.ip
        if case .v6(var a) = ip, case .name(let name)? = a.zone {
            guard let iface = host.interface(named: name) else {
                return .failure(
                    ReachFailure(
                        outcome: .errno("ENODEV"),
                        reason: reason(
                            rule: "no-such-device", kernel: "if_nametoindex",
                            text:
                                "no interface named \(name) in this namespace (it has \(host.interfaces.map(\.name).joined(separator: ", ")))"
                        )))
            }
            a.zone = .index(iface.index)
            ip = .v6(a)
        }
        return .success((ip, port))
    }

    /// The family checks of connect(2) and sendto(2) on the address as given.
    func reachFamily(_ sk: ModelSocket, _ ip: IPAddress, udpSend: Bool) -> ReachFailure? {
        switch (sk.family, ip) {
        case (.inet, .v6):
            return ReachFailure(
                outcome: .errno("EAFNOSUPPORT"),
                reason: reason(
                    rule: "family", kernel: sk.transport == .tcp ? "tcp_v4_connect" : udpSend ? "udp_sendmsg" : "ip4_datagram_connect",
                    text: "an inet socket was given an IPv6 address", fix: "use an inet6 socket, or an IPv4 address"))
        case (.inet6, .v4):
            if sk.transport == .tcp {
                return ReachFailure(
                    outcome: .errno("EINVAL"),
                    reason: reason(
                        rule: "family", kernel: "tcp_v6_connect",
                        text: "an inet6 socket was given a sockaddr_in, shorter than sockaddr_in6",
                        fix: "write the IPv4 address v4-mapped: [::ffff:a.b.c.d]:PORT"))
            }
            if sk.v6only {
                return ReachFailure(
                    outcome: .errno(udpSend ? "ENETUNREACH" : "EAFNOSUPPORT"),
                    reason: reason(
                        rule: "v6only", kernel: udpSend ? "udpv6_sendmsg" : "ip6_datagram_connect",
                        text: "an IPV6_V6ONLY socket sends no IPv4", fix: "clear IPV6_V6ONLY, or use an inet socket"))
            }
            return nil
        case (.inet6, .v6(let a)) where a.isV4Mapped && sk.v6only:
            return ReachFailure(
                outcome: .errno("ENETUNREACH"),
                reason: reason(
                    rule: "v6only", kernel: sk.transport == .tcp ? "tcp_v6_connect" : udpSend ? "udpv6_sendmsg" : "ip6_datagram_connect",
                    text: "an IPV6_V6ONLY socket cannot reach the v4-mapped \(a)",
                    fix: "clear IPV6_V6ONLY before bind, or use an inet socket"))
        default:
            return nil
        }
    }

    /// An unbound socket takes a port on its family's wildcard (`inet_autobind`,
    /// `inet_hash_connect`); the kernel's choice is its own: the model picks as bind() would.
    func autobindForReach(_ id: String, in table: inout SocketTable) -> ReachFailure? {
        guard let sk = table.open[id], sk.bound == nil else { return nil }
        let r = getPort(sk, at: BoundAddress(v4: 0, v6: sk.family == .inet6 ? .any : nil, port: 0), in: &table)
        if r.outcome != .ok {
            return ReachFailure(outcome: r.outcome == .errno("EADDRINUSE") ? .errno("EAGAIN") : r.outcome, reason: r.reason)
        }
        if let port = table.open[id]?.bound?.port { table.portOf[id] = port }
        if var s = table.open[id], s.state == .created {
            s.state = .bound
            table.open[id] = s
        }
        return nil
    }

    /// The socket's bound address becomes the route's source when it was a wildcard (the
    /// kernel's rehash at connect: `ip4_datagram_connect`, `inet_hash_connect`); a TCP inet socket
    /// bound to a multicast or broadcast address takes it too (`tcp_v4_connect()` sets
    /// `inet_rcv_saddr` to `inet_saddr`, which such a bind left 0).
    func takeSource(_ id: String, _ source: IPAddress, in table: inout SocketTable, tcp: Bool = false) {
        guard var sk = table.open[id], let b = sk.bound else { return }
        let groupBound = tcp && sk.family == .inet && b.v6 == nil && Self.isGroupOrBroadcast(IPv4Address(rawValue: b.v4), in: host)
        guard b.isWildcard || groupBound else { return }
        if case .v4(let s) = source, s.isUnspecified { return }
        sk.bound = BoundAddress(ip: source, port: b.port, family: sk.family)
        table.open[id] = sk
    }

    /// The receiving namespace of a path: the sender's own, or the other end of the link.
    func receivers(of path: Path, from side: Side, hasPeer: Bool) -> [(side: Side, device: UInt32?, local: Bool)] {
        var out: [(Side, UInt32?, Bool)] = []
        if let d = path.localDevice ?? (path.loopedBack ? path.linkDevice : nil) { out.append((side, d, true)) }
        // Only the veth pair leads to the other machine (not lo, not an address-less bk1).
        let link = ReachNamespace(side: side, host: host).linkInterface?.index
        if let l = path.linkDevice, l == link, hasPeer { out.append((side == .host ? .peer : .host, nil, false)) }
        return out
    }
}

extension ScenarioModel {
    /// Whether traffic to `ip` from a namespace with `host`'s facts goes to every matching socket
    /// (multicast, 255.255.255.255, a broadcast route such as 192.0.2.255; also v4-mapped) rather
    /// than to one.
    public static func isGroupDestination(_ ip: IPAddress, in host: ModelHost) -> Bool {
        let traffic = BindModel.trafficAddress(ip)
        switch traffic {
        case .v4(let a): return a.isMulticast || a.isLimitedBroadcast || host.ipv4RouteType(a) == .broadcast
        case .v6(let a): return a.isMulticast
        }
    }
}

extension BindModel {
    /// 127.0.0.0/8 or ::1: an address no packet from a link may carry as its destination.
    static func isLoopbackAddress(_ ip: IPAddress) -> Bool {
        switch ip {
        case .v4(let a): return a.isLoopback
        case .v6(let a): return a.isLoopback
        }
    }
}
