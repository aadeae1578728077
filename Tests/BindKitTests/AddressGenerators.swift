import BindKit
import PropertyBased

// Generators of addresses and of near-valid address text, for the differential and
// round-trip properties. The text generators follow a small grammar of what people (and
// attackers) write: the right shape most of the time, with one or two things wrong.

typealias RNG = any SeededRandomNumberGenerator

/// Picks from a small weighted table; `weights` are relative.
func pick(_ weights: [Int], _ rng: inout RNG) -> Int {
    let total = weights.reduce(0, +)
    var roll = Int.random(in: 0..<total, using: &rng)
    for (i, w) in weights.enumerated() {
        if roll < w { return i }
        roll -= w
    }
    return weights.count - 1
}

func chance(_ percent: Int, _ rng: inout RNG) -> Bool {
    Int.random(in: 0..<100, using: &rng) < percent
}

func choose<T>(_ items: [T], _ rng: inout RNG) -> T {
    items[Int.random(in: 0..<items.count, using: &rng)]
}

/// Characters that do not belong in an address but people type anyway.
let strayCharacters = [
    " ", "\t", "\n", "\r\n", "\u{0B}", "\u{0C}", "x", "g", "G", "+", "-", ",", "/", "[", "]", "%", "é", "١", "\u{00A0}",
    "\u{0301}", "🙂", "\u{7F}", "\u{1F}", "#",
]

/// Whitespace as C's isspace knows it.
let cSpaces = [" ", "\t", "\n", "\u{0B}", "\u{0C}", "\r"]

func hexDigits(_ count: Int, _ rng: inout RNG) -> String {
    var s = ""
    for _ in 0..<count {
        let d = Int.random(in: 0..<16, using: &rng)
        var c = String(d, radix: 16)
        if chance(30, &rng) { c = c.uppercased() }
        s += c
    }
    return s
}

func decimalDigits(_ count: Int, _ rng: inout RNG) -> String {
    (0..<count).map { _ in String(Int.random(in: 0...9, using: &rng)) }.joined()
}

// MARK: - IPv4 text

/// One octet of a near-valid strict dotted quad.
func octetLike(_ rng: inout RNG) -> String {
    switch pick([40, 10, 10, 10, 6, 6, 5, 5, 5, 3], &rng) {
    case 0: return String(Int.random(in: 0...255, using: &rng))
    case 1: return String(Int.random(in: 0...9, using: &rng))
    case 2: return String(Int.random(in: 250...999, using: &rng))
    case 3: return "0" + String(Int.random(in: 0...255, using: &rng))
    case 4: return ""
    case 5: return choose(["4294967296", "99999999999999999999", "1000", "256", "2550"], &rng)
    case 6: return "0x" + hexDigits(Int.random(in: 0...3, using: &rng), &rng)
    case 7: return hexDigits(Int.random(in: 1...2, using: &rng), &rng)
    case 8: return choose(["+1", "-1", "1e2", "0.", "00", "000"], &rng)
    default: return choose(strayCharacters, &rng) + String(Int.random(in: 0...255, using: &rng))
    }
}

/// Applies 0 to 3 small edits (insert a token, delete or replace a character, cut the
/// end) to a valid address text, so most results are one mistake away from valid.
func mutate(_ text: String, tokens: [String], _ rng: inout RNG) -> String {
    var characters = Array(text)
    for _ in 0..<pick([30, 40, 20, 10], &rng) {
        let position = Int.random(in: 0...characters.count, using: &rng)
        switch pick([45, 25, 20, 10], &rng) {
        case 0:
            characters.insert(contentsOf: choose(tokens, &rng), at: position)
        case 1:
            if position < characters.count { characters.remove(at: position) }
        case 2:
            if position < characters.count {
                characters.replaceSubrange(position...position, with: choose(tokens, &rng))
            }
        default:
            characters.removeSubrange(position...)
        }
    }
    return String(characters)
}

let ipv4Tokens = [".", ".", "0", "00", "9", "25", "255", "256", "x", " ", ":", "..", "\t", "é", "+", "0x", "1"]

/// A near-valid strict IPv4 address: a valid one with a few edits, or one built from
/// near-valid octets.
func ipv4Like(_ rng: inout RNG) -> String {
    if chance(65, &rng) {
        let edge: [UInt8] = [0, 1, 9, 10, 99, 100, 199, 200, 249, 250, 255]
        let octets = (0..<4).map { _ in
            chance(30, &rng) ? choose(edge, &rng) : UInt8.random(in: 0...255, using: &rng)
        }
        let text = IPv4Address(octets[0], octets[1], octets[2], octets[3]).description
        return mutate(text, tokens: ipv4Tokens, &rng)
    }
    return ipv4Built(&rng)
}

func ipv4Built(_ rng: inout RNG) -> String {
    let parts = [4, 4, 4, 4, 4, 4, 3, 5, 2, 1, 0, 6][Int.random(in: 0..<12, using: &rng)]
    var s = chance(4, &rng) ? choose(strayCharacters + ["0", "."], &rng) : ""
    for k in 0..<parts {
        if k > 0 { s += chance(92, &rng) ? "." : choose(["..", ":", " ", ",", "", "。"], &rng) }
        s += octetLike(&rng)
    }
    if chance(10, &rng) { s += choose(strayCharacters + [".", ":80", ":", "%eth0", "0"], &rng) }
    return s
}

/// One part of an inet_aton address in any base, sometimes broken. `last` parts may be wider.
func legacyPartLike(last: Bool, parts: Int, _ rng: inout RNG) -> String {
    let width: UInt64 = last ? UInt64(UInt32.max >> (8 * UInt32(max(0, min(parts - 1, 3))))) : 255
    let value: UInt64 =
        switch pick([50, 25, 15, 10], &rng) {
        case 0: UInt64.random(in: 0...width, using: &rng)
        case 1: UInt64.random(in: 0...255, using: &rng)
        case 2: UInt64.random(in: width...(width + 300), using: &rng)
        default: UInt64.random(in: 0...0x1_FFFF_FFFF, using: &rng)
        }
    switch pick([35, 20, 20, 5, 5, 5, 4, 3, 3], &rng) {
    case 0: return String(value)
    case 1: return (chance(50, &rng) ? "0x" : "0X") + String(value, radix: 16, uppercase: chance(50, &rng))
    case 2: return "0" + String(value, radix: 8)
    case 3: return "0" + String(repeating: "0", count: Int.random(in: 0...30, using: &rng)) + String(value, radix: 8)
    case 4: return choose(["0x", "0X", "0xg", "08", "09", "018", "0x0x1", "00x1", "x1"], &rng)
    case 5: return ""
    case 6: return choose(["99999999999999999999999", "0x100000000", "040000000000", "4294967296"], &rng)
    case 7: return "0x" + String(repeating: "0", count: Int.random(in: 0...30, using: &rng)) + String(value, radix: 16)
    default: return choose(strayCharacters, &rng) + String(value)
    }
}

/// A near-valid inet_aton address, often with trailing whitespace and junk: a valid one
/// in mixed bases with a few edits, or one built from near-valid parts.
func legacyIPv4Like(_ rng: inout RNG) -> String {
    if chance(50, &rng) {
        let parts = Int.random(in: 1...4, using: &rng)
        var text = ""
        for k in 0..<parts {
            let last = k == parts - 1
            let width: UInt64 = last ? UInt64(UInt32.max >> (8 * UInt32(parts - 1))) : 255
            let value = chance(20, &rng) ? choose([0, 1, width], &rng) : UInt64.random(in: 0...width, using: &rng)
            if k > 0 { text += "." }
            switch pick([50, 25, 25], &rng) {
            case 0: text += String(value)
            case 1: text += choose(["0x", "0X"], &rng) + String(value, radix: 16, uppercase: chance(50, &rng))
            default: text += "0" + String(value, radix: 8)
            }
        }
        if chance(20, &rng) { text += choose(cSpaces, &rng) + choose(["junk", "", "1.2.3.4", "%x", ":80"], &rng) }
        return mutate(text, tokens: ipv4Tokens + ["0x", "0X", "8", "f", "F", "\u{0B}", "\u{0C}", "\r", "\n"], &rng)
    }
    return legacyIPv4Built(&rng)
}

func legacyIPv4Built(_ rng: inout RNG) -> String {
    let parts = [4, 4, 4, 3, 3, 2, 2, 1, 1, 5, 0][Int.random(in: 0..<11, using: &rng)]
    var s = chance(4, &rng) ? choose(cSpaces + ["+", "-", "."], &rng) : ""
    for k in 0..<parts {
        if k > 0 { s += chance(93, &rng) ? "." : choose(["..", ":", " ", ","], &rng) }
        s += legacyPartLike(last: k == parts - 1, parts: parts, &rng)
    }
    switch pick([60, 15, 10, 10, 5], &rng) {
    case 0: break
    case 1: s += choose(cSpaces, &rng) + choose(["junk", "", "1.2.3.4", ":80", "é", "\u{0}x", " "], &rng)
    case 2: s += choose(cSpaces, &rng)
    case 3: s += choose(strayCharacters + [".", ":80", "x"], &rng)
    default: s += "\u{A0}"
    }
    return s
}

// MARK: - IPv6 text

let ipv6Tokens = [
    ":", ":", "::", ".", "0", "0000", "ffff", "FfFf", "g", " ", "%", "1.2.3.4", ":::", "00000", "fffff", "é", "1",
    "a", "F", "::ffff:", "255.255.255.255", "256",
]

/// A valid IPv6 text for random structured bytes: glibc's canonical form, or a valid
/// non-canonical one (leading zeros, upper case, "::" on any run of zero groups or none,
/// a dotted-quad tail).
func ipv6Valid(_ rng: inout RNG) -> String {
    let bytes = structuredIPv6Bytes(&rng)
    if chance(30, &rng) { return (IPv6Address(bytes: bytes) ?? .any).description }
    let words = (0..<8).map { UInt16(bytes[2 * $0]) << 8 | UInt16(bytes[2 * $0 + 1]) }
    let dottedTail = chance(20, &rng)
    let groupCount = dottedTail ? 6 : 8
    var groups = words[..<groupCount].map { word in
        var text = String(word, radix: 16, uppercase: chance(20, &rng))
        if chance(20, &rng) { text = String(repeating: "0", count: Int.random(in: 0...(4 - text.count), using: &rng)) + text }
        return text
    }
    let tail = dottedTail ? IPv4Address(bytes: bytes[12...])?.description ?? "0.0.0.0" : nil
    // "::" over a random run of zero groups, if any.
    var runs: [Range<Int>] = []
    var i = 0
    while i < groupCount {
        if words[i] == 0 {
            let start = i
            while i < groupCount && words[i] == 0 { i += 1 }
            let end = Int.random(in: (start + 1)...i, using: &rng)
            runs.append(Int.random(in: start..<end, using: &rng)..<end)
        } else {
            i += 1
        }
    }
    var all = groups
    if let tail { all.append(tail) }
    guard !runs.isEmpty, chance(85, &rng) else { return all.joined(separator: ":") }
    let run = choose(runs, &rng)
    groups = all
    return groups[..<run.lowerBound].joined(separator: ":") + "::" + groups[run.upperBound...].joined(separator: ":")
}

/// A near-valid IPv6 address (no zone): a valid one with a few edits, or one built from
/// near-valid groups.
func ipv6Like(_ rng: inout RNG) -> String {
    if chance(65, &rng) { return mutate(ipv6Valid(&rng), tokens: ipv6Tokens, &rng) }
    return ipv6Built(&rng)
}

func ipv6Built(_ rng: inout RNG) -> String {
    let count = [8, 8, 8, 7, 6, 5, 4, 3, 2, 1, 0, 9, 10][Int.random(in: 0..<13, using: &rng)]
    var groups: [String] = (0..<count).map { _ in
        switch pick([70, 8, 6, 5, 4, 4, 3], &rng) {
        case 0: return hexDigits(Int.random(in: 1...4, using: &rng), &rng)
        case 1: return "0"
        case 2: return "0000"
        case 3: return hexDigits(5, &rng)
        case 4: return ""
        case 5: return choose(["ffff", "FFFF", "fffff", "10000", "00000"], &rng)
        default: return choose(strayCharacters + ["g", "z"], &rng) + hexDigits(1, &rng)
        }
    }
    var tail = ""
    if chance(20, &rng) {
        tail =
            chance(75, &rng)
            ? IPv4Address(rawValue: UInt32.random(in: 0...UInt32.max, using: &rng)).description
            : ipv4Like(&rng)
        if !groups.isEmpty && chance(70, &rng) { groups.removeLast() }
    }
    var text: String
    switch pick([45, 40, 5, 5, 5], &rng) {
    case 0:
        text = groups.joined(separator: ":")
        if !tail.isEmpty { text += (groups.isEmpty ? "" : ":") + tail }
    case 1, 2:
        // One "::" (or, sometimes, a second one) somewhere.
        let cut = Int.random(in: 0...groups.count, using: &rng)
        var rest = groups[cut...].joined(separator: ":")
        if !tail.isEmpty { rest += (rest.isEmpty ? "" : ":") + tail }
        text = groups[..<cut].joined(separator: ":") + "::" + rest
        if chance(8, &rng) {
            text = text.replacingFirst(":", with: "::", after: Int.random(in: 0...3, using: &rng))
        }
    case 3:
        text = groups.joined(separator: ":") + choose([":::", ":", "::"], &rng) + tail
    default:
        text = choose([":", "::", ":::", ""], &rng) + groups.joined(separator: ":") + choose([":", "", "::"], &rng)
    }
    if chance(3, &rng) { text.insert(contentsOf: choose(strayCharacters, &rng), at: text.startIndex) }
    if chance(4, &rng) { text += choose(strayCharacters + [".", ":"], &rng) }
    return text
}

extension String {
    /// Replaces the first `target` at or after character `offset` (whole string if none).
    func replacingFirst(_ target: Character, with replacement: String, after offset: Int) -> String {
        var i = index(startIndex, offsetBy: min(offset, count))
        while i < endIndex {
            if self[i] == target {
                var copy = self
                copy.replaceSubrange(i...i, with: replacement)
                return copy
            }
            i = index(after: i)
        }
        return self
    }
}

/// A zone-like suffix (without "%"): names, indexes, overflows and bad characters.
func zoneLike(_ rng: inout RNG) -> String {
    let nameCharacters = Array("abcdefghijklmnopqrstuvwxyz0123456789._-@")
    switch pick([35, 25, 10, 10, 8, 6, 6], &rng) {
    case 0: return String((0..<Int.random(in: 1...15, using: &rng)).map { _ in choose(nameCharacters, &rng) })
    case 1: return String(UInt32.random(in: 0...UInt32.max, using: &rng) >> UInt32.random(in: 0...31, using: &rng))
    case 2: return String((0..<Int.random(in: 16...20, using: &rng)).map { _ in choose(nameCharacters, &rng) })
    case 3: return choose(["", ".", "..", "...", "4294967295", "4294967296", "99999999999999", "00003"], &rng)
    case 4: return "eth" + choose(strayCharacters + [":", "%", "/", "]"], &rng) + "0"
    case 5: return choose(["étH0", "ö", "🙂", "x\u{0301}"], &rng)
    default: return choose(cSpaces, &rng) + "eth0"
    }
}

/// Reference rule for zones, written plainly: what the parser should accept after '%'.
func referenceZone(_ zone: String) -> IPv6Zone? {
    let bytes = Array(zone.utf8)
    guard !bytes.isEmpty else { return nil }
    if bytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
        guard let index = UInt32(zone) else { return nil }
        return .index(index)
    }
    guard bytes.count <= 15, zone != ".", zone != ".." else { return nil }
    let refused: Set<UInt8> = [0x25, 0x2F, 0x3A, 0x5B, 0x5D, 0x7F]
    guard bytes.allSatisfy({ $0 > 0x20 && !refused.contains($0) }) else { return nil }
    return .name(zone)
}

// MARK: - Addresses

/// 16 bytes where each 16-bit group is zero half the time (so that runs of zeros, the
/// "::" choice and glibc's dotted-quad tails all come up), sometimes ffff.
func structuredIPv6Bytes(_ rng: inout RNG) -> [UInt8] {
    var bytes: [UInt8] = []
    let zeroRate = choose([10, 50, 80], &rng)
    for _ in 0..<8 {
        let word: UInt16 =
            chance(zeroRate, &rng) ? 0 : chance(10, &rng) ? 0xFFFF : UInt16.random(in: 1...UInt16.max, using: &rng)
        bytes += [UInt8(word >> 8), UInt8(word & 0xFF)]
    }
    return bytes
}

extension Gen where Value == IPv4Address {
    static var address: Generator<IPv4Address, Shrink.Integer<UInt32>> {
        Gen<UInt32>.uint32().map { IPv4Address(rawValue: $0) }
    }
}

extension Gen where Value == IPv6Address {
    /// Structured addresses, a quarter of them with a zone.
    static var address: Generator<IPv6Address, Shrink.None<IPv6Address>> {
        Generator(run: { rng in
            var address = IPv6Address(bytes: structuredIPv6Bytes(&rng)) ?? .any
            if chance(25, &rng) {
                address.zone =
                    chance(50, &rng)
                    ? .index(UInt32.random(in: 0...UInt32.max, using: &rng))
                    : .name(choose(["eth0", "lo", "veth-a.1", "wlp2s0", "br_0", "é0", "x"], &rng))
            }
            return address
        })
    }
}

extension Gen where Value == IPAddress {
    static var address: Generator<IPAddress, Shrink.None<IPAddress>> {
        Generator(run: { rng in
            if chance(50, &rng) {
                return .v4(IPv4Address(rawValue: UInt32.random(in: 0...UInt32.max, using: &rng)))
            }
            return .v6(Gen<IPv6Address>.address.run(using: &rng))
        })
    }
}

extension Gen where Value == String {
    static var ipv4Text: Generator<String, Shrink.None<String>> { Generator(run: { ipv4Like(&$0) }) }
    static var legacyIPv4Text: Generator<String, Shrink.None<String>> { Generator(run: { legacyIPv4Like(&$0) }) }
    static var ipv6Text: Generator<String, Shrink.None<String>> { Generator(run: { ipv6Like(&$0) }) }
    static var zonedIPv6Text: Generator<String, Shrink.None<String>> {
        Generator(run: { rng in
            let address =
                chance(60, &rng)
                ? (IPv6Address(bytes: structuredIPv6Bytes(&rng)) ?? .any).description : ipv6Like(&rng)
            return address + "%" + zoneLike(&rng)
        })
    }
}
