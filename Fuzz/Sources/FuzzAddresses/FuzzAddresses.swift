// Fuzz target for the address parsers and formatters.
//
// Every input is tried as a String (when it is valid UTF-8) and as the String its bytes
// decode to lossily, against every parser. The target traps when an invariant breaks:
//
// - what a parser accepts formats to text that parses back to the same value;
// - the strict IPv4/IPv6 parsers accept exactly what glibc's inet_pton accepts, with the
//   same bytes, and the legacy IPv4 parser exactly what inet_aton accepts (for text
//   without NUL bytes, which C cannot see past);
// - an IPv6 address formats exactly as inet_ntop does, then "%zone";
// - the either-family parsers agree with the single-family ones;
// - every error renders, and its position lies inside its input.
import BindKit
import Glibc

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let lossy = String(decoding: bytes, as: UTF8.self)
    if let exact = String(validating: bytes, as: UTF8.self), exact != lossy {
        check(exact)
    }
    check(lossy)
    return 0
}

/// Traps with a message: a broken invariant is what the fuzzer is looking for.
func violated(_ what: String, _ text: String) -> Never {
    fatalError("\(what): \(text.debugDescription)")
}

func check(_ text: String) {
    let cText = text.utf8.contains(0) ? nil : text  // what C can see in full
    checkIPv4(text, cText)
    checkIPv6(text, cText)
    checkEither(text)
    checkSocket(text)
}

// MARK: - C, through Glibc

func cPton4(_ text: String) -> [UInt8]? {
    var out = in_addr()
    guard inet_pton(AF_INET, text, &out) == 1 else { return nil }
    return withUnsafeBytes(of: &out) { Array($0) }
}

func cPton6(_ text: String) -> [UInt8]? {
    var out = in6_addr()
    guard inet_pton(AF_INET6, text, &out) == 1 else { return nil }
    return withUnsafeBytes(of: &out) { Array($0) }
}

func cAton(_ text: String) -> [UInt8]? {
    var out = in_addr()
    guard inet_aton(text, &out) != 0 else { return nil }
    return withUnsafeBytes(of: &out) { Array($0) }
}

func cNtop6(_ bytes: [UInt8]) -> String {
    var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
    let length = bytes.withUnsafeBytes { input in
        buffer.withUnsafeMutableBufferPointer { out -> Int in
            guard let base = out.baseAddress, inet_ntop(AF_INET6, input.baseAddress, base, socklen_t(out.count)) != nil
            else { return -1 }
            return strlen(base)
        }
    }
    guard length >= 0 else { violated("inet_ntop failed", "\(bytes)") }
    return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

// MARK: - Invariants

func checkError(_ error: AddressParseError, _ text: String) {
    guard error.input == text else { violated("error input differs", text) }
    if let position = error.position, position < 0 || position > text.count {
        violated("error position \(position) outside the input", text)
    }
    guard !error.problem.isEmpty, !error.description.isEmpty else { violated("empty error message", text) }
}

func checkIPv4(_ text: String, _ cText: String?) {
    var strict: IPv4Address?
    do {
        let address = try IPv4Address(parsing: text)
        strict = address
        guard (try? IPv4Address(parsing: address.description)) == address else {
            violated("IPv4 text does not parse back", text)
        }
        guard (try? IPv4Address.parseLegacy(text)) == address else {
            violated("legacy parser disagrees with the strict one", text)
        }
    } catch {
        checkError(error, text)
    }
    if let cText, strict?.bytes != cPton4(cText) {
        violated("IPv4Address(parsing:) differs from inet_pton", text)
    }
    var legacy: IPv4Address?
    do {
        legacy = try IPv4Address.parseLegacy(text)
    } catch {
        checkError(error, text)
    }
    if let cText, legacy?.bytes != cAton(cText) {
        violated("IPv4Address.parseLegacy differs from inet_aton", text)
    }
}

func checkIPv6(_ text: String, _ cText: String?) {
    var parsed: IPv6Address?
    do {
        let address = try IPv6Address(parsing: text)
        parsed = address
        let description = address.description
        guard (try? IPv6Address(parsing: description)) == address else {
            violated("IPv6 text does not parse back", text)
        }
        var bare = address
        bare.zone = nil
        let expected = cNtop6(address.bytes) + (address.zone.map { "%\($0)" } ?? "")
        guard description == expected, bare.description == cNtop6(address.bytes) else {
            violated("IPv6 text differs from inet_ntop (\(description) vs \(expected))", text)
        }
        if let mapped = address.v4Mapped, IPv6Address(v4Mapped: mapped) != bare {
            violated("v4Mapped does not round-trip", text)
        }
    } catch {
        checkError(error, text)
    }
    // inet_pton6 sees the part before the first '%' byte; the zone rule is ours. (Split
    // on bytes: a '%' followed by a combining mark is one Character.)
    guard let cText else { return }
    let percent = cText.utf8.firstIndex(of: UInt8(ascii: "%"))
    let addressPart = String(decoding: cText.utf8[..<(percent ?? cText.utf8.endIndex)], as: UTF8.self)
    if let parsed {
        guard parsed.bytes == cPton6(addressPart) else { violated("IPv6Address(parsing:) differs from inet_pton", text) }
    } else if percent == nil, cPton6(cText) != nil {
        violated("inet_pton accepts what IPv6Address(parsing:) refuses", text)
    }
}

func checkEither(_ text: String) {
    let v4 = try? IPv4Address(parsing: text)
    let v6 = try? IPv6Address(parsing: text)
    do {
        let address = try IPAddress(parsing: text)
        switch address {
        case .v4(let a): guard a == v4 else { violated("IPAddress disagrees with IPv4Address", text) }
        case .v6(let a): guard a == v6 else { violated("IPAddress disagrees with IPv6Address", text) }
        }
        guard (try? IPAddress(parsing: address.description)) == address else {
            violated("IPAddress text does not parse back", text)
        }
    } catch {
        checkError(error, text)
        guard v4 == nil, v6 == nil else { violated("IPAddress refuses what a family parser accepts", text) }
    }
    let legacyV4 = try? IPv4Address.parseLegacy(text)
    do {
        let address = try IPAddress.parseLegacy(text)
        switch address {
        case .v4(let a): guard a == legacyV4 else { violated("IPAddress.parseLegacy disagrees (IPv4)", text) }
        case .v6(let a): guard a == v6 else { violated("IPAddress.parseLegacy disagrees (IPv6)", text) }
        }
    } catch {
        checkError(error, text)
        guard legacyV4 == nil, v6 == nil else { violated("IPAddress.parseLegacy refuses a valid address", text) }
    }
}

func checkSocket(_ text: String) {
    do {
        let address = try SocketAddress(parsing: text)
        guard (try? SocketAddress(parsing: address.description)) == address else {
            violated("SocketAddress text does not parse back", text)
        }
    } catch {
        checkError(error, text)
    }
}
