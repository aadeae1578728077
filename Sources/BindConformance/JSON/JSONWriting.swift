// The one JSON writer of the reports: `JSONValue.serialized` for a document held as a value,
// `JSONValue(encoding:)` to hold any `Encodable` that way, and `JSONObjectWriter` /
// `JSONLinesWriter` to write records a line at a time without holding them. All of them escape
// with `JSONSerializer.escape`.
import Foundation

extension JSONValue {
    /// `value` as a JSON value, its members in the order its `encode(to:)` writes them. Doubles
    /// are written as Swift prints them (`1.5`; a non-finite one is an error).
    public init(encoding value: some Encodable) throws {
        let root = ValueEncoder.Box()
        try value.encode(to: ValueEncoder(box: root, codingPath: []))
        self = root.value
    }
}

/// Builds a `JSONValue` from an `Encodable`.
private struct ValueEncoder: Encoder {
    /// A node of the value being built: filled in by the containers, read once at the end.
    final class Box {
        enum Content {
            case value(JSONValue)
            case object([(String, Box)])
            case array([Box])
        }
        var content = Content.value(.null)

        var value: JSONValue {
            switch content {
            case .value(let v): v
            case .object(let members): .object(members.map { JSONMember(key: $0.0, value: $0.1.value) })
            case .array(let elements): .array(elements.map(\.value))
            }
        }

        func member(_ key: String) -> Box {
            let b = Box()
            if case .object(var members) = content {
                members.removeAll { $0.0 == key }
                members.append((key, b))
                content = .object(members)
            } else {
                content = .object([(key, b)])
            }
            return b
        }

        func element() -> Box {
            let b = Box()
            if case .array(var elements) = content {
                elements.append(b)
                content = .array(elements)
            } else {
                content = .array([b])
            }
            return b
        }
    }

    let box: Box
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .object = box.content {} else { box.content = .object([]) }
        return KeyedEncodingContainer(Keyed<Key>(box: box, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .array = box.content {} else { box.content = .array([]) }
        return Unkeyed(box: box, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { Single(box: box, codingPath: codingPath) }

    static func scalar(_ value: some Encodable, at path: [any CodingKey]) throws -> JSONValue? {
        switch value {
        case let v as String: return .string(v)
        case let v as Bool: return .bool(v)
        case let v as Int: return .integer(v)
        case let v as Int8: return .integer(v)
        case let v as Int16: return .integer(v)
        case let v as Int32: return .integer(v)
        case let v as Int64: return .integer(v)
        case let v as UInt: return .integer(v)
        case let v as UInt8: return .integer(v)
        case let v as UInt16: return .integer(v)
        case let v as UInt32: return .integer(v)
        case let v as UInt64: return .integer(v)
        case let v as Double: return try number(v, at: path)
        case let v as Float: return try number(Double(v), at: path)
        default: return nil
        }
    }

    static func number(_ v: Double, at path: [any CodingKey]) throws -> JSONValue {
        guard v.isFinite else {
            throw EncodingError.invalidValue(v, .init(codingPath: path, debugDescription: "JSON has no \(v)"))
        }
        if v == v.rounded(), abs(v) < 1e15 { return .number(String(Int64(v))) }
        return .number("\(v)")
    }

    static func encode(_ value: some Encodable, into box: Box, at path: [any CodingKey]) throws {
        if let v = try scalar(value, at: path) {
            box.content = .value(v)
        } else {
            try value.encode(to: ValueEncoder(box: box, codingPath: path))
        }
    }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let box: Box
        var codingPath: [any CodingKey]

        mutating func encodeNil(forKey key: Key) throws { box.member(key.stringValue).content = .value(.null) }
        mutating func encode(_ value: some Encodable, forKey key: Key) throws {
            try ValueEncoder.encode(value, into: box.member(key.stringValue), at: codingPath + [key])
        }
        mutating func nestedContainer<N: CodingKey>(keyedBy keyType: N.Type, forKey key: Key) -> KeyedEncodingContainer<N> {
            ValueEncoder(box: box.member(key.stringValue), codingPath: codingPath + [key]).container(keyedBy: keyType)
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            ValueEncoder(box: box.member(key.stringValue), codingPath: codingPath + [key]).unkeyedContainer()
        }
        mutating func superEncoder() -> any Encoder { ValueEncoder(box: box.member("super"), codingPath: codingPath) }
        mutating func superEncoder(forKey key: Key) -> any Encoder {
            ValueEncoder(box: box.member(key.stringValue), codingPath: codingPath + [key])
        }
    }

    struct Unkeyed: UnkeyedEncodingContainer {
        let box: Box
        var codingPath: [any CodingKey]
        var count: Int {
            if case .array(let e) = box.content { return e.count }
            return 0
        }

        mutating func encodeNil() throws { box.element().content = .value(.null) }
        mutating func encode(_ value: some Encodable) throws { try ValueEncoder.encode(value, into: box.element(), at: codingPath) }
        mutating func nestedContainer<N: CodingKey>(keyedBy keyType: N.Type) -> KeyedEncodingContainer<N> {
            ValueEncoder(box: box.element(), codingPath: codingPath).container(keyedBy: keyType)
        }
        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            ValueEncoder(box: box.element(), codingPath: codingPath).unkeyedContainer()
        }
        mutating func superEncoder() -> any Encoder { ValueEncoder(box: box.element(), codingPath: codingPath) }
    }

    struct Single: SingleValueEncodingContainer {
        let box: Box
        var codingPath: [any CodingKey]

        mutating func encodeNil() throws { box.content = .value(.null) }
        mutating func encode(_ value: some Encodable) throws { try ValueEncoder.encode(value, into: box, at: codingPath) }
    }
}

/// Writes one JSON object's members as UTF-8 bytes, compact, in the order they are written (bytes,
/// not a `String`: a report writes hundreds of thousands of records, and appending to a byte
/// array is a copy where appending to a string is a check of its form and storage each time).
public struct JSONObjectWriter {
    public private(set) var bytes: [UInt8]
    private var empty = true

    public init(reserving capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
        bytes.append(UInt8(ascii: "{"))
    }

    /// An object written at the end of `buffer`, whose storage it takes (no copy) until `give(back:)`.
    init(taking buffer: inout [UInt8]) {
        bytes = []
        swap(&bytes, &buffer)
        bytes.append(UInt8(ascii: "{"))
    }

    /// Closes the object and hands the storage back to the buffer it was taken from.
    mutating func give(back buffer: inout [UInt8]) {
        bytes.append(UInt8(ascii: "}"))
        swap(&bytes, &buffer)
    }

    private mutating func key(_ key: String) {
        if !empty { bytes.append(UInt8(ascii: ",")) }
        empty = false
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: key.utf8)
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    /// A string member (`key` is written as it stands: a plain ASCII name).
    public mutating func string(_ key: String, _ value: String) {
        self.key(key)
        JSONSerializer.appendQuoted(value, to: &bytes)
    }

    public mutating func integer(_ key: String, _ value: some BinaryInteger) {
        self.key(key)
        JSONSerializer.appendDecimal(value, to: &bytes)
    }

    public mutating func bool(_ key: String, _ value: Bool) {
        self.key(key)
        bytes.append(contentsOf: value ? "true".utf8 : "false".utf8)
    }

    public mutating func value(_ key: String, _ value: JSONValue) {
        self.key(key)
        var text = ""
        JSONSerializer.writeCompact(value, into: &text, spaced: false)
        bytes.append(contentsOf: text.utf8)
    }

    public mutating func object(_ key: String, _ build: (inout JSONObjectWriter) -> Void) {
        self.key(key)
        var inner = JSONObjectWriter(taking: &bytes)
        build(&inner)
        inner.give(back: &bytes)
    }

    /// The object's text.
    public var finished: String { String(decoding: bytes, as: UTF8.self) + "}" }
}

extension JSONSerializer {
    /// `"text"`, escaped as `escape` does; most text needs no escape and is copied as it stands.
    static func appendQuoted(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        let copied: Bool? = text.utf8.withContiguousStorageIfAvailable { b in
            var i = 0
            while i < b.count {
                let c = b[i]
                if c < 0x20 || c == 0x22 || c == 0x5C || c == 0x7F { return false }
                // U+2028 and U+2029 (E2 80 A8, E2 80 A9) are escaped; other E2 sequences (→) are not.
                if c == 0xE2 && i + 2 < b.count && b[i + 1] == 0x80 && (b[i + 2] == 0xA8 || b[i + 2] == 0xA9) { return false }
                i += 1
            }
            out.append(contentsOf: b)
            return true
        }
        if copied != true { out.append(contentsOf: escape(text).utf8) }
        out.append(UInt8(ascii: "\""))
    }

    /// An integer in decimal digits, without a string in between.
    static func appendDecimal(_ value: some BinaryInteger, to out: inout [UInt8]) {
        guard let v = Int64(exactly: value) else {
            out.append(contentsOf: String(value).utf8)
            return
        }
        if v < 0 { out.append(UInt8(ascii: "-")) }
        var m = v.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // up to 20 digits, written backwards
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[n] = UInt8(ascii: "0") + UInt8(m % 10)
                m /= 10
                n += 1
            } while m > 0
            for i in stride(from: n - 1, through: 0, by: -1) { out.append(d[i]) }
        }
    }
}

/// Writes JSON Lines (RFC 8259 texts, one a line) to a file, a buffer at a time.
public final class JSONLinesWriter {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private let closes: Bool
    private static let size = 1 << 20

    /// Writes to `path` (created or truncated).
    public init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        closes = true
        buffer.reserveCapacity(Self.size + 4096)
    }

    /// Writes to standard output.
    public init() {
        handle = FileHandle.standardOutput
        closes = false
        buffer.reserveCapacity(Self.size + 4096)
    }

    /// One line: `text` must be one JSON text without a newline.
    public func line(_ text: String) throws {
        buffer.append(contentsOf: text.utf8)
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= Self.size { try flush() }
    }

    public func line(_ object: JSONObjectWriter) throws {
        buffer.append(contentsOf: object.bytes)
        buffer.append(UInt8(ascii: "}"))
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= Self.size { try flush() }
    }

    /// One line holding the object `build` writes, written straight into the buffer.
    public func object(_ build: (inout JSONObjectWriter) -> Void) throws {
        var o = JSONObjectWriter(taking: &buffer)
        build(&o)
        o.give(back: &buffer)
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= Self.size { try flush() }
    }

    public func flush() throws {
        guard !buffer.isEmpty else { return }
        let fd = handle.fileDescriptor
        let failure: Int32? = buffer.withUnsafeBytes { bytes in
            var done = 0
            while done < bytes.count {
                let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                done += n
            }
            return nil
        }
        if let failure { throw POSIXError(POSIXErrorCode(rawValue: failure) ?? .EIO) }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, and closes a file this writer opened.
    public func close() throws {
        try flush()
        if closes { try handle.close() }
    }
}

// MARK: - The command line's documents

extension JSONValue {
    /// The same value with every object's members in the order of their keys (as the command
    /// line has always written its documents).
    public var sortingKeys: JSONValue {
        switch self {
        case .array(let elements): .array(elements.map(\.sortingKeys))
        case .object(let members):
            .object(members.map { JSONMember(key: $0.key, value: $0.value.sortingKeys) }.sorted { $0.key < $1.key })
        default: self
        }
    }

    /// The layout `bindcheck`'s `--json` documents have had since their first release (Foundation's
    /// pretty printing): two spaces a level, `"key" : value`, an empty container opened and closed
    /// on lines of their own.
    public var commandLineText: String {
        var out = ""
        JSONSerializer.writeCommandLine(self, into: &out, level: 0)
        return out
    }
}

extension JSONSerializer {
    static func writeCommandLine(_ value: JSONValue, into out: inout String, level: Int) {
        let inner = String(repeating: " ", count: (level + 1) * 2)
        let outer = String(repeating: " ", count: level * 2)
        switch value {
        case .array(let elements):
            out += "[\n"
            if elements.isEmpty { out += "\n" }
            for (i, element) in elements.enumerated() {
                out += inner
                writeCommandLine(element, into: &out, level: level + 1)
                out += i + 1 < elements.count ? ",\n" : "\n"
            }
            out += outer + "]"
        case .object(let members):
            out += "{\n"
            if members.isEmpty { out += "\n" }
            for (i, member) in members.enumerated() {
                out += inner + "\"" + escape(member.key) + "\" : "
                writeCommandLine(member.value, into: &out, level: level + 1)
                out += i + 1 < members.count ? ",\n" : "\n"
            }
            out += outer + "}"
        default:
            writeCompact(value, into: &out, spaced: false)
        }
    }
}
