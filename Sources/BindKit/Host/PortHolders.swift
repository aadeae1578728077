/// The sockets of a live namespace that stand on one address and port for one transport, named
/// by the processes that hold them: what a failed bind ran into, as the kernel lists it now.
///
/// This is the holder-naming half of an explanation, without the model: which sockets overlap
/// the address is judged here from addresses, IPV6_V6ONLY and devices alone (every socket that
/// may be in the way is listed). Whether the bind would really fail, and what would change it,
/// is the model's to say: BindRules depends on BindKit, not the other way round, so the
/// model-backed explanation lives in BindConformance (`Explanation`, `SocketError.liveExplanation`).
public struct PortHolders: Sendable {
    public var address: SocketAddress
    public var transport: Transport
    /// The sockets on the port that may cover `address`, with their holders and options.
    public var sockets: [InspectedSocket]
    /// What the reading could not see (a /proc/net fallback, processes that could not be read).
    public var notes: [String]

    /// Reads the sockets of `transport` on `address`'s port in `host` (the calling thread's
    /// namespace when nil), their holders and options, and keeps those that may cover
    /// `address`.
    public init(of address: SocketAddress, transport: Transport, in host: LiveHost? = nil) throws(LiveHostError) {
        let live: LiveHost
        if let host { live = host } else { live = try LiveHost.current() }
        let inspection = live.inspect([transport], ports: [address.port])
        self.init(address: address, transport: transport, inspection: inspection, v6onlyDefault: live.facts.sysctls.bindv6only)
    }

    public init(address: SocketAddress, transport: Transport, inspection: Inspection, v6onlyDefault: Bool) {
        self.address = address
        self.transport = transport
        sockets = inspection.sockets.filter {
            $0.socket.transport == transport && $0.socket.holdsPort && $0.covers(address, v6onlyDefault: v6onlyDefault)
        }
        notes = inspection.notes
    }

    /// `held by nginx (pid 812, nginx.service), listening on [::]:8080 with IPV6_V6ONLY off`, one
    /// clause per socket, joined by `; `.
    public var text: String {
        if sockets.isEmpty { return "no socket of this namespace holds \(transport) port \(address.port) now (it may have closed since)" }
        return sockets.map { "held by \($0.holderWords), \($0.stateWords)" }.joined(separator: "; ")
    }
}

extension Inspection {
    /// One line for each thing the listing and the holder scan could not see.
    public var notes: [String] {
        var out = listing.notes.map(\.description)
        if let scanError { out.append("/proc could not be scanned for holders: \(scanError.name)") }
        if scan.denied > 0 {
            out.append(
                "\(scan.denied) processes' descriptors are readable only by root or their own user: the sockets they hold are not named, nor their options read (run as root)"
            )
        }
        if scan.hidesProcesses { out.append("/proc is mounted with hidepid: other users' processes are not listed (run as root)") }
        return out
    }
}

extension HostProcess {
    /// `nginx (pid 812, user www-data, nginx.service)`.
    public var words: String {
        var parts = ["pid \(pid)", "user \(userName ?? "\(uid)")"]
        if let container { parts.append("container \(container)") } else if let unit { parts.append(unit) }
        return "\(command) (\(parts.joined(separator: ", ")))"
    }
}

extension InspectedSocket {
    /// The processes holding it, or why none is named: `nginx (pid 812, nginx.service)`.
    public var holderWords: String {
        if !holders.isEmpty {
            return holders.map(\.process.words).joined(separator: " and ")
        }
        if socket.inode == 0 { return "no process (a TIME_WAIT entry of the kernel)" }
        return "a process of uid \(socket.uid) this user cannot see (run as root to name it)"
    }

    /// `listening on [::]:8080 with IPV6_V6ONLY off, SO_REUSEPORT on`.
    public var stateWords: String {
        let state: String
        switch socket.state {
        case .listening: state = "listening on"
        case .bound: state = "bound to"
        case .established: state = "connected from"
        case .timeWait: state = "in TIME_WAIT on"
        case .other: state = "in TCP state \(socket.kernelState.rawValue) on"
        }
        var words = "\(state) \(socket.local)"
        if let remote = socket.remote, socket.state != .listening { words += " to \(remote)" }
        return words + " with " + optionWords
    }

    /// The options that decide bind(): `IPV6_V6ONLY off, SO_REUSEADDR on, SO_REUSEPORT off`, or
    /// what is unknown and why.
    public var optionWords: String {
        var parts: [String] = []
        let v6only: Bool? =
            if case .success(let o)? = options { o.v6only ?? socket.v6only } else { socket.v6only }
        if socket.family == .inet6 { parts.append("IPV6_V6ONLY " + (v6only.map { $0 ? "on" : "off" } ?? "unknown")) }
        switch options {
        case .success(let o)?:
            parts.append("SO_REUSEADDR \(o.reuseAddress ? "on" : "off")")
            parts.append("SO_REUSEPORT \(o.reusePort ? "on" : "off")")
            if let d = o.device { parts.append("SO_BINDTODEVICE \(d)") }
        case .failure(let why)?:
            parts.append("SO_REUSEADDR and SO_REUSEPORT unknown (\(why))")
            if let d = deviceName {
                parts.append("SO_BINDTODEVICE \(d)")
            } else if socket.interfaceIndex.map({ $0 != 0 }) == true {
                parts.append("bound to interface #\(socket.interfaceIndex ?? 0)")
            }
        case nil:
            if let d = deviceName { parts.append("SO_BINDTODEVICE \(d)") }
        }
        return parts.joined(separator: ", ")
    }

    /// Whether the socket may stand on `address` (same port assumed): equal addresses, either a
    /// wildcard of the family, a dual-stack `[::]` (IPV6_V6ONLY off or unknown) over IPv4, a
    /// v4-mapped address as its IPv4 one. A new `[::]` is taken as dual-stack unless
    /// `v6onlyDefault`. Devices are not compared: a socket on another device is listed, the
    /// model decides.
    public func covers(_ address: SocketAddress, v6onlyDefault: Bool) -> Bool {
        let v6only: Bool =
            if case .success(let o)? = options, let v = o.v6only { v } else { socket.v6only ?? false }
        return Self.overlap(socket.local.ip, holderV6only: v6only, address.ip, newV6only: v6onlyDefault)
    }

    /// Address overlap of a holder's bound address and a new one, as `inet_rcv_saddr_equal()`
    /// judges it with wildcards matching.
    static func overlap(_ held: IPAddress, holderV6only: Bool, _ new: IPAddress, newV6only: Bool) -> Bool {
        enum Kind: Equatable {
            case v4(IPv4Address)
            case any4
            case v6(IPv6Address)
            case any6(dual: Bool)
        }
        func kind(_ ip: IPAddress, v6only: Bool) -> Kind {
            switch ip {
            case .v4(let a): return a.isUnspecified ? .any4 : .v4(a)
            case .v6(let a):
                if let m = a.v4Mapped { return m.isUnspecified ? .any4 : .v4(m) }
                if a.isUnspecified { return .any6(dual: !v6only) }
                return .v6(IPv6Address(high: a.high, low: a.low, zone: nil))
            }
        }
        let h = kind(held, v6only: holderV6only)
        let n = kind(new, v6only: newV6only)
        func coversV4(_ k: Kind) -> Bool {
            if case .any4 = k { return true }
            if case .any6(let dual) = k { return dual }
            return false
        }
        switch (h, n) {
        case (.v4(let a), .v4(let b)): return a == b
        case (.v4, _): return coversV4(n)
        case (.any4, .v4), (.any4, .any4): return true
        case (.any4, .any6(let dual)): return dual
        case (.any4, .v6): return false
        case (.v6(let a), .v6(let b)): return a == b
        case (.v6, .any6): return true
        case (.v6, _): return false
        case (.any6(let dual), .v4), (.any6(let dual), .any4): return dual
        case (.any6, .v6), (.any6, .any6): return true
        }
    }
}
