import BindKit

/// The model's answer for one step.
public struct Prediction: Sendable {
    public var outcome: Outcome
    public var reason: Reason
    /// The table after the step.
    public var table: SocketTable
}

/// The Linux bind rules as a pure function: host facts + socket table + step → outcome, reason,
/// new table. One small function per rule, in the order the kernel checks them. No syscalls,
/// clock or randomness: port 0 picks deterministically in the kernel's scan order.
public struct BindModel: Sendable {
    public var host: ModelHost
    /// Whether reasons carry their words (text, holder, fix). Without, outcomes and tables are the
    /// same and each reason keeps its rule and kernel function: the matrix asks the words only for
    /// the steps it records.
    public var explains = true

    /// Every capability, as a mask: what a socket created by uid 0 holds.
    static let allCapabilitiesMask = Capability.mask(of: Set(Capability.allCases))

    public init(host: ModelHost, explains: Bool = true) {
        self.host = host
        self.explains = explains
    }

    /// This model, with reasons in words or reduced to their rule names.
    public func explaining(_ explains: Bool) -> BindModel {
        var m = self
        m.explains = explains
        return m
    }

    /// Predicts one step.
    public func predict(_ step: Step, in table: SocketTable) -> Prediction {
        var t = table
        let (outcome, reason) = perform(step, on: &t)
        return Prediction(outcome: outcome, reason: reason, table: outcome == .ok ? t : keepFailureState(step, t, table))
    }

    /// Predicts one step and leaves the table after it in `table`: the same outcome, reason and
    /// table as `predict`, without copying the table.
    public func apply(_ step: Step, to table: inout SocketTable) -> (outcome: Outcome, reason: Reason) {
        perform(step, on: &table)
    }

    /// Runs whole scenario steps, returning each prediction (the table threads through).
    public func run(_ steps: [Step], from table: SocketTable = SocketTable()) -> [Prediction] {
        var t = table
        return steps.map { step in
            let (outcome, reason) = perform(step, on: &t)
            return Prediction(outcome: outcome, reason: reason, table: t)
        }
    }

    /// A failed step normally leaves the table as it was; a few failures still change the socket
    /// (the kernel keeps them): a scoped bind's device, and options set before a failing one.
    /// (`perform` changes the table on no other failure, so `apply` and `run` need not restore it.)
    private func keepFailureState(_ step: Step, _ after: SocketTable, _ before: SocketTable) -> SocketTable {
        switch step.action {
        case .bind, .socket: return after
        default: return before
        }
    }

    typealias Answer = (Outcome, Reason)

    /// One step on `t`. A failing `setsockopt`, `listen`, `close` or `timewait` leaves `t` as it was.
    func perform(_ step: Step, on t: inout SocketTable) -> Answer {
        switch step.action {
        case .socket(let family, let transport, let options):
            return createSocket(id: step.id ?? "", family: family, transport: transport, options: options, in: &t)
        case .setsockopt(let option):
            guard let id = step.id, var sk = t.open[id] else { return unknownSocket(step.id) }
            let answer = setOption(option, on: &sk)
            if answer.0 == .ok { t.open[id] = sk }
            return answer
        case .bind(let spec):
            guard let id = step.id, let sk = t.open[id] else { return unknownSocket(step.id) }
            var answer = bind(sk, to: spec, in: &t)
            answer.1.port = t.open[id]?.bound?.port ?? resolvePort(spec.port, in: t)
            return answer
        case .listen:
            guard let id = step.id, let sk = t.open[id] else { return unknownSocket(step.id) }
            var answer = listen(sk, in: &t)
            answer.1.port = t.open[id]?.bound?.port
            return answer
        case .close:
            guard let id = step.id, t.open.contains(id) else { return unknownSocket(step.id) }
            close(id, in: &t)
            return (.ok, reason(rule: "close", kernel: "inet_release", text: "closed; its port is free again unless others hold it"))
        case .timewait(let spec, let reuseaddr):
            var answer = timeWait(id: step.id, at: spec, reuseaddr: reuseaddr, in: &t)
            answer.1.port = resolvePort(spec.port, in: t).flatMap { $0 == 0 ? step.id.flatMap { t.portOf[$0] } : $0 }
            return answer
        }
    }

    private func unknownSocket(_ id: String?) -> Answer {
        (.errno("EBADF"), reason(rule: "no-socket", kernel: "sockfd_lookup", text: "no open socket \(id ?? "?") at this step"))
    }

    // MARK: - socket() and options

    func createSocket(id: String, family: AddressFamily, transport: Transport, options: [SocketOptionSetting], in t: inout SocketTable)
        -> Answer
    {
        var uid: UInt32 = 0
        var caps: UInt64?
        for o in options {
            if case .uid(let u) = o { uid = u }
            if case .caps(let c) = o { caps = Capability.mask(of: c) }
        }
        var sk = ModelSocket(
            id: id, family: family, transport: transport, uid: uid, capMask: caps ?? (uid == 0 ? Self.allCapabilitiesMask : 0))
        // inet6_create(): sk->sk_ipv6only = net.ipv6.bindv6only.
        sk.v6only = family == .inet6 && host.sysctls.bindv6only
        // The words describe the socket as created, before its options.
        let created = reason(rule: "socket", kernel: "inet_create", text: "created \(sk.summary)")
        for o in options {
            switch o {
            case .uid, .caps: continue
            default:
                let a = setOption(o, on: &sk)
                if a.0 != .ok {
                    t.open[id] = sk
                    return a
                }
            }
        }
        t.open[id] = sk
        return (.ok, created)
    }

    /// One socket option, as `sock_setsockopt` / `do_ip_setsockopt` / `do_ipv6_setsockopt` decide.
    func setOption(_ option: SocketOptionSetting, on sk: inout ModelSocket) -> Answer {
        switch option {
        case .uid(let u):
            sk.uid = u
            return (
                .ok,
                reason(
                    rule: "credentials", kernel: "setresuid",
                    text: "later steps run as uid \(u); SO_REUSEPORT still compares the creator's uid \(sk.ownerUID)")
            )
        case .caps(let c):
            sk.caps = c
            return (
                .ok,
                reason(
                    rule: "credentials", kernel: "capset",
                    text: "later steps hold \(c.isEmpty ? "no capabilities" : c.sorted().map(\.name).joined(separator: ", "))")
            )
        case .reuseaddr(let v):
            sk.reuseAddress = v
        case .reuseport(let v):
            sk.reusePort = v
        case .v6only(let v):
            // do_ipv6_setsockopt(IPV6_V6ONLY): an inet socket has no IPv6 level; a bound one is fixed.
            if sk.family == .inet {
                return (
                    .errno("ENOPROTOOPT"),
                    reason(rule: "option-level", kernel: "ip_setsockopt", text: "IPV6_V6ONLY exists only on inet6 sockets")
                )
            }
            if sk.bound != nil {
                return (
                    .errno("EINVAL"),
                    reason(
                        rule: "v6only-after-bind", kernel: "do_ipv6_setsockopt",
                        text: "IPV6_V6ONLY cannot change once the socket has a port", fix: "set it before bind()")
                )
            }
            sk.v6only = v
        case .freebind(let v):
            sk.freebind = v
        case .transparent(let v):
            if v && !sk.holds(.netRaw) && !sk.holds(.netAdmin) {
                return (
                    .errno("EPERM"),
                    reason(
                        rule: "transparent-needs-capability", kernel: "do_ip_setsockopt",
                        text: "IP_TRANSPARENT needs CAP_NET_RAW or CAP_NET_ADMIN",
                        fix: "use IP_FREEBIND, which needs no capability, to bind a non-local address")
                )
            }
            sk.transparent = v
        case .device(let name):
            // sock_setbindtodevice(): the name first, then the right to change an existing binding.
            guard let iface = host.interface(named: name) else {
                return (
                    .errno("ENODEV"),
                    reason(
                        rule: "no-such-device", kernel: "sock_setbindtodevice",
                        text: "no interface named \(name) (this host has \(host.interfaces.map(\.name).joined(separator: ", ")))")
                )
            }
            if sk.device != 0 && !sk.holds(.netRaw) {
                return (
                    .errno("EPERM"),
                    reason(
                        rule: "rebind-device-needs-capability", kernel: "sock_bindtoindex_locked",
                        text: "changing SO_BINDTODEVICE once set needs CAP_NET_RAW")
                )
            }
            sk.device = iface.index
        case .localPortRange(let low, let high):
            // do_ip_setsockopt(IP_LOCAL_PORT_RANGE)
            if low != 0 && high != 0 && low > high {
                return (
                    .errno("EINVAL"),
                    reason(
                        rule: "port-range-order", kernel: "do_ip_setsockopt", text: "IP_LOCAL_PORT_RANGE low \(low) is above high \(high)")
                )
            }
            sk.localPortRange = UInt32(low) | UInt32(high) << 16
        }
        // The other options succeed: one answer for them, made where it is returned (not copied there).
        return (.ok, reason(rule: "setsockopt", kernel: "sock_setsockopt", text: "\(option.key) set"))
    }

    // MARK: - bind()

    func resolvePort(_ p: PortSpec, in t: SocketTable) -> UInt16? {
        switch p {
        case .number(let n): return n
        case .reference(let id): return t.portOf[id]
        }
    }

    func bind(_ sk: ModelSocket, to spec: AddressSpec, in t: inout SocketTable) -> Answer {
        guard let port = resolvePort(spec.port, in: t) else {
            return (
                .errno("EINVAL"),
                reason(rule: "unresolved-port", kernel: "(scenario)", text: "\(spec.port) names a socket that never got a port")
            )
        }
        switch (sk.family, spec.ip) {
        case (.inet, .v6):
            // __inet_bind(): a sockaddr_in6 is long enough, but not AF_INET.
            return (
                .errno("EAFNOSUPPORT"),
                reason(
                    rule: "family", kernel: "__inet_bind", text: "an inet socket was given an IPv6 address",
                    fix: "create the socket as inet6, or bind an IPv4 address")
            )
        case (.inet6, .v4):
            // inet6_bind(): a sockaddr_in (16 bytes) is shorter than SIN6_LEN_RFC2133 (24).
            return (
                .errno("EINVAL"),
                reason(
                    rule: "address-length", kernel: "inet6_bind",
                    text: "an inet6 socket was given an IPv4 sockaddr, shorter than a sockaddr_in6",
                    fix: "use the v4-mapped form [::ffff:a.b.c.d]")
            )
        case (.inet, .v4(let a)):
            return bindV4(sk, a, port: port, in: &t)
        case (.inet6, .v6(let a)):
            var scope: UInt32 = 0
            switch a.zone {
            case .index(let i)?: scope = i
            case .name(let n)?:
                guard let iface = host.interface(named: n) else {
                    return (
                        .errno("ENODEV"),
                        reason(
                            rule: "no-such-device", kernel: "if_nametoindex",
                            text: "zone %\(n) names no interface, so no scope id can be passed")
                    )
                }
                scope = iface.index
            case nil: break
            }
            return bindV6(sk, IPv6Address(high: a.high, low: a.low, zone: nil), scope: scope, port: port, in: &t)
        }
    }

    /// `__inet_bind()`: locality, privilege, already bound, then the port.
    func bindV4(_ sk: ModelSocket, _ a: IPv4Address, port: UInt16, in t: inout SocketTable) -> Answer {
        if let refusal = ipv4Locality(sk, a, kernel: "__inet_bind") { return refusal }
        if let refusal = privilegedPort(sk, port, kernel: "__inet_bind") { return refusal }
        if let refusal = alreadyBound(sk) { return refusal }
        var candidate = sk
        candidate.bound = BoundAddress(v4: a.rawValue, v6: nil, port: port)
        return getPort(candidate, in: &t)
    }

    /// `__inet6_bind()`: TCP multicast, privilege, already bound, then v4-mapped or scope and
    /// locality, then the port.
    func bindV6(_ sk: ModelSocket, _ a: IPv6Address, scope: UInt32, port: UInt16, in t: inout SocketTable) -> Answer {
        if a.isMulticast && sk.transport == .tcp {
            return (
                .errno("EINVAL"),
                reason(
                    rule: "tcp-multicast", kernel: "__inet6_bind", text: "a TCP socket cannot bind an IPv6 multicast address",
                    fix: "use UDP to receive multicast")
            )
        }
        if let refusal = privilegedPort(sk, port, kernel: "__inet6_bind") { return refusal }
        if let refusal = alreadyBound(sk) { return refusal }
        var candidate = sk
        let v4: UInt32
        if let mapped = a.v4Mapped {
            if sk.v6only {
                return (
                    .errno("EINVAL"),
                    reason(
                        rule: "v4mapped-on-v6only", kernel: "__inet6_bind",
                        text: "[\(a)] is an IPv4 address in IPv6 form, and the socket is IPV6_V6ONLY",
                        fix: "clear IPV6_V6ONLY before bind, or use an inet socket")
                )
            }
            if sk.device != 0 && host.interface(index: sk.device) == nil {
                return noDevice(sk.device)
            }
            if let refusal = ipv4Locality(sk, mapped, kernel: "__inet6_bind") { return refusal }
            v4 = mapped.rawValue
        } else if a.isUnspecified {
            v4 = 0
        } else {
            if needsScope(a) {
                // The scope id replaces SO_BINDTODEVICE, and stays even when the bind fails.
                if scope != 0 {
                    candidate.device = scope
                    t.open[sk.id]?.device = scope
                }
                if candidate.device == 0 {
                    return (
                        .errno("EINVAL"),
                        reason(
                            rule: "link-local-needs-scope", kernel: "__inet6_bind",
                            text:
                                "[\(a)] is \(a.isMulticast ? "a link- or interface-local multicast group" : "link-local"): it needs a scope (%interface) or SO_BINDTODEVICE",
                            fix: "write it as [\(a)%IFNAME]:PORT")
                    )
                }
            }
            if candidate.device != 0 && host.interface(index: candidate.device) == nil {
                return noDevice(candidate.device)
            }
            if !a.isMulticast {
                let nonlocal = host.sysctls.ipv6NonlocalBind || sk.freebind || sk.transparent
                if !nonlocal && !host.ipv6HasAddress(a, device: candidate.device) {
                    return notLocal(.v6(a), sk: candidate, kernel: "__inet6_bind", nonlocalKnob: "net.ipv6.ip_nonlocal_bind")
                }
            }
            v4 = loopback4IPv6
            candidate.v6only = true  // binding a real IPv6 address makes the socket v6-only
        }
        candidate.bound = BoundAddress(v4: v4, v6: a, port: port)
        return getPort(candidate, in: &t)
    }

    /// `__ipv6_addr_needs_scope_id()`: link-local unicast, and interface- or link-local multicast.
    func needsScope(_ a: IPv6Address) -> Bool {
        if a.isLinkLocal { return true }
        if let s = a.multicastScope { return s == .interfaceLocal || s == .linkLocal }
        return false
    }

    private func noDevice(_ index: UInt32) -> Answer {
        (
            .errno("ENODEV"),
            reason(
                rule: "no-such-device", kernel: "dev_get_by_index",
                text: "the socket's device or scope #\(index) is no interface of this host")
        )
    }

    /// `inet_addr_valid_or_nonlocal()`.
    func ipv4Locality(_ sk: ModelSocket, _ a: IPv4Address, kernel: String) -> Answer? {
        if host.ipv4Bindable(a) || host.sysctls.ipv4NonlocalBind || sk.freebind || sk.transparent { return nil }
        return notLocal(.v4(a), sk: sk, kernel: kernel, nonlocalKnob: "net.ipv4.ip_nonlocal_bind")
    }

    private func notLocal(_ ip: IPAddress, sk: ModelSocket, kernel: String, nonlocalKnob: String) -> Answer {
        if !explains { return (.errno("EADDRNOTAVAIL"), Reason(rule: "address-not-local", kernel: kernel, text: "", explains: false)) }
        let family: AddressFamily = {
            if case .v4 = ip { return .inet }
            return .inet6
        }()
        let mine = host.localAddresses(family: family)
        let instead =
            family == .inet
            ? "bind 0.0.0.0 to accept on every interface, or 127.0.0.1 for this host only"
            : "bind [::] to accept on every interface, or [::1] for this host only"
        var text = "\(ip) is not an address of this host"
        if case .v6(let a) = ip, sk.device != 0, a.isLinkLocal || a.isLoopback {
            text += " on device #\(sk.device)"
        }
        text += " (it has \(mine.isEmpty ? "none" : mine.joined(separator: ", ")))"
        return (
            .errno("EADDRNOTAVAIL"),
            reason(
                rule: "address-not-local", kernel: kernel, text: text,
                fix: "\(instead); IP_FREEBIND or \(nonlocalKnob)=1 would allow it")
        )
    }

    /// `inet_port_requires_bind_service()` and `ns_capable(CAP_NET_BIND_SERVICE)`.
    func privilegedPort(_ sk: ModelSocket, _ port: UInt16, kernel: String) -> Answer? {
        let start = host.sysctls.unprivilegedPortStart
        guard port != 0, Int(port) < start, !sk.holds(.netBindService) else { return nil }
        return (
            .errno("EACCES"),
            reason(
                rule: "privileged-port", kernel: kernel,
                text: "port \(port) is below net.ipv4.ip_unprivileged_port_start (\(start)) and uid \(sk.uid) lacks CAP_NET_BIND_SERVICE",
                fix:
                    "use a port ≥ \(start), grant CAP_NET_BIND_SERVICE (setcap 'cap_net_bind_service=+ep' or systemd AmbientCapabilities=CAP_NET_BIND_SERVICE), or lower net.ipv4.ip_unprivileged_port_start"
            )
        )
    }

    /// `sk->sk_state != TCP_CLOSE || inet->inet_num`: a socket gets one address.
    func alreadyBound(_ sk: ModelSocket) -> Answer? {
        guard let b = sk.bound else { return nil }
        return (
            .errno("EINVAL"),
            reason(
                rule: "already-bound", kernel: "__inet_bind", text: "socket \(sk.id) is already bound to \(b.text)",
                fix: "a socket binds once: close it and bind a new one")
        )
    }

    // MARK: - The port

    /// `inet_csk_get_port()` / `udp_lib_get_port()`: the port for a candidate whose address is in
    /// `bound` (port 0 picks one).
    func getPort(_ candidate: ModelSocket, in t: inout SocketTable) -> Answer {
        guard let b = candidate.bound else { return (.ok, reason(rule: "bind", kernel: "", text: "")) }
        var sk = candidate
        if b.port == 0 {
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
                    rule: "bind", kernel: sk.transport == .tcp ? "inet_csk_get_port" : "udp_lib_get_port",
                    text: "bound to \(sk.bound?.text ?? "") (port chosen from \(localPortRange(sk).0)–\(localPortRange(sk).1))")
            )
        }
        if let holder = explicitPortConflict(sk, in: t) {
            return (.errno("EADDRINUSE"), conflictReason(sk, holder, listen: false))
        }
        join(&sk, in: &t)
        return (
            .ok,
            reason(
                rule: "bind", kernel: sk.transport == .tcp ? "inet_csk_get_port" : "udp_lib_get_port",
                text: "bound to \(b.text)\(sharing(sk, t))")
        )
    }

    private func addressText(_ sk: ModelSocket) -> String {
        guard let b = sk.bound else { return "?" }
        if let v6 = b.v6 { return "[\(v6)]" }
        return "\(IPv4Address(rawValue: b.v4))"
    }

    private func sharing(_ sk: ModelSocket, _ t: SocketTable) -> String {
        guard let b = sk.bound else { return "" }
        let others = t.holders(port: b.port, transport: sk.transport, excluding: sk.id).filter {
            rcvSaddrEqual(sk, $0, matchWildcard: true) && devicesOverlap(sk, $0)
        }
        guard let o = others.first else { return "" }
        return "; shares the port with \(o.id) (\(o.bound?.text ?? ""), \(o.summary))"
    }

    /// The holder that refuses `sk` an explicit port, if any.
    func explicitPortConflict(_ sk: ModelSocket, in t: SocketTable) -> ModelSocket? {
        guard let port = sk.bound?.port else { return nil }
        let holders = t.holders(port: port, transport: sk.transport, excluding: sk.id)
        switch sk.transport {
        case .udp:
            return udpConflict(sk, chain: holders)
        case .tcp:
            // The fast path: a SO_REUSEPORT socket matching the bucket's record skips the scan.
            let bucketHasOwners = !holders.isEmpty || t.isBound(sk.id)
            if bucketHasOwners, let bucket = t.buckets[port], bucket.reusePortMatch(sk) { return nil }
            return tcpConflict(sk, holders: holders, relax: true, reuseportOK: true)
        }
    }

    /// Adds `sk` (bound) to the table and to its port's bucket.
    func join(_ sk: inout ModelSocket, in t: inout SocketTable) {
        guard let port = sk.bound?.port else { return }
        if !t.isBound(sk.id) {
            sk.joined = t.nextJoin()
            sk.chainTail = sk.transport == .udp && sk.family == .inet6 && sk.reusePort
        }
        if sk.state == .created { sk.state = .bound }
        if sk.transport == .tcp {
            var bucket = t.buckets[port] ?? BindBucket()
            bucket.update(joining: sk)
            t.buckets[port] = bucket
        }
        t.open[sk.id] = sk
        t.portOf[sk.id] = port
    }

    /// `inet_sk_get_local_port_range()`: the sysctl range, each end narrowed by IP_LOCAL_PORT_RANGE
    /// when it falls inside.
    func localPortRange(_ sk: ModelSocket) -> (Int, Int) {
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
        var c = sk
        c.bound?.port = port
        let holders = t.holders(port: port, transport: sk.transport, excluding: sk.id)
        switch sk.transport {
        case .udp:
            return !udpPortBusy(c, chain: holders)
        case .tcp:
            if tcpConflict(c, holders: holders, relax: false, reuseportOK: false) == nil { return true }
            return host.sysctls.autobindReuse && tcpConflict(c, holders: holders, relax: true, reuseportOK: false) == nil
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

    // MARK: - listen()

    /// `inet_listen()` → `inet_csk_listen_start()`: autobind, or re-check the bound port with the
    /// socket now in LISTEN.
    func listen(_ sk: ModelSocket, in t: inout SocketTable) -> Answer {
        if sk.transport == .udp {
            return (
                .errno("EOPNOTSUPP"),
                reason(
                    rule: "listen-udp", kernel: "sock_no_listen", text: "UDP sockets do not listen",
                    fix: "receive with recvfrom() on the bound socket")
            )
        }
        if sk.state == .listening {
            return (.ok, reason(rule: "listen", kernel: "__inet_listen_sk", text: "already listening: the backlog is updated"))
        }
        var l = sk
        l.state = .listening
        guard let b = sk.bound else {
            // Autobind to the wildcard of the socket's family.
            l.bound = BoundAddress(v4: 0, v6: sk.family == .inet6 ? .any : nil, port: 0)
            guard let port = pickPort(l, in: t) else {
                return (
                    .errno("EADDRINUSE"),
                    reason(
                        rule: "ephemeral-exhausted", kernel: "inet_csk_find_open_port",
                        text:
                            "listen() on an unbound socket picks a port, and none in \(localPortRange(l).0)–\(localPortRange(l).1) is free")
                )
            }
            l.bound?.port = port
            join(&l, in: &t)
            return (
                .ok,
                reason(
                    rule: "listen", kernel: "inet_csk_listen_start",
                    text: "listening on \(l.bound?.text ?? "") (picked, as the socket was not bound)")
            )
        }
        if let holder = explicitPortConflict(l, in: t) {
            return (.errno("EADDRINUSE"), conflictReason(l, holder, listen: true))
        }
        join(&l, in: &t)
        return (.ok, reason(rule: "listen", kernel: "inet_csk_listen_start", text: "listening on \(b.text)"))
    }

    // MARK: - close and TIME_WAIT

    func close(_ id: String, in t: inout SocketTable) {
        guard let sk = t.open.removeValue(forKey: id) else { return }
        if let port = sk.bound?.port { dropBucketIfEmpty(port, sk.transport, in: &t) }
    }

    private func dropBucketIfEmpty(_ port: UInt16, _ transport: Transport, in t: inout SocketTable) {
        if transport == .tcp && t.holders(port: port, transport: .tcp).isEmpty { t.buckets[port] = nil }
    }

    /// A listener on `spec` (with SO_REUSEADDR as given) accepts one loopback connection whose
    /// accepted side closes first: a TIME_WAIT entry on the connection's local address.
    func timeWait(id: String?, at spec: AddressSpec, reuseaddr: Bool, in t: inout SocketTable) -> Answer {
        let name = id ?? "timewait#\(t.joinCounter + 1)"
        let family: AddressFamily = {
            if case .v4 = spec.ip { return .inet }
            return .inet6
        }()
        var listener = ModelSocket(id: "\(name) (listener)", family: family, transport: .tcp, uid: 0, capMask: Self.allCapabilitiesMask)
        listener.v6only = family == .inet6 && host.sysctls.bindv6only
        listener.reuseAddress = reuseaddr
        var scratch = t
        scratch.open[listener.id] = listener
        let bound = bind(listener, to: spec, in: &scratch)
        guard bound.0 == .ok, let l = scratch.open[listener.id] else {
            return (
                bound.0,
                reason(
                    rule: bound.1.rule, kernel: bound.1.kernel, text: "the TIME_WAIT listener cannot bind: " + bound.1.text,
                    holder: bound.1.holder, fix: bound.1.fix)
            )
        }
        let listened = listen(l, in: &scratch)
        guard listened.0 == .ok, let entry = scratch.open[listener.id], let b = entry.bound else {
            return (
                listened.0,
                reason(
                    rule: listened.1.rule, kernel: listened.1.kernel, text: "the TIME_WAIT listener cannot listen: " + listened.1.text,
                    holder: listened.1.holder)
            )
        }
        scratch.open[listener.id] = nil
        let local = addTimeWait(from: entry, name: name, in: &scratch)
        scratch.portOf[name] = b.port
        dropBucketIfEmpty(b.port, .tcp, in: &scratch)
        t = scratch
        return (
            .ok,
            reason(
                rule: "time-wait", kernel: "tcp_time_wait",
                text: "a TIME_WAIT entry holds \(local.text)\(reuseaddr ? " (SO_REUSEADDR)" : "") for 60 s")
        )
    }

    /// A listening socket accepts one loopback connection whose accepted side closes first: the
    /// TIME_WAIT entry it leaves carries the listener's options, on the connection's local address
    /// (the bound address, or the loopback for a wildcard). The listener stays open.
    public func leaveTimeWait(_ id: String, in table: SocketTable) -> Prediction {
        var t = table
        guard let sk = t.open[id], sk.state == .listening, sk.transport == .tcp else {
            return Prediction(
                outcome: .errno("EINVAL"),
                reason: reason(rule: "time-wait", kernel: "tcp_time_wait", text: "only a listening TCP socket can leave a TIME_WAIT entry"),
                table: table)
        }
        let local = addTimeWait(from: sk, name: id, in: &t)
        return Prediction(
            outcome: .ok, reason: reason(rule: "time-wait", kernel: "tcp_time_wait", text: "a TIME_WAIT entry holds \(local.text)"),
            table: t)
    }

    @discardableResult
    private func addTimeWait(from listener: ModelSocket, name: String, in t: inout SocketTable) -> BoundAddress {
        guard let b = listener.bound else { return BoundAddress(v4: 0, v6: nil, port: 0) }
        var local = b
        if b.isWildcard {
            if let v6 = b.v6, v6.isUnspecified {
                local = BoundAddress(v4: loopback4IPv6, v6: .loopback, port: b.port)
            } else if b.v6 != nil {
                local = BoundAddress(v4: IPv4Address.loopback.rawValue, v6: IPv6Address(v4Mapped: .loopback), port: b.port)
            } else {
                local = BoundAddress(v4: IPv4Address.loopback.rawValue, v6: nil, port: b.port)
            }
        }
        var entry = listener
        entry.id = name
        entry.state = .timeWait
        entry.bound = local
        entry.joined = t.nextJoin()
        t.timeWait.append(entry)
        return local
    }

    // MARK: - Reasons

    /// A reason, in words when this model explains.
    func reason(
        rule: String, kernel: String, text: @autoclosure () -> String, holder: @autoclosure () -> Holder? = nil,
        fix: @autoclosure () -> String? = nil
    ) -> Reason {
        Reason(rule: rule, kernel: kernel, text: text(), holder: holder(), fix: fix(), explains: explains)
    }

    func conflictReason(_ sk: ModelSocket, _ holder: ModelSocket, listen: Bool) -> Reason {
        let rule = listen ? "listen-conflict" : (holder.state == .timeWait ? "time-wait" : "conflict")
        let kernel = sk.transport == .tcp ? "inet_csk_bind_conflict" : "udp_lib_lport_inuse"
        if !explains { return Reason(rule: rule, kernel: kernel, text: "", explains: false) }
        let mine = sk.bound?.text ?? "?"
        var why: [String] = []
        if holder.state == .timeWait {
            why.append(sk.reuseAddress ? "the connection that left it did not set SO_REUSEADDR" : "this socket does not set SO_REUSEADDR")
        } else {
            if sk.transport == .tcp && sk.reuseAddress && holder.reuseAddress && holder.state == .listening {
                why.append("SO_REUSEADDR is on both but \(holder.id) is listening")
            } else if sk.reuseAddress != holder.reuseAddress {
                why.append("SO_REUSEADDR is set on \(sk.reuseAddress ? "this socket (\(sk.id))" : holder.id) only")
            } else if !sk.reuseAddress {
                why.append("neither sets SO_REUSEADDR")
            }
            if sk.reusePort && holder.reusePort && sk.ownerUID != holder.ownerUID {
                why.append("SO_REUSEPORT is on both but they belong to uids \(holder.ownerUID) and \(sk.ownerUID)")
            } else if sk.reusePort != holder.reusePort {
                why.append("SO_REUSEPORT is set on \(sk.reusePort ? "this socket (\(sk.id))" : holder.id) only")
            } else if !sk.reusePort {
                why.append("neither sets SO_REUSEPORT")
            }
        }
        let overlap = overlapWords(sk, holder)
        let what = listen ? "listen() on \(mine) re-checks the port:" : "\(mine)"
        return reason(
            rule: rule,
            kernel: kernel,
            text: "\(what) \(overlap) socket \(holder.id) (\(holder.summary)); \(why.joined(separator: "; "))",
            holder: Holder(holder),
            fix: holder.state == .timeWait
                ? "allowed: SO_REUSEADDR on both (this socket and the one that left the TIME_WAIT), or SO_REUSEPORT on both (any uid); or wait 60 s"
                : sk.transport == .tcp
                    ? "allowed: SO_REUSEPORT on both under one uid, or SO_REUSEADDR on both while the holder does not listen"
                    : "allowed: SO_REUSEADDR on both, or SO_REUSEPORT on both under one uid")
    }

    private func overlapWords(_ sk: ModelSocket, _ holder: ModelSocket) -> String {
        guard let a = sk.bound, let b = holder.bound else { return "overlaps" }
        if sameBhash2Address(a, b) { return "is already held by" }
        if holder.family == .inet6 && !holder.v6only && b.v6?.isUnspecified == true { return "is covered by the dual-stack \(b.text) of" }
        if b.isWildcard { return "is covered by the wildcard \(b.text) of" }
        if a.isWildcard { return "covers \(b.text) of" }
        return "overlaps \(b.text) of"
    }
}
