import BindKit

// UDP reach: sendto(2) (`udp_sendmsg`, `udpv6_sendmsg`), then the receiver's lookup: unicast to
// the best socket (`__udp4_lib_lookup`: the sockets bound to the destination address first, then
// the wildcard; `compute_score` ranks a connected socket, which matches only its peer, a device
// binding, and for IPv4 an AF_INET socket), multicast and broadcast to every matching socket
// (`__udp4_lib_mcast_deliver`, `__udp6_lib_mcast_deliver`). Nobody there: ICMP port
// unreachable, which a connected sender sees as ECONNREFUSED on its next call.

extension BindModel {
    /// The remote end a socket is connected to (traffic form), if any.
    static func remoteOf(_ sk: ModelSocket, in table: SocketTable) -> ReachState.Remote? { table.reach.remote(sk.id) }

    /// `compute_score()` of a UDP socket for a datagram `src`:`sport` → `dest` on `device`.
    static func udpScore(
        _ sk: ModelSocket, dest: IPAddress, exact: Bool?, src: IPAddress, sport: UInt16, device: UInt32, in table: SocketTable
    ) -> Int {
        guard sk.transport == .udp, let b = sk.bound else { return -1 }
        var score = 0
        switch dest {
        case .v4(let a):
            guard let rcv = rcvV4(sk) else { return -1 }
            if let exact {
                guard exact ? rcv == a.rawValue : rcv == 0 else { return -1 }
            } else if rcv != 0 && rcv != a.rawValue {
                return -1
            }
            score = sk.family == .inet ? 2 : 1
        case .v6(let a):
            guard sk.family == .inet6, let v6 = b.v6 else { return -1 }
            let equal = v6.high == a.high && v6.low == a.low
            if let exact {
                guard exact ? equal : v6.isUnspecified else { return -1 }
            } else if !v6.isUnspecified && !equal {
                return -1
            }
        }
        if let r = remoteOf(sk, in: table) {
            guard r.ip == src, r.port == sport else { return -1 }
            score += dest.family == .inet ? 8 : 2
        }
        if sk.device != 0 {
            guard sk.device == device else { return -1 }
            score += dest.family == .inet ? 4 : 1
        }
        return score
    }

    /// `__udp4_lib_lookup()` / `__udp6_lib_lookup()`: the socket (or SO_REUSEPORT group) a
    /// unicast datagram reaches, or empty.
    static func udpLookup(dest: IPAddress, port: UInt16, src: IPAddress, sport: UInt16, device: UInt32, in table: SocketTable)
        -> [ModelSocket]
    {
        let candidates = table.holders(port: port, transport: .udp)
        for exact in [true, false] {
            var best: ModelSocket?
            var hiscore = -1
            for sk in candidates {
                let s = udpScore(sk, dest: dest, exact: exact, src: src, sport: sport, device: device, in: table)
                if s > hiscore {
                    hiscore = s
                    best = sk
                    // `udp4_lib_lookup2`: an unconnected SO_REUSEPORT socket that scores above every
                    // one before it in the chain answers for its group at once (when no member is
                    // connected), even if a later socket would score higher.
                    if sk.reusePort && table.reach.remote(sk.id) == nil {
                        let group = reuseportGroup(sk, in: table, listening: false)
                        if group.allSatisfy({ table.reach.remote($0.id) == nil }) { return group }
                    }
                }
            }
            if let best {
                // A group with connected members: the members that can receive this one.
                let group = reuseportGroup(best, in: table, listening: false)
                return group.filter { udpScore($0, dest: dest, exact: exact, src: src, sport: sport, device: device, in: table) >= 0 }
            }
        }
        return []
    }

    /// `__udp4_lib_mcast_deliver()`: every socket on the port whose bound address is the
    /// destination or the wildcard, connected only to this sender, on a matching device.
    static func udpMulticast(dest: IPAddress, port: UInt16, src: IPAddress, sport: UInt16, device: UInt32, in table: SocketTable)
        -> [ModelSocket]
    {
        table.holders(port: port, transport: .udp).filter {
            udpScore($0, dest: dest, exact: nil, src: src, sport: sport, device: device, in: table) >= 0
        }
    }

    /// Whether a group address is one every interface has joined (224.0.0.1, ff02::1): the only
    /// groups the fixture's devices take without an IP_ADD_MEMBERSHIP.
    static func isAllHosts(_ ip: IPAddress) -> Bool {
        switch ip {
        case .v4(let a): return a == IPv4Address(224, 0, 0, 1)
        case .v6(let a): return a.high == 0xff02_0000_0000_0000 && a.low == 1
        }
    }

    /// Whether `ip` is a broadcast address in `host` (255.255.255.255, a subnet broadcast route).
    static func isBroadcast(_ ip: IPAddress, in host: ModelHost) -> Bool {
        guard case .v4(let a) = ip else { return false }
        return a.isLimitedBroadcast || host.ipv4RouteType(a) == .broadcast
    }

    /// The `send` step.
    func send(_ id: String?, to spec: AddressSpec?, side: Side, in t: inout ScenarioTables, peerModel: BindModel, hasPeer: Bool)
        -> ReachPrediction
    {
        func fail(_ f: ReachFailure) -> ReachPrediction { ReachPrediction(outcome: f.outcome, reason: f.reason, by: [], isGroup: false) }
        var table = t[side]
        var sk: ModelSocket
        switch reachSocket(id, in: table) {
        case .failure(let f): return fail(f)
        case .success(let s): sk = s
        }
        // The address is made in user space first (a `$ID` without a port, an unknown zone name:
        // no system call). Then `inet_sendmsg()` autobinds an unbound socket before the protocol
        // looks at anything, so the port stays whatever sendto() answers.
        var resolved: (ip: IPAddress, port: UInt16)?
        if let spec {
            switch resolve(spec, in: table) {
            case .failure(let f): return fail(f)
            case .success(let d): resolved = d
            }
        }
        if let f = autobindForReach(sk.id, in: &table) { return fail(f) }
        t[side] = table
        if let bound = table.open[sk.id] { sk = bound }
        // A pending error is reported (and cleared) before anything is sent (`sock_alloc_send_pskb`).
        if table.reach.pending.contains(sk.id) {
            table.reach.pending.removeAll { $0 == sk.id }
            t[side] = table
            return fail(
                ReachFailure(
                    outcome: .errno("ECONNREFUSED"),
                    reason: reason(
                        rule: "pending-error", kernel: "sock_alloc_send_pskb",
                        text:
                            "the last datagram to the connected peer came back as ICMP port unreachable: this call reports it, and sends nothing",
                        fix: "have something receive on the peer's port")))
        }
        let connected = table.reach.remote(sk.id)
        let dest: (ip: IPAddress, port: UInt16)
        if let d = resolved {
            if let f = reachFamily(sk, d.ip, udpSend: true) { return fail(f) }
            dest = d
        } else if let connected {
            dest = (connected.ip, connected.port)
        } else {
            return fail(
                ReachFailure(
                    outcome: .errno("EDESTADDRREQ"),
                    reason: reason(
                        rule: "no-destination", kernel: "udp_sendmsg", text: "send without an address on a socket that is not connected",
                        fix: "give the step an address, or connect first")))
        }
        let ns = ReachNamespace(side: side, host: host)
        let path: Path
        switch route(sk, to: dest.ip, in: ns, connecting: false) {
        case .failure(let f): return fail(f)
        case .success(let p): path = p
        }
        if path.cast == .broadcast && !sk.broadcast {
            return fail(broadcastRefusal(dest.ip, kernel: "udp_sendmsg"))
        }
        guard let sport = t[side].open[sk.id]?.bound?.port else {
            return fail(ReachFailure(outcome: .errno("EINVAL"), reason: reason(rule: "no-port", kernel: "udp_sendmsg", text: "no port")))
        }
        let traffic = Self.bareTraffic(path.destination)
        let src = Self.bareTraffic(Self.trafficAddress(path.source))
        var reached: [String] = []
        var isGroup = false
        var notes: [String] = []
        var refusedBy: String?
        let other: Side = side == .host ? .peer : .host
        for r in receivers(of: path, from: side, hasPeer: hasPeer) {
            let rhost = r.local ? host : peerModel.host
            let rns = ReachNamespace(side: r.side, host: rhost)
            let device = r.device ?? rns.linkInterface?.index ?? 0
            let rtable = t[r.side]
            let multi = path.cast == .multicast || Self.isBroadcast(traffic, in: rhost)
            if multi {
                if path.cast == .multicast && !Self.isAllHosts(traffic) { continue }
                let got = Self.udpMulticast(dest: traffic, port: dest.port, src: src, sport: sport, device: device, in: rtable)
                reached += got.map(\.id)
                notes.append("\(r.side.rawValue): \(got.isEmpty ? "nobody on port \(dest.port)" : got.map(\.id).joined(separator: ", "))")
            } else {
                // Crossing the link, a loopback destination is martian (`ip_route_input_slow()`,
                // `ip6_rcv_core()`): dropped on arrival.
                guard path.loopedBack || (rns.owns(traffic) && (r.local || !Self.isLoopbackAddress(traffic))) else {
                    notes.append("no machine on the link has \(traffic): dropped")
                    continue
                }
                let got = Self.udpLookup(dest: traffic, port: dest.port, src: src, sport: sport, device: device, in: rtable)
                if got.isEmpty {
                    refusedBy = (r.local ? self : peerModel).refusalText(
                        dest: traffic, port: dest.port, in: rtable, transport: .udp, fromPeer: r.side != side, onPeer: r.side == .peer)
                    // ICMP port unreachable: a connected sender whose peer this is gets ECONNREFUSED next.
                    if let c = connected, c.ip == traffic, c.port == dest.port { t[side].reach.pending.append(sk.id) }
                } else {
                    isGroup = got.count > 1
                    reached += got.map(\.id)
                    notes.append(
                        "\(got.map(\.id).joined(separator: ", ")) \(got.count > 1 ? "(a SO_REUSEPORT group: the kernel picks one)" : "") on the \(r.side.rawValue)"
                    )
                }
            }
        }
        _ = other
        let by = Set(reached).sorted()
        let text: String
        if by.isEmpty, let refusedBy {
            text = "sent; no socket takes it (ICMP port unreachable): \(refusedBy)"
        } else {
            text =
                "sent to \(traffic):\(dest.port) (\(path.via)): " + (notes.isEmpty ? "nobody receives it" : notes.joined(separator: "; "))
        }
        return ReachPrediction(
            outcome: .ok,
            reason: reason(
                rule: path.cast == .unicast ? "reach" : "reach-\(path.cast)",
                kernel: path.cast == .unicast
                    ? (traffic.family == .inet ? "__udp4_lib_lookup" : "__udp6_lib_lookup")
                    : (traffic.family == .inet ? "__udp4_lib_mcast_deliver" : "__udp6_lib_mcast_deliver"),
                text: text, fix: by.isEmpty ? refusalFix(dest: traffic, port: dest.port, fromPeer: false) : nil),
            by: by, isGroup: isGroup && path.cast == .unicast)
    }
}
