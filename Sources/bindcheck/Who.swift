import ArgumentParser
import BindConformance
import BindKit

struct WhoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "who",
        abstract: "Every socket that holds or covers a port: state, options, uid, processes, and what it blocks.",
        discussion: """
            What `ss -tulnp` and `lsof -i` show, plus the options neither can: the sockets on the port as the \
            kernel lists them (sock_diag), the processes holding each (pid, command, systemd unit or container), \
            SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY and SO_BINDTODEVICE read through a duplicate of the \
            holder's descriptor (pidfd_getfd, closed at once), and which binds each one blocks. Another user's \
            holders are named and read only as root. ADDR:PORT lists only the sockets that may cover ADDR.

            Exit status: 0 a socket was found, 1 none, 64 bad input, 66 --netns names no namespace, 71 the \
            namespace could not be read, 77 --netns needs privileges this process lacks.
            """)

    @Flag(help: "TCP only.") var tcp = false
    @Flag(help: "UDP only.") var udp = false
    @Argument(help: "PORT, ADDR:PORT or [ADDR]:PORT.") var target: String
    @Option(help: "The network namespace: a pid (its /proc/PID/ns/net) or a namespace file (/run/netns/NAME).") var netns: String?
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        if tcp && udp { throw ValidationError("--tcp and --udp exclude each other (neither: both)") }
    }

    func run() throws {
        let port: UInt16
        var address: IPAddress?
        if let p = UInt16(target), p != 0 {
            port = p
        } else {
            do {
                let sa = try SocketAddress(parsing: target)
                port = sa.port
                address = sa.ip
            } catch { throw fail("\(target.debugDescription): a port (1-65535), ADDR:PORT or [ADDR]:PORT: \(error)", code: 64) }
            if port == 0 { throw fail("\(target): port 0 is held by no socket", code: 64) }
        }
        let live = try openNamespace(netns)
        let transports: [Transport] = tcp ? [.tcp] : udp ? [.udp] : [.tcp, .udp]
        let report = WhoReport(port: port, address: address, transports: transports, live: live)
        if json { try printJSON(report) } else { print(report.text) }
        if report.sockets.isEmpty { throw ExitCode(1) }
    }
}
