// Two listeners sharing one port with SO_REUSEPORT, and a third that may not.
//
//   ReusePortListeners [ADDRESS:PORT]    (default 127.0.0.1:0)
//
// Both sockets set SO_REUSEPORT before bind and are created by the same user: both bind and
// both listen, and the kernel spreads incoming connections between them. A socket without the
// option gets EADDRINUSE, as SO_REUSEPORT is shared only among sockets that all set it.
import BindKit
import Foundation

let text = CommandLine.arguments.dropFirst().first ?? "127.0.0.1:0"
func run() throws {
    let requested = try SocketAddress(parsing: text)
    let first = try Socket(family: requested.family, transport: .tcp)
    try first.setReusePort(true)
    try first.bind(to: requested)
    try first.listen()
    let shared = try first.localAddress
    print("first listener on \(shared) (SO_REUSEPORT)")

    let second = try Socket(family: requested.family, transport: .tcp)
    try second.setReusePort(true)
    try second.bind(to: shared)
    try second.listen()
    print("second listener on \(try second.localAddress) (SO_REUSEPORT): shares the port")

    let third = try Socket(family: requested.family, transport: .tcp)
    do {
        try third.bind(to: shared)
        print("third socket without SO_REUSEPORT: bound (unexpected)")
        exit(1)
    } catch {
        print("third socket without SO_REUSEPORT: \(error.errnoName)")
    }
}

do { try run() } catch {
    print("ReusePortListeners: \(error)")
    exit(1)
}
