import BindTestSupport
import Foundation
import Testing

/// A program of Examples/, built beside bindcheck (swift build builds every target).
func examplePath(_ name: String) -> String? {
    guard let bindcheck = bindcheckPath else { return nil }
    let p = URL(fileURLWithPath: bindcheck).deletingLastPathComponent().appendingPathComponent(name).path
    return FileManager.default.isExecutableFile(atPath: p) ? p : nil
}

/// Runs an example in a network namespace of its own (`unshare -n`, lo brought up), so nothing it
/// binds is the host's; its output in files (no pipes, for the leak check).
func runExample(_ name: String, _ arguments: [String] = [], setup: String = "true") throws -> BindcheckRun {
    let program = try #require(examplePath(name), "\(name) is not built")
    let up = "ip link set lo up && \(setup) && exec \"$0\" \"$@\""
    return try runInChild(
        ["/usr/bin/unshare", "-n", "/bin/sh", "-c", up, program] + arguments, outputIn: FileManager.default.temporaryDirectory.path)
}

/// The output of a run must hold every fragment, in this order.
func expectLines(_ run: BindcheckRun, _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(run.status == 0, "exit \(run.status): \(run.stdout) \(run.stderr)", sourceLocation: sourceLocation)
    var rest = run.stdout[...]
    for fragment in fragments {
        guard let found = rest.range(of: fragment) else {
            Issue.record("no \(fragment.debugDescription) after what matched before: \(run.stdout)", sourceLocation: sourceLocation)
            return
        }
        rest = rest[found.upperBound...]
    }
}

@Suite(
    "Examples: the seeds' stories, each run in a private namespace", .checksLeaks,
    .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare"), "needs root and unshare(1)"),
    .enabled(if: examplePath("TCPServer") != nil, "the examples are not built"))
struct ExamplesTests {
    @Test func tcpServerBindsListensAcceptsCloses() throws {
        expectLines(try runExample("TCPServer"), ["listening on 127.0.0.1:", "accepted a connection from 127.0.0.1:", "closed"])
        expectLines(
            try runExample("TCPServer", ["[::1]:8080"]), ["listening on [::1]:8080", "accepted a connection from [::1]:", "closed"])
        let notLocal = try runExample("TCPServer", ["10.9.9.9:8080"])
        #expect(notLocal.status == 1 && notLocal.stdout.contains("bind(10.9.9.9:8080): EADDRNOTAVAIL"), "\(notLocal.stdout)")
    }

    @Test func udpServerReceivesWithoutListen() throws {
        expectLines(
            try runExample("UDPServer"),
            [
                "bound to 127.0.0.1:", "no listen needed", "listen on a UDP socket: EOPNOTSUPP", "received \"ping\" from 127.0.0.1:",
                "got \"pong\" back",
            ])
        expectLines(
            try runExample("UDPServer", ["[::1]:5353"]), ["bound to [::1]:5353", "received \"ping\" from [::1]:", "got \"pong\" back"])
    }

    @Test func multicastReceiverGetsTheGroupOnlyWhileJoined() throws {
        expectLines(
            try runExample("MulticastReceiver"),
            [
                "before joining 239.255.0.1 on lo: nothing arrives", "joined 239.255.0.1 on lo (index 1): received \"hello, group\"",
                "after leaving: nothing arrives",
            ])
        // IPv6: lo carries no IPv6 multicast, so a veth end (addresses usable at once: no DAD).
        let veth =
            "sysctl -qw net.ipv6.conf.default.accept_dad=0 && ip link add mc0 type veth peer name mc1 && ip link set mc0 up && ip link set mc1 up"
        expectLines(
            try runExample("MulticastReceiver", ["ff02::1:3", "mc0"], setup: veth),
            [
                "before joining ff02::1:3 on mc0: nothing arrives", "joined ff02::1:3 on mc0", "received \"hello, group\"",
                "after leaving: nothing arrives",
            ])
    }

    @Test func twoListenersShareAPortWithReusePort() throws {
        expectLines(
            try runExample("ReusePortListeners"),
            ["first listener on 127.0.0.1:", "second listener on 127.0.0.1:", "shares the port", "without SO_REUSEPORT: EADDRINUSE"])
    }

    @Test func loopback2AndTheWildcard() throws {
        expectLines(
            try runExample("LoopbackAndWildcard", ["9000"]),
            [
                "127.0.0.2:9000: bound", "127.0.0.1:9000: bound", "0.0.0.0:9000: EADDRINUSE",
                "with SO_REUSEADDR on both: 127.0.0.2:9000 and 0.0.0.0:9000 bound", "the second listen: EADDRINUSE",
            ])
    }

    @Test func dualStackWithAndWithoutV6Only() throws {
        expectLines(
            try runExample("DualStack"),
            ["IPV6_V6ONLY=0: listening", "0.0.0.0:", "EADDRINUSE", "IPV6_V6ONLY=1: listening", "bound beside it"])
    }

    @Test func clientBindsBeforeConnecting() throws {
        let run = try runExample("BindBeforeConnect")
        expectLines(
            run,
            ["server listening on 127.0.0.1:", "without bind: the client is 127.0.0.1:", "client bound to 127.0.0.2:", "from 127.0.0.2:"])
        // The port the client bound is the one the server sees.
        let bound = run.stdout.split(separator: "\n").first { $0.hasPrefix("client bound to ") }?.split(separator: " ")[3]
        #expect(bound != nil && run.stdout.contains("the server sees the connection from \(bound ?? "?")"), "\(run.stdout)")
    }

    @Test func freePortKeptByTheSocketThatFoundIt() throws {
        let run = try runExample("FreePort")
        expectLines(run, ["the kernel picked port ", "another socket binding 127.0.0.1:", "EADDRINUSE", "listening on 127.0.0.1:"])
        let port = run.stdout.split(separator: "\n").first.flatMap { $0.split(separator: " ").dropFirst(4).first?.dropLast() }
        #expect(port != nil && run.stdout.contains("listening on 127.0.0.1:\(port ?? "?")"), "\(run.stdout)")
    }
}
