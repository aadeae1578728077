import BindKit
import BindRules
import Foundation

/// Random scenarios, model against kernel; every disagreement shrunk to a small scenario.
public enum Soak {
    public struct Result: Codable, Sendable {
        public var scenarios: Int
        public var steps: Int
        public var disagree: Int
        public var seconds: Double
        /// The shrunk scenarios that disagree (not part of the JSON summary).
        public var failures: [Scenario] = []
        enum CodingKeys: String, CodingKey { case scenarios, steps, disagree, seconds }
    }

    /// Runs `count` scenarios from `seed`. Scenario i uses seed `seed &+ i`, so any one can be
    /// regenerated alone, and the same scenarios run whatever the number of `workers` (threads,
    /// each scenario in a namespace of its own: the work waits on the kernel far more than it
    /// computes, so workers beyond the cores still pay). `progress` is called from any thread
    /// with the scenarios done and the disagreements so far. Throws `NamespaceError` when the
    /// kernel cannot be asked.
    public static func run(
        count: Int, seed: UInt64, workers: Int = 1, generator: ScenarioGenerator = ScenarioGenerator(timewait: true),
        progress: (@Sendable (Int, Int) -> Void)? = nil
    ) throws -> Result {
        let start = ContinuousClock.now
        struct Shared {
            var result = Result(scenarios: 0, steps: 0, disagree: 0, seconds: 0)
            var failures: [(index: Int, scenario: Scenario)] = []
            var error: (any Error)?
        }
        let shared = Locked(Shared())
        let w = max(1, min(workers, count))
        DispatchQueue.concurrentPerform(iterations: w) { worker in
            for i in stride(from: worker, to: count, by: w) {
                if shared.withLock({ $0.error != nil }) { return }
                var rng = SeededGenerator(seed: seed &+ UInt64(i))
                let scenario = generator.scenario(name: "seed \(seed &+ UInt64(i))", using: &rng)
                do {
                    let records = try ScenarioRunner.run(scenario, mode: .both)
                    var failure: Scenario?
                    if records.contains(where: { !$0.agrees }) {
                        let shrunk = ScenarioShrinker.shrink(scenario) { candidate in
                            ((try? ScenarioRunner.run(candidate, mode: .both)) ?? []).contains { !$0.agrees }
                        }
                        failure = withExpectations(shrunk)
                    }
                    let (done, bad) = shared.withLock { s in
                        s.result.scenarios += 1
                        s.result.steps += records.count
                        if let failure {
                            s.result.disagree += 1
                            s.failures.append((i, failure))
                        }
                        return (s.result.scenarios, s.result.disagree)
                    }
                    progress?(done, bad)
                } catch {
                    shared.withLock { $0.error = $0.error ?? error }
                    return
                }
            }
        }
        var (result, failures, error) = shared.withLock { ($0.result, $0.failures, $0.error) }
        if let error { throw error }
        result.failures = failures.sorted { $0.index < $1.index }.map(\.scenario)
        let d = ContinuousClock.now - start
        result.seconds = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        return result
    }

    /// The scenario with each step's `expect` set to what the kernel answered, ready to be added
    /// to the corpus once the model is fixed.
    public static func withExpectations(_ s: Scenario) -> Scenario {
        guard let records = try? ScenarioRunner.run(s, mode: .kernel) else { return s }
        var out = s
        for (i, r) in records.enumerated() where i < out.steps.count {
            out.steps[i].expect = r.kernel.map(Outcome.init)
        }
        return out
    }
}
