import BindKit
import BindRules
import BindTestSupport
import PropertyBased
import Testing

// The conditional prediction over host sockets whose options are partly unknown: certain when
// nothing that can matter is unknown; otherwise the answer under the likeliest assumption, and
// the smallest changes of it that give another answer. The rules themselves are BindModel's
// (their kernel comparison is BindConformanceTests'); the kernel's own answer for live holders is
// LiveExplainTests'.

/// The steps of one new socket `n`: created with `options`, bound to `address`, then listening
/// when `listens`.
private func newSocket(
    _ family: AddressFamily, _ transport: Transport, _ address: String, port: UInt16 = 8080, options: [SocketOptionSetting] = [],
    listens: Bool = false
) -> [Step] {
    var steps = [
        Step(id: "n", action: .socket(family: family, transport: transport, options: options)),
        Step(id: "n", action: .bind(AddressSpec(ip: ip(address), port: .number(port)))),
    ]
    if listens { steps.append(Step(id: "n", action: .listen(backlog: 128))) }
    return steps
}

/// A table of one host socket on `address`:`port` with what is known of it.
private func holding(
    _ family: AddressFamily, _ transport: Transport, _ address: String, port: UInt16 = 8080, state: SocketState = .listening,
    uid: UInt32 = 0, reuseAddress: Bool? = false, reusePort: Bool? = false, v6only: Bool? = nil, device: UInt32? = 0,
    id: String = "h", into table: SocketTable = SocketTable()
) -> SocketTable {
    var t = table
    t.addExisting(
        id: id, family: family, transport: transport, ip: ip(address), port: port, state: state, ownerUID: uid,
        reuseAddress: reuseAddress, reusePort: reusePort, v6only: v6only, device: device, v6onlyDefault: false)
    return t
}

private let model = BindModel(host: fixture)

@Suite("Conditional prediction over host sockets", .checksLeaks)
struct ConditionalPredictionTests {
    @Test("everything known: certain, no unknowns, the same answer as run()")
    func allKnown() {
        let table = holding(.inet6, .tcp, "::", v6only: true)
        let steps = newSocket(.inet, .tcp, "0.0.0.0")
        let p = model.predictConditionally(steps, from: table)
        #expect(p.certain && p.enumerated)
        #expect(p.unknowns.isEmpty && p.otherwise.isEmpty && p.assignments == 1)
        #expect(p.steps == model.run(steps, from: table).map(\.outcome))
        #expect(p.outcome == .ok, "a v6-only [::] leaves 0.0.0.0 free")
    }

    @Test("an unknown IPV6_V6ONLY of a [::] listener: EADDRINUSE taken dual-stack, ok if it is v6-only")
    func unknownV6Only() throws {
        let table = holding(.inet6, .tcp, "::", v6only: nil)
        let p = model.predictConditionally(newSocket(.inet, .tcp, "0.0.0.0"), from: table)
        #expect(p.outcome == .errno("EADDRINUSE") && p.reason.holder?.id == "h")
        #expect(!p.certain && p.enumerated)
        #expect(p.unknowns == [OptionFact(socket: "h", option: .v6only, value: .flag(false))])
        let alt = try #require(p.otherwise.first)
        #expect(p.otherwise.count == 1)
        #expect(alt.changes == [OptionFact(socket: "h", option: .v6only, value: .flag(true))])
        #expect(alt.outcome == .ok)
    }

    @Test("the assumption follows net.ipv6.bindv6only")
    func v6OnlyDefault() {
        var t = SocketTable()
        t.addExisting(
            id: "h", family: .inet6, transport: .tcp, ip: ip("::"), port: 8080, state: .listening, ownerUID: 0, reuseAddress: false,
            reusePort: false, v6only: nil, device: 0, v6onlyDefault: true)
        let p = model.predictConditionally(newSocket(.inet, .tcp, "0.0.0.0"), from: t)
        #expect(p.unknowns.map(\.value) == [.flag(true)])
        #expect(p.outcome == .ok && p.otherwise.map(\.outcome) == [.errno("EADDRINUSE")])
    }

    @Test("a SO_REUSEPORT group another member may join: the unknown option of the holder names it")
    func unknownReusePort() throws {
        let table = holding(.inet, .tcp, "0.0.0.0", uid: 0, reusePort: nil)
        let p = model.predictConditionally(newSocket(.inet, .tcp, "0.0.0.0", options: [.reuseport(true)], listens: true), from: table)
        #expect(p.outcome == .errno("EADDRINUSE") && !p.certain)
        let alt = try #require(p.otherwise.first)
        #expect(alt.changes == [OptionFact(socket: "h", option: .reusePort, value: .flag(true))] && alt.outcome == .ok)
        #expect(alt.steps == [.ok, .ok, .ok])
        // Known, it is certain either way.
        let joined = model.predictConditionally(
            newSocket(.inet, .tcp, "0.0.0.0", options: [.reuseport(true)], listens: true),
            from: holding(.inet, .tcp, "0.0.0.0", reusePort: true))
        #expect(joined.certain && joined.outcome == .ok)
    }

    @Test("two unknowns that only change the answer together: one alternative with both")
    func jointChange() throws {
        var table = holding(.inet, .tcp, "0.0.0.0", reusePort: nil, id: "a")
        table = holding(.inet, .tcp, "0.0.0.0", reusePort: nil, id: "b", into: table)
        let p = model.predictConditionally(newSocket(.inet, .tcp, "0.0.0.0", options: [.reuseport(true)]), from: table)
        #expect(p.assignments == 4 && p.enumerated && !p.certain)
        let alt = try #require(p.otherwise.first)
        #expect(p.otherwise.count == 1)
        #expect(Set(alt.changes.map(\.socket)) == ["a", "b"] && alt.outcome == .ok)
    }

    @Test("unknowns of sockets on other ports or transports do not count")
    func otherPortsIgnored() {
        var table = holding(.inet, .tcp, "0.0.0.0", port: 9090, reuseAddress: nil, reusePort: nil, device: nil, id: "elsewhere")
        table = holding(.inet, .udp, "0.0.0.0", port: 8080, reuseAddress: nil, reusePort: nil, id: "udp", into: table)
        let p = model.predictConditionally(newSocket(.inet, .tcp, "0.0.0.0"), from: table)
        #expect(p.certain && p.unknowns.isEmpty && p.outcome == .ok)
        // A port the kernel picks can be any: then they count.
        let any = model.predictConditionally(newSocket(.inet, .tcp, "0.0.0.0", port: 0), from: table)
        #expect(any.unknowns.map(\.socket).contains("elsewhere"))
    }

    @Test("a TIME_WAIT entry's old SO_REUSEADDR: the bind of a SO_REUSEADDR socket depends on it")
    func timeWaitReuseAddress() throws {
        let table = holding(.inet, .tcp, "127.0.0.1", state: .timeWait, reuseAddress: nil, reusePort: nil, id: "tw")
        let p = model.predictConditionally(newSocket(.inet, .tcp, "127.0.0.1", options: [.reuseaddr(true)]), from: table)
        #expect(p.outcome == .errno("EADDRINUSE") && !p.certain)
        #expect(
            p.otherwise.contains {
                $0.changes == [OptionFact(socket: "tw", option: .reuseAddress, value: .flag(true))] && $0.outcome == .ok
            })
        // Without SO_REUSEADDR on the new socket, only a shared SO_REUSEPORT would help.
        let plain = model.predictConditionally(newSocket(.inet, .tcp, "127.0.0.1"), from: table)
        #expect(plain.outcome == .errno("EADDRINUSE"))
        #expect(!plain.otherwise.contains { $0.changes.map(\.option) == [.reuseAddress] })
    }

    @Test("an unknown device: no device (collides), the new socket's device (collides), another (free)")
    func unknownDevice() throws {
        let table = holding(.inet, .udp, "127.0.0.1", state: .bound, device: nil)
        let p = model.predictConditionally(newSocket(.inet, .udp, "127.0.0.1", options: [.device("bk0")]), from: table)
        #expect(p.outcome == .errno("EADDRINUSE"))
        #expect(p.assignments == 3, "none, bk0 (#2), and one no socket has")
        let alt = try #require(p.otherwise.first)
        #expect(p.otherwise.count == 1 && alt.outcome == .ok)
        guard case .device(let other) = alt.changes.first?.value else {
            Issue.record("not a device: \(alt.changes)")
            return
        }
        #expect(other != 0 && other != 2)
    }

    @Test("UDP: an unknown SO_REUSEADDR of the holder")
    func udpReuseAddress() throws {
        let table = holding(.inet, .udp, "0.0.0.0", state: .bound, reuseAddress: nil)
        let p = model.predictConditionally(newSocket(.inet, .udp, "0.0.0.0", options: [.reuseaddr(true)]), from: table)
        #expect(p.outcome == .errno("EADDRINUSE"))
        #expect(try #require(p.otherwise.first).changes.map(\.option) == [.reuseAddress])
    }

    @Test("past the limit: not enumerated, never certain, single changes only")
    func limit() {
        var table = SocketTable()
        for i in 0..<7 { table = holding(.inet, .tcp, "127.0.0.\(i + 1)", reuseAddress: nil, reusePort: nil, id: "h\(i)", into: table) }
        let steps = newSocket(.inet, .tcp, "0.0.0.0")
        let p = model.predictConditionally(steps, from: table, limit: 1000)
        #expect(p.assignments == 1 << 14 && !p.enumerated && !p.certain)
        #expect(p.otherwise.allSatisfy { $0.changes.count == 1 })
        #expect(p.outcome == model.run(steps, from: table).first { $0.outcome != .ok }?.outcome)
        let all = model.predictConditionally(steps, from: table, limit: 1 << 14)
        #expect(all.enumerated)
    }

    @Test("the old addExisting: options taken as unset as before, and now marked unknown")
    func oldSignature() {
        var old = SocketTable()
        old.addExisting(
            id: "h", family: .inet6, transport: .tcp, ip: ip("::"), port: 8080, state: .listening, ownerUID: 0, v6onlyDefault: false)
        let h = old.sockets["h"]
        #expect(h?.reuseAddress == false && h?.reusePort == false && h?.v6only == false && h?.device == 0)
        #expect(h?.unknown == [.reuseAddress, .reusePort, .v6only, .device])
        let steps = newSocket(.inet, .tcp, "0.0.0.0")
        let p = model.predictConditionally(steps, from: old)
        #expect(p.outcome == model.run(steps, from: old)[1].outcome)
        #expect(!p.certain && p.unknowns.count == 4)
    }

    @Test("a host socket as listed: options read are known, a TIME_WAIT entry's are not, a request socket is left out")
    func fromHostSocket() {
        let listener = HostSocket(
            transport: .tcp, family: .inet6, local: SocketAddress(ip: ip("::"), port: 8080), remote: nil, kernelState: .listen, uid: 0,
            inode: 7, cookie: 1, interfaceIndex: 0, v6only: false, freebind: false, transparent: false, cgroupID: nil, source: .sockDiag)
        let read = HolderOptions(
            family: .inet6, transport: .tcp, reuseAddress: true, reusePort: false, v6only: false, device: nil, deviceIndex: 0,
            freebind: false,
            transparent: false, listening: true, cookie: 1)
        var t = SocketTable()
        let added = t.addExisting(listener, id: "l", options: read, v6onlyDefault: true)
        #expect(added)
        #expect(t.sockets["l"]?.unknown == [] && t.sockets["l"]?.reuseAddress == true && t.sockets["l"]?.v6only == false)
        var unread = SocketTable()
        unread.addExisting(listener, id: "l", options: nil, v6onlyDefault: true)
        #expect(unread.sockets["l"]?.unknown == [.reuseAddress, .reusePort], "SKV6ONLY and idiag_if came with the listing")
        var tw = listener
        tw.kernelState = .timeWait
        tw.state = .timeWait
        tw.inode = 0
        tw.v6only = nil
        tw.local = SocketAddress(ip: ip("::1"), port: 8080)
        unread.addExisting(tw, id: "tw", options: nil, v6onlyDefault: false)
        #expect(unread.timeWait.first?.unknown == [.reuseAddress, .reusePort, .v6only])
        var request = listener
        request.kernelState = .synReceived
        request.state = .other
        request.inode = 0
        let requestAdded = unread.addExisting(request, id: "r", options: nil, v6onlyDefault: false)
        #expect(!requestAdded)
    }

    @Test("whatever the known options, the conditional answer is run()'s and certain")
    func knownIsRun() async {
        await propertyCheck(count: 300, input: Gen.bool.array(of: 8), Gen.int(in: 0...3)) { bits, shape in
            let families: [AddressFamily] = [.inet, .inet6]
            let family = families[shape % 2]
            let table = holding(
                family, .tcp, family == .inet ? "0.0.0.0" : "::", state: bits[0] ? .listening : .bound, uid: bits[1] ? 0 : 1000,
                reuseAddress: bits[2], reusePort: bits[3], v6only: family == .inet6 ? bits[4] : nil)
            var options: [SocketOptionSetting] = []
            if bits[5] { options.append(.reuseaddr(true)) }
            if bits[6] { options.append(.reuseport(true)) }
            let steps = newSocket(shape < 2 ? .inet : .inet6, .tcp, shape < 2 ? "0.0.0.0" : "::", options: options, listens: bits[7])
            let p = model.predictConditionally(steps, from: table)
            #expect(p.certain && p.steps == model.run(steps, from: table).map(\.outcome))
        }
    }
}
