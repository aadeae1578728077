import BindConformance
import BindKit
import BindRules
import BindTestSupport
import Foundation
import Testing

// `explain` and `who` on a live namespace, with the kernel as the oracle: holders are other
// processes (Python, as a user's server), root's and uid 65534's, with every option and state, in
// a private network namespace. `explain` predicts a second bind from a cold start and binds it for
// real (--try); as root every answer must be right and certain and name the holder's pid in every
// collision; as uid 65534, never certain and wrong.

private let nobody: UInt32 = 65534

/// Runs `body` on a thread of its own in a new network namespace with `lo` up.
private func inPrivateNamespace<T>(_ body: @escaping () throws -> T) throws -> T {
    try JoinedThread.run { () throws -> T in
        try NetworkNamespace.unshare()
        try NetworkNamespace.setLinkUp("lo")
        return try body()
    }.get()
}

/// One socket per combination of address, options and state, each on a port of its own.
private func holderSockets(base: UInt16, root: Bool) -> [HolderSocketSpec] {
    guard root else { return HolderSocketSpec.everyCombination(base: base) }
    var extras: [(UInt16) -> HolderSocketSpec] = []
    func add(_ make: @escaping (UInt16) -> HolderSocketSpec) { extras.append(make) }
    add { port in HolderSocketSpec("inet", "tcp", "127.0.0.1", port, device: "lo") }
    add { port in HolderSocketSpec("inet6", "tcp", "::", port, reuseport: true, v6only: false, device: "lo") }
    add { port in HolderSocketSpec("inet", "udp", "0.0.0.0", port, reuseaddr: true, device: "lo") }
    add { port in HolderSocketSpec("inet", "tcp", "127.0.0.1", port, state: "connected", peer: "127.0.0.1", peerPort: 30000) }
    add { port in HolderSocketSpec("inet6", "udp", "::1", port, state: "connected", peer: "::1", peerPort: 30001) }
    return HolderSocketSpec.everyCombination(base: base, then: extras)
}

/// Every second bind of `transport` at `port`: five addresses, four option sets, with and
/// without a device, with and without listen() (TCP).
private func secondBinds(_ transport: Transport, port: UInt16, devices: Bool) throws -> [Explanation.Request] {
    let addresses: [(String, Bool?)] = [("0.0.0.0", nil), ("127.0.0.1", nil), ("::", false), ("::", true), ("::1", nil)]
    var out: [Explanation.Request] = []
    for (address, v6only) in addresses {
        for options in 0..<4 {
            for device in devices ? [nil, "lo"] : [nil] {
                for listen in transport == .tcp ? [false, true] : [false] {
                    var r = Explanation.Request(
                        address: SocketAddress(ip: try IPAddress(parsing: address), port: port), transport: transport)
                    r.reuseaddr = options & 1 != 0
                    r.reuseport = options & 2 != 0
                    r.v6only = v6only
                    r.device = device
                    r.listen = listen
                    out.append(r)
                }
            }
        }
    }
    return out
}

private struct Tally {
    var predictions = 0
    var certain = 0
    var wrong: [String] = []
    var certainAndWrong: [String] = []
    var uncertain: [String] = []
    var collisions = 0
    var collisionsWithoutPid: [String] = []
    var unknownWithoutWords: [String] = []
}

/// Explains every second bind at every holder's port with --try (the same library calls as the
/// command line), the holders' pids by port for the check that each collision names its holder.
private func explainAll(_ specs: [HolderSocketSpec], pids: [UInt16: Int32], devices: Bool) throws -> Tally {
    var tally = Tally()
    let live = try LiveHost.current()
    for spec in specs {
        let transport: Transport = spec.type == "tcp" ? .tcp : .udp
        let inspection = live.inspect([transport], ports: [spec.port])
        for r in try secondBinds(transport, port: spec.port, devices: devices) {
            let e = Explanation(r, live: live, inspection: inspection, tryIt: true)
            let what =
                "\(spec.type) \(spec.address):\(spec.port) \(spec.state ?? "") ra=\(spec.reuseaddr) rp=\(spec.reuseport) ← \(r.address) \(e.options)"
            tally.predictions += 1
            if e.certain { tally.certain += 1 } else { tally.uncertain.append(what) }
            if e.agrees != true { tally.wrong.append("\(what): predicted \(e.prediction), kernel \(e.kernel ?? "?"): \(e.reason)") }
            if e.certain && e.agrees != true { tally.certainAndWrong.append("\(what): \(e.prediction) vs \(e.kernel ?? "?")") }
            if !e.certain && (e.unknowns.isEmpty || e.findOut == nil || e.unknowns.contains { $0.why.isEmpty }) {
                tally.unknownWithoutWords.append(what)
            }
            if e.kernel == "EADDRINUSE" {
                tally.collisions += 1
                let named = e.heldBy?.processes.map(\.pid) ?? []
                if let pid = pids[spec.port], !named.contains(pid) || !(e.holder?.id.contains("pid \(pid)") ?? false) {
                    tally.collisionsWithoutPid.append("\(what): \(e.holder?.id ?? "no holder")")
                }
            }
        }
    }
    return tally
}

@Suite(
    "explain and who on a live namespace: holders in other processes", .checksLeaks, .serialized,
    .enabled(if: getuid() == 0 && HolderChild.available, "needs root and /usr/bin/python3"))
struct LiveExplainCLITests {
    static let rootSockets = holderSockets(base: 23000, root: true)
    static let nobodySockets = holderSockets(base: 24000, root: false)

    static func pids(_ holders: [HolderChild], _ specs: [[HolderSocketSpec]]) -> [UInt16: Int32] {
        var out: [UInt16: Int32] = [:]
        for (h, s) in zip(holders, specs) { for spec in s { out[spec.port] = h.pid } }
        return out
    }

    @Test("as root: every prediction right and certain, every collision names the holder's pid")
    func asRoot() throws {
        let tally = try inPrivateNamespace { () throws -> Tally in
            let specs = [HolderSpec(sockets: Self.rootSockets), HolderSpec(sockets: Self.nobodySockets, uid: nobody)]
            return try HolderChild.with(specs) { holders in
                try explainAll(
                    Self.rootSockets + Self.nobodySockets, pids: Self.pids(holders, [Self.rootSockets, Self.nobodySockets]), devices: true)
            }
        }
        #expect(tally.wrong == [])
        #expect(tally.uncertain == [])
        #expect(tally.collisionsWithoutPid == [])
        #expect(tally.predictions > 8000 && tally.collisions > 2000, "\(tally.predictions) predictions, \(tally.collisions) collisions")
    }

    @Test("as uid 65534: never certain and wrong; what is unknown is named with how to find out; its own holders certain")
    func unprivileged() throws {
        let (others, own) = try inPrivateNamespace { () throws -> (Tally, Tally) in
            let specs = [HolderSpec(sockets: Self.rootSockets), HolderSpec(sockets: Self.nobodySockets, uid: nobody)]
            return try HolderChild.with(specs) { holders in
                let pids = Self.pids(holders, [Self.rootSockets, Self.nobodySockets])
                return try JoinedThread.run { () throws -> (Tally, Tally) in
                    try ThreadCredentials.become(uid: nobody, gid: nobody)
                    return (
                        try explainAll(Self.rootSockets, pids: [:], devices: false),
                        try explainAll(Self.nobodySockets, pids: pids, devices: false)
                    )
                }.get()
            }
        }
        #expect(others.certainAndWrong == [] && own.certainAndWrong == [])
        #expect(others.unknownWithoutWords == [])
        #expect(others.certain < others.predictions, "root's holders leave options unknown")
        #expect(own.wrong == [] && own.uncertain == [] && own.collisionsWithoutPid == [])
    }

    @Test("the command line: the Flask story, JSON with certain and otherwise, exit 0/1/64, as root and as uid 65534")
    func commandLine() throws {
        guard bindcheckPath != nil else { return }
        try inPrivateNamespace {
            let specs = [
                // A dual-stack [::]:5000 server (IPV6_V6ONLY off), as Flask's on `host="::"`.
                HolderSpec(sockets: [HolderSocketSpec("inet6", "tcp", "::", 5000, reuseaddr: true, v6only: false)]),
                HolderSpec(sockets: [HolderSocketSpec("inet", "tcp", "0.0.0.0", 5001, state: "bound", reuseaddr: true)]),
            ]
            try HolderChild.with(specs) { holders in
                let flask = try runBindcheck(["explain", "0.0.0.0:5000"])
                #expect(flask.status == 1, "\(flask.stderr)")
                #expect(flask.stdout.hasPrefix("tcp bind 0.0.0.0:5000: EADDRINUSE\n"), "\(flask.stdout)")
                #expect(flask.stdout.contains("pid \(holders[0].pid)") && flask.stdout.contains("python3"))
                #expect(
                    flask.stdout.contains("IPV6_V6ONLY off")
                        && flask.stdout.contains("fix: python3 (pid \(holders[0].pid)) listens on [::]:5000 dual-stack"))
                let json = try runBindcheck(["explain", "--json", "--try", "0.0.0.0:5000"])
                let o = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
                #expect(json.status == 1 && o["certain"] as? Bool == true && o["kernel"] as? String == "EADDRINUSE")
                #expect((o["otherwise"] as? [Any])?.isEmpty == true)
                let held = try #require(o["heldBy"] as? [String: Any])
                #expect((held["processes"] as? [[String: Any]])?.first?["pid"] as? Int == Int(holders[0].pid))
                #expect(try runBindcheck(["explain", "127.0.0.1:5002"]).status == 0)
                let sure = try runBindcheck(["explain", "--json", "--reuseaddr", "127.0.0.1:5001"])
                #expect(sure.status == 0 && sure.stdout.contains("\"certain\" : true"), "\(sure.stdout)")
                #expect(try runBindcheck(["explain", "127.0.0.1:99999"]).status == 64)
                #expect(try runBindcheck(["explain", "--netns", "/nonexistent/ns", "127.0.0.1:1"]).status == 66)

                // uid 65534 cannot read root's holders: the options that matter stay unknown.
                let shared = try runBindcheck(["explain", "--json", "--reuseaddr", "127.0.0.1:5001"], asUser: "65534")
                let u = try #require(try JSONSerialization.jsonObject(with: Data(shared.stdout.utf8)) as? [String: Any], "\(shared.stderr)")
                #expect(u["certain"] as? Bool == false)
                let otherwise = try #require(u["otherwise"] as? [[String: Any]])
                #expect(otherwise.contains { ($0["changes"] as? [String])?.contains { $0.contains("SO_REUSEADDR") } == true })
                #expect((u["findOut"] as? String)?.contains("root") == true)
                let words = try runBindcheck(["explain", "--reuseaddr", "127.0.0.1:5001"], asUser: "65534")
                #expect(words.stdout.contains("(not certain)") && words.stdout.contains("unknown: SO_REUSEADDR"))
                #expect(words.stdout.contains("to find out: run as root"))
                #expect(try runBindcheck(["who", "--netns", "1", "80"], asUser: "65534").status == 77)
            }
        }
    }

    @Test("a server's failed bind, explained from the library: the holder named, and the model's verdict")
    func libraryExplains() throws {
        try inPrivateNamespace {
            let spec = HolderSpec(sockets: [HolderSocketSpec("inet6", "tcp", "::", 5100, v6only: false)])
            try HolderChild.with([spec]) { holders in
                let s = try Socket(family: .inet, transport: .tcp)
                do {
                    try s.bind(to: SocketAddress(parsing: "0.0.0.0:5100"))
                    Issue.record("the dual-stack holder did not take 0.0.0.0:5100")
                } catch let e as SocketError {
                    let line = e.explainLive(transport: .tcp)
                    #expect(
                        line.hasPrefix("0.0.0.0:5100: EADDRINUSE: held by python3 (pid \(holders[0].pid), user root)")
                            && line.contains("listening on [::]:5100 with IPV6_V6ONLY off"), "\(line)")
                    let x = try #require(e.liveExplanation(transport: .tcp))
                    #expect(x.prediction == "EADDRINUSE" && x.certain && x.heldBy?.processes.map(\.pid) == [holders[0].pid])
                    #expect(x.fixes.contains { $0.contains("IPV6_V6ONLY set on its socket") }, "\(x.fixes)")
                }
            }
        }
    }

    @Test("who on another process's SO_REUSEPORT listener: its pid, command and SO_REUSEPORT, and who may join")
    func whoReusePort() throws {
        guard bindcheckPath != nil else { return }
        try inPrivateNamespace {
            let spec = HolderSpec(sockets: [HolderSocketSpec("inet", "tcp", "0.0.0.0", 7000, reuseport: true)])
            try HolderChild.with([spec]) { holders in
                let text = try runBindcheck(["who", "7000"])
                #expect(text.status == 0)
                #expect(text.stdout.contains("held by: python3 (pid \(holders[0].pid), fd \(holders[0].ready.sockets?[0]?.fd ?? -1)"))
                #expect(text.stdout.contains("SO_REUSEPORT on"))
                #expect(text.stdout.contains("blocks 0.0.0.0:7000") && text.stdout.contains("a SO_REUSEPORT socket of uid 0 may join it"))
                let json = try runBindcheck(["who", "--json", "127.0.0.1:7000"])
                let o = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
                let s = try #require((o["sockets"] as? [[String: Any]])?.first?["socket"] as? [String: Any])
                #expect(s["reuseport"] as? Bool == true)
                let p = try #require((s["processes"] as? [[String: Any]])?.first)
                #expect(p["pid"] as? Int == Int(holders[0].pid) && p["command"] as? String == "python3")
                #expect(try runBindcheck(["who", "7001"]).status == 1)
                #expect(try runBindcheck(["who", "0"]).status == 64)
            }
        }
    }

    @Test("explain and who change nothing: the holders' own view, the kernel's, no descriptor kept")
    func changesNothing() throws {
        try inPrivateNamespace {
            let specs = [
                HolderSpec(sockets: Array(Self.rootSockets.prefix(30))),
                HolderSpec(sockets: Array(Self.nobodySockets.prefix(30)), uid: nobody),
            ]
            try HolderChild.with(specs) { holders in
                let before = try holders.map { try $0.report() }
                let diag = try SockDiag()
                let kernelBefore = Set(try diag.sockets(.tcp) + diag.sockets(.udp))
                let fdsBefore = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
                do {
                    let live = try LiveHost.current()
                    for spec in specs.flatMap(\.sockets) {
                        let transport: Transport = spec.type == "tcp" ? .tcp : .udp
                        let r = Explanation.Request(address: SocketAddress(ip: .v4(.any), port: spec.port), transport: transport)
                        _ = Explanation(r, live: live)
                        _ = WhoReport(port: spec.port, transports: [.tcp, .udp], live: live)
                    }
                }
                if bindcheckPath != nil {
                    _ = try runBindcheck(["explain", "0.0.0.0:23000"])
                    _ = try runBindcheck(["who", "23000"])
                }
                #expect(try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count == fdsBefore)
                #expect(try holders.map { try $0.report() } == before)
                #expect(Set(try diag.sockets(.tcp) + diag.sockets(.udp)) == kernelBefore)
            }
        }
    }

    @Test("holders exiting while explain and who read them: no crash, no error, an answer each time")
    func racesWithExits() throws {
        let rounds = try inPrivateNamespace { () throws -> Int in
            let churn = try HolderChild(.churn(port: 8600, width: 6))
            defer { churn.stop() }
            let live = try LiveHost.current()
            let deadline = Date().addingTimeInterval(8)
            var rounds = 0
            while rounds < 300 && Date() < deadline {
                rounds += 1
                var r = Explanation.Request(address: SocketAddress(ip: .v4(.any), port: 8600), transport: .tcp)
                r.reuseport = rounds % 2 == 0
                let e = Explanation(r, live: live, tryIt: true)
                #expect(e.prediction == "ok" || e.prediction == "EADDRINUSE", "\(e.prediction)")
                #expect(e.caveats.allSatisfy { !$0.contains("/proc") || $0.contains("readable only") }, "\(e.caveats)")
                let who = WhoReport(port: 8600, transports: [.tcp], live: live)
                #expect(who.notes.isEmpty, "\(who.notes)")
                for s in who.sockets { #expect(s.socket.processes.allSatisfy { $0.command == "python3" }) }
                if rounds % 50 == 0, bindcheckPath != nil {
                    let cli = try runBindcheck(["explain", "0.0.0.0:8600"])
                    #expect(cli.status == 0 || cli.status == 1, "\(cli.stderr)")
                    #expect(cli.stderr.isEmpty, "\(cli.stderr)")
                }
            }
            return rounds
        }
        #expect(rounds > 20)
    }
}
