import BindKit

// listen(): `inet_listen()` (net/ipv4/af_inet.c) and `inet_csk_listen_start()`
// (net/ipv4/inet_connection_sock.c), which autobinds an unbound socket or re-checks the bound
// port now that the socket listens.

extension BindModel {
    /// `inet_listen()`: UDP has no listen, a listening socket only changes its backlog, any
    /// other goes to `inet_csk_listen_start()`.
    func listen(_ sk: ModelSocket, in t: inout SocketTable) -> StepResult {
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
        l.hashed = t.nextJoin()
        guard let b = sk.bound else { return autobindOnListen(l, in: &t) }
        return recheckOnListen(l, at: b, in: &t)
    }

    /// `inet_csk_listen_start()` → `inet_csk_get_port()` with port 0: an unbound socket picks a
    /// port on the wildcard of its family.
    func autobindOnListen(_ l: consuming ModelSocket, in t: inout SocketTable) -> StepResult {
        l.bound = BoundAddress(v4: 0, v6: l.family == .inet6 ? .any : nil, port: 0)
        guard let port = pickPort(l, in: t) else {
            return (
                .errno("EADDRINUSE"),
                reason(
                    rule: "ephemeral-exhausted", kernel: "inet_csk_find_open_port",
                    text:
                        "listen() on an unbound socket picks a port, and none in \(localPortRange(l).low)–\(localPortRange(l).high) is free"
                )
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

    /// `inet_csk_listen_start()` → `inet_csk_get_port()` with the bound port: the conflict test
    /// again, against the holders as they are now (one that listens since this socket's bind no
    /// longer shares by SO_REUSEADDR).
    func recheckOnListen(_ l: consuming ModelSocket, at b: BoundAddress, in t: inout SocketTable) -> StepResult {
        if let holder = explicitPortConflict(l, in: t) {
            return (.errno("EADDRINUSE"), conflictReason(l, holder, listen: true))
        }
        join(&l, in: &t)
        return (.ok, reason(rule: "listen", kernel: "inet_csk_listen_start", text: "listening on \(b.text)"))
    }
}
