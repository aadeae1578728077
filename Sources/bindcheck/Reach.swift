import ArgumentParser
import BindConformance
import BindKit

struct ReachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reach",
        abstract: "Which socket of this host a connection or a datagram to ADDR:PORT reaches, from here and from the next machine.",
        discussion: """
            Reads the sockets on the port as explain does (sock_diag, /proc, pidfd_getfd) and asks the reach model: \
            a connection (TCP, the default) or a datagram (UDP) to ADDR:PORT sent from this host, and from another \
            machine on the link of each non-loopback interface (only this host's own non-loopback addresses answer \
            it; 127.0.0.1 and ::1 are its own), reaches which socket, or why none (refused, ICMP port unreachable, no \
            route, not this host's address), with the holder's process and the fix. --listener ADDR:PORT turns it \
            around: from where that socket can be reached. Firewall rules are not modelled: a note says when the \
            namespace has some.

            Exit status: 0 reached (--listener: reachable from somewhere), 1 not, 64 bad input, 66 --netns names no \
            namespace, 71 the namespace could not be read, 77 --netns needs privileges this process lacks.
            """)

    @Flag(help: "TCP (the default).") var tcp = false
    @Flag(help: "UDP.") var udp = false
    @Argument(help: "ADDR:PORT or [ADDR]:PORT.") var address: String?
    @Option(help: "A local socket's view: from where ADDR:PORT can be reached.") var listener: String?
    @Option(help: "The network namespace: a pid (its /proc/PID/ns/net) or a namespace file (/run/netns/NAME).") var netns: String?
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        if tcp && udp { throw ValidationError("--tcp and --udp exclude each other") }
        if (address == nil) == (listener == nil) { throw ValidationError("give ADDR:PORT or --listener ADDR:PORT (one of them)") }
    }

    func run() throws {
        let text = address ?? listener ?? ""
        let parsed: SocketAddress
        do { parsed = try SocketAddress(parsing: text) } catch { throw fail("\(error)", code: 64) }
        if parsed.port == 0 { throw fail("\(text): port 0 is reached by nothing", code: 64) }
        let live = try openNamespace(netns)
        let transport: Transport = udp ? .udp : .tcp
        let code: Int32
        if listener != nil {
            let r = ListenerReach(parsed, transport: transport, live: live)
            if json { try printJSON(r) } else { print(r.text) }
            code = r.exitCode
        } else {
            let r = LiveReach(parsed, transport: transport, live: live)
            if json { try printJSON(r) } else { print(r.text) }
            code = r.exitCode
        }
        if code != 0 { throw ExitCode(code) }
    }
}
