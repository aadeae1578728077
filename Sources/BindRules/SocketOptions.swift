import BindKit

// socket() and setsockopt(): `inet_create()` (net/ipv4/af_inet.c) and `inet6_create()`
// (net/ipv6/af_inet6.c) for the socket, then each option as `sock_setsockopt()`
// (net/core/sock.c), `do_ip_setsockopt()` (net/ipv4/ip_sockglue.c) or `do_ipv6_setsockopt()`
// (net/ipv6/ipv6_sockglue.c) decide.

extension BindModel {
    /// `inet_create()` / `inet6_create()`: a socket of the creating thread's uid and capabilities,
    /// then its options in order. A failing option is the step's outcome, and the socket stays
    /// with the options set before it: a failed setsockopt() does not close the socket.
    func createSocket(id: String, family: AddressFamily, transport: Transport, options: [SocketOptionSetting], in t: inout SocketTable)
        -> StepResult
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
                let result = setOption(o, on: &sk)
                if result.outcome != .ok {
                    t.open[id] = sk
                    return result
                }
            }
        }
        t.open[id] = sk
        return (.ok, created)
    }

    /// One option of a `socket` or `setsockopt` step, at the level the kernel handles it. Every
    /// option that takes gives the same reason; the credentials are not socket options but the
    /// calling thread's, changed by the scenario.
    func setOption(_ option: SocketOptionSetting, on sk: inout ModelSocket) -> StepResult {
        switch option {
        case .uid(let u):
            return setUID(u, on: &sk)
        case .caps(let c):
            return setCapabilities(c, on: &sk)
        // SOL_SOCKET: sock_setsockopt().
        case .reuseaddr(let v):
            sk.reuseAddress = v
        case .reuseport(let v):
            sk.reusePort = v
        case .device(let name):
            if let refusal = setBindToDevice(name, on: &sk) { return refusal }
        // SOL_IPV6: do_ipv6_setsockopt().
        case .v6only(let v):
            if let refusal = setV6Only(v, on: &sk) { return refusal }
        // SOL_IP: do_ip_setsockopt().
        case .freebind(let v):
            sk.freebind = v
        case .transparent(let v):
            if let refusal = setTransparent(v, on: &sk) { return refusal }
        case .localPortRange(let low, let high):
            if let refusal = setLocalPortRange(low: low, high: high, on: &sk) { return refusal }
        case .broadcast(let v):
            sk.broadcast = v
        }
        return (.ok, reason(rule: "setsockopt", kernel: "sock_setsockopt", text: "\(option.key) set"))
    }

    /// `setresuid()`: later steps run as `u`; the socket keeps its creator's `sk_uid`.
    func setUID(_ u: UInt32, on sk: inout ModelSocket) -> StepResult {
        sk.uid = u
        return (
            .ok,
            reason(
                rule: "credentials", kernel: "setresuid",
                text: "later steps run as uid \(u); SO_REUSEPORT still compares the creator's uid \(sk.ownerUID)")
        )
    }

    /// `capset()`: later steps hold `c`.
    func setCapabilities(_ c: Set<Capability>, on sk: inout ModelSocket) -> StepResult {
        sk.caps = c
        return (
            .ok,
            reason(
                rule: "credentials", kernel: "capset",
                text: "later steps hold \(c.isEmpty ? "no capabilities" : c.sorted().map(\.name).joined(separator: ", "))")
        )
    }

    /// `sock_setbindtodevice()`: the name first, then the right to change an existing binding
    /// (`sock_bindtoindex_locked()`).
    func setBindToDevice(_ name: String, on sk: inout ModelSocket) -> StepResult? {
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
        return nil
    }

    /// `do_ipv6_setsockopt(IPV6_V6ONLY)`: an inet socket has no IPv6 level (`ip_setsockopt()`
    /// refuses it); a socket with a port keeps the value it bound with.
    func setV6Only(_ v: Bool, on sk: inout ModelSocket) -> StepResult? {
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
        return nil
    }

    /// `do_ip_setsockopt(IP_TRANSPARENT)`: turning it on needs CAP_NET_RAW or CAP_NET_ADMIN.
    func setTransparent(_ v: Bool, on sk: inout ModelSocket) -> StepResult? {
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
        return nil
    }

    /// `do_ip_setsockopt(IP_LOCAL_PORT_RANGE)`: two non-zero ends must be in order; stored as the
    /// kernel stores it, `low | high << 16`.
    ///
    /// The option exists since 6.3 (91d0b78c5177 "inet: Add IP_LOCAL_PORT_RANGE socket option",
    /// in stable 6.1.32 too): before, `do_ip_setsockopt()` does not know it, ENOPROTOOPT.
    func setLocalPortRange(low: UInt16, high: UInt16, on sk: inout ModelSocket) -> StepResult? {
        if !rules.localPortRangeOption {
            return (
                .errno("ENOPROTOOPT"),
                reason(
                    rule: "no-such-option", kernel: "do_ip_setsockopt",
                    text: "IP_LOCAL_PORT_RANGE does not exist on Linux \(kernel) (it came in 6.3, and 6.1.32)",
                    fix: "narrow net.ipv4.ip_local_port_range instead, or pick the port in the program")
            )
        }
        if low != 0 && high != 0 && low > high {
            return (
                .errno("EINVAL"),
                reason(
                    rule: "port-range-order", kernel: "do_ip_setsockopt", text: "IP_LOCAL_PORT_RANGE low \(low) is above high \(high)")
            )
        }
        sk.localPortRange = UInt32(low) | UInt32(high) << 16
        return nil
    }
}
