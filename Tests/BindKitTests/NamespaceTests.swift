import BindKit
import BindTestSupport
import Foundation
import SystemPackage
import Testing

/// The namespace file of the calling thread, as its link reads: `net:[4026531840]`.
private func namespaceLink(_ path: String = "/proc/thread-self/ns/net") -> String? {
    try? FileManager.default.destinationOfSymbolicLink(atPath: path)
}

@Suite("Network namespaces", .checksLeaks, .serialized, .enabled(if: mayMakeNamespaces, "needs root to create a network namespace"))
struct NetworkNamespaceTests {
    @Test("unshare moves this thread alone; setns on a descriptor opened before brings it back")
    func unshareAndComeBack() throws {
        let process = try NetworkNamespace.inode(path: "/proc/self/ns/net")
        struct Seen {
            var before, inside, processMeanwhile, back: UInt64
            var insideLink: String?
        }
        let seen = try JoinedThread.run { () throws -> Seen in
            let before = try NetworkNamespace.inode(path: "/proc/thread-self/ns/net")
            let home = try NetworkNamespace.openCurrent()
            defer { try? home.close() }
            try NetworkNamespace.unshare()
            let inside = try NetworkNamespace.inode(path: "/proc/thread-self/ns/net")
            let meanwhile = try NetworkNamespace.inode(path: "/proc/self/ns/net")
            let link = namespaceLink()
            try NetworkNamespace.enter(home)
            return Seen(
                before: before, inside: inside, processMeanwhile: meanwhile,
                back: try NetworkNamespace.inode(path: "/proc/thread-self/ns/net"), insideLink: link)
        }.get()
        #expect(seen.before == process)
        #expect(seen.inside != process)
        #expect(seen.insideLink == "net:[\(seen.inside)]", "the inode is the one the kernel names the namespace by")
        #expect(seen.processMeanwhile == process, "the other threads stayed")
        #expect(seen.back == process)
    }

    @Test("run(inNamespaceAt:) works inside the namespace at the path and leaves the calling thread where it is")
    func runInNamespaceAtPath() throws {
        let process = try NetworkNamespace.inode(path: "/proc/self/ns/net")
        let (mine, there, still, missing) = try inFreshNamespace { () throws -> (UInt64, UInt64, UInt64, Errno?) in
            let mine = try NetworkNamespace.inode(path: "/proc/thread-self/ns/net")
            let there = try NetworkNamespace.run(inNamespaceAt: "/proc/self/ns/net") {
                try NetworkNamespace.inode(path: "/proc/thread-self/ns/net")
            }
            let missing = errno { _ = try NetworkNamespace.run(inNamespaceAt: "/nonexistent/bk-netns") { 0 } }
            return (mine, there, try NetworkNamespace.inode(path: "/proc/thread-self/ns/net"), missing)
        }
        #expect(mine != process)
        #expect(there == process)
        #expect(still == mine)
        #expect(missing == .noSuchFileOrDirectory)
    }

    @Test("a bad path or a file that is not a network namespace: the kernel's errno")
    func badPaths() throws {
        let answers = try JoinedThread.run { () -> [String: Errno?] in
            [
                "open": errno { _ = try NetworkNamespace.open(path: "/nonexistent/bk-netns") },
                "open (oracle)": errno { _ = try FileDescriptor.open("/nonexistent/bk-netns", .readOnly) },
                "inode": errno { _ = try NetworkNamespace.inode(path: "/nonexistent/bk-netns") },
                "enter /dev/null": errno { try NetworkNamespace.enter(path: "/dev/null") },
                "enter a user namespace": errno { try NetworkNamespace.enter(path: "/proc/self/ns/user") },
            ]
        }.get()
        #expect(answers["open"] == answers["open (oracle)"])
        #expect(answers["open"] == .noSuchFileOrDirectory)
        #expect(answers["inode"] == .noSuchFileOrDirectory)
        #expect(answers["enter /dev/null"] == .invalidArgument)
        #expect(answers["enter a user namespace"] == .invalidArgument)
    }

    @Test("a fresh namespace: lo alone and down; a veth pair and an address, as getifaddrs sees them")
    func linksAndAddresses() throws {
        struct Seen {
            var loBefore, loAfter: LinkFlags
            var loIndex: UInt32
            var loName: String
            var noSuchName, noSuchIndex, vethAgain, addressAgain, noSuchInterface: Errno?
            var interfaces: [Interface]
        }
        let address = IPv4Address(198, 51, 100, 7)
        let seen = try JoinedThread.run { () throws -> Seen in
            try NetworkNamespace.unshare()
            let before = try NetworkNamespace.linkFlags("lo")
            try NetworkNamespace.setLinkUp("lo")
            let loIndex = try Interface.index(named: "lo")
            try NetworkNamespace.createVethPair("bkt0", peer: "bkt1")
            let index = try Interface.index(named: "bkt0")
            try NetworkNamespace.addAddress(.v4(address), prefixLength: 24, toInterface: index)
            try NetworkNamespace.setLinkUp("bkt0")
            try NetworkNamespace.setLinkUp("bkt1")
            return Seen(
                loBefore: before, loAfter: try NetworkNamespace.linkFlags("lo"), loIndex: loIndex,
                loName: try Interface.name(ofIndex: loIndex),
                noSuchName: errno { _ = try Interface.index(named: "bk-none") },
                noSuchIndex: errno { _ = try Interface.name(ofIndex: 4242) },
                vethAgain: errno { try NetworkNamespace.createVethPair("bkt0", peer: "bkt1") },
                addressAgain: errno { try NetworkNamespace.addAddress(.v4(address), prefixLength: 24, toInterface: index) },
                noSuchInterface: errno { try NetworkNamespace.addAddress(.v4(address), prefixLength: 24, toInterface: 4242) },
                interfaces: try Interface.current())
        }.get()
        #expect(seen.loBefore.contains(.loopback) && !seen.loBefore.contains(.up))
        #expect(seen.loAfter.contains([.loopback, .up]))
        #expect(seen.loName == "lo")
        #expect(Set(seen.interfaces.map(\.name)) == ["lo", "bkt0", "bkt1"])
        #expect(seen.interfaces.first { $0.name == "lo" }?.index == seen.loIndex)
        let veth = seen.interfaces.first { $0.name == "bkt0" }
        // Beside the kernel's own link-local address.
        #expect(veth?.addresses.contains(InterfaceAddress(ip: .v4(address), prefixLength: 24)) == true, "\(String(describing: veth))")
        #expect(veth?.isUp == true)
        #expect(seen.noSuchName == .operationNotSupportedByDevice)
        #expect(seen.noSuchIndex == .noSuchAddressOrDevice)
        #expect(seen.vethAgain == .fileExists)
        #expect(seen.addressAgain == .fileExists)
        #expect(seen.noSuchInterface == .operationNotSupportedByDevice)
    }
}

@Suite("Sysctl errors", .checksLeaks, .serialized, .enabled(if: mayMakeNamespaces, "needs root to create a network namespace"))
struct SysctlErrorTests {
    /// The errno a Sysctl call threw, or nil.
    private func ioErrno(_ body: () throws(SysctlError) -> Void) -> Errno? {
        do throws(SysctlError) {
            try body()
            return nil
        } catch {
            if case .io(_, let e) = error { return e }
            return nil
        }
    }

    @Test("read: ENOENT, EACCES and EISDIR apart, as open(2) and read(2) answer them")
    func read() throws {
        let names = ["net.ipv4.no_such_entry_bk", "net.ipv4.route.flush", "net.ipv4"]
        let answers = try inFreshNamespace { () throws -> [(Errno?, Errno?)] in
            try names.map { name in (ioErrno { () throws(SysctlError) in _ = try Sysctl.read(name) }, readErrno(try Sysctl.path(name))) }
        }
        for (name, (mine, kernel)) in zip(names, answers) {
            #expect(mine == kernel, "\(name)")
            #expect(mine != nil, "\(name)")
        }
        #expect(Set(answers.compactMap { $0.0 }) == Set<Errno>([.noSuchFileOrDirectory, .permissionDenied, .isDirectory]))
    }

    @Test("write: the kernel's errno for a bad value, a missing name, a read-only entry; a good value reads back")
    func write() throws {
        let cases = [
            ("net.ipv4.ip_unprivileged_port_start", "abc"), ("net.ipv4.no_such_entry_bk", "1"),
            ("net.ipv4.tcp_available_congestion_control", "reno"),
        ]
        let (answers, readBack) = try inFreshNamespace { () throws -> ([(Errno?, Errno?)], String) in
            let answers = try cases.map { c in
                (ioErrno { () throws(SysctlError) in try Sysctl.write(c.0, c.1) }, writeErrno(try Sysctl.path(c.0), c.1))
            }
            try Sysctl.write("net.ipv4.ip_unprivileged_port_start", "555")
            return (answers, try Sysctl.read("net.ipv4.ip_unprivileged_port_start"))
        }
        for (c, (mine, kernel)) in zip(cases, answers) {
            #expect(mine == kernel, "\(c.0)=\(c.1)")
            #expect(mine != nil, "\(c.0)=\(c.1)")
        }
        #expect(Set(answers.compactMap { $0.0 }) == Set<Errno>([.invalidArgument, .noSuchFileOrDirectory, .permissionDenied]))
        #expect(readBack == "555")
    }
}

@Suite("Thread credentials", .checksLeaks, .serialized, .enabled(if: isRoot, "needs root to change a thread's uid"))
struct ThreadCredentialTests {
    @Test("the effective uid and capabilities change on the calling thread alone, and come back")
    func effectiveUIDAndCapabilities() throws {
        struct Seen {
            var start: CapabilityMasks
            var startStatus: UInt64?
            var reduced, reducedStatus: UInt64?
            var nobodyEUID: UInt32
            var nobodyMasks: CapabilityMasks
            var otherUID: Errno?
            var rootEUID: UInt32
            var rootMasks: CapabilityMasks
            var end: CapabilityMasks
        }
        let processBefore = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let netBindService = UInt64(1) << UInt64(Capability.netBindService.rawValue)
        let seen = try JoinedThread.run { () throws -> Seen in
            let start = try ThreadCredentials.capabilityMasks()
            let startStatus = threadMask("CapEff")
            try ThreadCredentials.setEffectiveCapabilities(start.permitted & ~netBindService)
            let reduced = try ThreadCredentials.capabilityMasks().effective
            let reducedStatus = threadMask("CapEff")
            try ThreadCredentials.setEffectiveUID(65534)
            let nobodyEUID = geteuid()
            let nobodyMasks = try ThreadCredentials.capabilityMasks()
            // Without CAP_SETUID in effect, an euid other than the real or saved one is refused.
            let other = errno { try ThreadCredentials.setEffectiveUID(1234) }
            try ThreadCredentials.setEffectiveUID(0)
            let rootEUID = geteuid()
            let rootMasks = try ThreadCredentials.capabilityMasks()
            try ThreadCredentials.setEffectiveCapabilities(start.effective)
            return Seen(
                start: start, startStatus: startStatus, reduced: reduced, reducedStatus: reducedStatus, nobodyEUID: nobodyEUID,
                nobodyMasks: nobodyMasks, otherUID: other, rootEUID: rootEUID, rootMasks: rootMasks,
                end: try ThreadCredentials.capabilityMasks())
        }.get()
        #expect(seen.start.effective == seen.startStatus)
        #expect(seen.reduced == seen.start.permitted & ~netBindService)
        #expect(seen.reducedStatus == seen.reduced)
        #expect(seen.nobodyEUID == 65534)
        #expect(seen.nobodyMasks.effective == 0, "leaving uid 0 clears the effective set")
        #expect(seen.nobodyMasks.permitted == seen.start.permitted, "the real uid is still 0")
        #expect(seen.otherUID == .notPermitted)
        #expect(seen.rootEUID == 0)
        #expect(seen.rootMasks.effective == seen.start.permitted, "back at uid 0 the permitted set is in effect again")
        #expect(seen.end == seen.start)
        // The process (its main thread) never changed.
        let processAfter = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        for key in ["Uid:", "CapEff:", "CapPrm:"] {
            #expect(
                processAfter.split(separator: "\n").first { $0.hasPrefix(key) }
                    == processBefore.split(separator: "\n").first { $0.hasPrefix(key) })
        }
    }

    @Test("securebits, no_new_privs and the user namespace as /proc tells them")
    func threadAttributes() throws {
        #expect(try ThreadCredentials.noNewPrivileges() == (threadStatus("NoNewPrivs") == "1"))
        let map = try String(contentsOfFile: "/proc/self/uid_map", encoding: .utf8)
        let initial = map.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") } == ["0 0 4294967295"]
        #expect(try ThreadCredentials.inInitialUserNamespace() == initial)
        // A process started by root without securebits set: SECBIT_NOROOT clear.
        #expect(try !ThreadCredentials.securebits().contains(.noRoot))
    }
}

@Suite("A child with other credentials: errors", .checksLeaks)
struct ChildErrorTests {
    @Test("a missing program, an empty argument list, an exit status")
    func exec() throws {
        #expect(throws: ChildError.execFailed(program: "/nonexistent/bk-program", errno: .noSuchFileOrDirectory)) {
            try ChildCredentials().exec(["/nonexistent/bk-program"])
        }
        #expect(throws: ChildError.nothingToRun) { try ChildCredentials().exec([]) }
        #expect(try ChildCredentials().exec(["/bin/sh", "-c", "exit 3"]) == 3)
    }

    @Test("an effective set beyond the permitted one: capset refuses it, and the error names the step")
    func capsetRefused() throws {
        let e = #expect(throws: ChildError.self) {
            try ChildCredentials(capabilities: CapabilitySets(effective: [.netBindService], permitted: [])).exec(["/bin/true"])
        }
        guard case .needsPrivilege(let step, let errno)? = e else {
            Issue.record("not needsPrivilege: \(String(describing: e))")
            return
        }
        #expect(step.description == "capset")
        #expect(errno == .notPermitted)
        #expect(e?.description.hasPrefix("needs privilege: capset failed with EPERM") == true)
    }
}
