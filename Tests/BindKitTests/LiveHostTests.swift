import BindTestSupport
import Foundation
import SystemPackage
import Testing

@testable import BindKit

// The live host with the kernel as the oracle: holders are separate processes (Python, as a
// user's servers are), root and uid 65534, with every option and state, in a private network
// namespace; what the library reads of them is compared with what each holder says of its own
// sockets (getsockopt, fstat, getsockname in the holder).

let canRunHolders = isRoot && mayMakeNamespaces && HolderChild.available
let nobody: UInt32 = 65534

/// Every kind of holder: one process each (the SO_REUSEPORT pair is two), the first listed
/// socket's port named in the comment.
let everyHolder: [HolderSpec] = [
    HolderSpec(sockets: [HolderSocketSpec("inet", "tcp", "0.0.0.0", 8001, reuseaddr: true)]),
    HolderSpec(sockets: [HolderSocketSpec("inet6", "tcp", "::", 8002, v6only: true)]),
    HolderSpec(sockets: [HolderSocketSpec("inet6", "tcp", "::", 8003, reuseport: true, v6only: false)]),
    HolderSpec(sockets: [HolderSocketSpec("inet6", "tcp", "::", 8003, reuseport: true, v6only: false)]),
    HolderSpec(sockets: [HolderSocketSpec("inet", "tcp", "0.0.0.0", 8004)], fork: true),
    HolderSpec(sockets: [HolderSocketSpec("inet", "tcp", "127.0.0.1", 8005, state: "bound", device: "lo")]),
    HolderSpec(sockets: [
        HolderSocketSpec("inet6", "tcp", "2001:db8::1", 8006, state: "bound", v6only: true, freebind: true, transparent: true)
    ]),
    HolderSpec(sockets: [HolderSocketSpec("inet", "tcp", "0.0.0.0", 8007, state: "bound", reuseaddr: true, reuseport: true, freebind: true)]
    ),
    HolderSpec(sockets: [HolderSocketSpec("inet6", "tcp", "::", 8017, state: "bound", v6only: false)]),
    HolderSpec(sockets: [HolderSocketSpec("inet", "tcp", "127.0.0.1", 8008, state: "connected", peer: "127.0.0.1", peerPort: 9008)]),
    HolderSpec(sockets: [
        HolderSocketSpec("inet", "udp", "0.0.0.0", 8020), HolderSocketSpec("inet6", "udp", "::", 8021, reuseport: true, v6only: true),
        HolderSocketSpec("inet", "udp", "127.0.0.1", 8022, state: "connected", reuseaddr: true, peer: "127.0.0.1", peerPort: 8020),
        HolderSocketSpec("inet", "udp", "0.0.0.0", 8024, device: "lo"),
        HolderSocketSpec("inet6", "udp", "::1", 8025, state: "connected", v6only: true, peer: "::1", peerPort: 8021),
    ]),
    HolderSpec(sockets: [HolderSocketSpec("inet", "tcp", "0.0.0.0", 8011, reuseport: true)], uid: nobody),
    HolderSpec(sockets: [HolderSocketSpec("inet", "udp", "0.0.0.0", 8012, reuseaddr: true)], uid: nobody),
    HolderSpec(sockets: [HolderSocketSpec("inet", "tcp", "0.0.0.0", 8010)], uid: nobody, born: false),
]

/// Each socket a holder made, with its spec, its holder and the holder's view of it.
struct HeldCase {
    var spec: HolderSocketSpec
    var holderSpec: HolderSpec
    var holder: HolderChild
    var view: HolderSocketView

    static func all(_ holders: [HolderChild], _ specs: [HolderSpec]) -> [HeldCase] {
        zip(holders, specs).flatMap { h, s in
            zip(s.sockets, h.ready.sockets ?? []).compactMap { spec, view in
                view.map { HeldCase(spec: spec, holderSpec: s, holder: h, view: $0) }
            }
        }
    }

    var transport: Transport { spec.type == "tcp" ? .tcp : .udp }
    var port: UInt16 { spec.port }
    var name: String { "\(spec.type) \(spec.address) \(spec.port) (\(spec.state ?? "default"))" }

    var expectedState: HostSocket.State {
        switch spec.state ?? (spec.type == "tcp" ? "listen" : "bound") {
        case "listen": .listening
        case "connected": .established
        default: .bound
        }
    }

    /// `sk_uid`: who created the socket.
    var expectedUID: UInt32 { holderSpec.born ? holderSpec.uid ?? 0 : 0 }
    var processUID: UInt32 { holderSpec.uid ?? 0 }
    var pids: Set<Int32> { Set([holder.pid] + (holder.ready.forked.map { [$0] } ?? [])) }
}

@Suite(
    "The live host: sockets, holders, options", .checksLeaks, .serialized,
    .enabled(if: canRunHolders, "needs root, namespaces and /usr/bin/python3"))
struct LiveHostTests {
    @Test("sock_diag finds each holder's socket with its state, uid, inode, cookie, device, IPV6_V6ONLY and IP_FREEBIND/IP_TRANSPARENT")
    func dumpFindsEveryHolder() throws {
        try inFreshNamespace {
            try HolderChild.with(everyHolder) { holders in
                let diag = try SockDiag()
                for c in HeldCase.all(holders, everyHolder) {
                    let found = try diag.sockets(c.transport, ports: [c.port]).filter { $0.inode == c.view.inode }
                    guard let s = found.first, found.count == 1 else {
                        Issue.record("\(c.name): \(found.count) sockets with inode \(c.view.inode)")
                        continue
                    }
                    #expect(s.state == c.expectedState, "\(c.name)")
                    #expect(s.uid == c.expectedUID, "\(c.name)")
                    #expect(s.cookie == c.view.cookie, "\(c.name)")
                    #expect("\(s.local.ip) \(s.local.port)" == c.view.local, "\(c.name)")
                    #expect(s.interfaceIndex == (c.view.device == "lo" ? 1 : 0), "\(c.name)")
                    #expect(s.freebind == c.view.freebind && s.transparent == c.view.transparent, "\(c.name)")
                    // SKV6ONLY comes for inet6 sockets that listen or are only bound.
                    let reported = s.family == .inet6 && (s.state == .listening || s.state == .bound)
                    #expect(s.v6only == (reported ? c.view.v6only : nil), "\(c.name)")
                    if c.expectedState == .established { #expect(s.remote?.port == c.spec.peerPort, "\(c.name)") }
                }
            }
        }
    }

    @Test("the port filter runs in the kernel and is exact: one port, several, every form; /proc/net misses bound-only TCP")
    func filters() throws {
        try inFreshNamespace {
            try HolderChild.with(everyHolder) { holders in
                let cases = HeldCase.all(holders, everyHolder)
                let eq = try SockDiag()
                let range = try SockDiag(rangeFilters: true)
                let all = try eq.sockets(.tcp) + eq.sockets(.udp)
                #expect(Set(cases.map(\.view.inode)).isSubset(of: Set(all.map(\.inode))))
                for t in [Transport.tcp, .udp] {
                    for port in Set(all.filter { $0.transport == t }.map(\.local.port)) {
                        let want = Set(all.filter { $0.transport == t && $0.local.port == port }.map(\.cookie))
                        #expect(Set(try eq.sockets(t, ports: [port]).map(\.cookie)) == want, "\(t) \(port) S_EQ")
                        #expect(Set(try range.sockets(t, ports: [port]).map(\.cookie)) == want, "\(t) \(port) S_GE/S_LE")
                    }
                }
                let some: [UInt16] = [8001, 8005, 8008, 8020, 9999]
                let union = Set(all.filter { some.contains($0.local.port) }.map(\.cookie))
                let got = try eq.sockets(.tcp, ports: some) + eq.sockets(.udp, ports: some)
                #expect(Set(got.map(\.cookie)) == union && got.count == union.count)
                #expect(try eq.sockets(.tcp, family: .inet6, ports: [8003]).count == 2)
                #expect(try eq.sockets(.tcp, family: .inet, ports: [8003]).isEmpty)
                #expect(try eq.sockets(.tcp, ports: []).isEmpty)
                // /proc/net: the same sockets, less those bound without listening.
                #expect(SockDiag.dumpsBoundOnlyTCP)
                let proc = Set(HostSocket.current().map(\.inode))
                let boundOnly = cases.filter { $0.transport == .tcp && $0.expectedState == .bound }
                #expect(boundOnly.count == 4 && boundOnly.allSatisfy { !proc.contains($0.view.inode) })
                #expect(cases.filter { $0.expectedState != .bound || $0.transport == .udp }.allSatisfy { proc.contains($0.view.inode) })
                let listing = HostSocket.list(ports: [8005])
                #expect(listing.notes.isEmpty && listing.sockets.map(\.inode) == boundOnly.filter { $0.port == 8005 }.map(\.view.inode))
            }
        }
    }

    @Test("the /proc scan names each socket's processes (both after a fork) and their command, user and cgroup")
    func holdersAndProcesses() throws {
        try inFreshNamespace {
            try HolderChild.with(everyHolder) { holders in
                let cases = HeldCase.all(holders, everyHolder)
                let scan = try HolderScan.scan(inodes: cases.map(\.view.inode))
                #expect(scan.denied == 0 && scan.isComplete && scan.processes > holders.count)
                let users = UserNames.read()
                for c in cases {
                    let found = scan.holders(of: c.view.inode)
                    #expect(Set(found.map(\.pid)) == c.pids, "\(c.name)")
                    #expect(found.allSatisfy { $0.fd == c.view.fd }, "\(c.name)")
                    let p = try HostProcess.read(pid: c.holder.pid, users: users)
                    #expect(p.command == "python3" && p.commandLine.first == HolderChild.python && p.commandLine.count == 4, "\(c.name)")
                    #expect(p.uid == c.processUID && p.effectiveUID == c.processUID, "\(c.name)")
                    #expect(p.userName == users[c.processUID], "\(c.name)")
                    #expect(p.cgroup == HostProcess.cgroupPath((try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? ""))
                }
                #expect(cases.contains { $0.pids.count == 2 }, "the forked holder is there")
                // A pid that is gone.
                #expect(errno { _ = try HostProcess.read(pid: Int32.max) } != nil)
            }
        }
    }

    @Test("the options read back as the holders set them, through one duplicate closed at once")
    func optionsReadBack() throws {
        try inFreshNamespace {
            try HolderChild.with(everyHolder) { holders in
                let cases = HeldCase.all(holders, everyHolder)
                let fdsBefore = ProcessResources.current().descriptors
                for c in cases {
                    let o = try HolderOptions.read(pid: c.holder.pid, fd: c.view.fd, inode: c.view.inode, cookie: c.view.cookie)
                    #expect(Self.matches(o, c.view), "\(c.name): \(o) vs \(c.view)")
                    #expect(o.transport == c.transport && o.cookie == c.view.cookie, "\(c.name)")
                }
                #expect(ProcessResources.current().descriptors == fdsBefore, "no duplicate kept")
                // Through inspect: every socket of the namespace that a holder holds.
                let inspection = try LiveHost.current().inspect()
                for c in cases {
                    let s = try #require(inspection.sockets.first { $0.socket.inode == c.view.inode }, "\(c.name)")
                    #expect(Set(s.holders.map(\.process.pid)) == c.pids, "\(c.name)")
                    guard case .success(let o)? = s.options else {
                        Issue.record("\(c.name): \(String(describing: s.options))")
                        continue
                    }
                    #expect(Self.matches(o, c.view), "\(c.name)")
                    #expect(s.deviceName == (c.view.device == "lo" ? "lo" : nil))
                }
                // A wrong descriptor, a wrong inode, a missing process: typed reasons.
                let c = try #require(cases.first)
                let (pid, fd, inode) = (c.holder.pid, c.view.fd, c.view.inode)
                #expect(Self.reason(pid: pid, fd: 999, inode: inode) == .descriptorClosed)
                #expect(Self.reason(pid: pid, fd: 0, inode: inode) == .descriptorReused)
                #expect(Self.reason(pid: pid, fd: fd, inode: inode, cookie: 1) == .descriptorReused)
                #expect(Self.reason(pid: Int32.max, fd: 3, inode: 1) == .processGone)
            }
        }
    }

    @Test("reading changes nothing: each holder's own view of its sockets and descriptors, the kernel's, and who may join")
    func readingChangesNothing() throws {
        try inFreshNamespace {
            try HolderChild.with(everyHolder) { holders in
                let before = try holders.map { try $0.report() }
                let diag = try SockDiag()
                let kernelBefore = try diag.sockets(.tcp) + diag.sockets(.udp)
                let live = try LiveHost.current()
                for _ in 0..<40 { _ = live.inspect() }
                let after = try holders.map { try $0.report() }
                #expect(before == after)
                #expect(Set(try diag.sockets(.tcp) + diag.sockets(.udp)) == Set(kernelBefore))
                // The SO_REUSEPORT group still takes a member; a plain bind is still refused.
                let member = try Socket(family: .inet6, transport: .tcp)
                try member.setV6Only(false)
                try member.setReusePort(true)
                try member.bind(to: SocketAddress(parsing: "[::]:8003"))
                try member.listen()
                let plain = try Socket(family: .inet, transport: .tcp)
                do {
                    try plain.bind(to: SocketAddress(parsing: "0.0.0.0:8003"))
                    Issue.record("a plain bind took the SO_REUSEPORT group's port")
                } catch let e as SocketError {
                    #expect(e.errno == .addressInUse)
                }
            }
        }
    }

    @Test("an unprivileged reader: every socket listed, other users' holders counted and not named, their options a typed refusal")
    func unprivilegedReader() throws {
        try inFreshNamespace {
            try HolderChild.with(everyHolder) { holders in
                let cases = HeldCase.all(holders, everyHolder)
                // A thread of its own that becomes uid 65534 for good (the kernel checks it as that user).
                let seen = try JoinedThread.run { () throws -> (Inspection, [UInt64: OptionsUnavailable?], LiveHostError?) in
                    try ThreadCredentials.become(uid: nobody, gid: nobody)
                    let inspection = try LiveHost.current().inspect()
                    var direct: [UInt64: OptionsUnavailable?] = [:]
                    for c in cases {
                        do throws(OptionsUnavailable) {
                            _ = try HolderOptions.read(pid: c.holder.pid, fd: c.view.fd, inode: c.view.inode, cookie: c.view.cookie)
                            direct[c.view.inode] = .some(nil)
                        } catch { direct[c.view.inode] = error }
                    }
                    var entering: LiveHostError?
                    do throws(LiveHostError) { _ = try LiveHost.namespace(ofProcess: 1) } catch { entering = error }
                    return (inspection, direct, entering)
                }.get()
                let (inspection, direct, entering) = seen
                #expect(inspection.scan.denied > 0 && !inspection.scan.isComplete)
                for c in cases {
                    let s = try #require(inspection.sockets.first { $0.socket.inode == c.view.inode }, "\(c.name): listed")
                    // Readable only the holders born as uid 65534 (dumpable, the same user).
                    let readable = c.holderSpec.uid == nobody && c.holderSpec.born
                    #expect(Set(s.holders.map(\.process.pid)) == (readable ? c.pids : []), "\(c.name)")
                    switch s.options {
                    case .success(let o)?:
                        #expect(readable && Self.matches(o, c.view), "\(c.name): never a wrong value")
                    case .failure(.holderNotFound(let denied))?:
                        #expect(!readable && denied == inspection.scan.denied, "\(c.name)")
                    default:
                        Issue.record("\(c.name): \(String(describing: s.options))")
                    }
                    if readable {
                        #expect(direct[c.view.inode] == .some(nil), "\(c.name)")
                    } else {
                        #expect(
                            direct[c.view.inode] == .some(.notPermitted(ptraceScope: nil)),
                            "\(c.name): \(String(describing: direct[c.view.inode]))")
                    }
                }
                guard case .notPermitted? = entering else {
                    Issue.record("entering pid 1's namespace unprivileged: \(String(describing: entering))")
                    return
                }
            }
        }
    }

    @Test("holders that exit while being read: never a crash, an error or a wrong value; each outcome typed")
    func raceWithExitingHolders() throws {
        let counts = try inFreshNamespace { () throws -> [String: Int] in
            let churn = try HolderChild(.churn(port: 8500))
            defer { churn.stop() }
            let live = try LiveHost.current()
            var counts: [String: Int] = [:]
            // A loaded machine may start the churning holder late: the loop goes on past 8 s (up to
            // 60 s) until it has read a live member's options at least once.
            let soft = Date().addingTimeInterval(8)
            let hard = Date().addingTimeInterval(60)
            var rounds = 0
            while Date() < hard && (rounds < 400 && Date() < soft || counts["read", default: 0] == 0) {
                rounds += 1
                let inspection = live.inspect([.tcp], ports: [8500])
                #expect(inspection.scanError == nil && inspection.listing.notes.isEmpty)
                for s in inspection.sockets {
                    for h in s.holders { #expect(h.process.pid > 0 && h.process.command == "python3") }
                    switch s.options {
                    case .success(let o)?:
                        #expect(o.reusePort && o.cookie == s.socket.cookie, "a member's options, or nothing")
                        counts["read", default: 0] += 1
                    case .failure(let e)?:
                        // Gone meanwhile, or a socket the exit has orphaned (inode 0) on its way out.
                        #expect(e.isRace || e == .holderNotFound(denied: 0) || (e == .noOwner && s.socket.inode == 0), "\(e)")
                        counts["\(e)", default: 0] += 1
                    case nil:
                        Issue.record("options not asked")
                    }
                }
            }
            return counts
        }
        #expect(counts["read", default: 0] > 0, "\(counts)")
    }

    @Test("another namespace, by pid and by path: its sockets, interfaces, sysctls and /proc/net, read from the host's")
    func otherNamespace() throws {
        let holder = try inFreshNamespace(sysctls: [("net.ipv4.ip_local_port_range", "20000 30000")]) { () throws -> HolderChild in
            try NetworkNamespace.createVethPair("bkx0", peer: "bkx1")
            return try HolderChild(HolderSpec(sockets: [HolderSocketSpec("inet", "tcp", "0.0.0.0", 8090, reuseport: true)]))
        }
        defer { holder.stop() }
        let inode = try #require(holder.ready.sockets?.first??.inode)
        let theirs = try NetworkNamespace.inode(path: "/proc/\(holder.pid)/ns/net")
        for live in [try LiveHost.namespace(ofProcess: holder.pid), try LiveHost.namespace(at: "/proc/\(holder.pid)/ns/net")] {
            let mine = try NetworkNamespace.inode(path: "/proc/thread-self/ns/net")
            #expect(live.namespaceInode == theirs && theirs != mine)
            #expect(live.sockets([.tcp], ports: [8090]).sockets.map(\.inode) == [inode])
            #expect(live.facts.sysctls.localPortRange == BindSysctls.PortRange(low: 20000, high: 30000))
            #expect(Set(live.facts.interfaces.map(\.name)) == ["lo", "bkx0", "bkx1"])
            let procNet = try live.procNet(.tcp).get()
            #expect(procNet.map(\.inode) == [inode], "/proc/thread-self/net there")
            let s = try #require(live.inspect([.tcp], ports: [8090]).sockets.first)
            #expect(s.holders.map(\.process.pid) == [holder.pid])
            #expect((try? s.options?.get())?.reusePort == true)
        }
        // The host's own namespace does not see it.
        let host = try LiveHost.current()
        #expect(!host.sockets([.tcp], ports: [8090]).sockets.contains { $0.inode == inode })
    }

    @Test("a namespace that cannot be read: a typed reason")
    func namespaceErrors() {
        func reason(_ path: String) -> LiveHostError? {
            do throws(LiveHostError) {
                _ = try LiveHost.namespace(at: path)
                return nil
            } catch { return error }
        }
        #expect(reason("/nonexistent/bk-netns") == .notFound(path: "/nonexistent/bk-netns"))
        #expect(reason("/etc/hostname") == .notANetworkNamespace(path: "/etc/hostname"))
        #expect(reason("/proc/self/ns/user") == .notANetworkNamespace(path: "/proc/self/ns/user"))
        do throws(LiveHostError) { _ = try LiveHost.namespace(ofProcess: Int32.max) } catch {
            #expect(error == .notFound(path: "/proc/\(Int32.max)/ns/net"))
        }
    }

    // MARK: - Helpers

    /// Whether the options read are the holder's own view of them.
    static func matches(_ o: HolderOptions, _ v: HolderSocketView) -> Bool {
        o.reuseAddress == v.reuseaddr && o.reusePort == v.reuseport && o.v6only == v.v6only && (o.device ?? "") == v.device
            && o.freebind == v.freebind && o.transparent == v.transparent && o.listening == v.acceptconn && o.cookie == v.cookie
            && o.deviceIndex == (v.device == "lo" ? 1 : 0)
    }

    /// Why the options of `fd` of `pid` cannot be read, nil when they can.
    static func reason(pid: Int32, fd: Int32, inode: UInt64, cookie: UInt64? = nil) -> OptionsUnavailable? {
        do throws(OptionsUnavailable) {
            _ = try HolderOptions.read(pid: pid, fd: fd, inode: inode, cookie: cookie)
            return nil
        } catch { return error }
    }
}
