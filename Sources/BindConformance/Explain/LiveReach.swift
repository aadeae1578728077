import BindKit
import BindRules
import Foundation

/// `bindcheck reach`: which socket of a live namespace a connection (TCP) or a datagram (UDP) to
/// an address reaches, sent from this host and from another machine on the link of each
/// non-loopback interface; from the reach model of BindRules (`ScenarioModel`), told the live
/// sockets as `explain` tells them (``LiveTable``), and a described peer per interface.
public struct LiveReach: Sendable, Codable {
    /// One sender's answer.
    public struct Answer: Sendable, Codable {
        /// `this host`, or `another machine on eth0's link`.
        public var from: String
        /// The interface the other machine is on (nil: this host).
        public var interface: String?
        /// Whether a socket of this host gets it.
        public var reached: Bool
        /// `ok`, or the errno the sender sees (`ECONNREFUSED`, `ENETUNREACH`, ...), or
        /// `not-this-host`, `port-unreachable` (UDP: ICMP port unreachable).
        public var outcome: String
        public var rule: String
        public var kernelFunction: String
        public var reason: String
        public var fix: String?
        /// The sockets reached (a SO_REUSEPORT group: the kernel picks one), with their processes.
        public var by: [SocketReport]
    }

    public var transport: String
    public var address: String
    public var namespace: String?
    public var answers: [Answer]
    /// Whether every option that matters was read.
    public var certain: Bool
    /// What the model was not told, and what is not modelled (firewall rules).
    public var notes: [String]
    /// The sockets on the port, as the model was told.
    public var sockets: [SocketReport]

    /// 0 some sender reaches a socket, 1 none does.
    public var exitCode: Int32 { answers.contains { $0.reached } ? 0 : 1 }

    /// Predicts a connection (TCP) or a datagram (UDP) to `address` in `live`.
    public init(_ address: SocketAddress, transport: Transport, live: LiveHost) {
        let inspection = live.inspect([transport], ports: [address.port])
        self.init(address, transport: transport, live: live, inspection: inspection)
    }

    public init(_ address: SocketAddress, transport: Transport, live: LiveHost, inspection: Inspection) {
        let facts = live.facts
        let lt = LiveTable(inspection, transports: [transport], v6onlyDefault: facts.sysctls.bindv6only)
        self.transport = transport.rawValue
        self.address = "\(address)"
        namespace = live.namespacePath
        sockets = lt.groups.map(SocketReport.init)
        let host = ModelHost(facts: facts)
        answers = Self.answers(to: address, transport: transport, host: host, table: lt)
        let unknown = Self.unknownOptions(lt, transport: transport)
        certain = unknown.isEmpty
        notes = unknown + inspection.notes + FirewallProbe.notes(live)
    }

    /// Every sender's answer for traffic to `address`.
    static func answers(to address: SocketAddress, transport: Transport, host: ModelHost, table lt: LiveTable) -> [Answer] {
        var out = [answer(to: address, transport: transport, host: host, via: nil, table: lt)]
        for x in host.interfaces where !x.isLoopback {
            out.append(answer(to: address, transport: transport, host: host, via: x, table: lt))
        }
        return out
    }

    /// Whether the host holds `ip` (traffic form): one of its addresses, or in a loopback subnet.
    static func owns(_ ip: IPAddress, _ host: ModelHost) -> Interface? {
        for iface in host.interfaces {
            for ia in iface.addresses {
                switch (ip, ia.ip) {
                case (.v4(let a), .v4(let m)):
                    if a == m || (iface.isLoopback && a.isInSubnet(m, prefixLength: ia.prefixLength)) { return iface }
                case (.v6(let a), .v6(let m)):
                    if a.high == m.high && a.low == m.low { return iface }
                default: continue
                }
            }
        }
        return nil
    }

    /// The traffic form of an address: v4-mapped as IPv4, without zone.
    static func traffic(_ ip: IPAddress) -> IPAddress {
        if case .v6(let a) = ip, let v4 = a.v4Mapped { return .v4(v4) }
        if case .v6(let a) = ip { return .v6(IPv6Address(high: a.high, low: a.low, zone: nil)) }
        return ip
    }

    /// One sender: this host (`via` nil), or a machine on the link of `via`.
    static func answer(to address: SocketAddress, transport: Transport, host: ModelHost, via x: Interface?, table lt: LiveTable)
        -> Answer
    {
        let from = x.map { "another machine on \($0.name)'s link" } ?? "this host"
        var a = Answer(
            from: from, interface: x?.name, reached: false, outcome: "", rule: "", kernelFunction: "", reason: "", fix: nil, by: [])
        let dest = traffic(address.ip)
        let group = ScenarioModel.isGroupDestination(address.ip, in: host)
        let owner = owns(dest, host)
        if let x {
            if !x.isUp || x.addresses.isEmpty {
                a.outcome = "no-route"
                a.rule = "interface-down"
                a.reason = "\(x.name) is \(x.isUp ? "without addresses" : "down"): nothing on its link reaches this host through it"
                return a
            }
            if case .v6(let v6) = dest, v6.isLinkLocal, owner?.index != x.index {
                a.outcome = "no-route"
                a.rule = "link-local-other-link"
                a.reason =
                    "\(dest) is a link-local address of \(owner?.name ?? "no interface of this host"): nothing on \(x.name)'s link reaches it"
                return a
            }
        }
        if !group && owner == nil && !(x != nil && dest.isLoopback) {
            a.outcome = "not-this-host"
            a.rule = "not-this-host"
            a.reason =
                "\(dest) is no address of this host: \(x == nil ? "a connection from this host goes to whichever machine has it" : "the machine that has it answers"), no socket here gets it"
            a.fix = "use an address of this host: \(host.localAddresses(family: dest.family).joined(separator: ", "))"
            return a
        }
        // The model's scenario: the live sockets in the host's table, one client socket.
        var t = ScenarioTables()
        t.host = lt.table
        let model: ScenarioModel
        var spec = address.ip
        if let x {
            // ReachNamespace's link is the first non-loopback interface with addresses: x.
            var h = host
            h.interfaces = [x] + host.interfaces.filter { $0.index != x.index }
            let peer = peerHost(on: x, reaching: dest, owner: owner, host: host)
            model = ScenarioModel(host: h, peer: peer)
            if case .v6(var v6) = spec, v6.isLinkLocal {
                v6.zone = .name(peerLink)
                spec = .v6(v6)
            }
        } else {
            model = ScenarioModel(host: BindModel(host: host))
        }
        let family: AddressFamily = if case .v4 = address.ip { .inet } else { .inet6 }
        let options: [SocketOptionSetting] = transport == .udp && group ? [.broadcast(true)] : []
        let client = x == nil ? "(this host's client)" : "(the other machine's client)"
        let steps = [
            Step(id: client, action: .socket(family: family, transport: transport, options: options), on: x == nil ? .host : .peer),
            Step(
                id: client,
                action: transport == .tcp
                    ? .connect(AddressSpec(ip: spec, port: .number(address.port)))
                    : .send(AddressSpec(ip: spec, port: .number(address.port)))),
        ]
        var p: ReachPrediction?
        for s in steps {
            let r = model.apply(s, to: &t)
            p = r
            if r.outcome != .ok { break }
        }
        guard let p else { return a }
        let by = p.by ?? []
        a.reached = p.outcome == .ok && !by.isEmpty
        a.outcome = p.outcome == .ok && by.isEmpty && transport == .udp ? "port-unreachable" : p.outcome.description
        a.rule = p.reason.rule
        a.kernelFunction = p.reason.kernel
        a.reason = p.reason.text
        a.fix = a.reached ? nil : p.reason.fix
        if let x, dest.isLoopback, !a.reached {
            let mine = x.addresses.filter { $0.ip.family == dest.family && !isLinkLocal($0.ip) }.map { "\($0.ip)" }
            a.reason += "; \(dest) is the other machine's own loopback"
            a.fix =
                "connect to this host's address on \(x.name)\(mine.isEmpty ? "" : " (" + mine.joined(separator: ", ") + ")"), with a socket bound there or to the wildcard"
        }
        a.by = by.compactMap { id in lt.group(id).map(SocketReport.init) }
        return a
    }

    static func isLinkLocal(_ ip: IPAddress) -> Bool {
        if case .v6(let a) = ip { return a.isLinkLocal }
        return false
    }

    static let peerLink = "peer0"

    /// The other machine on `x`'s link: `lo`, and `peer0` with an address in each of `x`'s
    /// subnets (none of this host's), and, for a destination of this host on another interface,
    /// one in that subnet (as if the machine routes it to this host through `x`).
    static func peerHost(on x: Interface, reaching dest: IPAddress, owner: Interface?, host: ModelHost) -> ModelHost {
        let taken = Set(host.interfaces.flatMap { $0.addresses.map { traffic($0.ip) } })
        var addresses: [InterfaceAddress] = []
        var subnets = x.addresses
        if let owner, owner.index != x.index, !owner.isLoopback,
            let ia = owner.addresses.first(where: { traffic($0.ip) == dest })
        {
            subnets.append(ia)
        }
        for ia in subnets {
            if let p = neighbour(of: ia, avoiding: taken) { addresses.append(p) }
        }
        let lo = Interface(
            name: "lo", index: 1, isUp: true, isLoopback: true,
            addresses: [
                InterfaceAddress(ip: .v4(.loopback), prefixLength: 8), InterfaceAddress(ip: .v6(.loopback), prefixLength: 128),
            ])
        let link = Interface(name: peerLink, index: 2, isUp: true, isLoopback: false, addresses: addresses)
        return ModelHost(interfaces: [lo, link], sysctls: host.sysctls, kernel: host.kernel)
    }

    /// Another address in the subnet of `ia`, none of `taken`.
    static func neighbour(of ia: InterfaceAddress, avoiding taken: Set<IPAddress>) -> InterfaceAddress? {
        switch ia.ip {
        case .v4(let a):
            guard ia.prefixLength <= 31 else { return nil }
            let size = UInt32(1) << UInt32(32 - ia.prefixLength)
            let net = a.rawValue & ~(size &- 1)
            let range: ClosedRange<UInt32> = ia.prefixLength == 31 ? 0...1 : 1...min(size - 2, 64)
            for i in range {
                let c = IPAddress.v4(IPv4Address(rawValue: net | i))
                if !taken.contains(c) { return InterfaceAddress(ip: c, prefixLength: ia.prefixLength) }
            }
        case .v6(let a):
            guard ia.prefixLength <= 120 else { return nil }
            for i in UInt64(1)...64 {
                let c = IPAddress.v6(IPv6Address(high: a.high, low: (ia.prefixLength <= 64 ? 0 : a.low & ~0xff) | i, zone: nil))
                if !taken.contains(c) { return InterfaceAddress(ip: c, prefixLength: ia.prefixLength) }
            }
        }
        return nil
    }

    /// Options of the sockets on the port that matter for reach and could not be read.
    static func unknownOptions(_ lt: LiveTable, transport: Transport) -> [String] {
        lt.groups.compactMap { g in
            let s = g.first
            if transport == .tcp && s.socket.state != .listening { return nil }
            if s.socket.state == .timeWait { return nil }
            switch s.options {
            case .success?: return nil
            case .failure(let why)?:
                return
                    "the options of \(g.id) could not be read (\(why)): SO_REUSEPORT taken as unset (a group member would share its traffic); run as root to read them"
            case nil: return "the options of \(g.id) were not read: SO_REUSEPORT taken as unset"
            }
        }
    }

    public var text: String {
        var lines = ["\(transport) to \(address)\(certain ? "" : " (not certain)")"]
        if let namespace { lines.append("  in: network namespace \(namespace)") }
        for a in answers {
            let head = a.reached ? "reaches \(a.by.map(\.text).joined(separator: "; "))" : "not reached: \(a.outcome)"
            lines.append("  from \(a.from): \(head)")
            lines.append("    why: \(a.reason)")
            if let cmd = a.by.first?.processes.first?.commandLine, !cmd.isEmpty {
                lines.append("    its command: \(cmd.joined(separator: " "))")
            }
            if let fix = a.fix { lines.append("    fix: \(fix)") }
            if !a.rule.isEmpty { lines.append("    rule: \(a.rule)\(a.kernelFunction.isEmpty ? "" : " (\(a.kernelFunction))")") }
        }
        if !sockets.isEmpty {
            lines.append("  sockets on \(transport) port \(address.split(separator: ":").last ?? ""):")
            for s in sockets { lines.append("    \(s.text)") }
        }
        for n in notes { lines.append("  note: \(n)") }
        return lines.joined(separator: "\n")
    }
}

/// `bindcheck reach --listener`: from where a local socket can be reached.
public struct ListenerReach: Sendable, Codable {
    public struct Source: Sendable, Codable {
        public var from: String
        public var interface: String?
        /// The destinations (ADDR:PORT) that reach the listener.
        public var destinations: [String]
    }

    public var transport: String
    public var listener: String
    public var namespace: String?
    /// The socket, when one is there.
    public var socket: SocketReport?
    public var reachableFrom: [Source]
    public var certain: Bool
    public var notes: [String]

    public var exitCode: Int32 { socket != nil && reachableFrom.contains { !$0.destinations.isEmpty } ? 0 : 1 }

    public init(_ address: SocketAddress, transport: Transport, live: LiveHost) {
        let facts = live.facts
        let inspection = live.inspect([transport], ports: [address.port])
        let lt = LiveTable(inspection, transports: [transport], v6onlyDefault: facts.sysctls.bindv6only)
        self.transport = transport.rawValue
        listener = "\(address)"
        namespace = live.namespacePath
        let want = LiveReach.traffic(address.ip)
        let g = lt.groups.first { g in
            let s = g.first.socket
            return LiveReach.traffic(s.local.ip) == want && s.local.port == address.port
                && (transport == .udp || s.state == .listening)
        }
        socket = g.map(SocketReport.init)
        let unknown = LiveReach.unknownOptions(lt, transport: transport)
        certain = unknown.isEmpty
        notes = unknown + inspection.notes + FirewallProbe.notes(live)
        reachableFrom = []
        guard let g else {
            notes.insert("no \(transport.rawValue) socket \(transport == .tcp ? "listens" : "is bound") on \(address)", at: 0)
            return
        }
        let host = ModelHost(facts: facts)
        // Every address of this host (and the listener's own), in both families.
        var candidates: [IPAddress] = []
        func add(_ ip: IPAddress) { if !candidates.contains(ip) { candidates.append(ip) } }
        if !address.ip.isUnspecified { add(address.ip) }
        for iface in host.interfaces { for ia in iface.addresses { add(ia.ip) } }
        var senders: [Interface?] = [nil]
        senders += host.interfaces.filter { !$0.isLoopback }.map { Optional($0) }
        for x in senders {
            var hits: [String] = []
            for ip in candidates {
                if x != nil && ip.isLoopback { continue }
                let sa = SocketAddress(ip: ip, port: address.port)
                let a = LiveReach.answer(to: sa, transport: transport, host: host, via: x, table: lt)
                if a.reached && a.by.contains(where: { $0.id == g.id }) { hits.append("\(sa)") }
            }
            reachableFrom.append(
                Source(from: x.map { "another machine on \($0.name)'s link" } ?? "this host", interface: x?.name, destinations: hits))
        }
    }

    public var text: String {
        var lines: [String] = []
        guard let socket else {
            lines.append("\(transport) listener \(listener): none")
            for n in notes { lines.append("  note: \(n)") }
            return lines.joined(separator: "\n")
        }
        lines.append("\(transport) listener \(listener): \(socket.text)\(certain ? "" : " (not certain)")")
        if let namespace { lines.append("  in: network namespace \(namespace)") }
        for s in reachableFrom {
            lines.append(
                "  from \(s.from): \(s.destinations.isEmpty ? "unreachable (no address of this host leads to it)" : s.destinations.joined(separator: ", "))"
            )
        }
        for n in notes { lines.append("  note: \(n)") }
        return lines.joined(separator: "\n")
    }
}

/// Firewall rules are not modelled: whether the namespace has any in an input path, for a note.
enum FirewallProbe {
    static func notes(_ live: LiveHost) -> [String] {
        let found =
            live.perform { () -> [String] in
                var out: [String] = []
                for (file, what) in [("ip_tables_names", "iptables (IPv4)"), ("ip6_tables_names", "ip6tables (IPv6)")] {
                    // BindKit's reader (open + read): Foundation's String(contentsOfFile:) leaks its
                    // buffer on a /proc file that does not exist (LeakSanitizer, in the CI run).
                    if case .success(let bytes) = Sysctl.readFile("/proc/thread-self/net/" + file) {
                        let tables = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
                        if !tables.isEmpty { out.append("\(what) tables \(tables.joined(separator: ", "))") }
                    }
                }
                return out
            } ?? []
        var notes: [String] = []
        if !found.isEmpty {
            notes.append(
                "firewall: \(found.joined(separator: "; ")) are loaded in this namespace; their rules are not modelled and may drop what is predicted here (read them with iptables-save / ip6tables-save)"
            )
        }
        if let tool = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            if let ruleset = run(tool, ["list", "ruleset"], in: live), ruleset.contains("hook input") || ruleset.contains("hook prerouting")
            {
                notes.append(
                    "firewall: nftables has chains on the input path (`nft list ruleset`); their rules are not modelled and may drop what is predicted here"
                )
            }
        } else if FileManager.default.fileExists(atPath: "/sys/module/nf_tables") {
            notes.append("firewall: nf_tables is loaded and nft is not installed: any nftables rules are not read nor modelled")
        }
        return notes
    }

    /// Runs a tool in the namespace (through nsenter for another one); its output.
    static func run(_ tool: String, _ args: [String], in live: LiveHost) -> String? {
        let p = Process()
        if let path = live.namespacePath {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
            p.arguments = ["--net=" + path, tool] + args
        } else {
            p.executableURL = URL(fileURLWithPath: tool)
            p.arguments = args
        }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
