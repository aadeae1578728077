import BindKit
import BindRules
import Foundation

/// What a person typed: an address, or an address with a port.
public enum ParsedAddress: Sendable, Hashable {
    case address(IPAddress)
    case socketAddress(SocketAddress)

    /// Parses `text` as a socket address when it has a port, else as an address. `legacy` also
    /// accepts what inet_aton accepts for IPv4.
    public init(parsing text: String, legacy: Bool = false) throws(AddressParseError) {
        let looksLikeSocket =
            text.hasPrefix("[")
            || (text.contains(":") && !text.contains("::") && text.split(separator: ":", omittingEmptySubsequences: false).count == 2)
        if looksLikeSocket {
            if legacy, !text.hasPrefix("["), let colon = text.lastIndex(of: ":") {
                let host = String(text[..<colon])
                let sa = try SocketAddress(parsing: "0.0.0.0" + text[colon...])
                self = .socketAddress(SocketAddress(ip: .v4(try IPv4Address.parseLegacy(host)), port: sa.port))
                return
            }
            self = .socketAddress(try SocketAddress(parsing: text))
        } else {
            self = .address(legacy ? try IPAddress.parseLegacy(text) : try IPAddress(parsing: text))
        }
    }

    public var ip: IPAddress {
        switch self {
        case .address(let a): a
        case .socketAddress(let s): s.ip
        }
    }

    public var port: UInt16? {
        if case .socketAddress(let s) = self { return s.port }
        return nil
    }
}

/// The classification of an address and what binding it would mean on a host.
public struct AddressReport: Sendable, Codable {
    public var input: String
    public var canonical: String
    public var family: String
    public var port: UInt16?
    public var classification: [String]
    /// What binding this address means on this host, in words.
    public var meaning: [String]
    /// The model's prediction of a bind by this process, per transport (when the host was read).
    public var predictions: [TransportPrediction]

    public struct TransportPrediction: Sendable, Codable {
        public var transport: String
        public var result: String
        public var reason: String
    }

    /// `input` is the text as the person gave it (the parsed form's text when nil); `canonical`
    /// is always the normalized form.
    public init(_ parsed: ParsedAddress, input: String? = nil, facts: HostFacts?) {
        let ip = parsed.ip
        canonical = {
            switch parsed {
            case .address(let a): "\(a)"
            case .socketAddress(let s): "\(s)"
            }
        }()
        self.input = input ?? canonical
        family = ip.family.rawValue
        port = parsed.port
        classification = AddressReport.classify(ip)
        meaning = facts.map { AddressReport.meaning(ip, port: parsed.port, facts: $0) } ?? ["(this host's facts could not be read)"]
        predictions = []
        if let facts {
            for transport in Transport.allCases {
                let p = AddressReport.predictBind(ip, port: parsed.port ?? 0, transport: transport, facts: facts)
                predictions.append(
                    TransportPrediction(transport: transport.rawValue, result: p.outcome.description, reason: p.reason.description))
            }
        }
    }

    /// The model's bind of `ip`:`port` by a new socket of this process (its uid and effective
    /// capabilities) on an empty table: the one source of both the `here:` line and the
    /// predictions.
    static func predictBind(_ ip: IPAddress, port: UInt16, transport: Transport, facts: HostFacts) -> (outcome: Outcome, reason: Reason) {
        let model = BindModel(host: ModelHost(facts: facts))
        let creds = facts.credentials
        let steps = [
            Step(
                id: "s",
                action: .socket(
                    family: ip.family, transport: transport, options: [.uid(creds.effectiveUID), .caps(creds.capabilities.effective)])),
            Step(id: "s", action: .bind(AddressSpec(ip: ip, port: .number(port)))),
        ]
        let bind = model.run(steps)[1]
        return (bind.outcome, bind.reason)
    }

    public static func classify(_ ip: IPAddress) -> [String] {
        var c: [String] = []
        switch ip {
        case .v4(let a):
            if a.isUnspecified { c.append("unspecified (the IPv4 wildcard)") }
            if a.isLoopback { c.append("loopback") }
            if a.isLinkLocal { c.append("link-local") }
            if a.isMulticast { c.append("multicast") }
            if a.isLimitedBroadcast { c.append("limited broadcast") }
            if a.isPrivate { c.append("private (RFC 1918)") }
            if a.isDocumentation { c.append("documentation (RFC 5737)") }
        case .v6(let a):
            if a.isUnspecified { c.append("unspecified (the IPv6 wildcard)") }
            if a.isLoopback { c.append("loopback") }
            if a.isLinkLocal { c.append("link-local (needs a scope: %interface)") }
            if a.isMulticast { c.append("multicast, scope \(a.multicastScope.map { "\($0)" } ?? "?")") }
            if let v4 = a.v4Mapped { c.append("v4-mapped (IPv4 \(v4) in IPv6 form)") }
            if a.isUniqueLocal { c.append("unique local (private)") }
            if a.isDocumentation { c.append("documentation (RFC 3849)") }
            if let z = a.zone { c.append("zone \(z)") }
        }
        if c.isEmpty { c.append("global unicast") }
        return c
    }

    static func meaning(_ ip: IPAddress, port: UInt16?, facts: HostFacts) -> [String] {
        var m: [String] = []
        func owners(_ match: (IPAddress) -> Bool) -> [String] {
            facts.interfaces.flatMap { i in i.addresses.filter { match($0.ip) }.map { "\($0.ip) (\(i.name))" } }
        }
        switch ip {
        case .v4(let a) where a.isUnspecified:
            let v4Owners = owners { $0.family == .inet }.joined(separator: ", ")
            m.append("every IPv4 address of this host, now and later: \(v4Owners); other machines can connect through any of them")
        case .v6(let a) where a.isUnspecified:
            m.append(
                "every IPv6 address of this host; unless IPV6_V6ONLY is set (net.ipv6.bindv6only=\(facts.sysctls.bindv6only ? 1 : 0) here), every IPv4 address too: a dual-stack [::] also takes 0.0.0.0 on the same port"
            )
        case .v4(let a) where a.isLoopback:
            m.append("this host only: other machines cannot connect to \(a); bind 0.0.0.0 to be reachable from outside")
        case .v6(let a) where a.isLoopback:
            m.append("this host only: other machines cannot connect to ::1; bind [::] to be reachable from outside")
        default:
            // Whether the address itself can be bound is the model's answer (UDP, port 0: no
            // privilege and no TCP-only refusal in the way), so this line and the predictions
            // never disagree.
            let verdict = predictBind(ip, port: 0, transport: .udp, facts: facts)
            if verdict.outcome != .ok {
                var line = "bind() fails with \(verdict.outcome): \(verdict.reason.text)"
                if let fix = verdict.reason.fix { line += "; \(fix)" }
                m.append(line)
            } else if ip.isMulticast {
                m.append("a multicast group: UDP sockets bound here receive the group's datagrams once they join it")
            } else if case .v6(let a) = ip, let v4 = a.v4Mapped {
                m.append("an inet6 socket binding this takes IPv4 \(v4) (and fails with EINVAL if IPV6_V6ONLY is set)")
            } else if let mine = Optional(owners { sameBits($0, ip) }), !mine.isEmpty {
                m.append("an address of this host: \(mine.joined(separator: ", ")); reachable by peers that route to it")
            } else if case .v4(let a) = ip, isBroadcast(a, facts: facts) {
                m.append("a broadcast address: UDP sockets bound here receive its broadcasts (sending to it needs SO_BROADCAST)")
            } else {
                let knob = ip.family == .inet ? "net.ipv4.ip_nonlocal_bind" : "net.ipv6.ip_nonlocal_bind"
                m.append("not an address of this host; bind() allows it only because \(knob)=1 here")
            }
        }
        if let port {
            let start = facts.sysctls.unprivilegedPortStart
            if port == 0 {
                m.append(
                    "port 0: the kernel picks a free port from \(facts.sysctls.localPortRange.low)–\(facts.sysctls.localPortRange.high)")
            } else if Int(port) < start {
                let has = facts.credentials.capabilities.effective.contains(.netBindService)
                m.append(
                    "port \(port) is privileged here (below net.ipv4.ip_unprivileged_port_start=\(start)): binding needs CAP_NET_BIND_SERVICE, which this process \(has ? "holds" : "lacks")"
                )
            }
        }
        return m
    }

    /// The same address, zones aside.
    static func sameBits(_ a: IPAddress, _ b: IPAddress) -> Bool {
        switch (a, b) {
        case (.v4(let x), .v4(let y)): x == y
        case (.v6(let x), .v6(let y)): x.high == y.high && x.low == y.low
        default: false
        }
    }

    /// The limited broadcast, or the broadcast address of one of the host's IPv4 subnets.
    static func isBroadcast(_ a: IPv4Address, facts: HostFacts) -> Bool {
        if a.isLimitedBroadcast { return true }
        return facts.interfaces.contains { i in
            i.addresses.contains { ia in
                if case .v4(let mine) = ia.ip, ia.prefixLength < 31 { return mine.broadcast(prefixLength: ia.prefixLength) == a }
                return false
            }
        }
    }

    /// The text form.
    public var text: String {
        var lines = ["\(canonical)"]
        if canonical != input { lines.append("  as given: \(input)") }
        lines += ["  family: \(family)", "  kind: \(classification.joined(separator: "; "))"]
        for m in meaning { lines.append("  here: \(m)") }
        for p in predictions { lines.append("  bind (\(p.transport)): \(p.result): \(p.reason)") }
        return lines.joined(separator: "\n")
    }
}

/// The interface table of `bindcheck interfaces`.
public enum InterfaceTable {
    public static func render(_ interfaces: [Interface]) -> String {
        var rows: [[String]] = [["INDEX", "NAME", "STATE", "ADDRESS"]]
        for i in interfaces {
            let state = (i.isUp ? "up" : "down") + (i.isLoopback ? ",loopback" : "")
            if i.addresses.isEmpty {
                rows.append(["\(i.index)", i.name, state, "-"])
            }
            for (n, a) in i.addresses.enumerated() {
                rows.append(
                    n == 0 ? ["\(i.index)", i.name, state, "\(a.ip)/\(a.prefixLength)"] : ["", "", "", "\(a.ip)/\(a.prefixLength)"])
            }
        }
        return TextTable.render(rows)
    }
}

/// Left-aligned columns separated by two spaces.
public enum TextTable {
    public static func render(_ rows: [[String]]) -> String {
        let widths = (0..<(rows.map(\.count).max() ?? 0)).map { c in rows.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
