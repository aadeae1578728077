import BindKit

// MARK: - TCP: net/ipv4/inet_connection_sock.c

/// `inet_bind_conflict(sk, sk2, uid, relax, reuseport_cb_ok, reuseport_ok)`: do the sockets'
/// options and states forbid sharing (addresses aside)? `sk` never listened, so its reuseport
/// group is empty and `reuseport_cb_ok` holds.
func tcpOptionsConflict(_ sk: ModelSocket, _ sk2: ModelSocket, relax: Bool, reuseportOK: Bool) -> Bool {
    guard devicesOverlap(sk, sk2) else { return false }
    let uidMatches = sk2.state == .timeWait || sk.ownerUID == sk2.ownerUID
    if sk.reuseAddress && sk2.reuseAddress && sk2.state != .listening {
        return !relax || (!reuseportOK && sk.reusePort && sk2.reusePort && uidMatches)
    }
    return !reuseportOK || !sk.reusePort || !sk2.reusePort || !uidMatches
}

/// `__inet_bhash2_conflict()`: a v6-only holder never conflicts with an IPv4 or v4-mapped socket.
func bhash2Conflict(_ sk: ModelSocket, _ sk2: ModelSocket, relax: Bool, reuseportOK: Bool) -> Bool {
    if sk2.v6only, let b = sk.bound, b.v6 == nil || b.v6!.isV4Mapped { return false }
    return tcpOptionsConflict(sk, sk2, relax: relax, reuseportOK: reuseportOK)
}

/// The first socket on `sk`'s port that `sk` (with its candidate address in `bound`) collides
/// with: `inet_bhash2_addr_any_conflict()` then `inet_csk_bind_conflict()`.
func tcpConflict(_ sk: ModelSocket, holders: [ModelSocket], relax: Bool, reuseportOK: Bool, rules: KernelRules) -> ModelSocket? {
    guard let b = sk.bound else { return nil }
    if usesBhash2(sk, b, rules) {
        // inet_use_bhash2_on_bind(): only sockets on the wildcards, then on the same address.
        // 6.1.0 to 6.1.4 left TIME_WAIT entries out of bhash2 (936a192f9740 "tcp: Add
        // TIME_WAIT sockets in bhash2.", 6.2 and 6.1.5).
        let tw = rules.timeWaitInBhash2
        for sk2 in holders where tw || sk2.state != .timeWait {
            if let b2 = sk2.bound, wildcardBucketCovers(b2, forSocketAt: b, bhash2KeysV4Mapped: rules.bhash2KeysV4Mapped),
                bhash2Conflict(sk, sk2, relax: relax, reuseportOK: reuseportOK)
            {
                return sk2
            }
        }
        for sk2 in holders where tw || sk2.state != .timeWait {
            if let b2 = sk2.bound, sameBhash2Address(b, b2), bhash2Conflict(sk, sk2, relax: relax, reuseportOK: reuseportOK) {
                return sk2
            }
        }
        return nil
    }
    // A wildcard walks every owner of the port (and, before 6.1, every address did).
    return holders.first { sk2 in
        tcpOptionsConflict(sk, sk2, relax: relax, reuseportOK: reuseportOK) && rcvSaddrEqual(sk, sk2, matchWildcard: true)
    }
}

/// `inet_use_bhash2_on_bind()`: whether bind() looks `sk`'s address up in bhash2 (the owners of
/// that address and of the wildcards) rather than walking every owner of the port. Since 6.1
/// (28044fc1d495 "net: Add a bhash2 table hashed by port and address") a specific address
/// does: before, the walk meets an inet6 TIME_WAIT entry of a dual-stack listener's child,
/// whose IPv4 field holds LOOPBACK4_IPV6, from an inet bind to 127.0.0.6. A v4-mapped address
/// walks until 6.8 and 6.1.168 (5e07e672412b "tcp: Use bhash2 for v4-mapped-v6 non-wildcard
/// address.").
@inline(__always) func usesBhash2(_ sk: ModelSocket, _ b: BoundAddress, _ rules: KernelRules) -> Bool {
    guard rules.tcpBhash2, !b.isWildcard else { return false }
    if !rules.v4MappedInBhash2, sk.family == .inet6, let v6 = b.v6, v6.isV4Mapped { return false }
    return true
}

extension BindBucket {
    /// `sk_reuseport_match()`: a SO_REUSEPORT socket of the recorded uid whose address the record
    /// covers (any address, for FASTREUSEPORT_ANY) takes the port without the conflict scan.
    func reusePortMatch(_ sk: ModelSocket) -> Bool {
        guard let f = fast, sk.reusePort, f.uid == sk.ownerUID, let b = sk.bound else { return false }
        if f.any { return true }
        if f.family == .inet6, let fv6 = f.v6 {
            return ipv6RcvSaddrEqual(
                fv6, b.v6, f.v4, b.v4, v6only1: f.v6only, v6only2: sk.v6only, matchSk1Wildcard: true, matchSk2Wildcard: false)
        }
        return ipv4RcvSaddrEqual(f.v4, b.v4, sk2V6Only: sk.v6only, matchSk1Wildcard: true, matchSk2Wildcard: false)
    }

    /// `inet_csk_update_fastreuse()` after a successful get_port of `sk` on this bucket. `first`:
    /// the bucket had no owner before `sk` (`hlist_empty(&tb->owners)`), when the kernel takes
    /// the fast path's state from `sk` alone: `tb->fastreuse` from SO_REUSEADDR, and
    /// FASTREUSEPORT_ANY from SO_REUSEPORT. Since 6.8 (822fb91fc724 "tcp: Link bhash2 to bhash."
    /// with 8002d44fe84d "tcp: Check hlist_empty(&tb->bhash2) instead of
    /// hlist_empty(&tb->owners).") the test finds `sk`'s own bhash2 bucket already linked, so no
    /// socket is first (the caller passes false) and neither is ever set.
    mutating func update(joining sk: ModelSocket, first: Bool) {
        let reuse = sk.reuseAddress && sk.state != .listening
        if first {
            fastReuse = reuse
            fast =
                sk.reusePort
                ? FastReusePort(uid: sk.ownerUID, family: sk.family, v4: sk.bound?.v4 ?? 0, v6: sk.bound?.v6, v6only: sk.v6only, any: true)
                : nil
            return
        }
        if !reuse { fastReuse = false }
        guard sk.reusePort else {
            fast = nil
            return
        }
        if !reusePortMatch(sk) {
            fast = FastReusePort(uid: sk.ownerUID, family: sk.family, v4: sk.bound?.v4 ?? 0, v6: sk.bound?.v6, v6only: sk.v6only)
        }
    }
}

// MARK: - UDP: net/ipv4/udp.c

/// `udp_lib_lport_inuse()` for one explicit port: walks the port's sockets in hash-chain order
/// and stops at the first that either conflicts, or shares by SO_REUSEPORT (then the port is free).
///
/// With more than ten sockets in the port's slot `udp_lib_get_port()` looks in hash2 (by address
/// and port) instead: the newcomer's address, then the wildcard's. For a wildcard newcomer both
/// are the wildcard's slot, which holds none of the specific holders, until 7.0 (e537dd15d0d4
/// "udp: Fix wildcard bind conflict check when using hash2", in 6.1.168, 6.6.131, 6.12.80,
/// 6.18.21): a wildcard scans the port. (The model counts the sockets of the port; the kernel's
/// slot may also hold other ports' sockets that hash alike.)
func udpConflict(_ sk: ModelSocket, chain: [ModelSocket], rules: KernelRules) -> ModelSocket? {
    if !rules.udpWildcardScansPort && chain.count > 10, let b = sk.bound, b.isWildcard {
        for sk2 in chain where sk2.bound?.isWildcard == true && udpOverlaps(sk, sk2) {
            if sk2.reusePort && sk.reusePort && sk.ownerUID == sk2.ownerUID { return nil }
            return sk2
        }
        return nil
    }
    for sk2 in chain where udpOverlaps(sk, sk2) {
        if sk2.reusePort && sk.reusePort && sk.ownerUID == sk2.ownerUID { return nil }
        return sk2
    }
    return nil
}

/// The condition of `udp_lib_lport_inuse()` before its SO_REUSEPORT test.
func udpOverlaps(_ sk: ModelSocket, _ sk2: ModelSocket) -> Bool {
    (!sk2.reuseAddress || !sk.reuseAddress) && devicesOverlap(sk, sk2) && rcvSaddrEqual(sk, sk2, matchWildcard: true)
}

/// With a bitmap (port 0), every overlapping socket that does not share by SO_REUSEPORT marks
/// its port busy.
func udpPortBusy(_ sk: ModelSocket, chain: [ModelSocket]) -> Bool {
    chain.contains { sk2 in
        udpOverlaps(sk, sk2) && !(sk2.reusePort && sk.reusePort && sk.ownerUID == sk2.ownerUID)
    }
}

// MARK: - The words of a conflict

extension BindModel {
    /// The reason for the holder `inet_csk_bind_conflict()` or `udp_lib_lport_inuse()` found:
    /// how the addresses overlap, which options kept the two from sharing, what would let them.
    func conflictReason(_ sk: ModelSocket, _ holder: ModelSocket, listen: Bool) -> Reason {
        let rule = listen ? "listen-conflict" : (holder.state == .timeWait ? "time-wait" : "conflict")
        let kernel = sk.transport == .tcp ? "inet_csk_bind_conflict" : "udp_lib_lport_inuse"
        // Without words, none of the comparisons below need making.
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

    /// How `sk`'s address meets the holder's, for the reason's text.
    private func overlapWords(_ sk: ModelSocket, _ holder: ModelSocket) -> String {
        guard let a = sk.bound, let b = holder.bound else { return "overlaps" }
        if sameBhash2Address(a, b) { return "is already held by" }
        if holder.family == .inet6 && !holder.v6only && b.v6?.isUnspecified == true { return "is covered by the dual-stack \(b.text) of" }
        if b.isWildcard { return "is covered by the wildcard \(b.text) of" }
        if a.isWildcard { return "covers \(b.text) of" }
        return "overlaps \(b.text) of"
    }
}
