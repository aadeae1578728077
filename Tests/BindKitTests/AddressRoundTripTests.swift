import BindKit
import BindTestSupport
import Foundation
import PropertyBased
import Testing

/// parse(format(a)) == a, for every type, through text and through JSON; and no input,
/// however odd, makes a parser trap.
@Suite("Address round trips", .checksLeaks)
struct AddressRoundTripTests {
    @Test("IPv4: both parsers read back the text")
    func ipv4() async {
        await propertyCheck(count: 1000, input: Gen<IPv4Address>.address) { address throws in
            #expect(try IPv4Address(parsing: address.description) == address)
            #expect(try IPv4Address.parseLegacy(address.description) == address)
            #expect(IPv4Address(address.description) == address)
            #expect(IPv4Address(bytes: address.bytes) == address)
            #expect(IPv4Address(rawValue: address.rawValue) == address)
        }
    }

    @Test("IPv6: the parser reads back the text, zone included")
    func ipv6() async {
        await propertyCheck(count: 1000, input: Gen<IPv6Address>.address) { address throws in
            #expect(try IPv6Address(parsing: address.description) == address)
            #expect(IPv6Address(address.description) == address)
            var withoutZone = address
            withoutZone.zone = nil
            #expect(IPv6Address(bytes: address.bytes) == withoutZone)
            #expect(IPv6Address(high: address.high, low: address.low, zone: address.zone) == address)
            if let mapped = address.v4Mapped {
                #expect(IPv6Address(v4Mapped: mapped) == withoutZone)
            }
        }
    }

    @Test("IPAddress: either family reads back, strictly and legacy")
    func ipAddress() async {
        await propertyCheck(count: 1000, input: Gen<IPAddress>.address) { address throws in
            #expect(try IPAddress(parsing: address.description) == address)
            #expect(try IPAddress.parseLegacy(address.description) == address)
            #expect(IPAddress(address.description) == address)
        }
    }

    @Test("SocketAddress reads back its text")
    func socketAddress() async {
        let input = zip(Gen<IPAddress>.address, Gen<UInt16>.uint16()).map { SocketAddress(ip: $0, port: $1) }
        await propertyCheck(count: 1000, input: input) { address throws in
            #expect(try SocketAddress(parsing: address.description) == address)
            #expect(SocketAddress(address.description) == address)
        }
    }

    @Test("JSON: every type encodes as its text and decodes back")
    func json() async throws {
        let input = zip(Gen<IPAddress>.address, Gen<UInt16>.uint16()).map { SocketAddress(ip: $0, port: $1) }
        await propertyCheck(count: 1000, input: input) { address throws in
            let encoder = JSONEncoder()
            let decoder = JSONDecoder()
            let socket = try encoder.encode(address)
            #expect(try decoder.decode(SocketAddress.self, from: socket) == address)
            #expect(try decoder.decode(String.self, from: socket) == address.description)
            let ip = try encoder.encode(address.ip)
            #expect(try decoder.decode(IPAddress.self, from: ip) == address.ip)
            switch address.ip {
            case .v4(let a):
                #expect(try decoder.decode(IPv4Address.self, from: encoder.encode(a)) == a)
            case .v6(let a):
                #expect(try decoder.decode(IPv6Address.self, from: encoder.encode(a)) == a)
                if let zone = a.zone {
                    #expect(try decoder.decode(IPv6Zone.self, from: encoder.encode(zone)) == zone)
                }
            }
        }
        let families = try JSONEncoder().encode([AddressFamily.inet, .inet6])
        #expect(String(decoding: families, as: UTF8.self) == #"["inet","inet6"]"#)
        let scopes = try JSONEncoder().encode([MulticastScope.global, .unassigned])
        #expect(try JSONDecoder().decode([MulticastScope].self, from: scopes) == [.global, .unassigned])
    }

    @Test("JSON: bad text is a decoding error that carries the parse error")
    func jsonErrors() throws {
        let decoder = JSONDecoder()
        let bad = Data(#"["10.0.0.256"]"#.utf8)
        #expect(throws: DecodingError.self) { try decoder.decode([IPv4Address].self, from: bad) }
        do {
            _ = try decoder.decode([IPv4Address].self, from: bad)
        } catch let DecodingError.dataCorrupted(context) {
            #expect(context.debugDescription == #"octet 4 is 256 (above 255) in "10.0.0.256""#)
        }
        #expect(throws: DecodingError.self) { try decoder.decode([IPv6Address].self, from: Data(#"["::g"]"#.utf8)) }
        #expect(throws: DecodingError.self) { try decoder.decode([IPAddress].self, from: Data(#"["127.1"]"#.utf8)) }
        #expect(throws: DecodingError.self) {
            try decoder.decode([SocketAddress].self, from: Data(#"["[::1]"]"#.utf8))
        }
        #expect(throws: DecodingError.self) { try decoder.decode([IPv6Zone].self, from: Data(#"[""]"#.utf8)) }
    }

    /// Random text from an alphabet that mixes address characters with NUL, control
    /// characters, non-ASCII and emoji.
    static let anyText = Generator(run: { rng in
        let alphabet: [String] = [
            "0", "1", "2", "5", "9", "a", "f", "F", "x", "X", ".", ":", "::", "%", "[", "]", " ", "\t", "\u{0}", "\u{0B}",
            "é", "🙂", "\u{0301}", "\u{FFFF}", "\r\n", "255", "256", "0x", "ffff", "eth0", "1.2.3.4", "-", "+",
        ]
        var text = ""
        for _ in 0..<Int.random(in: 0...40, using: &rng) { text += choose(alphabet, &rng) }
        return text
    })

    @Test("no input traps, and every error points inside its input")
    func noTraps() async {
        await propertyCheck(count: 3000, input: Self.anyText) { text throws in
            func check(_ parse: (String) throws(AddressParseError) -> Void) {
                do {
                    try parse(text)
                } catch {
                    #expect(error.input == text)
                    if let position = error.position { #expect(position >= 0 && position <= text.count) }
                    #expect(!error.problem.isEmpty)
                    #expect(!error.description.isEmpty)
                }
            }
            check { s throws(AddressParseError) in _ = try IPv4Address(parsing: s) }
            check { s throws(AddressParseError) in _ = try IPv4Address.parseLegacy(s) }
            check { s throws(AddressParseError) in _ = try IPv6Address(parsing: s) }
            check { s throws(AddressParseError) in _ = try IPAddress(parsing: s) }
            check { s throws(AddressParseError) in _ = try IPAddress.parseLegacy(s) }
            check { s throws(AddressParseError) in _ = try SocketAddress(parsing: s) }
            check { s throws(AddressParseError) in _ = try IPv6Zone(parsing: s) }
            if let address = try? IPAddress(parsing: text) {
                #expect(try IPAddress(parsing: address.description) == address)
            }
            if let address = try? SocketAddress(parsing: text) {
                #expect(try SocketAddress(parsing: address.description) == address)
            }
        }
    }
}
