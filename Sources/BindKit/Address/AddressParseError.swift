/// Why a piece of text is not an address, and where.
///
/// ``problem`` says what is wrong (`octet 4 is 256 (above 255)`), ``position`` where
/// (a 0-based offset in `Character`s of ``input``, when one place is to blame), and
/// ``description`` puts both together with the input:
/// `octet 4 is 256 (above 255) in "10.0.0.256"`.
///
/// The parsers build these without allocating, and without naming the problem: an error
/// records only the input and which grammar refused it, and that grammar's reference
/// parser (AddressParsing.swift) runs again to name the problem when it is read
/// (``problem``, ``position``, ``description``, `==`). Three words: thrown in registers.
public struct AddressParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The text that was parsed, in full.
    public let input: String
    /// Which parser refused the input, or the problem as given from outside.
    let source: Source

    enum Source: Sendable {
        /// The reference parser of the grammar names the problem when asked.
        case rejected(Grammar)
        /// Made outside this module (``init(input:position:problem:)``).
        case custom(CustomProblem)
    }

    /// Every grammar a parser of this module refuses input for.
    enum Grammar: UInt8, Sendable {
        case ipv4, ipv4Legacy, ipv6, either, eitherLegacy, zone, socketAddress
    }

    /// The position and text of an error made outside this module, boxed so that the
    /// parsers' errors stay three words.
    final class CustomProblem: Sendable {
        let position: Int?
        let problem: String
        init(position: Int?, problem: String) {
            self.position = position
            self.problem = problem
        }
    }

    /// The problem, named by the reference parser.
    var kind: Kind {
        switch source {
        case .rejected(let grammar): grammar.failure(in: input)
        case .custom: .custom
        }
    }

    /// Where the problem sits, as a 0-based offset in `Character`s of ``input``;
    /// `nil` when no single place is to blame (`empty input`, `too few groups`).
    ///
    /// For ASCII input this is the byte offset (a "\r\n" pair is one `Character`).
    public var position: Int? {
        if case .custom(let custom) = source { return custom.position }
        return kind.anchor.map { Self.characterOffset(in: input, ofByte: $0) }
    }

    /// What is wrong, without the input: `octet 4 is 256 (above 255)`.
    public var problem: String {
        if case .custom(let custom) = source { return custom.problem }
        return kind.message(in: input)
    }

    /// The problem and the input: `octet 4 is 256 (above 255) in "10.0.0.256"` (just the
    /// problem when the input is empty). A long input is cut after 80 characters.
    public var description: String {
        if input.isEmpty { return problem }
        return "\(problem) in \(Self.quoted(input, limit: 80))"
    }

    /// Two errors are equal when their inputs, problems and positions are, whichever
    /// parser refused the input.
    public static func == (lhs: AddressParseError, rhs: AddressParseError) -> Bool {
        guard lhs.input == rhs.input else { return false }
        switch (lhs.source, rhs.source) {
        case (.custom(let a), .custom(let b)): return a.position == b.position && a.problem == b.problem
        case (.custom, _), (_, .custom): return false
        case (.rejected(let a), .rejected(let b)): return a == b || lhs.kind == rhs.kind
        }
    }

    /// An error for a problem found outside this module (a prefix length, a host name, …).
    /// - Parameters:
    ///   - input: The text that was parsed.
    ///   - position: A 0-based `Character` offset in `input`, or `nil`.
    ///   - problem: What is wrong, phrased like the parsers' own problems.
    public init(input: String, position: Int?, problem: String) {
        self.init(input: input, source: .custom(CustomProblem(position: position, problem: problem)))
    }

    /// The error for an input that `grammar` refuses (which it keeps without a copy).
    static func rejected(_ input: consuming String, by grammar: Grammar) -> AddressParseError {
        AddressParseError(input: input, source: .rejected(grammar))
    }

    private init(input: String, source: Source) {
        self.input = input
        self.source = source
    }
}

extension AddressParseError.Grammar {
    /// What this grammar's reference parser says of all of `p`: nil when it accepts.
    func failure(_ p: UnsafeBufferPointer<UInt8>) -> ParseFailure? {
        do throws(ParseFailure) {
            switch self {
            case .ipv4: _ = try parseIPv4Strict(p, from: 0, to: p.count)
            case .ipv4Legacy: _ = try parseIPv4Legacy(p, from: 0, to: p.count)
            case .ipv6: _ = try parseIPv6(p, from: 0, to: p.count)
            case .either: _ = try parseIPAddress(p, from: 0, to: p.count)
            case .eitherLegacy: _ = try parseIPAddressLegacy(p, from: 0, to: p.count)
            case .zone: _ = try parseZone(p, from: 0, to: p.count)
            case .socketAddress: _ = try parseSocketAddress(p, to: p.count)
            }
            return nil
        } catch {
            return error
        }
    }

    /// The problem the reference parser finds in `input`, which this grammar refused.
    func failure(in input: String) -> AddressParseError.Kind {
        guard let failure = withUTF8Bytes(input, failure) else {
            preconditionFailure("\(self) refused what its reference parser accepts: \(input.debugDescription)")
        }
        return failure.kind
    }
}

/// A reference parser's failure: a kind with byte offsets into the input, a plain value
/// (no allocation, no reference counting).
struct ParseFailure: Error, Hashable, Sendable {
    let kind: AddressParseError.Kind
    init(_ kind: AddressParseError.Kind) { self.kind = kind }
}

extension AddressParseError {
    /// Every problem the parsers report. Offsets (`at`, `start`, `end`) are UTF-8 byte
    /// offsets into the whole input.
    enum Kind: Hashable, Sendable {
        case empty
        case unexpectedCharacter(at: Int)
        /// Made outside the parsers: the text is in ``AddressParseError/CustomProblem``.
        case custom

        // IPv4, strict (inet_pton)
        case octetTooLarge(octet: Int, start: Int, end: Int)
        case octetLeadingZero(octet: Int, start: Int, end: Int)
        case emptyOctet(octet: Int, at: Int)
        case tooFewOctets(count: Int)
        case tooManyOctets(at: Int)
        case trailingDot(at: Int)
        case portAfterAddress(at: Int)

        // IPv4, legacy (inet_aton)
        case emptyPart(part: Int, at: Int)
        case tooManyParts(at: Int)
        case partTooLarge(part: Int, parts: Int, start: Int, end: Int, limit: UInt32)
        case hexPrefixWithoutDigits(part: Int, at: Int)
        case notOctalDigit(part: Int, at: Int)

        // IPv6 (inet_pton)
        case groupTooLong(group: Int, start: Int, end: Int)
        case leadingColon(at: Int)
        case trailingColon(at: Int)
        case moreThanOneDoubleColon(at: Int)
        case tripleColon(at: Int)
        case tooManyGroups(at: Int)
        case tooManyGroupsForIPv4(at: Int)
        case tooFewGroups(count: Int)
        case doubleColonWithEightGroups(at: Int)
        case missingAddressBeforeZone

        // IPv6 zones
        case emptyZone(at: Int)
        case zoneTooLong(start: Int, end: Int)
        case zoneIndexTooLarge(start: Int, end: Int)
        case zoneCharacter(at: Int)
        case zoneReservedName(start: Int, end: Int)

        // Socket addresses
        case missingPort(at: Int)
        case emptyPort(at: Int)
        case portTooLarge(start: Int, end: Int)
        case portCharacter(at: Int)
        case ipv6NeedsBrackets
        case missingCloseBracket(at: Int)
        case expectedColonAfterBracket(at: Int)
        case bracketsAroundIPv4(at: Int)
        case emptyBrackets(at: Int)

        /// The byte the problem points at, if one does.
        var anchor: Int? {
            switch self {
            case .empty, .custom, .tooFewOctets, .tooFewGroups, .missingAddressBeforeZone,
                .ipv6NeedsBrackets:
                nil
            case .unexpectedCharacter(let at), .emptyOctet(_, let at), .tooManyOctets(let at),
                .trailingDot(let at), .portAfterAddress(let at), .emptyPart(_, let at), .tooManyParts(let at),
                .hexPrefixWithoutDigits(_, let at), .notOctalDigit(_, let at), .leadingColon(let at), .trailingColon(let at),
                .moreThanOneDoubleColon(let at), .tripleColon(let at), .tooManyGroups(let at),
                .tooManyGroupsForIPv4(let at), .doubleColonWithEightGroups(let at), .emptyZone(let at),
                .zoneCharacter(let at), .missingPort(let at), .emptyPort(let at), .portCharacter(let at),
                .missingCloseBracket(let at), .expectedColonAfterBracket(let at), .bracketsAroundIPv4(let at),
                .emptyBrackets(let at):
                at
            case .octetTooLarge(_, let start, _), .octetLeadingZero(_, let start, _),
                .partTooLarge(_, _, let start, _, _), .groupTooLong(_, let start, _), .zoneTooLong(let start, _),
                .zoneIndexTooLarge(let start, _), .zoneReservedName(let start, _), .portTooLarge(let start, _):
                start
            }
        }

        // swiftlint:disable:next cyclomatic_complexity function_body_length
        func message(in input: String) -> String {
            func at(_ byte: Int) -> String {
                "at position \(AddressParseError.characterOffset(in: input, ofByte: byte))"
            }
            func char(_ byte: Int) -> String {
                AddressParseError.quoted(AddressParseError.character(in: input, atByte: byte), limit: 8)
            }
            func text(_ start: Int, _ end: Int) -> String {
                AddressParseError.text(in: input, from: start, to: end)
            }
            switch self {
            case .empty:
                return "empty input"
            case .unexpectedCharacter(let byte):
                return "unexpected character \(char(byte)) \(at(byte))"
            case .custom:
                return ""  // AddressParseError.problem reads the CustomProblem instead

            case .octetTooLarge(let octet, let start, let end):
                return "octet \(octet) is \(text(start, end)) (above 255)"
            case .octetLeadingZero(let octet, let start, let end):
                return "octet \(octet) (\"\(text(start, end))\" \(at(start))) has a leading zero, which the strict"
                    + " form refuses (inet_aton would read the octet as octal)"
            case .emptyOctet(let octet, let byte):
                return "octet \(octet) is empty (\(at(byte)))"
            case .tooFewOctets(let count):
                return "too few octets (\(count) of 4)"
            case .tooManyOctets(let byte):
                return "too many octets (more than 4; a fifth starts \(at(byte)))"
            case .trailingDot(let byte):
                return "trailing \".\" \(at(byte)) after a complete address"
            case .portAfterAddress(let byte):
                return "unexpected character \":\" \(at(byte)) after the address"
                    + " (a port is not part of an address; parse \"address:port\" as a SocketAddress)"

            case .emptyPart(let part, let byte):
                return "part \(part) is empty (\(at(byte)))"
            case .tooManyParts(let byte):
                return "too many parts (more than 4; a fifth starts \(at(byte)))"
            case .partTooLarge(let part, let parts, let start, let end, let limit):
                switch limit {
                case .max: return "part \(part) is \(text(start, end)) (above 4294967295)"
                case 0xFF: return "part \(part) is \(text(start, end)) (above 255)"
                default:
                    return "part \(part) is \(text(start, end)) (above \(limit), the most the last of \(parts)"
                        + " parts can hold)"
                }
            case .hexPrefixWithoutDigits(let part, let byte):
                return "part \(part) has \"0x\" but no hex digits after it \(at(byte))"
            case .notOctalDigit(let part, let byte):
                return "digit \(char(byte)) \(at(byte)) is not octal, and part \(part) starts with 0, which makes it octal"

            case .groupTooLong(let group, let start, let end):
                return "group \(group) has more than 4 hex digits (\"\(text(start, end))\" \(at(start)))"
            case .leadingColon(let byte):
                return "address starts with a single \":\" \(at(byte)) (only \"::\" may start an address)"
            case .trailingColon(let byte):
                return "address ends with a single \":\" \(at(byte)) (only \"::\" may end an address)"
            case .moreThanOneDoubleColon(let byte):
                return "more than one \"::\" (the second \(at(byte)))"
            case .tripleColon(let byte):
                return "\":::\" \(at(byte)) (at most two colons may follow each other)"
            case .tooManyGroups(let byte):
                return "too many groups (more than 8, \(at(byte)))"
            case .tooManyGroupsForIPv4(let byte):
                return "too many groups before the embedded IPv4 address \(at(byte))"
                    + " (it takes the last 2 of 8 groups)"
            case .tooFewGroups(let count):
                return "too few groups (\(count) of 8) and no \"::\" to stand for the rest"
            case .doubleColonWithEightGroups(let byte):
                return "\"::\" \(at(byte)) stands for no group: the address already has 8"
            case .missingAddressBeforeZone:
                return "missing address before the zone \"%\""

            case .emptyZone(let byte):
                return "zone is empty (nothing after the \"%\" \(at(byte)))"
            case .zoneTooLong(let start, let end):
                return "zone \"\(text(start, end))\" is longer than 15 bytes (\(end - start) bytes), the most"
                    + " an interface name can have"
            case .zoneIndexTooLarge(let start, let end):
                return "zone index \(text(start, end)) is above 4294967295"
            case .zoneCharacter(let byte):
                return "unexpected character \(char(byte)) in zone \(at(byte))"
                    + " (a zone is an interface name or index)"
            case .zoneReservedName(let start, let end):
                return "zone \"\(text(start, end))\" is not a valid interface name"

            case .missingPort(let byte):
                return "missing port (expected \":PORT\" \(at(byte)))"
            case .emptyPort(let byte):
                return "port is empty (\(at(byte)))"
            case .portTooLarge(let start, let end):
                return "port \(text(start, end)) is above 65535"
            case .portCharacter(let byte):
                return "unexpected character \(char(byte)) in port \(at(byte)) (a port is decimal digits only)"
            case .ipv6NeedsBrackets:
                return "an IPv6 address with a port must be in brackets, as in \"[::1]:80\""
            case .missingCloseBracket(let byte):
                return "missing \"]\" to close the \"[\" \(at(byte))"
            case .expectedColonAfterBracket(let byte):
                return "expected \":\" after \"]\" but found \(char(byte)) \(at(byte))"
            case .bracketsAroundIPv4(let byte):
                return "brackets \(at(byte)) are only for IPv6 addresses; write an IPv4 address as \"1.2.3.4:80\""
            case .emptyBrackets(let byte):
                return "missing address between \"[\" and \"]\" \(at(byte))"
            }
        }
    }
}

// MARK: - Rendering (error path only)

extension AddressParseError {
    /// The 0-based `Character` offset of the character holding UTF-8 byte `byte`
    /// (the character count when `byte` is at or past the end).
    static func characterOffset(in input: String, ofByte byte: Int) -> Int {
        var bytes = 0
        var characters = 0
        for character in input {
            bytes += character.utf8.count
            if bytes > byte { return characters }
            characters += 1
        }
        return characters
    }

    /// The `Character` holding UTF-8 byte `byte` ("" past the end).
    static func character(in input: String, atByte byte: Int) -> String {
        var bytes = 0
        for character in input {
            bytes += character.utf8.count
            if bytes > byte { return String(character) }
        }
        return ""
    }

    /// The text of bytes `start..<end` (ASCII ranges the parsers found), shortened when long.
    static func text(in input: String, from start: Int, to end: Int) -> String {
        let utf8 = input.utf8
        let lower = max(0, min(start, utf8.count))
        let upper = max(lower, min(end, utf8.count))
        let limit = 24
        let from = utf8.index(utf8.startIndex, offsetBy: lower)
        let to = utf8.index(from, offsetBy: min(upper - lower, limit))
        let piece = String(decoding: utf8[from..<to], as: UTF8.self)
        return upper - lower > limit ? piece + "…" : piece
    }

    /// `text` in double quotes with control characters, quotes and backslashes escaped,
    /// cut after `limit` characters.
    static func quoted(_ text: String, limit: Int) -> String {
        var out = "\""
        var count = 0
        for character in text {
            if count == limit {
                out += "…"
                break
            }
            for scalar in character.unicodeScalars {
                out += escaped(scalar)
            }
            count += 1
        }
        return out + "\""
    }

    /// A scalar as it can be read in a message: printable ASCII and visible non-ASCII as
    /// they are, quotes and backslashes escaped, invisible or combining scalars as `\u{…}`.
    static func escaped(_ scalar: Unicode.Scalar) -> String {
        switch scalar {
        case "\"": return "\\\""
        case "\\": return "\\\\"
        case "\0": return "\\0"
        case "\t": return "\\t"
        case "\n": return "\\n"
        case "\r": return "\\r"
        case " "..."~": return String(scalar)
        default: break
        }
        if scalar.isASCII { return "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}" }
        switch scalar.properties.generalCategory {
        case .control, .format, .spaceSeparator, .lineSeparator, .paragraphSeparator, .privateUse, .unassigned,
            .surrogate, .nonspacingMark, .enclosingMark:
            return "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
        default:
            return String(scalar)
        }
    }
}
