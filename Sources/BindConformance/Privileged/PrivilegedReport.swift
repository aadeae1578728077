import BindKit
import BindRules
import Foundation

/// `bindcheck privileged`: the facts, the verdict, and (with --try) the kernel's answers beside it.
public struct PrivilegeReport: Sendable, Encodable {
    public var facts: PrivilegeFacts
    public var verdict: PrivilegeVerdict
    /// Whether the facts describe `--user` rather than this process.
    public var isUser: Bool
    public var tries: [PrivilegeTryRecord]?

    /// Reads the facts for a request as typed on the command line, and decides.
    public static func make(port: String, user: String?, binary: String?) throws(PrivilegeInputError) -> PrivilegeReport {
        let p = try PrivilegeFacts.parsePort(port)
        let b = try binary.map { (path: String) throws(PrivilegeInputError) in try BinaryFacts.read(path) }
        let facts: PrivilegeFacts
        if let user { facts = try PrivilegeFacts.user(user, binary: b) } else { facts = try PrivilegeFacts.current(binary: b) }
        return PrivilegeReport(facts: facts, verdict: PrivilegeModel.verdict(facts, port: p), isUser: user != nil, tries: nil)
    }

    /// `--try`: binds for real in a child with the credentials the verdict was made for.
    public mutating func attempt() throws(ChildError) {
        guard let port = UInt16(exactly: verdict.port) else { return }
        tries = try PrivilegeTry.run(PrivilegeTry.credentials(for: facts, verdict: verdict, isUser: isUser), port: port, verdict: verdict)
    }

    /// 0 allowed, 1 refused, 70 when a real bind disagreed with the prediction.
    public var exitCode: Int32 {
        if let tries, tries.contains(where: { $0.agrees == false }) { return 70 }
        return verdict.allowed ? 0 : 1
    }

    enum CodingKeys: String, CodingKey {
        case port, allowed, errno, requiresCapability, reasons, fixes, notes, bind, exec, facts
        case tries = "try"
    }

    struct Binder: Encodable {
        var uid: UInt32
        var effective: [Capability]
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(verdict.port, forKey: .port)
        try c.encode(verdict.allowed, forKey: .allowed)
        try c.encode(verdict.errno, forKey: .errno)
        try c.encode(verdict.requiresCapability, forKey: .requiresCapability)
        try c.encode(verdict.reasons, forKey: .reasons)
        try c.encode(verdict.fixes, forKey: .fixes)
        try c.encode(verdict.notes, forKey: .notes)
        try c.encode(Binder(uid: verdict.bindUID, effective: verdict.bindEffective), forKey: .bind)
        try c.encodeIfPresent(verdict.exec, forKey: .exec)
        try c.encode(facts, forKey: .facts)
        try c.encodeIfPresent(tries, forKey: .tries)
    }

    /// For people.
    public var text: String {
        var who = facts.who
        if let b = facts.binary { who += " running \(b.path)" }
        let state = verdict.allowed ? "allowed" : "refused (\(verdict.errno ?? "EACCES"))"
        var lines = ["port \(verdict.port): \(state) for \(who)", "why:"]
        lines += verdict.reasons.map { "  - " + $0 }
        if !verdict.fixes.isEmpty {
            lines.append("how to change it:")
            for f in verdict.fixes {
                lines.append("  - " + f.summary)
                lines.append("      $ " + f.command)
            }
        }
        lines.append("notes:")
        lines += verdict.notes.map { "  - " + $0 }
        if let tries {
            lines.append("try (a child with these credentials binds the wildcard and closes it at once):")
            var rows = [["ADDRESS", "TRANSPORT", "PREDICTED", "KERNEL", ""]]
            for t in tries {
                let verdictWord = t.agrees.map { $0 ? "agrees" : "DIFFERS" } ?? ""
                rows.append([
                    t.address, t.transport, t.predicted, t.result,
                    [verdictWord, t.note ?? ""].filter { !$0.isEmpty }.joined(separator: "; "),
                ])
            }
            let widths = (0..<4).map { i in rows.map { $0[i].count }.max() ?? 0 }
            for r in rows {
                let cells = (0..<4).map { r[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
                var line = "  " + cells.joined(separator: "  ") + "  " + r[4]
                while line.last == " " { line.removeLast() }
                lines.append(line)
            }
        }
        return lines.joined(separator: "\n")
    }
}
