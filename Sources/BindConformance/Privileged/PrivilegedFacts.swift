import BindKit
import BindRules
import CBindShim
import Foundation
import SystemPackage

/// Bad input to the privileged-port check: one line, and the exit status bindcheck uses.
public enum PrivilegeInputError: Error, CustomStringConvertible, Equatable, Sendable {
    case badPort(String)
    case unknownUser(String)
    case missingBinary(String)
    case unreadableBinary(path: String, why: String)
    /// The host's facts could not be read (no /proc, …).
    case facts(String)

    public var description: String {
        switch self {
        case .badPort(let p): "port must be a number from 0 to 65535, not \(p.debugDescription)"
        case .unknownUser(let u): "no user \(u.debugDescription) on this host (give a name from the password database or a numeric uid)"
        case .missingBinary(let p): "no such file: \(p.debugDescription)"
        case .unreadableBinary(let p, let why): "cannot read \(p.debugDescription): \(why)"
        case .facts(let s): "cannot read this host's facts: \(s)"
        }
    }

    /// 64 (EX_USAGE) for bad input, 66 (EX_NOINPUT) for a missing file, 71 (EX_OSERR) for the host.
    public var exitCode: Int32 {
        switch self {
        case .missingBinary: 66
        case .facts: 71
        default: 64
        }
    }
}

extension PrivilegeFacts {
    /// A port as a person types it: decimal, 0 to 65535.
    public static func parsePort(_ text: String) throws(PrivilegeInputError) -> UInt16 {
        guard !text.isEmpty, text.utf8.count <= 5, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let port = UInt16(text)
        else { throw .badPort(text) }
        return port
    }

    /// The facts of the calling process (its thread's capabilities, through libcap), optionally
    /// about to exec `binary`.
    public static func current(binary: BinaryFacts? = nil) throws(PrivilegeInputError) -> PrivilegeFacts {
        let caps: CapabilitySets
        do { caps = try CapabilitySets.current() } catch { throw .facts("\(error)") }
        let euid = geteuid()
        let name = userName(of: euid)
        let securebits = bk_securebits()
        return PrivilegeFacts(
            subject: "this process", userName: name, uid: getuid(), euid: euid, gid: getgid(), egid: getegid(),
            // Bit 0 of the securebits is SECBIT_NOROOT.
            capabilities: caps, noNewPrivileges: bk_no_new_privs() == 1, secureNoRoot: securebits > 0 && securebits & 1 != 0,
            unprivilegedPortStart: try unprivilegedPortStart(), userNamespace: try userNamespace(), binary: binary,
            tools: HostTools.current())
    }

    /// What a fresh process of a user of this host would hold (`--user`): uid 0 the bounding set,
    /// any other uid nothing. `spec` is a name from the password database or a numeric uid.
    public static func user(_ spec: String, binary: BinaryFacts? = nil) throws(PrivilegeInputError) -> PrivilegeFacts {
        guard let (uid, gid, name) = lookUpUser(spec) else { throw .unknownUser(spec) }
        var bounding: Set<Capability>
        do { bounding = try CapabilitySets.current().bounding } catch { throw .facts("\(error)") }
        if bounding.isEmpty { bounding = Set(Capability.allCases) }
        return PrivilegeFacts(
            subject: "user " + (name ?? "with uid \(uid)"), userName: name, uid: uid, gid: gid,
            capabilities: freshProcess(uid: uid, bounding: bounding), unprivilegedPortStart: try unprivilegedPortStart(),
            userNamespace: try userNamespace(), binary: binary, tools: HostTools.current())
    }

    /// `net.ipv4.ip_unprivileged_port_start` of the calling thread's network namespace.
    public static func unprivilegedPortStart() throws(PrivilegeInputError) -> Int {
        let name = "net.ipv4.ip_unprivileged_port_start"
        do {
            guard let v = Int(try Sysctl.read(name)) else { throw PrivilegeInputError.facts("\(name) is not a number") }
            return v
        } catch let e as PrivilegeInputError { throw e } catch { throw .facts("\(error)") }
    }

    /// The calling thread's user namespace and where the owner of its network namespace stands.
    public static func userNamespace() throws(PrivilegeInputError) -> UserNamespaceFacts {
        var owner = bk_netns_owner()
        let r = bk_netns_owner_relation(&owner)
        if r < 0 { throw .facts("NS_GET_USERNS on /proc/thread-self/ns/net: \(ErrnoName.name(-r) ?? "errno \(-r)")") }
        let relation: NetworkNamespaceOwner = owner.relation == 0 ? .own : owner.relation == 1 ? .descendant : .outside
        let map = (try? String(contentsOfFile: "/proc/thread-self/uid_map", encoding: .utf8)) ?? ""
        let lines = map.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        return UserNamespaceFacts(
            isInitial: lines == ["0 0 4294967295"], networkNamespaceOwner: relation,
            childOwnerUID: relation == .descendant ? owner.child_owner_uid : nil, uidMap: lines.joined(separator: "\n"))
    }

    /// uid, gid and name of a user given by name or number; nil when the name is unknown or the
    /// number is not a uid.
    static func lookUpUser(_ spec: String) -> (UInt32, UInt32, String?)? {
        if !spec.isEmpty, spec.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            guard spec.utf8.count <= 10, let uid = UInt32(spec), uid != UInt32.max else { return nil }
            if let entry = passwdEntry(uid: uid) { return (uid, entry.gid, entry.name) }
            return (uid, uid, nil)
        }
        guard !spec.isEmpty, !spec.contains("\0"), let entry = passwdEntry(name: spec) else { return nil }
        return (entry.uid, entry.gid, entry.name)
    }

    static func userName(of uid: UInt32) -> String? { passwdEntry(uid: uid)?.name }

    private static func passwdEntry(name: String?, uid: UInt32 = 0) -> (uid: UInt32, gid: UInt32, name: String)? {
        var size = 1024
        while size <= 1 << 20 {
            var entry = passwd()
            var result: UnsafeMutablePointer<passwd>?
            var buffer = [CChar](repeating: 0, count: size)
            let r = buffer.withUnsafeMutableBufferPointer { b -> Int32 in
                guard let base = b.baseAddress else { return EINVAL }
                if let name { return getpwnam_r(name, &entry, base, size, &result) }
                return getpwuid_r(uid, &entry, base, size, &result)
            }
            if r == ERANGE {
                size *= 4
                continue
            }
            guard r == 0, result != nil, let n = entry.pw_name else { return nil }
            return (entry.pw_uid, entry.pw_gid, String(cString: n))
        }
        return nil
    }

    private static func passwdEntry(uid: UInt32) -> (uid: UInt32, gid: UInt32, name: String)? { passwdEntry(name: nil, uid: uid) }
}

extension BinaryFacts {
    /// What execve() would look at: the file's capabilities (`cap_get_fd`), mode, owner, and
    /// whether its file system is mounted nosuid.
    public static func read(_ path: String) throws(PrivilegeInputError) -> BinaryFacts {
        guard !path.isEmpty else { throw .unreadableBinary(path: path, why: "an empty path") }
        guard !path.contains("\0") else { throw .unreadableBinary(path: path, why: "the path holds a NUL byte") }
        var st = stat()
        if stat(path, &st) < 0 {
            let e = errno
            if e == ENOENT || e == ENOTDIR { throw .missingBinary(path) }
            throw .unreadableBinary(path: path, why: errnoText(e))
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw .unreadableBinary(
                path: path, why: st.st_mode & S_IFMT == S_IFDIR ? "a directory, not an executable file" : "not a regular file")
        }
        let caps: CapabilitySets?
        do { caps = try CapabilitySets.ofFile(path) } catch {
            if error.errno == .noSuchFileOrDirectory { throw .missingBinary(path) }
            throw .unreadableBinary(path: path, why: errnoText(error.errno.rawValue))
        }
        var vfs = statvfs()
        let nosuid = statvfs(path, &vfs) == 0 && vfs.f_flag & UInt(ST_NOSUID) != 0
        return BinaryFacts(
            path: path,
            capabilities: caps.map {
                FileCapabilities(permitted: $0.permitted, inheritable: $0.inheritable, effective: !$0.effective.isEmpty)
            },
            mode: UInt32(st.st_mode & 0o7777), ownerUID: st.st_uid, ownerGID: st.st_gid, nosuidMount: nosuid)
    }

    private static func errnoText(_ e: Int32) -> String {
        let name = ErrnoName.name(e) ?? "errno \(e)"
        return e == EACCES ? "permission denied (\(name))" : "\(Errno(rawValue: e)) (\(name))"
    }
}

extension HostTools {
    /// The tools found on PATH (and in /usr/sbin, /sbin), and whether systemd is PID 1.
    public static func current() -> HostTools {
        let dirs =
            (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
            + ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        func has(_ tool: String) -> Bool { dirs.contains { access("\($0)/\(tool)", X_OK) == 0 } }
        return HostTools(
            systemd: FileManager.default.fileExists(atPath: "/run/systemd/system"), setcap: has("setcap"), setpriv: has("setpriv"),
            nft: has("nft"), iptables: has("iptables"))
    }
}
