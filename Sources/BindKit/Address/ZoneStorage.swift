/// The zone of an ``IPv6Address`` as stored: without references, so that IPv6Address,
/// IPAddress and SocketAddress are plain values (copied without retain/release, destroyed
/// without work). An index, or a name of up to 15 bytes kept inline; the parser makes
/// nothing else, since an interface name has at most 15 bytes. A longer name (only a
/// program can make one, through ``IPv6Zone/name(_:)``) goes to a process-wide table and
/// is kept by its number there.
///
/// Each zone has exactly one stored form, so the synthesized `==` and `hash(into:)` are
/// those of the zone.
@usableFromInline
struct ZoneStorage: Hashable, Sendable {
    /// What the zone is, and for an inline name its length. An enum of 19 cases leaves
    /// spare bits in its byte, where `IPAddress` keeps its case: so IPv6Address and
    /// IPAddress are both 32 bytes and come back from a function in registers.
    @usableFromInline
    enum Kind: UInt8, Sendable {
        case none, index, longName
        case name0, name1, name2, name3, name4, name5, name6, name7, name8, name9, name10, name11, name12, name13
        case name14, name15
    }
    // 15 bytes: the index, a name's bytes 0..<15 (little-endian: byte 0 lowest), or a
    // long name's number; then the kind.
    // (Visible to inlinable code, which makes the zone `none` of a parsed address.)
    @usableFromInline var word: UInt64 = 0  // bytes 0..<8
    @usableFromInline var half: UInt32 = 0  // bytes 8..<12
    @usableFromInline var quarter: UInt16 = 0  // bytes 12..<14
    @usableFromInline var last: UInt8 = 0  // byte 14
    @usableFromInline var kind = Kind.none

    /// The longest name kept inline.
    @inline(__always) static var inlineCapacity: Int { 15 }

    @inlinable @inline(__always) static var none: ZoneStorage { ZoneStorage() }

    @inlinable init() {}

    init(index: UInt32) {
        self.init()
        kind = .index
        word = UInt64(index)
    }

    /// A name from its UTF-8 bytes (any length).
    init(name bytes: UnsafeBufferPointer<UInt8>) {
        self.init()
        guard bytes.count <= Self.inlineCapacity, let kind = Kind(rawValue: Kind.name0.rawValue + UInt8(bytes.count))
        else {
            kind = .longName
            word = LongZoneNames.number(of: String(decoding: bytes, as: UTF8.self))
            return
        }
        self.kind = kind
        for (i, byte) in bytes.enumerated() {
            switch i {
            case 0..<8: word |= UInt64(byte) << UInt64(8 * i)
            case 8..<12: half |= UInt32(byte) << UInt32(8 * (i - 8))
            case 12..<14: quarter |= UInt16(byte) << UInt16(8 * (i - 12))
            default: last = byte
            }
        }
    }

    init(_ zone: IPv6Zone?) {
        switch zone {
        case nil: self.init()
        case .index(let index): self.init(index: index)
        case .name(var name): self = name.withUTF8 { ZoneStorage(name: $0) }
        }
    }

    var isNone: Bool { kind == .none }

    /// The length of an inline name.
    private var nameLength: Int { Int(kind.rawValue &- Kind.name0.rawValue) }

    /// The byte `i` of an inline name.
    private func nameByte(_ i: Int) -> UInt8 {
        switch i {
        case 0..<8: UInt8(truncatingIfNeeded: word >> UInt64(8 * i))
        case 8..<12: UInt8(truncatingIfNeeded: half >> UInt32(8 * (i - 8)))
        case 12..<14: UInt8(truncatingIfNeeded: quarter >> UInt16(8 * (i - 12)))
        default: last
        }
    }

    var zone: IPv6Zone? {
        switch kind {
        case .none: return nil
        case .index: return .index(UInt32(truncatingIfNeeded: word))
        case .longName: return .name(LongZoneNames.name(number: word))
        default:
            let bytes = (0..<nameLength).map(nameByte)
            return .name(String(decoding: bytes, as: UTF8.self))
        }
    }

    /// The length of "%zone" in bytes (0 without a zone).
    var textLength: Int {
        switch kind {
        case .none: 0
        case .index: 11
        case .longName: 1 + LongZoneNames.name(number: word).utf8.count
        default: 1 + nameLength
        }
    }

    /// Writes "%zone" (nothing without a zone).
    func write(to writer: inout TextWriter) {
        switch kind {
        case .none: return
        case .index:
            writer.byte(ASCII.percent)
            writer.decimal(UInt32(truncatingIfNeeded: word))
        case .longName:
            writer.byte(ASCII.percent)
            for byte in LongZoneNames.name(number: word).utf8 { writer.byte(byte) }
        default:
            writer.byte(ASCII.percent)
            for i in 0..<nameLength { writer.byte(nameByte(i)) }
        }
    }
}

/// Zone names longer than 15 bytes, numbered in the order they were first seen. The
/// table only grows; it holds the names programs have put into addresses, never text
/// that was parsed.
enum LongZoneNames {
    private static let table = Locked<(names: [String], numbers: [String: UInt64])>(([], [:]))

    static func number(of name: String) -> UInt64 {
        table.withLock { table in
            if let number = table.numbers[name] { return number }
            let number = UInt64(table.names.count)
            table.names.append(name)
            table.numbers[name] = number
            return number
        }
    }

    static func name(number: UInt64) -> String {
        table.withLock { table in number < table.names.count ? table.names[Int(number)] : "" }
    }
}
