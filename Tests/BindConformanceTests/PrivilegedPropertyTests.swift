import BindConformance
import BindKit
import BindRules
import BindTestSupport
import Foundation
import PropertyBased
import Testing

/// Random credentials, a random program to exec (or none), a random sysctl and port: the model's
/// verdict must be the kernel's answer.
struct CredentialCase: Sendable, CustomStringConvertible {
    /// nil: the child binds itself; otherwise it execs a copy of bindcheck with these file capabilities.
    enum Program: String, CaseIterable, Sendable {
        case plain = "none"
        case ep = "cap_net_bind_service=+ep"
        case p = "cap_net_bind_service=+p"
        case ei = "cap_net_bind_service=+ei"
        case
            otherEp = "cap_net_raw=+ep"
    }

    var root: Bool
    var permitted: Set<Capability>
    var effective: Set<Capability>
    var inheritable: Set<Capability>
    var ambient: Set<Capability>
    var noNewPrivileges: Bool
    var program: Program?
    var start: Int
    var port: UInt16

    static let universe: [Capability] = [.netBindService, .netRaw]
    static let starts = [0, 80, 1024]
    static let ports: [UInt16] = [0, 79, 80, 1023, 1024]

    var capabilities: CapabilitySets {
        CapabilitySets(effective: effective, permitted: permitted, inheritable: inheritable, ambient: ambient)
    }

    var description: String {
        func names(_ s: Set<Capability>) -> String { s.isEmpty ? "-" : s.sorted().map(\.name).joined(separator: ",") }
        return "uid \(root ? 0 : nobodyUID) P=\(names(permitted)) E=\(names(effective)) I=\(names(inheritable)) A=\(names(ambient))"
            + "\(noNewPrivileges ? " no_new_privs" : "") exec \(program?.rawValue ?? "(no exec)") start \(start) port \(port)"
    }

    static func random(using rng: inout some RandomNumberGenerator) -> CredentialCase {
        func some(_ from: Set<Capability>) -> Set<Capability> { from.filter { _ in Bool.random(using: &rng) } }
        let permitted = some(Set(universe))
        let inheritable = some(Set(universe))
        return CredentialCase(
            root: Int.random(in: 0..<4, using: &rng) == 0, permitted: permitted, effective: some(permitted), inheritable: inheritable,
            ambient: some(permitted.intersection(inheritable)), noNewPrivileges: Int.random(in: 0..<3, using: &rng) == 0,
            program: Bool.random(using: &rng) ? Program.allCases.randomElement(using: &rng) : nil,
            start: starts.randomElement(using: &rng) ?? 1024, port: ports.randomElement(using: &rng) ?? 80)
    }

    /// Simpler cases first: no exec, no no_new_privs, default sysctl, fewer capabilities.
    var simpler: [CredentialCase] {
        var out: [CredentialCase] = []
        func with(_ change: (inout CredentialCase) -> Void) {
            var c = self
            change(&c)
            out.append(c)
        }
        if program != nil { with { $0.program = nil } }
        if noNewPrivileges { with { $0.noNewPrivileges = false } }
        if root { with { $0.root = false } }
        if start != 1024 { with { $0.start = 1024 } }
        for cap in permitted {
            with {
                $0.permitted.remove(cap)
                $0.effective.remove(cap)
                $0.ambient.remove(cap)
            }
        }
        for cap in inheritable {
            with {
                $0.inheritable.remove(cap)
                $0.ambient.remove(cap)
            }
        }
        for cap in effective { with { $0.effective.remove(cap) } }
        for cap in ambient { with { $0.ambient.remove(cap) } }
        return out
    }
}

@Suite(
    "Privileged ports: random credentials against the kernel", .checksLeaks, .serialized,
    .enabled(if: canBuildCredentials, "needs root (uids, capabilities, namespaces)"))
struct PrivilegedPropertyTests {
    static let generator = Generator<CredentialCase, [CredentialCase]>(
        run: { rng in
            var r = ForwardingRNG(base: rng)
            let c = CredentialCase.random(using: &r)
            rng = r.base
            return c
        },
        shrink: { $0.simpler })

    @Test("model == kernel for 60 random credential cases")
    func randomCredentials() async throws {
        var copies: [CredentialCase.Program: BindcheckCopy] = [:]
        for program in CredentialCase.Program.allCases {
            copies[program] = try BindcheckCopy(fileCapabilities: program == .plain ? nil : program.rawValue)
        }
        let programs = copies
        defer { for p in programs.values { p.remove() } }
        await propertyCheck(count: 60, input: Self.generator) { c in
            let outcome: (predicted: PrivilegeVerdict, kernel: Bool?, inside: Bool?, detail: String)
            do {
                outcome = try withPrivateNamespace(sysctls: [("net.ipv4.ip_unprivileged_port_start", String(c.start))]) { _ in
                    var facts = try PrivilegeFacts.user(c.root ? "0" : String(nobodyUID))
                    var sets = c.capabilities
                    sets.bounding = facts.capabilities.bounding
                    facts.capabilities = sets
                    facts.noNewPrivileges = c.noNewPrivileges
                    let credentials = ChildCredentials(
                        uid: c.root ? nil : nobodyUID, gid: c.root ? nil : nobodyUID, capabilities: c.capabilities,
                        noNewPrivileges: c.noNewPrivileges)
                    guard let program = c.program, let copy = programs[program] else {
                        let k = try kernelAnswer(credentials, port: c.port)
                        return (PrivilegeModel.verdict(facts, port: c.port), k.consistent ? k.allowed : nil, nil, "\(k)")
                    }
                    facts.binary = try BinaryFacts.read(copy.path)
                    let run = try copy.run(credentials, ["privileged", "--port", String(c.port), "--json", "--try"])
                    return (
                        PrivilegeModel.verdict(facts, port: c.port), run.triedAllowed, try? run.report().allowed, run.stdout + run.stderr
                    )
                }
            } catch {
                Issue.record("\(c): \(error)")
                return
            }
            #expect(outcome.kernel != nil, "\(c): no clear kernel answer: \(outcome.detail)")
            #expect(
                outcome.predicted.allowed == outcome.kernel,
                "\(c): model \(outcome.predicted.allowed) kernel \(String(describing: outcome.kernel)) — \(outcome.predicted.reasons.joined(separator: " | "))"
            )
            if let inside = outcome.inside {
                #expect(inside == outcome.kernel, "\(c): bindcheck after exec predicted \(inside): \(outcome.detail)")
            }
        }
    }
}
