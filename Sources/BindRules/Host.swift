import BindKit

/// What the model knows of a host or namespace: its interfaces, the bind sysctls and the
/// kernel's version. Built from facts read back from a real namespace (or a file describing
/// one), never from a second hand-written copy.
public struct ModelHost: Hashable, Sendable, Codable {
    public var interfaces: [Interface]
    public var sysctls: BindSysctls
    /// The kernel whose rules answer; nil when not said (the newest rules answer).
    public var kernel: KernelVersion?
    /// A release the facts gave that no version could be read from (the newest rules answer,
    /// with a note saying so).
    public var unreadableKernelRelease: String?

    public init(interfaces: [Interface], sysctls: BindSysctls, kernel: KernelVersion? = nil) {
        self.interfaces = interfaces
        self.sysctls = sysctls
        self.kernel = kernel
    }

    /// The facts' interfaces and sysctls, and the version of the kernel they were read under.
    public init(facts: HostFacts) {
        self.init(
            interfaces: facts.interfaces, sysctls: facts.sysctls,
            kernel: KernelVersion(release: facts.kernelRelease, build: facts.kernelBuild))
        if kernel == nil { unreadableKernelRelease = facts.kernelRelease }
    }

    public func interface(index: UInt32) -> Interface? { interfaces.first { $0.index == index } }
    public func interface(named name: String) -> Interface? { interfaces.first { $0.name == name } }

    // MARK: - IPv4 locality: inet_addr_type_table() over the local routing table

    /// The kernel's route type of an IPv4 address in the local table.
    enum RouteType: Equatable {
        case local, broadcast, multicast, unicast
    }

    /// `inet_addr_type_table(net, addr, RT_TABLE_LOCAL)`: the local table holds, for each address
    /// A/len on device D, `local A/32`, the whole prefix as `local` when D is a loopback, and
    /// `broadcast` for the subnet's broadcast address when len < 31.
    ///
    /// Before 5.14 (94c821c74bf5 "ip: Treat IPv4 segment's lowest address as unicast"),
    /// `fib_add_ifaddr()` also added a `broadcast` route for the subnet's lowest address when
    /// len < 31 and the prefix is not 0.0.0.0 (`networkAddressIsUnicast` false), so that address
    /// binds. (The kernel skips secondary addresses there; the facts do not say which are.)
    func ipv4RouteType(_ a: IPv4Address, networkAddressIsUnicast: Bool = true) -> RouteType {
        if a.isLimitedBroadcast { return .broadcast }
        if a.isMulticast { return .multicast }
        var best: (len: Int, type: RouteType)?
        func consider(_ len: Int, _ type: RouteType) {
            if best == nil || len > best!.len { best = (len, type) }
        }
        for iface in interfaces {
            for ia in iface.addresses {
                guard case .v4(let mine) = ia.ip else { continue }
                if mine == a { consider(32, .local) }
                if iface.isLoopback && a.isInSubnet(mine, prefixLength: ia.prefixLength) { consider(ia.prefixLength, .local) }
                if ia.prefixLength < 31 && mine.broadcast(prefixLength: ia.prefixLength) == a { consider(32, .broadcast) }
                if !networkAddressIsUnicast && ia.prefixLength > 0 && ia.prefixLength < 31 {
                    let network = mine.rawValue & ~(UInt32.max >> UInt32(ia.prefixLength))
                    if network != 0 && network == a.rawValue { consider(32, .broadcast) }
                }
            }
        }
        return best?.type ?? .unicast
    }

    /// `inet_addr_valid_or_nonlocal()` without the socket's knobs: the wildcard, a local,
    /// multicast or broadcast address.
    func ipv4Bindable(_ a: IPv4Address, networkAddressIsUnicast: Bool = true) -> Bool {
        a.isUnspecified || ipv4RouteType(a, networkAddressIsUnicast: networkAddressIsUnicast) != .unicast
    }

    // MARK: - IPv6 locality: ipv6_chk_addr(net, addr, dev, strict = 0)

    /// Whether some interface holds `a`, restricted to `device` for link- and host-scope addresses
    /// (a global address counts on any device).
    func ipv6HasAddress(_ a: IPv6Address, device: UInt32) -> Bool {
        let bare = IPv6Address(high: a.high, low: a.low, zone: nil)
        for iface in interfaces {
            for ia in iface.addresses {
                guard case .v6(let mine) = ia.ip else { continue }
                guard mine.high == bare.high && mine.low == bare.low else { continue }
                let scoped = mine.isLinkLocal || mine.isLoopback
                if device == 0 || iface.index == device || !scoped { return true }
            }
        }
        return false
    }

    /// Addresses a person could bind instead, for reasons.
    public func localAddresses(family: AddressFamily) -> [String] {
        interfaces.flatMap { iface in
            iface.addresses.compactMap { ia -> String? in
                switch (ia.ip, family) {
                case (.v4(let a), .inet): return "\(a) (\(iface.name))"
                case (.v6(let a), .inet6):
                    return "\(IPv6Address(high: a.high, low: a.low, zone: a.isLinkLocal ? .name(iface.name) : nil)) (\(iface.name))"
                default: return nil
                }
            }
        }
    }
}
