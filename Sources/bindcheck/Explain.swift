import ArgumentParser
import BindConformance
import BindKit
import BindRules

struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Predict a bind on this host (its interfaces, sysctls, sockets and this process's capabilities) and say why.")

    @Flag(help: "TCP (the default).") var tcp = false
    @Flag(help: "UDP.") var udp = false
    @Argument(help: "ADDR:PORT or [ADDR]:PORT.") var address: String
    @Flag(help: "Set SO_REUSEADDR.") var reuseaddr = false
    @Flag(help: "Set SO_REUSEPORT.") var reuseport = false
    @Flag(help: "Set IPV6_V6ONLY (inet6).") var v6only = false
    @Option(help: "SO_BINDTODEVICE interface.") var device: String?
    @Flag(help: "Print JSON.") var json = false
    @Flag(name: .customLong("try"), help: "Also bind for real, close at once, and show both.") var tryIt = false
    @Option(
        name: .customLong("kernel"),
        help: "The kernel release to answer for (6.1, 6.1.168, 5.10); default: the running kernel's.")
    var kernelRelease: String?

    func validate() throws {
        if tcp && udp { throw ValidationError("--tcp and --udp exclude each other") }
        if let kernelRelease, KernelVersion(kernelRelease) == nil {
            throw ValidationError("--kernel wants a release such as 6.1 or 6.1.168, not \(kernelRelease)")
        }
        if let device, device.isEmpty || device.utf8.count > 15 { throw ValidationError("--device must name an interface (1 to 15 bytes)") }
    }

    func run() throws {
        let parsed: SocketAddress
        do { parsed = try SocketAddress(parsing: address) } catch { throw fail("\(error)", code: 64) }
        var facts: HostFacts
        do { facts = try HostFacts.current() } catch { throw fail("cannot read this host's facts: \(error)", code: 71) }
        // The model reads the kernel's version from the facts: --kernel stands in for it.
        if let kernelRelease { (facts.kernelRelease, facts.kernelBuild) = (kernelRelease, nil) }
        var request = Explanation.Request(address: parsed, transport: udp ? .udp : .tcp)
        request.reuseaddr = reuseaddr
        request.reuseport = reuseport
        request.v6only = v6only ? true : nil
        request.device = device
        let e = Explanation(request, facts: facts, hostSockets: HostSocket.current(), tryIt: tryIt)
        if json { try printJSON(e) } else { print(e.text) }
    }
}
