import BindKit
import BindTestSupport
import Testing

/// Tables of cases: parsing, formatting and classification.
@Suite("Address tables", .checksLeaks)
struct AddressTableTests {
    // MARK: - IPv4 parsing

    @Test(
        "strict IPv4 accepts dotted quads",
        arguments: [
            ("0.0.0.0", IPv4Address(0, 0, 0, 0)),
            ("1.2.3.4", IPv4Address(1, 2, 3, 4)),
            ("255.255.255.255", IPv4Address(255, 255, 255, 255)),
            ("10.0.0.255", IPv4Address(10, 0, 0, 255)),
            ("192.0.2.123", IPv4Address(rawValue: 0xC000_027B)),
            ("100.200.0.9", IPv4Address(100, 200, 0, 9)),
        ])
    func strictIPv4Valid(text: String, expected: IPv4Address) throws {
        #expect(try IPv4Address(parsing: text) == expected)
        #expect(IPv4Address(text) == expected)
        #expect(try IPv4Address.parseLegacy(text) == expected)
        #expect(COracle.pton4(text) == expected.bytes)
    }

    @Test(
        "strict IPv4 refuses what inet_pton refuses",
        arguments: [
            "", "10.0.0.256", "1.2.3", "1.2.3.4.", "1.2.3.4.5", "01.2.3.4", "1.2.3.04", "00.0.0.0", "1..2.3",
            ".1.2.3", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4\n", "127.1", "0x7f000001", "0177.0.0.1", "2130706433",
            "1.2.3.4:80", "1.2.3.-4", "+1.2.3.4", "1.2.3.4x", "a.b.c.d", "1,2,3,4", "1.2.3.4/24", "１.2.3.4",
            "1.2.3.4%eth0", "1.2.3.256", "999.1.1.1",
        ])
    func strictIPv4Invalid(text: String) {
        #expect(throws: AddressParseError.self) { try IPv4Address(parsing: text) }
        #expect(IPv4Address(text) == nil)
        #expect(COracle.pton4(text) == nil)
    }

    @Test(
        "legacy IPv4 accepts what inet_aton accepts",
        arguments: [
            ("127.1", IPv4Address(127, 0, 0, 1)),
            ("0x7f000001", IPv4Address(127, 0, 0, 1)),
            ("0177.0.0.1", IPv4Address(127, 0, 0, 1)),
            ("2130706433", IPv4Address(127, 0, 0, 1)),
            ("0xc000027b", IPv4Address(192, 0, 2, 123)),
            ("0XC000027B", IPv4Address(192, 0, 2, 123)),
            ("1.2.3.4", IPv4Address(1, 2, 3, 4)),
            ("1.2.3.4 junk", IPv4Address(1, 2, 3, 4)),
            ("1.2.3.4\tanything: at all", IPv4Address(1, 2, 3, 4)),
            ("1.2.3.4\n", IPv4Address(1, 2, 3, 4)),
            ("1.2.3.4\u{0B}@", IPv4Address(1, 2, 3, 4)),
            ("1.2.3.4 \u{0}after a NUL", IPv4Address(1, 2, 3, 4)),
            ("1.0xffffff", IPv4Address(1, 255, 255, 255)),
            ("1.2.0xffff", IPv4Address(1, 2, 255, 255)),
            ("1.2.65535", IPv4Address(1, 2, 255, 255)),
            ("10.1", IPv4Address(10, 0, 0, 1)),
            ("4294967295", IPv4Address(255, 255, 255, 255)),
            ("0", IPv4Address(0, 0, 0, 0)),
            ("00000000000000000000000001", IPv4Address(0, 0, 0, 1)),
            ("0x00000000000000000001.2", IPv4Address(1, 0, 0, 2)),
            ("01.02.03.04", IPv4Address(1, 2, 3, 4)),
            ("010.0.0.1", IPv4Address(8, 0, 0, 1)),
            ("0.0.0.0", IPv4Address(0, 0, 0, 0)),
        ])
    func legacyIPv4Valid(text: String, expected: IPv4Address) throws {
        #expect(try IPv4Address.parseLegacy(text) == expected)
        #expect(try IPAddress.parseLegacy(text) == .v4(expected))
        #expect(COracle.aton(text) == expected.bytes)
    }

    @Test(
        "legacy IPv4 refuses what inet_aton refuses",
        arguments: [
            "", "10.0.0.256", "1.2.3.4.", "1..2", "1.2.3.4.5", " 1.2.3.4", "+1", "-1", "0x", "0x.1.2.3", "0xg", "08",
            "09", "018", "4294967296", "0x100000000", "99999999999999999999999999", "1.2.0x10000", "1.16777216",
            "256.1", "1.2.3.4\u{80}", "1.2.3.4x", "1.2.3.4:80", "1.2.3.4\u{A0}", "0b101", "1.2.3.4\u{0}",
            "::1", "x", ".", "1.", "0x7f00000g",
        ])
    func legacyIPv4Invalid(text: String) {
        #expect(throws: AddressParseError.self) { try IPv4Address.parseLegacy(text) }
        if !text.utf8.contains(0) { #expect(COracle.aton(text) == nil) }
    }

    @Test("10.0.0.256 is refused by both IPv4 parsers, naming octet 4")
    func tenZeroZeroTwoFiftySix() {
        #expect(throws: AddressParseError.self) { try IPv4Address(parsing: "10.0.0.256") }
        #expect(throws: AddressParseError.self) { try IPv4Address.parseLegacy("10.0.0.256") }
        do {
            _ = try IPv4Address(parsing: "10.0.0.256")
        } catch {
            #expect(error.description == #"octet 4 is 256 (above 255) in "10.0.0.256""#)
            #expect(error.position == 7)
        }
        do {
            _ = try IPv4Address.parseLegacy("10.0.0.256")
        } catch {
            #expect(error.description == #"part 4 is 256 (above 255) in "10.0.0.256""#)
            #expect(error.position == 7)
        }
    }

    // MARK: - IPv6 parsing

    @Test(
        "strict IPv6 accepts what inet_pton accepts",
        arguments: [
            ("::", "::"),
            ("::1", "::1"),
            ("1::", "1::"),
            ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
            ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
            ("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"),
            ("2001:DB8::1", "2001:db8::1"),
            ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
            ("0000:0000::", "::"),
            ("::1.2.3.4", "::1.2.3.4"),
            ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
            ("::FFFF:255.255.255.255", "::ffff:255.255.255.255"),
            ("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"),
            ("fe80::1%eth0", "fe80::1%eth0"),
            ("fe80::1%3", "fe80::1%3"),
            ("fe80::1%0003", "fe80::1%3"),
            ("fe80::1%4294967295", "fe80::1%4294967295"),
            ("ff02::1%veth-a.1", "ff02::1%veth-a.1"),
            ("ff02::1%abcdefghijklmno", "ff02::1%abcdefghijklmno"),
        ])
    func strictIPv6Valid(text: String, canonical: String) throws {
        let address = try IPv6Address(parsing: text)
        #expect(address.description == canonical)
        #expect(IPv6Address(text) == address)
        let withoutZone = String(text.split(separator: "%", maxSplits: 1)[0])
        #expect(COracle.pton6(withoutZone) == address.bytes)
    }

    @Test(
        "strict IPv6 refuses what inet_pton refuses",
        arguments: [
            "", ":", ":::", "1:", ":1", ":1::", "1::2:", "1:::2", "1::2::3", "1::2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7", "12345::", "00000::", "g::", "1:2:3:4:5:6:7:1.2.3.4", "::1:2:3:4:5:6:1.2.3.4",
            "::ffff:01.2.3.4", "::1.2.3", "::1.2.3.4.5", "1.2.3.4::", "::256.1.1.1", "1.2.3.4", " ::1", "::1 ",
            "[::1]", "::1/64", "::ffff:1.2.3.4:80", "::a.2.3.4", "::１",
        ])
    func strictIPv6Invalid(text: String) {
        #expect(throws: AddressParseError.self) { try IPv6Address(parsing: text) }
        #expect(COracle.pton6(text) == nil)
    }

    @Test(
        "zones that are refused",
        arguments: [
            "fe80::1%", "fe80::1%eth 0", "fe80::1% eth0", "fe80::1%eth0%1", "fe80::1%abcdefghijklmnop",
            "fe80::1%4294967296", "fe80::1%.", "fe80::1%..", "fe80::1%a/b", "fe80::1%a:b", "fe80::1%a]", "%eth0",
            "fe80::1%\u{0}", "fe80::1%\t", "1::2:%eth0", "fe80::1%eth0\n",
        ])
    func zonesRefused(text: String) {
        #expect(throws: AddressParseError.self) { try IPv6Address(parsing: text) }
    }

    // MARK: - Formatting

    @Test(
        "IPv6 text is glibc's, dotted-quad tails included",
        arguments: [
            ([UInt16](repeating: 0, count: 8), "::"),
            ([0, 0, 0, 0, 0, 0, 0, 1], "::1"),
            ([0, 0, 0, 0, 0, 0, 1, 0], "::0.1.0.0"),
            ([0, 0, 0, 0, 0, 0, 0x102, 0x304], "::1.2.3.4"),
            ([0, 0, 0, 0, 0, 0, 0, 2], "::2"),
            ([0, 0, 0, 0, 0, 0, 0, 0x100], "::100"),
            ([0, 0, 0, 0, 0, 0xFFFF, 0x102, 0x304], "::ffff:1.2.3.4"),
            ([0, 0, 0, 0, 0, 0xFFFF, 0, 0], "::ffff:0.0.0.0"),
            ([0, 0, 0, 0, 0, 0xFFFE, 0x102, 0x304], "::fffe:102:304"),
            ([0, 0, 0, 0, 1, 0xFFFF, 0x102, 0x304], "::1:ffff:102:304"),
            ([1, 0, 0, 0, 0, 0, 0, 0], "1::"),
            ([0x2001, 0xDB8, 0, 0, 1, 0, 0, 1], "2001:db8::1:0:0:1"),
            ([0x2001, 0xDB8, 0, 1, 1, 1, 1, 1], "2001:db8:0:1:1:1:1:1"),
            ([1, 0, 0, 1, 0, 0, 0, 1], "1:0:0:1::1"),
            ([0, 0, 1, 0, 0, 0, 0, 0], "0:0:1::"),
            ([0xFE80, 0, 0, 0, 0, 0, 0, 1], "fe80::1"),
            ([0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF], "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            ([0, 0, 0, 0, 0, 0xFFFF, 0xFFFF, 0xFFFF], "::ffff:255.255.255.255"),
            ([0, 0, 0, 0, 0, 0, 0xFFFF, 0xFFFF], "::255.255.255.255"),
            ([0, 0, 0, 0, 0, 0, 0, 0xFFFF], "::ffff"),
            ([0, 1, 0, 0, 0, 0, 0, 0], "0:1::"),
            ([0, 0, 0, 0, 0, 0xFFFF, 0, 1], "::ffff:0.0.0.1"),
        ] as [([UInt16], String)])
    func ipv6Text(words: [UInt16], text: String) {
        let bytes = words.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
        let address = IPv6Address(bytes: bytes)
        #expect(address?.description == text)
        #expect(COracle.ntop6(bytes) == text)
        #expect(address.flatMap { try? IPv6Address(parsing: $0.description) } == address)
    }

    @Test("zones print after the address")
    func zonesPrint() throws {
        #expect(IPv6Address(high: 0xFE80 << 48, low: 1, zone: .name("eth0")).description == "fe80::1%eth0")
        #expect(IPv6Address(high: 0xFE80 << 48, low: 1, zone: .index(2)).description == "fe80::1%2")
        #expect(IPv6Zone.name("eth0").description == "eth0")
        #expect(IPv6Zone.index(7).description == "7")
        #expect(try IPv6Zone(parsing: "eth0") == .name("eth0"))
        #expect(try IPv6Zone(parsing: "12") == .index(12))
        #expect(throws: AddressParseError.self) { try IPv6Zone(parsing: "") }
        #expect(throws: AddressParseError.self) { try IPv6Zone(parsing: "a b") }
    }

    // MARK: - Values

    @Test("IPv4 value basics")
    func ipv4Values() {
        let a = IPv4Address(1, 2, 3, 4)
        #expect(a.rawValue == 0x0102_0304)
        #expect(a.bytes == [1, 2, 3, 4])
        #expect(IPv4Address(bytes: [1, 2, 3, 4]) == a)
        #expect(IPv4Address(bytes: [1, 2, 3]) == nil)
        #expect(IPv4Address(bytes: [1, 2, 3, 4, 5]) == nil)
        #expect(IPv4Address(bytes: [UInt8]()) == nil)
        #expect(IPv4Address(bytes: repeatElement(UInt8(9), count: 1_000_000)) == nil)
        #expect(IPv4Address.any.description == "0.0.0.0")
        #expect(IPv4Address.loopback.description == "127.0.0.1")
        #expect(IPv4Address.limitedBroadcast.description == "255.255.255.255")
        #expect(IPv4Address(1, 2, 3, 4) < IPv4Address(1, 2, 3, 5))
        #expect(IPv4Address(9, 0, 0, 0) < IPv4Address(10, 0, 0, 0))
    }

    @Test("IPv6 value basics")
    func ipv6Values() {
        let bytes: [UInt8] = [0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        let a = IPv6Address(bytes: bytes)
        #expect(a?.high == 0x2001_0DB8_0000_0000)
        #expect(a?.low == 1)
        #expect(a?.bytes == bytes)
        #expect(IPv6Address(bytes: bytes.dropLast()) == nil)
        #expect(IPv6Address(bytes: bytes + [0]) == nil)
        #expect(IPv6Address.any.description == "::")
        #expect(IPv6Address.loopback.description == "::1")
        let mapped = IPv6Address(v4Mapped: IPv4Address(192, 0, 2, 1))
        #expect(mapped.description == "::ffff:192.0.2.1")
        #expect(mapped.v4Mapped == IPv4Address(192, 0, 2, 1))
        #expect(IPv6Address.loopback.v4Mapped == nil)
        #expect(IPv6Address(high: 0, low: 1, zone: .name("lo")) != IPv6Address.loopback)
        #expect(IPv6Address.any < IPv6Address.loopback)
        #expect(IPv6Address.loopback < IPv6Address(high: 0, low: 1, zone: .index(1)))
        #expect(IPv6Address(high: 0, low: 1, zone: .index(9)) < IPv6Address(high: 0, low: 1, zone: .name("a")))
    }

    @Test("families and transports")
    func families() throws {
        #expect(AddressFamily.inet.cValue == 2)
        #expect(AddressFamily.inet6.cValue == 10)
        #expect(AddressFamily.inet.rawValue == "inet")
        #expect(AddressFamily.inet6.rawValue == "inet6")
        #expect(AddressFamily.allCases == [.inet, .inet6])
        #expect(Transport.allCases == [.tcp, .udp])
        #expect(Transport.udp.rawValue == "udp")
        #expect(try IPAddress(parsing: "1.2.3.4").family == .inet)
        #expect(try IPAddress(parsing: "::1").family == .inet6)
        #expect(try SocketAddress(parsing: "[::1]:1").family == .inet6)
        #expect(try SocketAddress(parsing: "1.2.3.4:1").family == .inet)
    }

    // MARK: - Classification

    struct V4Flags: OptionSet, Sendable, CustomTestStringConvertible {
        let rawValue: Int
        static let unspecified = V4Flags(rawValue: 1)
        static let loopback = V4Flags(rawValue: 2)
        static let linkLocal = V4Flags(rawValue: 4)
        static let multicast = V4Flags(rawValue: 8)
        static let limitedBroadcast = V4Flags(rawValue: 16)
        static let `private` = V4Flags(rawValue: 32)
        static let documentation = V4Flags(rawValue: 64)
        var testDescription: String { "flags \(rawValue)" }
    }

    @Test(
        "IPv4 classification",
        arguments: [
            ("0.0.0.0", V4Flags.unspecified),
            ("0.0.0.1", []),
            ("127.0.0.1", .loopback),
            ("127.255.255.254", .loopback),
            ("126.255.255.255", []),
            ("128.0.0.1", []),
            ("169.254.0.1", .linkLocal),
            ("169.254.255.255", .linkLocal),
            ("169.253.255.255", []),
            ("169.255.0.0", []),
            ("224.0.0.1", .multicast),
            ("239.255.255.255", .multicast),
            ("223.255.255.255", []),
            ("240.0.0.0", []),
            ("255.255.255.255", .limitedBroadcast),
            ("255.255.255.254", []),
            ("10.0.0.0", .private),
            ("10.255.255.255", .private),
            ("11.0.0.0", []),
            ("9.255.255.255", []),
            ("172.16.0.0", .private),
            ("172.31.255.255", .private),
            ("172.15.255.255", []),
            ("172.32.0.0", []),
            ("192.168.0.0", .private),
            ("192.168.255.255", .private),
            ("192.167.255.255", []),
            ("192.169.0.0", []),
            ("192.0.2.0", .documentation),
            ("192.0.2.255", .documentation),
            ("192.0.3.0", []),
            ("198.51.100.7", .documentation),
            ("198.51.101.0", []),
            ("203.0.113.255", .documentation),
            ("203.0.114.0", []),
            ("8.8.8.8", []),
        ] as [(String, V4Flags)])
    func ipv4Classification(text: String, flags: V4Flags) throws {
        let a = try IPv4Address(parsing: text)
        #expect(a.isUnspecified == flags.contains(.unspecified))
        #expect(a.isLoopback == flags.contains(.loopback))
        #expect(a.isLinkLocal == flags.contains(.linkLocal))
        #expect(a.isMulticast == flags.contains(.multicast))
        #expect(a.isLimitedBroadcast == flags.contains(.limitedBroadcast))
        #expect(a.isPrivate == flags.contains(.private))
        #expect(a.isDocumentation == flags.contains(.documentation))
        let ip = IPAddress.v4(a)
        #expect(ip.isUnspecified == a.isUnspecified)
        #expect(ip.isLoopback == a.isLoopback)
        #expect(ip.isLinkLocal == a.isLinkLocal)
        #expect(ip.isMulticast == a.isMulticast)
        #expect(ip.isPrivate == a.isPrivate)
        #expect(ip.isDocumentation == a.isDocumentation)
    }

    struct V6Flags: OptionSet, Sendable, CustomTestStringConvertible {
        let rawValue: Int
        static let unspecified = V6Flags(rawValue: 1)
        static let loopback = V6Flags(rawValue: 2)
        static let linkLocal = V6Flags(rawValue: 4)
        static let multicast = V6Flags(rawValue: 8)
        static let v4Mapped = V6Flags(rawValue: 16)
        static let uniqueLocal = V6Flags(rawValue: 32)
        static let documentation = V6Flags(rawValue: 64)
        var testDescription: String { "flags \(rawValue)" }
    }

    @Test(
        "IPv6 classification",
        arguments: [
            ("::", V6Flags.unspecified, nil),
            ("::%1", .unspecified, nil),
            ("::1", .loopback, nil),
            ("::1%lo", .loopback, nil),
            ("::2", [], nil),
            ("fe80::1", .linkLocal, nil),
            ("febf:ffff::", .linkLocal, nil),
            ("fec0::1", [], nil),
            ("fe7f::1", [], nil),
            ("ff00::", .multicast, MulticastScope.reserved),
            ("ff01::1", .multicast, .interfaceLocal),
            ("ff02::1", .multicast, .linkLocal),
            ("ff12::1:ff00:1", .multicast, .linkLocal),
            ("ff03::1", .multicast, .realmLocal),
            ("ff04::1", .multicast, .adminLocal),
            ("ff05::2", .multicast, .siteLocal),
            ("ff06::2", .multicast, .unassigned),
            ("ff07::2", .multicast, .unassigned),
            ("ff08::2", .multicast, .organizationLocal),
            ("ff0d::2", .multicast, .unassigned),
            ("ff0e::2", .multicast, .global),
            ("ff0f::2", .multicast, .reserved),
            ("fe00::", [], nil),
            ("::ffff:1.2.3.4", .v4Mapped, nil),
            ("::ffff:0.0.0.0", .v4Mapped, nil),
            ("::fffe:1.2.3.4", [], nil),
            ("0:0:0:0:1:ffff:1.2.3.4", [], nil),
            ("fc00::1", .uniqueLocal, nil),
            ("fdff:ffff::", .uniqueLocal, nil),
            ("fbff::", [], nil),
            ("2001:db8::1", .documentation, nil),
            ("2001:db8:ffff::", .documentation, nil),
            ("2001:db9::", [], nil),
            ("2001:db7::", [], nil),
            ("2606:4700::1111", [], nil),
        ] as [(String, V6Flags, MulticastScope?)])
    func ipv6Classification(text: String, flags: V6Flags, scope: MulticastScope?) throws {
        let a = try IPv6Address(parsing: text)
        #expect(a.isUnspecified == flags.contains(.unspecified))
        #expect(a.isLoopback == flags.contains(.loopback))
        #expect(a.isLinkLocal == flags.contains(.linkLocal))
        #expect(a.isMulticast == flags.contains(.multicast))
        #expect(a.isV4Mapped == flags.contains(.v4Mapped))
        #expect(a.isUniqueLocal == flags.contains(.uniqueLocal))
        #expect(a.isDocumentation == flags.contains(.documentation))
        #expect(a.multicastScope == scope)
        let ip = IPAddress.v6(a)
        #expect(ip.isUnspecified == a.isUnspecified)
        #expect(ip.isLoopback == a.isLoopback)
        #expect(ip.isLinkLocal == a.isLinkLocal)
        #expect(ip.isMulticast == a.isMulticast)
        #expect(ip.isPrivate == a.isUniqueLocal)
        #expect(ip.isDocumentation == a.isDocumentation)
    }

    @Test("multicast scope fields")
    func multicastScopes() {
        let expected: [MulticastScope] = [
            .reserved, .interfaceLocal, .linkLocal, .realmLocal, .adminLocal, .siteLocal, .unassigned, .unassigned,
            .organizationLocal, .unassigned, .unassigned, .unassigned, .unassigned, .unassigned, .global, .reserved,
        ]
        for field in 0..<16 {
            #expect(MulticastScope(scopeField: UInt8(field)) == expected[field])
            #expect(MulticastScope(scopeField: UInt8(field) | 0xF0) == expected[field])
        }
        #expect(MulticastScope.global.rawValue == 14)
        #expect(MulticastScope.unassigned.rawValue == -1)
    }

    @Test("IPAddress.unmapped")
    func unmapped() throws {
        #expect(try IPAddress(parsing: "::ffff:127.0.0.1").unmapped == .v4(.loopback))
        #expect(try IPAddress(parsing: "::1").unmapped == .v6(.loopback))
        #expect(try IPAddress(parsing: "10.0.0.1").unmapped == .v4(IPv4Address(10, 0, 0, 1)))
        #expect(try IPAddress(parsing: "::ffff:127.0.0.1").isLoopback == false)
        #expect(try IPAddress(parsing: "::ffff:127.0.0.1").unmapped.isLoopback)
    }

    // MARK: - Subnets

    @Test(
        "IPv4 subnets",
        arguments: [
            ("10.1.2.3", "10.0.0.0", 8, true, "10.255.255.255"),
            ("11.1.2.3", "10.0.0.0", 8, false, "11.255.255.255"),
            ("192.168.1.77", "192.168.1.0", 24, true, "192.168.1.255"),
            ("192.168.2.77", "192.168.1.0", 24, false, "192.168.2.255"),
            ("192.168.1.77", "192.168.1.99", 24, true, "192.168.1.255"),
            ("172.20.0.1", "172.16.0.0", 12, true, "172.31.255.255"),
            ("172.32.0.1", "172.16.0.0", 12, false, "172.47.255.255"),
            ("1.2.3.4", "1.2.3.4", 32, true, "1.2.3.4"),
            ("1.2.3.5", "1.2.3.4", 32, false, "1.2.3.5"),
            ("1.2.3.4", "9.9.9.9", 0, true, "255.255.255.255"),
            ("1.2.3.4", "1.2.3.5", 31, true, "1.2.3.5"),
            ("1.2.3.4", "1.2.3.4", 33, true, "1.2.3.4"),
            ("1.2.3.4", "200.0.0.0", -5, true, "255.255.255.255"),
            ("1.2.3.4", "1.2.3.5", Int.max, false, "1.2.3.4"),
            ("1.2.3.4", "200.0.0.0", Int.min, true, "255.255.255.255"),
        ] as [(String, String, Int, Bool, String)])
    func subnets(address: String, network: String, prefix: Int, inside: Bool, broadcast: String) throws {
        let a = try IPv4Address(parsing: address)
        let n = try IPv4Address(parsing: network)
        #expect(a.isInSubnet(n, prefixLength: prefix) == inside)
        #expect(a.broadcast(prefixLength: prefix).description == broadcast)
        #expect(a.masked(prefixLength: prefix).isInSubnet(a, prefixLength: prefix))
    }

    // MARK: - Socket addresses

    @Test(
        "socket addresses",
        arguments: [
            ("1.2.3.4:80", "1.2.3.4:80", 80),
            ("0.0.0.0:0", "0.0.0.0:0", 0),
            ("255.255.255.255:65535", "255.255.255.255:65535", 65535),
            ("1.2.3.4:080", "1.2.3.4:80", 80),
            ("[::1]:80", "[::1]:80", 80),
            ("[::]:443", "[::]:443", 443),
            ("[fe80::1%eth0]:80", "[fe80::1%eth0]:80", 80),
            ("[fe80::1%2]:80", "[fe80::1%2]:80", 80),
            ("[FE80:0::1%2]:00080", "[fe80::1%2]:80", 80),
            ("[::ffff:1.2.3.4]:8080", "[::ffff:1.2.3.4]:8080", 8080),
            ("[2001:db8::1]:65535", "[2001:db8::1]:65535", 65535),
        ])
    func socketAddresses(text: String, canonical: String, port: Int) throws {
        let address = try SocketAddress(parsing: text)
        #expect(address.description == canonical)
        #expect(Int(address.port) == port)
        #expect(SocketAddress(text) == address)
        #expect(try SocketAddress(parsing: canonical) == address)
    }

    @Test(
        "socket addresses that are refused",
        arguments: [
            "", "1.2.3.4", "1.2.3.4:", "1.2.3.4:70000", "1.2.3.4:65536", "1.2.3.4:+80", "1.2.3.4:-1", "1.2.3.4: 80",
            "1.2.3.4:80 ", "1.2.3.4:8o", "::1:80", "::1", "fe80::1%eth0:80", "[::1]", "[::1]:", "[::1]80", "[::1",
            "[]:80", "[1.2.3.4]:80", "1.2.3.4:80:90", "[::1]:99999999999999999999", "127.1:80", "[fe80::1%]:80",
            "[fe80::1%a]b]:80", ":80", "[::1]::80", " 1.2.3.4:80", "1.2.3.4:0x50",
        ])
    func socketAddressesRefused(text: String) {
        #expect(throws: AddressParseError.self) { try SocketAddress(parsing: text) }
        #expect(SocketAddress(text) == nil)
    }
}
