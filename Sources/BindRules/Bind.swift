import BindKit

// bind() up to the port: `inet_bind()` / `__inet_bind()` (net/ipv4/af_inet.c) and `inet6_bind()`
// / `__inet6_bind()` (net/ipv6/af_inet6.c). The kernel checks, in order: the address's family
// and length, then (IPv4) the address's locality, the privileged port, whether the socket is
// already bound; (IPv6) multicast on TCP, the privileged port, already bound, then the
// address's locality and scope. The port itself is PortSelection.swift's.

extension BindModel {
    /// `inet_bind()` / `inet6_bind()`: the sockaddr's family and length, then the family's bind.
    func bind(_ sk: ModelSocket, to spec: AddressSpec, in t: inout SocketTable) -> StepResult {
        guard let port = resolvePort(spec.port, in: t) else {
            return (
                .errno("EINVAL"),
                reason(rule: "unresolved-port", kernel: "(scenario)", text: "\(spec.port) names a socket that never got a port")
            )
        }
        // The scope id the caller puts in the sockaddr_in6: a zone's index as written, or its
        // name through if_nametoindex(), which fails before any sockaddr reaches the kernel.
        var scope: UInt32 = 0
        if case .v6(let a) = spec.ip {
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
        }
        if let refusal = familyAndLength(sk, spec.ip) { return refusal }
        switch spec.ip {
        case .v4(let a):
            return bindV4(sk, a, port: port, in: &t)
        case .v6(let a):
            return bindV6(sk, IPv6Address(high: a.high, low: a.low, zone: nil), scope: scope, port: port, in: &t)
        }
    }

    /// `__inet_bind()`'s `sin_family` check and `inet6_bind()`'s `addr_len < SIN6_LEN_RFC2133`.
    func familyAndLength(_ sk: ModelSocket, _ ip: IPAddress) -> StepResult? {
        switch (sk.family, ip) {
        case (.inet, .v6):
            // A sockaddr_in6 is long enough for an inet socket, but not AF_INET.
            return (
                .errno("EAFNOSUPPORT"),
                reason(
                    rule: "family", kernel: "__inet_bind", text: "an inet socket was given an IPv6 address",
                    fix: "create the socket as inet6, or bind an IPv4 address")
            )
        case (.inet6, .v4):
            // A sockaddr_in (16 bytes) is shorter than SIN6_LEN_RFC2133 (24).
            return (
                .errno("EINVAL"),
                reason(
                    rule: "address-length", kernel: "inet6_bind",
                    text: "an inet6 socket was given an IPv4 sockaddr, shorter than a sockaddr_in6",
                    fix: "use the v4-mapped form [::ffff:a.b.c.d]")
            )
        default:
            return nil
        }
    }

    /// `__inet_bind()`: locality, privilege, already bound, then the port.
    func bindV4(_ sk: ModelSocket, _ a: IPv4Address, port: UInt16, in t: inout SocketTable) -> StepResult {
        if let refusal = ipv4Locality(sk, a, kernel: "__inet_bind") { return refusal }
        if let refusal = privilegedPort(sk, port, kernel: "__inet_bind") { return refusal }
        if let refusal = alreadyBound(sk, kernel: "__inet_bind") { return refusal }
        return getPort(sk, at: BoundAddress(v4: a.rawValue, v6: nil, port: port), in: &t)
    }

    /// `__inet6_bind()`: TCP multicast, privilege, already bound, then the address: v4-mapped
    /// (v6-only, device, IPv4 locality), the wildcard, or a real IPv6 address (scope, device,
    /// locality); then the port.
    func bindV6(_ sk: ModelSocket, _ a: IPv6Address, scope: UInt32, port: UInt16, in t: inout SocketTable) -> StepResult {
        if let refusal = tcpMulticast(sk, a) { return refusal }
        if let refusal = privilegedPort(sk, port, kernel: "__inet6_bind") { return refusal }
        if let refusal = alreadyBound(sk, kernel: "__inet6_bind") { return refusal }
        if let mapped = a.v4Mapped {
            if let refusal = v4MappedOnV6Only(sk, a) { return refusal }
            if let refusal = boundDeviceExists(sk.device) { return refusal }
            if let refusal = ipv4Locality(sk, mapped, kernel: "__inet6_bind") { return refusal }
            return getPort(sk, at: BoundAddress(v4: mapped.rawValue, v6: a, port: port), in: &t)
        }
        if a.isUnspecified {
            return getPort(sk, at: BoundAddress(v4: 0, v6: a, port: port), in: &t)
        }
        var candidate = sk
        if let refusal = linkLocalScope(a, scope: scope, on: &candidate, in: &t) { return refusal }
        if let refusal = boundDeviceExists(candidate.device) { return refusal }
        if let refusal = ipv6Locality(candidate, a) { return refusal }
        candidate.v6only = true  // binding a real IPv6 address makes the socket v6-only
        return getPort(candidate, at: BoundAddress(v4: loopback4IPv6, v6: a, port: port), in: &t)
    }

    /// `__inet6_bind()`: a TCP socket refuses a multicast address.
    func tcpMulticast(_ sk: ModelSocket, _ a: IPv6Address) -> StepResult? {
        guard a.isMulticast && sk.transport == .tcp else { return nil }
        return (
            .errno("EINVAL"),
            reason(
                rule: "tcp-multicast", kernel: "__inet6_bind", text: "a TCP socket cannot bind an IPv6 multicast address",
                fix: "use UDP to receive multicast")
        )
    }

    /// `__inet6_bind()`: a v4-mapped address on an IPV6_V6ONLY socket.
    func v4MappedOnV6Only(_ sk: ModelSocket, _ a: IPv6Address) -> StepResult? {
        guard sk.v6only else { return nil }
        return (
            .errno("EINVAL"),
            reason(
                rule: "v4mapped-on-v6only", kernel: "__inet6_bind",
                text: "[\(a)] is an IPv4 address in IPv6 form, and the socket is IPV6_V6ONLY",
                fix: "clear IPV6_V6ONLY before bind, or use an inet socket")
        )
    }

    /// `__inet6_bind()` with `__ipv6_addr_needs_scope_id()`: a link-local address's scope id
    /// becomes the socket's device (and stays when the bind then fails); without a scope or
    /// SO_BINDTODEVICE the address cannot be bound.
    func linkLocalScope(_ a: IPv6Address, scope: UInt32, on candidate: inout ModelSocket, in t: inout SocketTable) -> StepResult? {
        guard needsScope(a) else { return nil }
        if scope != 0 {
            candidate.device = scope
            t.open[candidate.id]?.device = scope
        }
        guard candidate.device == 0 else { return nil }
        return (
            .errno("EINVAL"),
            reason(
                rule: "link-local-needs-scope", kernel: "__inet6_bind",
                text:
                    "[\(a)] is \(a.isMulticast ? "a link- or interface-local multicast group" : "link-local"): it needs a scope (%interface) or SO_BINDTODEVICE",
                fix: "write it as [\(a)%IFNAME]:PORT")
        )
    }

    /// `__ipv6_addr_needs_scope_id()`: link-local unicast, and interface- or link-local multicast.
    func needsScope(_ a: IPv6Address) -> Bool {
        if a.isLinkLocal { return true }
        if let s = a.multicastScope { return s == .interfaceLocal || s == .linkLocal }
        return false
    }

    /// `dev_get_by_index_rcu()` in `__inet6_bind()`: the socket's device, or the scope id that
    /// replaced it, must be an interface of this host.
    func boundDeviceExists(_ index: UInt32) -> StepResult? {
        guard index != 0 && host.interface(index: index) == nil else { return nil }
        return (
            .errno("ENODEV"),
            reason(
                rule: "no-such-device", kernel: "dev_get_by_index",
                text: "the socket's device or scope #\(index) is no interface of this host")
        )
    }

    /// `ipv6_chk_addr()` unless `ipv6_can_nonlocal_bind()`: a unicast address must be the host's
    /// (on the socket's device, for a link-local or loopback one); multicast is not looked up.
    func ipv6Locality(_ sk: ModelSocket, _ a: IPv6Address) -> StepResult? {
        if a.isMulticast || host.sysctls.ipv6NonlocalBind || sk.freebind || sk.transparent { return nil }
        if host.ipv6HasAddress(a, device: sk.device) { return nil }
        return notLocal(.v6(a), sk: sk, kernel: "__inet6_bind", nonlocalKnob: "net.ipv6.ip_nonlocal_bind")
    }

    /// `inet_addr_valid_or_nonlocal()`: a local, multicast or broadcast address, or a socket or
    /// host that allows a non-local one. Before 5.14 a subnet's lowest address was a broadcast
    /// route (94c821c74bf5 "ip: Treat IPv4 segment's lowest address as unicast"; Host.swift).
    func ipv4Locality(_ sk: ModelSocket, _ a: IPv4Address, kernel: String) -> StepResult? {
        if host.ipv4Bindable(a, networkAddressIsUnicast: rules.networkAddressIsUnicast) || host.sysctls.ipv4NonlocalBind || sk.freebind
            || sk.transparent
        {
            return nil
        }
        return notLocal(.v4(a), sk: sk, kernel: kernel, nonlocalKnob: "net.ipv4.ip_nonlocal_bind")
    }

    /// EADDRNOTAVAIL for an address of no interface, with the addresses the host has instead.
    func notLocal(_ ip: IPAddress, sk: ModelSocket, kernel: String, nonlocalKnob: String) -> StepResult {
        // Without words there is no list of the host's addresses to make.
        if !explains {
            return (.errno("EADDRNOTAVAIL"), Reason(rule: "address-not-local", kernel: kernel, text: "", explains: false))
        }
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
    func privilegedPort(_ sk: ModelSocket, _ port: UInt16, kernel: String) -> StepResult? {
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

    /// `__inet_bind()` / `__inet6_bind()`: `sk->sk_state != TCP_CLOSE || inet->inet_num`, a
    /// socket gets one address.
    func alreadyBound(_ sk: ModelSocket, kernel: String) -> StepResult? {
        guard let b = sk.bound else { return nil }
        return (
            .errno("EINVAL"),
            reason(
                rule: "already-bound", kernel: kernel, text: "socket \(sk.id) is already bound to \(b.text)",
                fix: "a socket binds once: close it and bind a new one")
        )
    }
}
