// A multicast receiver: bind the group's port, join the group on an interface, receive.
//
//   MulticastReceiver [GROUP] [INTERFACE]     (default 239.255.0.1 on lo)
//
// Binding does not subscribe: the socket binds the wildcard (or the group) at the group's port,
// and IP_ADD_MEMBERSHIP (IPV6_JOIN_GROUP for an IPv6 group) tells the interface to take the
// group's datagrams. Before the join nothing arrives; after the leave nothing arrives again. The
// sender here is in the same program, bound to the interface so that the datagram leaves by it.
import BindKit
import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())
let groupText = arguments.first ?? "239.255.0.1"
let interfaceName = arguments.count > 1 ? arguments[1] : "lo"

/// One datagram within half a second, or nil.
func receiveOne(_ socket: borrowing Socket) throws -> String? {
    do {
        return String(decoding: try socket.receive(maxBytes: 2048, timeout: .milliseconds(500)), as: UTF8.self)
    } catch  where error.errno == .resourceTemporarilyUnavailable {
        return nil
    }
}

func run() throws {
    let group = try IPAddress(parsing: groupText)
    let index = try Interface.index(named: interfaceName)
    let receiver = try Socket(family: group.family, transport: .udp)
    try receiver.setReuseAddress(true)  // other receivers of the group may share the port
    try receiver.bind(to: SocketAddress(ip: group.family == .inet ? .v4(.any) : .v6(.any), port: 0))
    let port = try receiver.localPort
    let target = SocketAddress(ip: group, port: port)
    let sender = try Socket(family: group.family, transport: .udp)
    try sender.setBindToDevice(interfaceName)

    try sender.send(Array("before the join".utf8), to: target)
    print("before joining \(group) on \(interfaceName): \(try receiveOne(receiver) ?? "nothing arrives")")
    try receiver.joinMulticastGroup(group, interfaceIndex: index)
    try sender.send(Array("hello, group".utf8), to: target)
    print("joined \(group) on \(interfaceName) (index \(index)): received \"\(try receiveOne(receiver) ?? "nothing")\"")
    try receiver.leaveMulticastGroup(group, interfaceIndex: index)
    try sender.send(Array("after the leave".utf8), to: target)
    print("after leaving: \(try receiveOne(receiver) ?? "nothing arrives")")
}

do { try run() } catch {
    print("MulticastReceiver: \(error)")
    exit(1)
}
