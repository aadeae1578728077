// Text forms, byte for byte what glibc's inet_ntop writes (resolv/inet_ntop.c).

/// Writes ASCII into a buffer the caller sized (bytes past its end are dropped).
struct TextWriter {
    let buffer: UnsafeMutableBufferPointer<UInt8>
    var count = 0

    init(_ buffer: UnsafeMutableBufferPointer<UInt8>) { self.buffer = buffer }

    @inline(__always) mutating func byte(_ b: UInt8) {
        guard count < buffer.count else { return }
        buffer[count] = b
        count += 1
    }

    /// A number in decimal, no leading zeros.
    mutating func decimal(_ value: UInt32) {
        var divisor: UInt32 = 1
        while value / divisor >= 10 { divisor *= 10 }
        var rest = value
        while true {
            byte(ASCII.zero &+ UInt8(truncatingIfNeeded: rest / divisor))
            rest %= divisor
            if divisor == 1 { return }
            divisor /= 10
        }
    }

    /// A 16-bit group in lowercase hex, no leading zeros (`%x`).
    mutating func hex(_ value: UInt16) {
        var shift = 12
        while shift > 0 && (value >> UInt16(shift)) == 0 { shift -= 4 }
        while shift >= 0 {
            let d = UInt8(truncatingIfNeeded: value >> UInt16(shift)) & 0xF
            byte(d < 10 ? ASCII.zero &+ d : 0x61 &+ d &- 10)
            shift -= 4
        }
    }

    /// `a.b.c.d`, as `inet_ntop4` writes it.
    mutating func ipv4(_ value: UInt32) {
        decimal(value >> 24)
        byte(ASCII.dot)
        decimal(value >> 16 & 0xFF)
        byte(ASCII.dot)
        decimal(value >> 8 & 0xFF)
        byte(ASCII.dot)
        decimal(value & 0xFF)
    }

    /// The text of an IPv6 address without zone, as `inet_ntop6` writes it: lowercase
    /// hex groups without leading zeros, the first longest run of two or more zero groups
    /// as "::", and a dotted-quad tail for `::ffff:a.b.c.d` and for `::a.b.c.d` when the
    /// first six groups are zero and the seventh is not.
    mutating func ipv6(high: UInt64, low: UInt64) {
        @inline(__always) func word(_ i: Int) -> UInt16 {
            UInt16(truncatingIfNeeded: (i < 4 ? high : low) >> UInt64(48 - 16 * (i & 3)))
        }
        // The first longest run of zero groups.
        var bestBase = -1
        var bestLength = 0
        var runBase = -1
        var runLength = 0
        for i in 0..<8 {
            if word(i) == 0 {
                if runBase == -1 {
                    runBase = i
                    runLength = 1
                } else {
                    runLength += 1
                }
            } else if runBase != -1 {
                if bestBase == -1 || runLength > bestLength {
                    bestBase = runBase
                    bestLength = runLength
                }
                runBase = -1
            }
        }
        if runBase != -1 && (bestBase == -1 || runLength > bestLength) {
            bestBase = runBase
            bestLength = runLength
        }
        if bestBase != -1 && bestLength < 2 { bestBase = -1 }

        for i in 0..<8 {
            if bestBase != -1 && i >= bestBase && i < bestBase + bestLength {
                if i == bestBase { byte(ASCII.colon) }
                continue
            }
            if i != 0 { byte(ASCII.colon) }
            if i == 6 && bestBase == 0 && (bestLength == 6 || (bestLength == 5 && word(5) == 0xFFFF)) {
                ipv4(UInt32(truncatingIfNeeded: low))
                return
            }
            hex(word(i))
        }
        if bestBase != -1 && bestBase + bestLength == 8 { byte(ASCII.colon) }
    }
}

/// A string of at most `capacity` bytes written by `body`.
@inline(__always)
func makeString(capacity: Int, _ body: (inout TextWriter) -> Void) -> String {
    String(unsafeUninitializedCapacity: capacity) { buffer in
        var writer = TextWriter(buffer)
        body(&writer)
        return writer.count
    }
}

/// The longest text of an IPv6 address without zone:
/// "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" (45 bytes).
let maxIPv6TextLength = 45
