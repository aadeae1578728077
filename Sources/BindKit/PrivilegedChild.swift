import CBindShim
import Glibc
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
    /// these credentials, and closes the socket at once. The corresponding C functions are clone(2),
    /// the credential calls (setresgid(2), setresuid(2), capset(2), prctl(2), unshare(2)), then
    /// socket(2) and bind(2) in the child.
    public func bind(family: AddressFamily, transport: Transport, port: UInt16) throws(ChildError) -> ChildBind {
        try _bind(family: family, transport: transport, port: port).get()
    }

    func _bind(family: AddressFamily, transport: Transport, port: UInt16) -> Result<ChildBind, ChildError> {
        var stage: Int32 = 0
        var call: Int32 = 0
        let r = withSpec(stdout: nil, stderr: nil) { spec in
            bk_bind_as(&spec, family.cValue, transport == .udp ? 1 : 0, port, &stage, &call)
        }
        if stage != 0 { return .failure(ChildError(stage: ChildStage(rawValue: stage), errno: Errno(rawValue: -r))) }
        if r == 0 { return .success(.ok) }
        return .success(.failed(errno: Errno(rawValue: -r), call: call == 1 ? .socket : call == 2 ? .bind : .child))
    }

    /// Runs `argv[0]` in a child that takes these credentials, its standard output and error in
    /// the files at `stdout` and `stderr` (opened before the credentials change); returns its exit
    /// status (128 + signal when killed). The corresponding C functions are clone(2), the
    /// credential calls, then execve(2) in the child and waitpid(2).
    public func exec(_ argv: [String], stdout: String? = nil, stderr: String? = nil) throws(ChildError) -> Int32 {
        try _exec(argv, stdout: stdout, stderr: stderr).get()
    }

    func _exec(_ argv: [String], stdout: String?, stderr: String?) -> Result<Int32, ChildError> {
        guard let program = argv.first else { return .failure(.nothingToRun) }
        let copies = argv.map { strdup($0) }
        defer { for c in copies { free(c) } }
        let pointers: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } } + [nil]
        var stage: Int32 = 0
        let r = withSpec(stdout: stdout, stderr: stderr) { spec in bk_exec_as(&spec, pointers, &stage) }
        if stage != 0 { return .failure(ChildError(stage: ChildStage(rawValue: stage), errno: Errno(rawValue: -r))) }
        if r < 0 { return .failure(.execFailed(program: program, errno: Errno(rawValue: -r))) }
        return .success(r)
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

/// One of the steps a child takes before it binds or execs (descriptors, output files, groups,
/// uids, capabilities, ambient capabilities, no_new_privs, a user namespace), or the child itself
/// when it ended early.
public struct ChildStage: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The call the step makes, e.g. `setresuid`.
    public var description: String { String(cString: bk_child_stage_name(rawValue)) }
}

/// Why a child could not take its credentials or run.
public enum ChildError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A credential step was refused (EPERM or EACCES): giving a child these credentials needs
    /// privileges the caller lacks.
    case needsPrivilege(step: ChildStage, errno: Errno)
    /// A credential step failed otherwise.
    case stepFailed(step: ChildStage, errno: Errno)
    /// The program could not be run: execve(2) failed (or the child could not be made).
    case execFailed(program: String, errno: Errno)
    /// An empty argument list.
    case nothingToRun

    init(stage: ChildStage, errno: Errno) {
        self =
            errno == .notPermitted || errno == .permissionDenied
            ? .needsPrivilege(step: stage, errno: errno) : .stepFailed(step: stage, errno: errno)
    }

    public var description: String {
        switch self {
        case .needsPrivilege(let step, let e):
            "needs privilege: \(step) failed with \(e.name): giving a child these credentials needs privileges this process lacks (run as root)"
        case .stepFailed(let step, let e): "the child's \(step) failed with \(e.name)"
        case .execFailed(let program, let e): "execve(\(program)) failed with \(e.name)"
        case .nothingToRun: "nothing to run"
        }
    }
}

/// The outcome of one bind() in a child.
public enum ChildBind: Hashable, Sendable, CustomStringConvertible {
    case ok
    case failed(errno: Errno, call: Call)

    /// The call that failed.
    public enum Call: String, Hashable, Sendable {
        case socket, bind
        /// Making or waiting for the child (mmap, clone, waitpid).
        case child
    }

    public var errnoName: String? {
        if case .failed(let e, _) = self { return e.name }
        return nil
    }

    /// `ok`, the errno of bind (`EACCES`), or the call and its errno (`socket() EAFNOSUPPORT`).
    public var description: String {
        switch self {
        case .ok: "ok"
        case .failed(let e, let call): (call == .bind ? "" : "\(call.rawValue)() ") + e.name
        }
    }
}

extension CapabilitySets {
    /// The file capabilities of an executable, what execve() of it grants (bounding and ambient
    /// empty); nil when it has none. The corresponding C function is cap_get_fd(3).
    public static func ofFile(_ path: String) throws(Errno) -> CapabilitySets? { try _ofFile(path).get() }

    static func _ofFile(_ path: String) -> Result<CapabilitySets?, Errno> {
        var c = bk_capsets()
        return shimResult(bk_caps_file(path, &c)).map { found in found == 0 ? nil : CapabilitySets(CapabilityMasks(c)) }
    }
}
