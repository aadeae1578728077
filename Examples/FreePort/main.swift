// A free port that stays free for you: bind port 0, read the port back, keep the socket.
//
//   FreePort
//
// "Is port N free?" answered by binding and closing a test socket is out of date at once:
// another process can take the port before the real bind (and Socket.findFreePort has the same
// gap). Binding port 0 lets the kernel pick a free port atomically, and the bound socket keeps
// it: listen on that very socket (or hand it over) instead of binding again.
import BindKit
import Foundation

func run() throws {
    let server = try Socket(family: .inet, transport: .tcp)
    try server.bind(to: SocketAddress(parsing: "127.0.0.1:0"))
    let port = try server.localPort
    print("the kernel picked port \(port); this socket holds it")

    // Someone else trying for the same port meanwhile is refused: nothing raced.
    let other = try Socket(family: .inet, transport: .tcp)
    do {
        try other.bind(to: SocketAddress(parsing: "127.0.0.1:\(port)"))
        print("another socket took it (unexpected)")
        exit(1)
    } catch let error as SocketError {
        print("another socket binding 127.0.0.1:\(port): \(error.errnoName)")
    }
    try server.listen()
    print("listening on \(try server.localAddress) with the socket that found the port")
}

do { try run() } catch {
    print("FreePort: \(error)")
    exit(1)
}
