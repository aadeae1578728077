import BindKit
import BindRules
import Foundation
import SystemPackage

/// Bad input to the privileged-port check: one line, and the exit status bindcheck uses.
public enum PrivilegeInputError: Error, CustomStringConvertible, Equatable, Sendable {
    case badPort(String)
    case unknownUser(String)
    case missingBinary(String)
    case unreadableBinary(path: String, why: UnreadableBinary)
    /// The host's facts could not be read: `operation` (what was being read) failed with `errno`.
    case facts(operation: String, errno: Errno)
    /// A sysctl of the host's facts could not be read or is not what it should be.
    case sysctl(SysctlError)

    /// Why a binary cannot be read.
    public enum UnreadableBinary: Equatable, Sendable, CustomStringConvertible {
        case emptyPath
        case nulInPath
        case directory
        case notRegularFile
        /// stat(2) or cap_get_fd(3) failed.
        case errno(Errno)

        public var description: String {
            switch self {
            case .emptyPath: "an empty path"
            case .nulInPath: "the path holds a NUL byte"
            case .directory: "a directory, not an executable file"
            case .notRegularFile: "not a regular file"
            case .errno(let e) where e == .permissionDenied: "permission denied (\(e.name))"
            case .errno(let e): "\(e) (\(e.name))"
            }
        }
    }

    public var description: String {
        switch self {
        case .badPort(let p): "port must be a number from 0 to 65535, not \(p.debugDescription)"
        case .unknownUser(let u): "no user \(u.debugDescription) on this host (give a name from the password database or a numeric uid)"
        case .missingBinary(let p): "no such file: \(p.debugDescription)"
        case .unreadableBinary(let p, let why): "cannot read \(p.debugDescription): \(why)"
        case .facts(let operation, let e): "cannot read this host's facts: \(operation): \(e.name)"
        case .sysctl(let e): "cannot read this host's facts: \(e)"
        }
    }

    /// 64 (EX_USAGE) for bad input, 66 (EX_NOINPUT) for a missing file, 71 (EX_OSERR) for the host.
    public var exitCode: Int32 {
        switch self {
        case .missingBinary: 66
        case .facts, .sysctl: 71
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
        do throws(Errno) { caps = try CapabilitySets.current() } catch { throw .facts(operation: "cap_get_proc", errno: error) }
        let euid = geteuid()
        let name = userName(of: euid)
        // Should prctl fail (it does not), the bit reads as clear.
        let securebits = (try? ThreadCredentials.securebits()) ?? []
        return PrivilegeFacts(
            subject: "this process", userName: name, uid: getuid(), euid: euid, gid: getgid(), egid: getegid(),
            capabilities: caps, noNewPrivileges: (try? ThreadCredentials.noNewPrivileges()) ?? false,
            secureNoRoot: securebits.contains(.noRoot),
            unprivilegedPortStart: try unprivilegedPortStart(), userNamespace: try userNamespace(), binary: binary,
            tools: HostTools.current())
    }

    /// What a fresh process of a user of this host would hold (`--user`): uid 0 the bounding set,
    /// any other uid nothing. `spec` is a name from the password database or a numeric uid.
    public static func user(_ spec: String, binary: BinaryFacts? = nil) throws(PrivilegeInputError) -> PrivilegeFacts {
        guard let (uid, gid, name) = lookUpUser(spec) else { throw .unknownUser(spec) }
        var bounding: Set<Capability>
        do throws(Errno) { bounding = try CapabilitySets.current().bounding } catch {
            throw .facts(operation: "cap_get_proc", errno: error)
        }
        if bounding.isEmpty { bounding = Set(Capability.allCases) }
        return PrivilegeFacts(
            subject: "user " + (name ?? "with uid \(uid)"), userName: name, uid: uid, gid: gid,
            capabilities: freshProcess(uid: uid, bounding: bounding), unprivilegedPortStart: try unprivilegedPortStart(),
            userNamespace: try userNamespace(), binary: binary, tools: HostTools.current())
    }

    /// `net.ipv4.ip_unprivileged_port_start` of the calling thread's network namespace.
    public static func unprivilegedPortStart() throws(PrivilegeInputError) -> Int {
        let name = "net.ipv4.ip_unprivileged_port_start"
        let text: String
        do throws(SysctlError) { text = try Sysctl.read(name) } catch { throw .sysctl(error) }
        guard let v = Int(text) else { throw .sysctl(.badValue(name: name, value: text)) }
        return v
    }

    /// The calling thread's user namespace and where the owner of its network namespace stands.
    public static func userNamespace() throws(PrivilegeInputError) -> UserNamespaceFacts {
        let owner: NetworkNamespace.Owner
        do throws(Errno) { owner = try NetworkNamespace.owner() } catch {
            throw .facts(operation: "NS_GET_USERNS on /proc/thread-self/ns/net", errno: error)
        }
        let relation: NetworkNamespaceOwner
        var childOwnerUID: UInt32?
        switch owner {
        case .own: relation = .own
        case .descendant(let uid):
            relation = .descendant
            childOwnerUID = uid
        case .outside: relation = .outside
        }
        let map = (try? String(contentsOfFile: "/proc/thread-self/uid_map", encoding: .utf8)) ?? ""
        let lines = map.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        return UserNamespaceFacts(
            isInitial: lines == ["0 0 4294967295"], networkNamespaceOwner: relation, childOwnerUID: childOwnerUID,
            uidMap: lines.joined(separator: "\n"))
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
        guard !path.isEmpty else { throw .unreadableBinary(path: path, why: .emptyPath) }
        guard !path.contains("\0") else { throw .unreadableBinary(path: path, why: .nulInPath) }
        let st: stat
        do throws(Errno) { st = try Stat(FilePath(path)).rawValue } catch {
            if error == .noSuchFileOrDirectory || error == .notDirectory { throw .missingBinary(path) }
            throw .unreadableBinary(path: path, why: .errno(error))
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw .unreadableBinary(path: path, why: st.st_mode & S_IFMT == S_IFDIR ? .directory : .notRegularFile)
        }
        let caps: CapabilitySets?
        do throws(Errno) { caps = try CapabilitySets.ofFile(path) } catch {
            if error == .noSuchFileOrDirectory { throw .missingBinary(path) }
            throw .unreadableBinary(path: path, why: .errno(error))
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
