import CBindShim
import SystemPackage

/// The options of another process's socket that decide bind() and that neither sock_diag nor
/// /proc shows, read on a duplicate of one of its descriptors.
public struct HolderOptions: Hashable, Sendable, Codable {
    public var family: AddressFamily?
    public var transport: Transport?
    /// SO_REUSEADDR (`sk_reuse`).
    public var reuseAddress: Bool
    /// SO_REUSEPORT.
    public var reusePort: Bool
    /// IPV6_V6ONLY; nil for a socket that is not inet6.
    public var v6only: Bool?
    /// SO_BINDTODEVICE: the interface's name, nil for none.
    public var device: String?
    /// SO_BINDTOIFINDEX: the interface's index, 0 for none; nil before Linux 5.1.
    public var deviceIndex: UInt32?
    /// IP_FREEBIND / IPV6_FREEBIND.
    public var freebind: Bool
    /// IP_TRANSPARENT / IPV6_TRANSPARENT.
    public var transparent: Bool
    /// SO_ACCEPTCONN: listening.
    public var listening: Bool
    /// SO_COOKIE.
    public var cookie: UInt64

    public init(
        family: AddressFamily?, transport: Transport?, reuseAddress: Bool, reusePort: Bool, v6only: Bool?, device: String?,
        deviceIndex: UInt32?, freebind: Bool, transparent: Bool, listening: Bool, cookie: UInt64
    ) {
        self.family = family
        self.transport = transport
        self.reuseAddress = reuseAddress
        self.reusePort = reusePort
        self.v6only = v6only
        self.device = device
        self.deviceIndex = deviceIndex
        self.freebind = freebind
        self.transparent = transparent
        self.listening = listening
        self.cookie = cookie
    }

    /// Reads the options of descriptor `fd` of process `pid`, which must still be the socket
    /// `inode` (and `cookie`, when given): a duplicate is taken with pidfd_getfd (Linux 5.6; root,
    /// or the holder's own user where ptrace rules allow), asked with getsockopt, and closed at
    /// once; nothing else is done with it. The holder's options, state and descriptors do not
    /// change; but receiving a socket retags it with the receiver's cgroup v1 net_cls classid
    /// and net_prio index, so the read is not made where those differ
    /// (``OptionsUnavailable/wouldRetag(controller:)``). The corresponding C functions are
    /// pidfd_open(2), pidfd_getfd(2), fstat(2), getsockopt(2) and close(2).
    public static func read(pid: Int32, fd: Int32, inode: UInt64, cookie: UInt64? = nil) throws(OptionsUnavailable) -> HolderOptions {
        if let controller = CgroupTags.wouldRetag(holder: pid) { throw .wouldRetag(controller: controller) }
        return try _read(pid: pid, fd: fd, inode: inode, cookie: cookie).mapError(OptionsUnavailable.init(errno:)).get()
    }

    static func _read(pid: Int32, fd: Int32, inode: UInt64, cookie: UInt64?) -> Result<HolderOptions, Errno> {
        var o = bk_holder_opts()
        return shimVoid(bk_holder_opts_read(pid, fd, inode, cookie ?? 0, &o)).map {
            let device = withUnsafeBytes(of: o.device) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return HolderOptions(
                family: o.domain == AddressFamily.inet.cValue ? .inet : o.domain == AddressFamily.inet6.cValue ? .inet6 : nil,
                transport: o.protocol == 6 ? .tcp : o.protocol == 17 ? .udp : nil, reuseAddress: o.reuseaddr != 0,
                reusePort: o.reuseport != 0, v6only: o.v6only < 0 ? nil : o.v6only != 0, device: device.isEmpty ? nil : device,
                deviceIndex: o.bindtoifindex < 0 ? nil : UInt32(o.bindtoifindex), freebind: o.freebind != 0,
                transparent: o.transparent != 0, listening: o.acceptconn != 0, cookie: o.cookie)
        }
    }
}

/// Why a socket's options are not known.
public enum OptionsUnavailable: Error, Hashable, Sendable, CustomStringConvertible {
    /// EPERM: pidfd_getfd needs ptrace access to the holder: root (CAP_SYS_PTRACE), or the
    /// holder's own uid with a dumpable holder (not a setuid program, nor one that changed its
    /// credentials), and Yama (`kernel.yama.ptrace_scope`, given when present) allowing it.
    case notPermitted(ptraceScope: Int?)
    /// ESRCH: the process exited.
    case processGone
    /// EBADF: the descriptor was closed meanwhile.
    case descriptorClosed
    /// The descriptor now refers to another file (it was closed and its number reused).
    case descriptorReused
    /// ENOSYS: pidfd_getfd needs Linux 5.6.
    case unsupportedKernel
    /// Reading would retag the holder's socket with this process's cgroup v1 `controller`
    /// (net_cls or net_prio), which differs from the holder's: not read.
    case wouldRetag(controller: String)
    /// No process holds the socket (its inode is 0): a TIME_WAIT entry or a request socket keeps
    /// its old options out of reach, as does a socket its last holder has just closed.
    case noOwner
    /// No holder was found: `denied` processes' descriptors could not be read (another user's
    /// without root), or the socket was closed since it was listed.
    case holderNotFound(denied: Int)
    /// Something else: the errno.
    case failed(Errno)

    /// The reason for the errno of a failed read.
    public init(errno: Errno) {
        switch errno {
        case .notPermitted, .permissionDenied: self = .notPermitted(ptraceScope: Self.ptraceScope())
        case .noSuchProcess: self = .processGone
        case .badFileDescriptor: self = .descriptorClosed
        case .staleNFSFileHandle: self = .descriptorReused
        case .noFunction: self = .unsupportedKernel
        default: self = .failed(errno)
        }
    }

    /// Whether the socket or process changed while being read (a race, not a refusal).
    public var isRace: Bool {
        switch self {
        case .processGone, .descriptorClosed, .descriptorReused: true
        default: false
        }
    }

    /// `kernel.yama.ptrace_scope`, nil without Yama.
    static func ptraceScope() -> Int? {
        (try? Sysctl.read("kernel.yama.ptrace_scope")).flatMap { Int($0) }
    }

    public var description: String {
        switch self {
        case .notPermitted(let scope?) where scope >= 3:
            "not readable: kernel.yama.ptrace_scope is \(scope), which lets no process, root included, take another's descriptor"
        case .notPermitted(let scope):
            "not readable: pidfd_getfd needs root, or the holder's own uid with a dumpable holder"
                + (scope.map {
                    $0 >= 1 ? " (and kernel.yama.ptrace_scope \($0) allows only root\($0 == 1 ? " or the holder's parent" : ""))" : ""
                } ?? "")
        case .processGone: "the holder exited while being read"
        case .descriptorClosed: "the holder closed the descriptor while being read"
        case .descriptorReused: "the holder's descriptor now refers to another file"
        case .unsupportedKernel: "pidfd_getfd needs Linux 5.6"
        case .wouldRetag(let c):
            "not read: this process's \(c) cgroup differs from the holder's, and taking its descriptor would retag its socket"
        case .noOwner: "no process holds it (a TIME_WAIT entry, or a socket being closed): its options are out of reach"
        case .holderNotFound(let denied):
            denied > 0
                ? "no holder found: \(denied) processes' descriptors are readable only by root or their own user"
                : "no holder found: it was closed since it was listed"
        case .failed(let e): "not readable: \(e.name)"
        }
    }
}

/// The cgroup v1 controllers whose tag a received socket takes (`__receive_sock()` →
/// `sock_update_netprioidx()`, `sock_update_classid()`).
enum CgroupTags {
    static let controllers = ["net_cls", "net_prio"]

    /// The first such controller in which this process and `holder` are in different cgroups,
    /// or nil (neither mounted, or the same cgroups, or the holder gone: the read then fails).
    static func wouldRetag(holder: Int32) -> String? {
        guard let theirs = paths("/proc/\(holder)/cgroup") else { return nil }
        return retagging(mine: paths("/proc/self/cgroup") ?? [:], theirs: theirs)
    }

    /// The first controller whose cgroup differs between two /proc/PID/cgroup texts' paths.
    static func retagging(mine: [String: String], theirs: [String: String]) -> String? {
        controllers.first { mine[$0] != theirs[$0] }
    }

    static func paths(_ file: String) -> [String: String]? {
        guard case .success(let bytes) = Sysctl.readFile(file) else { return nil }
        return HostProcess.controllerPaths(String(decoding: bytes, as: UTF8.self))
    }
}
