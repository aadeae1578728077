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

    /// Every pair present agrees (model, kernel, expect).
    public var agrees: Bool {
        let present = [expect, model, kernel].compactMap { $0 }
        return Set(present).count <= 1
    }

    enum CodingKeys: String, CodingKey { case scenario, step, op, id, expect, model, kernel, reason }

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
        var kernel: [Outcome]?
        var facts: HostFacts?
        if mode == .model, let cached = factsCache.withLock({ $0[scenario.sysctls] }) {
            facts = cached  // the model alone: the same sysctls read back once
        } else if mode.usesKernel || mode == .model {
            do {
                let result = try withPrivateNamespace(sysctls: scenario.sysctls.map { ($0.name, $0.value) }) { facts in
                    (facts, mode.usesKernel ? KernelRun.perform(scenario.steps) : [])
                }
                facts = result.0
                if mode.usesKernel { kernel = result.1 }
                if mode == .model { factsCache.withLock { $0[scenario.sysctls] = result.0 } }
            } catch let e as NamespaceError {
                // A model-only run without privilege describes the fixture instead of reading it.
                guard mode == .model, case .notPermitted = e else { throw e }
            }
        }
        var model: [Prediction]?
        if mode.usesModel {
            var host = try facts.map(ModelHost.init(facts:)) ?? Fixture.describedHost(sysctls: scenario.sysctls)
            if let modelKernel { host.kernel = modelKernel }
            model = BindModel(host: host).run(scenario.steps)
        }
        return scenario.steps.enumerated().map { i, step in
            StepRecord(
                scenario: scenario.name, step: i, op: step.op, id: step.id, expect: step.expect?.description,
                model: model?[i].outcome.description, kernel: kernel?[i].description, reason: model?[i].reason.description)
        }
    }
}

/// The kernel side of one scenario, run on the namespace thread.
enum KernelRun {
    static func perform(_ steps: [Step]) -> [Outcome] {
        let executor = KernelExecutor()
        return steps.map { executor.perform($0) }
    }
}

extension Fixture {
    /// The fixture as the model would read it, for model-only runs where no namespace can be
    /// made: the interfaces of SCENARIOS.md with the scenario's sysctls applied.
    public static func describedHost(sysctls: [SysctlSetting]) throws -> ModelHost {
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
            interfaces: [lo, bk1, bk0], sysctls: s,
            kernel: KernelVersion(release: HostFacts.kernelRelease(), build: HostFacts.kernelBuild()))
    }
}
