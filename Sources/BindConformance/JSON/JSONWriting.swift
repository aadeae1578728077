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

/// Writes one JSON object's members into a string, compact, in the order they are written.
public struct JSONObjectWriter {
    public private(set) var out: String
    private var empty = true

    public init(reserving capacity: Int = 256) {
        out = "{"
        out.reserveCapacity(capacity)
    }

    /// An object written at the end of `buffer`, whose storage it takes (no copy) until `give(back:)`.
    init(taking buffer: inout String) {
        out = ""
        swap(&out, &buffer)
        out += "{"
    }

    /// Closes the object and hands the storage back to the buffer it was taken from.
    mutating func give(back buffer: inout String) {
        out += "}"
        swap(&out, &buffer)
    }

    private mutating func key(_ key: String) {
        if !empty { out += "," }
        empty = false
        out += "\""
        out += key
        out += "\":"
    }

    /// A string member (`key` is written as it stands: a plain ASCII name).
    public mutating func string(_ key: String, _ value: String) {
        self.key(key)
        out += "\""
        out += JSONSerializer.escape(value)
        out += "\""
    }

    public mutating func integer(_ key: String, _ value: some BinaryInteger) {
        self.key(key)
        out += String(value)
    }

    public mutating func bool(_ key: String, _ value: Bool) {
        self.key(key)
        out += value ? "true" : "false"
    }

    public mutating func value(_ key: String, _ value: JSONValue) {
        self.key(key)
        JSONSerializer.writeCompact(value, into: &out, spaced: false)
    }

    public mutating func object(_ key: String, _ build: (inout JSONObjectWriter) -> Void) {
        self.key(key)
        var inner = JSONObjectWriter(taking: &out)
        build(&inner)
        inner.give(back: &out)
    }

    /// The object's text.
    public var finished: String { out + "}" }
}

/// Writes JSON Lines (RFC 8259 texts, one a line) to a file, a buffer at a time.
public final class JSONLinesWriter {
    private let handle: FileHandle
    private var buffer = ""
    private let closes: Bool

    /// Writes to `path` (created or truncated).
    public init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        closes = true
        buffer.reserveCapacity(1 << 20)
    }

    /// Writes to standard output.
    public init() {
        handle = FileHandle.standardOutput
        closes = false
        buffer.reserveCapacity(1 << 20)
    }

    /// One line: `text` must be one JSON text without a newline.
    public func line(_ text: String) throws {
        buffer += text
        buffer += "\n"
        if buffer.utf8.count >= 1 << 20 { try flush() }
    }

    public func line(_ object: JSONObjectWriter) throws { try line(object.finished) }

    /// One line holding the object `build` writes, written straight into the buffer.
    public func object(_ build: (inout JSONObjectWriter) -> Void) throws {
        var o = JSONObjectWriter(taking: &buffer)
        build(&o)
        o.give(back: &buffer)
        buffer += "\n"
        if buffer.utf8.count >= 1 << 20 { try flush() }
    }

    public func flush() throws {
        guard !buffer.isEmpty else { return }
        let fd = handle.fileDescriptor
        let failure: Int32? = buffer.withUTF8 { bytes in
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
