import BindKit

/// `ipv6_addr_type()` reduced to what the bind rules ask.
enum V6Kind: Equatable {
    case any, mapped, other
}

let loopback4IPv6: UInt32 = 0x7f00_0006  // LOOPBACK4_IPV6, 127.0.0.6

func v6Kind(_ a: IPv6Address?) -> V6Kind {
    guard let a else { return .mapped }  // an inet socket counts as v4-mapped
    if a.isUnspecified { return .any }
    if a.isV4Mapped { return .mapped }
    return .other
}

func sameV6(_ a: IPv6Address, _ b: IPv6Address) -> Bool { a.high == b.high && a.low == b.low }

/// `ipv4_rcv_saddr_equal()` (net/ipv4/inet_connection_sock.c).
func ipv4RcvSaddrEqual(_ a1: UInt32, _ a2: UInt32, sk2V6Only: Bool, matchSk1Wildcard: Bool, matchSk2Wildcard: Bool) -> Bool {
    if sk2V6Only { return false }
    if a1 == a2 { return true }
    return (matchSk1Wildcard && a1 == 0) || (matchSk2Wildcard && a2 == 0)
}

/// `ipv6_rcv_saddr_equal()` (net/ipv4/inet_connection_sock.c).
func ipv6RcvSaddrEqual(
    _ s1: IPv6Address, _ s2: IPv6Address?, _ a1: UInt32, _ a2: UInt32, v6only1: Bool, v6only2: Bool,
    matchSk1Wildcard: Bool, matchSk2Wildcard: Bool
) -> Bool {
    let t1 = v6Kind(s1)
    let t2 = v6Kind(s2)
    if t1 == .mapped && t2 == .mapped {
        return ipv4RcvSaddrEqual(a1, a2, sk2V6Only: v6only2, matchSk1Wildcard: matchSk1Wildcard, matchSk2Wildcard: matchSk2Wildcard)
    }
    if t1 == .any && t2 == .any { return true }
    if t2 == .any && matchSk2Wildcard && !(v6only2 && t1 == .mapped) { return true }
    if t1 == .any && matchSk1Wildcard && !(v6only1 && t2 == .mapped) { return true }
    if let s2, sameV6(s1, s2) { return true }
    return false
}

/// `inet_rcv_saddr_equal(sk, sk2, match_wildcard)`.
func rcvSaddrEqual(_ sk: ModelSocket, _ sk2: ModelSocket, matchWildcard: Bool) -> Bool {
    guard let b1 = sk.bound, let b2 = sk2.bound else { return false }
    if sk.family == .inet6, let v6 = b1.v6 {
        return ipv6RcvSaddrEqual(
            v6, b2.v6, b1.v4, b2.v4, v6only1: sk.v6only, v6only2: sk2.v6only,
            matchSk1Wildcard: matchWildcard, matchSk2Wildcard: matchWildcard)
    }
    return ipv4RcvSaddrEqual(b1.v4, b2.v4, sk2V6Only: sk2.v6only, matchSk1Wildcard: matchWildcard, matchSk2Wildcard: matchWildcard)
}

/// Devices overlap unless both sockets are bound to different devices.
func devicesOverlap(_ sk: ModelSocket, _ sk2: ModelSocket) -> Bool {
    sk.device == 0 || sk2.device == 0 || sk.device == sk2.device
}

/// `inet_bind2_bucket_match()`: the bhash2 bucket of a specific address; an inet socket's bucket
/// is keyed by the v4-mapped form of its address, so 127.0.0.1 and ::ffff:127.0.0.1 share one.
func sameBhash2Address(_ b1: BoundAddress, _ b2: BoundAddress) -> Bool {
    v6Key(b1) == v6Key(b2)
}

private func v6Key(_ b: BoundAddress) -> IPv6Address {
    if let v6 = b.v6 { return IPv6Address(high: v6.high, low: v6.low, zone: nil) }
    return IPv6Address(v4Mapped: IPv4Address(rawValue: b.v4))
}

/// `inet_bind2_bucket_match_addr_any()`: which wildcard buckets a specific-address socket is
/// checked against: an IPv4 or v4-mapped socket against 0.0.0.0, ::ffff:0.0.0.0 and ::; a
/// non-mapped IPv6 socket against :: only.
///
/// Before 6.8 (06a8c04f8994 "tcp: Save v4 address as v4-mapped-v6 in
/// inet_bind2_bucket.v6_rcv_saddr.") a bucket of an inet6 socket on ::ffff:0.0.0.0 is keyed by
/// that IPv6 address, and for an inet6 socket only `::` matched: a v4-mapped socket that looks
/// bhash2 up (6.1.168 on, with 5e07e672412b backported alone) does not see that holder
/// (`bhash2KeysV4Mapped` false).
func wildcardBucketCovers(_ holder: BoundAddress, forSocketAt b: BoundAddress, bhash2KeysV4Mapped: Bool = true) -> Bool {
    guard holder.isWildcard else { return false }
    let holderIsV6Any = holder.v6.map { $0.isUnspecified } ?? false
    if let v6 = b.v6 {
        if !v6.isV4Mapped { return holderIsV6Any }
        if !bhash2KeysV4Mapped, let hv6 = holder.v6, hv6.isV4Mapped { return false }
    }
    return true
}
