import CBindShim

/// glibc's own answers, through the shim: the oracle the address parsers and formatters
/// are tested against. The strings passed here never hold a NUL byte (C would stop there).
enum COracle {
    /// inet_pton(AF_INET, …): the 4 bytes, or nil.
    static func pton4(_ text: String) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: 4)
        let ok = text.withCString { s in out.withUnsafeMutableBufferPointer { bk_inet_pton4(s, $0.baseAddress) } }
        return ok == 1 ? out : nil
    }

    /// inet_pton(AF_INET6, …): the 16 bytes, or nil.
    static func pton6(_ text: String) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: 16)
        let ok = text.withCString { s in out.withUnsafeMutableBufferPointer { bk_inet_pton6(s, $0.baseAddress) } }
        return ok == 1 ? out : nil
    }

    /// inet_aton: the 4 bytes, or nil.
    static func aton(_ text: String) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: 4)
        let ok = text.withCString { s in out.withUnsafeMutableBufferPointer { bk_inet_aton(s, $0.baseAddress) } }
        return ok == 1 ? out : nil
    }

    /// inet_ntop(AF_INET, …).
    static func ntop4(_ bytes: [UInt8]) -> String? {
        ntop(bytes, count: 4, bk_inet_ntop4)
    }

    /// inet_ntop(AF_INET6, …).
    static func ntop6(_ bytes: [UInt8]) -> String? {
        ntop(bytes, count: 16, bk_inet_ntop6)
    }

    private static func ntop(
        _ bytes: [UInt8], count: Int,
        _ function: (UnsafePointer<UInt8>?, UnsafeMutablePointer<CChar>?, Int) -> Int32
    ) -> String? {
        guard bytes.count == count else { return nil }
        var buffer = [CChar](repeating: 0, count: 64)
        let length = bytes.withUnsafeBufferPointer { input in
            buffer.withUnsafeMutableBufferPointer { function(input.baseAddress, $0.baseAddress, $0.count) }
        }
        guard length >= 0 else { return nil }
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
