@testable import BindKit
import PropertyBased
import Testing
import BindTestSupport

/// The fast paths against the reference parsers: a fast path may say "don't know"
/// (nil), but when it answers, the reference parser must agree, value for value; and on
/// ordinary valid text it must answer, or it is not a fast path at all.
@Suite("Address fast paths", .checksLeaks)
struct AddressFastPathTests {
    static func fast<R>(_ text: String, _ body: (UnsafePointer<UInt8>, Int) -> R?) -> R? {
        withFastPath(text, body)
    }

    static func reference<R>(_ text: String, _ parse: (UnsafeBufferPointer<UInt8>) throws(ParseFailure) -> R) -> R? {
        withUTF8Bytes(text) { p in try? parse(p) }
    }

    @Test("the IPv6 class table is 256 one-byte entries")
    func classTable() {
        #expect(Self.fast("1:2:3:4:5:6:7:8", BindKit.fastIPv6Address) != nil)
        #expect(Self.fast("aBcD:eF01:2345:6789:0:0:0:0", BindKit.fastIPv6Address) != nil)
    }

    @Test("fast IPv4 agrees with the reference parser")
    func ipv4() async {
        let text = Generator(run: { rng in chance(50, &rng) ? ipv4Like(&rng) : legacyIPv4Like(&rng) })
        var answered = 0
        await propertyCheck(count: 3000, input: text) { text in
            guard let value = Self.fast(text, fastIPv4) else { return }
            answered += 1
            #expect(Self.reference(text) { p throws(ParseFailure) in try parseIPv4Strict(p, from: 0, to: p.count) } == value)
        }
        #expect(answered > 300)
    }

    @Test("fast IPv6 agrees with the reference parser, zones included")
    func ipv6() async {
        let text = Generator(run: { rng in chance(70, &rng) ? ipv6Like(&rng) : Gen.zonedIPv6Text.run(using: &rng) })
        var answered = 0
        await propertyCheck(count: 4000, input: text) { text in
            guard let address = Self.fast(text, BindKit.fastIPv6Address) else { return }
            answered += 1
            #expect(Self.reference(text) { p throws(ParseFailure) in try parseIPv6(p, from: 0, to: p.count) } == address)
        }
        #expect(answered > 400)
    }

    @Test("fast IPv6 with an embedded IPv4 address agrees with the reference parser")
    func embeddedIPv4() async {
        // 0 to 8 groups, maybe a "::", then a near-valid dotted quad, maybe a zone.
        let text = Generator(run: { rng -> String in
            let groups = (0..<Int.random(in: 0...8, using: &rng)).map { _ in
                chance(80, &rng) ? String(UInt16.random(in: 0...0xFFFF, using: &rng), radix: 16)
                    : choose(["", "0", "ffff", "12345", "g", "1.2"], &rng)
            }
            var parts = groups
            if chance(60, &rng) { parts.insert("", at: Int.random(in: 0...parts.count, using: &rng)) }
            var s = parts.joined(separator: ":")
            if s.isEmpty || s.hasSuffix(":") { s += chance(85, &rng) ? "" : ":" } else { s += ":" }
            if parts.first == "" { s = ":" + s }
            s += chance(60, &rng) ? IPv4Address(rawValue: UInt32.random(in: 0...UInt32.max, using: &rng)).description
                : ipv4Like(&rng)
            if chance(20, &rng) { s += choose(["%eth0", "%1", "%", "%a b", ".", "%\(String(repeating: "x", count: 16))"], &rng) }
            return s
        })
        var answered = 0
        await propertyCheck(count: 4000, input: text) { text in
            let fast = Self.fast(text, BindKit.fastIPv6Address)
            let reference = Self.reference(text) { p throws(ParseFailure) in try parseIPv6(p, from: 0, to: p.count) }
            if let fast {
                answered += 1
                #expect(reference == fast)
            }
            // The public entry points answer exactly as the reference does, errors included.
            #expect((try? IPv6Address(parsing: text)) == reference)
            #expect((try? IPAddress(parsing: text)) == reference.map { .v6($0) } || !text.contains(":"))
        }
        #expect(answered > 400)
        for text in ["::ffff:192.0.2.1", "64:ff9b::192.0.2.33", "1:2:3:4:5:6:1.2.3.4", "::1.2.3.4", "::ffff:1.2.3.4%eth0"] {
            #expect(Self.fast(text, BindKit.fastIPv6Address) != nil)
        }
        for text in ["::ffff:1.2.3.256", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3", "::01.2.3.4", "::ffff:1.2.3.4.", "1::2:3:4:5:6:1.2.3.4"] {
            #expect(Self.fast(text, BindKit.fastIPv6Address) == nil)
        }
    }

    @Test("fast either-family and socket-address parsing agree with the reference parsers")
    func eitherFamilyAndSockets() async {
        let text = Generator(run: { rng -> String in
            let address = chance(50, &rng) ? ipv4Like(&rng) : ipv6Like(&rng)
            guard chance(50, &rng) else { return address }
            let port = choose(["80", "0", "65535", "65536", "", "+1", "00080", "123456", "8x"], &rng)
            return (address.contains(":") ? "[\(address)]" : address) + ":" + port
        })
        await propertyCheck(count: 3000, input: text) { text in
            if let address = Self.fast(text, fastIPAddress) {
                #expect(Self.reference(text) { p throws(ParseFailure) in try parseIPAddress(p, from: 0, to: p.count) } == address)
            }
            if let address = Self.fast(text, fastSocketAddress) {
                #expect(Self.reference(text) { p throws(ParseFailure) in try parseSocketAddress(p, to: p.count) } == address)
            }
        }
    }

    @Test("the fast paths answer for every canonical address")
    func answersCanonicalText() async {
        await propertyCheck(count: 1000, input: Gen<IPAddress>.address) { address in
            switch address {
            case .v4(let a): #expect(Self.fast(a.description, fastIPv4) == a.rawValue)
            case .v6(let a):
                // Dotted-quad tails (`::ffff:1.2.3.4`) included.
                #expect(Self.fast(a.description, BindKit.fastIPv6Address) == a)
            }
        }
    }

    @Test("addresses are plain 32-byte values, returned in registers")
    func layout() {
        #expect(MemoryLayout<IPv6Address>.size == 32)
        #expect(MemoryLayout<IPAddress>.size == 32)
        #expect(MemoryLayout<IPAddress?>.size == 32)
        #expect(_isPOD(IPv6Address.self))
        #expect(_isPOD(IPAddress.self))
        #expect(_isPOD(SocketAddress.self))
    }

    @Test("zones longer than 15 bytes made by a program survive the round trip")
    func longZones() throws {
        let long = String(repeating: "z", count: 40)
        var address = IPv6Address(high: 0xFE80 << 48, low: 1, zone: .name(long))
        #expect(address.zone == .name(long))
        #expect(address.description == "fe80::1%" + long)
        #expect(address == IPv6Address(high: 0xFE80 << 48, low: 1, zone: .name(long)))
        #expect(address != IPv6Address(high: 0xFE80 << 48, low: 1, zone: .name(long + "y")))
        #expect(Set([address, IPv6Address(high: 0xFE80 << 48, low: 1, zone: .name(long))]).count == 1)
        address.zone = .name("")
        #expect(address.zone == .name(""))
        address.zone = .name("fifteen-bytes-x")
        #expect(address.zone == .name("fifteen-bytes-x"))
        #expect(try IPv6Address(parsing: address.description) == address)
        address.zone = nil
        #expect(address == IPv6Address(high: 0xFE80 << 48, low: 1))
        address.zone = .index(.max)
        #expect(address.description == "fe80::1%4294967295")
        #expect(throws: AddressParseError.self) { try IPv6Address(parsing: "fe80::1%" + long) }
    }
}
