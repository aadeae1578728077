// A client that binds before it connects: it chooses its own source address and port.
//
//   BindBeforeConnect [SOURCE-ADDRESS]    (default 127.0.0.2)
//
// Without a bind, connect(2) picks the source address by the route and a port from
// net.ipv4.ip_local_port_range. A bind first fixes both: the server sees the connection come from
// the address the client chose (here 127.0.0.2, which lo holds as part of 127.0.0.0/8).
import BindKit
import Foundation

let source = CommandLine.arguments.dropFirst().first ?? "127.0.0.2"
func run() throws {
    let server = try Socket(family: .inet, transport: .tcp)
    try server.bind(to: SocketAddress(parsing: "127.0.0.1:0"))
    try server.listen()
    let target = try server.localAddress
    print("server listening on \(target)")

    let plain = try Socket(family: .inet, transport: .tcp)
    try plain.connect(to: target, timeout: .seconds(5))
    print("without bind: the client is \(try plain.localAddress) (chosen by the kernel)")
    _ = try server.accept()

    let client = try Socket(family: .inet, transport: .tcp)
    try client.bind(to: SocketAddress(parsing: "\(source):0"))
    print("client bound to \(try client.localAddress) before connecting")
    try client.connect(to: target, timeout: .seconds(5))
    let accepted = try server.accept()
    print("the server sees the connection from \(try accepted.remoteAddress)")
}

do { try run() } catch {
    print("BindBeforeConnect: \(error)")
    exit(1)
}
