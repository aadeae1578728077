// 127.0.0.2 and the wildcard on one port.
//
//   LoopbackAndWildcard [PORT]    (default 0: the kernel picks)
//
// The whole of 127.0.0.0/8 is this host's (lo holds 127.0.0.1/8), so 127.0.0.2 binds without
// being configured anywhere. 0.0.0.0 on the same port covers 127.0.0.2 too: without options the
// wildcard is refused (EADDRINUSE); with SO_REUSEADDR on both and neither listening, both bind.
// 127.0.0.1 on the same port is a different address and binds.
import BindKit
import Foundation

let port = CommandLine.arguments.dropFirst().first.flatMap(UInt16.init) ?? 0
func run() throws {
    let two = try Socket(family: .inet, transport: .tcp)
    try two.bind(to: SocketAddress(parsing: "127.0.0.2:\(port)"))
    let p = try two.localPort
    print("127.0.0.2:\(p): bound")

    let one = try Socket(family: .inet, transport: .tcp)
    try one.bind(to: SocketAddress(parsing: "127.0.0.1:\(p)"))
    print("127.0.0.1:\(p): bound (another address, the same port)")

    let wildcard = try Socket(family: .inet, transport: .tcp)
    do {
        try wildcard.bind(to: SocketAddress(parsing: "0.0.0.0:\(p)"))
        print("0.0.0.0:\(p): bound (unexpected)")
        exit(1)
    } catch let error as SocketError {
        print("0.0.0.0:\(p): \(error.errnoName): the wildcard covers 127.0.0.2 and 127.0.0.1")
    }
    try one.close()
    try two.close()

    // Both with SO_REUSEADDR, neither listening: they may share.
    let a = try Socket(family: .inet, transport: .tcp)
    try a.setReuseAddress(true)
    try a.bind(to: SocketAddress(parsing: "127.0.0.2:\(p)"))
    let b = try Socket(family: .inet, transport: .tcp)
    try b.setReuseAddress(true)
    try b.bind(to: SocketAddress(parsing: "0.0.0.0:\(p)"))
    print("with SO_REUSEADDR on both: 127.0.0.2:\(p) and 0.0.0.0:\(p) bound")
    try a.listen()
    do {
        try b.listen()
        print("the second listen: ok (unexpected)")
        exit(1)
    } catch {
        print("the first listens; the second listen: \(error.errnoName)")
    }
}

do { try run() } catch {
    print("LoopbackAndWildcard: \(error)")
    exit(1)
}
