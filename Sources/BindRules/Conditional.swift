import BindKit

// A prediction that says how sure it is. The rules are the same ones (BindModel.run); what
// changes is what the table says of the host's sockets: an option the model was not told
// (ModelSocket.unknown) is tried at each of its values, for the sockets that can matter: those
// on the ports the steps bind, of the transports they use.

/// An option of a host socket the model may not know.
public enum HostOption: String, Hashable, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case reuseAddress = "SO_REUSEADDR"
    case reusePort = "SO_REUSEPORT"
    case v6only = "IPV6_V6ONLY"
    case device = "SO_BINDTODEVICE"

    public var description: String { rawValue }

    var mask: UnknownOptions {
        switch self {
        case .reuseAddress: .reuseAddress
        case .reusePort: .reusePort
        case .v6only: .v6only
        case .device: .device
        }
    }
}

/// A value an unknown option may have.
public enum OptionValue: Hashable, Sendable, CustomStringConvertible {
    case flag(Bool)
    /// A device index; 0 for none.
    case device(UInt32)

    public var description: String {
        switch self {
        case .flag(let on): on ? "set" : "unset"
        case .device(0): "no device"
        case .device(let i): "device #\(i)"
        }
    }
}

/// An option of one host socket the model was not told, at one value: in
/// ``ConditionalPrediction/unknowns`` the value the likeliest assumption takes, in an
/// ``Alternative`` the value it is changed to.
public struct OptionFact: Hashable, Sendable, CustomStringConvertible {
    /// The socket's id in the table.
    public var socket: String
    public var option: HostOption
    public var value: OptionValue

    public init(socket: String, option: HostOption, value: OptionValue) {
        self.socket = socket
        self.option = option
        self.value = value
    }

    /// `SO_REUSEADDR set on pid 812 (nginx) fd 6`.
    public var description: String { "\(option) \(value) on \(socket)" }
}

/// What the steps give under other values of the unknowns.
public struct Alternative: Hashable, Sendable {
    /// The changes from the likeliest assumption (together).
    public var changes: [OptionFact]
    /// The first failing step's outcome (or the last step's), and why.
    public var outcome: Outcome
    public var reason: Reason
    /// Every step's outcome.
    public var steps: [Outcome]
}

/// A prediction over a table with unknowns.
public struct ConditionalPrediction: Sendable {
    /// The first failing step's outcome (or the last step's) with every unknown at its likeliest
    /// value (SO_REUSEADDR and SO_REUSEPORT unset, no device, IPV6_V6ONLY as bind() leaves it),
    /// and why.
    public var outcome: Outcome
    public var reason: Reason
    /// Every step's outcome under that assumption.
    public var steps: [Outcome]
    /// The unknowns of the sockets that can matter (on the ports in question), each at the value
    /// the likeliest assumption takes.
    public var unknowns: [OptionFact]
    /// How many assignments of the unknowns there are.
    public var assignments: Int
    /// Whether every assignment was run (not beyond the limit: then only each single change was).
    public var enumerated: Bool
    /// Whether the answer is the same whatever the unknowns are: every assignment was run and
    /// all give the same step outcomes.
    public var certain: Bool
    /// The smallest sets of changes that give other step outcomes, fewest changes first: for each,
    /// no smaller set among them does.
    public var otherwise: [Alternative]
}

extension BindModel {
    /// Predicts `steps` from `table` for every assignment of the unknown options
    /// (``ModelSocket/unknown``) of the sockets on the ports the steps bind (every port for a
    /// bind to port 0 or a listen that picks one), of the transports they create sockets of, at
    /// most `limit` runs; beyond that, the likeliest assumption and each single change only
    /// (``ConditionalPrediction/enumerated`` false). The rules are those of ``run(_:from:)``.
    public func predictConditionally(_ steps: [Step], from table: SocketTable, limit: Int = 4096) -> ConditionalPrediction {
        let facts = unknownFacts(steps, in: table)
        let domains = facts.map { valueDomain($0, steps: steps, table: table) }
        // Saturating: past Int.max it is only "too many".
        let count = domains.reduce(1) { n, d in
            let (product, overflow) = n.multipliedReportingOverflow(by: d.count)
            return overflow ? Int.max : product
        }
        let enumerated = count <= limit
        // Assignments as the index of each fact's value in its domain (0: the likeliest).
        var assignments: [[Int]] = []
        if enumerated {
            var a = [Int](repeating: 0, count: facts.count)
            for _ in 0..<count {
                assignments.append(a)
                for i in a.indices {
                    a[i] += 1
                    if a[i] < domains[i].count { break }
                    a[i] = 0
                }
            }
        } else {
            assignments.append([Int](repeating: 0, count: facts.count))
            for i in facts.indices {
                for v in 1..<domains[i].count {
                    var a = [Int](repeating: 0, count: facts.count)
                    a[i] = v
                    assignments.append(a)
                }
            }
        }
        let quiet = explaining(false)
        let base = assignments[0]
        let baseSteps = quiet.outcomes(steps, table.assigning(facts, base, domains))
        // Differing assignments, fewest changes first; keep those with no smaller differing subset.
        var differing: [(assignment: [Int], changed: Int)] = []
        for a in assignments.dropFirst() where quiet.outcomes(steps, table.assigning(facts, a, domains)) != baseSteps {
            differing.append((a, a.count { $0 != 0 }))
        }
        differing.sort { $0.changed < $1.changed }
        var minimal: [[Int]] = []
        for d in differing where !minimal.contains(where: { m in m.indices.allSatisfy { m[$0] == 0 || m[$0] == d.assignment[$0] } }) {
            minimal.append(d.assignment)
        }
        let words = explaining(true)
        let (outcome, reason, _) = words.answer(steps, table.assigning(facts, base, domains))
        let otherwise = minimal.map { a -> Alternative in
            let (o, r, s) = words.answer(steps, table.assigning(facts, a, domains))
            let changes = a.indices.filter { a[$0] != 0 }.map {
                OptionFact(socket: facts[$0].id, option: facts[$0].option, value: domains[$0][a[$0]])
            }
            return Alternative(changes: changes, outcome: o, reason: r, steps: s)
        }
        return ConditionalPrediction(
            outcome: outcome, reason: reason, steps: baseSteps,
            unknowns: facts.indices.map { OptionFact(socket: facts[$0].id, option: facts[$0].option, value: domains[$0][0]) },
            assignments: count, enumerated: enumerated, certain: enumerated && differing.isEmpty, otherwise: otherwise)
    }

    /// Every step's outcome.
    private func outcomes(_ steps: [Step], _ table: SocketTable) -> [Outcome] { run(steps, from: table).map(\.outcome) }

    /// The first failing step's outcome and reason (or the last step's), and every step's outcome.
    private func answer(_ steps: [Step], _ table: SocketTable) -> (Outcome, Reason, [Outcome]) {
        let p = run(steps, from: table)
        guard let shown = p.first(where: { $0.outcome != .ok }) ?? p.last else {
            return (.ok, reason(rule: "no-step", kernel: "(scenario)", text: "no step to predict"), [])
        }
        return (shown.outcome, shown.reason, p.map(\.outcome))
    }

    /// The unknowns that can matter: of host sockets holding a port the steps bind (all ports
    /// when one is chosen by the kernel), of the transports the steps create.
    func unknownFacts(_ steps: [Step], in table: SocketTable) -> [SocketTable.Fact] {
        let (ports, transports) = questionPorts(steps, in: table)
        var facts: [SocketTable.Fact] = []
        func consider(_ sk: ModelSocket, _ place: SocketTable.Fact.Place) {
            guard !sk.unknown.isEmpty, let b = sk.bound, transports?.contains(sk.transport) ?? true,
                ports?.contains(b.port) ?? true
            else { return }
            for option in HostOption.allCases where sk.unknown.contains(option.mask) {
                // IPV6_V6ONLY counts only for an inet6 socket.
                if option == .v6only && sk.family != .inet6 { continue }
                facts.append(SocketTable.Fact(id: sk.id, place: place, option: option))
            }
        }
        for e in table.open.entries { consider(e.value, .open(e.key)) }
        for (i, sk) in table.timeWait.enumerated() { consider(sk, .timeWait(i)) }
        return facts
    }

    /// The ports the steps bind (nil: any, when the kernel picks one) and the transports of the
    /// sockets they create (nil: any).
    private func questionPorts(_ steps: [Step], in table: SocketTable) -> (Set<UInt16>?, Set<Transport>?) {
        var ports: Set<UInt16>? = []
        var transports: Set<Transport> = []
        var bound: Set<String> = []
        for step in steps {
            switch step.action {
            case .socket(_, let t, _): transports.insert(t)
            case .bind(let spec), .timewait(let spec, _):
                let p = resolvePort(spec.port, in: table)
                if let p, p != 0 { ports?.insert(p) } else { ports = nil }
                if let id = step.id { bound.insert(id) }
            case .listen:
                // A listen on a socket the steps did not bind picks a port.
                if let id = step.id, !bound.contains(id), !table.isBound(id) { ports = nil }
            case .setsockopt, .close: break
            case .connect, .send: ports = nil  // an unbound socket picks a port
            }
        }
        return (ports, transports.isEmpty ? nil : transports)
    }

    /// The values an unknown may take, the likeliest first: a flag both ways; a device none, then
    /// each device the steps or the sockets on its port name, then one no socket has.
    private func valueDomain(_ f: SocketTable.Fact, steps: [Step], table: SocketTable) -> [OptionValue] {
        guard let sk = table.socket(at: f.place) else { return [] }
        switch f.option {
        case .reuseAddress: return [.flag(sk.reuseAddress), .flag(!sk.reuseAddress)]
        case .reusePort: return [.flag(sk.reusePort), .flag(!sk.reusePort)]
        case .v6only: return [.flag(sk.v6only), .flag(!sk.v6only)]
        case .device:
            var named: [UInt32] = []
            func add(_ d: UInt32) { if d != 0 && !named.contains(d) { named.append(d) } }
            for step in steps {
                var settings: [SocketOptionSetting] = []
                if case .socket(_, _, let o) = step.action { settings = o }
                if case .setsockopt(let o) = step.action { settings = [o] }
                for case .device(let name) in settings { add(host.interface(named: name)?.index ?? 0) }
            }
            let port = sk.bound?.port
            for e in table.open.entries where e.value.bound?.port == port && !e.value.unknown.contains(.device) { add(e.value.device) }
            for t in table.timeWait where t.bound?.port == port && !t.unknown.contains(.device) { add(t.device) }
            let other = (named + host.interfaces.map(\.index)).max().map { $0 &+ 1 } ?? 1
            return [.device(0)] + named.map { .device($0) } + [.device(other == 0 ? 1 : other)]
        }
    }
}

extension SocketTable {
    /// An unknown option of a socket of the table.
    struct Fact {
        enum Place {
            case open(String)
            case timeWait(Int)
        }
        var id: String
        var place: Place
        var option: HostOption
    }

    func socket(at place: Fact.Place) -> ModelSocket? {
        switch place {
        case .open(let id): open[id]
        case .timeWait(let i): timeWait.indices.contains(i) ? timeWait[i] : nil
        }
    }

    /// The table with each fact at its value in `assignment` (an index into its domain).
    func assigning(_ facts: [Fact], _ assignment: [Int], _ domains: [[OptionValue]]) -> SocketTable {
        var t = self
        for (i, f) in facts.enumerated() {
            guard var sk = t.socket(at: f.place), domains[i].indices.contains(assignment[i]) else { continue }
            switch (f.option, domains[i][assignment[i]]) {
            case (.reuseAddress, .flag(let on)): sk.reuseAddress = on
            case (.reusePort, .flag(let on)): sk.reusePort = on
            case (.v6only, .flag(let on)): sk.v6only = on
            case (.device, .device(let d)): sk.device = d
            default: continue
            }
            switch f.place {
            case .open(let id): t.open[id] = sk
            case .timeWait(let j): t.timeWait[j] = sk
            }
        }
        return t
    }
}
