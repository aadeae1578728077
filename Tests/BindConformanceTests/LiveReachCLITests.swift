import BindKit
import BindRules
import Foundation
import Testing

@testable import BindConformance

// `bindcheck reach` on a live namespace, with the kernel as the oracle: a listener (TCP) or a
// bound socket (UDP) on 127.0.0.1, then on 0.0.0.0, then on a dual-stack [::], in the fixture namespace; the prediction for
// this host and for the other machine on bk0's link (the peer namespace, bk1) beside a real
// connection (or datagram) from each. `--listener` must list exactly the destinations the real
// traffic reached.

private struct Tried: Sendable {
    var cases = 0
    var reached = 0
    var wrong: [String] = []
    var listenerWrong: [String] = []
}

/// The real result of a connection (or datagram) to `dest`, sent from the current namespace:
/// `ok` (TCP connected; UDP: `receiver` got it) or the errno name.
private func real(_ transport: Transport, to dest: SocketAddress, receiver: borrowing Socket) -> String {
    do {
        let s = try Socket(family: dest.ip.family, transport: transport)
        if transport == .tcp {
            try s.connect(to: dest, timeout: .milliseconds(500))
            return "ok"
        }
        _ = try s.send([1], to: dest)
        do {
            _ = try receiver.receive(maxBytes: 16, timeout: .milliseconds(200))
            return "ok"
        } catch { return "port-unreachable" }
    } catch { return ErrnoName.name(error.errno.rawValue) ?? "\(error.errno)" }
}

@Suite(
    "reach on a live namespace: predictions beside real connections from the host and the peer", .serialized, .checksLeaks,
    .enabled(if: getuid() == 0, "needs root"))
struct LiveReachCLITests {
    @Test("127.0.0.1, 0.0.0.0 and dual-stack [::], TCP and UDP, from this host and from the peer")
    func predictionsMatchTheKernel() throws {
        let tried = try withScenarioNamespaces(peer: true) { ns -> Tried in
            var tried = Tried()
            let destinations: [IPAddress] = [.v4(.loopback), .v4(Fixture.ipv4), .v6(.loopback), .v6(Fixture.ipv6)]
            for transport in [Transport.tcp, .udp] {
                for (i, bound) in [IPAddress.v4(.loopback), .v4(.any), .v6(.any)].enumerated() {
                    let port = UInt16(25000 + i + (transport == .udp ? 10 : 0))
                    let l = try Socket(family: bound.family, transport: transport)
                    if bound.family == .inet6 { try l.setV6Only(false) }
                    try l.bind(to: SocketAddress(ip: bound, port: port))
                    if transport == .tcp { try l.listen() }
                    let live = try LiveHost.current()
                    var reachedFrom: [String: Set<String>] = ["host": [], "peer": []]
                    for d in destinations {
                        let dest = SocketAddress(ip: d, port: port)
                        let r = LiveReach(dest, transport: transport, live: live)
                        let hostAnswer = r.answers.first { $0.interface == nil }
                        let peerAnswer = r.answers.first { $0.interface == Fixture.veth }
                        let fromHost = real(transport, to: dest, receiver: l)
                        try NetworkNamespace.enter(ns.peer!)
                        let fromPeer = real(transport, to: dest, receiver: l)
                        try NetworkNamespace.enter(ns.host)
                        for (side, answer, got) in [("host", hostAnswer, fromHost), ("peer", peerAnswer, fromPeer)] {
                            tried.cases += 1
                            let predicted = answer.map { $0.reached ? "ok" : $0.outcome } ?? "no answer"
                            if got == "ok" {
                                tried.reached += 1
                                reachedFrom[side]?.insert("\(dest)")
                            }
                            if predicted != got {
                                tried.wrong.append("\(transport) \(bound) ← \(dest) from \(side): predicted \(predicted), kernel \(got)")
                            }
                        }
                    }
                    let view = ListenerReach(SocketAddress(ip: bound, port: port), transport: transport, live: live)
                    let host = Set(view.reachableFrom.first { $0.interface == nil }?.destinations ?? [])
                    let peer = Set(view.reachableFrom.first { $0.interface == Fixture.veth }?.destinations ?? [])
                    // The listener view lists every address of this host; the real traffic tried two.
                    let triedSet = Set(destinations.map { "\(SocketAddress(ip: $0, port: port))" })
                    if host.intersection(triedSet) != reachedFrom["host"] || peer.intersection(triedSet) != reachedFrom["peer"] {
                        tried.listenerWrong.append(
                            "\(transport) \(bound):\(port): --listener says host \(host.sorted()), peer \(peer.sorted()); real host \(reachedFrom["host"]!.sorted()), peer \(reachedFrom["peer"]!.sorted())"
                        )
                    }
                    try l.close()
                }
            }
            return tried
        }
        print("reach live: \(tried.cases) predictions beside real traffic, \(tried.reached) reached, \(tried.wrong.count) wrong")
        #expect(tried.cases == 48)
        #expect(tried.wrong.isEmpty, "\(tried.wrong)")
        #expect(tried.listenerWrong.isEmpty, "\(tried.listenerWrong)")
        // Both outcomes occur: the test can fail either way.
        #expect(tried.reached > 0 && tried.reached < tried.cases)
    }

    @Test("the command line: exit 0 reached, 1 not, 64 bad input; --listener of nothing is 1")
    func commandLine() throws {
        try #require(bindcheckPath != nil, "build bindcheck first")
        // The project's runner (posix_spawn), not Foundation's Process: that opens dispatch's
        // descriptors for good on first use, and the leak check would count them.
        func run(_ args: [String]) throws -> (Int32, String) {
            let r = try runBindcheck(args)
            return (r.status, r.stdout)
        }
        let bad = try run(["reach", "not-an-address"]).0
        let both = try run(["reach", "127.0.0.1:5000", "--listener", "127.0.0.1:5000"]).0
        #expect(bad == 64)
        #expect(both == 64)
        let (code, json) = try run(["reach", "--json", "127.0.0.1:1"])
        #expect(code == 1)
        #expect(json.contains("\"answers\""))
        let none = try run(["reach", "--listener", "127.0.0.1:1"]).0
        #expect(none == 1)
    }
}
