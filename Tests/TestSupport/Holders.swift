import Foundation
import Glibc

// Holders of sockets for the tests of the live host: separate processes (Python, as a user's
// server would be), never threads of the test, so that the library finds them as it finds any
// process's sockets. Each holder is started in the calling thread's network namespace, tells
// its own view of its sockets on request, and ends when its stdin closes.

/// One socket a holder makes: created, options set in the order of SCENARIOS.md, bound, then
/// listening, left bound, or connected.
public struct HolderSocketSpec: Codable, Hashable, Sendable {
    public var family: String
    public var type: String
    public var address: String
    public var port: UInt16
    /// `listen`, `bound`, `connected` or `timewait` (default: `listen` for TCP, `bound` for UDP).
    /// `timewait` leaves a TIME_WAIT entry as a scenario's `timewait` step does, and no socket.
    public var state: String?
    /// For `connected`: the peer (for TCP a listener the holder makes there and accepts from).
    public var peer: String?
    public var peerPort: UInt16?
    public var reuseaddr = false
    public var reuseport = false
    /// nil: left at the namespace's default.
    public var v6only: Bool?
    public var freebind = false
    public var transparent = false
    public var device: String?

    public init(
        _ family: String, _ type: String, _ address: String, _ port: UInt16, state: String? = nil, reuseaddr: Bool = false,
        reuseport: Bool = false, v6only: Bool? = nil, freebind: Bool = false, transparent: Bool = false, device: String? = nil,
        peer: String? = nil, peerPort: UInt16? = nil
    ) {
        self.family = family
        self.type = type
        self.address = address
        self.port = port
        self.state = state
        self.reuseaddr = reuseaddr
        self.reuseport = reuseport
        self.v6only = v6only
        self.freebind = freebind
        self.transparent = transparent
        self.device = device
        self.peer = peer
        self.peerPort = peerPort
    }
}

extension HolderSocketSpec {
    /// One socket per combination of address (0.0.0.0, 127.0.0.1, `[::]` dual-stack, `[::]`
    /// v6-only, ::1), SO_REUSEADDR × SO_REUSEPORT, and state (TCP listening, TCP bound only, UDP),
    /// each on a port of its own from `base`; then each of `extras`, given the next port.
    public static func everyCombination(base: UInt16, then extras: [(UInt16) -> HolderSocketSpec] = []) -> [HolderSocketSpec] {
        var out: [HolderSocketSpec] = []
        let addresses: [(String, String, Bool?)] = [
            ("inet", "0.0.0.0", nil), ("inet", "127.0.0.1", nil), ("inet6", "::", false), ("inet6", "::", true), ("inet6", "::1", nil),
        ]
        for (family, address, v6only) in addresses {
            for options in 0..<4 {
                for (type, state) in [("tcp", "listen"), ("tcp", "bound"), ("udp", "bound")] {
                    out.append(
                        HolderSocketSpec(
                            family, type, address, base + UInt16(out.count), state: state, reuseaddr: options & 1 != 0,
                            reuseport: options & 2 != 0, v6only: v6only))
                }
            }
        }
        for e in extras { out.append(e(base + UInt16(out.count))) }
        return out
    }
}

/// A holder process: its sockets, its uid, whether it forks a second process sharing them.
public struct HolderSpec: Codable, Hashable, Sendable {
    public var sockets: [HolderSocketSpec]
    /// The uid it runs as (nil: the test's).
    public var uid: UInt32?
    /// true: it starts as `uid` (dumpable); false: it makes its sockets as root, then changes
    /// to `uid` (no longer dumpable, and its sockets keep uid 0).
    public var born = true
    /// Forks once its sockets are made: two processes share every descriptor.
    public var fork = false
    /// `churn`: instead of holding, keeps `width` children binding `port` with SO_REUSEPORT,
    /// each exiting after up to 20 ms.
    public var mode: String?
    public var port: UInt16?
    public var width: Int?

    public init(sockets: [HolderSocketSpec], uid: UInt32? = nil, born: Bool = true, fork: Bool = false) {
        self.sockets = sockets
        self.uid = uid
        self.born = born
        self.fork = fork
    }

    /// Children that come and go, binding `port`.
    public static func churn(port: UInt16, width: Int = 4) -> HolderSpec {
        var s = HolderSpec(sockets: [])
        s.mode = "churn"
        s.port = port
        s.width = width
        return s
    }
}

/// A holder's own view of one of its sockets (getsockopt, fstat, getsockname in the holder).
public struct HolderSocketView: Codable, Hashable, Sendable {
    public var fd: Int32
    public var inode: UInt64
    public var cookie: UInt64
    public var reuseaddr: Bool
    public var reuseport: Bool
    public var v6only: Bool?
    public var device: String
    public var freebind: Bool
    public var transparent: Bool
    public var acceptconn: Bool
    /// `ADDRESS PORT`.
    public var local: String
}

/// What a holder says of itself.
public struct HolderReport: Codable, Hashable, Sendable {
    public var pid: Int32
    /// Its open descriptors.
    public var fds: [Int32]?
    public var forked: Int32?
    /// One per socket of the spec, nil for a `timewait` one.
    public var sockets: [HolderSocketView?]?
}

/// Why a holder could not be used.
public struct HolderError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}

/// A running holder. `stop()` ends it (and its forked child) and reaps it; so does deinit.
public final class HolderChild {
    public static let python = "/usr/bin/python3"
    public static var available: Bool { access(python, X_OK) == 0 }

    public let pid: Int32
    /// What it said once its sockets were made.
    public let ready: HolderReport
    private var input: Int32
    private var output: Int32
    private var pending: [UInt8] = []

    /// Starts a holder in the calling thread's network namespace and waits until its sockets are
    /// made (at most 10 s).
    public init(_ spec: HolderSpec) throws {
        let json = String(decoding: try JSONEncoder().encode(spec), as: UTF8.self)
        var toChild: [Int32] = [-1, -1]
        var fromChild: [Int32] = [-1, -1]
        guard pipe(&toChild) == 0 else { throw HolderError("pipe: \(errno)") }
        guard pipe(&fromChild) == 0 else {
            close(toChild[0])
            close(toChild[1])
            throw HolderError("pipe: \(errno)")
        }
        // Not inherited by anything else this process starts (the holder gets its ends as 0 and 1).
        for fd in toChild + fromChild { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        let argv: [UnsafeMutablePointer<CChar>?] = [
            strdup(HolderChild.python), strdup("-c"), strdup(HolderChild.script), strdup(json), nil,
        ]
        var child: pid_t = 0
        let r = posix_spawn(&child, HolderChild.python, &actions, nil, argv, environ)
        posix_spawn_file_actions_destroy(&actions)
        for a in argv { free(a) }
        close(toChild[0])
        close(fromChild[1])
        input = toChild[1]
        output = fromChild[0]
        guard r == 0 else {
            close(input)
            close(output)
            throw HolderError("posix_spawn \(HolderChild.python): \(r)")
        }
        pid = child
        do {
            guard let line = try HolderChild.readLine(output, &pending, seconds: 10) else {
                throw HolderError("the holder ended before it was ready")
            }
            ready = try JSONDecoder().decode(HolderReport.self, from: Data(line.utf8))
        } catch {
            HolderChild.end(pid, input, output)
            input = -1
            output = -1
            throw error
        }
    }

    /// The holder's view of its sockets and descriptors now.
    public func report() throws -> HolderReport {
        try send("report")
        guard let line = try HolderChild.readLine(output, &pending, seconds: 10) else { throw HolderError("the holder ended") }
        return try JSONDecoder().decode(HolderReport.self, from: Data(line.utf8))
    }

    private func send(_ line: String) throws {
        let bytes = Array((line + "\n").utf8)
        guard input >= 0, bytes.withUnsafeBytes({ write(input, $0.baseAddress, $0.count) }) == bytes.count else {
            throw HolderError("cannot write to the holder")
        }
    }

    /// Ends the holder (stdin closed: it ends its forked child and exits; SIGKILL after 5 s) and
    /// reaps it.
    public func stop() {
        guard input >= 0 else { return }
        HolderChild.end(pid, input, output)
        input = -1
        output = -1
    }

    deinit { stop() }

    /// Starts every spec in the calling thread's network namespace, runs `body`, and stops them all.
    public static func with<T>(_ specs: [HolderSpec], _ body: ([HolderChild]) throws -> T) throws -> T {
        let started = try specs.map { try HolderChild($0) }
        defer { for h in started { h.stop() } }
        return try body(started)
    }

    private static func end(_ pid: Int32, _ input: Int32, _ output: Int32) {
        close(input)
        var status: Int32 = 0
        var waited = false
        for _ in 0..<500 {
            if waitpid(pid, &status, WNOHANG) == pid {
                waited = true
                break
            }
            usleep(10_000)
        }
        if !waited {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
        }
        close(output)
    }

    /// One line of `fd`, waiting at most `seconds`; nil at the end of the stream.
    private static func readLine(_ fd: Int32, _ pending: inout [UInt8], seconds: Int) throws -> String? {
        let deadline = Date().addingTimeInterval(TimeInterval(seconds))
        while true {
            if let nl = pending.firstIndex(of: 10) {
                let line = String(decoding: pending[..<nl], as: UTF8.self)
                pending.removeSubrange(...nl)
                return line
            }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let left = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
            let ready = poll(&p, 1, left)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { throw HolderError("no answer from the holder in \(seconds) s") }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            pending += chunk.prefix(n)
        }
    }

    /// The holder's program.
    static let script = #"""
        import json, os, random, select, socket as S, struct, sys, time

        IPV6_TRANSPARENT, IPV6_FREEBIND, IP_FREEBIND, IP_TRANSPARENT, SO_COOKIE = 75, 78, 15, 19, 57
        # Nothing of the test process but the two pipes.
        os.closerange(3, 65536)
        spec = json.loads(sys.argv[1])
        uid = spec.get("uid")
        if uid is not None and spec.get("born", True) and os.getuid() == 0:
            # Started as that user: an exec after the change leaves the process dumpable.
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            os.execv(sys.executable, [sys.executable] + sys.orig_argv[1:])

        def make(d, keep):
            fam = S.AF_INET6 if d["family"] == "inet6" else S.AF_INET
            tcp = d["type"] == "tcp"
            s = S.socket(fam, S.SOCK_STREAM if tcp else S.SOCK_DGRAM)
            if d.get("reuseaddr"): s.setsockopt(S.SOL_SOCKET, S.SO_REUSEADDR, 1)
            if d.get("reuseport"): s.setsockopt(S.SOL_SOCKET, S.SO_REUSEPORT, 1)
            if d.get("v6only") is not None: s.setsockopt(S.IPPROTO_IPV6, S.IPV6_V6ONLY, int(d["v6only"]))
            if d.get("freebind"): s.setsockopt(*((S.IPPROTO_IPV6, IPV6_FREEBIND) if fam == S.AF_INET6 else (S.SOL_IP, IP_FREEBIND)), 1)
            if d.get("transparent"):
                s.setsockopt(*((S.IPPROTO_IPV6, IPV6_TRANSPARENT) if fam == S.AF_INET6 else (S.SOL_IP, IP_TRANSPARENT)), 1)
            if d.get("device"): s.setsockopt(S.SOL_SOCKET, S.SO_BINDTODEVICE, d["device"].encode())
            # getaddrinfo keeps a %zone as the scope id, which a plain (address, port) pair drops.
            s.bind(S.getaddrinfo(d["address"], d["port"], fam, 0, 0, S.AI_NUMERICHOST)[0][4])
            state = d.get("state", "listen" if tcp else "bound")
            if state == "listen":
                s.listen(16)
            elif state == "connected":
                peer = (d["peer"], d["peerPort"])
                if tcp:
                    l = S.socket(fam, S.SOCK_STREAM)
                    l.setsockopt(S.SOL_SOCKET, S.SO_REUSEADDR, 1)
                    l.bind(peer)
                    l.listen(16)
                    s.connect(peer)
                    a, _ = l.accept()
                    keep += [l, a]
                else:
                    s.connect(peer)
            elif state == "timewait":
                # As a scenario's timewait step: a loopback connection whose accepted side closes first
                # leaves a TIME_WAIT entry on the address, with the listener's options; nothing is held.
                s.listen(16)
                c = S.socket(fam, S.SOCK_STREAM)
                c.connect((d["address"], d["port"]))
                a, _ = s.accept()
                a.close()
                time.sleep(0.05)
                c.close()
                s.close()
                return None
            return s

        def view(s):
            fam = s.family
            six = fam == S.AF_INET6
            def opt(level, name): return s.getsockopt(level, name)
            dev = s.getsockopt(S.SOL_SOCKET, S.SO_BINDTODEVICE, 16).split(b"\0")[0].decode()
            return {
                "fd": s.fileno(), "inode": os.fstat(s.fileno()).st_ino,
                "cookie": struct.unpack("Q", s.getsockopt(S.SOL_SOCKET, SO_COOKIE, 8))[0],
                "reuseaddr": opt(S.SOL_SOCKET, S.SO_REUSEADDR) != 0, "reuseport": opt(S.SOL_SOCKET, S.SO_REUSEPORT) != 0,
                "v6only": (opt(S.IPPROTO_IPV6, S.IPV6_V6ONLY) != 0) if six else None, "device": dev,
                "freebind": opt(*((S.IPPROTO_IPV6, IPV6_FREEBIND) if six else (S.SOL_IP, IP_FREEBIND))) != 0,
                "transparent": opt(*((S.IPPROTO_IPV6, IPV6_TRANSPARENT) if six else (S.SOL_IP, IP_TRANSPARENT))) != 0,
                "acceptconn": opt(S.SOL_SOCKET, S.SO_ACCEPTCONN) != 0, "local": "%s %d" % s.getsockname()[:2],
            }

        def send(obj):
            sys.stdout.write(json.dumps(obj) + "\n")
            sys.stdout.flush()

        def lines():
            buf = b""
            while True:
                chunk = os.read(0, 4096)
                if not chunk: return
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    yield line.decode()

        if spec.get("mode") == "churn":
            # Holders that come and go: each child binds the port with SO_REUSEPORT and exits soon.
            kids = set()
            send({"ready": True, "pid": os.getpid()})
            while not select.select([0], [], [], 0.002)[0]:
                if len(kids) < spec.get("width", 4):
                    pid = os.fork()
                    if pid == 0:
                        s = S.socket(S.AF_INET, S.SOCK_STREAM)
                        s.setsockopt(S.SOL_SOCKET, S.SO_REUSEPORT, 1)
                        s.bind(("127.0.0.1", spec["port"]))
                        if random.random() < 0.5: s.listen(8)
                        time.sleep(random.random() * 0.02)
                        os._exit(0)
                    kids.add(pid)
                while kids:
                    pid, _ = os.waitpid(-1, os.WNOHANG)
                    if pid == 0: break
                    kids.discard(pid)
            for pid in kids: os.waitpid(pid, 0)
            sys.exit(0)

        keep = []
        socks = [make(d, keep) for d in spec["sockets"]]
        if uid is not None and not spec.get("born", True):
            # A root process that changes its uid afterwards: no longer dumpable.
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        child = None
        if spec.get("fork"):
            r, w = os.pipe()
            child = os.fork()
            if child == 0:
                os.close(w)
                os.read(r, 1)  # until the parent goes
                os._exit(0)
            os.close(r)
        views = lambda: [view(s) if s else None for s in socks]
        send({"ready": True, "pid": os.getpid(), "forked": child, "sockets": views()})
        for line in lines():
            if line == "report":
                send({"pid": os.getpid(), "fds": sorted(int(f) for f in os.listdir("/proc/self/fd")), "sockets": views()})
            elif line == "exit":
                break
        if child:
            os.close(w)
            os.waitpid(child, 0)
        """#
}
