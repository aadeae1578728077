import BindKit

// listen(): `inet_listen()` (net/ipv4/af_inet.c) and `inet_csk_listen_start()`
// (net/ipv4/inet_connection_sock.c), which autobinds an unbound socket or re-checks the bound
// port now that the socket listens.

extension BindModel {
    /// `inet_listen()` → `inet_csk_listen_start()`: autobind, or re-check the bound port with the
    /// socket now in LISTEN.
    func listen(_ sk: ModelSocket, in t: inout SocketTable) -> StepResult {
        if sk.transport == .udp {
            return StepResult(
                .errno("EOPNOTSUPP"),
                reason(
                    rule: "listen-udp", kernel: "sock_no_listen", text: "UDP sockets do not listen",
                    fix: "receive with recvfrom() on the bound socket")
            )
        }
        if sk.state == .listening {
            return StepResult(.ok, reason(rule: "listen", kernel: "__inet_listen_sk", text: "already listening: the backlog is updated"))
        }
        var l = sk
        l.state = .listening
        guard let b = sk.bound else {
            // Autobind to the wildcard of the socket's family.
            l.bound = BoundAddress(v4: 0, v6: sk.family == .inet6 ? .any : nil, port: 0)
            guard let port = pickPort(l, in: t) else {
                return StepResult(
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
            return StepResult(
                .ok,
                reason(
                    rule: "listen", kernel: "inet_csk_listen_start",
                    text: "listening on \(l.bound?.text ?? "") (picked, as the socket was not bound)")
            )
        }
        if let holder = explicitPortConflict(l, in: t) {
            return StepResult(.errno("EADDRINUSE"), conflictReason(l, holder, listen: true))
        }
        join(&l, in: &t)
        return StepResult(.ok, reason(rule: "listen", kernel: "inet_csk_listen_start", text: "listening on \(b.text)"))
    }
}
