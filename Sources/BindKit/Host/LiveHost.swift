import CBindShim
import SystemPackage

/// A network namespace as it is now: the host's own (the calling thread's) or another, such as a
/// container's. Its sockets as the kernel sees them, the processes that hold them, and their
/// options, with what could not be read said; and the namespace's facts (interfaces, bind
/// sysctls), read inside it.
///
/// Another namespace is entered on a thread of its own (setns(2) with CLONE_NEWNET), which opens
/// a sock_diag socket and reads the facts there, then ends: the socket keeps seeing that
/// namespace. Descriptors and processes are namespace-independent (one /proc for the pid
/// namespace), so holders are found the same way from anywhere.
public final class LiveHost: @unchecked Sendable {
    /// The namespace's interfaces and bind sysctls, and this process's credentials.
    public let facts: HostFacts
    /// The namespace file it was opened from; nil for the calling thread's namespace.
    public let namespacePath: String?
    /// The network namespace's inode, as `/proc/PID/ns/net` links name it (`net:[N]`).
    public let namespaceInode: UInt64
    private let diag: Result<SockDiag, Errno>
    /// The namespace, for /proc/net where sock_diag fails.
    private let namespace: FileDescriptor

    private init(facts: HostFacts, path: String?, inode: UInt64, diag: Result<SockDiag, Errno>, namespace: FileDescriptor) {
        self.facts = facts
        self.namespacePath = path
        self.namespaceInode = inode
        self.diag = diag
        self.namespace = namespace
    }

    deinit { _ = bk_close(namespace.rawValue) }

    /// The calling thread's network namespace. The corresponding C functions are socket(2) with
    /// NETLINK_SOCK_DIAG, getifaddrs(3) and reads of /proc/sys.
    public static func current() throws(LiveHostError) -> LiveHost {
        try opened(path: nil).get()
    }

    /// The network namespace of the file at `path`: `/proc/PID/ns/net`, `/run/netns/NAME`. It
    /// needs CAP_SYS_ADMIN over the namespace (root). The corresponding C functions are
    /// pthread_create(3), open(2) and setns(2), then those of ``current()`` on that thread.
    public static func namespace(at path: String) throws(LiveHostError) -> LiveHost {
        let r = (try? JoinedThread.run { () -> Result<LiveHost, LiveHostError> in opened(path: path) }.get())
        return try (r ?? .failure(.failed(path: path, errno: .resourceTemporarilyUnavailable))).get()
    }

    /// The network namespace of process `pid` (its `/proc/PID/ns/net`).
    public static func namespace(ofProcess pid: Int32) throws(LiveHostError) -> LiveHost {
        try namespace(at: "/proc/\(pid)/ns/net")
    }

    /// Enters `path` (nil: stays), then opens and reads everything there, on the calling thread.
    private static func opened(path: String?) -> Result<LiveHost, LiveHostError> {
        let fd: FileDescriptor
        switch path.map({ NetworkNamespace._open(path: $0) }) ?? NetworkNamespace._openCurrent() {
        case .success(let f): fd = f
        case .failure(let e): return .failure(LiveHostError(path: path ?? "/proc/thread-self/ns/net", errno: e))
        }
        if let path, case .failure(let e) = NetworkNamespace._enter(fd) {
            _ = bk_close(fd.rawValue)
            return .failure(LiveHostError(path: path, errno: e))
        }
        let facts: HostFacts
        do { facts = try HostFacts.current() } catch {
            _ = bk_close(fd.rawValue)
            return .failure(.factsUnreadable(path: path, reason: "\(error)"))
        }
        let inode = (try? NetworkNamespace.inode(path: "/proc/thread-self/ns/net")) ?? 0
        let diag = Result { () throws(Errno) in try SockDiag() }
        return .success(LiveHost(facts: facts, path: path, inode: inode, diag: diag, namespace: fd))
    }

    /// The sockets of `transports` whose local port is one of `ports` (nil: all), every state;
    /// through sock_diag, or /proc/net where that fails (with a note of what is then missing).
    public func sockets(_ transports: [Transport] = [.tcp, .udp], ports: [UInt16]? = nil) -> SocketListing {
        HostSocket.list(transports, ports: ports, diag: diag, procNet: procNet)
    }

    /// /proc/thread-self/net read on a thread in this namespace (the calling one when it is there).
    func procNet(_ transport: Transport) -> Result<[HostSocket], Errno> {
        if (try? NetworkNamespace.inode(path: "/proc/thread-self/ns/net")) == namespaceInode { return HostSocket.procNet(transport) }
        let ns = namespace
        let r = try? JoinedThread.run { () -> Result<[HostSocket], Errno> in
            NetworkNamespace._enter(ns).flatMap { HostSocket.procNet(transport) }
        }.get()
        return r ?? .failure(.resourceTemporarilyUnavailable)
    }

    /// Runs `body` on a thread inside this namespace (the calling thread when it is already
    /// there), and returns what it returned; nil when no thread could be started. For work that
    /// must happen in the namespace itself: a real bind (`explain --try`), a child process that
    /// inherits the namespace. The corresponding C functions are pthread_create(3) and setns(2).
    public func perform<T>(_ body: @escaping () -> T) -> T? {
        if (try? NetworkNamespace.inode(path: "/proc/thread-self/ns/net")) == namespaceInode { return body() }
        let ns = namespace
        let r = try? JoinedThread.run { () -> T? in
            guard case .success = NetworkNamespace._enter(ns) else { return nil }
            return body()
        }.get()
        return r ?? nil
    }

    /// The name of interface `index` in this namespace (from ``facts``).
    public func interfaceName(_ index: UInt32) -> String? {
        facts.interfaces.first { $0.index == index }?.name
    }

    /// The sockets of `transports` on `ports` (nil: all), each with the processes that hold it
    /// and, where `readOptions` says so, its options read from one descriptor of one holder
    /// (``HolderOptions/read(pid:fd:inode:cookie:)``; the next holder is tried when one exits or
    /// refuses). A holder that exits while being read is left out, as a socket closed since the
    /// listing simply has none.
    public func inspect(
        _ transports: [Transport] = [.tcp, .udp], ports: [UInt16]? = nil, readOptions: (HostSocket) -> Bool = { _ in true }
    ) -> Inspection {
        let listing = sockets(transports, ports: ports)
        let scan: HolderScan
        var scanError: Errno?
        switch HolderScan._scan(inodes: listing.sockets.lazy.map(\.inode)) {
        case .success(let s): scan = s
        case .failure(let e):
            scan = HolderScan(holders: [], processes: 0, denied: 0, vanished: 0, descriptorsRead: 0, hidesProcesses: false)
            scanError = e
        }
        let users = UserNames.read()
        var processes: [Int32: HostProcess?] = [:]
        func process(_ pid: Int32) -> HostProcess? {
            if let known = processes[pid] { return known }
            let p = try? HostProcess._read(pid: pid, users: users).get()
            processes[pid] = p
            return p
        }
        // The cgroup v1 retag check, once per holder (not once per socket: a server holds thousands).
        let mine = CgroupTags.paths("/proc/self/cgroup") ?? [:]
        var retags: [Int32: String?] = [:]
        func retag(_ pid: Int32) -> String? {
            if let known = retags[pid] { return known }
            let r = CgroupTags.paths("/proc/\(pid)/cgroup").flatMap { CgroupTags.retagging(mine: mine, theirs: $0) }
            retags[pid] = r
            return r
        }
        var inspected: [InspectedSocket] = []
        for s in listing.sockets {
            let holders = scan.holders(of: s.inode).compactMap { h in process(h.pid).map { HoldingProcess(fd: h.fd, process: $0) } }
            var options: Result<HolderOptions, OptionsUnavailable>?
            if readOptions(s) { options = Self.options(of: s, holders: holders, scan: scan, retag: retag) }
            inspected.append(
                InspectedSocket(socket: s, holders: holders, options: options, deviceName: s.interfaceIndex.flatMap(interfaceName)))
        }
        return Inspection(listing: listing, scan: scan, scanError: scanError, sockets: inspected)
    }

    /// The options of `s` from the first of its holders that can be read.
    static func options(
        of s: HostSocket, holders: [HoldingProcess], scan: HolderScan, retag: (Int32) -> String? = CgroupTags.wouldRetag(holder:)
    ) -> Result<HolderOptions, OptionsUnavailable> {
        if s.inode == 0 { return .failure(.noOwner) }
        var refusal: OptionsUnavailable?
        for h in holders {
            let r: Result<HolderOptions, OptionsUnavailable>
            if let controller = retag(h.process.pid) {
                r = .failure(.wouldRetag(controller: controller))
            } else {
                r = HolderOptions._read(pid: h.process.pid, fd: h.fd, inode: s.inode, cookie: s.cookie).mapError(
                    OptionsUnavailable.init(errno:))
            }
            switch r {
            case .success(let o): return .success(o)
            case .failure(let error): if refusal == nil || !error.isRace { refusal = error }
            }
        }
        return .failure(refusal ?? .holderNotFound(denied: scan.denied))
    }
}

/// A process holding a socket, by one of its descriptors.
public struct HoldingProcess: Hashable, Sendable {
    /// Its first descriptor that refers to the socket.
    public var fd: Int32
    public var process: HostProcess

    public init(fd: Int32, process: HostProcess) {
        self.fd = fd
        self.process = process
    }
}

/// One socket of an ``Inspection``.
public struct InspectedSocket: Hashable, Sendable {
    public var socket: HostSocket
    /// Every process holding it that could be seen (see ``Inspection/scan`` for those that could
    /// not), by pid.
    public var holders: [HoldingProcess]
    /// Its options, or why they are unknown; nil where they were not asked for.
    public var options: Result<HolderOptions, OptionsUnavailable>?
    /// The name of its bound device (`interfaceIndex`) in its namespace.
    public var deviceName: String?

    public init(socket: HostSocket, holders: [HoldingProcess], options: Result<HolderOptions, OptionsUnavailable>?, deviceName: String?) {
        self.socket = socket
        self.holders = holders
        self.options = options
        self.deviceName = deviceName
    }
}

/// The sockets of a question with their holders and options.
public struct Inspection: Hashable, Sendable {
    /// The sockets as listed, and what the listing could not show.
    public var listing: SocketListing
    /// What the holder scan could and could not read.
    public var scan: HolderScan
    /// Why /proc could not be scanned at all (nil normally).
    public var scanError: Errno?
    public var sockets: [InspectedSocket]

    public init(listing: SocketListing, scan: HolderScan, scanError: Errno?, sockets: [InspectedSocket]) {
        self.listing = listing
        self.scan = scan
        self.scanError = scanError
        self.sockets = sockets
    }
}

/// Why a network namespace cannot be read.
public enum LiveHostError: Error, Hashable, Sendable, CustomStringConvertible {
    /// ENOENT (or ESRCH): no such file, or no such process.
    case notFound(path: String)
    /// EACCES or EPERM: entering another network namespace needs CAP_SYS_ADMIN over it (root).
    case notPermitted(path: String, errno: Errno)
    /// EINVAL: the file is not a network namespace.
    case notANetworkNamespace(path: String)
    /// Its interfaces or sysctls could not be read.
    case factsUnreadable(path: String?, reason: String)
    case failed(path: String, errno: Errno)

    init(path: String, errno: Errno) {
        switch errno {
        case .noSuchFileOrDirectory, .noSuchProcess: self = .notFound(path: path)
        case .permissionDenied, .notPermitted: self = .notPermitted(path: path, errno: errno)
        case .invalidArgument: self = .notANetworkNamespace(path: path)
        default: self = .failed(path: path, errno: errno)
        }
    }

    public var description: String {
        switch self {
        case .notFound(let p): "\(p): no such namespace (ENOENT)"
        case .notPermitted(let p, let e): "\(p): \(e.name): entering another network namespace needs root (CAP_SYS_ADMIN over it)"
        case .notANetworkNamespace(let p): "\(p): not a network namespace (EINVAL)"
        case .factsUnreadable(let p, let r): "\(p ?? "this network namespace"): its facts cannot be read: \(r)"
        case .failed(let p, let e): "\(p): \(e.name)"
        }
    }
}
