import BindConformance
import BindKit
import BindRules
import BindTestSupport
import PropertyBased
import Testing

#if canImport(Glibc)
    import Glibc
#endif

// MARK: - Helpers

private func decode(_ text: String, file: String = "t.json") throws(ScenarioFileError) -> [Scenario] {
    try ScenarioDecoder.decode(text: text, file: file)
}

private func failure(_ bytes: [UInt8], file: String = "bad.json") -> ScenarioFileError? {
    do {
        _ = try ScenarioDecoder.decode(data: bytes, file: file)
        return nil
    } catch {
        return error
    }
}

private func failure(_ text: String, file: String = "bad.json") -> ScenarioFileError? {
    failure(Array(text.utf8), file: file)
}

/// A one-scenario file named "s" with the given steps (JSON objects, comma-separated).
private func file(_ steps: String, name: String = "s", sysctls: String? = nil) -> String {
    let sysctlsPart = sysctls.map { #""sysctls": \#($0), "# } ?? ""
    return #"{"name": "\#(name)", \#(sysctlsPart)"steps": [\#(steps)]}"#
}

private let socketA = #"{"op": "socket", "id": "a", "family": "inet", "type": "tcp"}"#
private let socketA6 = #"{"op": "socket", "id": "a", "family": "inet6", "type": "tcp"}"#

private func ip(_ text: String) throws -> IPAddress {
    try IPAddress(parsing: text)
}

/// Where a directory of test files lives: Tests/Scenarios/…, from this file's path.
private func testsDirectory(_ relative: String, file: String = #filePath) -> String {
    var parts = file.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(2)  // BindConformanceTests/ScenarioDecoderTests.swift
    return parts.joined(separator: "/") + "/" + relative
}

// MARK: - Malformed files

struct MalformedCase: Sendable, CustomTestStringConvertible {
    var label: String
    var text: String
    var scenario: String?
    var step: Int?
    var field: String?
    /// A part of the description.
    var message: String
    var testDescription: String { label }

    init(_ label: String, _ text: String, scenario: String? = "s", step: Int? = nil, field: String? = nil, _ message: String) {
        self.label = label
        self.text = text
        self.scenario = scenario
        self.step = step
        self.field = field
        self.message = message
    }
}

@Suite(.checksLeaks) struct ScenarioDecoderMalformedTests {
    static let cases: [MalformedCase] = [
        // The file as a whole
        .init("empty file", "", scenario: nil, "bad.json: line 1, column 1: empty document: expected a JSON value"),
        .init("only white space", " \n\t", scenario: nil, "empty document"),
        .init("null", "null", scenario: nil, "bad.json: expected a scenario object or an array of them, got null"),
        .init("a number", "3", scenario: nil, "got the number 3"),
        .init("a string", #""steps""#, scenario: nil, #"got the string "steps""#),
        .init("empty array", "[]", scenario: nil, "bad.json: expected a scenario object or a non-empty array of them, got an empty array"),
        .init(
            "array of non-objects", #"[\#(file(socketA)), 7]"#, scenario: "#1",
            "bad.json: scenario #1: expected a scenario object, got the number 7"),
        .init(
            "truncated JSON", #"{"name": "s", "steps": [{"op": "socket", "id": "a""#, scenario: nil,
            "bad.json: line 1, column 51: expected ',' or '}' after an object member, got end of input"),
        .init("truncated in a string", #"{"name": "s"#, scenario: nil, "bad.json: line 1, column 12: expected '\"' to close the string"),
        .init("trailing garbage", file(socketA) + " x", scenario: nil, "expected end of input after the JSON value"),
        .init("trailing comma", #"{"name": "s", "steps": [],}"#, scenario: nil, "trailing comma"),
        .init("duplicate key", #"{"name": "s", "name": "t", "steps": []}"#, scenario: nil, #"duplicate key "name""#),
        .init("deeply nested arrays", String(repeating: "[", count: 100_000), scenario: nil, "nested deeper than 16 levels"),
        .init(
            "nested deeper than needed", #"{"name": "s", "steps": [\#(String(repeating: "[", count: 20))"#, scenario: nil,
            "bad.json: line 1, column 39: arrays and objects nested deeper than 16 levels"),
        // Scenario keys
        .init(
            "missing name", #"{"steps": [\#(socketA)]}"#, scenario: "#0", field: "name", "bad.json: scenario #0: field \"name\": missing"),
        .init("empty name", file(socketA, name: ""), scenario: "#0", field: "name", "expected a non-empty string, got the string \"\""),
        .init("name not a string", #"{"name": 1, "steps": [\#(socketA)]}"#, scenario: "#0", field: "name", "got the number 1"),
        .init(
            "unknown scenario key", #"{"name": "s", "step": [], "steps": [\#(socketA)]}"#, field: "step",
            #"bad.json: scenario "s" (#0): field "step": unknown key; a scenario has: name, sysctls, steps"#),
        .init("missing steps", #"{"name": "s"}"#, field: "steps", "missing"),
        .init("empty steps", file(""), field: "steps", "expected a non-empty array of steps, got an empty array"),
        .init("steps not an array", #"{"name": "s", "steps": {"op": "socket"}}"#, field: "steps", "got an object"),
        .init(
            "duplicate scenario name", "[\(file(socketA, name: "x")), \(file(socketA, name: "y")), \(file(socketA, name: "x"))]",
            scenario: "x",
            field: "name", #"bad.json: scenario "x" (#2): field "name": duplicate name: scenario #0 has the same name"#),
        // Sysctls
        .init(
            "sysctls not an object", file(socketA, sysctls: "[]"), field: "sysctls",
            "expected an object of sysctl names and string values, got an empty array"),
        .init(
            "sysctl outside net.", file(socketA, sysctls: #"{"kernel.hostname": "x"}"#), field: "sysctls",
            #"field "sysctls": name "kernel.hostname": outside net."#),
        .init("sysctl net alone", file(socketA, sysctls: #"{"net": "1"}"#), field: "sysctls", "outside net."),
        .init("sysctl with ..", file(socketA, sysctls: #"{"net.ipv4..conf": "1"}"#), field: "sysctls", "must not contain '..'"),
        .init(
            "sysctl escaping with ..", file(socketA, sysctls: #"{"net.ipv4.../../kernel": "1"}"#), field: "sysctls", "must not contain '/'"),
        .init("sysctl with /", file(socketA, sysctls: #"{"net/ipv4/ip_forward": "1"}"#), field: "sysctls", "must not contain '/'"),
        .init("sysctl upper case", file(socketA, sysctls: #"{"net.IPv4.x": "1"}"#), field: "sysctls", "lower-case letters"),
        .init("sysctl trailing dot", file(socketA, sysctls: #"{"net.ipv4.": "1"}"#), field: "sysctls", "expected a name under net."),
        .init(
            "sysctl too long", file(socketA, sysctls: #"{"net.\#(String(repeating: "a", count: 125))": "1"}"#), field: "sysctls",
            "longer than 128 characters"),
        .init(
            "sysctl value a number", file(socketA, sysctls: #"{"net.ipv6.bindv6only": 1}"#), field: "sysctls",
            "net.ipv6.bindv6only: expected a string (the value as written to /proc/sys, e.g. \"1\"), got the number 1"),
        .init(
            "sysctl value with newline", file(socketA, sysctls: #"{"net.ipv6.bindv6only": "1\n0"}"#), field: "sysctls",
            "must not contain NUL or a newline"),
        .init(
            "sysctl value with NUL", file(socketA, sysctls: #"{"net.ipv6.bindv6only": "1\u0000"}"#), field: "sysctls",
            "must not contain NUL"),
        // Steps and ops
        .init(
            "step not an object", file(#""socket""#), step: 0,
            #"scenario "s" (#0): step 0: expected a step object, got the string "socket""#),
        .init(
            "missing op", file(#"{"id": "a"}"#), step: 0, field: "op",
            #"step 0: field "op": missing: every step needs an op, one of socket, setsockopt, bind, listen, close, timewait, connect, send"#
        ),
        .init(
            "unknown op", file(#"{"op": "accept", "id": "a"}"#), step: 0, field: "op",
            #"expected one of socket, setsockopt, bind, listen, close, timewait, connect, send, got the string "accept""#),
        .init("op not a string", file(#"{"op": 1}"#), step: 0, field: "op", "got the number 1"),
        .init(
            "unknown key on a step", file(socketA + #", {"op": "bind", "id": "a", "adress": "0.0.0.0:0"}"#), step: 1, field: "adress",
            #"step 1 ("bind"): field "adress": unknown key; a "bind" step has: op, id, address, expect"#),
        .init(
            "unknown option", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "reuse_addr": true}"#), step: 0,
            field: "reuse_addr",
            "unknown key; a \"socket\" step has: op, id, family, type, on, uid, caps, reuseaddr, reuseport, v6only, freebind, transparent, device, local_port_range, broadcast, expect"
        ),
        .init(
            "option on a bind step", file(socketA + #", {"op": "bind", "id": "a", "address": "0.0.0.0:0", "reuseaddr": true}"#), step: 1,
            field: "reuseaddr",
            #"not allowed on a "bind" step, which has: op, id, address, expect"#),
        .init(
            "address on a socket step", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "address": "0.0.0.0:0"}"#),
            step: 0, field: "address",
            "not allowed on a \"socket\" step"),
        .init(
            "backlog on close", file(socketA + #", {"op": "close", "id": "a", "backlog": 1}"#), step: 1, field: "backlog",
            "not allowed on a \"close\" step"),
        // Ids
        .init(
            "missing id", file(#"{"op": "socket", "family": "inet", "type": "tcp"}"#), step: 0, field: "id",
            #"step 0 ("socket"): field "id": missing"#),
        .init("missing id on bind", file(socketA + #", {"op": "bind", "address": "0.0.0.0:0"}"#), step: 1, field: "id", "missing"),
        .init(
            "id not a string", file(#"{"op": "socket", "id": 1, "family": "inet", "type": "tcp"}"#), step: 0, field: "id",
            "got the number 1"),
        .init(
            "empty id", file(#"{"op": "socket", "id": "", "family": "inet", "type": "tcp"}"#), step: 0, field: "id",
            "expected a non-empty id"),
        .init(
            "id with a space", file(#"{"op": "socket", "id": "a b", "family": "inet", "type": "tcp"}"#), step: 0, field: "id",
            #"expected an id made of letters, digits, '_' and '-', got "a b""#),
        .init(
            "id too long", file(#"{"op": "socket", "id": "\#(String(repeating: "x", count: 33))", "family": "inet", "type": "tcp"}"#),
            step: 0, field: "id",
            "at most 32 characters"),
        .init(
            "id used before its socket step", file(#"{"op": "bind", "id": "a", "address": "0.0.0.0:0"}, "# + socketA), step: 0, field: "id",
            #"step 0 ("bind"): field "id": no socket "a" before this step; a socket step must create it first"#),
        .init(
            "id used after close", file(socketA + #", {"op": "close", "id": "a"}, {"op": "listen", "id": "a"}"#), step: 2, field: "id",
            #"step 2 ("listen"): field "id": socket "a" was closed at step 1"#),
        .init(
            "id closed twice", file(socketA + #", {"op": "close", "id": "a"}, {"op": "close", "id": "a"}"#), step: 2, field: "id",
            "was closed at step 1"),
        .init(
            "socket id already open", file(socketA + ", " + socketA), step: 1, field: "id",
            #"step 1 ("socket"): field "id": socket "a" is already open (created at step 0)"#),
        .init(
            "timewait id of an open socket", file(socketA + #", {"op": "timewait", "id": "a", "address": "127.0.0.1:8080"}"#), step: 1,
            field: "id",
            "is the id of the socket open since step 0"),
        .init(
            "setsockopt on a timewait id",
            file(
                #"{"op": "timewait", "id": "t", "address": "127.0.0.1:8080"}, {"op": "setsockopt", "id": "t", "option": "reuseaddr", "value": true}"#
            ),
            step: 1, field: "id", "no socket \"t\" before this step"),
        // Family and type
        .init(
            "unknown family", file(#"{"op": "socket", "id": "a", "family": "inet4", "type": "tcp"}"#), step: 0, field: "family",
            #"field "family": expected "inet" or "inet6", got the string "inet4""#),
        .init(
            "family in upper case", file(#"{"op": "socket", "id": "a", "family": "INET", "type": "tcp"}"#), step: 0, field: "family",
            "expected \"inet\" or \"inet6\""),
        .init("missing family", file(#"{"op": "socket", "id": "a", "type": "tcp"}"#), step: 0, field: "family", "missing"),
        .init(
            "unknown transport", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "sctp"}"#), step: 0, field: "type",
            #"field "type": expected "tcp" or "udp", got the string "sctp""#),
        .init("missing transport", file(#"{"op": "socket", "id": "a", "family": "inet"}"#), step: 0, field: "type", "missing"),
        // Option values
        .init(
            "string for bool", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "reuseaddr": "true"}"#), step: 0,
            field: "reuseaddr",
            #"field "reuseaddr": expected true or false, got the string "true""#),
        .init(
            "number for bool", file(#"{"op": "socket", "id": "a", "family": "inet6", "type": "tcp", "v6only": 1}"#), step: 0,
            field: "v6only", "expected true or false, got the number 1"),
        .init(
            "bool for int", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "uid": true}"#), step: 0, field: "uid",
            "expected an integer from 0 to 4294967294, got true"),
        .init(
            "float for int", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "uid": 1.0}"#), step: 0, field: "uid",
            "got 1.0 (an integer is written without fraction or exponent)"),
        .init(
            "exponent for int", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "uid": 1e3}"#), step: 0, field: "uid",
            "got 1e3"),
        .init(
            "string for int", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "uid": "1000"}"#), step: 0, field: "uid",
            #"got the string "1000""#),
        .init(
            "uid -1", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "uid": -1}"#), step: 0, field: "uid",
            "got -1 (out of range)"),
        .init(
            "uid (uid_t)-1", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "uid": 4294967295}"#), step: 0,
            field: "uid", "got 4294967295 (out of range)"),
        .init(
            "uid huge", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "uid": 123456789012345678901234567890}"#),
            step: 0, field: "uid", "out of range"),
        .init(
            "caps not a list", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "caps": "CAP_NET_ADMIN"}"#), step: 0,
            field: "caps",
            "expected a list of capability names"),
        .init(
            "unknown capability",
            file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "caps": ["CAP_NET_BIND_SERVICE", "CAP_FLY"]}"#), step: 0,
            field: "caps",
            #"field "caps": unknown capability "CAP_FLY""#),
        .init(
            "capability without prefix", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "caps": ["NET_ADMIN"]}"#),
            step: 0, field: "caps",
            #"unknown capability "NET_ADMIN""#),
        .init(
            "capability with non-ASCII",
            file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "caps": ["cap_net_bınd_service"]}"#), step: 0,
            field: "caps",
            "unknown capability"),
        .init(
            "capability not a string", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "caps": [12]}"#), step: 0,
            field: "caps",
            "element 0: expected a capability name such as \"CAP_NET_BIND_SERVICE\", got the number 12"),
        .init(
            "capability twice",
            file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "caps": ["CAP_NET_RAW", "cap_net_raw"]}"#), step: 0,
            field: "caps",
            "CAP_NET_RAW is listed twice"),
        .init(
            "device longer than IFNAMSIZ",
            file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "device": "abcdefghijklmnop"}"#), step: 0, field: "device",
            #"field "device": interface name "abcdefghijklmnop" is 16 bytes, longer than IFNAMSIZ - 1 (15)"#),
        .init(
            "device empty", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "device": ""}"#), step: 0, field: "device",
            "got an empty string"),
        .init(
            "device with /", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "device": "a/b"}"#), step: 0,
            field: "device", "must not contain '/'"),
        .init(
            "device with :", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "device": "bk0:1"}"#), step: 0,
            field: "device", "must not contain ':'"),
        .init(
            "device with space", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "device": "bk 0"}"#), step: 0,
            field: "device", "must not contain white space"),
        .init(
            "device with NUL", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "device": "bk\u00000"}"#), step: 0,
            field: "device", "must not contain NUL"),
        .init(
            "device a number", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "device": 2}"#), step: 0,
            field: "device", "got the number 2"),
        .init(
            "port range of one", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "local_port_range": [1]}"#), step: 0,
            field: "local_port_range",
            "expected [low, high], two integers from 0 to 65535, got an array of 1 element"),
        .init(
            "port range out of range",
            file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "local_port_range": [1, 65536]}"#), step: 0,
            field: "local_port_range",
            "got 65536 (out of range)"),
        .init(
            "port range as string", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "local_port_range": "1 2"}"#),
            step: 0, field: "local_port_range",
            "got the string \"1 2\""),
        // setsockopt
        .init(
            "setsockopt unknown option", file(socketA + #", {"op": "setsockopt", "id": "a", "option": "SO_REUSEADDR", "value": true}"#),
            step: 1, field: "option",
            #"field "option": expected one of uid, caps, reuseaddr, reuseport, v6only, freebind, transparent, device, local_port_range, broadcast, got the string "SO_REUSEADDR""#
        ),
        .init(
            "setsockopt without option", file(socketA + #", {"op": "setsockopt", "id": "a", "value": true}"#), step: 1, field: "option",
            "missing"),
        .init(
            "setsockopt without value", file(socketA + #", {"op": "setsockopt", "id": "a", "option": "reuseport"}"#), step: 1,
            field: "value",
            #"field "value": missing: the value for option "reuseport""#),
        .init(
            "setsockopt value of wrong type", file(socketA + #", {"op": "setsockopt", "id": "a", "option": "reuseport", "value": "yes"}"#),
            step: 1, field: "value",
            #"field "value": expected true or false, got the string "yes""#),
        .init(
            "setsockopt uid float", file(socketA + #", {"op": "setsockopt", "id": "a", "option": "uid", "value": 1000.5}"#), step: 1,
            field: "value", "got 1000.5"),
        // listen and timewait values
        .init("backlog float", file(socketA + #", {"op": "listen", "id": "a", "backlog": 1.5}"#), step: 1, field: "backlog", "got 1.5"),
        .init(
            "backlog beyond Int32", file(socketA + #", {"op": "listen", "id": "a", "backlog": 2147483648}"#), step: 1, field: "backlog",
            "expected an integer from -2147483648 to 2147483647, got 2147483648 (out of range)"),
        .init(
            "timewait reuseaddr string", file(#"{"op": "timewait", "address": "127.0.0.1:8080", "reuseaddr": "false"}"#), step: 0,
            field: "reuseaddr",
            "expected true or false"),
        .init("timewait without address", file(#"{"op": "timewait"}"#), step: 0, field: "address", "missing"),
        .init(
            "timewait with family", file(#"{"op": "timewait", "address": "127.0.0.1:8080", "family": "inet"}"#), step: 0, field: "family",
            "not allowed on a \"timewait\" step, which has: op, id, address, reuseaddr, expect"),
        // Addresses
        .init(
            "address without port", file(socketA + #", {"op": "bind", "id": "a", "address": "1.2.3.4"}"#), step: 1, field: "address",
            #"bad.json: scenario "s" (#0): step 1 ("bind"): field "address": expected ADDR:PORT or [ADDR]:PORT, got "1.2.3.4" (missing port)"#
        ),
        .init(
            "address not a string", file(socketA + #", {"op": "bind", "id": "a", "address": 80}"#), step: 1, field: "address",
            "got the number 80"),
        .init("missing address", file(socketA + #", {"op": "bind", "id": "a"}"#), step: 1, field: "address", "missing"),
        .init(
            "bad IPv4 octet", file(socketA + #", {"op": "bind", "id": "a", "address": "10.0.0.256:80"}"#), step: 1, field: "address",
            "octet 4 is 256 (above 255)"),
        .init(
            "IPv4 with three octets", file(socketA + #", {"op": "bind", "id": "a", "address": "10.0.1:80"}"#), step: 1, field: "address",
            "too few octets"),
        .init(
            "host name", file(socketA + #", {"op": "bind", "id": "a", "address": "localhost:80"}"#), step: 1, field: "address",
            #"got "localhost:80" ("#),
        .init(
            "empty host", file(socketA + #", {"op": "bind", "id": "a", "address": ":80"}"#), step: 1, field: "address",
            #"got ":80" (missing address before ':')"#),
        .init(
            "IPv6 without brackets", file(socketA6 + #", {"op": "bind", "id": "a", "address": "::1:80"}"#), step: 1, field: "address",
            "an IPv6 address is written in brackets: [ADDR]:PORT"),
        .init(
            "IPv6 without port", file(socketA6 + #", {"op": "bind", "id": "a", "address": "[::1]"}"#), step: 1, field: "address",
            #"got "[::1]" (missing port)"#),
        .init(
            "IPv6 without colon", file(socketA6 + #", {"op": "bind", "id": "a", "address": "[::1]80"}"#), step: 1, field: "address",
            "expected ':' and a port after ']'"),
        .init(
            "IPv6 without closing bracket", file(socketA6 + #", {"op": "bind", "id": "a", "address": "[::1:80"}"#), step: 1,
            field: "address", "no ']' closes the IPv6 address"),
        .init(
            "IPv4 in brackets", file(socketA + #", {"op": "bind", "id": "a", "address": "[127.0.0.1]:80"}"#), step: 1, field: "address",
            "an IPv4 address is written without brackets"),
        .init(
            "bad IPv6", file(socketA6 + #", {"op": "bind", "id": "a", "address": "[1:::2]:80"}"#), step: 1, field: "address",
            #"got "[1:::2]:80" ("#),
        .init(
            "empty zone", file(socketA6 + #", {"op": "bind", "id": "a", "address": "[fe80::1%]:80"}"#), step: 1, field: "address", "zone"),
        .init("empty address", file(socketA + #", {"op": "bind", "id": "a", "address": ""}"#), step: 1, field: "address", "(missing port)"),
        .init(
            "port 70000", file(socketA + #", {"op": "bind", "id": "a", "address": "0.0.0.0:70000"}"#), step: 1, field: "address",
            "the port must be a decimal from 0 to 65535, got 70000"),
        .init(
            "port 65536", file(socketA + #", {"op": "bind", "id": "a", "address": "0.0.0.0:65536"}"#), step: 1, field: "address",
            "got 65536"),
        .init(
            "port 99999999999999999999", file(socketA + #", {"op": "bind", "id": "a", "address": "0.0.0.0:99999999999999999999"}"#),
            step: 1, field: "address",
            "the port must be a decimal from 0 to 65535"),
        .init(
            "port -1", file(socketA + #", {"op": "bind", "id": "a", "address": "0.0.0.0:-1"}"#), step: 1, field: "address",
            #"the port must be a decimal from 0 to 65535 or $ID, got "-1""#),
        .init(
            "port x", file(socketA + #", {"op": "bind", "id": "a", "address": "0.0.0.0:x"}"#), step: 1, field: "address",
            #"or $ID, got "x""#),
        .init(
            "port +80", file(socketA + #", {"op": "bind", "id": "a", "address": "0.0.0.0:+80"}"#), step: 1, field: "address", #"got "+80""#),
        .init(
            "port empty", file(socketA + #", {"op": "bind", "id": "a", "address": "0.0.0.0:"}"#), step: 1, field: "address",
            "missing port after ':'"),
        .init(
            "IPv6 port empty", file(socketA6 + #", {"op": "bind", "id": "a", "address": "[::]:"}"#), step: 1, field: "address",
            "missing port after ':'"),
        .init(
            "port with leading zero", file(socketA + #", {"op": "bind", "id": "a", "address": "0.0.0.0:080"}"#), step: 1, field: "address",
            "without leading zeros"),
        .init(
            "port with space", file(socketA + #", {"op": "bind", "id": "a", "address": "0.0.0.0: 80"}"#), step: 1, field: "address",
            "the port must be a decimal"),
        .init(
            "$x never bound", file(socketA + #", {"op": "bind", "id": "a", "address": "0.0.0.0:$x"}"#), step: 1, field: "address",
            #"got "0.0.0.0:$x" ("$x": no bind, listen, connect or send step of socket "x", nor timewait step with that id, comes before this step)"#
        ),
        .init(
            "$a of a socket never bound",
            file(
                socketA
                    + #", {"op": "socket", "id": "b", "family": "inet", "type": "tcp"}, {"op": "setsockopt", "id": "a", "option": "reuseaddr", "value": true}, {"op": "bind", "id": "b", "address": "0.0.0.0:$a"}"#
            ),
            step: 3, field: "address", #""$a": no bind, listen, connect or send step of socket "a""#),
        .init(
            "$a of the bind itself", file(socketA + #", {"op": "bind", "id": "a", "address": "0.0.0.0:$a"}"#), step: 1, field: "address",
            #""$a": no bind, listen"#),
        .init(
            "$ alone", file(socketA + #", {"op": "bind", "id": "a", "address": "0.0.0.0:$"}"#), step: 1, field: "address",
            "after '$', expected a non-empty id"),
        .init(
            "$ with a bad id", file(socketA + #", {"op": "bind", "id": "a", "address": "0.0.0.0:$a.b"}"#), step: 1, field: "address",
            "after '$', expected an id made of letters"),
        .init(
            "$x before its timewait",
            file(
                socketA + #", {"op": "bind", "id": "a", "address": "0.0.0.0:$t"}, {"op": "timewait", "id": "t", "address": "127.0.0.1:0"}"#),
            step: 1, field: "address", #""$t": no bind, listen"#),
        // Expectations
        .init(
            "unknown expect errno", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "expect": "EFOO"}"#), step: 0,
            field: "expect",
            #"field "expect": expected "ok" or an errno name such as "EADDRINUSE", got "EFOO" (not a Linux errno name)"#),
        .init(
            "expect in lower case", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "expect": "eaddrinuse"}"#), step: 0,
            field: "expect", "not a Linux errno name"),
        .init(
            "expect OK", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "expect": "OK"}"#), step: 0, field: "expect",
            "not a Linux errno name"),
        .init(
            "expect a number", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "expect": 98}"#), step: 0,
            field: "expect", "got the number 98"),
        .init(
            "expect null", file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "expect": null}"#), step: 0, field: "expect",
            "got null"),
        // The right step of the right scenario is named.
        .init(
            "second scenario, second step",
            "[\(file(socketA, name: "first")), \(file(socketA + ", " + socketA6 + ", " + socketA, name: "second"))]", scenario: "second",
            step: 1,
            field: "id", #"bad.json: scenario "second" (#1): step 1 ("socket"): field "id": socket "a" is already open"#),
    ]

    @Test(arguments: cases)
    func rejects(_ c: MalformedCase) throws {
        let error = try #require(failure(c.text))
        #expect(error.kind == .invalid)
        #expect(error.file == "bad.json")
        #expect(error.scenario == c.scenario)
        #expect(error.step == c.step)
        #expect(error.field == c.field)
        #expect(error.description.contains(c.message), "\(error.description)")
        #expect(error.description.hasPrefix("bad.json: "))
        #expect(!error.description.contains("\n"))
        if let scenario = c.scenario {
            #expect(error.description.contains(scenario.hasPrefix("#") ? "scenario \(scenario)" : "scenario \"\(scenario)\""))
        }
        if let step = c.step {
            #expect(error.description.contains("step \(step)"))
        }
        if let field = c.field {
            #expect(error.description.contains("field \"\(field)\""))
        }
    }

    @Test func bytesThatAreNotUTF8() throws {
        var bytes = Array(file(socketA, name: "x").utf8)
        bytes[10] = 0xFF  // inside the name
        let error = try #require(failure(bytes))
        #expect(error.kind == .invalid)
        #expect(error.line == 1)
        #expect(error.column == 11)
        #expect(error.description == "bad.json: line 1, column 11: invalid UTF-8 at byte offset 10 (byte 0xFF)")
    }

    @Test func aFileOverTheSizeLimit() throws {
        let padding = [UInt8](repeating: UInt8(ascii: " "), count: ScenarioDecoder.maximumFileSize)
        let error = try #require(failure(Array(file(socketA).utf8) + padding))
        #expect(error.kind == .tooLarge)
        #expect(error.description.hasPrefix("bad.json: the file is "))
        #expect(error.description.contains("larger than the limit of 4194304 bytes (4 MiB)"))
        // Exactly at the limit is fine.
        let atLimit = Array(file(socketA).utf8)
        let fitted = atLimit + [UInt8](repeating: UInt8(ascii: " "), count: ScenarioDecoder.maximumFileSize - atLimit.count)
        #expect(failure(fitted) == nil)
    }

    @Test func aScenarioArrayIsNeededAtMostFiveLevelsDeep() throws {
        let deepest = "[" + file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "caps": ["CAP_NET_RAW"]}"#) + "]"
        #expect(failure(deepest) == nil)
        // A value of the wrong shape, not too deep: reported with its field.
        let shaped = file(#"{"op": "socket", "id": "a", "family": "inet", "type": "tcp", "caps": [[["CAP_NET_RAW"]]]}"#)
        #expect(failure(shaped)?.field == "caps")
    }
}

// MARK: - Valid files

@Suite(.checksLeaks) struct ScenarioDecoderValidTests {
    /// The example of SCENARIOS.md.
    static let example = """
        {
          "name": "dual-stack wildcard also takes IPv4",
          "sysctls": { "net.ipv6.bindv6only": "0" },
          "steps": [
            { "op": "socket", "id": "a", "family": "inet6", "type": "tcp" },
            { "op": "bind",   "id": "a", "address": "[::]:0" },
            { "op": "listen", "id": "a" },
            { "op": "socket", "id": "b", "family": "inet", "type": "tcp", "reuseaddr": true },
            { "op": "bind",   "id": "b", "address": "0.0.0.0:$a", "expect": "EADDRINUSE" }
          ]
        }
        """

    @Test func theExampleOfTheContract() throws {
        let scenarios = try decode(Self.example)
        let expected = Scenario(
            name: "dual-stack wildcard also takes IPv4",
            sysctls: [SysctlSetting(name: "net.ipv6.bindv6only", value: "0")],
            steps: [
                Step(id: "a", action: .socket(family: .inet6, transport: .tcp, options: [])),
                Step(id: "a", action: .bind(AddressSpec(ip: try ip("::"), port: .number(0), text: "[::]:0"))),
                Step(id: "a", action: .listen(backlog: 128)),
                Step(id: "b", action: .socket(family: .inet, transport: .tcp, options: [.reuseaddr(true)])),
                Step(
                    id: "b", action: .bind(AddressSpec(ip: try ip("0.0.0.0"), port: .reference("a"), text: "0.0.0.0:$a")),
                    expect: .errno("EADDRINUSE")),
            ])
        #expect(scenarios == [expected])
        #expect(scenarios.first?.steps.map(\.op) == ["socket", "bind", "listen", "socket", "bind"])
    }

    @Test func theFormatExamplesDecode() throws {
        let directory = testsDirectory("Scenarios/format-examples")
        let loaded = try ScenarioLoader.load(paths: [directory])
        #expect(loaded.count >= 3)
        #expect(loaded.map(\.file) == loaded.map(\.file).sorted())
        for entry in loaded {
            #expect(!entry.scenarios.isEmpty)
            // Written back, each decodes to the same scenarios.
            #expect(try decode(ScenarioEncoder.encode(entry.scenarios)) == entry.scenarios, "\(entry.file)")
        }
        let example = try #require(loaded.first { $0.file.hasSuffix("/scenarios-md-example.json") })
        #expect(example.scenarios == (try decode(Self.example)))
    }

    @Test func optionsComeInTheOrderOfTheContract() throws {
        let text = file(
            #"{"op": "socket", "id": "a", "family": "inet6", "type": "udp", "broadcast": true, "local_port_range": [40000, 30000], "device": "bk0", "transparent": false, "freebind": true, "v6only": true, "reuseport": true, "reuseaddr": false, "caps": ["cap_net_bind_service", "CAP_NET_ADMIN"], "uid": 4294967294}"#
        )
        let step = try #require(try decode(text).first?.steps.first)
        #expect(
            step.action
                == .socket(
                    family: .inet6, transport: .udp,
                    options: [
                        .uid(4_294_967_294), .caps([.netBindService, .netAdmin]), .reuseaddr(false), .reuseport(true), .v6only(true),
                        .freebind(true), .transparent(false), .device("bk0"), .localPortRange(low: 40000, high: 30000),
                        .broadcast(true),
                    ]))
        if case .socket(_, _, let options) = step.action {
            #expect(options.map(\.key) == SocketOptionSetting.orderedKeys)
        }
    }

    @Test func everyOptionBySetsockopt() throws {
        let steps = [
            #"{"op": "setsockopt", "id": "a", "option": "uid", "value": 1000}"#,
            #"{"op": "setsockopt", "id": "a", "option": "caps", "value": []}"#,
            #"{"op": "setsockopt", "id": "a", "option": "reuseaddr", "value": true}"#,
            #"{"op": "setsockopt", "id": "a", "option": "reuseport", "value": false}"#,
            #"{"op": "setsockopt", "id": "a", "option": "v6only", "value": true}"#,
            #"{"op": "setsockopt", "id": "a", "option": "freebind", "value": true}"#,
            #"{"op": "setsockopt", "id": "a", "option": "transparent", "value": true, "expect": "EPERM"}"#,
            #"{"op": "setsockopt", "id": "a", "option": "device", "value": "abcdefghijklmno"}"#,
            #"{"op": "setsockopt", "id": "a", "option": "local_port_range", "value": [0, 65535]}"#,
            #"{"op": "setsockopt", "id": "a", "option": "broadcast", "value": true}"#,
        ]
        let scenario = try #require(try decode(file(([socketA6] + steps).joined(separator: ", "))).first)
        #expect(
            scenario.steps.dropFirst().map(\.action) == [
                .setsockopt(.uid(1000)), .setsockopt(.caps([])), .setsockopt(.reuseaddr(true)), .setsockopt(.reuseport(false)),
                .setsockopt(.v6only(true)), .setsockopt(.freebind(true)), .setsockopt(.transparent(true)),
                .setsockopt(.device("abcdefghijklmno")), .setsockopt(.localPortRange(low: 0, high: 65535)),
                .setsockopt(.broadcast(true)),
            ])
        #expect(scenario.steps.last?.id == "a")
        #expect(scenario.steps.count == 11)
        #expect(scenario.steps[7].expect == .errno("EPERM"))
        #expect(scenario.steps.dropFirst().allSatisfy { $0.op == "setsockopt" })
        let keys = scenario.steps.dropFirst().compactMap { step -> String? in
            if case .setsockopt(let setting) = step.action { return setting.key }
            return nil
        }
        #expect(keys == SocketOptionSetting.orderedKeys)
    }

    @Test func idsMayBeReusedAfterCloseAndPortsOutliveTheirSocket() throws {
        let text = file(
            socketA + #"""
                , {"op": "bind", "id": "a", "address": "127.0.0.1:0"},
                {"op": "close", "id": "a"},
                {"op": "socket", "id": "a", "family": "inet", "type": "udp"},
                {"op": "bind", "id": "a", "address": "127.0.0.1:$a", "expect": "ok"},
                {"op": "close", "id": "a", "expect": "ok"}
                """#)
        let steps = try #require(try decode(text).first?.steps)
        #expect(steps.count == 6)
        #expect(steps[4].action == .bind(AddressSpec(ip: try ip("127.0.0.1"), port: .reference("a"), text: "127.0.0.1:$a")))
        #expect(steps[4].expect == .ok)
        #expect(steps[5].action == .close)
    }

    @Test func timewaitWithAndWithoutId() throws {
        let text = file(
            #"""
            {"op": "timewait", "address": "127.0.0.1:8080"},
            {"op": "timewait", "id": "t", "address": "[::1]:0", "reuseaddr": true},
            {"op": "socket", "id": "a", "family": "inet6", "type": "tcp", "reuseaddr": true},
            {"op": "bind", "id": "a", "address": "[::1]:$t", "expect": "EADDRINUSE"},
            {"op": "socket", "id": "t", "family": "inet6", "type": "tcp"}
            """#)
        let steps = try #require(try decode(text).first?.steps)
        #expect(steps[0].id == nil)
        #expect(
            steps[0].action
                == .timewait(AddressSpec(ip: try ip("127.0.0.1"), port: .number(8080), text: "127.0.0.1:8080"), reuseaddr: false))
        #expect(steps[1].id == "t")
        #expect(steps[1].action == .timewait(AddressSpec(ip: try ip("::1"), port: .number(0), text: "[::1]:0"), reuseaddr: true))
        #expect(steps[3].action == .bind(AddressSpec(ip: try ip("::1"), port: .reference("t"), text: "[::1]:$t")))
        #expect(steps.map(\.op) == ["timewait", "timewait", "socket", "bind", "socket"])
    }

    @Test func addressForms() throws {
        let cases: [(String, String, PortSpec)] = [
            ("0.0.0.0:0", "0.0.0.0", .number(0)),
            ("192.0.2.1:65535", "192.0.2.1", .number(65535)),
            ("[::]:80", "::", .number(80)),
            ("[::ffff:127.0.0.1]:1", "::ffff:127.0.0.1", .number(1)),
            ("[fe80::1%bk0]:8080", "fe80::1%bk0", .number(8080)),
            ("[fe80::1%2]:8080", "fe80::1%2", .number(8080)),
            ("[2001:db8::1]:$a", "2001:db8::1", .reference("a")),
        ]
        for (text, host, port) in cases {
            let document = file(
                socketA6 + #", {"op": "bind", "id": "a", "address": "[::]:0"}, {"op": "bind", "id": "a", "address": "\#(text)"}"#)
            let step = try #require(try decode(document).first?.steps.last)
            #expect(step.action == .bind(AddressSpec(ip: try ip(host), port: port, text: text)), "\(text)")
            if case .bind(let spec) = step.action {
                #expect(spec.description == text)
                #expect(spec.port.description == text.split(separator: ":").last.map(String.init))
                #expect(spec.family == (text.hasPrefix("[") ? .inet6 : .inet))
            }
        }
    }

    @Test func mixedFamiliesAreLeftToTheKernel() throws {
        // An inet socket given an IPv6 address and the other way round: the kernel answers.
        let text = file(socketA + #", {"op": "bind", "id": "a", "address": "[::1]:0", "expect": "EINVAL"}"#)
        #expect(try decode(text).first?.steps.last?.expect == .errno("EINVAL"))
    }

    @Test func numbersAndDefaults() throws {
        let text = file(
            #"""
            {"op": "socket", "id": "a", "family": "inet", "type": "tcp", "uid": -0},
            {"op": "listen", "id": "a"},
            {"op": "listen", "id": "a", "backlog": -1},
            {"op": "listen", "id": "a", "backlog": 2147483647},
            {"op": "listen", "id": "a", "backlog": -2147483648}
            """#)
        let steps = try #require(try decode(text).first?.steps)
        #expect(steps[0].action == .socket(family: .inet, transport: .tcp, options: [.uid(0)]))
        #expect(
            steps.dropFirst().map(\.action) == [
                .listen(backlog: 128), .listen(backlog: -1), .listen(backlog: .max), .listen(backlog: .min),
            ])
    }

    @Test func expectationsUsePrimaryErrnoNames() throws {
        let text = file(
            socketA + #", {"op": "listen", "id": "a", "expect": "EWOULDBLOCK"}, {"op": "close", "id": "a", "expect": "ENOTSUP"}"#)
        let steps = try #require(try decode(text).first?.steps)
        #expect(steps[1].expect == .errno("EAGAIN"))
        #expect(steps[2].expect == .errno("EOPNOTSUPP"))
        #expect(steps[0].expect == nil)
        #expect(BindRules.Expectation.ok.description == "ok")
        #expect(BindRules.Expectation.errno("EADDRINUSE").description == "EADDRINUSE")
    }

    @Test func sysctlsKeepTheirOrder() throws {
        let sysctls =
            #"{"net.ipv4.ip_local_port_range": "32768 60999", "net.ipv6.bindv6only": "1", "net.ipv4.ip_unprivileged_port_start": "1024", "net.ipv4.conf.bk-0.x_y": ""}"#
        let scenario = try #require(try decode(file(socketA, sysctls: sysctls)).first)
        #expect(
            scenario.sysctls.map(\.name) == [
                "net.ipv4.ip_local_port_range", "net.ipv6.bindv6only", "net.ipv4.ip_unprivileged_port_start", "net.ipv4.conf.bk-0.x_y",
            ])
        #expect(scenario.sysctls.first?.value == "32768 60999")
        let empty = try #require(try decode(file(socketA, sysctls: "{}")).first)
        #expect(empty.sysctls.isEmpty)
    }

    @Test func keysMayComeInAnyOrder() throws {
        let text = #"{"steps": [{"type": "tcp", "expect": "ok", "family": "inet", "id": "a", "op": "socket"}], "name": "s"}"#
        let scenario = try #require(try decode(text).first)
        #expect(
            scenario
                == Scenario(name: "s", steps: [Step(id: "a", action: .socket(family: .inet, transport: .tcp, options: []), expect: .ok)]))
    }

    @Test func anArrayOfScenariosWithNamesOfTheirOwn() throws {
        let text = "[\(file(socketA, name: "one")), \(file(socketA, name: "two")), \(file(socketA, name: "One"))]"
        #expect(try decode(text).map(\.name) == ["one", "two", "One"])
        // Ids belong to one scenario: "a" is open in each.
    }

    @Test func portSpecDescriptions() {
        #expect(PortSpec.number(0).description == "0")
        #expect(PortSpec.number(65535).description == "65535")
        #expect(PortSpec.reference("a-1").description == "$a-1")
    }

    @Test func addressSpecTextFromItsParts() throws {
        #expect(AddressSpec(ip: try ip("192.0.2.1"), port: .number(80)).text == "192.0.2.1:80")
        #expect(AddressSpec(ip: try ip("fe80::1%bk0"), port: .reference("a")).text == "[fe80::1%bk0]:$a")
    }

    @Test func errorDescriptionWithEveryPart() {
        let error = ScenarioFileError(
            file: "bad.json", scenarioIndex: 2, scenarioName: "dual stack", step: 3, op: "bind", field: "address",
            problem: #"expected ADDR:PORT or [ADDR]:PORT, got "1.2.3.4" (missing port)"#)
        #expect(
            error.description
                == #"bad.json: scenario "dual stack" (#2): step 3 ("bind"): field "address": expected ADDR:PORT or [ADDR]:PORT, got "1.2.3.4" (missing port)"#
        )
        #expect(error.scenario == "dual stack")
        let unnamed = ScenarioFileError(file: "f.json", scenarioIndex: 4, step: 0, problem: "p")
        #expect(unnamed.description == "f.json: scenario #4: step 0: p")
        #expect(unnamed.scenario == "#4")
    }
}

// MARK: - Loader

/// A fresh directory under /tmp, removed at the end of `body`.
private func withTemporaryDirectory(_ body: (String) throws -> Void) throws {
    var template = Array("/tmp/bindkit-scenarios-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { buffer -> Bool in
        guard let base = buffer.baseAddress else { return false }
        return mkdtemp(base) != nil
    }
    try #require(made)
    let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    defer { remove(tree: path) }
    try body(path)
}

private func remove(tree path: String) {
    var info = stat()
    guard lstat(path, &info) == 0 else { return }
    if info.st_mode & S_IFMT == S_IFDIR, let handle = opendir(path) {
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(handle)
        for name in names { remove(tree: path + "/" + name) }
        rmdir(path)
    } else {
        chmod(path, 0o600)
        unlink(path)
    }
}

private func write(_ path: String, _ text: String) throws {
    try write(path, Array(text.utf8))
}

private func write(_ path: String, _ bytes: [UInt8]) throws {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    try #require(descriptor >= 0)
    defer { close(descriptor) }
    let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
    try #require(written == bytes.count)
}

private func loadError(_ paths: [String]) -> ScenarioFileError? {
    do {
        _ = try ScenarioLoader.load(paths: paths)
        return nil
    } catch {
        return error
    }
}

@Suite(.checksLeaks) struct ScenarioLoaderTests {
    @Test func aDirectoryIsSearchedRecursivelyInSortedOrder() throws {
        try withTemporaryDirectory { dir in
            mkdir(dir + "/b", 0o755)
            mkdir(dir + "/b/c", 0o755)
            mkdir(dir + "/.hidden", 0o755)
            try write(dir + "/z.json", file(socketA, name: "z"))
            try write(dir + "/a.json", "[\(file(socketA, name: "a1")), \(file(socketA, name: "a2"))]")
            try write(dir + "/b/c/deep.json", file(socketA, name: "deep"))
            try write(dir + "/b/m.json", file(socketA, name: "m"))
            try write(dir + "/notes.txt", "not a scenario")
            try write(dir + "/.hidden/h.json", "not even JSON")
            try write(dir + "/.dot.json", "not even JSON")
            symlink(dir, dir + "/b/loop")  // not followed
            let loaded = try ScenarioLoader.load(paths: [dir + "/"])
            #expect(loaded.map(\.file) == [dir + "/a.json", dir + "/b/c/deep.json", dir + "/b/m.json", dir + "/z.json"])
            #expect(loaded.map { $0.scenarios.map(\.name) } == [["a1", "a2"], ["deep"], ["m"], ["z"]])
            // Files and directories together, in the order given.
            let mixed = try ScenarioLoader.load(paths: [dir + "/z.json", dir + "/b"])
            #expect(mixed.map(\.file) == [dir + "/z.json", dir + "/b/c/deep.json", dir + "/b/m.json"])
        }
    }

    @Test func aFileIsReadWhateverItsName() throws {
        try withTemporaryDirectory { dir in
            try write(dir + "/scenario.txt", file(socketA, name: "txt"))
            let loaded = try ScenarioLoader.load(paths: [dir + "/scenario.txt"])
            #expect(loaded.first?.scenarios.first?.name == "txt")
        }
    }

    @Test func aMissingPath() throws {
        let error = try #require(loadError(["/nonexistent/bindkit/x.json"]))
        #expect(error.kind == .missing)
        #expect(error.file == "/nonexistent/bindkit/x.json")
        #expect(error.description.hasPrefix("/nonexistent/bindkit/x.json: No such file or directory (ENOENT)"))
        #expect(loadError([""])?.kind == .missing)
    }

    @Test func aDirectoryWithoutScenarioFiles() throws {
        try withTemporaryDirectory { dir in
            try write(dir + "/readme.md", "#")
            let error = try #require(loadError([dir]))
            #expect(error.kind == .missing)
            #expect(error.description == "\(dir): the directory holds no *.json file")
        }
    }

    @Test func notARegularFile() throws {
        let error = try #require(loadError(["/dev/null"]))
        #expect(error.kind == .unreadable)
        #expect(error.description == "/dev/null: not a regular file or a directory")
    }

    @Test func aFIFODoesNotHang() throws {
        try withTemporaryDirectory { dir in
            try #require(mkfifo(dir + "/pipe.json", 0o644) == 0)
            try write(dir + "/ok.json", file(socketA))
            // Found by the search? No: only regular files (and links to them) are.
            #expect(try ScenarioLoader.load(paths: [dir]).map(\.file) == [dir + "/ok.json"])
            #expect(loadError([dir + "/pipe.json"])?.kind == .unreadable)
            #expect(throws: ScenarioFileError.self) { try ScenarioLoader.read(file: dir + "/pipe.json") }
        }
    }

    @Test func aFileOverTheSizeLimitIsRefusedBeforeItIsRead() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/big.json"
            try write(path, file(socketA))
            // A sparse file: the size says it all, nothing needs reading.
            try #require(truncate(path, off_t(ScenarioDecoder.maximumFileSize + 1)) == 0)
            let error = try #require(loadError([path]))
            #expect(error.kind == .tooLarge)
            #expect(error.description == "\(path): the file is 4194305 bytes, larger than the limit of 4194304 bytes (4 MiB)")
        }
    }

    @Test func aMalformedFileInADirectoryNamesTheFile() throws {
        try withTemporaryDirectory { dir in
            try write(dir + "/a.json", file(socketA, name: "fine"))
            try write(dir + "/b.json", file(socketA + #", {"op": "bind", "id": "a", "address": "1.2.3.4"}"#, name: "dual stack"))
            let error = try #require(loadError([dir]))
            #expect(error.kind == .invalid)
            #expect(error.file == dir + "/b.json")
            #expect(
                error.description
                    == "\(dir)/b.json: scenario \"dual stack\" (#0): step 1 (\"bind\"): field \"address\": expected ADDR:PORT or [ADDR]:PORT, got \"1.2.3.4\" (missing port)"
            )
        }
    }

    @Test func emptyAndBinaryFiles() throws {
        try withTemporaryDirectory { dir in
            try write(dir + "/empty.json", "")
            try write(dir + "/binary.json", [0x7B, 0xC3, 0x28, 0x7D])
            #expect(
                loadError([dir + "/empty.json"])?.description
                    == "\(dir)/empty.json: line 1, column 1: empty document: expected a JSON value")
            #expect(
                loadError([dir + "/binary.json"])?.description
                    == "\(dir)/binary.json: line 1, column 2: invalid UTF-8 at byte offset 1 (byte 0xC3)")
        }
    }

    @Test func anUnreadableFile() throws {
        guard geteuid() != 0 else { return }  // root reads anything
        try withTemporaryDirectory { dir in
            try write(dir + "/locked.json", file(socketA))
            chmod(dir + "/locked.json", 0)
            #expect(loadError([dir + "/locked.json"])?.kind == .unreadable)
        }
    }
}

// MARK: - Round trip

@Suite(.checksLeaks) struct ScenarioEncoderTests {
    @Test func writesTheExampleBackInTheFormat() throws {
        let scenarios = try decode(ScenarioDecoderValidTests.example)
        #expect(
            ScenarioEncoder.encode(scenarios) == """
                {
                  "name": "dual-stack wildcard also takes IPv4",
                  "sysctls": {
                    "net.ipv6.bindv6only": "0"
                  },
                  "steps": [
                    { "op": "socket", "id": "a", "family": "inet6", "type": "tcp" },
                    { "op": "bind", "id": "a", "address": "[::]:0" },
                    { "op": "listen", "id": "a" },
                    { "op": "socket", "id": "b", "family": "inet", "type": "tcp", "reuseaddr": true },
                    { "op": "bind", "id": "b", "address": "0.0.0.0:$a", "expect": "EADDRINUSE" }
                  ]
                }

                """)
    }

    @Test func severalScenariosAreAnArray() throws {
        let text =
            "[\(file(socketA, name: "one")), \(file(#"{"op": "timewait", "address": "127.0.0.1:1", "reuseaddr": true}, {"op": "socket", "id": "x", "family": "inet", "type": "tcp", "local_port_range": [1, 2], "caps": ["CAP_SYS_ADMIN", "CAP_CHOWN"]}, {"op": "listen", "id": "x", "backlog": 5}"#, name: "two"))]"
        let scenarios = try decode(text)
        let encoded = ScenarioEncoder.encode(scenarios)
        #expect(encoded.hasPrefix("[\n  {\n"))
        #expect(encoded.contains(#"{ "op": "timewait", "address": "127.0.0.1:1", "reuseaddr": true }"#))
        #expect(encoded.contains(#""caps": ["CAP_CHOWN", "CAP_SYS_ADMIN"], "local_port_range": [1, 2] }"#))
        #expect(encoded.contains(#"{ "op": "listen", "id": "x", "backlog": 5 }"#))
        #expect(try decode(encoded) == scenarios)
    }

    @Test func decodeOfEncodeIsTheIdentity() async {
        await propertyCheck(count: 200, input: scenariosGenerator) { scenarios in
            let text = ScenarioEncoder.encode(scenarios)
            do {
                let decoded = try ScenarioDecoder.decode(text: text, file: "generated.json")
                #expect(decoded == scenarios)
            } catch {
                Issue.record("\(error)\n\(text)")
            }
        }
    }
}

// MARK: - Generated scenarios

/// Valid scenarios: ids are used only while open, `$ID` only after a bind or timewait.
private let scenariosGenerator = Generator<[Scenario], Shrink.None<[Scenario]>> { rng in
    let count = Int.random(in: 1...3, using: &rng)
    return (0..<count).map { index in randomScenario(&rng, name: "scenario \(index) \u{e9}\"\\") }
}

private let hosts4 = ["0.0.0.0", "127.0.0.1", "192.0.2.1", "255.255.255.255", "198.51.100.7"]
private let hosts6 = ["::", "::1", "2001:db8::1", "fe80::1%bk0", "fe80::1%2", "::ffff:127.0.0.1", "ff02::1"]
private let devices = ["lo", "bk0", "bk1", "abcdefghijklmno", "eth0.100"]
private let idPool = ["a", "b", "c", "srv-1", "X_2"]

private func pick<T>(_ items: [T], _ rng: inout some RandomNumberGenerator) -> T {
    items[Int.random(in: 0..<items.count, using: &rng)]
}

private func randomOption(_ key: String, _ rng: inout some RandomNumberGenerator) -> SocketOptionSetting {
    switch key {
    case "uid": return .uid(pick([0, 1, 1000, 65534, 4_294_967_294], &rng))
    case "caps":
        return .caps(Set(Capability.allCases.filter { _ in Int.random(in: 0..<8, using: &rng) == 0 }))
    case "reuseaddr": return .reuseaddr(Bool.random(using: &rng))
    case "reuseport": return .reuseport(Bool.random(using: &rng))
    case "v6only": return .v6only(Bool.random(using: &rng))
    case "freebind": return .freebind(Bool.random(using: &rng))
    case "transparent": return .transparent(Bool.random(using: &rng))
    case "device": return .device(pick(devices, &rng))
    case "broadcast": return .broadcast(Bool.random(using: &rng))
    default: return .localPortRange(low: UInt16.random(in: 0...65535, using: &rng), high: UInt16.random(in: 0...65535, using: &rng))
    }
}

private func randomExpectation(_ rng: inout some RandomNumberGenerator) -> BindRules.Expectation? {
    switch Int.random(in: 0..<4, using: &rng) {
    case 0: return nil
    case 1: return .ok
    default: return .errno(pick(ErrnoName.all, &rng).name)
    }
}

private func randomAddress(_ rng: inout some RandomNumberGenerator, bound: [String]) -> AddressSpec? {
    let host = Bool.random(using: &rng) ? pick(hosts4, &rng) : pick(hosts6, &rng)
    guard let address = try? IPAddress(parsing: host) else { return nil }
    let port: PortSpec
    if !bound.isEmpty, Bool.random(using: &rng) {
        port = .reference(pick(bound, &rng))
    } else {
        port = .number(pick([0, 1, 80, 1023, 1024, 8080, 32768, 65535], &rng))
    }
    return AddressSpec(ip: address, port: port)
}

private func randomScenario(_ rng: inout some RandomNumberGenerator, name: String) -> Scenario {
    var open: [String] = []
    var bound: [String] = []
    var udp: Set<String> = []
    var steps: [Step] = []
    for _ in 0..<Int.random(in: 1...12, using: &rng) {
        let expect = randomExpectation(&rng)
        let closedIds = idPool.filter { !open.contains($0) }
        switch Int.random(in: 0..<7, using: &rng) {
        case 0 where !closedIds.isEmpty, 1 where open.isEmpty && !closedIds.isEmpty:
            let id = pick(closedIds, &rng)
            let options = SocketOptionSetting.orderedKeys.filter { _ in Bool.random(using: &rng) }.map { randomOption($0, &rng) }
            let transport: Transport = Bool.random(using: &rng) ? .tcp : .udp
            steps.append(
                Step(
                    id: id,
                    action: .socket(family: Bool.random(using: &rng) ? .inet : .inet6, transport: transport, options: options),
                    expect: expect, on: Bool.random(using: &rng) ? .peer : .host))
            open.append(id)
            if transport == .udp { udp.insert(id) } else { udp.remove(id) }
        case 1 where !open.isEmpty:
            let id = pick(open, &rng)
            steps.append(Step(id: id, action: .setsockopt(randomOption(pick(SocketOptionSetting.orderedKeys, &rng), &rng)), expect: expect))
        case 2 where !open.isEmpty:
            let id = pick(open, &rng)
            if let address = randomAddress(&rng, bound: bound) {
                steps.append(Step(id: id, action: .bind(address), expect: expect))
                if !bound.contains(id) { bound.append(id) }
            }
        case 3 where !open.isEmpty:
            steps.append(
                Step(id: pick(open, &rng), action: .listen(backlog: pick([128, 0, -1, 1, 4096, .max, .min], &rng)), expect: expect))
        case 4 where !open.isEmpty:
            let id = pick(open, &rng)
            steps.append(Step(id: id, action: .close, expect: expect))
            open.removeAll { $0 == id }
        case 5 where !open.isEmpty:
            // connect (expect_by for TCP) or send (UDP, to the connected destination or not).
            let id = pick(open, &rng)
            let by = Bool.random(using: &rng) ? Array(Set(open.filter { _ in Bool.random(using: &rng) })).sorted() : nil
            let address = randomAddress(&rng, bound: bound)
            if udp.contains(id) && Bool.random(using: &rng) {
                steps.append(Step(id: id, action: .send(Bool.random(using: &rng) ? address : nil), expect: expect, expectBy: by))
            } else if let address {
                steps.append(Step(id: id, action: .connect(address), expect: expect, expectBy: udp.contains(id) ? nil : by))
            }
            if !bound.contains(id) { bound.append(id) }
        default:
            let id: String? = Bool.random(using: &rng) && !closedIds.isEmpty ? pick(closedIds, &rng) : nil
            if let address = randomAddress(&rng, bound: bound) {
                steps.append(Step(id: id, action: .timewait(address, reuseaddr: Bool.random(using: &rng)), expect: expect))
                if let id, !bound.contains(id) { bound.append(id) }
            }
        }
    }
    if steps.isEmpty {
        steps.append(Step(id: "a", action: .socket(family: .inet, transport: .tcp, options: [])))
    }
    var sysctls: [SysctlSetting] = []
    for (sysctl, value) in [
        ("net.ipv6.bindv6only", "1"), ("net.ipv4.ip_local_port_range", "32768 60999"), ("net.ipv4.ip_nonlocal_bind", "0"),
    ] where Bool.random(using: &rng) {
        sysctls.append(SysctlSetting(name: sysctl, value: value))
    }
    return Scenario(name: name, sysctls: sysctls, steps: steps)
}

// MARK: - Robustness

@Suite(.checksLeaks) struct ScenarioDecoderRobustnessTests {
    /// Mutations of valid files: each decodes or is rejected with a one-line message, never a crash.
    @Test func mutatedFilesAreDecodedOrRejected() async throws {
        let sources = try ScenarioLoader.load(paths: [testsDirectory("Scenarios/format-examples")]).map {
            ScenarioEncoder.encode($0.scenarios)
        }
        let mutated = Generator<[UInt8], Shrink.None<[UInt8]>> { rng in
            var bytes = Array(pick(sources, &rng).utf8)
            let interesting: [UInt8] = Array("[]{}\",:$%.-0123456789eE \\u\n".utf8) + [0x00, 0x80, 0xC3, 0xFF]
            for _ in 0..<Int.random(in: 1...6, using: &rng) where !bytes.isEmpty {
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: bytes[at] = pick(interesting, &rng)
                case 1: bytes.remove(at: at)
                case 2: bytes.insert(pick(interesting, &rng), at: at)
                default: bytes.removeSubrange(at...)
                }
            }
            return bytes
        }
        await propertyCheck(count: 500, input: mutated) { bytes in
            do throws(ScenarioFileError) {
                let scenarios = try ScenarioDecoder.decode(data: bytes, file: "m.json")
                #expect(!scenarios.isEmpty)
                // What decodes, encodes back to the same scenarios.
                #expect((try? ScenarioDecoder.decode(text: ScenarioEncoder.encode(scenarios), file: "m.json")) == scenarios)
            } catch {
                #expect(error.kind == .invalid)
                #expect(error.description.hasPrefix("m.json: "))
                #expect(!error.description.contains("\n"))
            }
        }
    }
}
