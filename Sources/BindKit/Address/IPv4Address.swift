/// An IPv4 address.
///
/// ``rawValue`` is in host byte order: `1.2.3.4` is `0x01020304`. The text form is the
/// dotted quad glibc's `inet_ntop(AF_INET, …)` writes, and it is how the address is
/// encoded by `Codable`.
///
/// Two parsers: ``init(parsing:)`` takes exactly what `inet_pton(AF_INET, …)` takes
/// (four decimal octets, no leading zeros), ``parseLegacy(_:)`` exactly what `inet_aton`
/// takes (`127.1`, `0x7f000001`, `0177.0.0.1`, `2130706433`).
public struct IPv4Address: Hashable, Sendable, Comparable, Codable, CustomStringConvertible,
    LosslessStringConvertible
{
    /// The address in host byte order: `1.2.3.4` is `0x01020304`.
    public let rawValue: UInt32

    public init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    /// The address `a.b.c.d`.
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        rawValue = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// The address from its four bytes in network order, or `nil` unless there are exactly 4.
    public init?(bytes: some Collection<UInt8>) {
        var value: UInt32 = 0
        var count = 0
        for byte in bytes {
            guard count < 4 else { return nil }
            value = value << 8 | UInt32(byte)
            count += 1
        }
        guard count == 4 else { return nil }
        rawValue = value
    }

    /// The four bytes in network order.
    public var bytes: [UInt8] {
        [
            UInt8(truncatingIfNeeded: rawValue >> 24), UInt8(truncatingIfNeeded: rawValue >> 16),
            UInt8(truncatingIfNeeded: rawValue >> 8), UInt8(truncatingIfNeeded: rawValue),
        ]
    }

    /// Parses the strict dotted quad: exactly what glibc `inet_pton(AF_INET, …)` accepts.
    /// Four decimal octets 0-255, no leading zeros, nothing before or after.
    /// The corresponding C function is inet_pton(3).
    @inlinable
    public init(parsing string: borrowing String) throws(AddressParseError) {
        guard let value = withFastPath(string, decodeIPv4) else {
            rawValue = try Self.decodeSlowly(copy string)
            return
        }
        rawValue = value
    }

    @usableFromInline @inline(never)
    static func decodeSlowly(_ string: consuming String) throws(AddressParseError) -> UInt32 {
        try BindKit.decodeSlowly(string, .ipv4, decodeIPv4)
    }

    /// The strict parse (``init(parsing:)``), or `nil`; without an error to build, a
    /// refusal costs only the decoding.
    @inlinable
    public init?(_ description: String) {
        guard let value = decodeOrNil(description, decodeIPv4) else { return nil }
        rawValue = value
    }

    /// Parses any form glibc `inet_aton` accepts: one to four parts separated by dots,
    /// each decimal, octal (leading `0`) or hex (`0x`), the last part filling the bytes
    /// left (`127.1` is 127.0.0.1, `0x7f000001` too), and, as inet_aton does, ignores
    /// everything after an ASCII whitespace character that follows the address
    /// (`"1.2.3.4 junk"` is 1.2.3.4).
    ///
    /// A NUL byte right after the address is refused, where C would stop reading at it.
    /// The corresponding C function is inet_aton(3).
    @inlinable
    public static func parseLegacy(_ string: borrowing String) throws(AddressParseError) -> IPv4Address {
        // What the strict form accepts, inet_aton accepts with the same value.
        if let value = withFastPath(string, decodeIPv4) { return IPv4Address(rawValue: value) }
        return IPv4Address(rawValue: try parseLegacySlowly(copy string))
    }

    @usableFromInline
    static func parseLegacySlowly(_ string: String) throws(AddressParseError) -> UInt32 {
        try parseSlowly(string, .ipv4Legacy) { p throws(ParseFailure) in try parseIPv4Legacy(p, from: 0, to: p.count) }
    }

    /// `0.0.0.0` (INADDR_ANY).
    public static let any = IPv4Address(rawValue: 0)
    /// `127.0.0.1` (INADDR_LOOPBACK).
    public static let loopback = IPv4Address(127, 0, 0, 1)
    /// `255.255.255.255` (INADDR_BROADCAST).
    public static let limitedBroadcast = IPv4Address(rawValue: .max)

    /// `0.0.0.0`.
    public var isUnspecified: Bool { rawValue == 0 }
    /// In 127.0.0.0/8.
    public var isLoopback: Bool { rawValue >> 24 == 127 }
    /// In 169.254.0.0/16.
    public var isLinkLocal: Bool { rawValue >> 16 == 0xA9FE }
    /// In 224.0.0.0/4.
    public var isMulticast: Bool { rawValue >> 28 == 0xE }
    /// `255.255.255.255`.
    public var isLimitedBroadcast: Bool { rawValue == .max }
    /// In 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 (RFC 1918).
    public var isPrivate: Bool {
        rawValue >> 24 == 10 || rawValue >> 20 == 0xAC1 || rawValue >> 16 == 0xC0A8
    }
    /// In 192.0.2.0/24, 198.51.100.0/24 or 203.0.113.0/24 (RFC 5737).
    public var isDocumentation: Bool {
        let network = rawValue >> 8
        return network == 0xC00002 || network == 0xC63364 || network == 0xCB0071
    }

    /// The netmask of a prefix length; lengths are clamped to 0...32.
    static func mask(prefixLength: Int) -> UInt32 {
        let length = min(max(prefixLength, 0), 32)
        return length == 0 ? 0 : UInt32.max << (32 - length)
    }

    /// Whether this address is in `network/prefixLength` (the host bits of `network` are
    /// ignored). `prefixLength` is clamped to 0...32: 0 holds every address.
    public func isInSubnet(_ network: IPv4Address, prefixLength: Int) -> Bool {
        let mask = Self.mask(prefixLength: prefixLength)
        return rawValue & mask == network.rawValue & mask
    }

    /// This address with all host bits of `/prefixLength` cleared (the network address).
    /// `prefixLength` is clamped to 0...32.
    public func masked(prefixLength: Int) -> IPv4Address {
        IPv4Address(rawValue: rawValue & Self.mask(prefixLength: prefixLength))
    }

    /// This address with all host bits of `/prefixLength` set (the subnet's broadcast
    /// address). `prefixLength` is clamped to 0...32.
    public func broadcast(prefixLength: Int) -> IPv4Address {
        IPv4Address(rawValue: rawValue | ~Self.mask(prefixLength: prefixLength))
    }

    /// The dotted quad, as `inet_ntop(AF_INET, …)` writes it.
    public var description: String {
        makeString(capacity: 15) { $0.ipv4(rawValue) }
    }

    public static func < (lhs: IPv4Address, rhs: IPv4Address) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    /// Decodes the strict text form.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            self = try IPv4Address(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    /// Encodes the text form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
