import ArgumentParser
import BindConformance
import BindKit
import BindRules

struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Predict a bind in this network namespace (or another) and say why, naming the processes in the way.",
        discussion: """
            Reads the sockets on the port as the kernel lists them (sock_diag; every state, bound-only TCP \
            included), the processes that hold them (/proc/PID/fd) and their options (pidfd_getfd: \
            SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY, SO_BINDTODEVICE; the duplicate is closed at once), the \
            namespace's interfaces and sysctls and this process's credentials, and predicts the bind. Where an \
            option that matters cannot be read (another user's process, without root; a TIME_WAIT entry), the \
            answer says so: "certain": false, the outcome under the other values, and how to find out.

            Exit status: 0 the bind would succeed, 1 it would fail, 64 bad input, 66 --netns names no \
            namespace, 70 --try: the kernel disagreed with the prediction, 71 the namespace's facts could not \
            be read, 77 --netns needs privileges this process lacks.
            """)

    @Flag(help: "TCP (the default).") var tcp = false
    @Flag(help: "UDP.") var udp = false
    @Argument(help: "ADDR:PORT or [ADDR]:PORT.") var address: String
    @Flag(help: "Set SO_REUSEADDR.") var reuseaddr = false
    @Flag(help: "Set SO_REUSEPORT.") var reuseport = false
    @Flag(help: "Set IPV6_V6ONLY (inet6).") var v6only = false
    @Flag(name: .customLong("dual-stack"), help: "Clear IPV6_V6ONLY (inet6), whatever net.ipv6.bindv6only says.") var dualStack = false
    @Option(help: "SO_BINDTODEVICE interface.") var device: String?
    @Flag(help: "Also listen() after the bind (TCP).") var listen = false
    @Option(help: "The network namespace: a pid (its /proc/PID/ns/net) or a namespace file (/run/netns/NAME).") var netns: String?
    @Flag(help: "Print JSON.") var json = false
    @Flag(name: .customLong("try"), help: "Also bind for real, close at once, and show both.") var tryIt = false
    @Option(
        name: .customLong("kernel"),
        help: "The kernel release to answer for (6.1, 6.1.168, 5.10); default: the running kernel's.")
    var kernelRelease: String?

    func validate() throws {
        if tcp && udp { throw ValidationError("--tcp and --udp exclude each other") }
        if v6only && dualStack { throw ValidationError("--v6only and --dual-stack exclude each other") }
        if listen && udp { throw ValidationError("--listen is for TCP") }
        if let kernelRelease, KernelVersion(kernelRelease) == nil {
            throw ValidationError("--kernel wants a release such as 6.1 or 6.1.168, not \(kernelRelease)")
        }
        if let device, device.isEmpty || device.utf8.count > 15 { throw ValidationError("--device must name an interface (1 to 15 bytes)") }
    }

    func run() throws {
        let parsed: SocketAddress
        do { parsed = try SocketAddress(parsing: address) } catch { throw fail("\(error)", code: 64) }
        let live = try openNamespace(netns)
        var request = Explanation.Request(address: parsed, transport: udp ? .udp : .tcp)
        request.reuseaddr = reuseaddr
        request.reuseport = reuseport
        request.v6only = v6only ? true : dualStack ? false : nil
        request.device = device
        request.listen = listen
        request.kernelRelease = kernelRelease
        let e = Explanation(request, live: live, tryIt: tryIt)
        if json { try printJSON(e) } else { print(e.text) }
        if e.exitCode != 0 { throw ExitCode(e.exitCode) }
    }
}

/// The namespace of `--netns` (a pid or a namespace file), or this thread's; a failure is one
/// line on stderr and its exit status: 66 no such namespace, 77 not permitted, 64 not a network
/// namespace, 71 otherwise.
func openNamespace(_ netns: String?) throws -> LiveHost {
    do {
        guard let netns else { return try LiveHost.current() }
        if let pid = Int32(netns), pid > 0 { return try LiveHost.namespace(ofProcess: pid) }
        if netns.isEmpty || Int(netns) != nil { throw fail("--netns \(netns.debugDescription): a pid (> 0) or a namespace file", code: 64) }
        return try LiveHost.namespace(at: netns)
    } catch let e as LiveHostError {
        let code: Int32
        switch e {
        case .notFound: code = 66
        case .notPermitted: code = 77
        case .notANetworkNamespace: code = 64
        case .factsUnreadable, .failed: code = 71
        }
        throw fail("--netns: \(e)", code: code)
    }
}
