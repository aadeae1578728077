/// An IPv4 or IPv6 address.
///
/// The text form is the family's own (`1.2.3.4`, `::1`, `fe80::1%eth0`); `Codable` uses it.
public enum IPAddress: Hashable, Sendable, Codable, CustomStringConvertible, LosslessStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    /// Parses an address of either family, strictly: exactly what `inet_pton` accepts for
    /// the family (IPv6 with an optional "%zone"). The input is read as IPv6 when a ':'
    /// comes before any '.' or whitespace; valid inputs of the two families never
    /// overlap, so this only decides which family's error is reported.
    @inlinable
    public init(parsing string: borrowing String) throws(AddressParseError) {
        guard let address = withFastPath(string, decodeIPAddress) else {
            self = try Self.decodeSlowly(copy string)
            return
        }
        self = address
    }

    @usableFromInline @inline(never)
    static func decodeSlowly(_ string: consuming String) throws(AddressParseError) -> IPAddress {
        try BindKit.decodeSlowly(string, .either, decodeIPAddress)
    }

    /// The strict parse (``init(parsing:)``), or `nil`; without an error to build, a
    /// refusal costs only the decoding.
    @inlinable
    public init?(_ description: String) {
        guard let address = decodeOrNil(description, decodeIPAddress) else { return nil }
        self = address
    }

    /// Parses IPv4 the way `inet_aton` does (``IPv4Address/parseLegacy(_:)``) and IPv6
    /// strictly (``IPv6Address/init(parsing:)``).
    @inlinable
    public static func parseLegacy(_ string: borrowing String) throws(AddressParseError) -> IPAddress {
        // What the strict forms accept, the legacy parse accepts with the same value.
        if let address = withFastPath(string, decodeIPAddress) { return address }
        return try parseLegacySlowly(copy string)
    }

    @usableFromInline
    static func parseLegacySlowly(_ string: String) throws(AddressParseError) -> IPAddress {
        try parseSlowly(string, .eitherLegacy) { p throws(ParseFailure) in
            try parseIPAddressLegacy(p, from: 0, to: p.count)
        }
    }

    public var family: AddressFamily {
        switch self {
        case .v4: .inet
        case .v6: .inet6
        }
    }

    /// `0.0.0.0` or `::`.
    public var isUnspecified: Bool {
        switch self {
        case .v4(let a): a.isUnspecified
        case .v6(let a): a.isUnspecified
        }
    }

    /// In 127.0.0.0/8, or `::1`. (An IPv4-mapped loopback such as `::ffff:127.0.0.1` is
    /// not: use ``unmapped`` first when that matters.)
    public var isLoopback: Bool {
        switch self {
        case .v4(let a): a.isLoopback
        case .v6(let a): a.isLoopback
        }
    }

    /// In 224.0.0.0/4 or ff00::/8.
    public var isMulticast: Bool {
        switch self {
        case .v4(let a): a.isMulticast
        case .v6(let a): a.isMulticast
        }
    }

    /// In 169.254.0.0/16 or fe80::/10.
    public var isLinkLocal: Bool {
        switch self {
        case .v4(let a): a.isLinkLocal
        case .v6(let a): a.isLinkLocal
        }
    }

    /// In an RFC 1918 private IPv4 network or the IPv6 unique local range fc00::/7.
    public var isPrivate: Bool {
        switch self {
        case .v4(let a): a.isPrivate
        case .v6(let a): a.isUniqueLocal
        }
    }

    /// In a documentation range: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 or 2001:db8::/32.
    public var isDocumentation: Bool {
        switch self {
        case .v4(let a): a.isDocumentation
        case .v6(let a): a.isDocumentation
        }
    }

    /// The IPv4 address for an IPv4-mapped IPv6 address (`::ffff:1.2.3.4` gives
    /// `1.2.3.4`), this address otherwise.
    public var unmapped: IPAddress {
        if case .v6(let a) = self, let v4 = a.v4Mapped { return .v4(v4) }
        return self
    }

    public var description: String {
        switch self {
        case .v4(let a): a.description
        case .v6(let a): a.description
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            self = try IPAddress(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
