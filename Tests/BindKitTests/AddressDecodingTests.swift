import BindTestSupport
import PropertyBased
import Testing

@testable import BindKit

/// The complete decoders against the reference parsers: the same answer on every input,
/// valid or not (accepted with the same value, or refused), and the public entry points'
/// lazily named errors are the reference parsers' errors. The socket-address fast path
/// may say "don't know" (nil), but when it answers, the reference parser must agree.
@Suite("Address decoders", .checksLeaks)
struct AddressDecodingTests {
    static func decoded<R>(_ text: String, _ decoder: (UnsafePointer<UInt8>, Int) -> R?) -> R? {
        withFastPath(text, decoder)
    }

    static func reference<R>(_ text: String, _ parse: (UnsafeBufferPointer<UInt8>) throws(ParseFailure) -> R) -> R? {
        withUTF8Bytes(text) { p in try? parse(p) }
    }

    /// The problem the reference parser of `grammar` names in `text`, as an error's kind.
    static func referenceKind(_ text: String, _ grammar: AddressParseError.Grammar) -> AddressParseError.Kind? {
        withUTF8Bytes(text, grammar.failure)?.kind
    }

    /// `parse`'s error for `text` is the reference parser's: same kind, same text, same
    /// position as one computed from the reference failure directly.
    static func expectReferenceError<T>(
        _ text: String, _ grammar: AddressParseError.Grammar, _ parse: (String) throws(AddressParseError) -> T
    ) {
        do throws(AddressParseError) {
            _ = try parse(text)
            #expect(referenceKind(text, grammar) == nil, "\(text.debugDescription) accepted")
        } catch {
            guard let kind = referenceKind(text, grammar) else {
                Issue.record("\(text.debugDescription) refused, but the reference parser accepts it")
                return
            }
            #expect(error.kind == kind)
            #expect(error.problem == kind.message(in: text))
            #expect(error.position == kind.anchor.map { AddressParseError.characterOffset(in: text, ofByte: $0) })
        }
    }

    /// The failable initializers (which build no error) answer as the throwing ones do.
    static func expectFailableAgrees(_ text: String) {
        #expect(IPAddress(text) == (try? IPAddress(parsing: text)), "\(text.debugDescription)")
        #expect(IPv4Address(text) == (try? IPv4Address(parsing: text)), "\(text.debugDescription)")
        #expect(IPv6Address(text) == (try? IPv6Address(parsing: text)), "\(text.debugDescription)")
    }

    @Test("the IPv6 class table is 256 one-byte entries")
    func classTable() {
        #expect(Self.decoded("1:2:3:4:5:6:7:8", BindKit.decodeIPv6Address) != nil)
        #expect(Self.decoded("aBcD:eF01:2345:6789:0:0:0:0", BindKit.decodeIPv6Address) != nil)
    }

    @Test("IPv4 decoding agrees with the reference parser, errors included")
    func ipv4() async {
        let text = Generator(run: { rng in chance(50, &rng) ? ipv4Like(&rng) : legacyIPv4Like(&rng) })
        var accepted = 0
        await propertyCheck(count: 3000, input: text) { text in
            let value = Self.decoded(text, decodeIPv4)
            if value != nil { accepted += 1 }
            #expect(Self.reference(text) { p throws(ParseFailure) in try parseIPv4Strict(p, from: 0, to: p.count) } == value)
            Self.expectReferenceError(text, .ipv4) { s throws(AddressParseError) in try IPv4Address(parsing: s) }
            Self.expectFailableAgrees(text)
        }
        #expect(accepted > 300 && accepted < 2700)
    }

    @Test("IPv6 decoding agrees with the reference parser, zones and errors included")
    func ipv6() async {
        let text = Generator(run: { rng in chance(70, &rng) ? ipv6Like(&rng) : Gen.zonedIPv6Text.run(using: &rng) })
        var accepted = 0
        await propertyCheck(count: 4000, input: text) { text in
            let address = Self.decoded(text, BindKit.decodeIPv6Address)
            if address != nil { accepted += 1 }
            #expect(Self.reference(text) { p throws(ParseFailure) in try parseIPv6(p, from: 0, to: p.count) } == address)
            Self.expectReferenceError(text, .ipv6) { s throws(AddressParseError) in try IPv6Address(parsing: s) }
            Self.expectFailableAgrees(text)
        }
        #expect(accepted > 400 && accepted < 3600)
    }

    @Test("IPv6 decoding with an embedded IPv4 address agrees with the reference parser")
    func embeddedIPv4() async {
        // 0 to 8 groups, maybe a "::", then a near-valid dotted quad, maybe a zone.
        let text = Generator(run: { rng -> String in
            let groups = (0..<Int.random(in: 0...8, using: &rng)).map { _ in
                chance(80, &rng)
                    ? String(UInt16.random(in: 0...0xFFFF, using: &rng), radix: 16)
                    : choose(["", "0", "ffff", "12345", "g", "1.2"], &rng)
            }
            var parts = groups
            if chance(60, &rng) { parts.insert("", at: Int.random(in: 0...parts.count, using: &rng)) }
            var s = parts.joined(separator: ":")
            if s.isEmpty || s.hasSuffix(":") { s += chance(85, &rng) ? "" : ":" } else { s += ":" }
            if parts.first == "" { s = ":" + s }
            s +=
                chance(60, &rng)
                ? IPv4Address(rawValue: UInt32.random(in: 0...UInt32.max, using: &rng)).description
                : ipv4Like(&rng)
            if chance(20, &rng) { s += choose(["%eth0", "%1", "%", "%a b", ".", "%\(String(repeating: "x", count: 16))"], &rng) }
            return s
        })
        var accepted = 0
        await propertyCheck(count: 4000, input: text) { text in
            let decoded = Self.decoded(text, BindKit.decodeIPv6Address)
            let reference = Self.reference(text) { p throws(ParseFailure) in try parseIPv6(p, from: 0, to: p.count) }
            if decoded != nil { accepted += 1 }
            #expect(reference == decoded)
            // The public entry points answer exactly as the reference does, errors included.
            #expect((try? IPv6Address(parsing: text)) == reference)
            Self.expectReferenceError(text, .either) { s throws(AddressParseError) in try IPAddress(parsing: s) }
            Self.expectFailableAgrees(text)
        }
        #expect(accepted > 400)
        for text in ["::ffff:192.0.2.1", "64:ff9b::192.0.2.33", "1:2:3:4:5:6:1.2.3.4", "::1.2.3.4", "::ffff:1.2.3.4%eth0"] {
            #expect(Self.decoded(text, BindKit.decodeIPv6Address) != nil)
        }
        for text in ["::ffff:1.2.3.256", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3", "::01.2.3.4", "::ffff:1.2.3.4.", "1::2:3:4:5:6:1.2.3.4"] {
            #expect(Self.decoded(text, BindKit.decodeIPv6Address) == nil)
        }
    }

    @Test("either-family decoding and the socket-address fast path agree with the reference parsers")
    func eitherFamilyAndSockets() async {
        let text = Generator(run: { rng -> String in
            let address = chance(50, &rng) ? ipv4Like(&rng) : ipv6Like(&rng)
            guard chance(50, &rng) else { return address }
            let port = choose(["80", "0", "65535", "65536", "", "+1", "00080", "123456", "8x"], &rng)
            return (address.contains(":") ? "[\(address)]" : address) + ":" + port
        })
        await propertyCheck(count: 3000, input: text) { text in
            #expect(
                Self.decoded(text, decodeIPAddress)
                    == Self.reference(text) { p throws(ParseFailure) in try parseIPAddress(p, from: 0, to: p.count) })
            Self.expectReferenceError(text, .either) { s throws(AddressParseError) in try IPAddress(parsing: s) }
            Self.expectFailableAgrees(text)
            if let address = withFastPath(text, fastSocketAddress) {
                #expect(Self.reference(text) { p throws(ParseFailure) in try parseSocketAddress(p, to: p.count) } == address)
            }
            Self.expectReferenceError(text, .socketAddress) { s throws(AddressParseError) in try SocketAddress(parsing: s) }
        }
    }

    @Test("short and odd inputs: empty, one byte, whitespace, NUL, non-ASCII")
    func oddInputs() {
        let texts = [
            "", ".", ":", "%", "::", ":::", "1", "a", " ", "\0", "1.2.3.4\0", "::1\0", "é", "::ffff:1.2.3.4%é", "1.2.3.4 ",
            " 1.2.3.4", "fe80::1%", "%eth0", "1.2.3.4%eth0", "::1%eth0%1", "[::1]", "1.2.3.4:80",
            // The family is decided by the first four bytes.
            "./1.2.3.4", "./1.2", ":1.2.3.4", "::1.2.3.4", "::%a.b", "1::%a.b", "1.2.", "1.2", "12.3", "123.4.5.6",
            "1234.5.6.7", "1:2.3.4.5", "::1.2.3.4%x.y",
            // Octets read near the end, and an embedded quad up to the end or a zone.
            "1.2.33.4", "1.2.03.4", "1.2.33.", "1.2.3..4", "1.2.333.4", "10.20.30.4", "1.2.3.04", "::1.2.03.4",
            "::1.2.3.4%1", "::1.2.3.04%1", "::1.2.3.256%1", "::1.2.3.%1", "::1.2.3.4%", "::ffff:1.2.3.255",
            "::1.2.3.12%1", "::1.2.3.123%1", "::1.2.3.1234%1", "::1.2.3.4a%1",
        ]
        for text in texts {
            #expect(
                Self.decoded(text, decodeIPAddress)
                    == Self.reference(text) { p throws(ParseFailure) in try parseIPAddress(p, from: 0, to: p.count) })
            Self.expectReferenceError(text, .either) { s throws(AddressParseError) in try IPAddress(parsing: s) }
            Self.expectReferenceError(text, .ipv4) { s throws(AddressParseError) in try IPv4Address(parsing: s) }
            Self.expectReferenceError(text, .ipv6) { s throws(AddressParseError) in try IPv6Address(parsing: s) }
            Self.expectFailableAgrees(text)
        }
    }

    @Test("errors compare by input, problem and position, whichever parser refused the input")
    func errorEquality() {
        typealias Parse = (String) throws(AddressParseError) -> Void
        func error(_ text: String, _ parse: Parse) -> AddressParseError? {
            do throws(AddressParseError) { try parse(text) } catch { return error }
            return nil
        }
        let strict: Parse = { s throws(AddressParseError) in _ = try IPv4Address(parsing: s) }
        let either: Parse = { s throws(AddressParseError) in _ = try IPAddress(parsing: s) }
        let socket: Parse = { s throws(AddressParseError) in _ = try SocketAddress(parsing: s) }
        let legacy: Parse = { s throws(AddressParseError) in _ = try IPv4Address.parseLegacy(s) }
        let tooFew = error("1.2.3", strict)
        #expect(tooFew != nil)
        #expect(tooFew == error("1.2.3", either))
        #expect(tooFew == error("1.2.3", socket))
        #expect(tooFew != error("1.2.4", strict))
        #expect(tooFew != AddressParseError(input: "1.2.3", position: nil, problem: tooFew?.problem ?? ""))
        // The legacy parse names another problem for "1.2.3.256" (part 4, not octet 4).
        #expect(error("1.2.3.256", strict) != error("1.2.3.256", legacy))
    }

    @Test("the decoders answer for every canonical address")
    func answersCanonicalText() async {
        await propertyCheck(count: 1000, input: Gen<IPAddress>.address) { address in
            switch address {
            case .v4(let a): #expect(Self.decoded(a.description, decodeIPv4) == a.rawValue)
            case .v6(let a):
                // Dotted-quad tails (`::ffff:1.2.3.4`) included.
                #expect(Self.decoded(a.description, BindKit.decodeIPv6Address) == a)
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
