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
    public init(parsing string: String) throws(AddressParseError) {
        let result = withUTF8Bytes(string) { p in
            Result { () throws(ParseFailure) in try parseSocketAddress(p, to: p.count) }
        }
        switch result {
        case .success(let address): self = address
        case .failure(let failure): throw AddressParseError(input: string, failure: failure)
        }
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
            var zoneLength = 0
            switch a.zone {
            case nil: break
            case .index: zoneLength = 11
            case .name(let name): zoneLength = 1 + name.utf8.count
            }
            return makeString(capacity: maxIPv6TextLength + zoneLength + 8) {
                $0.byte(ASCII.leftBracket)
                $0.ipv6(high: a.high, low: a.low)
                if let zone = a.zone { $0.zone(zone) }
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
