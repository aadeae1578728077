import BindKit

// TCP reach: connect(2) (`tcp_v4_connect`, `tcp_v6_connect`), then the receiver's lookup of the
// SYN, `__inet_lookup_listener` (net/ipv4/inet_hashtables.c) / `inet6_lookup_listener`
// (net/ipv6/inet6_hashtables.c): the listeners bound to the destination address first
// (`inet_lhash2_lookup` on its bucket), then those on the wildcard; within a bucket the best
// `compute_score` wins, the first of a tie; a winner in a SO_REUSEPORT group stands for its
// group (`reuseport_select_sock` picks the member by a hash).

extension BindModel {
    /// The address a socket's lookup compares with IPv4 traffic (`sk_rcv_saddr`), or nil for a
    /// socket that takes no IPv4 (V6ONLY, or bound to a real IPv6 address).
    static func rcvV4(_ sk: ModelSocket) -> UInt32? {
        guard let b = sk.bound else { return nil }
        if sk.family == .inet { return b.v4 }
        if sk.v6only { return nil }
        guard let v6 = b.v6 else { return b.v4 }
        if v6.isUnspecified { return 0 }
        return v6.v4Mapped?.rawValue
    }

    /// `compute_score()` of a listener for traffic to `dest` arriving on `device`: -1 when it does
    /// not match; higher for a device binding and, for IPv4, for an AF_INET socket.
    static func listenerScore(_ sk: ModelSocket, dest: IPAddress, exact: Bool, device: UInt32) -> Int {
        guard sk.transport == .tcp, sk.state == .listening, let b = sk.bound else { return -1 }
        if sk.device != 0 && sk.device != device { return -1 }
        var score = sk.device != 0 ? 2 : 1
        switch dest {
        case .v4(let a):
            guard let rcv = rcvV4(sk) else { return -1 }
            guard exact ? rcv == a.rawValue : rcv == 0 else { return -1 }
            if sk.family == .inet { score += 1 }
        case .v6(let a):
            guard sk.family == .inet6, let v6 = b.v6 else { return -1 }
            guard exact ? (v6.high == a.high && v6.low == a.low) : v6.isUnspecified else { return -1 }
        }
        return score
    }

    /// The SO_REUSEPORT group of `sk` (`inet_reuseport_add_sock`): listeners on the same port,
    /// family, V6ONLY, device, address and owner uid, each with SO_REUSEPORT.
    static func reuseportGroup(_ sk: ModelSocket, in table: SocketTable, listening: Bool) -> [ModelSocket] {
        guard sk.reusePort, let b = sk.bound else { return [sk] }
        var out: [ModelSocket] = []
        for e in table.open.entries {
            let o = e.value
            guard o.reusePort, o.transport == sk.transport, o.family == sk.family, o.v6only == sk.v6only, o.device == sk.device,
                o.ownerUID == sk.ownerUID, let ob = o.bound, ob.port == b.port, ob.v4 == b.v4, ob.v6 == b.v6
            else { continue }
            if listening && o.state != .listening { continue }
            out.append(o)
        }
        return out.isEmpty ? [sk] : out
    }

    /// `__inet_lookup_listener()`: the listener group that takes a SYN to `dest`:`port` arriving on
    /// `device`, or empty.
    ///
    /// `inet_lhash2_lookup` walks a bucket's chain in order: `__inet_hash` adds an inet6
    /// SO_REUSEPORT listener at the tail and every other at the head (so those newest first, then
    /// the inet6 SO_REUSEPORT ones oldest first). The first listener that scores above every one
    /// before it and has SO_REUSEPORT ends the walk: `inet_lookup_reuseport` answers for its
    /// group at once, even if a later listener would score higher.
    static func listenerLookup(dest: IPAddress, port: UInt16, device: UInt32, in table: SocketTable) -> [ModelSocket] {
        let candidates = table.holders(port: port, transport: .tcp).filter { $0.state == .listening }.sorted { a, b in
            let tailA = a.family == .inet6 && a.reusePort
            let tailB = b.family == .inet6 && b.reusePort
            if tailA != tailB { return !tailA }
            return tailA ? a.hashed < b.hashed : a.hashed > b.hashed
        }
        for exact in [true, false] {
            var best: ModelSocket?
            var hiscore = 0
            for sk in candidates {
                let s = listenerScore(sk, dest: dest, exact: exact, device: device)
                if s > hiscore {
                    if sk.reusePort { return reuseportGroup(sk, in: table, listening: true) }
                    hiscore = s
                    best = sk
                }
            }
            if let best { return reuseportGroup(best, in: table, listening: true) }
        }
        return []
    }

    /// Why nothing took a connection: the sockets on the port and what each takes.
    func refusalText(dest: IPAddress, port: UInt16, in table: SocketTable, transport: Transport, fromPeer: Bool, onPeer: Bool = false)
        -> String
    {
        // The accepted ends of connections are no candidates: they are left out of the words.
        let on = table.holders(port: port, transport: transport).filter { $0.state != .timeWait && !$0.id.hasPrefix("(accepted") }
        guard !on.isEmpty else {
            let own = dest.isLoopback && onPeer ? " (the peer's own loopback: no socket of this host is there)" : ""
            return "nothing \(transport == .tcp ? "listens" : "is bound") on port \(port) of \(dest)\(own)"
        }
        let parts = on.map { sk -> String in
            var why = "\(sk.id) on \(sk.bound?.text ?? "?") (\(sk.summary))"
            if transport == .tcp && sk.state != .listening { why += ", which does not listen" }
            if let b = sk.bound, !b.isWildcard {
                if b.v6 == nil && IPv4Address(rawValue: b.v4).isLoopback {
                    why += ", which takes connections addressed to \(IPv4Address(rawValue: b.v4)) from this host only"
                }
            }
            if case .v4 = dest, sk.family == .inet6, sk.v6only { why += ", V6ONLY: no IPv4" }
            if sk.device != 0 { why += ", bound to device #\(sk.device)" }
            return why
        }
        return "no socket on port \(port) takes traffic to \(dest)\(fromPeer ? " from the peer" : ""): " + parts.joined(separator: "; ")
    }

    /// The `connect` step: route, the port and source, then the listener that takes the SYN.
    func connect(_ id: String?, to spec: AddressSpec, side: Side, in t: inout ScenarioTables, peerModel: BindModel, hasPeer: Bool)
        -> ReachPrediction
    {
        func fail(_ f: ReachFailure, by: [String]?) -> ReachPrediction {
            ReachPrediction(outcome: f.outcome, reason: f.reason, by: by, isGroup: false)
        }
        var table = t[side]
        var sk: ModelSocket
        switch reachSocket(id, in: table) {
        case .failure(let f): return fail(f, by: nil)
        case .success(let s): sk = s
        }
        let tcp = sk.transport == .tcp
        let noBy: [String]? = tcp ? [] : nil
        let dest: (ip: IPAddress, port: UInt16)
        switch resolve(spec, in: table) {
        case .failure(let f): return fail(f, by: noBy)
        case .success(let d): dest = d
        }
        if !tcp {
            // `inet_dgram_connect()` autobinds an unbound socket before the protocol looks at the
            // address: the port stays whatever connect() answers.
            if let f = autobindForReach(sk.id, in: &table) { return fail(f, by: noBy) }
            t[side] = table
            if let bound = table.open[sk.id] { sk = bound }
        }
        if tcp && table.reach.connecting.contains(sk.id) {
            return fail(
                ReachFailure(
                    outcome: .errno("EALREADY"),
                    reason: reason(
                        rule: "connect-state", kernel: "__inet_stream_connect",
                        text: "the socket is still connecting (its SYN got no answer)")), by: noBy)
        }
        if tcp && (sk.state == .listening || table.reach.remote(sk.id) != nil) {
            return fail(
                ReachFailure(
                    outcome: .errno("EISCONN"),
                    reason: reason(
                        rule: "connect-state", kernel: "__inet_stream_connect",
                        text: sk.state == .listening ? "a listening socket cannot connect" : "the socket is already connected")), by: noBy)
        }
        // `__inet_stream_connect()` checks the socket's state before the protocol looks at the address.
        if let f = reachFamily(sk, dest.ip, udpSend: false) { return fail(f, by: noBy) }
        // A scope id must name the socket's own device, when it has one (`sk_dev_equal_l3scope()`
        // in `tcp_v6_connect()` and `__ip6_datagram_connect()`).
        if case .v6(let a) = dest.ip, a.isLinkLocal || (a.isMulticast && (a.high >> 48) & 0xF <= 2), case .index(let i)? = a.zone,
            i != 0, sk.device != 0, sk.device != i
        {
            return fail(
                ReachFailure(
                    outcome: .errno("EINVAL"),
                    reason: reason(
                        rule: "scope-device", kernel: tcp ? "tcp_v6_connect" : "__ip6_datagram_connect",
                        text: "the address's zone names interface #\(i), but the socket is bound to device #\(sk.device)",
                        fix: "write the zone of the socket's device, or connect from a socket without one")), by: noBy)
        }
        // `tcp_v6_connect()` refuses a multicast destination before it looks at scopes or routes.
        if tcp, case .v6(let a) = dest.ip, a.isMulticast {
            return fail(
                ReachFailure(
                    outcome: .errno("ENETUNREACH"),
                    reason: reason(
                        rule: "tcp-broadcast", kernel: "tcp_v6_connect", text: "TCP connects to one host: \(dest.ip) is a multicast address"
                    )),
                by: noBy)
        }
        // A scope id binds the socket to that device before any route is looked at, and it stays
        // whatever happens next (`tcp_v6_connect()`, `__ip6_datagram_connect()`).
        if case .v6(let a) = dest.ip, a.isLinkLocal || (!tcp && a.isMulticast && (a.high >> 48) & 0xF <= 2), case .index(let i)? = a.zone,
            i != 0, var s = table.open[sk.id]
        {
            s.device = i
            table.open[sk.id] = s
            t[side] = table
            sk = s
        }
        let ns = ReachNamespace(side: side, host: host)
        let path: Path
        switch route(sk, to: dest.ip, in: ns, connecting: true) {
        case .failure(let f): return fail(f, by: noBy)
        case .success(let p): path = p
        }
        if tcp && path.cast != .unicast {
            return fail(
                ReachFailure(
                    outcome: .errno("ENETUNREACH"),
                    reason: reason(
                        rule: "tcp-broadcast", kernel: "tcp_v4_connect",
                        text: "TCP connects to one host: \(dest.ip) is a \(path.cast) address")),
                by: noBy)
        }
        if !tcp && path.cast == .broadcast && !sk.broadcast {
            return fail(broadcastRefusal(dest.ip, kernel: "ip4_datagram_connect"), by: nil)
        }
        let before = t
        if let f = autobindForReach(sk.id, in: &table) { return fail(f, by: noBy) }
        takeSource(sk.id, path.source, in: &table, tcp: tcp)
        let traffic = path.destination
        let remote = ReachState.Remote(id: sk.id, ip: Self.bareTraffic(traffic), port: dest.port)
        guard tcp else {
            table.reach.setRemote(remote)
            table.reach.pending.removeAll { $0 == sk.id }
            t[side] = table
            return ReachPrediction(
                outcome: .ok,
                reason: reason(
                    rule: "udp-connect", kernel: "ip4_datagram_connect",
                    text: "the default destination is \(spec.text) (\(path.via)); the socket now receives only from it"),
                by: nil, isGroup: false)
        }
        t[side] = table
        // A connection to the socket's own address and port, on this host: the SYN reaches the
        // socket itself (the established lookup comes before the listeners), a simultaneous open
        // that connects it to itself.
        if path.localDevice != nil, let me = table.open[sk.id]?.bound, me.port == dest.port,
            Self.bareTraffic(Self.trafficAddress(path.source)) == Self.bareTraffic(traffic)
        {
            t[side].reach.setRemote(remote)
            return ReachPrediction(
                outcome: .ok,
                reason: reason(
                    rule: "self-connect", kernel: traffic.family == .inet ? "__inet_lookup_established" : "__inet6_lookup_established",
                    text:
                        "connected to itself: \(traffic):\(dest.port) is the socket's own address and port, so its own SYN comes back to it (a simultaneous open); no listener is involved",
                    fix: "connect from another port, or to a listener's"),
                by: [], isGroup: false)
        }
        // A SYN to an IPv6 address from a socket that kept IPv4's transmit functions goes out as
        // no packet a machine answers (measured: the connection times out, to a listener too).
        if case .v6 = traffic, t[side].reach.mappedOps.contains(sk.id) {
            t[side].reach.connecting.append(sk.id)
            return ReachPrediction(
                outcome: .errno("ETIMEDOUT"),
                reason: reason(
                    rule: "mapped-ops", kernel: "tcp_v6_connect",
                    text:
                        "this socket's earlier connection to a v4-mapped address was refused, which leaves it with IPv4's transmit functions (icsk_af_ops stays ipv6_mapped): its SYN to \(traffic) never arrives, and connect() times out",
                    fix: "connect to IPv6 addresses from a new socket"),
                by: [], isGroup: false)
        }
        // The receiving namespace.
        var rside = side
        var device = path.localDevice ?? 0
        var rmodel = self
        let link = ReachNamespace(side: side, host: host).linkInterface?.index
        if path.localDevice == nil {
            let other: Side = side == .host ? .peer : .host
            let ons = ReachNamespace(side: other, host: peerModel.host)
            // A loopback destination that crosses the link is martian there: dropped, unanswered.
            guard hasPeer, path.linkDevice == link, ons.owns(Self.bareTraffic(path.destination)),
                !Self.isLoopbackAddress(Self.bareTraffic(path.destination))
            else {
                t[side].reach.connecting.append(sk.id)
                return ReachPrediction(
                    outcome: .errno("ETIMEDOUT"),
                    reason: reason(
                        rule: "no-answer", kernel: "tcp_connect",
                        text: "\(traffic) is on the link (\(path.via)) but no machine there has it: the SYN gets no answer in 2 s",
                        fix: "connect to an address a machine on the link has"),
                    by: [], isGroup: false)
            }
            rside = other
            rmodel = peerModel
            device = ons.linkInterface?.index ?? 0
        }
        let group = Self.listenerLookup(dest: Self.bareTraffic(traffic), port: dest.port, device: device, in: t[rside])
        guard let first = group.first else {
            let text = rmodel.refusalText(
                dest: traffic, port: dest.port, in: t[rside], transport: .tcp, fromPeer: rside != side, onPeer: rside == .peer)
            // The reset closes the socket (`tcp_done()`): an autobound port is free again, but
            // getsockname() still reports it (`inet_sport` is not cleared), which `$ID` names.
            let port = t[side].portOf[sk.id]
            t = before
            if let port { t[side].portOf[sk.id] = port }
            if sk.family == .inet6, case .v4 = traffic, !t[side].reach.mappedOps.contains(sk.id) { t[side].reach.mappedOps.append(sk.id) }
            return ReachPrediction(
                outcome: .errno("ECONNREFUSED"),
                reason: reason(
                    rule: "refused", kernel: "tcp_v4_send_reset", text: "refused: " + text,
                    fix: rmodel.refusalFix(dest: traffic, port: dest.port, fromPeer: rside != side)),
                by: [], isGroup: false)
        }
        // The connection: the client's remote, and the accepted end in the listener's table.
        t[side].reach.setRemote(remote)
        var rt = t[rside]
        rt.reach.acceptedCount += 1
        var child = first
        child.id = "(accepted #\(rt.reach.acceptedCount) of \(first.id))"
        child.state = .bound
        child.bound = BoundAddress(ip: Self.bareTraffic(traffic), port: dest.port, family: first.family)
        child.joined = rt.nextJoin()
        rt.open[child.id] = child
        rt.reach.accepted.append(ReachState.AcceptedEnd(id: child.id, client: sk.id, listener: first.id))
        t[rside] = rt
        let ids = group.map(\.id).sorted()
        let who =
            ids.count > 1
            ? "the SO_REUSEPORT group \(ids.joined(separator: ", ")) (the kernel picks one member by a hash)" : "\(first.id)"
        return ReachPrediction(
            outcome: .ok,
            reason: reason(
                rule: "reach", kernel: traffic.family == .inet ? "__inet_lookup_listener" : "inet6_lookup_listener",
                text:
                    "connected: \(who) on \(first.bound?.text ?? "") takes \(traffic):\(dest.port) (\(path.via)\(rside != side ? ", to the \(rside.rawValue)" : ""))"
            ),
            by: ids, isGroup: ids.count > 1)
    }

    /// What would let traffic to `dest`:`port` be taken.
    func refusalFix(dest: IPAddress, port: UInt16, fromPeer: Bool) -> String {
        let wildcard = dest.family == .inet ? "0.0.0.0" : "[::]"
        let d = dest.family == .inet ? "\(dest)" : "[\(dest)]"
        return
            "bind \(wildcard):\(port), or \(d):\(port), and listen (or receive) there\(fromPeer ? "; from another machine only this host's own non-loopback addresses answer" : "")"
    }

    func broadcastRefusal(_ ip: IPAddress, kernel: String) -> ReachFailure {
        ReachFailure(
            outcome: .errno("EACCES"),
            reason: reason(
                rule: "broadcast-needs-option", kernel: kernel, text: "\(ip) is a broadcast address and the socket lacks SO_BROADCAST",
                fix: "set SO_BROADCAST (\"broadcast\": true) on the sending socket"))
    }

    /// The traffic address without zone (as the receiver compares it).
    static func bareTraffic(_ ip: IPAddress) -> IPAddress {
        if case .v6(let a) = ip { return .v6(IPv6Address(high: a.high, low: a.low, zone: nil)) }
        return ip
    }
}
