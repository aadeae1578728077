import BindKit

// socket() and setsockopt(): `inet_create()` (net/ipv4/af_inet.c) and `inet6_create()`
// (net/ipv6/af_inet6.c) for the socket, then each option as `sock_setsockopt()`
// (net/core/sock.c), `do_ip_setsockopt()` (net/ipv4/ip_sockglue.c) or `do_ipv6_setsockopt()`
// (net/ipv6/ipv6_sockglue.c) decide.

extension BindModel {
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
                let a = setOption(o, on: &sk)
                if a.outcome != .ok {
                    t.open[id] = sk
                    return a
                }
            }
        }
        t.open[id] = sk
        return StepResult(.ok, created)
    }

    /// One socket option, as `sock_setsockopt` / `do_ip_setsockopt` / `do_ipv6_setsockopt` decide.
    func setOption(_ option: SocketOptionSetting, on sk: inout ModelSocket) -> StepResult {
        switch option {
        case .uid(let u):
            sk.uid = u
            return StepResult(
                .ok,
                reason(
                    rule: "credentials", kernel: "setresuid",
                    text: "later steps run as uid \(u); SO_REUSEPORT still compares the creator's uid \(sk.ownerUID)")
            )
        case .caps(let c):
            sk.caps = c
            return StepResult(
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
                return StepResult(
                    .errno("ENOPROTOOPT"),
                    reason(rule: "option-level", kernel: "ip_setsockopt", text: "IPV6_V6ONLY exists only on inet6 sockets")
                )
            }
            if sk.bound != nil {
                return StepResult(
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
                return StepResult(
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
                return StepResult(
                    .errno("ENODEV"),
                    reason(
                        rule: "no-such-device", kernel: "sock_setbindtodevice",
                        text: "no interface named \(name) (this host has \(host.interfaces.map(\.name).joined(separator: ", ")))")
                )
            }
            if sk.device != 0 && !sk.holds(.netRaw) {
                return StepResult(
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
                return StepResult(
                    .errno("EINVAL"),
                    reason(
                        rule: "port-range-order", kernel: "do_ip_setsockopt", text: "IP_LOCAL_PORT_RANGE low \(low) is above high \(high)")
                )
            }
            sk.localPortRange = UInt32(low) | UInt32(high) << 16
        }
        // The other options succeed: one answer for them, made where it is returned (not copied there).
        return StepResult(.ok, reason(rule: "setsockopt", kernel: "sock_setsockopt", text: "\(option.key) set"))
    }
}
