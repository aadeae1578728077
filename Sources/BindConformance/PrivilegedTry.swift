import BindKit
import BindRules
import CBindShim
import Foundation
import SystemPackage

/// Credentials for a child process: a uid, capability sets, no_new_privs, a user namespace. The
/// child can take only what the calling process may give (capset never raises beyond the permitted
/// set), so a refusal means the caller lacks privilege.
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

    public init(uid: UInt32? = nil, euid: UInt32? = nil, gid: UInt32? = nil, capabilities: CapabilitySets? = nil,
                noNewPrivileges: Bool = false, userNamespace: UserNamespace = .none) {
        self.uid = uid
        self.euid = euid
        self.gid = gid
        self.capabilities = capabilities
        self.noNewPrivileges = noNewPrivileges
        self.userNamespace = userNamespace
    }
}

/// Why a child could not take its credentials or run.
public enum ChildError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The caller lacks the privilege to give these credentials (EPERM from setresuid, capset, …).
    case needsPrivilege(String)
    case failed(String)

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

/// A forked child holding other credentials, which binds or execs on command; the calling process
/// never changes its own. It ends (and is reaped) when this value goes away.
public struct CredentialChild: ~Copyable {
    private let handle: bk_child

    /// Forks the child and has it take `credentials`. `stdout`/`stderr`: descriptors the child
    /// puts in place of its own (for an exec).
    public init(_ credentials: ChildCredentials, stdout: Int32? = nil, stderr: Int32? = nil) throws(ChildError) {
        var spec = bk_cred_spec()
        spec.uid = credentials.uid.map(Int64.init) ?? -1
        spec.euid = credentials.euid.map(Int64.init) ?? -1
        spec.gid = credentials.gid.map(Int64.init) ?? -1
        if let c = credentials.capabilities {
            spec.set_caps = true
            spec.effective = Capability.mask(of: c.effective)
            spec.permitted = Capability.mask(of: c.permitted)
            spec.inheritable = Capability.mask(of: c.inheritable)
            spec.ambient = Capability.mask(of: c.ambient)
        }
        spec.no_new_privs = credentials.noNewPrivileges
        spec.userns = credentials.userNamespace.rawValue
        spec.stdout_fd = stdout ?? -1
        spec.stderr_fd = stderr ?? -1
        var h = bk_child()
        var stage: Int32 = 0
        let r = bk_child_start(&spec, &h, &stage)
        if r < 0 {
            let step = String(cString: bk_child_stage_name(stage))
            let name = ErrnoName.name(-r) ?? "errno \(-r)"
            if -r == EPERM || -r == EACCES {
                throw .needsPrivilege("\(step) failed with \(name): giving a child these credentials needs privileges this process lacks (run as root)")
            }
            throw .failed("the child's \(step) failed with \(name)")
        }
        handle = h
    }

    /// Binds the wildcard of `family` (`[::]` with IPV6_V6ONLY) at `port` in the child and closes
    /// the socket at once.
    public func bind(family: AddressFamily, transport: Transport, port: UInt16) -> ChildBind {
        var h = handle
        var call: Int32 = 0
        let r = bk_child_bind(&h, family.cValue, transport == .udp ? 1 : 0, port, &call)
        if r == 0 { return .ok }
        return .failed(errno: -r, call: call == 1 ? "socket" : call == 2 ? "bind" : "child")
    }

    /// The child execs `argv[0]`; returns its exit status (128 + signal when killed).
    public consuming func exec(_ argv: [String]) throws(ChildError) -> Int32 {
        var h = handle
        discard self
        let copies = argv.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        let pointers: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } } + [nil]
        let r = bk_child_exec(&h, pointers, Int32(argv.count))
        if r < 0 { throw .failed("execve(\(argv.first ?? "")) failed with \(ErrnoName.name(-r) ?? "errno \(-r)")") }
        return r
    }

    deinit {
        var h = handle
        _ = bk_child_finish(&h)
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
    public static func run(_ credentials: ChildCredentials, port: UInt16, verdict: PrivilegeVerdict) throws(ChildError) -> [PrivilegeTryRecord] {
        var c = credentials
        // Ids equal to the caller's need no change (and no privilege).
        if c.uid == getuid() && (c.euid ?? c.uid) == geteuid() && c.gid == getgid() {
            c.uid = nil
            c.euid = nil
            c.gid = nil
        }
        let predicted = verdict.allowed ? "ok" : verdict.errno ?? "EACCES"
        if let e = verdict.exec?.errno {
            return [PrivilegeTryRecord(family: "-", transport: "-", address: "-", predicted: predicted, result: "not tried",
                                       agrees: nil, note: "execve() would fail with \(e): there are no credentials to bind with")]
        }
        let child = try CredentialChild(c)
        var records: [PrivilegeTryRecord] = []
        for family in [AddressFamily.inet, .inet6] {
            for transport in [Transport.tcp, .udp] {
                let address = family == .inet ? "0.0.0.0:\(port)" : "[::]:\(port)"
                let outcome = child.bind(family: family, transport: transport, port: port)
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
