// The UDP server: bind and receive, without listen.
//
//   UDPServer [ADDRESS:PORT]      (default 127.0.0.1:0: the kernel picks the port)
//
// UDP has no connections: a bound socket receives every datagram sent to its address and port,
// and listen(2) is for stream sockets only (EOPNOTSUPP). The server answers each datagram to its
// sender with send(_:to:); here a client in the same program sends one and reads the answer.
import BindKit
import Foundation

let text = CommandLine.arguments.dropFirst().first ?? "127.0.0.1:0"

func run() throws {
    let address = try SocketAddress(parsing: text)
    let server = try Socket(family: address.family, transport: .udp)
    try server.bind(to: address)
    let local = try server.localAddress
    print("bound to \(local): receiving, no listen needed")
    do {
        try server.listen()
    } catch {
        print("listen on a UDP socket: \(error.errnoName)")
    }

    let client = try Socket(family: address.family, transport: .udp)
    try client.send(Array("ping".utf8), to: local)
    let (bytes, sender) = try server.receive(from: 2048, timeout: .seconds(5))
    guard let sender else { throw SocketError(errno: .invalidArgument, operation: "recvfrom") }
    print("received \"\(String(decoding: bytes, as: UTF8.self))\" from \(sender)")
    try server.send(Array("pong".utf8), to: sender)
    let answer = try client.receive(maxBytes: 2048, timeout: .seconds(5))
    print("the client got \"\(String(decoding: answer, as: UTF8.self))\" back")
}

do { try run() } catch {
    print("UDPServer: \(error)")
    exit(1)
}
