import BindKit

// close() and TIME_WAIT: `inet_release()` (net/ipv4/af_inet.c) frees the socket's port unless
// others hold it (`inet_put_port()`, net/ipv4/inet_hashtables.c); `tcp_time_wait()`
// (net/ipv4/tcp_minisocks.c) leaves an entry that holds the connection's local address for 60 s.

extension BindModel {
    /// `inet_release()` → `inet_put_port()`: the socket leaves the table, and a TCP port's
    /// bucket goes with its last owner.
    func close(_ id: String, in t: inout SocketTable) {
        guard let sk = t.open.removeValue(forKey: id) else { return }
        if let port = sk.bound?.port { dropBucketIfEmpty(port, sk.transport, in: &t) }
    }

    /// `inet_bind_bucket_destroy()`: a TCP bucket without owners is freed, its fast-path record
    /// with it.
    private func dropBucketIfEmpty(_ port: UInt16, _ transport: Transport, in t: inout SocketTable) {
        if transport == .tcp && t.holders(port: port, transport: .tcp).isEmpty { t.buckets[port] = nil }
    }

    /// The `timewait` step: a listener on `spec` (with SO_REUSEADDR as given) accepts one loopback
    /// connection whose accepted side closes first, so `tcp_time_wait()` leaves an entry on the
    /// connection's local address; the listener is gone afterwards. The listener's bind and listen
    /// are the model's own, and their refusal is the step's.
    func timeWait(id: String?, at spec: AddressSpec, reuseaddr: Bool, in t: inout SocketTable) -> StepResult {
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
        guard bound.outcome == .ok, let l = scratch.open[listener.id] else {
            return (
                bound.outcome,
                reason(
                    rule: bound.reason.rule, kernel: bound.reason.kernel, text: "the TIME_WAIT listener cannot bind: " + bound.reason.text,
                    holder: bound.reason.holder, fix: bound.reason.fix)
            )
        }
        let listened = listen(l, in: &scratch)
        guard listened.outcome == .ok, let entry = scratch.open[listener.id], let b = entry.bound else {
            return (
                listened.outcome,
                reason(
                    rule: listened.reason.rule, kernel: listened.reason.kernel,
                    text: "the TIME_WAIT listener cannot listen: " + listened.reason.text,
                    holder: listened.reason.holder)
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

    /// `tcp_time_wait()`: the entry carries the listener's options, on the connection's local
    /// address: the bound one, or for a wildcard the loopback the connection came in on.
    @discardableResult
    func addTimeWait(from listener: ModelSocket, name: String, in t: inout SocketTable) -> BoundAddress {
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
}
