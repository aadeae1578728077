import BindConformance
import BindKit
import BindRules
import BindTestSupport
import Foundation
import Testing

private let reachRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Scenarios/reach").path

private func decodeFailure(_ text: String) -> ScenarioFileError? {
    do {
        _ = try ScenarioDecoder.decode(text: text, file: "bad.json")
        return nil
    } catch {
        return error
    }
}

private func file(_ steps: String) -> String { #"{"name": "s", "steps": [\#(steps)]}"# }

private let tcpA = #"{"op": "socket", "id": "a", "family": "inet", "type": "tcp"}"#
private let udpU = #"{"op": "socket", "id": "u", "family": "inet", "type": "udp"}"#

@Suite("Reach corpus against the kernel", .checksLeaks, .enabled(if: canMakeNamespaces, "needs root to create network namespaces"))
struct ReachCorpusTests {
    @Test("every step of Tests/Scenarios/reach: model == kernel == expect, expect_by included")
    func reachCorpusAgrees() throws {
        let files = try ScenarioLoader.load(paths: [reachRoot])
        var scenarios = 0
        var byChecked = 0
        var peers = 0
        for (file, list) in files {
            for scenario in list {
                scenarios += 1
                if scenario.hasPeer { peers += 1 }
                for r in try ScenarioRunner.run(scenario, mode: .both) {
                    let place = "\(file): \(scenario.name) step \(r.step) \(r.op)"
                    #expect(r.expect != nil, "\(place) has no expect")
                    #expect(
                        r.model == r.kernel && r.expect == r.kernel,
                        "\(place): model \(r.model ?? "-") kernel \(r.kernel ?? "-") expect \(r.expect ?? "-") — \(r.reason ?? "")")
                    if r.hasBy {
                        byChecked += 1
                        #expect(r.expectBy != nil, "\(place) has no expect_by")
                        #expect(r.expectBy == r.modelBy, "\(place): model_by \(r.modelBy ?? []) expect_by \(r.expectBy ?? [])")
                        #expect(r.byAgrees, "\(place): kernel_by \(r.kernelBy ?? []) model_by \(r.modelBy ?? [])")
                    }
                }
            }
        }
        #expect(scenarios >= 40, "the reach corpus has \(scenarios) scenarios")
        #expect(peers >= 20)
        #expect(byChecked >= 100)
        print("reach corpus: \(files.count) files, \(scenarios) scenarios (\(peers) with a peer), \(byChecked) steps with by")
    }

    @Test("the peer namespace: bk1 moved there with its addresses; the host keeps bk0")
    func peerFixture() throws {
        let (host, peer) = try withScenarioNamespaces(peer: true) { ns in (ns.hostFacts, ns.peerFacts) }
        #expect(!host.interfaces.contains { $0.name == Fixture.peer })
        let bk1 = try #require(peer?.interfaces.first { $0.name == Fixture.peer })
        let addresses = Set(bk1.addresses.map { "\($0.ip)/\($0.prefixLength)" })
        #expect(addresses == ["192.0.2.2/24", "2001:db8::2/64", "fe80::2%bk1/64"])
        let lo = try #require(peer?.interfaces.first { $0.isLoopback })
        #expect(Set(lo.addresses.map { "\($0.ip)" }) == ["127.0.0.1", "::1"])
        // Without a peer, bk1 stays on the host, up, without an address.
        let alone = try withScenarioNamespaces(peer: false) { ns in ns.hostFacts }
        let kept = try #require(alone.interfaces.first { $0.name == Fixture.peer })
        #expect(kept.isUp && kept.addresses.isEmpty)
    }
}

@Suite(.checksLeaks) struct ReachDecoderTests {
    @Test func decodesTheReachSteps() throws {
        let text = file(
            tcpA + #", {"op": "socket", "id": "p", "family": "inet6", "type": "udp", "on": "peer", "broadcast": true}"#
                + #", {"op": "connect", "id": "a", "address": "192.0.2.1:80", "expect": "ECONNREFUSED", "expect_by": []}"#
                + #", {"op": "send", "id": "p", "address": "[ff02::1%bk1]:$a", "expect_by": ["p", "a"]}"#
                + #", {"op": "connect", "id": "p", "address": "[::1]:9"}, {"op": "send", "id": "p"}"#)
        let s = try #require(try ScenarioDecoder.decode(text: text, file: "t.json").first)
        #expect(s.hasPeer)
        #expect(s.steps[1].on == .peer)
        #expect(s.steps[0].on == .host)
        guard case .socket(_, .udp, let options) = s.steps[1].action else {
            Issue.record("not a socket step")
            return
        }
        #expect(options == [.broadcast(true)])
        #expect(s.steps[2].expectBy == [])
        #expect(s.steps[2].expect == .errno("ECONNREFUSED"))
        #expect(s.steps[3].expectBy == ["a", "p"])  // sorted
        guard case .send(let a?) = s.steps[3].action else {
            Issue.record("not a send")
            return
        }
        #expect(a.port == .reference("a"))  // the port picked at connect
        guard case .send(nil) = s.steps[5].action else {
            Issue.record("not a send to the connected peer")
            return
        }
        // The encoder writes the same file back.
        let again = try ScenarioDecoder.decode(text: s.jsonValue.serialized(), file: "t.json")
        #expect(again.first == s)
    }

    static let malformed: [(String, String, String)] = [
        (
            "on not a string", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "on": true}"#),
            #"step 0 ("socket"): field "on": expected "host" or "peer""#
        ),
        (
            "on elsewhere", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "on": "guest"}"#),
            #"field "on": expected "host" or "peer" (the namespace the socket is created in), got the string "guest""#
        ),
        (
            "on a bind step", file(tcpA + #", {"op": "bind", "id": "a", "address": "0.0.0.0:0", "on": "peer"}"#),
            #"step 1 ("bind"): field "on": not allowed on a "bind" step"#
        ),
        (
            "broadcast not a bool", file(#"{"op": "socket", "id": "u", "family": "inet", "type": "udp", "broadcast": 1}"#),
            #"field "broadcast": expected true or false, got the number 1"#
        ),
        (
            "connect without address", file(tcpA + #", {"op": "connect", "id": "a"}"#),
            #"step 1 ("connect"): field "address": missing"#
        ),
        (
            "connect of an unknown socket", file(#"{"op": "connect", "id": "z", "address": "127.0.0.1:1"}"#),
            #"field "id": no socket "z" before this step"#
        ),
        (
            "expect_by on a UDP connect", file(udpU + #", {"op": "connect", "id": "u", "address": "127.0.0.1:1", "expect_by": []}"#),
            #"field "expect_by": a connect step of a UDP socket has no by"#
        ),
        (
            "expect_by on a bind", file(tcpA + #", {"op": "bind", "id": "a", "address": "0.0.0.0:0", "expect_by": []}"#),
            #"field "expect_by": not allowed on a "bind" step"#
        ),
        (
            "expect_by not a list", file(udpU + #", {"op": "send", "id": "u", "address": "127.0.0.1:1", "expect_by": "u"}"#),
            #"field "expect_by": expected a list of socket ids"#
        ),
        (
            "expect_by with a number", file(udpU + #", {"op": "send", "id": "u", "address": "127.0.0.1:1", "expect_by": [1]}"#),
            #"element 0: expected a socket id, got the number 1"#
        ),
        (
            "expect_by naming no socket", file(udpU + #", {"op": "send", "id": "u", "address": "127.0.0.1:1", "expect_by": ["x"]}"#),
            #"element 0: socket "x" is not created before this step"#
        ),
        (
            "expect_by twice", file(udpU + #", {"op": "send", "id": "u", "address": "127.0.0.1:1", "expect_by": ["u", "u"]}"#),
            #"socket "u" is listed twice"#
        ),
        (
            "send from TCP", file(tcpA + #", {"op": "send", "id": "a", "address": "127.0.0.1:1"}"#),
            #"step 1 ("send"): field "id": socket "a" is a TCP socket"#
        ),
        (
            "send with a bad address", file(udpU + #", {"op": "send", "id": "u", "address": "127.0.0.1"}"#),
            #"field "address": expected ADDR:PORT or [ADDR]:PORT, got "127.0.0.1" (missing port)"#
        ),
        (
            "unknown key on send", file(udpU + #", {"op": "send", "id": "u", "to": "127.0.0.1:1"}"#),
            #"field "to": unknown key; a "send" step has: op, id, address, expect, expect_by"#
        ),
        (
            "$x of a socket that never had a port",
            file(
                udpU
                    + #", {"op": "socket", "id": "v", "family": "inet", "type": "udp"}, {"op": "send", "id": "u", "address": "127.0.0.1:$v"}"#
            ),
            #""$v": no bind, listen, connect or send step of socket "v""#
        ),
    ]

    @Test(arguments: malformed.indices)
    func rejectsWithAPreciseMessage(_ i: Int) {
        let (label, text, message) = Self.malformed[i]
        let error = decodeFailure(text)
        #expect(error?.kind == .invalid, "\(label)")
        #expect(error?.description.contains(message) == true, "\(label): \(error?.description ?? "accepted")")
    }
}

@Suite(.checksLeaks) struct ReachRecordTests {
    func record(model: [String]?, kernel: [String]?, expect: [String]?, unicast: Bool = true) -> StepRecord {
        var r = StepRecord(scenario: "s", step: 0, op: "connect", id: "c", expect: "ok", model: "ok", kernel: "ok", reason: nil)
        r.hasBy = true
        r.modelBy = model
        r.kernelBy = kernel
        r.expectBy = expect
        r.unicast = unicast
        return r
    }

    @Test func aGroupAgreesWithItsOneReceiverForUnicastOnly() {
        #expect(record(model: ["a", "b"], kernel: ["b"], expect: ["a", "b"]).agrees)
        #expect(!record(model: ["a", "b"], kernel: ["b"], expect: ["a", "b"], unicast: false).agrees)
        #expect(!record(model: ["a", "b"], kernel: ["c"], expect: ["a", "b"]).agrees)
        #expect(!record(model: ["a", "b"], kernel: ["a"], expect: ["a"]).agrees)  // the model's list must equal expect_by
        #expect(!record(model: ["a"], kernel: [], expect: ["a"]).agrees)
        #expect(record(model: [], kernel: [], expect: nil).agrees)
        #expect(record(model: nil, kernel: ["a"], expect: ["a"]).agrees)
    }

    @Test func theJSONLineHasTheByKeysOnlyForStepsWithBy() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let with = String(decoding: try encoder.encode(record(model: ["a"], kernel: nil, expect: ["a"])), as: UTF8.self)
        #expect(with.contains(#""expect_by":["a"]"#) && with.contains(#""kernel_by":null"#) && with.contains(#""model_by":["a"]"#))
        let without = StepRecord(scenario: "s", step: 0, op: "bind", id: "a", expect: nil, model: "ok", kernel: "ok", reason: nil)
        #expect(!String(decoding: try encoder.encode(without), as: UTF8.self).contains("_by"))
    }
}
