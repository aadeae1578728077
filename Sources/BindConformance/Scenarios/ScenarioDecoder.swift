import BindKit
import BindRules

/// Why a scenario file (or a path given for scenario files) cannot be used.
///
/// The description is one line naming the file, then whatever is known of the place: the
/// line and column of a JSON syntax error, the scenario (its name and its index from 0 in
/// the file), the step (its index from 0, as in the output of `bindcheck run`, and its op),
/// the field, and what was expected:
///
///     bad.json: scenario "dual stack" (#2): step 3 ("bind"): field "address": expected ADDR:PORT or [ADDR]:PORT, got "1.2.3.4" (missing port)
public struct ScenarioFileError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// The file is not a valid scenario file (exit status 64).
        case invalid
        /// The path does not exist, or a directory holds no `*.json` file (exit status 66).
        case missing
        /// The path exists but cannot be read, or is not a regular file or directory.
        case unreadable
        /// The file is larger than `ScenarioDecoder.maximumFileSize`.
        case tooLarge
    }

    public var kind: Kind
    /// The path of the file, as given or as found under a directory that was given.
    public var file: String
    /// Line and column (from 1) of a JSON syntax error.
    public var line: Int?
    public var column: Int?
    /// Index (from 0) of the scenario in the file; a file holding one object has scenario #0.
    public var scenarioIndex: Int?
    /// Name of the scenario, once it is known.
    public var scenarioName: String?
    /// Index (from 0) of the step in its scenario.
    public var step: Int?
    /// The op of the step, once it is known.
    public var op: String?
    /// The key the problem is in, e.g. `"address"`.
    public var field: String?
    /// What is wrong: what was expected and what was found.
    public var problem: String

    public init(
        kind: Kind = .invalid, file: String, line: Int? = nil, column: Int? = nil, scenarioIndex: Int? = nil,
        scenarioName: String? = nil, step: Int? = nil, op: String? = nil, field: String? = nil, problem: String
    ) {
        self.kind = kind
        self.file = file
        self.line = line
        self.column = column
        self.scenarioIndex = scenarioIndex
        self.scenarioName = scenarioName
        self.step = step
        self.op = op
        self.field = field
        self.problem = problem
    }

    /// The scenario as a person names it: its name, or `#index` when the name is not known.
    public var scenario: String? {
        if let scenarioName { return scenarioName }
        if let scenarioIndex { return "#\(scenarioIndex)" }
        return nil
    }

    public var description: String {
        var parts = [file]
        if let line, let column {
            parts.append("line \(line), column \(column)")
        }
        if let scenarioIndex {
            if let scenarioName {
                parts.append("scenario \(quoted(scenarioName)) (#\(scenarioIndex))")
            } else {
                parts.append("scenario #\(scenarioIndex)")
            }
        }
        if let step {
            parts.append(op.map { "step \(step) (\(quoted($0)))" } ?? "step \(step)")
        }
        if let field {
            parts.append("field \(quoted(field))")
        }
        parts.append(problem)
        return parts.joined(separator: ": ")
    }
}

/// A string in double quotes, JSON-escaped, cut after 80 characters: for messages.
func quoted(_ text: String) -> String {
    let limit = 80
    if text.unicodeScalars.count > limit {
        var cut = String.UnicodeScalarView()
        cut.append(contentsOf: text.unicodeScalars.prefix(limit))
        return "\"" + JSONSerializer.escape(String(cut)) + "\"…"
    }
    return "\"" + JSONSerializer.escape(text) + "\""
}

/// Reads scenario files (shared/SCENARIOS.md): exactly the format, everything else is
/// rejected with a `ScenarioFileError` that says where and what was expected.
public enum ScenarioDecoder {
    /// The largest scenario file read: 4 MiB (4,194,304 bytes). A scenario is a few hundred
    /// bytes; a file larger than this is refused (`ScenarioFileError.Kind.tooLarge`) before it
    /// is read, by `ScenarioLoader`, and by `decode` when it is given one.
    public static let maximumFileSize = 4 * 1024 * 1024

    /// The deepest nesting of arrays and objects a file may have. The format needs 5 (an array
    /// of scenarios, a scenario, its steps, a step, a `caps` or `local_port_range` list); the
    /// slack lets a value of the wrong shape be reported with its field rather than as nesting.
    public static let maximumDepth = 16

    /// The longest socket id.
    public static let maximumIDLength = 32
    /// The longest sysctl name.
    public static let maximumSysctlNameLength = 128
    /// The longest interface name: `IFNAMSIZ` - 1.
    public static let maximumDeviceNameLength = 15

    /// Decodes the scenarios of one file.
    ///
    /// - Parameters:
    ///   - data: the contents of the file.
    ///   - file: the name used in error messages.
    public static func decode(data: [UInt8], file: String) throws(ScenarioFileError) -> [Scenario] {
        guard data.count <= maximumFileSize else {
            throw ScenarioFileError(
                kind: .tooLarge, file: file,
                problem: "the file is \(data.count) bytes, larger than the limit of \(maximumFileSize) bytes (4 MiB)")
        }
        let document: JSONValue
        do {
            document = try JSONValue(parsing: data, maximumDepth: maximumDepth)
        } catch {
            throw ScenarioFileError(file: file, line: error.line, column: error.column, problem: error.message)
        }
        return try decode(document: document, file: file)
    }

    /// Decodes the scenarios of one file held in a string (for tests and tools).
    public static func decode(text: String, file: String) throws(ScenarioFileError) -> [Scenario] {
        try decode(data: Array(text.utf8), file: file)
    }

    /// Decodes the scenarios of an already parsed document.
    public static func decode(document: JSONValue, file: String) throws(ScenarioFileError) -> [Scenario] {
        let elements: [JSONValue]
        switch document {
        case .object:
            elements = [document]
        case .array(let array):
            guard !array.isEmpty else {
                throw ScenarioFileError(file: file, problem: "expected a scenario object or a non-empty array of them, got an empty array")
            }
            elements = array
        default:
            throw ScenarioFileError(file: file, problem: "expected a scenario object or an array of them, got \(describe(document))")
        }
        var scenarios: [Scenario] = []
        var indexByName: [String: Int] = [:]
        for (index, element) in elements.enumerated() {
            var context = Context(file: file, scenarioIndex: index)
            let scenario = try context.decodeScenario(element)
            if let first = indexByName[scenario.name] {
                throw context.error(
                    field: "name", "duplicate name: scenario #\(first) has the same name; names must be unique within a file")
            }
            indexByName[scenario.name] = index
            scenarios.append(scenario)
        }
        return scenarios
    }

    /// What a value is, for the `got …` of a message.
    static func describe(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool(let b): b ? "true" : "false"
        case .number(let literal): "the number \(literal)"
        case .string(let s): "the string \(quoted(s))"
        case .array(let elements): elements.isEmpty ? "an empty array" : "an array"
        case .object(let members): members.isEmpty ? "an empty object" : "an object"
        }
    }
}

// MARK: - Decoding

/// Where the decoder is, for messages, and what it knows of the sockets so far.
private struct Context {
    let file: String
    let scenarioIndex: Int
    var scenarioName: String?
    var stepIndex: Int?
    var op: String?

    /// Open sockets: id → index of the socket step.
    var open: [String: Int] = [:]
    /// Closed sockets: id → index of the close step.
    var closed: [String: Int] = [:]
    /// Ids whose port `$ID` may name: sockets with a bind step, timewait steps with an id, and
    /// sockets whose port the kernel picked at `listen`, `connect` or `send`.
    var bound: Set<String> = []
    /// The transport of each open socket (a `connect` has `by` for TCP only, `send` is UDP's).
    var transports: [String: Transport] = [:]

    init(file: String, scenarioIndex: Int) {
        self.file = file
        self.scenarioIndex = scenarioIndex
    }

    func error(field: String? = nil, _ problem: String) -> ScenarioFileError {
        ScenarioFileError(
            file: file, scenarioIndex: scenarioIndex, scenarioName: scenarioName, step: stepIndex, op: op,
            field: field, problem: problem)
    }

    func describe(_ value: JSONValue) -> String { ScenarioDecoder.describe(value) }

    // MARK: Scenario

    static let scenarioKeys = ["name", "sysctls", "steps"]

    mutating func decodeScenario(_ value: JSONValue) throws(ScenarioFileError) -> Scenario {
        guard case .object(let members) = value else {
            throw error("expected a scenario object, got \(describe(value))")
        }
        // The name first, wherever it stands, so that later messages can use it.
        guard let nameValue = value["name"] else {
            throw error(field: "name", "missing: every scenario needs a name")
        }
        guard case .string(let name) = nameValue, !name.isEmpty else {
            throw error(field: "name", "expected a non-empty string, got \(describe(nameValue))")
        }
        scenarioName = name
        for member in members where !Self.scenarioKeys.contains(member.key) {
            throw error(field: member.key, "unknown key; a scenario has: \(Self.scenarioKeys.joined(separator: ", "))")
        }
        var sysctls: [SysctlSetting] = []
        if let sysctlsValue = value["sysctls"] {
            sysctls = try decodeSysctls(sysctlsValue)
        }
        guard let stepsValue = value["steps"] else {
            throw error(field: "steps", "missing: every scenario needs a non-empty array of steps")
        }
        guard case .array(let stepValues) = stepsValue, !stepValues.isEmpty else {
            throw error(field: "steps", "expected a non-empty array of steps, got \(describe(stepsValue))")
        }
        var steps: [Step] = []
        for (index, stepValue) in stepValues.enumerated() {
            stepIndex = index
            op = nil
            steps.append(try decodeStep(stepValue))
        }
        stepIndex = nil
        op = nil
        return Scenario(name: name, sysctls: sysctls, steps: steps)
    }

    func decodeSysctls(_ value: JSONValue) throws(ScenarioFileError) -> [SysctlSetting] {
        guard case .object(let members) = value else {
            throw error(field: "sysctls", "expected an object of sysctl names and string values, got \(describe(value))")
        }
        var settings: [SysctlSetting] = []
        for member in members {
            let name = member.key
            if let problem = Self.sysctlNameProblem(name) {
                throw error(field: "sysctls", "name \(quoted(name)): \(problem)")
            }
            guard case .string(let text) = member.value else {
                throw error(
                    field: "sysctls",
                    "\(name): expected a string (the value as written to /proc/sys, e.g. \"1\"), got \(describe(member.value))")
            }
            if text.unicodeScalars.contains("\u{0}") || text.unicodeScalars.contains("\n") {
                throw error(field: "sysctls", "\(name): the value must not contain NUL or a newline, got \(quoted(text))")
            }
            settings.append(SysctlSetting(name: name, value: text))
        }
        return settings
    }

    /// What is wrong with a sysctl name, or `nil`: `^net(\.[a-z0-9_-]+)+$`, at most 128 characters.
    static func sysctlNameProblem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        if bytes.count > ScenarioDecoder.maximumSysctlNameLength {
            return "longer than \(ScenarioDecoder.maximumSysctlNameLength) characters"
        }
        if bytes.contains(UInt8(ascii: "/")) {
            return "must not contain '/'; write names with dots, such as net.ipv4.ip_nonlocal_bind"
        }
        if name.contains("..") {
            return "must not contain '..'"
        }
        let expected =
            "expected a name under net. made of lower-case letters, digits, '_' and '-' between dots, such as net.ipv4.ip_nonlocal_bind"
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].elementsEqual("net".utf8) else {
            return "outside net.: " + expected
        }
        for part in parts.dropFirst() {
            let allowed =
                !part.isEmpty
                && part.allSatisfy { byte in
                    (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                        || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
                }
            guard allowed else { return expected }
        }
        return nil
    }

    // MARK: Steps

    static let optionKeys = SocketOptionSetting.orderedKeys

    static func allowedKeys(_ op: String) -> [String] {
        switch op {
        case "socket": ["op", "id", "family", "type", "on"] + optionKeys + ["expect"]
        case "setsockopt": ["op", "id", "option", "value", "expect"]
        case "bind": ["op", "id", "address", "expect"]
        case "listen": ["op", "id", "backlog", "expect"]
        case "close": ["op", "id", "expect"]
        case "timewait": ["op", "id", "address", "reuseaddr", "expect"]
        case "connect": ["op", "id", "address", "expect", "expect_by"]
        case "send": ["op", "id", "address", "expect", "expect_by"]
        default: []
        }
    }

    static let everyStepKey: Set<String> = Set(Step.ops.flatMap { allowedKeys($0) })

    mutating func decodeStep(_ value: JSONValue) throws(ScenarioFileError) -> Step {
        guard case .object(let members) = value else {
            throw error("expected a step object, got \(describe(value))")
        }
        let ops = Step.ops.joined(separator: ", ")
        guard let opValue = value["op"] else {
            throw error(field: "op", "missing: every step needs an op, one of \(ops)")
        }
        guard case .string(let opName) = opValue, Step.ops.contains(opName) else {
            throw error(field: "op", "expected one of \(ops), got \(describe(opValue))")
        }
        op = opName
        let allowed = Self.allowedKeys(opName)
        for member in members where !allowed.contains(member.key) {
            let list = allowed.joined(separator: ", ")
            if Self.everyStepKey.contains(member.key) {
                throw error(field: member.key, "not allowed on a \(quoted(opName)) step, which has: \(list)")
            }
            throw error(field: member.key, "unknown key; a \(quoted(opName)) step has: \(list)")
        }

        let step: Step
        switch opName {
        case "socket": step = try decodeSocket(value)
        case "setsockopt": step = try decodeSetsockopt(value)
        case "bind": step = try decodeBind(value)
        case "listen": step = try decodeListen(value)
        case "close": step = try decodeClose(value)
        case "connect": step = try decodeConnect(value)
        case "send": step = try decodeSend(value)
        default: step = try decodeTimewait(value)
        }
        return step
    }

    func expectation(_ step: JSONValue) throws(ScenarioFileError) -> Expectation? {
        guard let value = step["expect"] else { return nil }
        guard case .string(let text) = value else {
            throw error(field: "expect", "expected \"ok\" or an errno name such as \"EADDRINUSE\", got \(describe(value))")
        }
        if text == "ok" { return .ok }
        guard let primary = ErrnoName.primaryName(text) else {
            throw error(
                field: "expect", "expected \"ok\" or an errno name such as \"EADDRINUSE\", got \(quoted(text)) (not a Linux errno name)")
        }
        return .errno(primary)
    }

    /// The id of a step: required unless `optional`.
    func id(_ step: JSONValue, optional: Bool = false) throws(ScenarioFileError) -> String? {
        guard let value = step["id"] else {
            if optional { return nil }
            throw error(field: "id", "missing: a \(quoted(op ?? "")) step names its socket with an id")
        }
        guard case .string(let text) = value else {
            throw error(field: "id", "expected a socket id (a string of letters, digits, '_' and '-'), got \(describe(value))")
        }
        if let problem = Self.idProblem(text) {
            throw error(field: "id", "\(problem), got \(quoted(text))")
        }
        return text
    }

    /// What is wrong with an id, or `nil`.
    static func idProblem(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        if bytes.isEmpty {
            return "expected a non-empty id"
        }
        if bytes.count > ScenarioDecoder.maximumIDLength {
            return "expected an id of at most \(ScenarioDecoder.maximumIDLength) characters"
        }
        let valid = bytes.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
        return valid ? nil : "expected an id made of letters, digits, '_' and '-'"
    }

    /// The id of a step that acts on an open socket.
    func openSocket(_ step: JSONValue) throws(ScenarioFileError) -> String {
        guard let name = try id(step) else {
            throw error(field: "id", "missing")
        }
        if open[name] == nil {
            if let closedAt = closed[name] {
                throw error(field: "id", "socket \(quoted(name)) was closed at step \(closedAt); a socket step must create it again first")
            }
            throw error(field: "id", "no socket \(quoted(name)) before this step; a socket step must create it first")
        }
        return name
    }

    mutating func decodeSocket(_ step: JSONValue) throws(ScenarioFileError) -> Step {
        guard let name = try id(step) else {
            throw error(field: "id", "missing")
        }
        if let createdAt = open[name] {
            throw error(
                field: "id",
                "socket \(quoted(name)) is already open (created at step \(createdAt)); close it before creating another with this id")
        }
        var side = Side.host
        switch step["on"] {
        case nil: break
        case .string("host"): side = .host
        case .string("peer"): side = .peer
        case let other?:
            throw error(field: "on", "expected \"host\" or \"peer\" (the namespace the socket is created in), got \(describe(other))")
        }
        let family: AddressFamily
        switch step["family"] {
        case .string("inet"): family = .inet
        case .string("inet6"): family = .inet6
        case nil: throw error(field: "family", "missing: expected \"inet\" or \"inet6\"")
        case let other?: throw error(field: "family", "expected \"inet\" or \"inet6\", got \(describe(other))")
        }
        let transport: Transport
        switch step["type"] {
        case .string("tcp"): transport = .tcp
        case .string("udp"): transport = .udp
        case nil: throw error(field: "type", "missing: expected \"tcp\" or \"udp\"")
        case let other?: throw error(field: "type", "expected \"tcp\" or \"udp\", got \(describe(other))")
        }
        var options: [SocketOptionSetting] = []
        for key in Self.optionKeys {
            if let value = step[key] {
                options.append(try option(key: key, value: value, field: key))
            }
        }
        let expect = try expectation(step)
        let stepIndex = self.stepIndex ?? 0
        open[name] = stepIndex
        closed[name] = nil
        transports[name] = transport
        return Step(id: name, action: .socket(family: family, transport: transport, options: options), expect: expect, on: side)
    }

    func decodeSetsockopt(_ step: JSONValue) throws(ScenarioFileError) -> Step {
        let name = try openSocket(step)
        let keys = Self.optionKeys.joined(separator: ", ")
        guard let optionValue = step["option"] else {
            throw error(field: "option", "missing: expected one of \(keys)")
        }
        guard case .string(let key) = optionValue, Self.optionKeys.contains(key) else {
            throw error(field: "option", "expected one of \(keys), got \(describe(optionValue))")
        }
        guard let value = step["value"] else {
            throw error(field: "value", "missing: the value for option \(quoted(key))")
        }
        let setting = try option(key: key, value: value, field: "value")
        return Step(id: name, action: .setsockopt(setting), expect: try expectation(step))
    }

    mutating func decodeBind(_ step: JSONValue) throws(ScenarioFileError) -> Step {
        let name = try openSocket(step)
        guard let value = step["address"] else {
            throw error(field: "address", "missing: expected ADDR:PORT or [ADDR]:PORT")
        }
        let address = try self.address(value)
        let expect = try expectation(step)
        bound.insert(name)
        return Step(id: name, action: .bind(address), expect: expect)
    }

    mutating func decodeListen(_ step: JSONValue) throws(ScenarioFileError) -> Step {
        let name = try openSocket(step)
        var backlog: Int32 = 128
        if let value = step["backlog"] {
            backlog = Int32(try integer(value, field: "backlog", in: Int64(Int32.min)...Int64(Int32.max)))
        }
        let expect = try expectation(step)
        bound.insert(name)  // an unbound socket's port is picked at listen
        return Step(id: name, action: .listen(backlog: backlog), expect: expect)
    }

    mutating func decodeConnect(_ step: JSONValue) throws(ScenarioFileError) -> Step {
        let name = try openSocket(step)
        guard let value = step["address"] else {
            throw error(field: "address", "missing: expected ADDR:PORT or [ADDR]:PORT, the destination")
        }
        let address = try self.address(value)
        let expect = try expectation(step)
        var expectBy: [String]?
        if let byValue = step["expect_by"] {
            guard transports[name] == .tcp else {
                throw error(
                    field: "expect_by",
                    "a connect step of a UDP socket has no by (it sends nothing; a send step does): expect_by is for a TCP connect or a send"
                )
            }
            expectBy = try receivers(byValue)
        }
        bound.insert(name)  // an unbound socket's port is picked at connect
        return Step(id: name, action: .connect(address), expect: expect, expectBy: expectBy)
    }

    mutating func decodeSend(_ step: JSONValue) throws(ScenarioFileError) -> Step {
        let name = try openSocket(step)
        guard transports[name] == .udp else {
            throw error(field: "id", "socket \(quoted(name)) is a TCP socket; a send step sends one UDP datagram, from a UDP socket")
        }
        var address: AddressSpec?
        if let value = step["address"] { address = try self.address(value) }
        let expect = try expectation(step)
        var expectBy: [String]?
        if let byValue = step["expect_by"] { expectBy = try receivers(byValue) }
        bound.insert(name)  // an unbound socket is autobound at send
        return Step(id: name, action: .send(address), expect: expect, expectBy: expectBy)
    }

    /// `expect_by`: a list of distinct ids of sockets open at this step, `[]` for none; sorted.
    func receivers(_ value: JSONValue) throws(ScenarioFileError) -> [String] {
        let field = "expect_by"
        guard case .array(let elements) = value else {
            throw error(field: field, "expected a list of socket ids such as [\"a\"], [] for none, got \(describe(value))")
        }
        var ids: [String] = []
        for (index, element) in elements.enumerated() {
            guard case .string(let text) = element else {
                throw error(field: field, "element \(index): expected a socket id, got \(describe(element))")
            }
            if let problem = Self.idProblem(text) {
                throw error(field: field, "element \(index): \(problem), got \(quoted(text))")
            }
            guard open[text] != nil else {
                let why = closed[text].map { "was closed at step \($0)" } ?? "is not created before this step"
                throw error(field: field, "element \(index): socket \(quoted(text)) \(why); only an open socket can receive")
            }
            guard !ids.contains(text) else {
                throw error(field: field, "socket \(quoted(text)) is listed twice")
            }
            ids.append(text)
        }
        return ids.sorted()
    }

    mutating func decodeClose(_ step: JSONValue) throws(ScenarioFileError) -> Step {
        let name = try openSocket(step)
        let expect = try expectation(step)
        open[name] = nil
        transports[name] = nil
        closed[name] = stepIndex ?? 0
        return Step(id: name, action: .close, expect: expect)
    }

    mutating func decodeTimewait(_ step: JSONValue) throws(ScenarioFileError) -> Step {
        let name = try id(step, optional: true)
        if let name, let createdAt = open[name] {
            throw error(
                field: "id",
                "\(quoted(name)) is the id of the socket open since step \(createdAt); a timewait step's id must name no open socket")
        }
        guard let value = step["address"] else {
            throw error(field: "address", "missing: expected ADDR:PORT or [ADDR]:PORT")
        }
        let address = try self.address(value)
        var reuseaddr = false
        if let value = step["reuseaddr"] {
            reuseaddr = try bool(value, field: "reuseaddr")
        }
        let expect = try expectation(step)
        if let name { bound.insert(name) }
        return Step(id: name, action: .timewait(address, reuseaddr: reuseaddr), expect: expect)
    }

    // MARK: Values

    func bool(_ value: JSONValue, field: String) throws(ScenarioFileError) -> Bool {
        guard case .bool(let b) = value else {
            throw error(field: field, "expected true or false, got \(describe(value))")
        }
        return b
    }

    func integer(_ value: JSONValue, field: String, in range: ClosedRange<Int64>) throws(ScenarioFileError) -> Int64 {
        let expected = "expected an integer from \(range.lowerBound) to \(range.upperBound)"
        guard case .number(let literal) = value else {
            throw error(field: field, "\(expected), got \(describe(value))")
        }
        guard !literal.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) else {
            throw error(field: field, "\(expected), got \(literal) (an integer is written without fraction or exponent)")
        }
        guard let number = Int64(literal), range.contains(number) else {
            throw error(field: field, "\(expected), got \(literal) (out of range)")
        }
        return number
    }

    func option(key: String, value: JSONValue, field: String) throws(ScenarioFileError) -> SocketOptionSetting {
        switch key {
        case "uid":
            // 4294967295 is (uid_t)-1, "no change" to setresuid(2): not a uid.
            return .uid(UInt32(try integer(value, field: field, in: 0...4_294_967_294)))
        case "caps":
            return .caps(try capabilities(value, field: field))
        case "reuseaddr": return .reuseaddr(try bool(value, field: field))
        case "reuseport": return .reuseport(try bool(value, field: field))
        case "v6only": return .v6only(try bool(value, field: field))
        case "freebind": return .freebind(try bool(value, field: field))
        case "transparent": return .transparent(try bool(value, field: field))
        case "device": return .device(try device(value, field: field))
        case "broadcast": return .broadcast(try bool(value, field: field))
        default:
            let expected = "expected [low, high], two integers from 0 to 65535"
            guard case .array(let bounds) = value else {
                throw error(field: field, "\(expected), got \(describe(value))")
            }
            guard bounds.count == 2 else {
                throw error(field: field, "\(expected), got an array of \(bounds.count) element\(bounds.count == 1 ? "" : "s")")
            }
            let low = try integer(bounds[0], field: field, in: 0...65535)
            let high = try integer(bounds[1], field: field, in: 0...65535)
            return .localPortRange(low: UInt16(low), high: UInt16(high))
        }
    }

    func capabilities(_ value: JSONValue, field: String) throws(ScenarioFileError) -> Set<Capability> {
        guard case .array(let elements) = value else {
            throw error(field: field, "expected a list of capability names such as [\"CAP_NET_BIND_SERVICE\"], got \(describe(value))")
        }
        var set: Set<Capability> = []
        for (index, element) in elements.enumerated() {
            guard case .string(let name) = element else {
                throw error(
                    field: field, "element \(index): expected a capability name such as \"CAP_NET_BIND_SERVICE\", got \(describe(element))")
            }
            // ASCII only: `uppercased()` would also map "ı" to "I".
            guard name.utf8.allSatisfy({ $0 < 0x80 }), let capability = Capability(name: name) else {
                throw error(
                    field: field,
                    "unknown capability \(quoted(name)): expected a Linux capability name from CAP_CHOWN to CAP_CHECKPOINT_RESTORE, such as \"CAP_NET_BIND_SERVICE\""
                )
            }
            guard set.insert(capability).inserted else {
                throw error(field: field, "\(capability.name) is listed twice")
            }
        }
        return set
    }

    func device(_ value: JSONValue, field: String) throws(ScenarioFileError) -> String {
        guard case .string(let name) = value else {
            throw error(field: field, "expected an interface name such as \"bk0\", got \(describe(value))")
        }
        let bytes = Array(name.utf8)
        if bytes.isEmpty {
            throw error(field: field, "expected an interface name such as \"bk0\", got an empty string")
        }
        if bytes.count > ScenarioDecoder.maximumDeviceNameLength {
            throw error(
                field: field,
                "interface name \(quoted(name)) is \(bytes.count) bytes, longer than IFNAMSIZ - 1 (\(ScenarioDecoder.maximumDeviceNameLength))"
            )
        }
        // As the kernel's dev_valid_name(): no '/', ':' or white space; and no NUL, which would cut the name.
        let forbidden: [UInt8] = [0, UInt8(ascii: "/"), UInt8(ascii: ":"), 0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D]
        if let bad = bytes.first(where: { forbidden.contains($0) }) {
            let what = bad == 0 ? "NUL" : bad == UInt8(ascii: "/") ? "'/'" : bad == UInt8(ascii: ":") ? "':'" : "white space"
            throw error(field: field, "interface name \(quoted(name)) must not contain \(what)")
        }
        return name
    }

    // MARK: Addresses

    func address(_ value: JSONValue) throws(ScenarioFileError) -> AddressSpec {
        let field = "address"
        guard case .string(let text) = value else {
            throw error(field: field, "expected ADDR:PORT or [ADDR]:PORT, got \(describe(value))")
        }
        func bad(_ why: String) -> ScenarioFileError {
            error(field: field, "expected ADDR:PORT or [ADDR]:PORT, got \(quoted(text)) (\(why))")
        }
        let ip: IPAddress
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw bad("no ']' closes the IPv6 address")
            }
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.first == ":" else {
                throw bad(rest.isEmpty ? "missing port" : "expected ':' and a port after ']'")
            }
            portText = rest.dropFirst()
            do {
                ip = .v6(try IPv6Address(parsing: host))
            } catch {
                if (try? IPv4Address(parsing: host)) != nil {
                    throw bad("an IPv4 address is written without brackets: ADDR:PORT")
                }
                throw bad(error.description)
            }
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw bad("missing port")
            }
            let host = String(text[..<colon])
            if host.isEmpty {
                throw bad("missing address before ':'")
            }
            if host.contains(":") || host.contains("%") {
                throw bad("an IPv6 address is written in brackets: [ADDR]:PORT")
            }
            portText = text[text.index(after: colon)...]
            do {
                ip = .v4(try IPv4Address(parsing: host))
            } catch {
                throw bad(error.description)
            }
        }
        let port = try self.port(portText, bad: bad)
        return AddressSpec(ip: ip, port: port, text: text)
    }

    func port(_ text: Substring, bad: (String) -> ScenarioFileError) throws(ScenarioFileError) -> PortSpec {
        if text.isEmpty {
            throw bad("missing port after ':'")
        }
        if text.first == "$" {
            let name = String(text.dropFirst())
            if let problem = Self.idProblem(name) {
                throw bad("after '$', \(problem)")
            }
            guard bound.contains(name) else {
                throw bad(
                    "\"$\(name)\": no bind, listen, connect or send step of socket \(quoted(name)), nor timewait step with that id, comes before this step"
                )
            }
            return .reference(name)
        }
        let bytes = Array(text.utf8)
        let isDecimal = bytes.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        guard isDecimal else {
            throw bad("the port must be a decimal from 0 to 65535 or $ID, got \(quoted(String(text)))")
        }
        guard bytes.count == 1 || bytes[0] != UInt8(ascii: "0") else {
            throw bad("the port must be written without leading zeros, got \(quoted(String(text)))")
        }
        guard bytes.count <= 5, let number = UInt32(text), number <= 65535 else {
            throw bad("the port must be a decimal from 0 to 65535, got \(String(text))")
        }
        return .number(UInt16(number))
    }
}
