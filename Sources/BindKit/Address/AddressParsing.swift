// The address parsers. They work on the UTF-8 bytes of the input, allocate nothing on
// the way to a value (a failure is a `ParseFailure` holding only byte offsets), and
// accept exactly what glibc accepts:
//
// - `scanIPv4`/`parseIPv4Strict` mirror glibc's `inet_pton4` (resolv/inet_pton.c),
// - `parseIPv4Legacy` mirrors glibc's `inet_aton` (resolv/inet_addr.c, `inet_aton_end`),
// - `parseIPv6Core` mirrors glibc's `inet_pton6`,
//
// checking the same conditions so that acceptance is identical, but naming each
// rejection. Offsets are absolute in the whole input so that a socket address parser
// can hand a slice to the address parsers and keep their positions.
//
// These are the reference. The strict entry points run the complete decoders in
// AddressDecoding.swift, which accept exactly what these accept, and run these only to
// name a rejection when its error is read; the others try a fast path first.

/// ASCII bytes the parsers look for.
enum ASCII {
    static let tab: UInt8 = 0x09
    static let carriageReturn: UInt8 = 0x0D
    static let space: UInt8 = 0x20
    static let percent: UInt8 = 0x25
    static let dot: UInt8 = 0x2E
    static let zero: UInt8 = 0x30
    static let colon: UInt8 = 0x3A
    static let leftBracket: UInt8 = 0x5B
    static let rightBracket: UInt8 = 0x5D
    static let lowercaseX: UInt8 = 0x78

    /// The value of a decimal digit, or a value >= 10.
    @inline(__always) static func decimal(_ c: UInt8) -> UInt8 { c &- zero }

    /// The value of a hex digit (either case), or 0xFF.
    @inline(__always) static func hex(_ c: UInt8) -> UInt8 {
        let d = c &- zero
        if d < 10 { return d }
        let l = (c | 0x20) &- 0x61
        return l < 6 ? l &+ 10 : 0xFF
    }

    /// C `isspace` in the C locale: space, \t, \n, \v, \f, \r.
    @inline(__always) static func isSpace(_ c: UInt8) -> Bool {
        c == space || (c >= tab && c <= carriageReturn)
    }
}

/// Runs `body` over the UTF-8 bytes of `string` without copying them when the string is
/// stored contiguously (always, for native strings).
@inline(__always)
func withUTF8Bytes<R>(_ string: String, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
    if let result = string.utf8.withContiguousStorageIfAvailable(body) {
        return result
    }
    return Array(string.utf8).withUnsafeBufferPointer(body)
}

/// Runs `parse`, the reference parser of `grammar`, over the UTF-8 bytes of `string`:
/// its value, or the error of `grammar` (which names the problem when it is read). Kept
/// out of line: the public entry points try a fast path first and should stay small.
@inline(never)
func parseSlowly<T>(
    _ string: String, _ grammar: AddressParseError.Grammar,
    _ parse: (UnsafeBufferPointer<UInt8>) throws(ParseFailure) -> T
) throws(AddressParseError) -> T {
    guard let value = withUTF8Bytes(string, { p in try? parse(p) }) else { throw .rejected(string, by: grammar) }
    return value
}

/// The end of the run of bytes from `start` that satisfy `isPart`.
@inline(__always)
func scanWhile(_ p: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int, _ isPart: (UInt8) -> Bool) -> Int {
    var i = start
    while i < end && isPart(p[i]) { i += 1 }
    return i
}

// MARK: - IPv4, strict (inet_pton4)

/// Reads a dotted quad from `start`: four decimal octets 0-255 without leading zeros,
/// separated by dots. Stops at the first byte after the fourth octet (a dot there is an
/// error) and returns the address and that offset.
@inline(__always)
func scanIPv4(_ p: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) throws(ParseFailure) -> (
    value: UInt32, stop: Int
) {
    var i = start
    var value: UInt32 = 0
    var octet = 1
    while true {
        let octetStart = i
        guard i < end else { throw ParseFailure(.emptyOctet(octet: octet, at: i)) }
        let first = p[i]
        var v = UInt32(ASCII.decimal(first))
        guard v < 10 else {
            throw ParseFailure(
                first == ASCII.dot ? .emptyOctet(octet: octet, at: i) : .unexpectedCharacter(at: i))
        }
        i += 1
        if v == 0 && i < end && ASCII.decimal(p[i]) < 10 {
            let digitsEnd = scanWhile(p, from: i, to: end) { ASCII.decimal($0) < 10 }
            throw ParseFailure(.octetLeadingZero(octet: octet, start: octetStart, end: digitsEnd))
        }
        while i < end {
            let d = ASCII.decimal(p[i])
            guard d < 10 else { break }
            v = v &* 10 &+ UInt32(d)
            i += 1
            if v > 255 {
                let digitsEnd = scanWhile(p, from: i, to: end) { ASCII.decimal($0) < 10 }
                throw ParseFailure(.octetTooLarge(octet: octet, start: octetStart, end: digitsEnd))
            }
        }
        value = value << 8 | v
        if octet == 4 {
            if i < end && p[i] == ASCII.dot {
                throw ParseFailure(i + 1 == end ? .trailingDot(at: i) : .tooManyOctets(at: i + 1))
            }
            return (value, i)
        }
        guard i < end else { throw ParseFailure(.tooFewOctets(count: octet)) }
        guard p[i] == ASCII.dot else { throw ParseFailure(.unexpectedCharacter(at: i)) }
        i += 1
        octet += 1
    }
}

/// Exactly what glibc `inet_pton(AF_INET, …)` accepts, over bytes `start..<end`.
@inline(__always)
func parseIPv4Strict(_ p: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) throws(ParseFailure) -> UInt32 {
    guard start < end else { throw ParseFailure(.empty) }
    let (value, stop) = try scanIPv4(p, from: start, to: end)
    guard stop == end else {
        throw ParseFailure(p[stop] == ASCII.colon ? .portAfterAddress(at: stop) : .unexpectedCharacter(at: stop))
    }
    return value
}

// MARK: - IPv4, legacy (inet_aton)

/// Exactly what glibc `inet_aton` accepts, over bytes `start..<end`: one to four parts
/// separated by dots, each decimal, octal (leading `0`) or hex (`0x`/`0X`), like C's
/// `strtoul(…, 0)`; the last part fills the remaining bytes (`127.1`, `0x7f000001`);
/// the address may be followed by ASCII whitespace and then anything at all.
///
/// One difference a Swift `String` forces: a NUL byte right after the address is
/// refused (C would stop reading there), so that "1.2.3.4\0junk" is not an address.
func parseIPv4Legacy(_ p: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) throws(ParseFailure) -> UInt32 {
    guard start < end else { throw ParseFailure(.empty) }
    let tooLarge: UInt64 = 0x1_0000_0000
    var i = start
    var high: UInt32 = 0
    var parts = 0  // parts already ended by a dot
    while true {
        let partStart = i
        let part = parts + 1
        guard i < end else { throw ParseFailure(.emptyPart(part: part, at: i)) }
        let first = p[i]
        guard ASCII.decimal(first) < 10 else {
            throw ParseFailure(first == ASCII.dot ? .emptyPart(part: part, at: i) : .unexpectedCharacter(at: i))
        }
        // strtoul(cp, &end, 0): saturate above 32 bits; glibc refuses those.
        var v: UInt64 = 0
        if first == ASCII.zero && i + 1 < end && p[i + 1] | 0x20 == ASCII.lowercaseX {
            guard i + 2 < end && ASCII.hex(p[i + 2]) < 16 else {
                // strtoul reads "0" and stops at the "x", which is then trailing garbage.
                throw ParseFailure(.hexPrefixWithoutDigits(part: part, at: i + 1))
            }
            i += 2
            while i < end {
                let d = ASCII.hex(p[i])
                guard d < 16 else { break }
                v = min(v &* 16 &+ UInt64(d), tooLarge)
                i += 1
            }
        } else if first == ASCII.zero {
            i += 1
            while i < end {
                let d = ASCII.decimal(p[i])
                guard d < 8 else {
                    if d < 10 { throw ParseFailure(.notOctalDigit(part: part, at: i)) }
                    break
                }
                v = min(v &* 8 &+ UInt64(d), tooLarge)
                i += 1
            }
        } else {
            while i < end {
                let d = ASCII.decimal(p[i])
                guard d < 10 else { break }
                v = min(v &* 10 &+ UInt64(d), tooLarge)
                i += 1
            }
        }
        let partEnd = i
        if v >= tooLarge {
            throw ParseFailure(.partTooLarge(part: part, parts: part, start: partStart, end: partEnd, limit: .max))
        }
        if i < end && p[i] == ASCII.dot {
            guard parts < 3 else {
                throw ParseFailure(i + 1 == end ? .trailingDot(at: i) : .tooManyParts(at: i + 1))
            }
            guard v <= 0xFF else {
                throw ParseFailure(.partTooLarge(part: part, parts: part, start: partStart, end: partEnd, limit: 0xFF))
            }
            high |= UInt32(v) << (24 - 8 * parts)
            parts += 1
            i += 1
            continue
        }
        if i < end && !ASCII.isSpace(p[i]) {
            throw ParseFailure(.unexpectedCharacter(at: i))
        }
        let limit: UInt32 = UInt32.max >> (8 * parts)
        guard v <= UInt64(limit) else {
            throw ParseFailure(.partTooLarge(part: part, parts: part, start: partStart, end: partEnd, limit: limit))
        }
        return high | UInt32(v)
    }
}

// MARK: - IPv6 (inet_pton6)

/// Exactly what glibc `inet_pton(AF_INET6, …)` accepts, over bytes `start..<end`
/// (no zone): the 128 bits, first group in the top bits.
func parseIPv6Core(_ p: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) throws(ParseFailure) -> UInt128 {
    guard start < end else { throw ParseFailure(.empty) }
    var i = start
    // A leading ':' must be the first half of "::"; the second is read in the loop.
    if p[i] == ASCII.colon {
        guard i + 1 < end && p[i + 1] == ASCII.colon else { throw ParseFailure(.leadingColon(at: i)) }
        i += 1
    }
    var token = i  // where the current group starts: an embedded IPv4 address starts here
    var bits: UInt128 = 0  // the groups read so far, last one in the low 16 bits
    var groups = 0  // 16-bit groups read (an embedded IPv4 address counts 2)
    var gapGroup = -1  // groups read before "::", or -1
    var gapByte = -1  // offset of the second ':' of "::"
    var digits = 0
    var value: UInt32 = 0
    while i < end {
        let c = p[i]
        let d = ASCII.hex(c)
        if d < 16 {
            if digits == 4 {
                let digitsEnd = scanWhile(p, from: i, to: end) { ASCII.hex($0) < 16 }
                throw ParseFailure(.groupTooLong(group: groups + 1, start: token, end: digitsEnd))
            }
            value = value << 4 | UInt32(d)
            digits += 1
            i += 1
            continue
        }
        if c == ASCII.colon {
            i += 1
            token = i
            if digits == 0 {
                // The byte before is a ':' as well: this is "::".
                if gapGroup >= 0 {
                    throw ParseFailure(
                        gapByte == i - 2 ? .tripleColon(at: i - 3) : .moreThanOneDoubleColon(at: i - 2))
                }
                gapGroup = groups
                gapByte = i - 1
                continue
            }
            guard i < end else { throw ParseFailure(.trailingColon(at: i - 1)) }
            guard groups < 8 else { throw ParseFailure(.tooManyGroups(at: i - 1 - digits)) }
            bits = bits << 16 | UInt128(value)
            groups += 1
            digits = 0
            value = 0
            continue
        }
        if c == ASCII.dot {
            guard groups <= 6 else { throw ParseFailure(.tooManyGroupsForIPv4(at: token)) }
            let (v4, stop) = try scanIPv4(p, from: token, to: end)
            guard stop == end else { throw ParseFailure(.unexpectedCharacter(at: stop)) }
            bits = bits << 32 | UInt128(v4)
            groups += 2
            digits = 0
            break
        }
        throw ParseFailure(.unexpectedCharacter(at: i))
    }
    if digits > 0 {
        guard groups < 8 else { throw ParseFailure(.tooManyGroups(at: token)) }
        bits = bits << 16 | UInt128(value)
        groups += 1
    }
    if gapGroup >= 0 {
        guard groups < 8 else { throw ParseFailure(.doubleColonWithEightGroups(at: gapByte - 1)) }
        // Move the groups before "::" to the top; the ones after it stay at the bottom.
        let tailBits = 16 * (groups - gapGroup)
        let tail = bits & ((1 << tailBits) - 1)
        let head = bits >> tailBits
        return head << (16 * (8 - gapGroup)) | tail
    }
    guard groups == 8 else { throw ParseFailure(.tooFewGroups(count: groups)) }
    return bits
}

/// A zone, the bytes `start..<end` after a '%': all digits is an interface index (at
/// most 4294967295), anything else an interface name of 1 to 15 bytes with no
/// whitespace, control characters, '%', '/', ':', '[' or ']', and not "." or "..".
func parseZone(_ p: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) throws(ParseFailure) -> ZoneStorage {
    guard start < end else { throw ParseFailure(.emptyZone(at: start - 1)) }
    var index: UInt64 = 0
    var allDigits = true
    for i in start..<end {
        let c = p[i]
        let d = ASCII.decimal(c)
        if d < 10 {
            index = min(index &* 10 &+ UInt64(d), 0x1_0000_0000)
            continue
        }
        allDigits = false
        if c <= ASCII.space || c == 0x7F || c == ASCII.percent || c == 0x2F || c == ASCII.colon
            || c == ASCII.leftBracket || c == ASCII.rightBracket
        {
            throw ParseFailure(.zoneCharacter(at: i))
        }
    }
    if allDigits {
        guard index <= UInt64(UInt32.max) else { throw ParseFailure(.zoneIndexTooLarge(start: start, end: end)) }
        return ZoneStorage(index: UInt32(index))
    }
    let length = end - start
    guard length <= 15 else { throw ParseFailure(.zoneTooLong(start: start, end: end)) }
    if p[start] == ASCII.dot && (length == 1 || (length == 2 && p[start + 1] == ASCII.dot)) {
        throw ParseFailure(.zoneReservedName(start: start, end: end))
    }
    return ZoneStorage(name: UnsafeBufferPointer(rebasing: p[start..<end]))
}

/// An IPv6 address with an optional "%zone", over bytes `start..<end`.
func parseIPv6(_ p: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) throws(ParseFailure) -> IPv6Address {
    guard start < end else { throw ParseFailure(.empty) }
    let percent = scanWhile(p, from: start, to: end) { $0 != ASCII.percent }
    guard percent > start else { throw ParseFailure(.missingAddressBeforeZone) }
    let bits = try parseIPv6Core(p, from: start, to: percent)
    let zone = percent < end ? try parseZone(p, from: percent + 1, to: end) : .none
    return IPv6Address(bits: bits, zone: zone)
}

// MARK: - Either family

enum Family { case inet, inet6 }

/// Which parser an input is for: IPv6 when a ':' comes before any '.' or whitespace.
/// Valid inputs of the two families never overlap, so this only picks the error.
@inline(__always)
func guessFamily(_ p: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) -> Family {
    var i = start
    while i < end {
        let c = p[i]
        if c == ASCII.colon { return .inet6 }
        if c == ASCII.dot || ASCII.isSpace(c) { return .inet }
        i += 1
    }
    return .inet
}

/// An address of either family (strict), over bytes `start..<end`.
@inline(__always)
func parseIPAddress(_ p: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) throws(ParseFailure) -> IPAddress {
    return switch guessFamily(p, from: start, to: end) {
    case .inet: .v4(IPv4Address(rawValue: try parseIPv4Strict(p, from: start, to: end)))
    case .inet6: .v6(try parseIPv6(p, from: start, to: end))
    }
}

/// An address of either family, IPv4 as inet_aton reads it, over bytes `start..<end`.
func parseIPAddressLegacy(_ p: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) throws(ParseFailure) -> IPAddress {
    return switch guessFamily(p, from: start, to: end) {
    case .inet: .v4(IPv4Address(rawValue: try parseIPv4Legacy(p, from: start, to: end)))
    case .inet6: .v6(try parseIPv6(p, from: start, to: end))
    }
}

// MARK: - Socket addresses

/// A port: decimal digits only, 0-65535 (leading zeros allowed). `colon` is the offset
/// of the ':' before it.
func parsePort(_ p: UnsafeBufferPointer<UInt8>, colon: Int, to end: Int) throws(ParseFailure) -> UInt16 {
    let start = colon + 1
    guard start < end else { throw ParseFailure(.emptyPort(at: start)) }
    var value: UInt32 = 0
    for i in start..<end {
        let d = ASCII.decimal(p[i])
        guard d < 10 else { throw ParseFailure(.portCharacter(at: i)) }
        value = min(value &* 10 &+ UInt32(d), 0x10000)
    }
    guard value <= 0xFFFF else { throw ParseFailure(.portTooLarge(start: start, end: end)) }
    return UInt16(value)
}

/// "1.2.3.4:80", "[::1]:80", "[fe80::1%eth0]:80" over bytes `0..<end`.
func parseSocketAddress(_ p: UnsafeBufferPointer<UInt8>, to end: Int) throws(ParseFailure) -> SocketAddress {
    guard end > 0 else { throw ParseFailure(.empty) }
    if p[0] == ASCII.leftBracket {
        let close = scanWhile(p, from: 1, to: end) { $0 != ASCII.rightBracket }
        guard close < end else { throw ParseFailure(.missingCloseBracket(at: 0)) }
        guard close > 1 else { throw ParseFailure(.emptyBrackets(at: 0)) }
        let firstColon = scanWhile(p, from: 1, to: close) { $0 != ASCII.colon }
        if firstColon == close, (try? parseIPv4Strict(p, from: 1, to: close)) != nil {
            throw ParseFailure(.bracketsAroundIPv4(at: 0))
        }
        let ip = try parseIPv6(p, from: 1, to: close)
        let after = close + 1
        guard after < end else { throw ParseFailure(.missingPort(at: after)) }
        guard p[after] == ASCII.colon else { throw ParseFailure(.expectedColonAfterBracket(at: after)) }
        return SocketAddress(ip: .v6(ip), port: try parsePort(p, colon: after, to: end))
    }
    let firstColon = scanWhile(p, from: 0, to: end) { $0 != ASCII.colon }
    guard firstColon < end else {
        // No port at all: say what is wrong with the address first, if anything.
        _ = try parseIPAddress(p, from: 0, to: end)
        throw ParseFailure(.missingPort(at: end))
    }
    let secondColon = scanWhile(p, from: firstColon + 1, to: end) { $0 != ASCII.colon }
    if secondColon < end {
        // Two colons without brackets: an IPv6 address, unless what precedes the first
        // colon looks like IPv4 (then the port has a stray ':').
        let dot = scanWhile(p, from: 0, to: firstColon) { $0 != ASCII.dot }
        if dot == firstColon { throw ParseFailure(.ipv6NeedsBrackets) }
    }
    let ip = try parseIPv4Strict(p, from: 0, to: firstColon)
    return SocketAddress(ip: .v4(IPv4Address(rawValue: ip)), port: try parsePort(p, colon: firstColon, to: end))
}
