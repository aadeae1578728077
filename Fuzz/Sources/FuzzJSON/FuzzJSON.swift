// Fuzz target for the strict JSON parser of scenario files: no trap on any bytes (deep nesting,
// bad UTF-8, huge numbers); what parses serializes to text that parses to the same value.
import BindConformance

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let value = try? JSONValue(parsing: bytes) else { return 0 }
    for style in [JSONStyle.compact, .pretty(indent: 2, inlineDepth: 3)] {
        let text = value.serialized(style)
        guard let again = try? JSONValue(parsing: Array(text.utf8)) else { fatalError("serialized JSON does not parse: \(text)") }
        if again != value { fatalError("round trip changed the value: \(text)") }
    }
    return 0
}
