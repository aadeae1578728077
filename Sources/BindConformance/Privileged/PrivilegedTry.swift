import BindKit
import BindRules
import CBindShim
import Foundation
import SystemPackage

/// Credentials for a short-lived child process: a uid, capability sets, no_new_privs, a user
/// namespace. The child can take only what the calling process may give (capset never raises beyond
/// the permitted set), so a refusal means the caller lacks privilege. The calling process never
/// changes its own credentials, and the child never holds a reference to its descriptors.
public struct ChildCredentials: Hashable, Sendable {
    public enum UserNamespace: Int32, Sendable {
        /// Stay in the caller's user namespace.
        case none = 0
        /// A new user namespace that shares the network namespace (it is owned by the old one).
        case sharingNetwork = 1
        /// A new user namespace with a new network namespace of its own.
        case withOwnNetwork = 2
    }

    /// Real uid (nil: keep). Set together with `gid`: supplementary groups are cleared.
    public var uid: UInt32?
    /// Effective uid (nil: the real one).
    public var euid: UInt32?
    public var gid: UInt32?
    /// nil: keep the caller's; else exactly these effective, permitted, inheritable and ambient sets.
    public var capabilities: CapabilitySets?
    public var noNewPrivileges: Bool
    /// Made last, after the uid and capabilities: uid 0 inside maps to the child's euid.
    public var userNamespace: UserNamespace

    public init(
        uid: UInt32? = nil, euid: UInt32? = nil, gid: UInt32? = nil, capabilities: CapabilitySets? = nil,
        noNewPrivileges: Bool = false, userNamespace: UserNamespace = .none
    ) {
        self.uid = uid
        self.euid = euid
        self.gid = gid
        self.capabilities = capabilities
        self.noNewPrivileges = noNewPrivileges
        self.userNamespace = userNamespace
    }

    /// Binds the wildcard of `family` (`[::]` with IPV6_V6ONLY) at `port` in a child that takes
    /// these credentials, and closes the socket at once. The corresponding C function is bind(2),
    /// in a child made by bk_bind_as.
    public func bind(family: AddressFamily, transport: Transport, port: UInt16) throws(ChildError) -> ChildBind {
        var stage: Int32 = 0
        var call: Int32 = 0
        let r = withSpec(stdout: nil, stderr: nil) { spec in
            bk_bind_as(&spec, family.cValue, transport == .udp ? 1 : 0, port, &stage, &call)
        }
        if stage != 0 { throw ChildError(stage: stage, result: r) }
        if r == 0 { return .ok }
        return .failed(errno: -r, call: call == 1 ? "socket" : call == 2 ? "bind" : "child")
    }

    /// Runs `argv[0]` in a child that takes these credentials, its standard output and error in
    /// the files at `stdout` and `stderr` (opened before the credentials change); returns its exit
    /// status (128 + signal when killed).
    public func exec(_ argv: [String], stdout: String? = nil, stderr: String? = nil) throws(ChildError) -> Int32 {
        guard let program = argv.first else { throw .failed("nothing to run") }
        let copies = argv.map { strdup($0) }
        defer { for c in copies { free(c) } }
        let pointers: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } } + [nil]
        var stage: Int32 = 0
        let r = withSpec(stdout: stdout, stderr: stderr) { spec in bk_exec_as(&spec, pointers, &stage) }
        if stage != 0 { throw ChildError(stage: stage, result: r) }
        if r < 0 { throw .failed("execve(\(program)) failed with \(ErrnoName.name(-r) ?? "errno \(-r)")") }
        return r
    }

    private func withSpec<R>(stdout: String?, stderr: String?, _ body: (inout bk_cred_spec) -> R) -> R {
        var spec = bk_cred_spec()
        spec.uid = uid.map(Int64.init) ?? -1
        spec.euid = euid.map(Int64.init) ?? -1
        spec.gid = gid.map(Int64.init) ?? -1
        if let c = capabilities {
            spec.set_caps = true
            spec.effective = Capability.mask(of: c.effective)
            spec.permitted = Capability.mask(of: c.permitted)
            spec.inheritable = Capability.mask(of: c.inheritable)
            spec.ambient = Capability.mask(of: c.ambient)
        }
        spec.no_new_privs = noNewPrivileges
        spec.userns = userNamespace.rawValue
        return withOptionalCString(stdout) { out in
            withOptionalCString(stderr) { err in
                spec.stdout_path = out
                spec.stderr_path = err
                return body(&spec)
            }
        }
    }
}

private func withOptionalCString<R>(_ s: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let s else { return body(nil) }
    return s.withCString { body($0) }
}

/// Why a child could not take its credentials or run.
public enum ChildError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The caller lacks the privilege to give these credentials (EPERM from setresuid, capset, …).
    case needsPrivilege(String)
    case failed(String)

    init(stage: Int32, result: Int32) {
        let step = String(cString: bk_child_stage_name(stage))
        let name = ErrnoName.name(-result) ?? "errno \(-result)"
        if -result == EPERM || -result == EACCES {
            self = .needsPrivilege(
                "\(step) failed with \(name): giving a child these credentials needs privileges this process lacks (run as root)")
        } else {
            self = .failed("the child's \(step) failed with \(name)")
        }
    }

    public var description: String {
        switch self {
        case .needsPrivilege(let s): "needs privilege: \(s)"
        case .failed(let s): s
        }
    }
}

/// The outcome of one bind() in a child.
public enum ChildBind: Hashable, Sendable, CustomStringConvertible {
    case ok
    /// `call` is "socket" or "bind".
    case failed(errno: Int32, call: String)

    public var errnoName: String? {
        if case .failed(let e, _) = self { return ErrnoName.name(e) ?? "errno \(e)" }
        return nil
    }

    public var description: String {
        switch self {
        case .ok: "ok"
        case .failed(let e, let call): (call == "bind" ? "" : "\(call)() ") + (ErrnoName.name(e) ?? "errno \(e)")
        }
    }
}

// MARK: - --try

/// One real bind of `bindcheck privileged --try`, beside the prediction.
public struct PrivilegeTryRecord: Hashable, Sendable, Codable {
    public var family: String
    public var transport: String
    public var address: String
    /// "ok", or the errno the model predicts.
    public var predicted: String
    /// What the kernel said: "ok", an errno name, or why it was not tried.
    public var result: String
    /// nil when not tried.
    public var agrees: Bool?
    public var note: String?
}

public enum PrivilegeTry {
    /// The credentials the verdict was made for, as a child can take them: the subject's after
    /// exec of the binary, the user's, or (neither) this process's own.
    public static func credentials(for facts: PrivilegeFacts, verdict: PrivilegeVerdict, isUser: Bool) -> ChildCredentials {
        if let e = verdict.exec {
            return ChildCredentials(uid: e.uid, euid: e.euid, gid: facts.gid, capabilities: e.capabilities)
        }
        if isUser { return ChildCredentials(uid: facts.uid, euid: facts.euid, gid: facts.gid, capabilities: facts.capabilities) }
        return ChildCredentials()
    }

    /// Binds the wildcard of each family, TCP and UDP, at `port` in a child with `credentials`.
    public static func run(_ credentials: ChildCredentials, port: UInt16, verdict: PrivilegeVerdict) throws(ChildError)
        -> [PrivilegeTryRecord]
    {
        var c = credentials
        // Ids equal to the caller's need no change (and no privilege).
        if c.uid == getuid() && (c.euid ?? c.uid) == geteuid() && c.gid == getgid() {
            c.uid = nil
            c.euid = nil
            c.gid = nil
        }
        let predicted = verdict.allowed ? "ok" : verdict.errno ?? "EACCES"
        if let e = verdict.exec?.errno {
            return [
                PrivilegeTryRecord(
                    family: "-", transport: "-", address: "-", predicted: predicted, result: "not tried",
                    agrees: nil, note: "execve() would fail with \(e): there are no credentials to bind with")
            ]
        }
        var records: [PrivilegeTryRecord] = []
        for family in [AddressFamily.inet, .inet6] {
            for transport in [Transport.tcp, .udp] {
                let address = family == .inet ? "0.0.0.0:\(port)" : "[::]:\(port)"
                let outcome = try c.bind(family: family, transport: transport, port: port)
                var record = PrivilegeTryRecord(
                    family: family == .inet ? "inet" : "inet6", transport: transport == .tcp ? "tcp" : "udp", address: address,
                    predicted: predicted, result: outcome.description, agrees: nil, note: nil)
                switch outcome {
                case .ok:
                    record.agrees = verdict.allowed
                case .failed(let e, "bind"):
                    // Privilege is checked before the port is looked up: EADDRINUSE means it passed.
                    record.agrees = (e == EACCES) != verdict.allowed
                    if e == EADDRINUSE { record.note = "another socket holds the port; the privilege check passed before that" }
                case .failed(let e, _):
                    record.note = "not tried: socket() failed with \(ErrnoName.name(e) ?? "errno \(e)")"
                }
                records.append(record)
            }
        }
        return records
    }
}
