import BindKit
import BindTestSupport
import Testing

/// Every form of error message, word for word, with its position.
@Suite("Address error messages", .checksLeaks)
struct AddressErrorTests {
    typealias Case = (input: String, description: String, position: Int?)

    static func check(_ expected: Case, _ parse: (String) throws(AddressParseError) -> Void) {
        do {
            try parse(expected.input)
            Issue.record("\(expected.input.debugDescription) was accepted")
        } catch {
            #expect(error.description == expected.description)
            #expect(error.position == expected.position)
            #expect(error.input == expected.input)
            #expect(error.description.hasPrefix(error.problem))
        }
    }

    @Test(
        "strict IPv4",
        arguments: [
            ("", "empty input", nil),
            ("10.0.0.256", "octet 4 is 256 (above 255) in \"10.0.0.256\"", 7),
            ("10.x.0.1", "unexpected character \"x\" at position 3 in \"10.x.0.1\"", 3),
            (
                "1.01.2.3",
                "octet 2 (\"01\" at position 2) has a leading zero, which the strict form refuses (inet_aton would read the octet as octal) in \"1.01.2.3\"",
                2
            ),
            ("1..2.3", "octet 2 is empty (at position 2) in \"1..2.3\"", 2),
            (".1.2.3", "octet 1 is empty (at position 0) in \".1.2.3\"", 0),
            ("1.2.3.", "octet 4 is empty (at position 6) in \"1.2.3.\"", 6),
            ("1.2.3", "too few octets (3 of 4) in \"1.2.3\"", nil),
            ("1.2.3.4.5", "too many octets (more than 4; a fifth starts at position 8) in \"1.2.3.4.5\"", 8),
            ("1.2.3.4.", "trailing \".\" at position 7 after a complete address in \"1.2.3.4.\"", 7),
            (
                "1.2.3.4:80",
                "unexpected character \":\" at position 7 after the address (a port is not part of an address; parse \"address:port\" as a SocketAddress) in \"1.2.3.4:80\"",
                7
            ),
            ("1.2.3.4 ", "unexpected character \" \" at position 7 in \"1.2.3.4 \"", 7),
            (
                "99999999999999999999999999999999.1.1.1",
                "octet 1 is 999999999999999999999999… (above 255) in \"99999999999999999999999999999999.1.1.1\"", 0
            ),
            ("1.2.3.4\0", "unexpected character \"\\0\" at position 7 in \"1.2.3.4\\0\"", 7),
            ("é.1.2.3", "unexpected character \"é\" at position 0 in \"é.1.2.3\"", 0),
            ("1.2.3.4\r\n", "unexpected character \"\\r\\n\" at position 7 in \"1.2.3.4\\r\\n\"", 7),
            ("1.2.3.4\u{301}", "unexpected character \"4\\u{301}\" at position 6 in \"1.2.3.4\\u{301}\"", 6),
        ] as [Case])
    func strictIPv4(expected: Case) {
        Self.check(expected) { text throws(AddressParseError) in _ = try IPv4Address(parsing: text) }
    }

    @Test(
        "legacy IPv4",
        arguments: [
            ("", "empty input", nil),
            ("10.0.0.256", "part 4 is 256 (above 255) in \"10.0.0.256\"", 7),
            ("1..2", "part 2 is empty (at position 2) in \"1..2\"", 2),
            ("1.", "part 2 is empty (at position 2) in \"1.\"", 2),
            ("1.2.3.4.5", "too many parts (more than 4; a fifth starts at position 8) in \"1.2.3.4.5\"", 8),
            ("1.2.3.4.", "trailing \".\" at position 7 after a complete address in \"1.2.3.4.\"", 7),
            ("0x", "part 1 has \"0x\" but no hex digits after it at position 1 in \"0x\"", 1),
            ("0xg", "part 1 has \"0x\" but no hex digits after it at position 1 in \"0xg\"", 1),
            ("08", "digit \"8\" at position 1 is not octal, and part 1 starts with 0, which makes it octal in \"08\"", 1),
            ("0178", "digit \"8\" at position 3 is not octal, and part 1 starts with 0, which makes it octal in \"0178\"", 3),
            ("4294967296", "part 1 is 4294967296 (above 4294967295) in \"4294967296\"", 0),
            ("1.16777216", "part 2 is 16777216 (above 16777215, the most the last of 2 parts can hold) in \"1.16777216\"", 2),
            ("1.2.65536", "part 3 is 65536 (above 65535, the most the last of 3 parts can hold) in \"1.2.65536\"", 4),
            ("256.1", "part 1 is 256 (above 255) in \"256.1\"", 0),
            ("1.2.3.4x", "unexpected character \"x\" at position 7 in \"1.2.3.4x\"", 7),
            (" 1", "unexpected character \" \" at position 0 in \" 1\"", 0),
            ("1.2.3.4\0", "unexpected character \"\\0\" at position 7 in \"1.2.3.4\\0\"", 7),
            (
                "99999999999999999999999999999999999999",
                "part 1 is 999999999999999999999999… (above 4294967295) in \"99999999999999999999999999999999999999\"", 0
            ),
        ] as [Case])
    func legacyIPv4(expected: Case) {
        Self.check(expected) { text throws(AddressParseError) in _ = try IPv4Address.parseLegacy(text) }
    }

    @Test(
        "IPv6",
        arguments: [
            ("", "empty input", nil),
            (":", "address starts with a single \":\" at position 0 (only \"::\" may start an address) in \":\"", 0),
            (":1", "address starts with a single \":\" at position 0 (only \"::\" may start an address) in \":1\"", 0),
            ("1:", "address ends with a single \":\" at position 1 (only \"::\" may end an address) in \"1:\"", 1),
            ("1::2:", "address ends with a single \":\" at position 4 (only \"::\" may end an address) in \"1::2:\"", 4),
            ("1:::2", "\":::\" at position 1 (at most two colons may follow each other) in \"1:::2\"", 1),
            ("1::2::3", "more than one \"::\" (the second at position 4) in \"1::2::3\"", 4),
            ("1:2:3:4:5:6:7:8:9", "too many groups (more than 8, at position 16) in \"1:2:3:4:5:6:7:8:9\"", 16),
            ("1:2:3:4:5:6:7", "too few groups (7 of 8) and no \"::\" to stand for the rest in \"1:2:3:4:5:6:7\"", nil),
            ("12345::", "group 1 has more than 4 hex digits (\"12345\" at position 0) in \"12345::\"", 0),
            (
                "::1:2:3:4:5:6:1.2.3.4", "\"::\" at position 0 stands for no group: the address already has 8 in \"::1:2:3:4:5:6:1.2.3.4\"",
                0
            ),
            (
                "1:2:3:4:5:6:7:1.2.3.4",
                "too many groups before the embedded IPv4 address at position 14 (it takes the last 2 of 8 groups) in \"1:2:3:4:5:6:7:1.2.3.4\"",
                14
            ),
            ("1::2:3:4:5:6:7:8", "\"::\" at position 1 stands for no group: the address already has 8 in \"1::2:3:4:5:6:7:8\"", 1),
            ("::1.2.3", "too few octets (3 of 4) in \"::1.2.3\"", nil),
            ("::256.0.0.1", "octet 1 is 256 (above 255) in \"::256.0.0.1\"", 2),
            ("g::", "unexpected character \"g\" at position 0 in \"g::\"", 0),
            ("::1 ", "unexpected character \" \" at position 3 in \"::1 \"", 3),
            ("%eth0", "missing address before the zone \"%\" in \"%eth0\"", nil),
            ("fe80::1%", "zone is empty (nothing after the \"%\" at position 7) in \"fe80::1%\"", 7),
            (
                "fe80::1%abcdefghijklmnop",
                "zone \"abcdefghijklmnop\" is longer than 15 bytes (16 bytes), the most an interface name can have in \"fe80::1%abcdefghijklmnop\"",
                8
            ),
            ("fe80::1%4294967296", "zone index 4294967296 is above 4294967295 in \"fe80::1%4294967296\"", 8),
            (
                "fe80::1%eth 0",
                "unexpected character \" \" in zone at position 11 (a zone is an interface name or index) in \"fe80::1%eth 0\"", 11
            ),
            ("fe80::1%.", "zone \".\" is not a valid interface name in \"fe80::1%.\"", 8),
            ("::ffff:1.2.3.4x", "unexpected character \"x\" at position 14 in \"::ffff:1.2.3.4x\"", 14),
            ("::1.2.3.4.5", "too many octets (more than 4; a fifth starts at position 10) in \"::1.2.3.4.5\"", 10),
            ("1.2.3.4::", "unexpected character \":\" at position 7 in \"1.2.3.4::\"", 7),
        ] as [Case])
    func ipv6(expected: Case) {
        Self.check(expected) { text throws(AddressParseError) in _ = try IPv6Address(parsing: text) }
    }

    @Test(
        "socket addresses",
        arguments: [
            ("", "empty input", nil),
            ("1.2.3.4", "missing port (expected \":PORT\" at position 7) in \"1.2.3.4\"", 7),
            ("1.2.3.4:", "port is empty (at position 8) in \"1.2.3.4:\"", 8),
            ("1.2.3.4:70000", "port 70000 is above 65535 in \"1.2.3.4:70000\"", 8),
            ("1.2.3.4:+80", "unexpected character \"+\" in port at position 8 (a port is decimal digits only) in \"1.2.3.4:+80\"", 8),
            ("::1:80", "an IPv6 address with a port must be in brackets, as in \"[::1]:80\" in \"::1:80\"", nil),
            ("::1", "an IPv6 address with a port must be in brackets, as in \"[::1]:80\" in \"::1\"", nil),
            ("fe80::1%eth0:80", "an IPv6 address with a port must be in brackets, as in \"[::1]:80\" in \"fe80::1%eth0:80\"", nil),
            ("[::1]", "missing port (expected \":PORT\" at position 5) in \"[::1]\"", 5),
            ("[::1]:", "port is empty (at position 6) in \"[::1]:\"", 6),
            ("[::1]80", "expected \":\" after \"]\" but found \"8\" at position 5 in \"[::1]80\"", 5),
            ("[::1", "missing \"]\" to close the \"[\" at position 0 in \"[::1\"", 0),
            ("[]:80", "missing address between \"[\" and \"]\" at position 0 in \"[]:80\"", 0),
            (
                "[1.2.3.4]:80",
                "brackets at position 0 are only for IPv6 addresses; write an IPv4 address as \"1.2.3.4:80\" in \"[1.2.3.4]:80\"", 0
            ),
            ("1.2.3.4:80:90", "unexpected character \":\" in port at position 10 (a port is decimal digits only) in \"1.2.3.4:80:90\"", 10),
            ("[fe80::1%]:80", "zone is empty (nothing after the \"%\" at position 8) in \"[fe80::1%]:80\"", 8),
            ("10.0.0.256:80", "octet 4 is 256 (above 255) in \"10.0.0.256:80\"", 7),
            (
                "[::1]:99999999999999999999999999999999999",
                "port 999999999999999999999999… is above 65535 in \"[::1]:99999999999999999999999999999999999\"", 6
            ),
            ("[::g]:80", "unexpected character \"g\" at position 3 in \"[::g]:80\"", 3),
            ("1.2.3.4:8a", "unexpected character \"a\" in port at position 9 (a port is decimal digits only) in \"1.2.3.4:8a\"", 9),
        ] as [Case])
    func socketAddress(expected: Case) {
        Self.check(expected) { text throws(AddressParseError) in _ = try SocketAddress(parsing: text) }
    }

    @Test(
        "either family, strict",
        arguments: [
            (
                "1.2.3.4:80",
                "unexpected character \":\" at position 7 after the address (a port is not part of an address; parse \"address:port\" as a SocketAddress) in \"1.2.3.4:80\"",
                7
            ),
            ("abc", "unexpected character \"a\" at position 0 in \"abc\"", 0),
            ("1.2.3", "too few octets (3 of 4) in \"1.2.3\"", nil),
            ("::g", "unexpected character \"g\" at position 2 in \"::g\"", 2),
            ("1.2.3.4 ::1", "unexpected character \" \" at position 7 in \"1.2.3.4 ::1\"", 7),
        ] as [Case])
    func eitherFamily(expected: Case) {
        Self.check(expected) { text throws(AddressParseError) in _ = try IPAddress(parsing: text) }
    }

    @Test(
        "either family, legacy",
        arguments: [
            ("1.2.3.4:80", "unexpected character \":\" at position 7 in \"1.2.3.4:80\"", 7),
            ("abc", "unexpected character \"a\" at position 0 in \"abc\"", 0),
            ("::g", "unexpected character \"g\" at position 2 in \"::g\"", 2),
        ] as [Case])
    func eitherFamilyLegacy(expected: Case) {
        Self.check(expected) { text throws(AddressParseError) in _ = try IPAddress.parseLegacy(text) }
    }

    @Test("zones on their own")
    func zones() {
        Self.check(("", "zone is empty", nil)) { text throws(AddressParseError) in _ = try IPv6Zone(parsing: text) }
        Self.check(("a b", "unexpected character \" \" in zone at position 1 (a zone is an interface name or index) in \"a b\"", 1)) {
            text throws(AddressParseError) in _ = try IPv6Zone(parsing: text)
        }
        Self.check(("99999999999", "zone index 99999999999 is above 4294967295 in \"99999999999\"", 0)) {
            text throws(AddressParseError) in _ = try IPv6Zone(parsing: text)
        }
    }

    @Test("errors made outside the parsers")
    func customErrors() {
        let error = AddressParseError(input: "10.0.0.0/33", position: 9, problem: "prefix length 33 is above 32")
        #expect(error.description == #"prefix length 33 is above 32 in "10.0.0.0/33""#)
        #expect(error.position == 9)
        #expect(error.problem == "prefix length 33 is above 32")
        #expect(error == AddressParseError(input: "10.0.0.0/33", position: 9, problem: "prefix length 33 is above 32"))
    }

    @Test("long inputs are cut short in messages, not in the error")
    func longInputs() throws {
        let digits = String(repeating: "1", count: 1_000_000)
        do {
            _ = try IPv4Address(parsing: digits)
            Issue.record("accepted")
        } catch {
            #expect(error.problem == "octet 1 is 111111111111111111111111… (above 255)")
            #expect(error.input.utf8.count == 1_000_000)
            #expect(error.description.count < 200)
            #expect(error.position == 0)
        }
        let colons = String(repeating: ":", count: 100_000)
        #expect(throws: AddressParseError.self) { try IPv6Address(parsing: colons) }
        let zone = "fe80::1%" + String(repeating: "x", count: 100_000)
        #expect(throws: AddressParseError.self) { try IPv6Address(parsing: zone) }
        let port = "1.2.3.4:" + String(repeating: "9", count: 100_000)
        #expect(throws: AddressParseError.self) { try SocketAddress(parsing: port) }
        let legacy = String(repeating: "0", count: 100_000) + "1 trailing"
        #expect(try IPv4Address.parseLegacy(legacy) == IPv4Address(0, 0, 0, 1))
        let hex = "0x" + String(repeating: "0", count: 100_000) + "7f000001"
        #expect(try IPv4Address.parseLegacy(hex) == .loopback)
    }

    @Test("position counts Characters, not bytes")
    func positionsInCharacters() {
        Self.check(("é.1.2.3x", "unexpected character \"é\" at position 0 in \"é.1.2.3x\"", 0)) {
            text throws(AddressParseError) in _ = try IPv4Address(parsing: text)
        }
        Self.check(("::🙂", "unexpected character \"🙂\" at position 2 in \"::🙂\"", 2)) {
            text throws(AddressParseError) in _ = try IPv6Address(parsing: text)
        }
        Self.check(
            (
                "[fe80::1%é]:8x", "unexpected character \"x\" in port at position 13 (a port is decimal digits only) in \"[fe80::1%é]:8x\"",
                13
            )
        ) {
            text throws(AddressParseError) in _ = try SocketAddress(parsing: text)
        }
    }
}
