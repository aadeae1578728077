import BindKit
import BindRules
import Foundation

/// Which sides a run asks.
public enum RunMode: Sendable, Equatable {
    case both, model, kernel
    var usesModel: Bool { self != .kernel }
    var usesKernel: Bool { self != .model }
}

/// One step's results: a line of `bindcheck run --json`.
public struct StepRecord: Codable, Sendable, Equatable {
    public var scenario: String
    public var step: Int
    public var op: String
    public var id: String?
    public var expect: String?
    public var model: String?
    public var kernel: String?
    public var reason: String?
    /// For a step with `by` (a TCP `connect`, a `send`): the receivers expected, predicted and seen.
    public var expectBy: [String]?
    public var modelBy: [String]?
    public var kernelBy: [String]?
    /// Whether `by` is for a step that has it (the three keys are then written, null or not).
    public var hasBy = false
    /// Whether the destination is unicast: a SO_REUSEPORT group answer then agrees with the one
    /// member the kernel picked.
    public var unicast = true

    public init(
        scenario: String, step: Int, op: String, id: String?, expect: String?, model: String?, kernel: String?, reason: String?
    ) {
        self.scenario = scenario
        self.step = step
        self.op = op
        self.id = id
        self.expect = expect
        self.model = model
        self.kernel = kernel
        self.reason = reason
    }

    /// Every pair present agrees (model, kernel, expect; and their `by`).
    public var agrees: Bool {
        let present = [expect, model, kernel].compactMap { $0 }
        return Set(present).count <= 1 && byAgrees
    }

    /// `expect_by` equals `model_by`; the kernel's list equals each, or for unicast is the one
    /// member of the group they name.
    public var byAgrees: Bool {
        if let expectBy, let modelBy, expectBy != modelBy { return false }
        guard let kernelBy else { return true }
        for other in [expectBy, modelBy].compactMap({ $0 }) where other != kernelBy {
            guard unicast, kernelBy.count == 1, other.count > 1, other.contains(kernelBy[0]) else { return false }
        }
        return true
    }

    enum CodingKeys: String, CodingKey {
        case scenario, step, op, id, expect, model, kernel, reason
        case expectBy = "expect_by"
        case modelBy = "model_by"
        case kernelBy = "kernel_by"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        scenario = try c.decode(String.self, forKey: .scenario)
        step = try c.decode(Int.self, forKey: .step)
        op = try c.decode(String.self, forKey: .op)
        id = try c.decodeIfPresent(String.self, forKey: .id)
        expect = try c.decodeIfPresent(String.self, forKey: .expect)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        kernel = try c.decodeIfPresent(String.self, forKey: .kernel)
        reason = try c.decodeIfPresent(String.self, forKey: .reason)
        hasBy = c.contains(.expectBy) || c.contains(.modelBy) || c.contains(.kernelBy)
        expectBy = try c.decodeIfPresent([String].self, forKey: .expectBy)
        modelBy = try c.decodeIfPresent([String].self, forKey: .modelBy)
        kernelBy = try c.decodeIfPresent([String].self, forKey: .kernelBy)
    }

    // Nulls are written out, as SCENARIOS.md shows `"kernel": null` for --model.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(scenario, forKey: .scenario)
        try c.encode(step, forKey: .step)
        try c.encode(op, forKey: .op)
        try c.encode(id, forKey: .id)
        try c.encode(expect, forKey: .expect)
        try c.encode(model, forKey: .model)
        try c.encode(kernel, forKey: .kernel)
        try c.encode(reason, forKey: .reason)
        if hasBy {
            try c.encode(expectBy, forKey: .expectBy)
            try c.encode(modelBy, forKey: .modelBy)
            try c.encode(kernelBy, forKey: .kernelBy)
        }
    }
}

/// Runs scenarios: the model predicts each step, the kernel answers in a fresh private network
/// namespace with the fixture, and both go into one record per step.
public enum ScenarioRunner {
    /// Facts read back from a fixture namespace, per sysctl set (model-only runs).
    static let factsCache = Locked<[[SysctlSetting]: HostFacts]>([:])

    /// Runs one scenario. Throws `NamespaceError` when a kernel run cannot start. `kernel`: the
    /// release the model answers for (`bindcheck run --kernel`); nil, the running kernel's.
    public static func run(_ scenario: Scenario, mode: RunMode, kernel modelKernel: KernelVersion? = nil) throws -> [StepRecord] {
        var kernel: [(outcome: Outcome, by: [String]?)]?
        var facts: HostFacts?
        var peerFacts: HostFacts?
        let peer = scenario.hasPeer
        if mode == .model, !peer, let cached = factsCache.withLock({ $0[scenario.sysctls] }) {
            facts = cached  // the model alone: the same sysctls read back once
        } else if mode.usesKernel || mode == .model {
            do {
                let result = try withScenarioNamespaces(sysctls: scenario.sysctls.map { ($0.name, $0.value) }, peer: peer) { ns in
                    (ns.hostFacts, ns.peerFacts, mode.usesKernel ? KernelRun.perform(scenario.steps, namespaces: ns) : [])
                }
                facts = result.0
                peerFacts = result.1
                if mode.usesKernel { kernel = result.2 }
                if mode == .model, !peer { factsCache.withLock { $0[scenario.sysctls] = result.0 } }
            } catch let e as NamespaceError {
                // A model-only run without privilege describes the fixture instead of reading it.
                guard mode == .model, case .notPermitted = e else { throw e }
            }
        }
        var model: [ReachPrediction]?
        var host = try facts.map(ModelHost.init(facts:)) ?? Fixture.describedHost(sysctls: scenario.sysctls, withPeer: peer)
        var peerHost = peer ? try (peerFacts.map(ModelHost.init(facts:)) ?? Fixture.describedPeer()) : nil
        if mode.usesModel {
            if let modelKernel {
                host.kernel = modelKernel
                peerHost?.kernel = modelKernel
            }
            model = ScenarioModel(host: host, peer: peerHost).run(scenario.steps)
        }
        return scenario.steps.enumerated().map { i, step in
            var r = StepRecord(
                scenario: scenario.name, step: i, op: step.op, id: step.id, expect: step.expect?.description,
                model: model?[i].outcome.description, kernel: kernel?[i].outcome.description, reason: model?[i].reason.description)
            if hasBy(step, in: scenario.steps[..<i]) {
                r.hasBy = true
                r.expectBy = step.expectBy
                r.modelBy = model?[i].by
                r.kernelBy = kernel?[i].by
                r.unicast = isUnicast(step, steps: scenario.steps[..<i], host: host, peer: peerHost)
            }
            return r
        }
    }

    /// Whether a step has `by`: a `send`, or a `connect` of a TCP socket.
    static func hasBy(_ step: Step, in before: ArraySlice<Step>) -> Bool {
        switch step.action {
        case .send: return true
        case .connect:
            let created = before.last { s in
                if case .socket = s.action { return s.id == step.id }
                return false
            }
            if case .socket(_, let transport, _)? = created?.action { return transport == .tcp }
            return false
        default: return false
        }
    }

    /// Whether the step's destination is unicast for the sender's namespace (SCENARIOS.md: not
    /// multicast, not 255.255.255.255, not a broadcast route of the sender's namespace).
    static func isUnicast(_ step: Step, steps: ArraySlice<Step>, host: ModelHost, peer: ModelHost?) -> Bool {
        let address: AddressSpec?
        switch step.action {
        case .connect(let a): address = a
        case .send(let a?): address = a
        case .send(nil):
            // The connected destination: the socket's last connect.
            address = steps.last { s in
                if case .connect = s.action { return s.id == step.id }
                return false
            }.flatMap { s -> AddressSpec? in if case .connect(let a) = s.action { return a } else { return nil } }
        default: address = nil
        }
        guard let ip = address?.ip else { return true }
        let created = steps.last { s in
            if case .socket = s.action { return s.id == step.id }
            return false
        }
        let facts = created?.on == .peer ? (peer ?? host) : host
        return !ScenarioModel.isGroupDestination(ip, in: facts)
    }
}

/// The kernel side of one scenario, run on the namespace thread.
enum KernelRun {
    static func perform(_ steps: [Step], namespaces: ScenarioNamespaces) -> [(outcome: Outcome, by: [String]?)] {
        let executor = KernelExecutor(namespaces: namespaces)
        return steps.map { step in
            let outcome = executor.perform(step)
            return (outcome, executor.lastBy)
        }
    }
}

extension Fixture {
    /// The fixture as the model would read it, for model-only runs where no namespace can be
    /// made: the interfaces of SCENARIOS.md with the scenario's sysctls applied.
    public static func describedHost(sysctls: [SysctlSetting], withPeer: Bool = false) throws -> ModelHost {
        var s = BindSysctls()
        for setting in sysctls { try s.apply(name: setting.name, value: setting.value) }
        let lo = Interface(
            name: "lo", index: 1, isUp: true, isLoopback: true,
            addresses: [
                InterfaceAddress(ip: .v4(.loopback), prefixLength: 8), InterfaceAddress(ip: .v6(.loopback), prefixLength: 128),
            ])
        let bk1 = Interface(name: peer, index: 2, isUp: true, isLoopback: false, addresses: [])
        let bk0 = Interface(
            name: veth, index: 3, isUp: true, isLoopback: false,
            addresses: [
                InterfaceAddress(ip: .v4(ipv4), prefixLength: ipv4Prefix), InterfaceAddress(ip: .v6(ipv6), prefixLength: 64),
                InterfaceAddress(ip: .v6(IPv6Address(high: linkLocal.high, low: linkLocal.low, zone: .name(veth))), prefixLength: 64),
            ])
        return ModelHost(
            interfaces: withPeer ? [lo, bk0] : [lo, bk1, bk0], sysctls: s,
            kernel: KernelVersion(release: HostFacts.kernelRelease(), build: HostFacts.kernelBuild()))
    }

    /// The peer namespace as described (model-only runs without privilege): lo, and bk1 with
    /// the peer's addresses; default sysctls.
    public static func describedPeer() throws -> ModelHost {
        let lo = Interface(
            name: "lo", index: 1, isUp: true, isLoopback: true,
            addresses: [
                InterfaceAddress(ip: .v4(.loopback), prefixLength: 8), InterfaceAddress(ip: .v6(.loopback), prefixLength: 128),
            ])
        let bk1 = Interface(
            name: peer, index: 2, isUp: true, isLoopback: false,
            addresses: [
                InterfaceAddress(ip: .v4(peerIPv4), prefixLength: ipv4Prefix), InterfaceAddress(ip: .v6(peerIPv6), prefixLength: 64),
                InterfaceAddress(
                    ip: .v6(IPv6Address(high: peerLinkLocal.high, low: peerLinkLocal.low, zone: .name(peer))), prefixLength: 64),
            ])
        return ModelHost(
            interfaces: [lo, bk1], sysctls: BindSysctls(),
            kernel: KernelVersion(release: HostFacts.kernelRelease(), build: HostFacts.kernelBuild()))
    }
}
