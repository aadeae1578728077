// The TCP server: bind, listen, accept, close.
//
//   TCPServer [ADDRESS:PORT]      (default 127.0.0.1:0: the kernel picks the port)
//
// It binds with SO_REUSEADDR (so a restart is not blocked by the last run's TIME_WAIT entries),
// listens, connects to itself as a client would, accepts that connection and closes everything.
import BindKit
import Foundation

let text = CommandLine.arguments.dropFirst().first ?? "127.0.0.1:0"
func run() throws {
    let address = try SocketAddress(parsing: text)
    let server = try Socket(family: address.family, transport: .tcp)
    try server.setReuseAddress(true)
    try server.bind(to: address)
    try server.listen(backlog: 16)
    let local = try server.localAddress
    print("listening on \(local)")

    let client = try Socket(family: address.family, transport: .tcp)
    try client.connect(to: local, timeout: .seconds(5))
    let accepted = try server.accept()
    print("accepted a connection from \(try accepted.remoteAddress)")
    try accepted.close()
    try client.close()
    try server.close()
    print("closed")
}

do { try run() } catch {
    print("TCPServer: \(error)")
    exit(1)
}
