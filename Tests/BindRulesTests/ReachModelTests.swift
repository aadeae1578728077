import BindKit
import BindRules
import BindTestSupport
import Testing

/// The fixture's two namespaces as the model reads them (SCENARIOS.md: the peer).
private func hosts() throws -> (ModelHost, ModelHost) {
    func a(_ text: String, _ len: Int) throws -> InterfaceAddress { InterfaceAddress(ip: try IPAddress(parsing: text), prefixLength: len) }
    let lo = Interface(name: "lo", index: 1, isUp: true, isLoopback: true, addresses: [try a("127.0.0.1", 8), try a("::1", 128)])
    let bk0 = Interface(
        name: "bk0", index: 3, isUp: true, isLoopback: false,
        addresses: [try a("192.0.2.1", 24), try a("2001:db8::1", 64), try a("fe80::1%bk0", 64)])
    let bk1 = Interface(
        name: "bk1", index: 2, isUp: true, isLoopback: false,
        addresses: [try a("192.0.2.2", 24), try a("2001:db8::2", 64), try a("fe80::2%bk1", 64)])
    return (ModelHost(interfaces: [lo, bk0], sysctls: BindSysctls()), ModelHost(interfaces: [lo, bk1], sysctls: BindSysctls()))
}

private func spec(_ text: String) throws -> AddressSpec {
    if text.hasPrefix("[") {
        let close = try #require(text.firstIndex(of: "]"))
        let ip = try IPAddress(parsing: String(text[text.index(after: text.startIndex)..<close]))
        return AddressSpec(ip: ip, port: .number(try #require(UInt16(text[text.index(close, offsetBy: 2)...]))), text: text)
    }
    let colon = try #require(text.lastIndex(of: ":"))
    return AddressSpec(
        ip: try IPAddress(parsing: String(text[..<colon])), port: .number(try #require(UInt16(text[text.index(after: colon)...]))),
        text: text)
}

private func socket(
    _ id: String, _ family: AddressFamily = .inet, _ transport: Transport = .tcp, on side: Side = .host,
    _ options: [SocketOptionSetting] = []
) -> Step {
    Step(id: id, action: .socket(family: family, transport: transport, options: options), on: side)
}

private func listener(_ id: String, _ address: String, _ family: AddressFamily = .inet, _ options: [SocketOptionSetting] = []) throws
    -> [Step]
{
    [socket(id, family, .tcp, options), Step(id: id, action: .bind(try spec(address))), Step(id: id, action: .listen(backlog: 128))]
}

@Suite(.checksLeaks) struct ReachModelTests {
    func run(_ steps: [Step]) throws -> [ReachPrediction] {
        let (host, peer) = try hosts()
        return ScenarioModel(host: host, peer: peer).run(steps)
    }

    @Test func theFlaskStory() throws {
        for (bound, fromPeer, fromHost) in [
            ("127.0.0.1:5000", "ECONNREFUSED", "ok"), ("0.0.0.0:5000", "ok", "ok"), ("192.0.2.1:5000", "ok", "ECONNREFUSED"),
        ] {
            let r = try run(
                try listener("s", bound) + [
                    socket("p", on: .peer), Step(id: "p", action: .connect(try spec("192.0.2.1:5000"))),
                    socket("h"), Step(id: "h", action: .connect(try spec("127.0.0.1:5000"))),
                ])
            #expect(r[4].outcome.description == fromPeer, "\(bound) from the peer")
            #expect(r[4].by == (fromPeer == "ok" ? ["s"] : []))
            #expect(r[6].outcome.description == fromHost, "\(bound) from this host")
            if bound.hasPrefix("127") {
                #expect(r[4].reason.text.contains("which takes connections addressed to 127.0.0.1 from this host only"))
                #expect(r[4].reason.fix?.contains("bind 0.0.0.0:5000, or 192.0.2.1:5000") == true)
                #expect(r[4].reason.kernel == "tcp_v4_send_reset")
            }
        }
    }

    @Test func inetRanksAboveDualStackAndV6OnlyTakesNoIPv4() throws {
        let r = try run(
            try listener("six", "[::]:5000", .inet6, [.reuseport(true), .v6only(false)])
                + listener("four", "0.0.0.0:5000", .inet, [.reuseport(true)])
                + [
                    socket("c"), Step(id: "c", action: .connect(try spec("127.0.0.1:5000"))), socket("d", .inet6),
                    Step(id: "d", action: .connect(try spec("[::1]:5000"))),
                ])
        #expect(r[7].by == ["four"])
        #expect(r[9].by == ["six"])
        let v6only = try run(
            try listener("s", "[::]:5000", .inet6, [.v6only(true)]) + [
                socket("c"), Step(id: "c", action: .connect(try spec("127.0.0.1:5000"))),
            ])
        #expect(v6only[4].outcome == .errno("ECONNREFUSED"))
        #expect(v6only[4].reason.text.contains("V6ONLY"))
    }

    @Test func aReusePortGroupIsTheAnswer() throws {
        let r = try run(
            try listener("a", "0.0.0.0:5000", .inet, [.reuseport(true)]) + listener("b", "0.0.0.0:5000", .inet, [.reuseport(true)])
                + [socket("c"), Step(id: "c", action: .connect(try spec("127.0.0.1:5000")))])
        #expect(r[7].by == ["a", "b"])
        #expect(r[7].isGroup)
    }

    @Test func aDeviceBoundListenerTakesTrafficToItsDevicesAddress() throws {
        let steps =
            try listener("s", "0.0.0.0:5000", .inet, [.device("bk0")]) + [
                socket("h"), Step(id: "h", action: .connect(try spec("192.0.2.1:5000"))),
                socket("l"), Step(id: "l", action: .connect(try spec("127.0.0.1:5000"))),
            ]
        let r = try run(steps)
        #expect(r[4].by == ["s"])
        #expect(r[6].outcome == .errno("ECONNREFUSED"))
    }

    @Test func routesBeforeSockets() throws {
        let r = try run([
            socket("a"), Step(id: "a", action: .connect(try spec("10.0.0.1:80"))),
            socket("b", .inet6), Step(id: "b", action: .connect(try spec("[fe80::1]:80"))),
            socket("u", .inet, .udp), Step(id: "u", action: .send(try spec("192.0.2.255:9"))),
            Step(id: "u", action: .send(nil)),
        ])
        #expect(r[1].outcome == .errno("ENETUNREACH") && r[1].reason.rule == "no-route")
        #expect(r[3].outcome == .errno("EINVAL") && r[3].reason.fix?.contains("%bk0") == true)
        #expect(r[5].outcome == .errno("EACCES") && r[5].reason.fix?.contains("SO_BROADCAST") == true)
        #expect(r[6].outcome == .errno("EDESTADDRREQ"))
    }

    @Test func aConnectedUDPSocketHearsOnlyItsPeerAndSeesRefusalNext() throws {
        let r = try run([
            socket("r", .inet, .udp), Step(id: "r", action: .bind(try spec("0.0.0.0:6000"))),
            Step(id: "r", action: .connect(try spec("192.0.2.2:7000"))),
            socket("o", .inet, .udp, on: .peer), Step(id: "o", action: .send(try spec("192.0.2.1:6000"))),
            socket("p", .inet, .udp, on: .peer), Step(id: "p", action: .bind(try spec("192.0.2.2:7000"))),
            Step(id: "p", action: .send(try spec("192.0.2.1:6000"))),
            socket("q", .inet, .udp), Step(id: "q", action: .connect(try spec("127.0.0.1:7001"))), Step(id: "q", action: .send(nil)),
            Step(id: "q", action: .send(nil)),
        ])
        #expect(r[4].by == [])
        #expect(r[7].by == ["r"])
        #expect(r[10].outcome == .ok && r[10].by == [])
        #expect(r[11].outcome == .errno("ECONNREFUSED") && r[11].reason.kernel == "sock_alloc_send_pskb")
    }

    @Test func broadcastReachesEveryWildcardSocketOnBothSides() throws {
        let r = try run([
            socket("w", .inet, .udp, [.reuseaddr(true)]), Step(id: "w", action: .bind(try spec("0.0.0.0:6000"))),
            socket("u", .inet, .udp, [.reuseaddr(true)]), Step(id: "u", action: .bind(try spec("192.0.2.1:6000"))),
            socket("x", .inet, .udp, on: .peer), Step(id: "x", action: .bind(try spec("0.0.0.0:6000"))),
            socket("s", .inet, .udp, [.broadcast(true)]), Step(id: "s", action: .send(try spec("192.0.2.255:6000"))),
        ])
        #expect(r[7].by == ["w", "x"])
        #expect(!r[7].isGroup)
        let (host, _) = try hosts()
        #expect(ScenarioModel.isGroupDestination(try IPAddress(parsing: "192.0.2.255"), in: host))
        #expect(ScenarioModel.isGroupDestination(try IPAddress(parsing: "::ffff:224.0.0.1"), in: host))
        #expect(!ScenarioModel.isGroupDestination(try IPAddress(parsing: "192.0.2.1"), in: host))
    }
}
