// Fuzz target for the /proc/net/{tcp,tcp6,udp,udp6} parser behind `bindcheck explain`.
// Any text parses without trapping; every socket it yields holds a real port.
import BindKit

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    for (transport, family) in [(Transport.tcp, AddressFamily.inet), (.tcp, .inet6), (.udp, .inet), (.udp, .inet6)] {
        for s in HostSocket.parse(text, transport: transport, family: family) {
            if s.local.port == 0 { fatalError("a socket on port 0") }
            if s.local.family != family { fatalError("family \(s.local.family) in a \(family) table") }
        }
    }
    return 0
}
