import BindKit
import BindTestSupport
import PropertyBased
import Testing

/// The parsers and formatters against glibc, through the shim: same acceptance, same
/// bytes, same text.
@Suite("Addresses against glibc", .checksLeaks)
struct AddressDifferentialTests {
    // MARK: Formatting

    @Test("IPv4 description is inet_ntop's text")
    func ipv4DescriptionMatchesInetNtop() async {
        await propertyCheck(count: 2000, input: Gen<UInt32>.uint32()) { raw in
            let address = IPv4Address(rawValue: raw)
            #expect(address.description == COracle.ntop4(address.bytes))
        }
    }

    @Test("IPv6 description is inet_ntop's text")
    func ipv6DescriptionMatchesInetNtop() async {
        let bytes = Generator(run: { structuredIPv6Bytes(&$0) })
        await propertyCheck(count: 3000, input: bytes) { bytes in
            let address = IPv6Address(bytes: bytes)
            #expect(address?.description == COracle.ntop6(bytes), "\(bytes)")
        }
    }

    @Test("IPv6 description is inet_ntop's text for uniformly random bytes")
    func ipv6RandomBytesMatchInetNtop() async {
        await propertyCheck(count: 1000, input: Gen<UInt8>.uint8().array(of: 16)) { bytes in
            #expect(IPv6Address(bytes: bytes)?.description == COracle.ntop6(bytes))
        }
    }

    /// Every pattern of zero and non-zero groups, so that each "::" placement and each
    /// of glibc's dotted-quad tails is met.
    @Test("IPv6 description is inet_ntop's text for every zero-group pattern", arguments: [0x0001, 0xFFFF, 0x0A0B])
    func ipv6EveryZeroPattern(filler: Int) {
        for pattern in 0..<256 {
            var bytes: [UInt8] = []
            for group in 0..<8 {
                let word = pattern & (1 << group) != 0 ? UInt16(filler) : 0
                bytes += [UInt8(word >> 8), UInt8(word & 0xFF)]
            }
            #expect(IPv6Address(bytes: bytes)?.description == COracle.ntop6(bytes), "pattern \(pattern)")
        }
    }

    // MARK: Parsing

    @Test("IPv4Address(parsing:) accepts exactly what inet_pton(AF_INET) accepts")
    func strictIPv4MatchesInetPton() async {
        var accepted = 0
        await propertyCheck(count: 3000, input: Gen.ipv4Text) { text in
            let expected = COracle.pton4(text)
            let actual = try? IPv4Address(parsing: text)
            #expect(actual?.bytes == expected, "\(text.debugDescription)")
            if expected != nil { accepted += 1 }
        }
        #expect(accepted > 300 && accepted < 2700, "the grammar should produce both valid and invalid text")
    }

    @Test("IPv4Address.parseLegacy accepts exactly what inet_aton accepts")
    func legacyIPv4MatchesInetAton() async {
        var accepted = 0
        await propertyCheck(count: 3000, input: Gen.legacyIPv4Text) { text in
            let expected = COracle.aton(text)
            let actual = try? IPv4Address.parseLegacy(text)
            #expect(actual?.bytes == expected, "\(text.debugDescription)")
            if expected != nil { accepted += 1 }
        }
        #expect(accepted > 300 && accepted < 2700, "the grammar should produce both valid and invalid text")
    }

    @Test("IPv4Address.parseLegacy agrees with inet_aton on strict-grammar text too")
    func legacyIPv4MatchesInetAtonOnStrictGrammar() async {
        await propertyCheck(count: 1000, input: Gen.ipv4Text) { text in
            #expect((try? IPv4Address.parseLegacy(text))?.bytes == COracle.aton(text), "\(text.debugDescription)")
        }
    }

    @Test("whatever the strict IPv4 parser accepts, the legacy one accepts with the same value")
    func strictIsLegacy() async {
        await propertyCheck(count: 1000, input: Gen.ipv4Text) { text in
            if let strict = try? IPv4Address(parsing: text) {
                #expect((try? IPv4Address.parseLegacy(text)) == strict)
            }
        }
    }

    @Test("IPv6Address(parsing:) accepts exactly what inet_pton(AF_INET6) accepts")
    func strictIPv6MatchesInetPton() async {
        var accepted = 0
        await propertyCheck(count: 4000, input: Gen.ipv6Text) { text in
            let expected = expectedIPv6(text)
            let actual = try? IPv6Address(parsing: text)
            #expect(actual?.bytes == expected?.bytes, "\(text.debugDescription)")
            #expect(actual?.zone == expected?.zone, "\(text.debugDescription)")
            if expected != nil { accepted += 1 }
        }
        #expect(accepted > 400 && accepted < 3600, "the grammar should produce both valid and invalid text")
    }

    @Test("IPv6Address(parsing:) with a zone: inet_pton6 on the address, the zone rule on the rest")
    func zonedIPv6MatchesInetPton() async {
        await propertyCheck(count: 2000, input: Gen.zonedIPv6Text) { text in
            let expected = expectedIPv6(text)
            let actual = try? IPv6Address(parsing: text)
            #expect(actual?.bytes == expected?.bytes, "\(text.debugDescription)")
            #expect(actual?.zone == expected?.zone, "\(text.debugDescription)")
        }
    }

    @Test("IPAddress(parsing:) accepts exactly what inet_pton accepts for either family")
    func eitherFamilyMatchesInetPton() async {
        let text = Generator(run: { rng in chance(50, &rng) ? ipv4Like(&rng) : ipv6Like(&rng) })
        await propertyCheck(count: 2000, input: text) { text in
            let expected = COracle.pton4(text) ?? expectedIPv6(text)?.bytes
            let actual: [UInt8]? =
                switch try? IPAddress(parsing: text) {
                case .v4(let a): a.bytes
                case .v6(let a): a.bytes
                case nil: nil
                }
            #expect(actual == expected, "\(text.debugDescription)")
        }
    }

    @Test("IPAddress.parseLegacy is inet_aton for IPv4 and inet_pton for IPv6")
    func eitherFamilyLegacyMatchesC() async {
        let text = Generator(run: { rng in chance(50, &rng) ? legacyIPv4Like(&rng) : ipv6Like(&rng) })
        await propertyCheck(count: 2000, input: text) { text in
            let expected = COracle.aton(text) ?? expectedIPv6(text)?.bytes
            let actual: [UInt8]? =
                switch try? IPAddress.parseLegacy(text) {
                case .v4(let a): a.bytes
                case .v6(let a): a.bytes
                case nil: nil
                }
            #expect(actual == expected, "\(text.debugDescription)")
        }
    }
}

/// What IPv6Address(parsing:) should make of `text`: inet_pton6 on the part before the
/// first "%", and the zone rule (`referenceZone`) on the rest, if there is a "%".
func expectedIPv6(_ text: String) -> (bytes: [UInt8], zone: IPv6Zone?)? {
    guard let percent = text.utf8.firstIndex(of: 0x25) else {
        return COracle.pton6(text).map { ($0, nil) }
    }
    let addressText = String(decoding: text.utf8[..<percent], as: UTF8.self)
    let zoneText = String(decoding: text.utf8[text.utf8.index(after: percent)...], as: UTF8.self)
    guard let bytes = COracle.pton6(addressText), let zone = referenceZone(zoneText) else { return nil }
    return (bytes, zone)
}
