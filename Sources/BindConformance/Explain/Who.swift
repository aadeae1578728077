import BindKit
import BindRules

/// `bindcheck who`: every socket that holds or covers a port (or an address and port) in a live
/// namespace, with its state, options, creating uid, the processes that hold it, and what it
/// blocks, as the model judges it against that socket alone.
public struct WhoReport: Sendable, Codable {
    public var port: UInt16
    /// The address asked about, when one was: only sockets that may cover it are listed.
    public var address: String?
    public var transports: [String]
    public var namespace: String?
    public var sockets: [Entry]
    public var notes: [String]

    public struct Entry: Sendable, Codable {
        public var socket: SocketReport
        /// What a new socket cannot bind beside it, and who may share it.
        public var blocks: String
    }

    /// Reads `transports` on `port` in `live`; `address` (with that port) keeps only the sockets
    /// that may cover it.
    public init(port: UInt16, address: IPAddress? = nil, transports: [Transport], live: LiveHost) {
        let inspection = live.inspect(transports, ports: [port])
        self.init(port: port, address: address, transports: transports, live: live, inspection: inspection)
    }

    public init(port: UInt16, address: IPAddress?, transports: [Transport], live: LiveHost, inspection: Inspection) {
        self.port = port
        self.address = address.map { "\(SocketAddress(ip: $0, port: port))" }
        self.transports = transports.map(\.rawValue)
        namespace = live.namespacePath
        notes = inspection.notes
        let v6default = live.facts.sysctls.bindv6only
        var shown = inspection
        if let address {
            let target = SocketAddress(ip: address, port: port)
            shown.sockets = inspection.sockets.filter { $0.covers(target, v6onlyDefault: v6default) }
        }
        let lt = LiveTable(shown, transports: Set(transports), v6onlyDefault: v6default)
        let model = Explanation.model(for: live.facts)
        sockets = lt.groups.map { g in
            Entry(socket: SocketReport(g), blocks: Self.blocks(g, model: model, v6onlyDefault: v6default))
        }
    }

    /// What `g` blocks: the binds of a plain new socket (no options, all capabilities, the
    /// holder's uid) it refuses, among its own address and the wildcards; and the options with
    /// which a new socket may bind beside it anyway.
    static func blocks(_ g: LiveTable.Group, model: BindModel, v6onlyDefault: Bool) -> String {
        let s = g.first.socket
        var table = SocketTable()
        table.addExisting(s, id: g.id, options: try? g.first.options?.get(), v6onlyDefault: v6onlyDefault)
        let port = s.local.port
        let uid = s.uid
        func outcome(_ ip: IPAddress, v6only: Bool?, reuseaddr: Bool = false, reuseport: Bool = false, uid: UInt32 = uid)
            -> ConditionalPrediction
        {
            var o: [SocketOptionSetting] = [.uid(uid), .caps(Set(Capability.allCases))]
            if reuseaddr { o.append(.reuseaddr(true)) }
            if reuseport { o.append(.reuseport(true)) }
            if let v6only { o.append(.v6only(v6only)) }
            let family: AddressFamily = ip.family
            var steps = [
                Step(id: "new", action: .socket(family: family, transport: s.transport, options: o)),
                Step(id: "new", action: .bind(AddressSpec(ip: ip, port: .number(port)))),
            ]
            if s.transport == .tcp && s.state == .listening { steps.append(Step(id: "new", action: .listen(backlog: 128))) }
            return model.predictConditionally(steps, from: table)
        }
        var candidates: [(String, IPAddress, Bool?)] = [
            ("0.0.0.0:\(port)", .v4(.any), nil), ("[::]:\(port) dual-stack", .v6(.any), false), ("[::]:\(port) v6-only", .v6(.any), true),
        ]
        let own = s.local.ip
        if !own.isUnspecified { candidates.insert(("\(s.local)", own, nil), at: 0) }
        var blocked: [String] = []
        var maybe: [String] = []
        for (name, ip, v6only) in candidates {
            let p = outcome(ip, v6only: v6only)
            if p.outcome != .ok && p.certain { blocked.append(name) } else if !p.certain { maybe.append(name) }
        }
        var words: [String] = []
        let what = s.transport == .tcp ? "TCP" : "UDP"
        if !blocked.isEmpty { words.append("blocks \(blocked.joined(separator: ", ")) for \(what)") }
        if !maybe.isEmpty { words.append("may block \(maybe.joined(separator: ", ")) (its options are unknown)") }
        if blocked.isEmpty && maybe.isEmpty { words.append("blocks none of its address and the wildcards for a new socket") }
        // Who may share it: the same address with SO_REUSEPORT (its uid), SO_REUSEADDR.
        if !blocked.isEmpty || !maybe.isEmpty {
            let ip = own
            let v6: Bool? = s.family == .inet6 && own.isUnspecified ? (s.v6only ?? v6onlyDefault) : nil
            let rp = outcome(ip, v6only: v6, reuseport: true)
            if rp.outcome == .ok {
                words.append("a SO_REUSEPORT socket of uid \(uid) may join it\(rp.certain ? "" : " (if it has SO_REUSEPORT: unknown)")")
            }
            let ra = outcome(ip, v6only: v6, reuseaddr: true)
            if ra.outcome == .ok {
                words.append("a SO_REUSEADDR socket may bind beside it\(ra.certain ? "" : " (if it has SO_REUSEADDR: unknown)")")
            }
            if s.state == .timeWait { words.append("until the entry expires (60 s)") }
        }
        return words.joined(separator: "; ")
    }

    public var text: String {
        let on = address ?? "port \(port)"
        var lines: [String] = []
        if let namespace { lines.append("in network namespace \(namespace):") }
        if sockets.isEmpty {
            lines.append("no \(transports.joined(separator: "/")) socket holds \(on)")
        }
        for e in sockets {
            let s = e.socket
            let count = s.count > 1 ? "\(s.count) × " : ""
            lines.append(
                "\(count)\(s.transport) \(s.local)\(s.remote.map { " ↔ \($0)\(s.count > 1 ? " …" : "")" } ?? "") \(s.state), uid \(s.uid)")
            if s.processes.isEmpty {
                lines.append(
                    "  held by: "
                        + (s.state == HostSocket.State.timeWait.rawValue
                            ? "no process (a TIME_WAIT entry)" : "a process this user cannot see (run as root to name it)"))
            }
            for p in s.processes {
                var place = [p.user.map { "user \($0)" } ?? "uid \(p.uid)"]
                if let c = p.container { place.append("container \(c)") } else if let u = p.unit { place.append(u) }
                lines.append("  held by: \(p.command) (pid \(p.pid), fd \(p.fd), \(place.joined(separator: ", ")))")
                if !p.commandLine.isEmpty { lines.append("    command: \(p.commandLine.joined(separator: " "))") }
            }
            lines.append("  options: \(Self.optionText(s))")
            lines.append("  \(e.blocks)")
        }
        for n in notes { lines.append("note: \(n)") }
        return lines.joined(separator: "\n")
    }

    static func optionText(_ s: SocketReport) -> String {
        var parts: [String] = []
        if let v = s.reuseaddr { parts.append("SO_REUSEADDR \(v ? "on" : "off")") }
        if let v = s.reuseport { parts.append("SO_REUSEPORT \(v ? "on" : "off")") }
        if let v = s.v6only { parts.append("IPV6_V6ONLY \(v ? "on" : "off")") }
        parts.append("SO_BINDTODEVICE \(s.device ?? "none")")
        if let why = s.optionsUnknown { parts.append("SO_REUSEADDR and SO_REUSEPORT unknown: \(why)") }
        return parts.joined(separator: ", ")
    }
}
