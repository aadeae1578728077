// [::] with and without IPV6_V6ONLY, and 0.0.0.0 on the same port.
//
//   DualStack [PORT]    (default 0: the kernel picks)
//
// A dual-stack [::] (IPV6_V6ONLY off, the default where net.ipv6.bindv6only is 0) takes every
// IPv4 address of the port too, so 0.0.0.0 fails with EADDRINUSE; with IPV6_V6ONLY on, [::]
// takes IPv6 alone and 0.0.0.0 binds beside it.
import BindKit
import Foundation

let requested = CommandLine.arguments.dropFirst().first.flatMap(UInt16.init) ?? 0
func run() throws {
    for v6only in [false, true] {
        let six = try Socket(family: .inet6, transport: .tcp)
        try six.setV6Only(v6only)
        try six.bind(to: SocketAddress(parsing: "[::]:\(requested)"))
        try six.listen()
        let port = try six.localPort
        print("[::]:\(port) IPV6_V6ONLY=\(v6only ? 1 : 0): listening")
        let four = try Socket(family: .inet, transport: .tcp)
        do {
            try four.bind(to: SocketAddress(parsing: "0.0.0.0:\(port)"))
            print("  0.0.0.0:\(port): bound beside it")
        } catch let error as SocketError {
            print("  0.0.0.0:\(port): \(error.errnoName) (the dual-stack [::] holds IPv4 too)")
        }
    }
}

do { try run() } catch {
    print("DualStack: \(error)")
    exit(1)
}
