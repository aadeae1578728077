// A TCP server on SwiftNIO that says why its port cannot be had, naming the process that holds it.
//
//   NIOServer [--host 127.0.0.1] [--port 8080] [--seconds N] [--no-preflight]
//
// With the pre-flight (the default) BindKit's model answers against the live host before NIO
// binds; with --no-preflight NIO binds and its IOError (errno 98) is explained after the fact.
// Either way a held port prints the explanation and exits 1. Once bound it answers every
// connection with one line and closes it, for --seconds (default: until killed).
import BindKit
import BindKitNIO
import Foundation
import NIOCore
import NIOPosix

final class Hello: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelActive(context: ChannelHandlerContext) {
        let line = context.channel.allocator.buffer(string: "hello from NIOServer\n")
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(line)).whenComplete { _ in bound.value.close(promise: nil) }
    }
}

/// One line on standard output, unbuffered (the test reads it while the server runs).
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

var host = "127.0.0.1"
var port = 8080
var seconds: Int?
var preflight = true
var arguments = CommandLine.arguments.dropFirst()
while let a = arguments.popFirst() {
    switch a {
    case "--host": host = arguments.popFirst() ?? host
    case "--port": port = arguments.popFirst().flatMap(Int.init) ?? port
    case "--seconds": seconds = arguments.popFirst().flatMap(Int.init)
    case "--no-preflight": preflight = false
    default:
        FileHandle.standardError.write(Data("NIOServer: unknown argument \(a)\n".utf8))
        exit(64)
    }
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let options = BindOptions(reuseAddress: true)
let bootstrap = ServerBootstrap(group: group)
    .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
    .childChannelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Hello()) }
    }

let address = try NIOCore.SocketAddress(ipAddress: host, port: port)
let channel: Channel
do {
    if preflight {
        channel = try await bootstrap.bind(checking: address, options: options)
    } else {
        do { channel = try await bootstrap.bind(to: address).get() } catch {
            throw BindPreflight.explain(error, binding: try BindKit.SocketAddress(address), transport: .tcp, options: options) ?? error
        }
    }
} catch let verdict as BindVerdict {
    say(preflight ? "NIOServer: not binding (BindKit's pre-flight):" : "NIOServer: NIO's bind failed:")
    say("\(verdict)")
    try await group.shutdownGracefully()
    exit(1)
}
say("NIOServer: listening on \(channel.localAddress.map { "\($0)" } ?? "?")")
if let seconds {
    try await Task.sleep(for: .seconds(seconds))
    try await channel.close().get()
} else {
    try await channel.closeFuture.get()
}
try await group.shutdownGracefully()
