// Fuzz target for the sock_diag reply parser behind the live host's socket listing: any bytes
// (a reply datagram) parse without trapping; every socket they yield holds a real port of its
// own family, and a refusal points inside the datagram.
import BindKit

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buffer = UnsafeRawBufferPointer(start: data, count: size)
    // The first message's sequence, so that its messages count as the dump's.
    var sequence: UInt32 = 0
    if size >= 12 { sequence = buffer.loadUnaligned(fromByteOffset: 8, as: UInt32.self) }
    for transport in [Transport.tcp, .udp] {
        var sockets: [HostSocket] = []
        switch SockDiagReply.parse(buffer, sequence: sequence, transport: transport, into: &sockets) {
        case .failure(.malformed(let offset, _)) where offset < 0 || offset > size: fatalError("offset \(offset) outside \(size) bytes")
        default: break
        }
        for s in sockets {
            if s.local.port == 0 { fatalError("a socket on port 0") }
            if s.local.family != s.family || (s.remote.map { $0.family != s.family } ?? false) { fatalError("family mismatch") }
            if s.transport != transport || s.source != .sockDiag { fatalError("transport or source") }
        }
    }
    return 0
}
