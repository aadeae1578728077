import BindKit

/// The model's prediction for one step.
public struct Prediction: Sendable {
    public var outcome: Outcome
    public var reason: Reason
    /// The table after the step.
    public var table: SocketTable
}

/// What one step gives before its table: the outcome and why (a `Prediction` without the table).
/// A tuple, as `BindModel.apply` returns it, so that a result passes from the rules to the caller
/// as it was made.
typealias StepResult = (outcome: Outcome, reason: Reason)

/// The Linux bind rules as a pure function: host facts + socket table + step → outcome, reason,
/// new table. No syscalls, clock or randomness: port 0 picks deterministically in the kernel's
/// scan order.
///
/// This file holds the entry points and the dispatch of a step; the rules, one small function
/// each in the order the kernel checks them, live in files named for the kernel code they
/// mirror: SocketOptions.swift (socket, setsockopt), Bind.swift (`__inet_bind`, `__inet6_bind`),
/// PortSelection.swift (`inet_csk_get_port`, `udp_lib_get_port`), Conflicts.swift and
/// Overlap.swift (who may share a port), Listen.swift (`inet_csk_listen_start`) and
/// TimeWait.swift (close, `tcp_time_wait`).
public struct BindModel: Sendable {
    /// The host; its `kernel` picks the rules of the releases that changed them
    /// (KernelChanges.swift), worked out again whenever the host changes.
    public var host: ModelHost {
        didSet { rules = KernelRules(host.kernel) }
    }
    /// The rules of `host.kernel`, one flag per change.
    private(set) var rules: KernelRules
    /// Whether reasons carry their words (text, holder, fix). Without, outcomes and tables are the
    /// same and each reason keeps its rule and kernel function: the matrix asks the words only for
    /// the steps it records.
    public var explains = true

    /// Every capability, as a mask: what a socket created by uid 0 holds.
    static let allCapabilitiesMask = Capability.mask(of: Set(Capability.allCases))

    public init(host: ModelHost, explains: Bool = true) {
        self.host = host
        self.rules = KernelRules(host.kernel)
        self.explains = explains
    }

    /// The kernel whose rules this model answers with: the host's, or the newest known for a
    /// host whose kernel is unknown or newer (an older one than the oldest known, the oldest).
    public var kernel: KernelVersion { host.kernel.map(KernelRules.clamped) ?? KernelVersion.newestKnown }

    /// What a reader should know about the rules answering: nil for a kernel series checked
    /// against the kernel itself, or none named; else why the answers may miss (a release that
    /// cannot be read, a newer, older or unchecked one). Every reason with words ends with it.
    public var kernelNote: String? {
        if host.kernel == nil && host.unreadableKernelRelease == nil { return nil }
        return KernelRules.note(host.kernel, release: host.unreadableKernelRelease)
    }

    /// This model, with reasons in words or reduced to their rule names.
    public func explaining(_ explains: Bool) -> BindModel {
        var m = self
        m.explains = explains
        return m
    }

    /// Predicts one step.
    public func predict(_ step: Step, in table: SocketTable) -> Prediction {
        var t = table
        let (outcome, reason) = perform(step, on: &t)
        return Prediction(outcome: outcome, reason: reason, table: outcome == .ok ? t : keepFailureState(step, t, table))
    }

    /// Predicts one step and leaves the table after it in `table`: the same outcome, reason and
    /// table as `predict`, without copying the table.
    public func apply(_ step: Step, to table: inout SocketTable) -> (outcome: Outcome, reason: Reason) {
        perform(step, on: &table)
    }

    /// Runs whole scenario steps, returning each prediction (the table threads through).
    public func run(_ steps: [Step], from table: SocketTable = SocketTable()) -> [Prediction] {
        var t = table
        return steps.map { step in
            let (outcome, reason) = perform(step, on: &t)
            return Prediction(outcome: outcome, reason: reason, table: t)
        }
    }

    /// A listening socket accepts one loopback connection whose accepted side closes first: the
    /// TIME_WAIT entry it leaves carries the listener's options, on the connection's local address
    /// (the bound address, or the loopback for a wildcard). The listener stays open.
    public func leaveTimeWait(_ id: String, in table: SocketTable) -> Prediction {
        var t = table
        guard let sk = t.open[id], sk.state == .listening, sk.transport == .tcp else {
            return Prediction(
                outcome: .errno("EINVAL"),
                reason: reason(rule: "time-wait", kernel: "tcp_time_wait", text: "only a listening TCP socket can leave a TIME_WAIT entry"),
                table: table)
        }
        let local = addTimeWait(from: sk, name: id, in: &t)
        return Prediction(
            outcome: .ok, reason: reason(rule: "time-wait", kernel: "tcp_time_wait", text: "a TIME_WAIT entry holds \(local.text)"),
            table: t)
    }

    /// A failed step normally leaves the table as it was; a few failures still change the socket
    /// (the kernel keeps them): a scoped bind's device, and options set before a failing one.
    /// (`perform` changes the table on no other failure, so `apply` and `run` need not restore it.)
    private func keepFailureState(_ step: Step, _ after: SocketTable, _ before: SocketTable) -> SocketTable {
        switch step.action {
        case .bind, .socket: return after
        default: return before
        }
    }

    /// One step on `t`. A failing `setsockopt`, `listen`, `close` or `timewait` leaves `t` as it was.
    func perform(_ step: Step, on t: inout SocketTable) -> StepResult {
        switch step.action {
        case .socket(let family, let transport, let options):
            return createSocket(id: step.id ?? "", family: family, transport: transport, options: options, in: &t)
        case .setsockopt(let option):
            guard let id = step.id, var sk = t.open[id] else { return unknownSocket(step.id) }
            let answer = setOption(option, on: &sk)
            if answer.outcome == .ok { t.open[id] = sk }
            return answer
        case .bind(let spec):
            guard let id = step.id, let sk = t.open[id] else { return unknownSocket(step.id) }
            var answer = bind(sk, to: spec, in: &t)
            answer.reason.port = t.open[id]?.bound?.port ?? resolvePort(spec.port, in: t)
            return answer
        case .listen:
            guard let id = step.id, let sk = t.open[id] else { return unknownSocket(step.id) }
            var answer = listen(sk, in: &t)
            answer.reason.port = t.open[id]?.bound?.port
            return answer
        case .close:
            guard let id = step.id, t.open.contains(id) else { return unknownSocket(step.id) }
            close(id, in: &t)
            return (.ok, reason(rule: "close", kernel: "inet_release", text: "closed; its port is free again unless others hold it"))
        case .timewait(let spec, let reuseaddr):
            var answer = timeWait(id: step.id, at: spec, reuseaddr: reuseaddr, in: &t)
            answer.reason.port = resolvePort(spec.port, in: t).flatMap { $0 == 0 ? step.id.flatMap { t.portOf[$0] } : $0 }
            return answer
        case .connect, .send:
            // Reach within this one namespace (Reach.swift); a scenario with a peer runs ScenarioModel.
            var tables = ScenarioTables()
            tables.host = t
            let answer = ScenarioModel(host: self).apply(step, to: &tables)
            t = tables.host
            return (answer.outcome, answer.reason)
        }
    }

    /// `sockfd_lookup()`: a step on an id that names no open socket gets EBADF.
    private func unknownSocket(_ id: String?) -> StepResult {
        (.errno("EBADF"), reason(rule: "no-socket", kernel: "sockfd_lookup", text: "no open socket \(id ?? "?") at this step"))
    }

    /// The port a scenario names: a number, or `$id`, the port that socket was last bound to.
    func resolvePort(_ p: PortSpec, in t: SocketTable) -> UInt16? {
        switch p {
        case .number(let n): return n
        case .reference(let id): return t.portOf[id]
        }
    }

    // MARK: - Reasons

    /// A reason, in words when this model explains.
    func reason(
        rule: String, kernel: String, text: @autoclosure () -> String, holder: @autoclosure () -> Holder? = nil,
        fix: @autoclosure () -> String? = nil
    ) -> Reason {
        guard explains, let note = kernelNote else {
            return Reason(rule: rule, kernel: kernel, text: text(), holder: holder(), fix: fix(), explains: explains)
        }
        return Reason(rule: rule, kernel: kernel, text: "\(text()) (\(note))", holder: holder(), fix: fix(), explains: true)
    }
}
