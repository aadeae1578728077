import BindKit

// The port of a bind() or an autobinding listen(): `inet_csk_get_port()` and
// `inet_csk_find_open_port()` (net/ipv4/inet_connection_sock.c) for TCP, `udp_lib_get_port()`
// (net/ipv4/udp.c) for UDP, over the range `inet_sk_get_local_port_range()` gives. Whether two
// sockets may share a port is Conflicts.swift's.

extension BindModel {
    /// `inet_csk_get_port()` / `udp_lib_get_port()`: the port of `sk` bound to `address`. Port 0
    /// picks one; an explicit port must not conflict with its holders. Either way the socket
    /// then joins the port's owners.
    func getPort(_ sk: consuming ModelSocket, at address: BoundAddress, in t: inout SocketTable) -> StepResult {
        sk.bound = address
        return address.port == 0 ? autobind(sk, in: &t) : explicitPort(sk, in: &t)
    }

    /// The function that takes a port for `transport`, as the reasons name it.
    func getPortFunction(_ transport: Transport) -> String {
        transport == .tcp ? "inet_csk_get_port" : "udp_lib_get_port"
    }

    /// `inet_csk_find_open_port()` / `udp_lib_get_port()`'s scan for port 0.
    func autobind(_ sk: consuming ModelSocket, in t: inout SocketTable) -> StepResult {
        guard let port = pickPort(sk, in: t) else {
            let (lo, hi) = localPortRange(sk)
            return (
                .errno("EADDRINUSE"),
                reason(
                    rule: "ephemeral-exhausted", kernel: sk.transport == .tcp ? "inet_csk_find_open_port" : "udp_lib_get_port",
                    text: "no port in the ephemeral range \(lo)–\(hi) is free for \(addressText(sk))",
                    fix:
                        "widen net.ipv4.ip_local_port_range (or IP_LOCAL_PORT_RANGE), close sockets, or set net.ipv4.ip_autobind_reuse=1 with SO_REUSEADDR"
                )
            )
        }
        sk.bound?.port = port
        join(&sk, in: &t)
        return (
            .ok,
            reason(
                rule: "bind", kernel: getPortFunction(sk.transport),
                text: "bound to \(sk.bound?.text ?? "") (port chosen from \(localPortRange(sk).low)–\(localPortRange(sk).high))")
        )
    }

    /// `inet_csk_get_port()` / `udp_lib_get_port()` for an explicit port: the conflict test, then
    /// the join.
    func explicitPort(_ sk: consuming ModelSocket, in t: inout SocketTable) -> StepResult {
        if let holder = explicitPortConflict(sk, in: t) {
            return (.errno("EADDRINUSE"), conflictReason(sk, holder, listen: false))
        }
        join(&sk, in: &t)
        return (
            .ok,
            reason(
                rule: "bind", kernel: getPortFunction(sk.transport),
                text: "bound to \(sk.bound?.text ?? "")\(sharing(sk, t))")
        )
    }

    /// The candidate's address without its port, for the words of an exhausted range.
    private func addressText(_ sk: ModelSocket) -> String {
        guard let b = sk.bound else { return "?" }
        if let v6 = b.v6 { return "[\(v6)]" }
        return "\(IPv4Address(rawValue: b.v4))"
    }

    /// The first holder `sk` shares its address and port with, for the words of a bind.
    private func sharing(_ sk: ModelSocket, _ t: SocketTable) -> String {
        guard let b = sk.bound else { return "" }
        let others = t.holders(port: b.port, transport: sk.transport, excluding: sk.id).filter {
            rcvSaddrEqual(sk, $0, matchWildcard: true) && devicesOverlap(sk, $0)
        }
        guard let o = others.first else { return "" }
        return "; shares the port with \(o.id) (\(o.bound?.text ?? ""), \(o.summary))"
    }

    /// `inet_csk_get_port()`'s `sk_reuseport_match()` fast path, then `inet_csk_bind_conflict()`;
    /// or `udp_lib_lport_inuse()`: the holder that refuses `sk` an explicit port, if any.
    func explicitPortConflict(_ sk: ModelSocket, in t: SocketTable) -> ModelSocket? {
        guard let port = sk.bound?.port else { return nil }
        let holders = t.holders(port: port, transport: sk.transport, excluding: sk.id)
        switch sk.transport {
        case .udp:
            return udpConflict(sk, chain: holders, rules: rules)
        case .tcp:
            // The fast path: a SO_REUSEADDR socket on a `tb->fastreuse` bucket (before 6.8) or a
            // SO_REUSEPORT one matching the bucket's record skips the scan.
            let bucketHasOwners = !holders.isEmpty || t.isBound(sk.id)
            if bucketHasOwners, let bucket = t.buckets[port] {
                if bucket.fastReuse && sk.reuseAddress && sk.state != .listening { return nil }
                if bucket.reusePortMatch(sk) { return nil }
            }
            return tcpConflict(sk, holders: holders, relax: true, reuseportOK: true, rules: rules)
        }
    }

    /// `inet_bind_hash()` with `inet_csk_update_fastreuse()` (TCP), or the hash insert of
    /// `udp_lib_get_port()`: adds `sk` (bound) to the table and to its port's bucket.
    func join(_ sk: inout ModelSocket, in t: inout SocketTable) {
        guard let port = sk.bound?.port else { return }
        if !t.isBound(sk.id) {
            sk.joined = t.nextJoin()
            sk.chainTail = sk.transport == .udp && sk.family == .inet6 && sk.reusePort
        }
        if sk.state == .created { sk.state = .bound }
        if sk.transport == .tcp {
            // Before 6.8 the port's first owner sets the fast path (BindBucket.update): first
            // when nobody, this socket included, holds the port yet.
            let first = rules.fastReuseFromFirstOwner && !t.isBusy(port, transport: .tcp)
            var bucket = t.buckets[port] ?? BindBucket()
            bucket.update(joining: sk, first: first)
            t.buckets[port] = bucket
        }
        t.open[sk.id] = sk
        t.portOf[sk.id] = port
    }

    /// `inet_sk_get_local_port_range()`: the sysctl range, each end narrowed by IP_LOCAL_PORT_RANGE
    /// when it falls inside.
    func localPortRange(_ sk: ModelSocket) -> (low: Int, high: Int) {
        var lo = Int(host.sysctls.localPortRange.low)
        var hi = Int(host.sysctls.localPortRange.high)
        if sk.localPortRange != 0 {
            let skLo = Int(sk.localPortRange & 0xffff)
            let skHi = Int(sk.localPortRange >> 16)
            if lo <= skLo && skLo <= hi { lo = skLo }
            if lo <= skHi && skHi <= hi { hi = skHi }
        }
        return (lo, hi)
    }

    /// Port 0: the first usable port in the kernel's scan order (the kernel starts the scan at a
    /// random offset; the model at offset 1). Among usable ports, one nobody holds is preferred,
    /// as a random pick in a large range nearly always is; and among those, one no socket of the
    /// scenario has had: a random pick nearly never lands on the one port, freed a moment ago,
    /// that a later step names with `$id` (the model picking it again would make that step
    /// collide where the kernel's does not).
    func pickPort(_ sk: ModelSocket, in t: SocketTable) -> UInt16? {
        var firstUsable: UInt16?
        var firstFreeButNamed: UInt16?
        var chosen: UInt16?
        let visit: (Int) -> Bool = { p in
            guard let port = UInt16(exactly: p), port != 0 else { return false }
            if !t.isBusy(port, transport: sk.transport) {
                if !t.portOf.entries.contains(where: { $0.value == port }) {
                    chosen = port
                    return true
                }
                if firstFreeButNamed == nil { firstFreeButNamed = port }
                return false
            }
            if firstUsable == nil && autobindUsable(sk, port: port, in: t) { firstUsable = port }
            return false
        }
        if sk.transport == .tcp {
            forEachTCPScanPort(sk, visit)
        } else {
            let (lo, hi) = localPortRange(sk)
            if lo <= hi { for p in lo...hi where visit(p) { break } }
        }
        return chosen ?? firstFreeButNamed ?? firstUsable
    }

    /// Whether autobind may take `port`: `inet_csk_find_open_port`'s conflict test (relax false,
    /// then with ip_autobind_reuse also relax true; reuseport_ok false), or UDP's bitmap.
    func autobindUsable(_ sk: ModelSocket, port: UInt16, in t: SocketTable) -> Bool {
        var candidate = sk
        candidate.bound?.port = port
        let holders = t.holders(port: port, transport: sk.transport, excluding: sk.id)
        switch sk.transport {
        case .udp:
            return !udpPortBusy(candidate, chain: holders)
        case .tcp:
            if tcpConflict(candidate, holders: holders, relax: false, reuseportOK: false, rules: rules) == nil { return true }
            return host.sysctls.autobindReuse
                && tcpConflict(candidate, holders: holders, relax: true, reuseportOK: false, rules: rules) == nil
        }
    }

    /// Visits the ports `inet_csk_find_open_port` scans, in its order, until `visit` returns true:
    /// the random offset fixed at 1; with SO_REUSEADDR the lower half first; in each half odd
    /// offsets, then even; a range of odd size loses its last port (`remaining &= ~1`).
    func forEachTCPScanPort(_ sk: ModelSocket, _ visit: (Int) -> Bool) {
        let (lo0, hi0) = localPortRange(sk)
        let fullHigh = hi0 + 1
        guard fullHigh > lo0 else { return }
        var halves: [(Int, Int)] = [(lo0, fullHigh)]
        if sk.reuseAddress && fullHigh - lo0 >= 4 {
            let half = lo0 + (((fullHigh - lo0) >> 2) << 1)
            halves = [(lo0, half), (half, fullHigh)]
        }
        for (low, high) in halves {
            var remaining = high - low
            if remaining > 1 { remaining &= ~1 }
            var offset = remaining > 1 ? 1 : 0
            while true {
                var port = low + offset
                var i = 0
                while i < remaining {
                    if port >= high { port -= remaining }
                    if visit(port) { return }
                    i += 2
                    port += 2
                }
                offset -= 1
                if offset < 0 || offset & 1 != 0 { break }
            }
        }
    }
}
