/// The text form of `bindcheck run`.
public enum RunReport {
    /// One line a step: mark, scenario and step, the results, and the model's reason.
    public static func line(_ r: StepRecord) -> String {
        var parts: [String] = []
        if let m = r.model { parts.append("model \(m)") }
        if let k = r.kernel { parts.append("kernel \(k)") }
        if let e = r.expect { parts.append("expect \(e)") }
        if r.hasBy {
            func list(_ ids: [String]?) -> String { ids.map { "[" + $0.joined(separator: ", ") + "]" } ?? "-" }
            var by = "by model \(list(r.modelBy)) kernel \(list(r.kernelBy))"
            if let e = r.expectBy { by += " expect \(list(e))" }
            parts.append(by)
        }
        let mark = r.agrees ? "  " : "✗ "
        let head = "\(mark)\(r.scenario) #\(r.step) \(r.op)\(r.id.map { " " + $0 } ?? "")"
        return "\(head): \(parts.joined(separator: ", "))\(r.reason.map { " — " + $0 } ?? "")"
    }

    public static func summary(steps: Int, differing: Int, mode: RunMode) -> String {
        let what =
            switch mode {
            case .both: "model and kernel"
            case .model: "model only"
            case .kernel: "kernel only"
            }
        return "\(steps) steps (\(what)): \(steps - differing) agree, \(differing) differ"
    }
}
