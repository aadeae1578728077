import BindConformance
import BindKit
import BindRules
import BindTestSupport
import Foundation
import Testing

// Privileged ports against the kernel: each situation is built for real (a uid, capability sets,
// file capabilities, a sysctl, a user namespace) in a child process inside a private network
// namespace, and the model's verdict is compared with what bind() answers there. The test process
// never changes its own credentials, and nothing of the host changes.

/// Root with what the children need: set uids and capabilities, file capabilities, namespaces.
let canBuildCredentials: Bool = {
    guard getuid() == 0, let caps = try? CapabilitySets.current() else { return false }
    return caps.effective.isSuperset(of: [.setuid, .setgid, .setpcap, .setfcap, .sysAdmin, .netAdmin, .netBindService]) && canMakeNamespaces
}()

/// A uid with no capabilities (nobody on most systems; it need not have a password entry).
let nobodyUID: UInt32 = 65534

/// The built bindcheck, beside the test bundle.
let bindcheckBesideTests: String? = {
    guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
    let path = URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("bindcheck").path
    return FileManager.default.isExecutableFile(atPath: path) ? path : nil
}()

/// The kernel's answers for one port: the wildcard of each family, TCP and UDP.
struct KernelAnswer: Sendable, CustomStringConvertible {
    var port: UInt16
    var answers: [ChildBind]
    /// No bind was refused with EACCES (privilege comes before every other check on a free port).
    var allowed: Bool { !answers.contains(.failed(errno: .permissionDenied, call: .bind)) }
    /// Every bind succeeded or every one was refused: the families and transports agree.
    var consistent: Bool { answers.allSatisfy { $0 == .ok } || answers.allSatisfy { $0 == .failed(errno: .permissionDenied, call: .bind) } }
    var description: String { "port \(port): " + answers.map(\.description).joined(separator: ", ") }
}

/// Binds in a child with `credentials`; call from inside a private network namespace.
func kernelAnswer(_ credentials: ChildCredentials, port: UInt16) throws -> KernelAnswer {
    var answers: [ChildBind] = []
    for family in [AddressFamily.inet, .inet6] {
        for transport in [Transport.tcp, .udp] { answers.append(try credentials.bind(family: family, transport: transport, port: port)) }
    }
    return KernelAnswer(port: port, answers: answers)
}

/// One port: the model's verdict beside the kernel's answer.
struct PrivilegeComparison: Sendable {
    var verdict: PrivilegeVerdict
    var kernel: KernelAnswer
}

/// In a fresh private network namespace (with `sysctls`), reads the facts with `facts`, and for
/// each port predicts and binds in a child with `credentials`.
func comparePrivilege(
    sysctls: [(name: String, value: String)] = [], ports: [UInt16],
    facts: @escaping @Sendable () throws -> PrivilegeFacts, credentials: @escaping @Sendable (PrivilegeFacts) -> ChildCredentials
) throws -> [PrivilegeComparison] {
    try withPrivateNamespace(sysctls: sysctls) { _ in
        let f = try facts()
        return try ports.map { port in
            PrivilegeComparison(verdict: PrivilegeModel.verdict(f, port: port), kernel: try kernelAnswer(credentials(f), port: port))
        }
    }
}

/// Checks every comparison: model == kernel, the kernel consistent, and the expected outcome.
func expectAgreement(_ comparisons: [PrivilegeComparison], expected: [UInt16: Bool], sourceLocation: SourceLocation = #_sourceLocation) {
    for c in comparisons {
        #expect(c.kernel.consistent, "\(c.kernel)", sourceLocation: sourceLocation)
        #expect(
            c.verdict.allowed == c.kernel.allowed,
            "model \(c.verdict.allowed ? "allows" : "refuses") but kernel says \(c.kernel) — \(c.verdict.reasons.joined(separator: " | "))",
            sourceLocation: sourceLocation)
        if let e = expected[c.kernel.port] {
            #expect(
                c.kernel.allowed == e, "expected port \(c.kernel.port) \(e ? "allowed" : "refused"): \(c.kernel)",
                sourceLocation: sourceLocation)
        }
    }
}

/// The facts of a fresh process of the unprivileged uid.
@Sendable func unprivilegedFacts() throws -> PrivilegeFacts { try PrivilegeFacts.user(String(nobodyUID)) }

/// The child's credentials for facts without a binary: exactly the facts' uid and sets.
@Sendable func childCredentials(_ f: PrivilegeFacts) -> ChildCredentials {
    ChildCredentials(uid: f.uid, euid: f.euid, gid: f.gid, capabilities: f.capabilities)
}

// MARK: - bindcheck run as someone else

/// The report `bindcheck privileged --json` prints, as far as the tests read it.
struct PrivilegeReportJSON: Decodable, Sendable {
    var port: Int
    var allowed: Bool
    var reasons: [String]
    var fixes: [PrivilegeFix]
    var facts: PrivilegeFacts
    var `try`: [PrivilegeTryRecord]?
}

/// What a run of bindcheck in a child printed and returned.
struct BindcheckRun: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String

    func report() throws -> PrivilegeReportJSON {
        try JSONDecoder().decode(PrivilegeReportJSON.self, from: Data(stdout.utf8))
    }

    /// The kernel's answers of --try: allowed when none was EACCES.
    var triedAllowed: Bool? {
        guard let tries = try? report().try, !tries.isEmpty else { return nil }
        return !tries.contains { $0.result == "EACCES" }
    }
}

/// A copy of bindcheck, optionally with file capabilities or set-user-ID root, in a temporary
/// directory only root (even without capabilities: the owner) and the unprivileged uid's group may
/// enter, so no one else can run it meanwhile.
final class BindcheckCopy: Sendable {
    let directory: String
    let path: String

    init(fileCapabilities: String? = nil, setUIDRoot: Bool = false) throws {
        guard let original = bindcheckBesideTests else { throw CopyError("bindcheck is not built beside the tests (swift build first)") }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bk-priv-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o750])
        if getuid() == 0 && chown(directory, 0, nobodyUID) != 0 { throw CopyError("chown \(directory): errno \(errno)") }
        path = directory + "/bindcheck"
        try FileManager.default.copyItem(atPath: original, toPath: path)
        try FileManager.default.setAttributes([.posixPermissions: setUIDRoot ? 0o4755 : 0o755], ofItemAtPath: path)
        if let caps = fileCapabilities {
            // setcap(8) from libcap2-bin, run as a child like everything here (no Process, no pipes).
            let setcap = ["/usr/sbin/setcap", "/sbin/setcap", "/usr/bin/setcap"].first { FileManager.default.isExecutableFile(atPath: $0) }
            guard let setcap else { throw CopyError("setcap is not installed (libcap2-bin; scripts/deps.sh installs it)") }
            let run = try runInChild([setcap, caps, path], outputIn: directory)
            if run.status != 0 { throw CopyError("setcap \(caps) \(path) exited \(run.status): \(run.stderr)") }
        }
    }

    /// Removes the directory and the copy (deinit does too; call it where the copy may outlive the test).
    func remove() { try? FileManager.default.removeItem(atPath: directory) }

    deinit { remove() }

    /// Runs the copy with `arguments` in a child with `credentials`.
    func run(_ credentials: ChildCredentials, _ arguments: [String]) throws -> BindcheckRun {
        try runInChild([path] + arguments, as: credentials, outputIn: directory)
    }
}

/// Runs a program in a child with `credentials`, its output in files of `directory` (so the test
/// process holds no pipe while it runs).
func runInChild(_ argv: [String], as credentials: ChildCredentials = ChildCredentials(), outputIn directory: String) throws -> BindcheckRun
{
    let out = directory + "/out-\(UUID().uuidString)"
    let err = directory + "/err-\(UUID().uuidString)"
    defer {
        try? FileManager.default.removeItem(atPath: out)
        try? FileManager.default.removeItem(atPath: err)
    }
    let status = try credentials.exec(argv, stdout: out, stderr: err)
    return BindcheckRun(status: status, stdout: text(of: out), stderr: text(of: err))
}

/// A file's text, or "" when it cannot be read. Not Foundation's `String(contentsOfFile:)`: on an
/// empty file (a child that printed nothing) it leaks a 4 KiB buffer, which LeakSanitizer reports.
private func text(of path: String) -> String {
    (try? ScenarioLoader.read(file: path)).map { String(decoding: $0, as: UTF8.self) } ?? ""
}

struct CopyError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// The unprivileged uid, holding `held`, execs `copy` (`privileged --port 80 --json --try`) in a
/// private network namespace; beside it, the library's verdict for the same uid, sets and binary.
func execAsUnprivileged(
    _ copy: BindcheckCopy, holding held: CapabilitySets = CapabilitySets(),
    noNewPrivileges: Bool = false
) throws -> (predicted: PrivilegeVerdict, run: BindcheckRun) {
    let binary = try BinaryFacts.read(copy.path)
    return try withPrivateNamespace { _ in
        var f = try unprivilegedFacts()
        var sets = held
        sets.bounding = f.capabilities.bounding
        f.capabilities = sets
        f.binary = binary
        f.noNewPrivileges = noNewPrivileges
        let run = try copy.run(
            ChildCredentials(uid: nobodyUID, gid: nobodyUID, capabilities: held, noNewPrivileges: noNewPrivileges),
            ["privileged", "--port", "80", "--json", "--try"])
        return (PrivilegeModel.verdict(f, port: 80), run)
    }
}

// MARK: - The tests

@Suite(
    "Privileged ports against the kernel", .checksLeaks, .serialized,
    .enabled(if: canBuildCredentials, "needs root (uids, capabilities, namespaces)"))
struct PrivilegedKernelTests {
    @Test("root: every port, 80 included")
    func root() throws {
        let c = try comparePrivilege(
            ports: [0, 1, 80, 1023, 1024], facts: { try PrivilegeFacts.current() }, credentials: { _ in ChildCredentials() })
        expectAgreement(c, expected: [0: true, 1: true, 80: true, 1023: true, 1024: true])
        #expect(c.filter(\.verdict.requiresCapability).allSatisfy { $0.verdict.reasons.contains { $0.contains("its effective") } })
        #expect(c.filter(\.verdict.requiresCapability).map(\.kernel.port) == [1, 80, 1023])
    }

    @Test("uid 0 without CAP_NET_BIND_SERVICE: 80 refused, as for anyone")
    func rootWithoutCapability() throws {
        let c = try comparePrivilege(
            ports: [0, 80, 1024],
            facts: {
                var f = try PrivilegeFacts.current()
                f.capabilities.effective.remove(.netBindService)
                f.capabilities.permitted.remove(.netBindService)
                return f
            }, credentials: { f in ChildCredentials(capabilities: f.capabilities) })
        expectAgreement(c, expected: [0: true, 80: false, 1024: true])
        #expect(c[1].verdict.reasons.contains { $0.hasPrefix("uid 0 is not enough") })
    }

    @Test("a uid without capabilities: 80 refused, 1024 allowed, 0 allowed")
    func uidWithoutCapabilities() throws {
        let c = try comparePrivilege(ports: [0, 1, 80, 1023, 1024, 8080], facts: unprivilegedFacts, credentials: childCredentials)
        expectAgreement(c, expected: [0: true, 1: false, 80: false, 1023: false, 1024: true, 8080: true])
        let refused = c[2].verdict
        #expect(refused.errno == "EACCES")
        #expect(refused.fixes.contains { $0.command.hasPrefix("setcap 'cap_net_bind_service=+ep'") })
        #expect(refused.fixes.contains { $0.command == "sysctl -w net.ipv4.ip_unprivileged_port_start=80" })
        #expect(refused.fixes.contains { $0.command.contains("8080") })
        #expect(
            refused.fixes.contains {
                $0.command.contains("AmbientCapabilities=CAP_NET_BIND_SERVICE")
                    || $0.summary.contains("AmbientCapabilities=CAP_NET_BIND_SERVICE")
            })
    }

    @Test("that uid with CAP_NET_BIND_SERVICE ambient: binds, and keeps it across exec")
    func ambient() throws {
        let nbs: Set<Capability> = [.netBindService]
        let held = CapabilitySets(effective: nbs, permitted: nbs, inheritable: nbs, ambient: nbs)
        // Binding in the child itself.
        let direct = try comparePrivilege(
            ports: [80, 1023],
            facts: {
                var f = try unprivilegedFacts()
                f.capabilities = CapabilitySets(
                    effective: nbs, permitted: nbs, inheritable: nbs, bounding: f.capabilities.bounding, ambient: nbs)
                return f
            }, credentials: childCredentials)
        expectAgreement(direct, expected: [80: true, 1023: true])

        // After exec of a program without file capabilities: the ambient set becomes effective.
        let (predicted, run) = try execAsUnprivileged(try BindcheckCopy(), holding: held)
        #expect(run.status == 0, "bindcheck exited \(run.status): \(run.stderr)")
        let report = try run.report()
        #expect(predicted.allowed && run.triedAllowed == true && report.allowed, "\(predicted.reasons) / \(run.stdout)")
        #expect(report.facts.capabilities.ambient == nbs)
    }

    @Test("permitted and inheritable but not ambient: exec of a plain program drops it")
    func permittedDoesNotSurviveExec() throws {
        let nbs: Set<Capability> = [.netBindService]
        let (predicted, run) = try execAsUnprivileged(
            try BindcheckCopy(), holding: CapabilitySets(effective: nbs, permitted: nbs, inheritable: nbs))
        #expect(!predicted.allowed, "\(predicted.reasons)")
        #expect(run.triedAllowed == false, "\(run.stdout)\(run.stderr)")
        #expect(run.status == 1)
    }

    @Test(
        "file capabilities set with setcap: read back, and honoured on exec",
        arguments: [
            ("cap_net_bind_service=+ep", true, false),
            ("cap_net_bind_service=+p", false, false),  // permitted, not effective: bindcheck never raises it
            ("cap_net_bind_service=+ep", false, true),  // no_new_privs: file capabilities grant nothing
        ])
    func fileCapabilities(setcap: String, allowed: Bool, noNewPrivileges: Bool) throws {
        let copy = try BindcheckCopy(fileCapabilities: setcap)
        let binary = try BinaryFacts.read(copy.path)
        #expect(binary.capabilities?.permitted == [.netBindService])
        #expect(binary.capabilities?.effective == setcap.hasSuffix("ep"))
        let (predicted, run) = try execAsUnprivileged(copy, noNewPrivileges: noNewPrivileges)
        #expect(predicted.allowed == allowed, "\(predicted.reasons)")
        #expect(run.triedAllowed == allowed, "kernel: \(run.stdout)\(run.stderr)")
        #expect((try? run.report().allowed) == allowed, "bindcheck's own view after exec: \(run.stdout)")
        #expect(run.status == (allowed ? 0 : 1))
    }

    @Test("set-user-ID root: honoured on exec, but not under no_new_privs", arguments: [false, true])
    func setUIDRoot(noNewPrivileges: Bool) throws {
        let copy = try BindcheckCopy(setUIDRoot: true)
        #expect(try BinaryFacts.read(copy.path).isSetUIDRoot)
        let (predicted, run) = try execAsUnprivileged(copy, noNewPrivileges: noNewPrivileges)
        #expect(predicted.allowed == !noNewPrivileges, "\(predicted.reasons)")
        #expect(run.triedAllowed == !noNewPrivileges, "kernel: \(run.stdout)\(run.stderr)")
        #expect((try? run.report().facts.euid) == (noNewPrivileges ? nobodyUID : 0))
    }

    @Test("the tool reads file capabilities back and predicts for --user --binary")
    func toolReadsFileCapabilities() throws {
        let copy = try BindcheckCopy(fileCapabilities: "cap_net_bind_service=+ep")
        let report = try PrivilegeReport.make(port: "80", user: String(nobodyUID), binary: copy.path)
        #expect(report.verdict.allowed)
        #expect(report.facts.binary?.capabilities?.text == "cap_net_bind_service=ep")
        #expect(report.verdict.exec?.capabilities.effective == [.netBindService])
    }

    @Test("net.ipv4.ip_unprivileged_port_start inside a private namespace", arguments: [0, 80, 1024])
    func unprivilegedPortStart(start: Int) throws {
        let ports: [UInt16] = [0, 1, 79, 80, 81, 1023, 1024]
        let c = try comparePrivilege(
            sysctls: [("net.ipv4.ip_unprivileged_port_start", String(start))], ports: ports,
            facts: unprivilegedFacts, credentials: childCredentials)
        #expect(c.first?.verdict.reasons.isEmpty == false)
        var expected: [UInt16: Bool] = [:]
        for p in ports { expected[p] = p == 0 || Int(p) >= start }
        expectAgreement(c, expected: expected)
    }

    /// bindcheck privileged --port 80 --json --try, run by the unprivileged uid after it made a user
    /// namespace (its uid 0 inside), in a fresh private network namespace.
    func bindcheckInUserNamespace(_ userNamespace: ChildCredentials.UserNamespace) throws -> BindcheckRun {
        let copy = try BindcheckCopy()
        return try withPrivateNamespace { _ in
            try copy.run(
                ChildCredentials(uid: nobodyUID, gid: nobodyUID, capabilities: CapabilitySets(), userNamespace: userNamespace),
                ["privileged", "--port", "80", "--json", "--try"])
        }
    }

    @Test("a user namespace with its own network namespace: its root binds 80")
    func userNamespaceWithOwnNetwork() throws {
        let run = try bindcheckInUserNamespace(.withOwnNetwork)
        let report = try run.report()
        #expect(report.facts.userNamespace.networkNamespaceOwner == .own)
        #expect(!report.facts.userNamespace.isInitial)
        #expect(report.facts.uid == 0)
        #expect(report.allowed && run.triedAllowed == true, "\(run.stdout)")
        // The same facts, decided here, give the same verdict.
        #expect(PrivilegeModel.verdict(report.facts, port: 80).allowed == run.triedAllowed)
        #expect(run.status == 0)
    }

    @Test("a user namespace on its parent's network namespace: even its root is refused 80")
    func userNamespaceSharingNetwork() throws {
        let run = try bindcheckInUserNamespace(.sharingNetwork)
        let report = try run.report()
        #expect(report.facts.userNamespace.networkNamespaceOwner == .outside)
        #expect(report.facts.uid == 0 && report.facts.capabilities.effective.contains(.netBindService))
        #expect(!report.allowed && run.triedAllowed == false, "\(run.stdout)")
        #expect(PrivilegeModel.verdict(report.facts, port: 80).allowed == run.triedAllowed)
        #expect(!report.fixes.contains { $0.command.hasPrefix("setcap") }, "setcap cannot help there")
        #expect(run.status == 1)
    }

    @Test("--try without the privilege to take the credentials exits 77")
    func tryNeedsPrivilege() throws {
        let copy = try BindcheckCopy()
        let run = try copy.run(
            ChildCredentials(uid: nobodyUID, gid: nobodyUID, capabilities: CapabilitySets()),
            ["privileged", "--user", "root", "--try"])
        #expect(run.status == 77, "\(run.stdout)\(run.stderr)")
        #expect(run.stderr.split(separator: "\n").count == 1 && run.stderr.hasPrefix("bindcheck: --try needs privilege"), "\(run.stderr)")
    }

    @Test("an unreadable binary: one line, exit 64")
    func unreadableBinary() throws {
        let copy = try BindcheckCopy()
        let hidden = copy.directory + "/closed"
        try FileManager.default.createDirectory(atPath: hidden, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        _ = FileManager.default.createFile(atPath: hidden + "/server", contents: Data(), attributes: [.posixPermissions: 0o755])
        let run = try copy.run(
            ChildCredentials(uid: nobodyUID, gid: nobodyUID, capabilities: CapabilitySets()),
            ["privileged", "--binary", hidden + "/server"])
        #expect(run.status == 64)
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.split(separator: "\n").count == 1 && run.stderr.contains("permission denied"), "\(run.stderr)")
    }
}

@Suite(
    "bindcheck privileged: input and output", .checksLeaks,
    .enabled(if: bindcheckBesideTests != nil, "bindcheck is not built beside the tests"))
struct PrivilegedCommandTests {
    func bindcheck(_ arguments: [String]) throws -> BindcheckRun {
        try runInChild([bindcheckBesideTests ?? "/nonexistent"] + arguments, outputIn: FileManager.default.temporaryDirectory.path)
    }

    @Test(
        "bad input: one clear line and 64, or 66 for a missing file",
        arguments: [
            (["--user", "no-such-user-bk"], Int32(64), "no user"),
            (["--user", ""], 64, "no user"),
            (["--user", "4294967295"], 64, "no user"),
            (["--port", "65536"], 64, "port must be"),
            (["--port", "-1"], 64, "port must be"),
            (["--port", "http"], 64, "port must be"),
            (["--port", "8O"], 64, "port must be"),
            (["--binary", "/nonexistent/bk-server"], 66, "no such file"),
            (["--binary", "/etc/passwd/x"], 66, "no such file"),
            (["--binary", "/"], 64, "a directory"),
            (["--binary", ""], 64, "an empty path"),
        ])
    func badInput(arguments: [String], status: Int32, message: String) throws {
        let run = try bindcheck(["privileged"] + arguments)
        #expect(run.status == status, "\(arguments): \(run.stderr)")
        #expect(run.stdout.isEmpty)
        let lines = run.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("bindcheck: ") && lines[0].contains(message), "\(run.stderr)")
    }

    @Test("--json: one object with port, allowed, reasons, fixes and the facts")
    func json() throws {
        let run = try bindcheck(["privileged", "--port", "80", "--user", "root", "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        for key in ["port", "allowed", "errno", "reasons", "fixes", "notes", "facts", "bind"] {
            #expect(object?[key] != nil, "missing \(key)")
        }
        let report = try run.report()
        #expect(report.port == 80 && report.facts.uid == 0)
        #expect(run.status == (report.allowed ? 0 : 1))
        #expect(report.reasons.count >= 2)
    }

    @Test("the text names the verdict, the reason, and that the address is checked first")
    func text() throws {
        let run = try bindcheck(["privileged", "--port", "80", "--user", String(nobodyUID)])
        if run.status == 1 {
            #expect(run.stdout.hasPrefix("port 80: refused (EACCES)"))
            #expect(run.stdout.contains("$ setcap 'cap_net_bind_service=+ep'"))
        }
        #expect(run.stdout.contains("checks the address before the port"))
    }
}
