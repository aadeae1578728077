/// An IP address and a port: what `bind(2)` takes.
///
/// The text form is `1.2.3.4:80`, `[::1]:80` or `[fe80::1%eth0]:80`; `Codable` uses it.
public struct SocketAddress: Hashable, Sendable, Codable, CustomStringConvertible, LosslessStringConvertible {
    public var ip: IPAddress
    public var port: UInt16

    public init(ip: IPAddress, port: UInt16) {
        self.ip = ip
        self.port = port
    }

    /// Parses `1.2.3.4:80`, `[::1]:80`, `[fe80::1%eth0]:80` or `[fe80::1%2]:80`.
    ///
    /// The address is parsed strictly (as ``IPv4Address/init(parsing:)`` and
    /// ``IPv6Address/init(parsing:)``); an IPv6 address must be in brackets and an IPv4
    /// address must not. The port is decimal digits only (no sign, not empty; leading
    /// zeros are allowed), 0 to 65535.
    public init(parsing string: borrowing String) throws(AddressParseError) {
        if let address = withFastPath(string, fastSocketAddress) {
            self = address
            return
        }
        self = try parseSlowly(copy string, .socketAddress) { p throws(ParseFailure) in try parseSocketAddress(p, to: p.count) }
    }

    /// The parse (``init(parsing:)``), or `nil`.
    public init?(_ description: String) {
        guard let address = try? SocketAddress(parsing: description) else { return nil }
        self = address
    }

    public var family: AddressFamily { ip.family }

    /// `1.2.3.4:80`, `[::1]:80`, `[fe80::1%eth0]:80`.
    public var description: String {
        switch ip {
        case .v4(let a):
            return makeString(capacity: 21) {
                $0.ipv4(a.rawValue)
                $0.byte(ASCII.colon)
                $0.decimal(UInt32(port))
            }
        case .v6(let a):
            return makeString(capacity: maxIPv6TextLength + a.zoneStorage.textLength + 8) {
                $0.byte(ASCII.leftBracket)
                $0.ipv6(high: a.high, low: a.low)
                a.zoneStorage.write(to: &$0)
                $0.byte(ASCII.rightBracket)
                $0.byte(ASCII.colon)
                $0.decimal(UInt32(port))
            }
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            self = try SocketAddress(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
