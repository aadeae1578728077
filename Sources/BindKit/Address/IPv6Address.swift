/// The zone of a scoped IPv6 address: the part after "%" in `fe80::1%eth0`.
///
/// An all-digit zone is an interface index (`%3`), anything else an interface name.
/// ``description`` is the zone without the "%" (`eth0`, `3`); `Codable` uses that text.
public enum IPv6Zone: Hashable, Sendable, Codable, CustomStringConvertible {
    /// An interface name (1 to 15 bytes when parsed).
    case name(String)
    /// An interface index (what `sin6_scope_id` holds).
    case index(UInt32)

    /// Parses a zone without its "%": all digits is an index (at most 4294967295),
    /// anything else a name of 1 to 15 bytes without whitespace, control characters,
    /// '%', '/', ':', '[' or ']', and not "." or "..".
    public init(parsing string: String) throws(AddressParseError) {
        guard !string.isEmpty else {
            throw AddressParseError(input: string, position: nil, problem: "zone is empty")
        }
        let storage = try parseSlowly(string, .zone) { p throws(ParseFailure) in try parseZone(p, from: 0, to: p.count) }
        self = storage.zone ?? .name(string)  // parseZone always makes a zone
    }

    /// The zone without "%": `eth0` or `3`.
    public var description: String {
        switch self {
        case .name(let name): name
        case .index(let index): String(index)
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            self = try IPv6Zone(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// The scope of an IPv6 multicast address: the low 4 bits of its second byte (RFC 4291,
/// RFC 7346). The raw value is that field.
///
/// Field values 0 and 15 are both reserved and read as ``reserved``; the unassigned
/// values (6, 7, 9-13) read as ``unassigned``, whose raw value -1 is not a field value.
public enum MulticastScope: Int, Sendable, Codable, Hashable, CaseIterable {
    /// 0 or 15: reserved.
    case reserved = 0
    /// 1: interface-local (loopback only).
    case interfaceLocal = 1
    /// 2: link-local.
    case linkLocal = 2
    /// 3: realm-local.
    case realmLocal = 3
    /// 4: admin-local.
    case adminLocal = 4
    /// 5: site-local.
    case siteLocal = 5
    /// 8: organization-local.
    case organizationLocal = 8
    /// 14: global.
    case global = 14
    /// 6, 7, 9, 10, 11, 12, 13: not assigned.
    case unassigned = -1

    /// The scope for a 4-bit scope field (only the low 4 bits of `field` are used).
    public init(scopeField field: UInt8) {
        switch field & 0xF {
        case 0, 15: self = .reserved
        case 1: self = .interfaceLocal
        case 2: self = .linkLocal
        case 3: self = .realmLocal
        case 4: self = .adminLocal
        case 5: self = .siteLocal
        case 8: self = .organizationLocal
        case 14: self = .global
        default: self = .unassigned
        }
    }
}

/// An IPv6 address, with an optional zone.
///
/// ``high`` holds bytes 0-7 (network order: byte 0 in the top bits), ``low`` bytes 8-15.
/// The text form is exactly what glibc `inet_ntop(AF_INET6, …)` writes (RFC 5952, with
/// glibc's dotted-quad tails), followed by "%zone" when there is a zone; `Codable` uses it.
///
/// Two addresses that differ only in their zone are different values.
public struct IPv6Address: Hashable, Sendable, Comparable, Codable, CustomStringConvertible,
    LosslessStringConvertible
{
    /// Bytes 0-7, byte 0 in the top 8 bits.
    public let high: UInt64
    /// Bytes 8-15, byte 8 in the top 8 bits.
    public let low: UInt64
    @usableFromInline var zoneStorage: ZoneStorage

    /// The zone ("%eth0", "%3"), if any.
    public var zone: IPv6Zone? {
        get { zoneStorage.zone }
        set { zoneStorage = ZoneStorage(newValue) }
    }

    public init(high: UInt64, low: UInt64, zone: IPv6Zone? = nil) {
        self.high = high
        self.low = low
        self.zoneStorage = ZoneStorage(zone)
    }

    @inlinable
    init(bits: UInt128, zone: ZoneStorage) {
        high = UInt64(truncatingIfNeeded: bits >> 64)
        low = UInt64(truncatingIfNeeded: bits)
        zoneStorage = zone
    }

    /// The address from its 16 bytes in network order (no zone), or `nil` unless there
    /// are exactly 16.
    public init?(bytes: some Collection<UInt8>) {
        var high: UInt64 = 0
        var low: UInt64 = 0
        var count = 0
        for byte in bytes {
            guard count < 16 else { return nil }
            if count < 8 {
                high = high << 8 | UInt64(byte)
            } else {
                low = low << 8 | UInt64(byte)
            }
            count += 1
        }
        guard count == 16 else { return nil }
        self.init(high: high, low: low)
    }

    /// The 16 bytes in network order.
    public var bytes: [UInt8] {
        (0..<16).map { i in
            UInt8(truncatingIfNeeded: (i < 8 ? high : low) >> UInt64(56 - 8 * (i & 7)))
        }
    }

    /// Parses exactly what glibc `inet_pton(AF_INET6, …)` accepts, optionally followed by
    /// "%zone": an interface index (all digits) or name (1 to 15 bytes; no whitespace,
    /// control characters, '%', '/', ':', '[' or ']').
    /// The corresponding C function is inet_pton(3).
    @inlinable
    public init(parsing string: borrowing String) throws(AddressParseError) {
        guard let address = withFastPath(string, decodeIPv6Address) else {
            self = try Self.decodeSlowly(copy string)
            return
        }
        self = address
    }

    @usableFromInline @inline(never)
    static func decodeSlowly(_ string: consuming String) throws(AddressParseError) -> IPv6Address {
        try BindKit.decodeSlowly(string, .ipv6, decodeIPv6Address)
    }

    /// The strict parse (``init(parsing:)``), or `nil`; without an error to build, a
    /// refusal costs only the decoding.
    @inlinable
    public init?(_ description: String) {
        guard let address = decodeOrNil(description, decodeIPv6Address) else { return nil }
        self = address
    }

    /// `::`.
    public static let any = IPv6Address(high: 0, low: 0)
    /// `::1`.
    public static let loopback = IPv6Address(high: 0, low: 1)

    /// `::` (whatever the zone).
    public var isUnspecified: Bool { high == 0 && low == 0 }
    /// `::1` (whatever the zone).
    public var isLoopback: Bool { high == 0 && low == 1 }
    /// In fe80::/10.
    public var isLinkLocal: Bool { high >> 54 == 0x3FA }
    /// In ff00::/8.
    public var isMulticast: Bool { high >> 56 == 0xFF }
    /// In ::ffff:0:0/96 (an IPv4 address mapped into IPv6).
    public var isV4Mapped: Bool { high == 0 && low >> 32 == 0xFFFF }
    /// In fc00::/7 (unique local, RFC 4193).
    public var isUniqueLocal: Bool { high >> 57 == 0x7E }
    /// In 2001:db8::/32 (RFC 3849).
    public var isDocumentation: Bool { high >> 32 == 0x2001_0DB8 }

    /// The scope of a multicast address, `nil` for any other.
    public var multicastScope: MulticastScope? {
        isMulticast ? MulticastScope(scopeField: UInt8(truncatingIfNeeded: high >> 48)) : nil
    }

    /// The IPv4 address inside `::ffff:a.b.c.d`, `nil` for any other address.
    public var v4Mapped: IPv4Address? {
        isV4Mapped ? IPv4Address(rawValue: UInt32(truncatingIfNeeded: low)) : nil
    }

    /// `::ffff:a.b.c.d`, the IPv4-mapped form of `address`.
    public init(v4Mapped address: IPv4Address) {
        self.init(high: 0, low: 0xFFFF_0000_0000 | UInt64(address.rawValue))
    }

    /// The text `inet_ntop(AF_INET6, …)` writes, then "%zone" if there is a zone.
    public var description: String {
        makeString(capacity: maxIPv6TextLength + zoneStorage.textLength) {
            $0.ipv6(high: high, low: low)
            zoneStorage.write(to: &$0)
        }
    }

    /// By bits, then no zone before any zone, indexes before names.
    public static func < (lhs: IPv6Address, rhs: IPv6Address) -> Bool {
        if lhs.high != rhs.high { return lhs.high < rhs.high }
        if lhs.low != rhs.low { return lhs.low < rhs.low }
        switch (lhs.zone, rhs.zone) {
        case (nil, nil): return false
        case (nil, _): return true
        case (_, nil): return false
        case (.index(let a), .index(let b)): return a < b
        case (.index, .name): return true
        case (.name, .index): return false
        case (.name(let a), .name(let b)): return a < b
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            self = try IPv6Address(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
