import CBindShim
import SystemPackage

/// A descriptor of a process that refers to a socket.
public struct SocketHolder: Hashable, Sendable, Codable {
    public var pid: Int32
    /// The first of the process's descriptors that refers to the socket.
    public var fd: Int32
    public var inode: UInt64

    public init(pid: Int32, fd: Int32, inode: UInt64) {
        self.pid = pid
        self.fd = fd
        self.inode = inode
    }
}

/// Which processes hold some sockets, as `ss -p` finds them (every `/proc/PID/fd`), reading no
/// more than needed: a process is left as soon as it holds every wanted socket, and every
/// process is looked at, so all that share a socket (after fork, SCM_RIGHTS, socket activation)
/// are found. What could not be read is counted, never guessed.
public struct HolderScan: Hashable, Sendable {
    /// One row per (process, socket), sorted by inode then pid.
    public var holders: [SocketHolder]
    /// The processes looked at.
    public var processes: Int
    /// Processes whose descriptors this process may not read (another user's, or one that is not
    /// dumpable, without root): a socket they hold has no holder here.
    public var denied: Int
    /// Processes that exited between the listing of /proc and the read of their descriptors.
    public var vanished: Int
    /// Descriptors read.
    public var descriptorsRead: Int
    /// Whether /proc is mounted with `hidepid`: other users' processes are then not even listed.
    public var hidesProcesses: Bool

    public init(holders: [SocketHolder], processes: Int, denied: Int, vanished: Int, descriptorsRead: Int, hidesProcesses: Bool) {
        self.holders = holders
        self.processes = processes
        self.denied = denied
        self.vanished = vanished
        self.descriptorsRead = descriptorsRead
        self.hidesProcesses = hidesProcesses
    }

    /// The holders of the socket `inode`, by pid.
    public func holders(of inode: UInt64) -> [SocketHolder] {
        var lo = 0
        var hi = holders.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if holders[mid].inode < inode { lo = mid + 1 } else { hi = mid }
        }
        var out: [SocketHolder] = []
        while lo < holders.count && holders[lo].inode == inode {
            out.append(holders[lo])
            lo += 1
        }
        return out
    }

    /// Whether every process could be read: a socket without a holder then has none (it was
    /// closed since it was listed, or is held only by a thread with a descriptor table of its
    /// own, which ss does not see either).
    public var isComplete: Bool { denied == 0 && !hidesProcesses }

    /// Finds the processes holding the sockets `inodes` (0 is ignored: no process holds a
    /// TIME_WAIT entry). The corresponding C functions are getdents64(2) of /proc and of each
    /// /proc/PID/fd, openat(2) and readlinkat(2).
    public static func scan(inodes: some Sequence<UInt64>) throws(Errno) -> HolderScan { try _scan(inodes: inodes).get() }

    static func _scan(inodes: some Sequence<UInt64>) -> Result<HolderScan, Errno> {
        let wanted = Array(Set(inodes.filter { $0 != 0 })).sorted()
        let hides = procHidesProcesses()
        if wanted.isEmpty {
            return .success(HolderScan(holders: [], processes: 0, denied: 0, vanished: 0, descriptorsRead: 0, hidesProcesses: hides))
        }
        var capacity = wanted.count * 2 + 64
        while true {
            var rows = [bk_holder](repeating: bk_holder(), count: capacity)
            var stats = bk_scan_stats()
            let n = wanted.withUnsafeBufferPointer { w in
                rows.withUnsafeMutableBufferPointer {
                    bk_find_holders(w.baseAddress, Int32(w.count), $0.baseAddress, Int32($0.count), &stats)
                }
            }
            if n < 0 { return .failure(Errno(rawValue: -n)) }
            if stats.rows_dropped > 0 {
                // More sharing than room: once more with room for all (the scan is read-only).
                capacity = (Int(n) + Int(stats.rows_dropped)) * 2
                continue
            }
            let holders = rows.prefix(Int(n)).map { SocketHolder(pid: $0.pid, fd: $0.fd, inode: $0.inode) }
                .sorted { ($0.inode, $0.pid) < ($1.inode, $1.pid) }
            return .success(
                HolderScan(
                    holders: holders, processes: Int(stats.processes), denied: Int(stats.denied), vanished: Int(stats.vanished),
                    descriptorsRead: Int(stats.descriptors), hidesProcesses: hides))
        }
    }

    /// Whether /proc is mounted with `hidepid` other than 0 (`/proc/self/mountinfo`).
    static func procHidesProcesses() -> Bool {
        guard case .success(let bytes) = Sysctl.readFile("/proc/self/mountinfo", maximum: 64 << 20) else { return false }
        return procHidesProcesses(mountinfo: String(decoding: bytes, as: UTF8.self))
    }

    /// Whether the mount at /proc in `mountinfo` has a `hidepid` other than 0 / `off`.
    static func procHidesProcesses(mountinfo: String) -> Bool {
        for line in mountinfo.split(separator: "\n") {
            let fields = line.split(separator: " ")
            // id parent major:minor root mountpoint options [optional fields] - type source super-options
            guard fields.count > 4, fields[4] == "/proc", let dash = fields.firstIndex(of: "-"), dash + 3 < fields.count,
                fields[dash + 1] == "proc"
            else { continue }
            for option in fields[dash + 3].split(separator: ",") where option.hasPrefix("hidepid=") {
                let value = option.dropFirst("hidepid=".count)
                if value != "0" && value != "off" { return true }
            }
        }
        return false
    }
}
