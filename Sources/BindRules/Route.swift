import BindKit

// The sender's side of reach: the route lookup a connect() or sendto() makes before any socket is
// looked at (`ip_route_output_key_hash_rcu`, net/ipv4/route.c; `ip6_route_output`,
// net/ipv6/route.c), and the source address it picks. Routes are those the fixture's addresses
// make: the local table (each own address, 127.0.0.0/8 on lo, the subnet broadcast addresses),
// the connected subnets, multicast on a device given by the socket. No default route.

/// How a destination is reached.
enum Cast: Equatable, Sendable {
    case unicast, broadcast, multicast
}

/// Where a packet goes once routed: the namespace(s) it is delivered in, with the device it
/// counts as arriving on (`dif` in `compute_score`).
struct Path: Equatable, Sendable {
    var cast: Cast
    /// The destination as the receiver's lookup sees it: an IPv4 address for IPv4 traffic (also
    /// from an inet6 socket given a v4-mapped address), else IPv6 without zone.
    var destination: IPAddress
    /// The source address the route picks (or the socket's own bound address).
    var source: IPAddress
    /// Delivered in the sender's own namespace, arriving on this device.
    var localDevice: UInt32?
    /// Sent on the link: the device it leaves by in the sender's namespace.
    var linkDevice: UInt32?
    /// Words for the reason: how the route goes.
    var via: String
    /// Sent out lo as if on a link (`linkDevice` is lo): a datagram is looped back to this host and
    /// taken there whatever its destination (`__mkroute_output()` marks any route out a loopback
    /// device RTCF_LOCAL); a TCP SYN that way gets no answer (measured: ETIMEDOUT).
    var loopedBack = false
}

/// A namespace of the scenario as the reach model sees it.
struct ReachNamespace {
    var side: Side
    var host: ModelHost

    /// The interface of the veth pair in this namespace (bk0 on the host, bk1 on the peer).
    var linkInterface: Interface? { host.interfaces.first { !$0.isLoopback && !$0.addresses.isEmpty } }
    var loopback: Interface? { host.interfaces.first { $0.isLoopback } }

    func owns(_ ip: IPAddress) -> Bool {
        switch ip {
        case .v4(let a): return host.ipv4RouteType(a) == .local
        case .v6(let a): return host.ipv6HasAddress(a, device: 0)
        }
    }
}

extension BindModel {
    /// The IPv4 form of traffic to `ip` from a socket of `family`: an inet6 socket given a
    /// v4-mapped address sends IPv4.
    static func trafficAddress(_ ip: IPAddress) -> IPAddress {
        if case .v6(let a) = ip, let v4 = a.v4Mapped { return .v4(v4) }
        if case .v6(let a) = ip { return .v6(IPv6Address(high: a.high, low: a.low, zone: a.zone)) }
        return ip
    }

    /// `ip_route_output_key_hash_rcu()` / `ip6_route_output()` for `sk` sending to `ip` in `ns`.
    /// The error is the step's (ENETUNREACH without a route, EINVAL for a link-local address
    /// without an interface on connect).
    func route(_ sk: ModelSocket, to ip: IPAddress, in ns: ReachNamespace, connecting: Bool) -> Result<Path, ReachFailure> {
        switch Self.trafficAddress(ip) {
        case .v4(let a):
            // `ip_route_connect()` / `ip_route_output_key_hash_rcu()`: the wildcard means the
            // socket's own source address, or the loopback.
            if a.isUnspecified {
                // `ip_route_output_key_hash_rcu()` sends it to the loopback device whatever the
                // socket's device, which it still counts as the one it arrives on (`rt_iif` is
                // the original oif).
                if sk.device != 0 {
                    if let f = sourceRefusal(sk, in: ns) { return .failure(f) }
                    let own = IPAddress.v4(sourceV4(sk, in: ns) ?? .loopback)
                    return .success(
                        Path(cast: .unicast, destination: own, source: own, localDevice: sk.device, linkDevice: nil, via: "local"))
                }
                return routeV4(sk, sourceV4(sk, in: ns) ?? .loopback, in: ns)
            }
            return routeV4(sk, a, in: ns)
        case .v6(let a):
            // An inet6 socket whose source is v4-mapped (bound to one, or connected over IPv4).
            let mappedSource = sk.family == .inet6 && (sk.bound?.v6?.isV4Mapped ?? false)
            // `tcp_v6_connect()`, `__ip6_datagram_connect()`, `udpv6_sendmsg()`: `::` means the
            // loopback (a BSD'ism): 127.0.0.1, v4-mapped, for a v4-mapped source (since 4.11,
            // 052d2369d1b4 "ipv6: Handle IPv4-mapped src to in6addr_any dst.").
            if a.isUnspecified {
                return mappedSource ? routeV4(sk, .loopback, in: ns) : routeV6(sk, .loopback, in: ns, connecting: connecting)
            }
            let path = routeV6(sk, a, in: ns, connecting: connecting)
            // `ip6_dst_lookup_tail()`, once the route is found: a v4-mapped source never goes out
            // in an IPv6 packet (since 4.11, ec5e3b0a1d41 "ipv6: Inhibit IPv4-mapped src address
            // on the wire.").
            if mappedSource, case .success = path {
                return .failure(
                    ReachFailure(
                        outcome: .errno("EAFNOSUPPORT"),
                        reason: reason(
                            rule: "v4-mapped-source", kernel: "ip6_dst_lookup_tail",
                            text:
                                "the socket's address \(sk.bound?.text ?? "") is v4-mapped, an IPv4 source, and \(a) is an IPv6 destination: no packet carries both",
                            fix: "bind the socket to an IPv6 address or [::], or send to an IPv4 (v4-mapped) address")))
            }
            return path
        }
    }

    /// `ip_route_output_key_hash_rcu()`'s checks of the source before any route is looked at.
    private func sourceRefusal(_ sk: ModelSocket, in ns: ReachNamespace) -> ReachFailure? {
        let bound = sourceV4(sk, in: ns)
        if let b = bound, b.isMulticast || b.isLimitedBroadcast {
            // Only a v4-mapped bind of an inet6 socket keeps such a source.
            return ReachFailure(
                outcome: .errno("EINVAL"),
                reason: reason(
                    rule: "group-source", kernel: "ip_route_output_key_hash_rcu",
                    text: "the socket's source \(b) is a multicast or broadcast address, which no packet may come from",
                    fix: "bind a unicast address, or the wildcard"))
        }
        // A source that is not this host's (bound with IP_FREEBIND or ip_nonlocal_bind) routes
        // nowhere unless the socket is IP_TRANSPARENT (`__ip_dev_find()` of the source,
        // FLOWI_FLAG_ANYSRC).
        if let b = bound, ns.host.ipv4RouteType(b) != .local, !sk.transparent {
            return ReachFailure(
                outcome: .errno("ENETUNREACH"),
                reason: reason(
                    rule: "nonlocal-source", kernel: "ip_route_output_key_hash_rcu",
                    text:
                        "the socket is bound to \(b), which is not an address of the \(ns.side.rawValue) namespace: no route starts there",
                    fix: "bind an address this host has, or 0.0.0.0 (IP_TRANSPARENT lets such a source out)"))
        }
        return nil
    }

    /// `inet_saddr`: the IPv4 source the socket's bind gave it. A bind to a multicast or
    /// broadcast address leaves it 0 ("use device", `__inet_bind()`): the route picks the source.
    private func sourceV4(_ sk: ModelSocket, in ns: ReachNamespace) -> IPv4Address? {
        guard let a = boundV4(sk), !a.isUnspecified else { return nil }
        if sk.family == .inet && Self.isGroupOrBroadcast(a, in: ns.host) { return nil }
        return a
    }

    /// A multicast or broadcast address of `host` (`RTN_MULTICAST`, `RTN_BROADCAST`).
    static func isGroupOrBroadcast(_ a: IPv4Address, in host: ModelHost) -> Bool {
        switch host.ipv4RouteType(a) {
        case .multicast, .broadcast: return true
        default: return false
        }
    }

    private func noRoute(_ ip: IPAddress, _ ns: ReachNamespace, _ why: String) -> ReachFailure {
        ReachFailure(
            outcome: .errno("ENETUNREACH"),
            reason: reason(
                rule: "no-route", kernel: "ip_route_output_key_hash_rcu",
                text: "no route to \(ip) from the \(ns.side.rawValue) namespace: \(why)",
                fix: "send to an address of a connected subnet (\(ns.host.localAddresses(family: ip.family).joined(separator: ", ")))"))
    }

    /// The IPv4 address `sk` is bound to, when specific.
    private func boundV4(_ sk: ModelSocket) -> IPv4Address? {
        guard let b = sk.bound, !b.isWildcard else { return nil }
        if let v6 = b.v6 { return v6.v4Mapped }
        return IPv4Address(rawValue: b.v4)
    }

    private func routeV4(_ sk: ModelSocket, _ a: IPv4Address, in ns: ReachNamespace) -> Result<Path, ReachFailure> {
        let dest = IPAddress.v4(a)
        let bound = sourceV4(sk, in: ns)
        if let f = sourceRefusal(sk, in: ns) { return .failure(f) }
        // The device the socket names, or the one its bound address is on.
        func deviceOfAddress(_ x: IPv4Address) -> UInt32? {
            ns.host.interfaces.first { i in i.addresses.contains { $0.ip == .v4(x) } }?.index
        }
        func firstV4(_ index: UInt32) -> IPv4Address? {
            for ia in ns.host.interface(index: index)?.addresses ?? [] { if case .v4(let x) = ia.ip { return x } }
            return nil
        }
        if a.isMulticast || a.isLimitedBroadcast {
            // Multicast and 255.255.255.255 leave by the socket's device, or the device of its
            // bound address; the fixture has no route for them otherwise.
            // `__ip_dev_find()`: the device holding the source, lo for the rest of 127.0.0.0/8.
            let oif =
                sk.device != 0
                ? sk.device : bound.flatMap { deviceOfAddress($0) ?? (ns.host.ipv4RouteType($0) == .local ? ns.loopback?.index : nil) }
            guard let oif, let iface = ns.host.interface(index: oif) else {
                return .failure(
                    noRoute(
                        dest, ns, "multicast and 255.255.255.255 need a device (SO_BINDTODEVICE, or a socket bound to one of its addresses)"
                    ))
            }
            if let b = bound, b.isLoopback, !iface.isLoopback { return .failure(loopbackSource(b, iface.name)) }
            let src = bound ?? firstV4(oif) ?? .any
            return .success(
                Path(
                    cast: a.isMulticast ? .multicast : .broadcast, destination: dest, source: .v4(src),
                    localDevice: oif, linkDevice: iface.isLoopback ? nil : oif, via: "out \(iface.name)"))
        }
        switch ns.host.ipv4RouteType(a) {
        case .local:
            // The local route's device: the one holding the address (lo for 127.0.0.0/8). Traffic
            // to it counts as arriving there; a socket bound to another device finds no local
            // route and sends on its own link (below).
            let dev = deviceOfAddress(a) ?? (a.isLoopback ? ns.loopback?.index : nil) ?? 1
            if sk.device == 0 || sk.device == dev {
                // The source is the route's preferred one: the address itself when an interface
                // has it, else the loopback address whose prefix holds it (`local 127.0.0.0/8
                // src 127.0.0.1`: 127.0.0.2 is reached from 127.0.0.1).
                let prefsrc =
                    deviceOfAddress(a) != nil
                    ? a
                    : ns.host.interfaces.lazy.filter(\.isLoopback).flatMap(\.addresses).compactMap { ia -> IPv4Address? in
                        guard case .v4(let mine) = ia.ip, a.isInSubnet(mine, prefixLength: ia.prefixLength) else { return nil }
                        return mine
                    }.first ?? a
                let src = bound ?? prefsrc
                return .success(Path(cast: .unicast, destination: dest, source: .v4(src), localDevice: dev, linkDevice: nil, via: "local"))
            }
        case .broadcast:
            for iface in ns.host.interfaces {
                for ia in iface.addresses {
                    guard case .v4(let mine) = ia.ip, ia.prefixLength < 31, mine.broadcast(prefixLength: ia.prefixLength) == a else {
                        continue
                    }
                    if sk.device != 0 && sk.device != iface.index { continue }
                    if let b = bound, b.isLoopback, !iface.isLoopback { return .failure(loopbackSource(b, iface.name)) }
                    return .success(
                        Path(
                            cast: .broadcast, destination: dest, source: .v4(bound ?? mine), localDevice: iface.index,
                            linkDevice: iface.isLoopback ? nil : iface.index, via: "broadcast on \(iface.name)"))
                }
            }
        default: break
        }
        // A connected subnet.
        for iface in ns.host.interfaces where !iface.isLoopback && (sk.device == 0 || sk.device == iface.index) {
            for ia in iface.addresses {
                guard case .v4(let mine) = ia.ip, a.isInSubnet(mine, prefixLength: ia.prefixLength) else { continue }
                if let b = bound, b.isLoopback { return .failure(loopbackSource(b, iface.name)) }
                return .success(
                    Path(
                        cast: .unicast, destination: dest, source: .v4(bound ?? mine), localDevice: nil, linkDevice: iface.index,
                        via: "out \(iface.name) (\(mine.masked(ia.prefixLength))/\(ia.prefixLength))"))
            }
        }
        if sk.device != 0, let iface = ns.host.interface(index: sk.device) {
            if let b = bound, b.isLoopback, !iface.isLoopback { return .failure(loopbackSource(b, iface.name)) }
            // No route, but a device: the kernel takes the destination as on that link (on lo,
            // that loops it back).
            return .success(
                Path(
                    cast: .unicast, destination: dest, source: .v4(bound ?? firstV4(sk.device) ?? .any), localDevice: nil,
                    linkDevice: sk.device, via: "out \(iface.name), the socket's device (no route: taken as on-link)",
                    loopedBack: iface.isLoopback))
        }
        return .failure(noRoute(dest, ns, "it is in none of its subnets and there is no default route"))
    }

    /// `ip_route_output_key_hash_rcu()`: a loopback source never leaves on another device.
    private func loopbackSource(_ b: IPv4Address, _ device: String) -> ReachFailure {
        ReachFailure(
            outcome: .errno("EINVAL"),
            reason: reason(
                rule: "loopback-source", kernel: "ip_route_output_key_hash_rcu",
                text:
                    "the socket is bound to \(b), a loopback address, and the route leaves by \(device): a loopback source stays on this host",
                fix: "bind the client to 0.0.0.0 or to an address of \(device)"))
    }

    private func routeV6(_ sk: ModelSocket, _ a: IPv6Address, in ns: ReachNamespace, connecting: Bool) -> Result<Path, ReachFailure> {
        let bare = IPv6Address(high: a.high, low: a.low, zone: nil)
        let dest = IPAddress.v6(bare)
        var oif = sk.device
        if case .index(let i)? = a.zone, i != 0 { oif = i }
        let scoped = a.isLinkLocal || (a.isMulticast && (a.high >> 48) & 0xF <= 2)
        let boundV6: IPv6Address? = sk.bound.flatMap { b in b.v6.flatMap { $0.isUnspecified ? nil : $0 } }
        func linkLocalOf(_ index: UInt32) -> IPv6Address? {
            for ia in ns.host.interface(index: index)?.addresses ?? [] {
                if case .v6(let x) = ia.ip, x.isLinkLocal { return IPv6Address(high: x.high, low: x.low, zone: nil) }
            }
            return nil
        }
        func globalOf(_ index: UInt32) -> IPv6Address? {
            for ia in ns.host.interface(index: index)?.addresses ?? [] {
                if case .v6(let x) = ia.ip, !x.isLinkLocal, !x.isLoopback { return x }
            }
            return nil
        }
        if a.isMulticast {
            let iface = oif != 0 ? ns.host.interface(index: oif) : ns.linkInterface
            guard let iface, !iface.isLoopback else {
                return .failure(noRoute(dest, ns, "no multicast-capable device for the group (lo takes no multicast)"))
            }
            let src = boundV6 ?? (scoped ? linkLocalOf(iface.index) : globalOf(iface.index)) ?? .any
            return .success(
                Path(
                    cast: .multicast, destination: dest, source: .v6(src), localDevice: iface.index, linkDevice: iface.index,
                    via: "out \(iface.name)"))
        }
        if a.isLinkLocal {
            if oif == 0 && connecting {
                return .failure(
                    ReachFailure(
                        outcome: .errno("EINVAL"),
                        reason: reason(
                            rule: "link-local-needs-interface", kernel: sk.transport == .tcp ? "tcp_v6_connect" : "ip6_datagram_connect",
                            text: "\(bare) is link-local: connecting to it needs an interface",
                            fix: "write the zone, [\(bare)%\(ns.linkInterface?.name ?? "bk0")]:PORT, or bind the socket to a device")))
            }
            if oif == 0 {
                // sendto() without a zone: the routes decide, the own address first, then fe80::/64.
                if let own = ns.host.interfaces.first(where: { ns.host.ipv6HasAddress(bare, device: $0.index) && !$0.isLoopback }) {
                    return .success(
                        Path(
                            cast: .unicast, destination: dest, source: .v6(boundV6 ?? bare), localDevice: own.index, linkDevice: nil,
                            via: "local"))
                }
                oif = ns.linkInterface?.index ?? 0
            }
            guard oif != 0, let iface = ns.host.interface(index: oif) else {
                return .failure(noRoute(dest, ns, "a link-local destination needs its interface (a %zone)"))
            }
            if ns.host.ipv6HasAddress(bare, device: iface.index) {
                return .success(
                    Path(
                        cast: .unicast, destination: dest, source: .v6(boundV6 ?? bare), localDevice: iface.index, linkDevice: nil,
                        via: "local"))
            }
            guard !iface.isLoopback else { return .failure(noRoute(dest, ns, "lo has no link-local subnet")) }
            return .success(
                Path(
                    cast: .unicast, destination: dest, source: .v6(boundV6 ?? linkLocalOf(iface.index) ?? .any), localDevice: nil,
                    linkDevice: iface.index, via: "out \(iface.name) (fe80::/64)"))
        }
        if ns.host.ipv6HasAddress(bare, device: 0) {
            // With a device, the local route must be that device's (`::1` is lo's); IPv6 has no
            // on-link fallback.
            let onDevice = ns.host.interface(index: sk.device)?.addresses.contains { ia in
                if case .v6(let x) = ia.ip { return x.high == bare.high && x.low == bare.low }
                return false
            }
            if sk.device != 0 && onDevice != true {
                return .failure(noRoute(dest, ns, "the socket is bound to device #\(sk.device), which does not hold \(bare)"))
            }
            let dev = ns.host.interfaces.first { i in
                i.addresses.contains { ia in
                    if case .v6(let x) = ia.ip { return x.high == bare.high && x.low == bare.low } else { return false }
                }
            }
            return .success(
                Path(
                    cast: .unicast, destination: dest, source: .v6(boundV6 ?? bare),
                    localDevice: sk.device != 0 ? sk.device : (bare.isLoopback ? ns.loopback?.index : dev?.index) ?? 1, linkDevice: nil,
                    via: "local"))
        }
        for iface in ns.host.interfaces where !iface.isLoopback && (oif == 0 || oif == iface.index) {
            for ia in iface.addresses {
                guard case .v6(let mine) = ia.ip, !mine.isLinkLocal, Self.v6InPrefix(bare, mine, ia.prefixLength) else { continue }
                return .success(
                    Path(
                        cast: .unicast, destination: dest, source: .v6(boundV6 ?? mine), localDevice: nil, linkDevice: iface.index,
                        via: "out \(iface.name)"))
            }
        }
        return .failure(noRoute(dest, ns, "it is in none of its subnets and there is no default route"))
    }

    static func v6InPrefix(_ a: IPv6Address, _ net: IPv6Address, _ len: Int) -> Bool {
        if len <= 0 { return true }
        if len <= 64 {
            let mask: UInt64 = len == 64 ? .max : ~(UInt64.max >> UInt64(len))
            return a.high & mask == net.high & mask
        }
        guard a.high == net.high else { return false }
        let l = len - 64
        let mask: UInt64 = l >= 64 ? .max : ~(UInt64.max >> UInt64(l))
        return a.low & mask == net.low & mask
    }
}

extension IPv4Address {
    func masked(_ prefixLength: Int) -> IPv4Address {
        let mask: UInt32 = prefixLength == 0 ? 0 : ~(UInt32.max >> UInt32(prefixLength))
        return IPv4Address(rawValue: rawValue & mask)
    }
}
