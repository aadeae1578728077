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
    /// regenerated alone. Throws `NamespaceError` when the kernel cannot be asked.
    public static func run(count: Int, seed: UInt64, generator: ScenarioGenerator = ScenarioGenerator(timewait: true),
                           progress: ((Int, Int) -> Void)? = nil) throws -> Result {
        let start = ContinuousClock.now
        var result = Result(scenarios: 0, steps: 0, disagree: 0, seconds: 0)
        for i in 0..<count {
            var rng = SeededGenerator(seed: seed &+ UInt64(i))
            let scenario = generator.scenario(name: "seed \(seed &+ UInt64(i))", using: &rng)
            let records = try ScenarioRunner.run(scenario, mode: .both)
            result.scenarios += 1
            result.steps += records.count
            if records.contains(where: { !$0.agrees }) {
                result.disagree += 1
                let shrunk = ScenarioShrinker.shrink(scenario) { candidate in
                    ((try? ScenarioRunner.run(candidate, mode: .both)) ?? []).contains { !$0.agrees }
                }
                result.failures.append(withExpectations(shrunk))
            }
            progress?(i + 1, result.disagree)
        }
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
            out.steps[i].expect = r.kernel.map { $0 == "ok" ? .ok : .errno($0) }
        }
        return out
    }
}
