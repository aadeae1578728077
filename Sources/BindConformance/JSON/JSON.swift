// A small, strict JSON (RFC 8259) parser and serializer for scenario files.
//
// Strict means: exactly one value with optional whitespace around it, UTF-8 only
// (no byte order mark), no comments, no trailing commas, no duplicate keys in an
// object, no unpaired surrogates in `\u` escapes, numbers exactly as the grammar
// says, and a bounded nesting depth so that hostile input is an error, never a
// stack overflow.

/// One JSON value.
///
/// Numbers keep the literal as written (`"1.0"`, `"-0"`, `"1e3"`), so that a reader can
/// tell an integer from a fraction and nothing is lost to floating point; two numbers are
/// equal when their literals are. Objects keep their members in the order of the document.
public enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    /// A number, as its literal. The serializer writes the literal as it stands, so a
    /// value built by hand must hold a literal that the JSON grammar allows.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([JSONMember])

    /// A number holding `value` as a decimal integer literal.
    public static func integer(_ value: some BinaryInteger) -> JSONValue {
        .number(String(value))
    }

    /// The value of the first member named `key`, when this is an object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// What this value is, with its article, for messages: "a string", "an array", "null", ….
    public var kindDescription: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// One member of a JSON object: a key and its value.
public struct JSONMember: Hashable, Sendable {
    public var key: String
    public var value: JSONValue

    public init(key: String, value: JSONValue) {
        self.key = key
        self.value = value
    }
}

/// Why a document is not JSON, and where.
public struct JSONParseError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// The input is empty or only whitespace.
        case empty
        /// The input is not valid UTF-8 (or starts with a byte order mark).
        case invalidUTF8
        /// The document breaks the JSON grammar.
        case syntax
        /// An object has the same key twice.
        case duplicateKey
        /// Arrays and objects are nested deeper than the limit.
        case tooDeep
        /// Something follows the value.
        case trailingData
    }

    public var kind: Kind
    /// Byte offset of the problem, from 0.
    public var offset: Int
    /// Line of the problem, from 1.
    public var line: Int
    /// Column of the problem, from 1, counted in Unicode scalars.
    public var column: Int
    /// What was expected and what was found, without the position.
    public var message: String

    public init(kind: Kind, offset: Int, line: Int, column: Int, message: String) {
        self.kind = kind
        self.offset = offset
        self.line = line
        self.column = column
        self.message = message
    }

    /// `line 3, column 17: expected ',' or '}' after an object member, got ']'`.
    public var description: String {
        "line \(line), column \(column): \(message)"
    }
}

extension JSONValue {
    /// The default limit on nesting: an array or object directly inside another counts one more.
    public static let defaultMaximumDepth = 64

    /// Parses one JSON document.
    ///
    /// - Parameters:
    ///   - bytes: the document, UTF-8.
    ///   - maximumDepth: how deeply arrays and objects may nest; the top-level container is depth 1.
    public init(parsing bytes: [UInt8], maximumDepth: Int = JSONValue.defaultMaximumDepth) throws(JSONParseError) {
        var parser = JSONParser(bytes: bytes, maximumDepth: maximumDepth)
        self = try parser.parseDocument()
    }

    /// Parses one JSON document held in a string.
    public init(parsing text: String, maximumDepth: Int = JSONValue.defaultMaximumDepth) throws(JSONParseError) {
        try self.init(parsing: Array(text.utf8), maximumDepth: maximumDepth)
    }
}

// MARK: - Parser

struct JSONParser {
    let bytes: [UInt8]
    let maximumDepth: Int
    var index = 0
    var depth = 0

    init(bytes: [UInt8], maximumDepth: Int) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
    }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            throw error(.invalidUTF8, at: 0, "a byte order mark is not allowed at the start of a JSON text")
        }
        if let bad = JSONParser.firstInvalidUTF8(bytes) {
            throw error(.invalidUTF8, at: bad, "invalid UTF-8 at byte offset \(bad) (byte 0x\(hexString(bytes[bad], width: 2)))")
        }
        skipWhitespace()
        if index == bytes.count {
            throw error(.empty, at: index, "empty document: expected a JSON value")
        }
        let value = try parseValue()
        skipWhitespace()
        if index != bytes.count {
            throw error(.trailingData, at: index, "expected end of input after the JSON value, got \(found(at: index))")
        }
        return value
    }

    // MARK: Values

    mutating func parseValue() throws(JSONParseError) -> JSONValue {
        guard index < bytes.count else {
            throw error(.syntax, at: index, "expected a value (object, array, string, number, true, false or null), got end of input")
        }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        case UInt8(ascii: "t"):
            try parseLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try parseLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try parseLiteral("null")
            return .null
        default:
            throw error(
                .syntax, at: index, "expected a value (object, array, string, number, true, false or null), got \(found(at: index))")
        }
    }

    mutating func parseLiteral(_ word: String) throws(JSONParseError) {
        let start = index
        for expected in word.utf8 {
            guard index < bytes.count, bytes[index] == expected else {
                throw error(
                    .syntax, at: start, "expected a value (object, array, string, number, true, false or null), got \(found(at: start))")
            }
            index += 1
        }
        // `truex` or `nullnull` are not literals followed by garbage that a later check
        // would catch with a worse message: say it here.
        if index < bytes.count, isIdentifierByte(bytes[index]) {
            throw error(
                .syntax, at: start, "expected a value (object, array, string, number, true, false or null), got \(found(at: start))")
        }
    }

    mutating func enter(at position: Int) throws(JSONParseError) {
        depth += 1
        if depth > maximumDepth {
            throw error(.tooDeep, at: position, "arrays and objects nested deeper than \(maximumDepth) levels")
        }
    }

    mutating func parseArray() throws(JSONParseError) -> JSONValue {
        try enter(at: index)
        index += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                throw error(.syntax, at: index, "expected a value after ',' in an array, got ']' (trailing comma)")
            }
            elements.append(try parseValue())
            skipWhitespace()
            guard index < bytes.count else {
                throw error(.syntax, at: index, "expected ',' or ']' after an array element, got end of input")
            }
            switch bytes[index] {
            case UInt8(ascii: ","):
                index += 1
            case UInt8(ascii: "]"):
                index += 1
                depth -= 1
                return .array(elements)
            default:
                throw error(.syntax, at: index, "expected ',' or ']' after an array element, got \(found(at: index))")
            }
        }
    }

    mutating func parseObject() throws(JSONParseError) -> JSONValue {
        try enter(at: index)
        index += 1  // {
        var members: [JSONMember] = []
        var seen: [[UInt8]: Int] = [:]  // key bytes → offset of the first occurrence
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                let what = members.isEmpty ? "expected a string key or '}'" : "expected a string key after ','"
                let trailing = index < bytes.count && bytes[index] == UInt8(ascii: "}") ? " (trailing comma)" : ""
                throw error(.syntax, at: index, "\(what) in an object, got \(found(at: index))\(trailing)")
            }
            let keyOffset = index
            let key = try parseString()
            let keyBytes = Array(key.utf8)
            if let first = seen[keyBytes] {
                let (line, column) = position(of: first)
                throw error(
                    .duplicateKey, at: keyOffset,
                    "duplicate key \"\(escapedForMessage(key))\" in an object (first at line \(line), column \(column))")
            }
            seen[keyBytes] = keyOffset
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
                throw error(.syntax, at: index, "expected ':' after the key \"\(escapedForMessage(key))\", got \(found(at: index))")
            }
            index += 1
            skipWhitespace()
            let value = try parseValue()
            members.append(JSONMember(key: key, value: value))
            skipWhitespace()
            guard index < bytes.count else {
                throw error(.syntax, at: index, "expected ',' or '}' after an object member, got end of input")
            }
            switch bytes[index] {
            case UInt8(ascii: ","):
                index += 1
            case UInt8(ascii: "}"):
                index += 1
                depth -= 1
                return .object(members)
            default:
                throw error(.syntax, at: index, "expected ',' or '}' after an object member, got \(found(at: index))")
            }
        }
    }

    // MARK: Strings

    mutating func parseString() throws(JSONParseError) -> String {
        let start = index
        index += 1  // "
        var scalars = String.UnicodeScalarView()
        var runStart = index
        while true {
            guard index < bytes.count else {
                let (line, column) = position(of: start)
                throw error(
                    .syntax, at: index, "expected '\"' to close the string that starts at line \(line), column \(column), got end of input")
            }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                appendRun(from: runStart, to: index, into: &scalars)
                index += 1
                return String(scalars)
            }
            if byte < 0x20 {
                throw error(.syntax, at: index, "control character U+\(hexString(byte, width: 4)) must be escaped in a string")
            }
            if byte == UInt8(ascii: "\\") {
                appendRun(from: runStart, to: index, into: &scalars)
                scalars.append(try parseEscape())
                runStart = index
                continue
            }
            index += 1
        }
    }

    /// Appends already validated UTF-8 bytes.
    func appendRun(from start: Int, to end: Int, into scalars: inout String.UnicodeScalarView) {
        guard start < end else { return }
        scalars.append(contentsOf: String(decoding: bytes[start..<end], as: UTF8.self).unicodeScalars)
    }

    mutating func parseEscape() throws(JSONParseError) -> Unicode.Scalar {
        let start = index
        index += 1  // backslash
        guard index < bytes.count else {
            throw error(.syntax, at: index, "expected an escape character after '\\', got end of input")
        }
        let byte = bytes[index]
        index += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let unit = try parseHex4(escapeAt: start)
            switch unit {
            case 0xD800...0xDBFF:
                let lowStart = index
                guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                    throw error(
                        .syntax, at: start,
                        "unpaired high surrogate \\u\(hexString(unit, width: 4)): expected a low surrogate \\uDC00…\\uDFFF right after it")
                }
                index += 2
                let low = try parseHex4(escapeAt: lowStart)
                guard (0xDC00...0xDFFF).contains(low) else {
                    throw error(
                        .syntax, at: start,
                        "unpaired high surrogate \\u\(hexString(unit, width: 4)): expected a low surrogate \\uDC00…\\uDFFF right after it, got \\u\(hexString(low, width: 4))"
                    )
                }
                let value = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                guard let scalar = Unicode.Scalar(value) else {
                    throw error(.syntax, at: start, "invalid surrogate pair")
                }
                return scalar
            case 0xDC00...0xDFFF:
                throw error(
                    .syntax, at: start,
                    "unpaired low surrogate \\u\(hexString(unit, width: 4)): it must follow a high surrogate \\uD800…\\uDBFF")
            default:
                guard let scalar = Unicode.Scalar(UInt32(unit)) else {
                    throw error(.syntax, at: start, "invalid \\u escape")
                }
                return scalar
            }
        default:
            throw error(
                .syntax, at: start,
                "invalid escape '\\\(describeChar(at: index - 1))': expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX")
        }
    }

    mutating func parseHex4(escapeAt start: Int) throws(JSONParseError) -> UInt16 {
        var value: UInt16 = 0
        for _ in 0..<4 {
            guard index < bytes.count, let digit = hexValue(bytes[index]) else {
                throw error(.syntax, at: index, "expected 4 hexadecimal digits after \\u, got \(found(at: index))")
            }
            value = value << 4 | UInt16(digit)
            index += 1
        }
        return value
    }

    // MARK: Numbers

    mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = index
        if bytes[index] == UInt8(ascii: "-") {
            index += 1
        }
        guard index < bytes.count, isDigit(bytes[index]) else {
            throw error(.syntax, at: index, "expected a digit after '-', got \(found(at: index))")
        }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if index < bytes.count, isDigit(bytes[index]) {
                throw error(.syntax, at: index - 1, "a number must not have a leading zero")
            }
        } else {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else {
                throw error(.syntax, at: index, "expected a digit after '.' in a number, got \(found(at: index))")
            }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard index < bytes.count, isDigit(bytes[index]) else {
                throw error(.syntax, at: index, "expected a digit in the exponent of a number, got \(found(at: index))")
            }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, isIdentifierByte(bytes[index]) || bytes[index] == UInt8(ascii: ".") {
            throw error(.syntax, at: index, "unexpected \(found(at: index)) in a number")
        }
        return .number(String(decoding: bytes[start..<index], as: UTF8.self))
    }

    // MARK: Helpers

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    func isIdentifierByte(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")) || byte == UInt8(ascii: "_")
    }

    func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Describes what stands at `offset` for a message: `'x'`, `U+00E9 'é'`, `end of input`.
    func found(at offset: Int) -> String {
        guard offset < bytes.count else { return "end of input" }
        return "'\(describeChar(at: offset))'"
    }

    /// The character at `offset`, printable: ASCII as itself, other scalars as U+XXXX.
    func describeChar(at offset: Int) -> String {
        guard offset < bytes.count else { return "" }
        let byte = bytes[offset]
        if byte >= 0x20 && byte < 0x7F {
            return String(UnicodeScalar(byte))
        }
        if byte < 0x80 {
            return "U+\(hexString(byte, width: 4))"
        }
        // Input is validated UTF-8 by the time anything is described, but stay total.
        let end = Swift.min(bytes.count, offset + 4)
        var iterator = bytes[offset..<end].makeIterator()
        var decoder = UTF8()
        if case .scalarValue(let scalar) = decoder.decode(&iterator) {
            return "U+\(hexString(scalar.value, width: 4)) \(Character(scalar))"
        }
        return "byte 0x\(hexString(byte, width: 2))"
    }

    func escapedForMessage(_ text: String) -> String {
        JSONSerializer.escape(text)
    }

    /// Line and column (from 1) of a byte offset; the column counts Unicode scalars.
    func position(of offset: Int) -> (line: Int, column: Int) {
        var line = 1
        var column = 1
        var i = 0
        let end = Swift.min(offset, bytes.count)
        while i < end {
            let byte = bytes[i]
            if byte == 0x0A {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
            i += 1
        }
        return (line, column)
    }

    func error(_ kind: JSONParseError.Kind, at offset: Int, _ message: String) -> JSONParseError {
        let (line, column) = position(of: offset)
        return JSONParseError(kind: kind, offset: offset, line: line, column: column, message: message)
    }

    /// The offset of the first byte that is not part of well-formed UTF-8 (no overlong
    /// forms, no surrogates, nothing above U+10FFFF), or `nil` when all of it is.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        var i = 0
        let n = bytes.count
        while i < n {
            let b0 = bytes[i]
            if b0 < 0x80 {
                i += 1
                continue
            }
            let length: Int
            var lower: UInt8 = 0x80
            var upper: UInt8 = 0xBF
            switch b0 {
            case 0xC2...0xDF: length = 2
            case 0xE0:
                length = 3
                lower = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED:
                length = 3
                upper = 0x9F
            case 0xF0:
                length = 4
                lower = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4:
                length = 4
                upper = 0x8F
            default: return i
            }
            guard i + 1 < n, bytes[i + 1] >= lower, bytes[i + 1] <= upper else { return i }
            for k in 2..<length {
                guard i + k < n, bytes[i + k] & 0xC0 == 0x80 else { return i }
            }
            i += length
        }
        return nil
    }
}

func hexString(_ value: some BinaryInteger, width: Int) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: Swift.max(0, width - digits.count)) + digits
}

// MARK: - Serializer

/// How `JSONValue.serialized(_:)` lays a document out.
public enum JSONStyle: Hashable, Sendable {
    /// Everything on one line, no spaces: `{"a":[1,2]}`.
    case compact
    /// One member or element a line, indented by `indent` spaces a level. Containers at
    /// depth `inlineDepth` or deeper (the top level is depth 0) are written on one line with
    /// spaces: `{ "op": "bind", "id": "a" }`.
    case pretty(indent: Int = 2, inlineDepth: Int? = nil)
}

extension JSONValue {
    /// This value as a JSON text. Pretty output ends without a newline.
    public func serialized(_ style: JSONStyle = .compact) -> String {
        var out = ""
        switch style {
        case .compact:
            JSONSerializer.writeCompact(self, into: &out, spaced: false)
        case .pretty(let indent, let inlineDepth):
            JSONSerializer.writePretty(self, into: &out, level: 0, indent: Swift.max(0, indent), inlineDepth: inlineDepth)
        }
        return out
    }
}

enum JSONSerializer {
    static func writeCompact(_ value: JSONValue, into out: inout String, spaced: Bool) {
        switch value {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let literal): out += literal
        case .string(let s):
            out += "\""
            out += escape(s)
            out += "\""
        case .array(let elements):
            if elements.isEmpty {
                out += "[]"
                return
            }
            out += "["
            for (i, element) in elements.enumerated() {
                if i > 0 { out += spaced ? ", " : "," }
                writeCompact(element, into: &out, spaced: spaced)
            }
            out += "]"
        case .object(let members):
            if members.isEmpty {
                out += "{}"
                return
            }
            out += spaced ? "{ " : "{"
            for (i, member) in members.enumerated() {
                if i > 0 { out += spaced ? ", " : "," }
                out += "\""
                out += escape(member.key)
                out += spaced ? "\": " : "\":"
                writeCompact(member.value, into: &out, spaced: spaced)
            }
            out += spaced ? " }" : "}"
        }
    }

    static func writePretty(_ value: JSONValue, into out: inout String, level: Int, indent: Int, inlineDepth: Int?) {
        if let inlineDepth, level >= inlineDepth {
            writeCompact(value, into: &out, spaced: true)
            return
        }
        let inner = String(repeating: " ", count: (level + 1) * indent)
        let outer = String(repeating: " ", count: level * indent)
        switch value {
        case .array(let elements) where !elements.isEmpty:
            out += "[\n"
            for (i, element) in elements.enumerated() {
                out += inner
                writePretty(element, into: &out, level: level + 1, indent: indent, inlineDepth: inlineDepth)
                out += i + 1 < elements.count ? ",\n" : "\n"
            }
            out += outer + "]"
        case .object(let members) where !members.isEmpty:
            out += "{\n"
            for (i, member) in members.enumerated() {
                out += inner + "\"" + escape(member.key) + "\": "
                writePretty(member.value, into: &out, level: level + 1, indent: indent, inlineDepth: inlineDepth)
                out += i + 1 < members.count ? ",\n" : "\n"
            }
            out += outer + "}"
        default:
            writeCompact(value, into: &out, spaced: false)
        }
    }

    /// The body of a JSON string literal for `text` (without the quotes).
    static func escape(_ text: String) -> String {
        // Most text needs no escape: said in one pass over its bytes.
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C || $0 == 0x7F || $0 == 0xE2 }) { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || scalar.value == 0x2028 || scalar.value == 0x2029 {
                    out += "\\u" + hexString(scalar.value, width: 4)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
