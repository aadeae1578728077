import BindKit
import BindRules
import BindTestSupport
import Foundation
import Testing

// The privileged-port model without a kernel: execve()'s capability rules (capabilities(7),
// security/commoncap.c) as a table, the user-namespace rule, and the fixes. The kernel
// comparisons are in BindConformanceTests/PrivilegedTests.swift.

private let nbs: Set<Capability> = [.netBindService]
private let all = Set(Capability.allCases)

private func user(
    _ uid: UInt32 = 1000, caps: CapabilitySets = CapabilitySets(bounding: all), noNewPrivileges: Bool = false,
    secureNoRoot: Bool = false, binary: BinaryFacts? = nil, owner: NetworkNamespaceOwner = .own,
    start: Int = 1024
) -> PrivilegeFacts {
    var c = caps
    if c.bounding.isEmpty { c.bounding = all }
    return PrivilegeFacts(
        subject: "uid \(uid)", userName: uid == 0 ? "root" : "svc", uid: uid, gid: uid, capabilities: c,
        noNewPrivileges: noNewPrivileges, secureNoRoot: secureNoRoot, unprivilegedPortStart: start,
        userNamespace: UserNamespaceFacts(
            isInitial: owner == .own, networkNamespaceOwner: owner, childOwnerUID: owner == .descendant ? 1000 : nil),
        binary: binary)
}

private func file(_ caps: FileCapabilities? = nil, mode: UInt32 = 0o755, owner: UInt32 = 0, nosuid: Bool = false) -> BinaryFacts {
    BinaryFacts(path: "/usr/sbin/server", capabilities: caps, mode: mode, ownerUID: owner, nosuidMount: nosuid)
}

private let ep = FileCapabilities(permitted: nbs, effective: true)
private let p = FileCapabilities(permitted: nbs)
private let ei = FileCapabilities(inheritable: nbs, effective: true)
private let rootCaps = CapabilitySets(effective: all, permitted: all, bounding: all)

struct ExecCase: Sendable, CustomTestStringConvertible {
    var name: String
    var facts: PrivilegeFacts
    /// CAP_NET_BIND_SERVICE effective after exec, or the errno of execve().
    var effective: Bool
    var execErrno: String? = nil
    var testDescription: String { name }
}

@Suite("Privileged-port model", .checksLeaks)
struct PrivilegeModelTests {
    static let execCases: [ExecCase] = [
        ExecCase(name: "plain program, no capabilities", facts: user(binary: file()), effective: false),
        ExecCase(
            name: "ambient survives exec of a plain program",
            facts: user(caps: CapabilitySets(effective: nbs, permitted: nbs, inheritable: nbs, ambient: nbs), binary: file()),
            effective: true),
        ExecCase(
            name: "permitted + inheritable without ambient: dropped by exec",
            facts: user(caps: CapabilitySets(effective: nbs, permitted: nbs, inheritable: nbs), binary: file()), effective: false),
        ExecCase(name: "file =ep", facts: user(binary: file(ep)), effective: true),
        ExecCase(name: "file =p: permitted, not effective", facts: user(binary: file(p)), effective: false),
        ExecCase(
            name: "file =ei with the process's inheritable", facts: user(caps: CapabilitySets(inheritable: nbs), binary: file(ei)),
            effective: true),
        ExecCase(name: "file =ei without it", facts: user(binary: file(ei)), effective: false),
        ExecCase(name: "file =ep, no_new_privs", facts: user(noNewPrivileges: true, binary: file(ep)), effective: false),
        ExecCase(name: "file =ep on a nosuid mount", facts: user(binary: file(ep, nosuid: true)), effective: false),
        ExecCase(
            name: "file =ep, bounding set without it: execve() fails",
            facts: user(caps: CapabilitySets(bounding: all.subtracting(nbs)), binary: file(ep)), effective: false, execErrno: "EPERM"),
        ExecCase(
            name: "file =p, bounding set without it: runs without it",
            facts: user(caps: CapabilitySets(bounding: all.subtracting(nbs)), binary: file(p)), effective: false),
        ExecCase(name: "set-user-ID root", facts: user(binary: file(mode: 0o4755)), effective: true),
        ExecCase(name: "set-user-ID root, no_new_privs", facts: user(noNewPrivileges: true, binary: file(mode: 0o4755)), effective: false),
        ExecCase(name: "set-user-ID root, nosuid mount", facts: user(binary: file(mode: 0o4755, nosuid: true)), effective: false),
        ExecCase(name: "set-user-ID root, SECBIT_NOROOT", facts: user(secureNoRoot: true, binary: file(mode: 0o4755)), effective: false),
        ExecCase(
            name: "set-user-ID root with file =p: the file capabilities alone decide", facts: user(binary: file(p, mode: 0o4755)),
            effective: false),
        ExecCase(name: "set-user-ID to another user", facts: user(binary: file(mode: 0o4755, owner: 33)), effective: false),
        ExecCase(
            name: "ambient, then a file with capabilities: ambient cleared",
            facts: user(
                caps: CapabilitySets(effective: nbs, permitted: nbs, inheritable: nbs, ambient: nbs),
                binary: file(FileCapabilities(permitted: [.netRaw], effective: true))), effective: false),
        ExecCase(
            name: "ambient survives no_new_privs",
            facts: user(
                caps: CapabilitySets(effective: nbs, permitted: nbs, inheritable: nbs, ambient: nbs), noNewPrivileges: true, binary: file()),
            effective: true),
        ExecCase(name: "root execs anything", facts: user(0, caps: rootCaps, binary: file()), effective: true),
        ExecCase(
            name: "root with SECBIT_NOROOT execs a plain program", facts: user(0, caps: rootCaps, secureNoRoot: true, binary: file()),
            effective: false),
        ExecCase(
            name: "root whose bounding set lacks it",
            facts: user(0, caps: CapabilitySets(effective: all, permitted: all, bounding: all.subtracting(nbs)), binary: file()),
            effective: false),
        ExecCase(name: "a file without an execute bit", facts: user(binary: file(ep, mode: 0o644)), effective: false, execErrno: "EACCES"),
    ]

    @Test("execve()'s capability rules", arguments: execCases)
    func execRules(_ c: ExecCase) {
        guard let binary = c.facts.binary else { return }
        let r = PrivilegeModel.exec(binary, by: c.facts)
        #expect(r.errno == c.execErrno, "\(r.steps)")
        #expect(r.capabilities.effective.contains(.netBindService) == c.effective, "\(r.steps)")
        // The invariants the kernel keeps: ambient ⊆ permitted ∩ inheritable, effective ⊆ permitted.
        #expect(r.capabilities.ambient.isSubset(of: r.capabilities.permitted.intersection(r.capabilities.inheritable)))
        #expect(r.capabilities.effective.isSubset(of: r.capabilities.permitted))
        let v = PrivilegeModel.verdict(c.facts, port: 80)
        #expect(v.allowed == (c.effective && c.execErrno == nil), "\(v.reasons)")
        if let e = c.execErrno { #expect(v.errno == e) }
    }

    @Test("the port: 0 and ports from ip_unprivileged_port_start up need nothing")
    func ports() {
        for (start, port, allowed) in [
            (1024, 0, true), (1024, 1, false), (1024, 1023, false), (1024, 1024, true), (0, 1, true),
            (80, 79, false), (80, 80, true), (65535, 65534, false), (65535, 65535, true),
        ] {
            let v = PrivilegeModel.verdict(user(start: start), port: UInt16(port))
            #expect(v.allowed == allowed, "start \(start) port \(port)")
            #expect(v.requiresCapability == !allowed)
            #expect(v.fixes.isEmpty == allowed)
        }
    }

    @Test("the owner of the network namespace decides whose capabilities count")
    func userNamespaces() {
        let inside = CapabilitySets(effective: all, permitted: all, bounding: all)
        #expect(PrivilegeModel.verdict(user(0, caps: inside, owner: .own), port: 80).allowed)
        let outside = PrivilegeModel.verdict(user(0, caps: inside, owner: .outside), port: 80)
        #expect(!outside.allowed)
        #expect(!outside.fixes.contains { $0.command.hasPrefix("setcap") || $0.command.hasPrefix("systemd-run") })
        #expect(outside.fixes.contains { $0.command.hasPrefix("unshare --user --map-root-user --net") })
        // Below: the creator of the child user namespace is capable there without any capability.
        #expect(PrivilegeModel.verdict(user(1000, owner: .descendant), port: 80).allowed)
        #expect(!PrivilegeModel.verdict(user(1001, owner: .descendant), port: 80).allowed)
    }

    @Test("every fix offered is one the model says works, and names this binary")
    func fixes() {
        let refused = PrivilegeModel.verdict(user(binary: file()), port: 443)
        #expect(refused.errno == "EACCES")
        let commands = refused.fixes.map(\.command)
        #expect(commands.contains("setcap 'cap_net_bind_service=+ep' /usr/sbin/server"))
        #expect(commands.contains("systemd-run --uid=svc -p AmbientCapabilities=CAP_NET_BIND_SERVICE /usr/sbin/server"))
        #expect(commands.contains("sysctl -w net.ipv4.ip_unprivileged_port_start=443"))
        #expect(commands.contains { $0.contains("dport 443 redirect to :8443") })
        // No_new_privs: file capabilities cannot help, ambient still can.
        let nnp = PrivilegeModel.verdict(user(noNewPrivileges: true, binary: file()), port: 443).fixes.map(\.command)
        #expect(!nnp.contains { $0.hasPrefix("setcap") })
        #expect(nnp.contains { $0.contains("AmbientCapabilities") })
        // A file with other capabilities keeps them in the setcap command.
        let raw = PrivilegeModel.verdict(user(binary: file(FileCapabilities(permitted: [.netRaw], effective: true))), port: 80)
        #expect(raw.fixes.contains { $0.command == "setcap 'cap_net_bind_service,cap_net_raw=+ep' /usr/sbin/server" })
        #expect(!raw.fixes.contains { $0.command.contains("Ambient") }, "ambient is cleared by a file with capabilities")
    }

    @Test("reasons say why: uid 0 is not enough; permitted is not effective")
    func reasons() {
        let dropped = PrivilegeModel.verdict(
            user(0, caps: CapabilitySets(effective: all.subtracting(nbs), permitted: all.subtracting(nbs), bounding: all)), port: 80)
        #expect(!dropped.allowed && dropped.reasons.contains { $0.hasPrefix("uid 0 is not enough") })
        let lazy = PrivilegeModel.verdict(user(binary: file(p)), port: 80)
        #expect(lazy.reasons.contains { $0.hasPrefix("CAP_NET_BIND_SERVICE is permitted but not effective") })
        #expect(PrivilegeModel.notes.contains { $0.contains("checks the address before the port") })
    }

    @Test("the facts round-trip through JSON")
    func codable() throws {
        let facts = user(
            caps: CapabilitySets(effective: nbs, permitted: nbs, inheritable: nbs, ambient: nbs), binary: file(ep, mode: 0o4755))
        let data = try JSONEncoder().encode(facts)
        #expect(try JSONDecoder().decode(PrivilegeFacts.self, from: data) == facts)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"mode\":\"4755\""))
        #expect(text.contains("\"ambient\":\"0000000000000400\""))
        #expect(text.contains("\"text\":\"cap_net_bind_service=ep\""))
    }
}
