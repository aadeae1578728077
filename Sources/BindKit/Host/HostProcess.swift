import SystemPackage

/// A process of the host, as /proc/PID tells it: what a person needs to recognise the holder of
/// a port. Every file read here is readable by any user for any process.
public struct HostProcess: Hashable, Sendable, Codable {
    public var pid: Int32
    /// `/proc/PID/comm`: the name, at most 15 bytes (the process may change it).
    public var command: String
    /// `/proc/PID/cmdline`, split at its NULs; empty for a kernel thread or a zombie.
    public var commandLine: [String]
    /// The real uid (`Uid:` of /proc/PID/status).
    public var uid: UInt32
    public var effectiveUID: UInt32
    /// The user name of `uid` in /etc/passwd, when it is there.
    public var userName: String?
    /// The cgroup path (`0::` of cgroup v2, or the `name=systemd` hierarchy of v1).
    public var cgroup: String?
    /// The systemd unit the cgroup path names (`nginx.service`, `session-3.scope`).
    public var unit: String?
    /// The container the cgroup path names.
    public var container: Container?

    /// A container, as its runtime names its cgroup.
    public struct Container: Hashable, Sendable, Codable, CustomStringConvertible {
        /// `docker`, `podman`, `containerd`, `cri-o`, `lxc`, `systemd-nspawn`, `kubernetes`.
        public var runtime: String
        /// The container's id or name.
        public var id: String
        public init(runtime: String, id: String) {
            self.runtime = runtime
            self.id = id
        }
        public var description: String { "\(runtime) \(id.count == 64 ? String(id.prefix(12)) : id)" }
    }

    public init(
        pid: Int32, command: String, commandLine: [String], uid: UInt32, effectiveUID: UInt32, userName: String? = nil,
        cgroup: String? = nil
    ) {
        self.pid = pid
        self.command = command
        self.commandLine = commandLine
        self.uid = uid
        self.effectiveUID = effectiveUID
        self.userName = userName
        self.cgroup = cgroup
        self.unit = cgroup.flatMap(Self.unit(ofCgroup:))
        self.container = cgroup.flatMap(Self.container(ofCgroup:))
    }

    /// Reads /proc/`pid`/{comm,cmdline,status,cgroup}; ESRCH or ENOENT when the process is gone.
    /// `users` names uids (``UserNames/read(path:)`` when nil). The corresponding C functions are
    /// open(2) and read(2).
    public static func read(pid: Int32, users: UserNames? = nil) throws(Errno) -> HostProcess {
        try _read(pid: pid, users: users).get()
    }

    static func _read(pid: Int32, users: UserNames?) -> Result<HostProcess, Errno> {
        let dir = "/proc/\(pid)/"
        let text = { (name: String) -> Result<String, Errno> in
            Sysctl.readFile(dir + name).map { String(decoding: $0, as: UTF8.self) }
        }
        // status first: it fails for a pid that is gone, and names the uids.
        let status: String
        switch text("status") {
        case .success(let s): status = s
        case .failure(let e): return .failure(e)
        }
        guard let (uid, euid) = uids(status: status) else { return .failure(.noSuchProcess) }
        // A process that exits meanwhile is gone, not nameless.
        var command: String
        switch text("comm") {
        case .success(let c): command = c
        case .failure(let e): return .failure(e)
        }
        if command.hasSuffix("\n") { command.removeLast() }
        let cmdline = (try? Sysctl.readFile(dir + "cmdline").get()) ?? []
        let cgroup = (try? text("cgroup").get()).flatMap(Self.cgroupPath(_:))
        let names = users ?? UserNames.read()
        return .success(
            HostProcess(
                pid: pid, command: command, commandLine: commandLine(cmdline), uid: uid, effectiveUID: euid, userName: names[uid],
                cgroup: cgroup))
    }

    /// The real and effective uid of a /proc/PID/status text.
    static func uids(status: String) -> (UInt32, UInt32)? {
        for line in status.split(separator: "\n") where line.hasPrefix("Uid:") {
            let ids = line.dropFirst(4).split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { UInt32($0) }
            guard ids.count >= 2 else { return nil }
            return (ids[0], ids[1])
        }
        return nil
    }

    /// The arguments of a /proc/PID/cmdline: NUL-separated, usually NUL-terminated.
    static func commandLine(_ bytes: [UInt8]) -> [String] {
        var parts = bytes.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        if parts.last == "" { parts.removeLast() }
        return parts
    }

    /// The path of a /proc/PID/cgroup text: the cgroup v2 line (`0::/path`), else the v1
    /// `name=systemd` hierarchy's.
    static func cgroupPath(_ text: String) -> String? {
        var systemd: String?
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            if fields[0] == "0" && fields[1].isEmpty { return String(fields[2]) }
            if fields[1] == "name=systemd" { systemd = String(fields[2]) }
        }
        return systemd
    }

    /// The cgroup v1 path of each controller in a /proc/PID/cgroup text (`net_cls`, `net_prio`, …).
    static func controllerPaths(_ text: String) -> [String: String] {
        var paths: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, !fields[1].isEmpty else { continue }
            for controller in fields[1].split(separator: ",") { paths[String(controller)] = String(fields[2]) }
        }
        return paths
    }

    /// The last systemd unit of a cgroup path: a `.service` or `.scope` component.
    static func unit(ofCgroup path: String) -> String? {
        path.split(separator: "/").last { $0.hasSuffix(".service") || $0.hasSuffix(".scope") }.map(String.init)
    }

    /// The container a cgroup path names, by the layouts of the usual runtimes: systemd's
    /// `docker-<id>.scope`, `libpod-<id>.scope`, `cri-containerd-<id>.scope`, `crio-<id>.scope`,
    /// `machine-<name>.scope`; cgroupfs's `/docker/<id>`, `/lxc.payload.<name>`, `/lxc/<name>`,
    /// `/kubepods/…/<id>`.
    static func container(ofCgroup path: String) -> Container? {
        let parts = path.split(separator: "/").map(String.init)
        let scopes: [(prefix: String, runtime: String)] = [
            ("docker-", "docker"), ("libpod-conmon-", "podman"), ("libpod-", "podman"), ("cri-containerd-", "containerd"),
            ("crio-conmon-", "cri-o"), ("crio-", "cri-o"), ("machine-", "systemd-nspawn"),
        ]
        for part in parts.reversed() where part.hasSuffix(".scope") {
            let name = String(part.dropLast(".scope".count))
            for s in scopes where name.hasPrefix(s.prefix) && name.count > s.prefix.count {
                return Container(runtime: s.runtime, id: String(name.dropFirst(s.prefix.count)))
            }
        }
        for (i, part) in parts.enumerated() {
            if part.hasPrefix("lxc.payload.") && part.count > "lxc.payload.".count {
                return Container(runtime: "lxc", id: String(part.dropFirst("lxc.payload.".count)))
            }
            guard i + 1 < parts.count else { continue }
            if part == "docker" || part == "lxc" || part == "libpod_parent" {
                let id = parts[i + 1].hasPrefix("libpod-") ? String(parts[i + 1].dropFirst("libpod-".count)) : parts[i + 1]
                return Container(runtime: part == "libpod_parent" ? "podman" : part, id: id)
            }
        }
        if parts.first?.hasPrefix("kubepods") == true, let last = parts.last, last.count == 64, last.allSatisfy(\.isHexDigit) {
            return Container(runtime: "kubernetes", id: last)
        }
        return nil
    }
}

/// User names by uid, from /etc/passwd (no NSS: a name is given only where the file has it).
public struct UserNames: Hashable, Sendable {
    public var names: [UInt32: String]

    public init(names: [UInt32: String]) { self.names = names }

    public subscript(uid: UInt32) -> String? { names[uid] }

    /// /etc/passwd, or no names when it cannot be read. The corresponding C functions are open(2)
    /// and read(2).
    public static func read(path: String = "/etc/passwd") -> UserNames {
        guard case .success(let bytes) = Sysctl.readFile(path, maximum: 64 << 20) else { return UserNames(names: [:]) }
        return parse(String(decoding: bytes, as: UTF8.self))
    }

    /// `name:password:uid:gid:gecos:home:shell` lines; the first name of a uid wins, as getpwuid's.
    public static func parse(_ text: String) -> UserNames {
        var names: [UInt32: String] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false)
            guard f.count >= 3, !f[0].isEmpty, !f[0].hasPrefix("#"), let uid = UInt32(f[2]), names[uid] == nil else { continue }
            names[uid] = String(f[0])
        }
        return UserNames(names: names)
    }
}
