// Fuzz target for sockaddr decoding from raw bytes through the C shim: any family, any length.
// What decodes encodes back to bytes that decode to the same address.
import BindKit

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let a: SocketAddress
    do { a = try SocketAddress(sockaddr: bytes) } catch {
        let name = error.errnoName
        if name != "EINVAL" && name != "EAFNOSUPPORT" { fatalError("unexpected errno \(name)") }
        return 0
    }
    let encoded = a.sockaddrBytes
    guard let b = try? SocketAddress(sockaddr: encoded) else { fatalError("re-encoded \(a) does not decode") }
    if a != b { fatalError("round trip: \(a) → \(b)") }
    _ = a.description
    return 0
}
