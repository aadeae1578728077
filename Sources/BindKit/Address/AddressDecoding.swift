// Complete decoders for the strict grammars: tight byte loops with as few instructions
// per character as the grammar allows, and nothing else (no error bookkeeping, no
// positions). glibc's inet_pton spends about 270 instructions on an IPv4 address and
// 630 on an IPv6 one (measured with callgrind on glibc 2.36); these spend well under half.
// They are @inlinable, with the public parse entry points: a caller in another module
// then parses an address without a call, and without copying the result through memory.
//
// A decoder answers "valid, and here is the value", or "invalid" (`nil`): it accepts
// exactly what the reference parsers in AddressParsing.swift accept (which mirror glibc),
// with the same value. On `nil` the entry points throw an error that only records the
// grammar; the reference parser runs when the error is read, to name the problem and its
// place. The tests check that decoders and reference parsers agree on every input they
// generate, valid or not.
//
// Socket addresses and the legacy (inet_aton) form have no complete decoder: for them
// `fastSocketAddress` and the strict decoders are fast paths, whose `nil` means "ask the
// reference parser".
//
// (Word-at-a-time parsing was tried and lost: without popcnt/BMI in the baseline x86-64
// target they take more instructions, and wide loads from the stack copy that
// `withContiguousStorageIfAvailable` makes of a small string stall on store forwarding.
// Only the family decision reads a word: four bytes, once.)

/// One of the first three octets of a dotted quad at `p[i]`, and the '.' after it: 1 to 3
/// digits, no leading zero, at most 255, then a '.' and at least one more byte. Moves `i`
/// past the dot. Each byte is read once: `byte &- 0x30` is a digit's value below 10, and
/// 0xFE for the '.'. Bounds are checked once for each length: "d.x" needs 3 bytes from
/// `i`, "dd.x" 4, "ddd.x" 5.
@inlinable @inline(__always)
func octetAndDot(_ p: UnsafePointer<UInt8>, _ i: inout Int, _ count: Int) -> UInt32? {
    guard i &+ 2 < count else { return nil }
    let first = UInt32(p[i] &- 0x30)
    guard first < 10 else { return nil }
    let second = p[i &+ 1] &- 0x30
    if second == 0xFE {
        i &+= 2
        return first
    }
    guard second < 10, first != 0, i &+ 3 < count else { return nil }  // no leading zero
    let two = first &* 10 &+ UInt32(second)
    let third = p[i &+ 2] &- 0x30
    if third == 0xFE {
        i &+= 3
        return two
    }
    guard third < 10, i &+ 4 < count, p[i &+ 3] == 0x2E else { return nil }
    let value = two &* 10 &+ UInt32(third)
    guard value <= 255 else { return nil }
    i &+= 4
    return value
}

/// The last octet of a dotted quad when it ends at `count`: `count - i` is its length,
/// 1 to 3 digits (no loop).
@inlinable @inline(__always)
func finalOctet(_ p: UnsafePointer<UInt8>, _ i: Int, _ count: Int) -> UInt32? {
    let length = count &- i
    guard length >= 1 && length <= 3 else { return nil }
    let first = UInt32(p[i] &- 0x30)
    guard first < 10 else { return nil }
    if length == 1 { return first }
    let second = UInt32(p[i &+ 1] &- 0x30)
    guard second < 10, first != 0 else { return nil }  // a leading zero
    let two = first &* 10 &+ second
    if length == 2 { return two }
    let third = UInt32(p[i &+ 2] &- 0x30)
    guard third < 10 else { return nil }
    let value = two &* 10 &+ third
    guard value <= 255 else { return nil }
    return value
}

/// The first three octets of a dotted quad at `p[0]`, each with its dot, as the top 24 of
/// its 32 bits (shifted down by 8); moves `i` past them. Each octet joins the value as it
/// is read, so only one value is kept.
@inlinable @inline(__always)
func firstThreeOctets(_ p: UnsafePointer<UInt8>, _ i: inout Int, _ count: Int) -> UInt32? {
    guard let a = octetAndDot(p, &i, count) else { return nil }
    guard let b = octetAndDot(p, &i, count) else { return nil }
    let ab = a << 8 | b
    guard let c = octetAndDot(p, &i, count) else { return nil }
    return ab << 8 | c
}

/// A strict dotted quad (inet_pton4) in the `count` bytes at `p`, or nil when they are
/// not one.
@inlinable @inline(__always)
func decodeIPv4(_ p: UnsafePointer<UInt8>, _ count: Int) -> UInt32? {
    // "0.0.0.0" to "255.255.255.255".
    guard count >= 7 && count <= 15 else { return nil }
    var i = 0
    guard let abc = firstThreeOctets(p, &i, count), let d = finalOctet(p, i, count) else { return nil }
    return abc << 8 | d
}

/// The dotted quad an IPv6 address ends with, in the `count` bytes at `p`, up to their end
/// or a '%', and where it ends; nil when it is not one. (0x25 is '%'.)
@inlinable @inline(__always)
func decodeEmbeddedIPv4(_ p: UnsafePointer<UInt8>, _ count: Int) -> (value: UInt32, end: Int)? {
    guard count >= 7 else { return nil }
    var i = 0
    guard let abc = firstThreeOctets(p, &i, count) else { return nil }
    if let d = finalOctet(p, i, count) { return (abc << 8 | d, count) }
    // Not to the end: to a zone's '%', at most 3 digits on.
    guard let percent = (i..<min(count, i &+ 4)).first(where: { p[$0] == 0x25 }), let d = finalOctet(p, i, percent)
    else { return nil }
    return (abc << 8 | d, percent)
}

/// What each byte is to the IPv6 decoder: a hex digit's value (0-15), 16 for ':',
/// 17 for '%', 19 for '.', 127 for anything else. A string literal, so that the table is
/// constant data in every module that inlines the decoder (no lazy initialization, no
/// reference counting); every entry is one UTF-8 byte.
@inlinable var hexClassTable: StaticString {
    """
    \u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\
    \u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\
    \u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{11}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{13}\u{7F}\
    \u{0}\u{1}\u{2}\u{3}\u{4}\u{5}\u{6}\u{7}\u{8}\u{9}\u{10}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\
    \u{7F}\u{A}\u{B}\u{C}\u{D}\u{E}\u{F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\
    \u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\
    \u{7F}\u{A}\u{B}\u{C}\u{D}\u{E}\u{F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\
    \u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\
    \u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\
    \u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\
    \u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\
    \u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\
    \u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\
    \u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\
    \u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\
    \u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\

    """
}

@usableFromInline
enum HexClass {
    @inlinable @inline(__always) static var colon: UInt8 { 16 }
    @inlinable @inline(__always) static var percent: UInt8 { 17 }
    @inlinable @inline(__always) static var end: UInt8 { 18 }
    @inlinable @inline(__always) static var dot: UInt8 { 19 }
}

/// Either family, strictly, with an optional IPv6 zone; nil when the bytes are neither.
/// A valid IPv4 address has a '.' at offset 1, 2 or 3 and no ':'; a valid IPv6 address
/// with a '.' that early starts with "::" (`::1.2.3.4`, `::%a.b`), as any other group
/// before an embedded IPv4 address or a zone takes at least "1::". So the first four
/// bytes decide the family (read as one word: a '.' is a zero byte of `word ^ 0x2E2E2E2E`,
/// found in bytes 1 to 3 by the borrow trick, whose one false hit, a '/' after a '.' in
/// byte 0, is in a string neither family takes), and the IPv6 decoder answers for the
/// rest. (0x3A is ':'.)
@inlinable @inline(__always)
func decodeIPAddress(_ p: UnsafePointer<UInt8>, _ count: Int) -> IPAddress? {
    if count >= 4 {
        let word = UnsafeRawPointer(p).loadUnaligned(as: UInt32.self).littleEndian
        let dots = word ^ 0x2E2E_2E2E
        if word & 0xFF != 0x3A && (dots &- 0x0101_0101) & ~dots & 0x8080_8000 != 0 {
            guard let value = decodeIPv4(p, count) else { return nil }
            return .v4(IPv4Address(rawValue: value))
        }
    }
    return decodeIPv6AsIPAddress(p, count)
}

/// An IPv6 address with an optional zone; nil when the bytes are not one.
@inlinable @inline(__always)
func decodeIPv6Address(_ p: UnsafePointer<UInt8>, _ count: Int) -> IPv6Address? {
    guard case .v6(let address)? = decodeIPv6AsIPAddress(p, count) else { return nil }
    return address
}

/// An IPv6 address (inet_pton6) with an optional zone in the `count` bytes at `p`, as an
/// `IPAddress` (`.v6`), so that `decodeIPAddress` passes the answer on as it is; or nil
/// when they are not one (anything wrong). An embedded IPv4 address in the last 32 bits
/// (`::ffff:1.2.3.4`) is read by `decodeEmbeddedIPv4`, as inet_pton6 hands it to inet_pton4.
///
/// One pass, a group at a time. The groups before "::" are set aside when it is read
/// (`head`), so that at the end one shift moves them to the top.
///
/// Inlinable, with the public parse entry points: a caller in another module parses an
/// address without a call, where the optimizer lets it (in bindbench's loop, about 5%
/// less time than with this out of line). The common path calls nothing: an embedded IPv4
/// address and a zone are read by functions called last, with all they need as arguments,
/// and read-only for the optimizer (`@_effects(readonly)`: they write no memory but their
/// own stack; a refused zone only passes the runtime's throw hook), so that a caller's loop
/// may keep borrowing the string it parses across those calls. (0x3A is ':' and 0x25 '%':
/// inlinable code cannot read the module's internal `ASCII` constants.)
@inlinable @inline(__always)
func decodeIPv6AsIPAddress(_ p: UnsafePointer<UInt8>, _ count: Int) -> IPAddress? {
    guard count >= 2, hexClassTable.utf8CodeUnitCount == 256 else { return nil }
    let classOf = hexClassTable.utf8Start
    let end = p + count
    var cur = p  // where the next group starts
    var bits: UInt128 = 0  // the groups read since the start or "::", the last in the low 16 bits
    var groups = 0  // all groups read; more than 8 are refused at the end (the extra bits shift out)
    var head: UInt128 = 0  // the groups before "::"
    var gapGroup = -1  // how many those are, or -1 before any "::"
    if p[0] == 0x3A {
        // A leading ':' is only the first half of "::".
        guard p[1] == 0x3A else { return nil }
        gapGroup = 0
        cur += 2
        if cur == end { return .v6(IPv6Address(bits: 0, zone: .none)) }
        if cur[0] == 0x25 { return decodeIPv6Zone(0, cur, end) }
    }
    while true {
        // A group: 1 to 4 hex digits from `cur`; `next` is the class of the byte after
        // them, at `cur[digits]`.
        guard cur < end else { return nil }  // a ':' at the end
        var value = UInt64(classOf[Int(cur[0])])
        if value >= 16 {
            // No group after a ':': the second ':' of "::" (once only), which may end the
            // address; or a refusal.
            guard value == UInt64(HexClass.colon) && gapGroup < 0 else { return nil }
            gapGroup = groups
            head = bits
            bits = 0
            cur += 1
            if cur == end || cur[0] == 0x25 { break }
            continue
        }
        var next: UInt8
        var digits = 1
        if end - cur >= 5 {
            // Room for four digits and the byte after them: no bounds checks.
            next = classOf[Int(cur[1])]
            if next < 16 {
                value = value << 4 | UInt64(next)
                next = classOf[Int(cur[2])]
                digits = 2
                if next < 16 {
                    value = value << 4 | UInt64(next)
                    next = classOf[Int(cur[3])]
                    digits = 3
                    if next < 16 {
                        value = value << 4 | UInt64(next)
                        next = classOf[Int(cur[4])]
                        digits = 4
                    }
                }
            }
        } else {
            let room = end - cur
            next = digits < room ? classOf[Int(cur[digits])] : HexClass.end
            while next < 16 && digits < 4 {
                value = value << 4 | UInt64(next)
                digits &+= 1
                next = digits < room ? classOf[Int(cur[digits])] : HexClass.end
            }
        }
        if next == HexClass.colon {
            bits = bits << 16 | UInt128(value)
            groups &+= 1
            cur += digits &+ 1
            continue
        }
        if next == HexClass.dot {
            // An embedded IPv4 address from the start of this group to the end or a
            // '%': it takes the last two groups.
            guard let prefix = placeGroups(bits << 32, groups &+ 2, head, gapGroup) else { return nil }
            return decodeIPv6EndingInIPv4(prefix, cur, end)
        }
        // The end of the address (the input's, or a zone's '%'), or a refusal:
        // a fifth digit, anything else.
        guard next == HexClass.end || next == HexClass.percent else { return nil }
        bits = bits << 16 | UInt128(value)
        groups &+= 1
        cur += digits
        break
    }
    guard let address = placeGroups(bits, groups, head, gapGroup) else { return nil }
    if cur == end { return .v6(IPv6Address(bits: address, zone: .none)) }
    return decodeIPv6Zone(address, cur, end)
}

/// The 128 bits of an IPv6 address from its groups: `bits` holds the `groups` read in all,
/// those after "::" when there is one (`gapGroup` of them came before it, in `head`).
/// Nil when there are not 8 groups, or with "::" (which stands for at least one group)
/// not fewer than 8. (The groups before "::" go to the top: a shift by 128 is masked to 0,
/// and is of a zero head, no groups before "::".)
@inlinable @inline(__always)
func placeGroups(_ bits: UInt128, _ groups: Int, _ head: UInt128, _ gapGroup: Int) -> UInt128? {
    if gapGroup < 0 { return groups == 8 ? bits : nil }
    guard groups < 8 else { return nil }
    return head &<< UInt128(truncatingIfNeeded: 16 &* (8 &- gapGroup)) | bits
}

/// The rest of an IPv6 address whose groups gave `prefix`: the dotted quad from `start`,
/// up to `end` or a zone.
@usableFromInline @inline(never) @_effects(readonly)
func decodeIPv6EndingInIPv4(_ prefix: UInt128, _ start: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> IPAddress? {
    guard let (v4, length) = decodeEmbeddedIPv4(start, end - start) else { return nil }
    if start + length == end { return .v6(IPv6Address(bits: prefix | UInt128(v4), zone: .none)) }
    return decodeIPv6Zone(prefix | UInt128(v4), start + length, end)
}

/// The IPv6 address `bits` with the zone after the '%' at `percent`, up to `end`.
@usableFromInline @inline(never) @_effects(readonly)
func decodeIPv6Zone(_ bits: UInt128, _ percent: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> IPAddress? {
    let bytes = UnsafeBufferPointer(start: percent, count: end - percent)
    guard let zone = try? parseZone(bytes, from: 1, to: bytes.count) else { return nil }
    return .v6(IPv6Address(bits: bits, zone: zone))
}

/// "1.2.3.4:80" or "[::1]:80" (a port of 1 to 5 digits), fast; nil when the fast path
/// cannot tell.
@inline(__always)
func fastSocketAddress(_ p: UnsafePointer<UInt8>, _ count: Int) -> SocketAddress? {
    var colon = 0
    let ip: IPAddress
    if count > 0 && p[0] == ASCII.leftBracket {
        var close = 1
        while close < count && p[close] != ASCII.rightBracket { close += 1 }
        guard close + 1 < count, p[close + 1] == ASCII.colon, let address = decodeIPv6Address(p + 1, close - 1) else {
            return nil
        }
        ip = .v6(address)
        colon = close + 1
    } else {
        while colon < count && p[colon] != ASCII.colon { colon += 1 }
        guard colon < count, let address = decodeIPv4(p, colon) else { return nil }
        ip = .v4(IPv4Address(rawValue: address))
    }
    let digits = count - colon - 1
    guard digits >= 1 && digits <= 5 else { return nil }
    var port: UInt32 = 0
    for i in (colon + 1)..<count {
        let digit = UInt32(p[i] &- ASCII.zero)
        guard digit < 10 else { return nil }
        port = port &* 10 &+ digit
    }
    guard port <= 0xFFFF else { return nil }
    return SocketAddress(ip: ip, port: UInt16(port))
}

/// After `withFastPath(string, decoder)` gave nil: the error of `grammar`, unless the
/// string is not stored contiguously (never a native string), when `decoder` reads a
/// contiguous copy.
///
/// The public entry points call this (through an out-of-line wrapper per grammar) with
/// `copy string`, the only copy they make: the string is consumed into the error, and
/// until then the caller only borrows it. A caller's loop over an array of strings then
/// borrows each element instead of retaining and releasing it, which it does as soon as
/// anything that may write memory (an opaque call) runs while the string is in use.
@inline(__always)
func decodeSlowly<R>(
    _ string: consuming String, _ grammar: AddressParseError.Grammar, _ decoder: (UnsafePointer<UInt8>, Int) -> R?
) throws(AddressParseError) -> R {
    if !string.isContiguousUTF8 {
        string.makeContiguousUTF8()
        if let value = withFastPath(string, decoder) { return value }
    }
    throw .rejected(string, by: grammar)
}

/// What a complete decoder says of `string`: its value, or nil when the string is not in
/// the decoder's grammar. The failable initializers (`IPAddress("::1")`) use this: they
/// have no error to build, so a refusal costs no more than the decoding.
@inlinable @inline(__always)
func decodeOrNil<R>(_ string: borrowing String, _ decoder: (UnsafePointer<UInt8>, Int) -> R?) -> R? {
    let (ran, value) = decodeContiguous(string, decoder)
    guard ran else { return decodeCopy(copy string, decoder) }
    return value
}

/// `decodeOrNil` for a string not stored contiguously (never a native string): a
/// contiguous copy is decoded.
@usableFromInline @inline(never)
func decodeCopy<R>(_ string: consuming String, _ decoder: (UnsafePointer<UInt8>, Int) -> R?) -> R? {
    string.makeContiguousUTF8()
    return withFastPath(string, decoder)
}

/// Runs a decoder or fast path over the UTF-8 bytes of `string` (nil if the string is
/// empty, which no grammar takes, or not stored contiguously, which native strings always
/// are).
@inlinable @inline(__always)
func withFastPath<R>(_ string: borrowing String, _ body: (UnsafePointer<UInt8>, Int) -> R?) -> R? {
    decodeContiguous(string, body).value
}

/// Runs `body` over the UTF-8 bytes of `string` when they are stored contiguously (native
/// strings always are): whether it ran, and its answer (nil for an empty string).
///
/// The answer leaves the closure through a variable, and the closure itself answers only
/// whether it ran: a nested optional (`R??`) would be tested twice on every call, once for
/// "ran" and once for "decoded" (about 8 instructions a string in a caller's loop).
@inlinable @inline(__always)
func decodeContiguous<R>(_ string: borrowing String, _ body: (UnsafePointer<UInt8>, Int) -> R?) -> (ran: Bool, value: R?) {
    var value: R? = nil
    let ran: Void? = string.utf8.withContiguousStorageIfAvailable { buffer in
        guard let base = buffer.baseAddress else { return }
        value = body(base, buffer.count)
    }
    return (ran != nil, value)
}
