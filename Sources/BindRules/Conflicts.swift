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
func tcpConflict(_ sk: ModelSocket, holders: [ModelSocket], relax: Bool, reuseportOK: Bool) -> ModelSocket? {
    guard let b = sk.bound else { return nil }
    if !b.isWildcard {
        // inet_use_bhash2_on_bind(): only sockets on the wildcards, then on the same address.
        for sk2 in holders {
            if let b2 = sk2.bound, wildcardBucketCovers(b2, forSocketAt: b),
                bhash2Conflict(sk, sk2, relax: relax, reuseportOK: reuseportOK)
            {
                return sk2
            }
        }
        for sk2 in holders {
            if let b2 = sk2.bound, sameBhash2Address(b, b2), bhash2Conflict(sk, sk2, relax: relax, reuseportOK: reuseportOK) {
                return sk2
            }
        }
        return nil
    }
    // A wildcard walks every owner of the port.
    return holders.first { sk2 in
        tcpOptionsConflict(sk, sk2, relax: relax, reuseportOK: reuseportOK) && rcvSaddrEqual(sk, sk2, matchWildcard: true)
    }
}

extension BindBucket {
    /// `sk_reuseport_match()`: a SO_REUSEPORT socket of the recorded uid whose address the record
    /// covers takes the port without the conflict scan.
    func reusePortMatch(_ sk: ModelSocket) -> Bool {
        guard let f = fast, sk.reusePort, f.uid == sk.ownerUID, let b = sk.bound else { return false }
        if f.family == .inet6, let fv6 = f.v6 {
            return ipv6RcvSaddrEqual(
                fv6, b.v6, f.v4, b.v4, v6only1: f.v6only, v6only2: sk.v6only, matchSk1Wildcard: true, matchSk2Wildcard: false)
        }
        return ipv4RcvSaddrEqual(f.v4, b.v4, sk2V6Only: sk.v6only, matchSk1Wildcard: true, matchSk2Wildcard: false)
    }

    /// `inet_csk_update_fastreuse()` after a successful get_port of `sk` on this bucket.
    mutating func update(joining sk: ModelSocket) {
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
func udpConflict(_ sk: ModelSocket, chain: [ModelSocket]) -> ModelSocket? {
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
