import CBindShim

/// Multicast membership, multicast loopback and TCP_NODELAY, in the style of SocketOptions.swift:
/// one typed call per option, each naming the C constant and what it does on Linux.
extension Socket {
    /// Joins the multicast `group` on one interface: `IP_ADD_MEMBERSHIP` (struct ip_mreqn) for an
    /// IPv4 group, `IPV6_JOIN_GROUP` (struct ipv6_mreq) for an IPv6 one. `interfaceIndex` 0 lets
    /// the kernel pick the interface by its route to the group (ENODEV when there is none, as in a
    /// namespace with no default route: name the interface then); an IPv6 group's zone
    /// (`ff02::1%eth0`) is taken as the index when `interfaceIndex` is 0.
    ///
    /// Joining is what makes the datagrams arrive: a UDP socket bound to the group's port (on the
    /// wildcard or the group address) receives them once some socket on this host joined the group
    /// on the interface they come in on. An inet6 socket may join an IPv4 group (it receives the
    /// datagrams as v4-mapped) but an inet socket cannot join an IPv6 one (ENOPROTOOPT). A TCP
    /// socket cannot join (EPROTO); a unicast address is EINVAL; joining twice on one interface is
    /// EADDRINUSE.
    public func joinMulticastGroup(_ group: IPAddress, interfaceIndex: UInt32 = 0) throws(SocketError) {
        try membership(group, join: true, interfaceIndex: interfaceIndex)
    }

    /// Leaves a group joined with ``joinMulticastGroup(_:interfaceIndex:)`` (`IP_DROP_MEMBERSHIP`,
    /// `IPV6_LEAVE_GROUP`); EADDRNOTAVAIL when the socket is no member there. Closing the socket
    /// leaves every group it joined.
    public func leaveMulticastGroup(_ group: IPAddress, interfaceIndex: UInt32 = 0) throws(SocketError) {
        try membership(group, join: false, interfaceIndex: interfaceIndex)
    }

    /// Joins an IPv4 group on the interface that holds `interfaceAddress` (`IP_ADD_MEMBERSHIP`
    /// with `imr_address`, the form of struct ip_mreq): ENODEV when no interface holds it.
    public func joinMulticastGroup(_ group: IPv4Address, interfaceAddress: IPv4Address) throws(SocketError) {
        try membershipV4(group, join: true, address: interfaceAddress, index: 0)
    }

    /// Leaves an IPv4 group joined by interface address (`IP_DROP_MEMBERSHIP`).
    public func leaveMulticastGroup(_ group: IPv4Address, interfaceAddress: IPv4Address) throws(SocketError) {
        try membershipV4(group, join: false, address: interfaceAddress, index: 0)
    }

    /// `IP_MULTICAST_LOOP` / `IPV6_MULTICAST_LOOP`: whether datagrams this socket sends to a group
    /// are also delivered to members on this host (on by default). No effect on bind.
    public func setMulticastLoop(_ on: Bool) throws(SocketError) {
        let (level, name, label) = loopOption
        try Socket.check(bk_setsockopt_int(descriptor, level, name, on ? 1 : 0), "setsockopt", option: label)
    }
    public func multicastLoop() throws(SocketError) -> Bool {
        let (level, name, label) = loopOption
        var v: Int32 = 0
        try Socket.check(bk_getsockopt_int(descriptor, level, name, &v), "getsockopt", option: label)
        return v != 0
    }

    /// `TCP_NODELAY` (TCP only: ENOPROTOOPT on a UDP socket): sends small segments at once instead of holding them back until the previous
    /// ones are acknowledged (Nagle's algorithm). No effect on bind.
    public func setNoDelay(_ on: Bool) throws(SocketError) {
        try Socket.check(bk_setsockopt_int(descriptor, BK_IPPROTO_TCP, BK_TCP_NODELAY, on ? 1 : 0), "setsockopt", option: "TCP_NODELAY")
    }
    public func noDelay() throws(SocketError) -> Bool {
        var v: Int32 = 0
        try Socket.check(bk_getsockopt_int(descriptor, BK_IPPROTO_TCP, BK_TCP_NODELAY, &v), "getsockopt", option: "TCP_NODELAY")
        return v != 0
    }

    private var loopOption: (Int32, Int32, String) {
        family == .inet
            ? (BK_IPPROTO_IP, BK_IP_MULTICAST_LOOP, "IP_MULTICAST_LOOP") : (BK_IPPROTO_IPV6, BK_IPV6_MULTICAST_LOOP, "IPV6_MULTICAST_LOOP")
    }

    private func membership(_ group: IPAddress, join: Bool, interfaceIndex: UInt32) throws(SocketError) {
        switch group {
        case .v4(let g):
            try membershipV4(g, join: join, address: .any, index: interfaceIndex)
        case .v6(let g):
            var index = interfaceIndex
            if index == 0, let zone = g.zone {
                switch zone {
                case .index(let i): index = i
                case .name(let n):
                    do { index = try Interface.index(named: n) } catch {
                        throw SocketError(errno: error, operation: "setsockopt", option: join ? "IPV6_JOIN_GROUP" : "IPV6_LEAVE_GROUP")
                    }
                }
            }
            let r = g.bytes.withUnsafeBufferPointer { bk_mcast_v6(descriptor, join ? 1 : 0, $0.baseAddress, index) }
            try Socket.check(r, "setsockopt", option: join ? "IPV6_JOIN_GROUP" : "IPV6_LEAVE_GROUP")
        }
    }

    private func membershipV4(_ group: IPv4Address, join: Bool, address: IPv4Address, index: UInt32) throws(SocketError) {
        let r = group.bytes.withUnsafeBufferPointer { g in
            address.bytes.withUnsafeBufferPointer { a in
                bk_mcast_v4(descriptor, join ? 1 : 0, g.baseAddress, a.baseAddress, Int32(bitPattern: index))
            }
        }
        try Socket.check(r, "setsockopt", option: join ? "IP_ADD_MEMBERSHIP" : "IP_DROP_MEMBERSHIP")
    }
}
