import BindKit
import BindRules

/// One listening (TCP) or bound (UDP) socket of a reach cell.
public struct ReachListener: Hashable, Sendable, CustomStringConvertible {
    public var kind: SocketKind
    public var address: String
    public var options: ReuseOptions
    /// SO_BINDTODEVICE, if any.
    public var device: String?

    public init(kind: SocketKind, address: String, options: ReuseOptions = .none, device: String? = nil) {
        self.kind = kind
        self.address = address
        self.options = options
        self.device = device
    }

    /// `inet6 v6only=0 [::] SO_REUSEPORT dev bk0`
    public var description: String {
        var s = SocketConfig(kind: kind, address: address, options: options).description
        if let device { s += " dev " + device }
        return s
    }
}

/// One reach cell: sockets of this host on one port (each listening, for TCP), then one
/// connection (TCP) or datagram (UDP) to `destination` at that port, from this host or from the
/// peer (the other machine on the link).
public struct ReachCell: Hashable, Sendable {
    public var transport: Transport
    public var listeners: [ReachListener]
    public var destination: String
    public var sender: Side

    public init(transport: Transport, listeners: [ReachListener], destination: String, sender: Side) {
        self.transport = transport
        self.listeners = listeners
        self.destination = destination
        self.sender = sender
    }

    /// The ids of the listeners, in order.
    static let ids = ["a", "b", "c", "d"]

    /// `reach tcp inet 0.0.0.0 | inet 127.0.0.1 → 192.0.2.1 from peer`: stable, for reports and diffs.
    public var key: String {
        var s = "reach " + transport.rawValue + " "
        s += listeners.map(\.description).joined(separator: " | ")
        s += " → " + destinationText + " from " + sender.rawValue
        return s
    }

    /// The destination as a reader writes it with a port: `[::1]`, `192.0.2.1`.
    public var destinationText: String { destination.contains(":") ? "[\(destination)]" : destination }

    /// The listeners without their destination: a row of the reach grid.
    public var listenersKey: String { transport.rawValue + " " + listeners.map(\.description).joined(separator: " | ") }

    /// The family of the sender's socket: inet for an IPv4 destination, inet6 (dual-stack, the
    /// default) for every IPv6 one, v4-mapped included.
    package var senderFamily: AddressFamily { destination.contains(":") ? .inet6 : .inet }
}

/// What a reach cell recorded on one side: the first failing step of each listener that failed
/// (`b bind EADDRINUSE`), the connect's or the send's result, and who got it (listener ids).
public struct ReachOutcome: Hashable, Sendable, CustomStringConvertible {
    public var setup: [String]
    public var result: Outcome
    public var by: [String]

    public init(setup: [String] = [], result: Outcome, by: [String]) {
        self.setup = setup
        self.result = result
        self.by = by
    }

    /// `connect ok by [a]`, `first: b bind EADDRINUSE; send ok by []`.
    public var description: String {
        var s = setup.isEmpty ? "" : "setup: " + setup.joined(separator: ", ") + "; "
        s += "\(result) by [" + by.joined(separator: ", ") + "]"
        return s
    }
}

/// One reach cell's results on both sides, and the model's reason.
public struct ReachRecord: Sendable {
    public var cell: ReachCell
    public var port: UInt16
    public var model: ReachOutcome?
    public var kernel: ReachOutcome?
    public var reason: Reason?
    /// Whether the model's `by` is a SO_REUSEPORT group for unicast: the kernel's one receiver
    /// agrees when it is a member (SCENARIOS.md, "expect_by").
    public var modelIsGroup: Bool

    public init(cell: ReachCell, port: UInt16, model: ReachOutcome?, kernel: ReachOutcome?, reason: Reason?, modelIsGroup: Bool) {
        self.cell = cell
        self.port = port
        self.model = model
        self.kernel = kernel
        self.reason = reason
        self.modelIsGroup = modelIsGroup
    }

    public var agrees: Bool {
        guard let model, let kernel, model.setup == kernel.setup, model.result == kernel.result else { return false }
        if model.by == kernel.by { return true }
        return modelIsGroup && kernel.by.count == 1 && model.by.contains(kernel.by[0])
    }
}

/// The reach cells of the default matrix and their steps.
extension Matrix {
    /// The destinations of the reach cells: this host's addresses and the peer's, loopback and
    /// the wildcard, an address without a route, link-local with and without a zone (the zone
    /// of the host's device and of the peer's), v4-mapped, multicast and broadcast.
    public static let reachDestinations = [
        "0.0.0.0", "127.0.0.1", "127.0.0.2", "192.0.2.1", "192.0.2.2", "198.51.100.7", "224.0.0.1", "255.255.255.255",
        "192.0.2.255", "::", "::1", "2001:db8::1", "2001:db8::2", "fe80::1%bk0", "fe80::1%bk1", "fe80::2%bk0", "fe80::1",
        "ff02::1%bk0", "ff02::1%bk1", "::ffff:127.0.0.1", "::ffff:192.0.2.1", "::ffff:0.0.0.0",
    ]

    /// The sets of sockets a reach cell puts on its port: every place alone (unbound, on bk0,
    /// on lo), a SO_REUSEPORT pair on each place, each wildcard beside each specific address
    /// (both orders, SO_REUSEPORT so that TCP lets them listen together), the IPv4 wildcard
    /// beside the IPv6 one, a device-bound wildcard beside an unbound one, groups of three.
    public static var reachListenerSets: [[ReachListener]] {
        var sets: [[ReachListener]] = []
        let places = Matrix.places
        for p in places {
            for device in [nil, "bk0", "lo"] { sets.append([ReachListener(kind: p.kind, address: p.address, device: device)]) }
        }
        for p in places {
            let l = ReachListener(kind: p.kind, address: p.address, options: .reuseport)
            sets.append([l, l])
        }
        let wildcards = places.filter { ["0.0.0.0", "::"].contains($0.address) }
        let specific = places.filter { p in
            guard !["0.0.0.0", "::", "::ffff:0.0.0.0"].contains(p.address), canConnect(p.address) else { return false }
            return true
        }
        for w in wildcards {
            let wl = ReachListener(kind: w.kind, address: w.address, options: .reuseport)
            for s in specific {
                let sl = ReachListener(kind: s.kind, address: s.address, options: .reuseport)
                sets.append([wl, sl])
                sets.append([sl, wl])
            }
            let onBK0 = ReachListener(kind: w.kind, address: w.address, options: .reuseport, device: "bk0")
            sets.append([onBK0, wl])
            sets.append([wl, onBK0])
        }
        let v4 = ReachListener(kind: .inet, address: "0.0.0.0", options: .reuseport)
        for kind in [SocketKind.inet6Dual, .inet6Only] {
            let v6 = ReachListener(kind: kind, address: "::", options: .reuseport)
            sets.append([v4, v6])
            sets.append([v6, v4])
        }
        for (kind, address) in [(SocketKind.inet, "0.0.0.0"), (.inet6Dual, "::"), (.inet, "127.0.0.1"), (.inet6Only, "2001:db8::1")] {
            let l = ReachListener(kind: kind, address: address, options: .reuseport)
            sets.append([l, l, l])
        }
        return sets
    }

    /// Every reach cell of the default run: listener sets × destinations × sender × transport.
    public static func reachCells(only: Transport? = nil) -> [ReachCell] {
        var cells: [ReachCell] = []
        let transports = only.map { [$0] } ?? Transport.allCases
        let sets = reachListenerSets
        for transport in transports {
            for set in sets {
                for destination in reachDestinations {
                    for sender in [Side.host, .peer] {
                        cells.append(ReachCell(transport: transport, listeners: set, destination: destination, sender: sender))
                    }
                }
            }
        }
        return cells
    }

    /// The steps of a reach cell at `port`: each listener's socket, bind and (TCP) listen, the
    /// sender's socket (SO_BROADCAST for UDP), and its connect or send.
    package static func reachSteps(_ cell: ReachCell, port: UInt16) -> ReachSteps {
        var listeners: [[Step]] = []
        for (i, l) in cell.listeners.enumerated() {
            let id = ReachCell.ids[i]
            var options = l.options.settings
            if let v = l.kind.v6onlySetting { options.append(v) }
            if let device = l.device { options.append(.device(device)) }
            let ip = parsed[l.address] ?? (try? IPAddress(parsing: l.address)) ?? .v4(.any)
            var steps = [
                Step(id: id, action: .socket(family: l.kind.family, transport: cell.transport, options: options)),
                Step(id: id, action: .bind(AddressSpec(ip: ip, port: .number(port), text: l.address))),
            ]
            if cell.transport == .tcp { steps.append(Step(id: id, action: .listen(backlog: 128))) }
            listeners.append(steps)
        }
        let senderOptions: [SocketOptionSetting] = cell.transport == .udp ? [.broadcast(true)] : []
        let sender = Step(
            id: "s", action: .socket(family: cell.senderFamily, transport: cell.transport, options: senderOptions), on: cell.sender)
        let ip = reachParsed[cell.destination] ?? (try? IPAddress(parsing: cell.destination)) ?? .v4(.any)
        let spec = AddressSpec(ip: ip, port: .number(port), text: cell.destination)
        let reach = Step(id: "s", action: cell.transport == .tcp ? .connect(spec) : .send(spec))
        return ReachSteps(listeners: listeners, sender: sender, reach: reach)
    }

    static let reachParsed: [String: IPAddress] = Dictionary(
        uniqueKeysWithValues: reachDestinations.compactMap { a in (try? IPAddress(parsing: a)).map { (a, $0) } })
}

/// The steps of a reach cell.
package struct ReachSteps {
    var listeners: [[Step]]
    var sender: Step
    var reach: Step
}

/// A reach cell on both sides.
package enum ReachCellRun {
    /// Runs one cell: the model on fresh tables, the kernel in `executor`'s namespaces (all its
    /// sockets closed after). The model runs without words; with them again where the sides
    /// disagree.
    package static func run(_ cell: ReachCell, port: UInt16, model: ScenarioModel, executor: KernelExecutor) -> ReachRecord {
        let steps = Matrix.reachSteps(cell, port: port)
        let m = modelOutcome(steps, model: model)
        let k = kernelOutcome(steps, executor: executor)
        executor.closeAll()
        var record = ReachRecord(cell: cell, port: port, model: m.outcome, kernel: k, reason: m.reason, modelIsGroup: m.isGroup)
        if !record.agrees {
            var words = model
            words.host = words.host.explaining(true)
            words.peer = words.peer?.explaining(true)
            record.reason = modelOutcome(steps, model: words).reason
        }
        return record
    }

    /// The model's side of a cell.
    package static func modelOutcome(_ steps: ReachSteps, model: ScenarioModel) -> (outcome: ReachOutcome, reason: Reason, isGroup: Bool) {
        var tables = ScenarioTables()
        var setup: [String] = []
        for listener in steps.listeners {
            for step in listener {
                let p = model.apply(step, to: &tables)
                if p.outcome != .ok {
                    setup.append("\(step.id ?? "?") \(step.op) \(p.outcome)")
                    break
                }
            }
        }
        let created = model.apply(steps.sender, to: &tables)
        if created.outcome != .ok {
            setup.append("s socket \(created.outcome)")
            return (ReachOutcome(setup: setup, result: created.outcome, by: []), created.reason, false)
        }
        let p = model.apply(steps.reach, to: &tables)
        return (ReachOutcome(setup: setup, result: p.outcome, by: p.by ?? []), p.reason, p.isGroup)
    }

    /// The kernel's side of a cell.
    static func kernelOutcome(_ steps: ReachSteps, executor: KernelExecutor) -> ReachOutcome {
        var setup: [String] = []
        for listener in steps.listeners {
            for step in listener {
                let o = executor.perform(step)
                if o != .ok {
                    setup.append("\(step.id ?? "?") \(step.op) \(o)")
                    break
                }
            }
        }
        let created = executor.perform(steps.sender)
        if created != .ok {
            setup.append("s socket \(created)")
            return ReachOutcome(setup: setup, result: created, by: [])
        }
        let o = executor.perform(steps.reach)
        return ReachOutcome(setup: setup, result: o, by: executor.lastBy ?? [])
    }
}
