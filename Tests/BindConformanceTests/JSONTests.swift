import BindConformance
import BindTestSupport
import PropertyBased
import Testing

private func parse(_ text: String) throws(JSONParseError) -> JSONValue {
    try JSONValue(parsing: text)
}

private func parseError(_ bytes: [UInt8], maximumDepth: Int = JSONValue.defaultMaximumDepth) -> JSONParseError? {
    do {
        _ = try JSONValue(parsing: bytes, maximumDepth: maximumDepth)
        return nil
    } catch {
        return error
    }
}

private func parseError(_ text: String) -> JSONParseError? {
    parseError(Array(text.utf8))
}

private func object(_ members: (String, JSONValue)...) -> JSONValue {
    .object(members.map { JSONMember(key: $0.0, value: $0.1) })
}

struct ValidCase: Sendable, CustomTestStringConvertible {
    var text: String
    var value: JSONValue
    var testDescription: String { text }
}

struct InvalidCase: Sendable, CustomTestStringConvertible {
    var text: String
    var kind: JSONParseError.Kind
    var line: Int
    var column: Int
    var message: String  // a part of the message
    var testDescription: String { text.debugDescription }
}

@Suite(.checksLeaks) struct JSONParserTests {
    static let valid: [ValidCase] = [
        .init(text: "null", value: .null),
        .init(text: "true", value: .bool(true)),
        .init(text: "false", value: .bool(false)),
        .init(text: " \t\r\n 0 \n", value: .number("0")),
        .init(text: "-0", value: .number("-0")),
        .init(text: "1.0", value: .number("1.0")),
        .init(text: "-12.5e+3", value: .number("-12.5e+3")),
        .init(text: "1E3", value: .number("1E3")),
        .init(text: "0.000001e-7", value: .number("0.000001e-7")),
        .init(text: "123456789012345678901234567890", value: .number("123456789012345678901234567890")),
        .init(text: "\"\"", value: .string("")),
        .init(text: "\"h\u{e9}llo \u{1F600}\"", value: .string("h\u{e9}llo \u{1F600}")),
        .init(text: #""\"\\\/\b\f\n\r\t""#, value: .string("\"\\/\u{08}\u{0C}\n\r\t")),
        .init(text: #""\u0041\u00e9\u00E9\u20AC""#, value: .string("A\u{e9}\u{e9}\u{20AC}")),
        .init(text: #""\ud83d\ude00""#, value: .string("\u{1F600}")),
        .init(text: #""\uDBFF\uDFFF""#, value: .string("\u{10FFFF}")),
        .init(text: #""\u0000""#, value: .string("\u{0}")),
        .init(text: "[]", value: .array([])),
        .init(text: "[ ]", value: .array([])),
        .init(text: "{}", value: .object([])),
        .init(text: "[1,[2,[3]],{}]", value: .array([.number("1"), .array([.number("2"), .array([.number("3")])]), .object([])])),
        .init(
            text: #"{"b": 1, "a": [true, null], "c": {"d": "e"}}"#,
            value: object(("b", .number("1")), ("a", .array([.bool(true), .null])), ("c", object(("d", .string("e")))))
        ),
        // Keys are compared code point by code point: these two are different keys.
        .init(text: "{\"\u{e9}\": 1, \"e\u{301}\": 2}", value: object(("\u{e9}", .number("1")), ("e\u{301}", .number("2")))),
    ]

    @Test(arguments: valid)
    func parsesValidDocuments(_ c: ValidCase) throws {
        #expect(try parse(c.text) == c.value)
    }

    static let invalid: [InvalidCase] = [
        .init(text: "", kind: .empty, line: 1, column: 1, message: "empty document"),
        .init(text: "  \n ", kind: .empty, line: 2, column: 2, message: "empty document"),
        .init(text: "[1, 2", kind: .syntax, line: 1, column: 6, message: "expected ',' or ']' after an array element, got end of input"),
        .init(
            text: "{\"a\": 1", kind: .syntax, line: 1, column: 8, message: "expected ',' or '}' after an object member, got end of input"),
        .init(text: "{\"a\" 1}", kind: .syntax, line: 1, column: 6, message: "expected ':' after the key \"a\", got '1'"),
        .init(text: "{\"a\": }", kind: .syntax, line: 1, column: 7, message: "expected a value"),
        .init(text: "{a: 1}", kind: .syntax, line: 1, column: 2, message: "expected a string key or '}' in an object, got 'a'"),
        .init(text: "{\"a\": 1,}", kind: .syntax, line: 1, column: 9, message: "trailing comma"),
        .init(text: "[1,]", kind: .syntax, line: 1, column: 4, message: "trailing comma"),
        .init(text: "[1 2]", kind: .syntax, line: 1, column: 4, message: "expected ',' or ']' after an array element, got '2'"),
        .init(text: "[\n  1,\n  2\n  3]", kind: .syntax, line: 4, column: 3, message: "got '3'"),
        .init(
            text: "{\"a\": 1, \"a\": 2}", kind: .duplicateKey, line: 1, column: 10,
            message: "duplicate key \"a\" in an object (first at line 1, column 2)"),
        .init(text: "{} {}", kind: .trailingData, line: 1, column: 4, message: "expected end of input after the JSON value, got '{'"),
        .init(text: "1 2", kind: .trailingData, line: 1, column: 3, message: "expected end of input"),
        .init(text: "nul", kind: .syntax, line: 1, column: 1, message: "expected a value"),
        .init(text: "truex", kind: .syntax, line: 1, column: 1, message: "expected a value"),
        .init(text: "True", kind: .syntax, line: 1, column: 1, message: "got 'T'"),
        .init(text: "'a'", kind: .syntax, line: 1, column: 1, message: "got '''"),
        .init(text: "// comment\n1", kind: .syntax, line: 1, column: 1, message: "got '/'"),
        .init(text: "NaN", kind: .syntax, line: 1, column: 1, message: "expected a value"),
        .init(text: "Infinity", kind: .syntax, line: 1, column: 1, message: "expected a value"),
        // Numbers
        .init(text: "01", kind: .syntax, line: 1, column: 1, message: "leading zero"),
        .init(text: "-01", kind: .syntax, line: 1, column: 2, message: "leading zero"),
        .init(text: "-", kind: .syntax, line: 1, column: 2, message: "expected a digit after '-', got end of input"),
        .init(text: "-a", kind: .syntax, line: 1, column: 2, message: "expected a digit after '-', got 'a'"),
        .init(text: "+1", kind: .syntax, line: 1, column: 1, message: "got '+'"),
        .init(text: ".5", kind: .syntax, line: 1, column: 1, message: "got '.'"),
        .init(text: "1.", kind: .syntax, line: 1, column: 3, message: "expected a digit after '.'"),
        .init(text: "1.e3", kind: .syntax, line: 1, column: 3, message: "expected a digit after '.'"),
        .init(text: "1e", kind: .syntax, line: 1, column: 3, message: "exponent"),
        .init(text: "1e+", kind: .syntax, line: 1, column: 4, message: "exponent"),
        .init(text: "0x10", kind: .syntax, line: 1, column: 2, message: "unexpected 'x' in a number"),
        .init(text: "1.5.3", kind: .syntax, line: 1, column: 4, message: "unexpected '.' in a number"),
        // Strings
        .init(
            text: "\"abc", kind: .syntax, line: 1, column: 5, message: "expected '\"' to close the string that starts at line 1, column 1"),
        .init(text: "\"a\nb\"", kind: .syntax, line: 1, column: 3, message: "control character U+000A must be escaped"),
        .init(text: "\"a\tb\"", kind: .syntax, line: 1, column: 3, message: "control character U+0009"),
        .init(text: #""\x""#, kind: .syntax, line: 1, column: 2, message: "invalid escape '\\x'"),
        .init(text: #""\'""#, kind: .syntax, line: 1, column: 2, message: "invalid escape"),
        .init(text: #""\u12""#, kind: .syntax, line: 1, column: 6, message: "expected 4 hexadecimal digits after \\u, got '\"'"),
        .init(text: #""\u12G4""#, kind: .syntax, line: 1, column: 6, message: "expected 4 hexadecimal digits"),
        .init(text: #""\ud83d""#, kind: .syntax, line: 1, column: 2, message: "unpaired high surrogate \\uD83D"),
        .init(text: #""\ud83dx""#, kind: .syntax, line: 1, column: 2, message: "unpaired high surrogate"),
        .init(text: #""\ud83d\u0041""#, kind: .syntax, line: 1, column: 2, message: "got \\u0041"),
        .init(text: #""\ud83d\ud83d""#, kind: .syntax, line: 1, column: 2, message: "unpaired high surrogate"),
        .init(text: #""\ude00""#, kind: .syntax, line: 1, column: 2, message: "unpaired low surrogate \\uDE00"),
        .init(text: "\"\\", kind: .syntax, line: 1, column: 3, message: "after '\\', got end of input"),
        // Columns count characters, not bytes.
        .init(text: "[\"\u{e9}\u{1F600}\" x]", kind: .syntax, line: 1, column: 7, message: "got 'x'"),
        .init(text: "[\u{e9}]", kind: .syntax, line: 1, column: 2, message: "got 'U+00E9 \u{e9}'"),
    ]

    @Test(arguments: invalid)
    func rejectsInvalidDocuments(_ c: InvalidCase) throws {
        let error = try #require(parseError(c.text))
        #expect(error.kind == c.kind)
        #expect(error.line == c.line)
        #expect(error.column == c.column)
        #expect(error.message.contains(c.message), "\(error.message)")
        #expect(error.description == "line \(c.line), column \(c.column): \(error.message)")
    }

    @Test func depthBombIsAnErrorNotACrash() throws {
        let bomb = [UInt8](repeating: UInt8(ascii: "["), count: 100_000)
        let error = try #require(parseError(bomb))
        #expect(error.kind == .tooDeep)
        #expect(error.column == 65)
        #expect(error.message == "arrays and objects nested deeper than 64 levels")
    }

    @Test func objectBombIsAnErrorNotACrash() throws {
        let bomb = Array(String(repeating: "{\"a\":", count: 50_000).utf8)
        let error = try #require(parseError(bomb))
        #expect(error.kind == .tooDeep)
    }

    @Test func depthLimitIsExact() throws {
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        _ = try parse(ok)
        let tooDeep = "[" + ok + "]"
        #expect(parseError(tooDeep)?.kind == .tooDeep)
        #expect(parseError(Array("[[1]]".utf8), maximumDepth: 1)?.kind == .tooDeep)
        #expect(parseError(Array("[1]".utf8), maximumDepth: 1) == nil)
        #expect(parseError(Array("1".utf8), maximumDepth: 0) == nil)
    }

    struct UTF8Case: Sendable, CustomTestStringConvertible {
        var bytes: [UInt8]
        var offset: Int
        var testDescription: String { bytes.map { String($0, radix: 16) }.joined(separator: " ") }
    }

    static let invalidUTF8: [UTF8Case] = [
        .init(bytes: [0x22, 0xFF, 0x22], offset: 1),
        .init(bytes: [0x22, 0x61, 0x80, 0x22], offset: 2),  // lone continuation byte
        .init(bytes: [0x22, 0xC0, 0x80, 0x22], offset: 1),  // overlong NUL
        .init(bytes: [0x22, 0xC1, 0xBF, 0x22], offset: 1),  // overlong
        .init(bytes: [0x22, 0xE0, 0x80, 0x80, 0x22], offset: 1),  // overlong 3-byte
        .init(bytes: [0x22, 0xED, 0xA0, 0x80, 0x22], offset: 1),  // UTF-16 surrogate D800
        .init(bytes: [0x22, 0xF0, 0x80, 0x80, 0x80, 0x22], offset: 1),  // overlong 4-byte
        .init(bytes: [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], offset: 1),  // above U+10FFFF
        .init(bytes: [0x22, 0xF5, 0x80, 0x80, 0x80, 0x22], offset: 1),
        .init(bytes: [0x22, 0xE2, 0x82, 0x22], offset: 1),  // truncated sequence
        .init(bytes: [0x5B, 0x31, 0x5D, 0xE2], offset: 3),  // truncated at the end, after the value
        .init(bytes: [0x0A, 0x20, 0xFE], offset: 2),
    ]

    @Test(arguments: invalidUTF8)
    func rejectsInvalidUTF8WithTheByteOffset(_ c: UTF8Case) throws {
        let error = try #require(parseError(c.bytes))
        #expect(error.kind == .invalidUTF8)
        #expect(error.offset == c.offset)
        #expect(error.message.contains("invalid UTF-8 at byte offset \(c.offset)"), "\(error.message)")
    }

    @Test func invalidUTF8PositionHasLineAndColumn() throws {
        let error = try #require(parseError([0x0A, 0x20, 0xFE]))
        #expect(error.line == 2)
        #expect(error.column == 2)
        #expect(error.description == "line 2, column 2: invalid UTF-8 at byte offset 2 (byte 0xFE)")
    }

    @Test func rejectsAByteOrderMark() throws {
        let error = try #require(parseError([0xEF, 0xBB, 0xBF, 0x31]))
        #expect(error.kind == .invalidUTF8)
        #expect(error.message.contains("byte order mark"))
    }

    @Test func acceptsEveryValidUTF8Length() throws {
        let text = "\"a\u{e9}\u{20AC}\u{1F600}\u{10FFFF}\u{D7FF}\u{E000}\""
        #expect(try parse(text) == .string("a\u{e9}\u{20AC}\u{1F600}\u{10FFFF}\u{D7FF}\u{E000}"))
    }

    @Test func subscriptFindsMembers() throws {
        let value = try parse(#"{"a": 1, "b": [2]}"#)
        #expect(value["a"] == .number("1"))
        #expect(value["b"] == .array([.number("2")]))
        #expect(value["c"] == nil)
        #expect(JSONValue.array([])["a"] == nil)
    }

    @Test func kindDescriptions() {
        #expect(JSONValue.null.kindDescription == "null")
        #expect(JSONValue.bool(true).kindDescription == "a boolean")
        #expect(JSONValue.number("1").kindDescription == "a number")
        #expect(JSONValue.string("").kindDescription == "a string")
        #expect(JSONValue.array([]).kindDescription == "an array")
        #expect(JSONValue.object([]).kindDescription == "an object")
    }
}

@Suite(.checksLeaks) struct JSONSerializerTests {
    static let sample = object(
        ("name", .string("dual \"stack\"\n\t\\ \u{1}\u{7F} \u{e9}\u{1F600} \u{2028}")),
        ("n", .array([.number("-1.5e3"), .integer(UInt16(65535)), .null, .bool(false), .array([]), .object([])])),
        ("steps", .array([object(("op", .string("socket")), ("id", .string("a"))), object(("op", .string("close")))])),
    )

    @Test func compact() {
        let value = object(("a", .array([.number("1"), .bool(true), .null])), ("b", .string("x\"y")), ("c", .object([])))
        #expect(value.serialized() == #"{"a":[1,true,null],"b":"x\"y","c":{}}"#)
    }

    @Test func pretty() {
        let value = object(("a", .array([.number("1"), .object([])])), ("b", object(("c", .array([])))))
        #expect(
            value.serialized(.pretty()) == """
                {
                  "a": [
                    1,
                    {}
                  ],
                  "b": {
                    "c": []
                  }
                }
                """)
    }

    @Test func prettyWithInlineDepth() {
        let value = object(
            (
                "steps",
                .array([object(("op", .string("bind")), ("id", .string("a"))), object(("l", .array([.number("1"), .number("2")])))])
            ))
        #expect(
            value.serialized(.pretty(indent: 2, inlineDepth: 2)) == """
                {
                  "steps": [
                    { "op": "bind", "id": "a" },
                    { "l": [1, 2] }
                  ]
                }
                """)
    }

    @Test func escapes() {
        #expect(
            JSONValue.string("\u{0}\u{1F}\u{08}\u{0C}\n\r\t\"\\/\u{7F}\u{2028}\u{2029}\u{e9}").serialized()
                == #""\u0000\u001F\b\f\n\r\t\"\\/\u007F\u2028\u2029é""#)
    }

    @Test(arguments: [JSONStyle.compact, .pretty(), .pretty(indent: 4, inlineDepth: 1), .pretty(indent: 0, inlineDepth: 0)])
    func roundTripOfASample(style: JSONStyle) throws {
        #expect(try JSONValue(parsing: Self.sample.serialized(style)) == Self.sample)
    }

    @Test func roundTripOfGeneratedValues() async {
        await propertyCheck(count: 300, input: jsonGenerator) { value in
            for style in [JSONStyle.compact, .pretty(), .pretty(indent: 3, inlineDepth: 2)] {
                let text = value.serialized(style)
                #expect(throws: Never.self) { try JSONValue(parsing: text) }
                #expect((try? JSONValue(parsing: text)) == value, "\(text)")
            }
        }
    }
}

private let jsonGenerator = Generator<JSONValue, Shrink.None<JSONValue>> { rng in
    randomJSON(&rng, depth: 4)
}

private func randomString(_ rng: inout some RandomNumberGenerator) -> String {
    let pool: [Unicode.Scalar] = [
        "a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1F}", "\u{7F}", "\u{e9}", "\u{2028}", "\u{FFFF}", "\u{1F600}",
        "\u{10FFFF}",
    ]
    var scalars = String.UnicodeScalarView()
    for _ in 0..<Int.random(in: 0...8, using: &rng) {
        if let scalar = pool.randomElement(using: &rng) { scalars.append(scalar) }
    }
    return String(scalars)
}

private func randomNumber(_ rng: inout some RandomNumberGenerator) -> String {
    var literal = Bool.random(using: &rng) ? "-" : ""
    literal += Bool.random(using: &rng) ? "0" : String(Int.random(in: 1...999_999, using: &rng))
    if Bool.random(using: &rng) { literal += "." + String(Int.random(in: 0...999, using: &rng)) }
    if Bool.random(using: &rng) {
        literal += ["e", "E", "e+", "e-"].randomElement(using: &rng, default: "e") + String(Int.random(in: 0...99, using: &rng))
    }
    return literal
}

private func randomJSON(_ rng: inout some RandomNumberGenerator, depth: Int) -> JSONValue {
    switch Int.random(in: 0..<(depth > 0 ? 7 : 5), using: &rng) {
    case 0: return .null
    case 1: return .bool(Bool.random(using: &rng))
    case 2: return .number(randomNumber(&rng))
    case 3, 4: return .string(randomString(&rng))
    case 5:
        return .array((0..<Int.random(in: 0...4, using: &rng)).map { _ in randomJSON(&rng, depth: depth - 1) })
    default:
        var members: [JSONMember] = []
        var keys: Set<[UInt8]> = []
        for _ in 0..<Int.random(in: 0...4, using: &rng) {
            let key = randomString(&rng)
            if keys.insert(Array(key.utf8)).inserted {
                members.append(JSONMember(key: key, value: randomJSON(&rng, depth: depth - 1)))
            }
        }
        return .object(members)
    }
}

extension Array {
    fileprivate func randomElement(using rng: inout some RandomNumberGenerator, default fallback: Element) -> Element {
        randomElement(using: &rng) ?? fallback
    }
}
