import BindRules
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Two matrix reports (two hosts, two kernels) compared cell by cell, matched by
/// `MatrixCell.key`: the cells whose kernel result differs (grouped by the model's rule and the
/// pair of results), whose model result differs, that only one side has, and that only one side
/// ran. Both files are read side by side a line at a time: lines that match byte for byte
/// (the port aside) are not parsed, and only cells out of step are held, until their partner
/// comes.
public struct MatrixDiff: Sendable {
    /// One report's header.
    public struct Side: Sendable {
        public var file: String
        public var kernel: String
        /// The kernel's version string (`uname -v`) from the report's host facts, when it has them:
        /// Debian's names the stable release that `kernel` does not.
        public var build: String?
        public var mode: String
        public var cells: Int
        public var agree: Int
        public var disagree: Int
        public var skipped: Int
        /// Records whose key an earlier record of the same report already had (the first counts).
        public var duplicates: Int
    }

    /// A cell whose result differs: the results on side A and side B, and the model's rule and
    /// kernel function on each side.
    public struct Change: Sendable, Equatable {
        public var key: String
        public var a: CellOutcome?
        public var b: CellOutcome?
        public var ruleA: RuleName?
        public var ruleB: RuleName?

        public init(key: String, a: CellOutcome?, b: CellOutcome?, ruleA: RuleName? = nil, ruleB: RuleName? = nil) {
            self.key = key
            self.a = a
            self.b = b
            self.ruleA = ruleA
            self.ruleB = ruleB
        }
    }

    /// A rule and the kernel function that applies it.
    public struct RuleName: Sendable, Hashable, CustomStringConvertible {
        public var rule: String
        public var function: String

        public init(rule: String, function: String) {
            self.rule = rule
            self.function = function
        }

        /// `conflict (inet_csk_bind_conflict)`.
        public var description: String { "\(rule) (\(function))" }
    }

    /// The cells whose kernel result differs the same way, under the same rules: the model's rule
    /// on each side and the pair of results.
    public struct Group: Sendable {
        public var ruleA: RuleName?
        public var ruleB: RuleName?
        public var a: CellOutcome?
        public var b: CellOutcome?
        public var keys: [String]

        /// `conflict (inet_csk_bind_conflict)`, or both when the sides name different rules.
        public var ruleText: String {
            switch (ruleA, ruleB) {
            case (nil, nil): "no rule recorded"
            case (let x?, let y?) where x == y: x.description
            case (let x, let y): "A \(x?.description ?? "none") · B \(y?.description ?? "none")"
            }
        }

        /// What `changes` says of this group's rules (A's rule first, then B's).
        public func change(_ changes: [String: String]) -> String? {
            ruleA.flatMap { changes[$0.rule] } ?? ruleB.flatMap { changes[$0.rule] }
        }
    }

    public var a: Side
    public var b: Side
    /// Cells both reports have.
    public var matched: Int
    /// Cells both sides ran whose kernel results differ.
    public var kernelDiffers: [Change]
    /// Cells both sides ran whose model results differ.
    public var modelDiffers: [Change]
    /// Keys of cells only A has, and only B has.
    public var onlyInA: [String]
    public var onlyInB: [String]
    /// Keys of cells both have that only A ran (B skipped them), and only B ran.
    public var ranOnlyInA: [String]
    public var ranOnlyInB: [String]

    /// `kernelDiffers` grouped by the rules and the pair of results, the largest group first.
    public var groups: [Group] {
        struct GroupKey: Hashable {
            var ruleA: RuleName?, ruleB: RuleName?, a: CellOutcome?, b: CellOutcome?
        }
        var order: [GroupKey] = []
        var byKey: [GroupKey: [String]] = [:]
        for c in kernelDiffers {
            let k = GroupKey(ruleA: c.ruleA, ruleB: c.ruleB, a: c.a, b: c.b)
            if byKey[k] == nil { order.append(k) }
            byKey[k, default: []].append(c.key)
        }
        let groups = order.map { k in Group(ruleA: k.ruleA, ruleB: k.ruleB, a: k.a, b: k.b, keys: byKey[k] ?? []) }
        return groups.enumerated().sorted { x, y in
            x.element.keys.count != y.element.keys.count ? x.element.keys.count > y.element.keys.count : x.offset < y.offset
        }.map(\.element)
    }

    /// Compares two reports in memory (through their JSON Lines, as two files would be).
    public init(_ a: MatrixReport, _ b: MatrixReport, aName: String = "A", bName: String = "B") throws(LoadError) {
        func lines(_ r: MatrixReport, _ name: String) throws(LoadError) -> LineReader {
            do { return LineReader(bytes: Array(try r.jsonLines().utf8)) } catch { throw .invalid(file: name, why: "\(error)") }
        }
        try self.init(lines(a, aName), lines(b, bName), aName: aName, bName: bName)
    }

    /// Compares two reports held as bytes (their JSON Lines).
    public init(bytes a: [UInt8], _ b: [UInt8], aName: String = "A", bName: String = "B") throws(LoadError) {
        try self.init(LineReader(bytes: a), LineReader(bytes: b), aName: aName, bName: bName)
    }

    /// Compares the report files at `aPath` and `bPath`.
    public init(files aPath: String, _ bPath: String) throws(LoadError) {
        try self.init(try LineReader.open(aPath), try LineReader.open(bPath), aName: aPath, bName: bPath)
    }

    init(_ ra: LineReader, _ rb: LineReader, aName: String, bName: String) throws(LoadError) {
        var readerA = ra
        var readerB = rb
        let headA = try Self.header(&readerA, aName)
        let headB = try Self.header(&readerB, bName)
        var stateA = SideState(name: aName)
        var stateB = SideState(name: bName)
        var pendingA: [String: [UInt8]] = [:]
        var pendingB: [String: [UInt8]] = [:]
        var comparison = Comparison()
        var lineA = try stateA.next(&readerA)
        var lineB = try stateB.next(&readerB)
        while lineA != nil || lineB != nil {
            if let x = lineA, let y = lineB, x.0 == y.0, pendingA.isEmpty, pendingB.isEmpty {
                try comparison.compare(x.0, x.1, y.1, aName, bName)
            } else {
                if let x = lineA {
                    if let lb = pendingB.removeValue(forKey: x.0) {
                        try comparison.compare(x.0, x.1, lb, aName, bName)
                    } else {
                        pendingA[x.0] = x.1
                    }
                }
                if let y = lineB {
                    if let la = pendingA.removeValue(forKey: y.0) {
                        try comparison.compare(y.0, la, y.1, aName, bName)
                    } else {
                        pendingB[y.0] = y.1
                    }
                }
            }
            lineA = try stateA.next(&readerA)
            lineB = try stateB.next(&readerB)
        }
        guard let summaryA = stateA.summary else { throw .invalid(file: aName, why: "no summary line at the end (a truncated report?)") }
        guard let summaryB = stateB.summary else { throw .invalid(file: bName, why: "no summary line at the end (a truncated report?)") }
        func side(_ name: String, _ head: (kernel: String, build: String?, mode: String), _ s: JSONValue, _ duplicates: Int) -> Side {
            func n(_ k: String) -> Int { if case .number(let v)? = s[k] { Int(v) ?? 0 } else { 0 } }
            return Side(
                file: name, kernel: head.kernel, build: head.build, mode: head.mode, cells: n("cells"), agree: n("agree"),
                disagree: n("disagree"),
                skipped: n("skipped"), duplicates: duplicates)
        }
        a = side(aName, headA, summaryA, stateA.duplicates)
        b = side(bName, headB, summaryB, stateB.duplicates)
        matched = comparison.matched
        kernelDiffers = comparison.kernelDiffers
        modelDiffers = comparison.modelDiffers
        ranOnlyInA = comparison.ranOnlyInA
        ranOnlyInB = comparison.ranOnlyInB
        onlyInA = stateA.order.filter { pendingA[$0] != nil }
        onlyInB = stateB.order.filter { pendingB[$0] != nil }
    }

    /// 0 when no kernel result differs, 1 when some do.
    public var exitStatus: Int32 { kernelDiffers.isEmpty ? 0 : 1 }

    // MARK: Reading

    /// One report's lines as they come: its keys (to find duplicates), its summary.
    struct SideState {
        var name: String
        /// Keys seen, by a 64-bit hash of their bytes (hashing a String is what costs most here);
        /// keys whose hash an earlier other key had, in full.
        var seen: [UInt64: String] = [:]
        var collided = Set<String>()
        var duplicates = 0
        /// Keys in the order of the file (to list the cells only this side has in that order).
        var order: [String] = []
        var summary: JSONValue?

        mutating func firstTime(_ key: String, _ hash: UInt64) -> Bool {
            guard let earlier = seen[hash] else {
                seen[hash] = key
                return true
            }
            return earlier != key && collided.insert(key).inserted
        }

        /// The next record: its key and line; nil after the summary line.
        mutating func next(_ reader: inout LineReader) throws(LoadError) -> (String, [UInt8])? {
            while summary == nil, let line = reader.next() {
                if line.isEmpty { continue }
                guard let (key, hash) = MatrixDiff.key(line) else {
                    let v = try MatrixDiff.parse(line, name, reader.lineNumber)
                    if case .string(MatrixReport.format)? = v["summary"] {
                        summary = v
                        return nil
                    }
                    throw .invalid(file: name, why: "line \(reader.lineNumber): a line without a key")
                }
                guard firstTime(key, hash) else {
                    duplicates += 1
                    continue
                }
                order.append(key)
                return (key, line)
            }
            return nil
        }
    }

    /// Reads the header line: the format, the kernel, the mode.
    static func header(_ reader: inout LineReader, _ name: String) throws(LoadError) -> (kernel: String, build: String?, mode: String) {
        guard let line = reader.next() else { throw .invalid(file: name, why: "empty") }
        let v = try parse(line, name, reader.lineNumber)
        guard case .string(MatrixReport.format)? = v["format"] else {
            throw .invalid(file: name, why: "line 1: no \"format\": \"\(MatrixReport.format)\" header")
        }
        guard case .number(let version)? = v["version"], version == String(MatrixReport.version) else {
            throw .invalid(
                file: name, why: "line 1: version \(v["version"]?.serialized() ?? "none"), this bindcheck reads \(MatrixReport.version)")
        }
        guard case .string(let kernel)? = v["kernel"] else { throw .invalid(file: name, why: "line 1: missing kernel") }
        guard case .string(let mode)? = v["mode"] else { throw .invalid(file: name, why: "line 1: missing mode") }
        var build: String?
        if case .string(let b)? = v["host"]?["kernelBuild"] { build = b }
        return (kernel, build, mode)
    }

    static func parse(_ line: [UInt8], _ name: String, _ n: Int) throws(LoadError) -> JSONValue {
        do { return try JSONValue(parsing: line) } catch { throw .invalid(file: name, why: "line \(n): \(error)") }
    }

    static let keyPrefix = Array(#"{"key":""#.utf8)

    /// The key of a record line as it stands between quotes, and the FNV-1a hash of its bytes;
    /// nil when the line does not start with one or it holds an escape (such a line is parsed).
    static func key(_ line: [UInt8]) -> (String, UInt64)? {
        guard line.starts(with: keyPrefix) else { return nil }
        var i = keyPrefix.count
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        while i < line.count {
            switch line[i] {
            case UInt8(ascii: "\""): return (String(decoding: line[keyPrefix.count..<i], as: UTF8.self), hash)
            case UInt8(ascii: "\\"): return nil
            case let b:
                hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3
                i += 1
            }
        }
        return nil
    }

    /// The line without its last member when that is the port (`,"port":10023}`): two runs
    /// with different ports per cell compare equal.
    static let portMember = Array(#","port":"#.utf8)

    static func withoutPort(_ line: [UInt8]) -> ArraySlice<UInt8> {
        let suffix = portMember
        var i = line.count - 2
        while i >= 0, line[i] >= UInt8(ascii: "0"), line[i] <= UInt8(ascii: "9") { i -= 1 }
        let start = i - suffix.count + 1
        guard line.last == UInt8(ascii: "}"), start > 0, line[start...i].elementsEqual(suffix) else { return line[...] }
        return line[..<start]
    }

    static func same(_ x: ArraySlice<UInt8>, _ y: ArraySlice<UInt8>) -> Bool {
        x.count == y.count
            && x.withUnsafeBytes { a in y.withUnsafeBytes { b in a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 } }
    }

    /// What a record line says that the diff compares.
    public struct RecordLine: Sendable {
        public var skipped = false
        public var kernel: CellOutcome?
        public var model: CellOutcome?
        public var rule: RuleName?
    }

    static func parsed(_ line: [UInt8], _ name: String) throws(LoadError) -> RecordLine {
        let v = try parse(line, name, 0)
        do {
            return try record(v)
        } catch {
            throw .invalid(file: name, why: "the record of \(v["key"]?.serialized() ?? "?"): \(error.why)")
        }
    }

    /// Why a record line does not read as one.
    public struct RecordError: Error, Sendable { public var why: String }

    /// Reads one record line (parsed): its outcomes and its rule.
    public static func record(_ v: JSONValue) throws(RecordError) -> RecordLine {
        var p = RecordLine()
        if v["skipped"] != nil { p.skipped = true }
        if let k = v["kernel"] { p.kernel = try outcome(k, "kernel") }
        if let m = v["model"] {
            p.model = try outcome(m, "model")
        } else if case .bool(true)? = v["agree"] {
            p.model = p.kernel
        }
        if case .string(let rule)? = v["rule"], case .string(let function)? = v["function"] {
            p.rule = RuleName(rule: rule, function: function)
        }
        return p
    }

    /// `{"setup":{"bind":"EADDRNOTAVAIL"},"bind":"ok","listen":"ok"}`.
    static func outcome(_ v: JSONValue, _ field: String) throws(RecordError) -> CellOutcome {
        guard case .object(let members) = v else { throw RecordError(why: "\(field) is \(v.kindDescription), not an object") }
        if members.contains(where: { $0.key == "connect" || $0.key == "send" }) { return try reachOutcome(members, field) }
        var setup: StepResult?
        var result: StepResult?
        var listen: Outcome?
        for m in members {
            switch (m.key, m.value) {
            case ("setup", .object(let s)) where s.count == 1:
                guard let op = CellOp(rawValue: s[0].key), case .string(let o) = s[0].value else {
                    throw RecordError(why: "\(field).setup: not a step and its outcome")
                }
                setup = StepResult(op, Outcome(o))
            case ("listen", .string(let o)): listen = Outcome(o)
            case (let key, .string(let o)) where CellOp(rawValue: key) != nil && result == nil:
                result = StepResult(CellOp(rawValue: key) ?? .bind, Outcome(o))
            default: throw RecordError(why: "\(field): unexpected \(m.key)")
            }
        }
        guard let result else { throw RecordError(why: "\(field): no step (socket or bind)") }
        return CellOutcome(setup: setup, result: result, listen: listen)
    }

    /// A reach record's `{"setup":["b bind EADDRINUSE"],"connect":"ok","by":["a"]}`.
    static func reachOutcome(_ members: [JSONMember], _ field: String) throws(RecordError) -> CellOutcome {
        var setup: [String] = []
        var result: Outcome?
        var by: [String]?
        for m in members {
            switch (m.key, m.value) {
            case ("setup", .array(let list)):
                for x in list {
                    guard case .string(let t) = x else { throw RecordError(why: "\(field).setup: not a list of strings") }
                    setup.append(t)
                }
            case ("connect", .string(let o)), ("send", .string(let o)): result = Outcome(o)
            case ("by", .array(let list)):
                by = []
                for x in list {
                    guard case .string(let t) = x else { throw RecordError(why: "\(field).by: not a list of ids") }
                    by?.append(t)
                }
            default: throw RecordError(why: "\(field): unexpected \(m.key)")
            }
        }
        guard let result, let by else { throw RecordError(why: "\(field): a reach outcome needs connect or send, and by") }
        return CellOutcome(reach: ReachOutcome(setup: setup, result: result, by: by))
    }

    /// Compares matched lines.
    struct Comparison {
        var matched = 0
        var kernelDiffers: [Change] = []
        var modelDiffers: [Change] = []
        var ranOnlyInA: [String] = []
        var ranOnlyInB: [String] = []

        mutating func compare(_ key: String, _ la: [UInt8], _ lb: [UInt8], _ aName: String, _ bName: String) throws(LoadError) {
            matched += 1
            if same(withoutPort(la), withoutPort(lb)) { return }
            let ra = try parsed(la, aName)
            let rb = try parsed(lb, bName)
            switch (!ra.skipped, !rb.skipped) {
            case (true, true):
                if ra.kernel != rb.kernel {
                    kernelDiffers.append(Change(key: key, a: ra.kernel, b: rb.kernel, ruleA: ra.rule, ruleB: rb.rule))
                }
                if ra.model != rb.model {
                    modelDiffers.append(Change(key: key, a: ra.model, b: rb.model, ruleA: ra.rule, ruleB: rb.rule))
                }
            case (true, false): ranOnlyInA.append(key)
            case (false, true): ranOnlyInB.append(key)
            case (false, false): break
            }
        }
    }

    /// Why a report could not be read.
    public enum LoadError: Error, CustomStringConvertible, Equatable {
        case missing(file: String)
        case unreadable(file: String, why: String)
        case invalid(file: String, why: String)

        public var description: String {
            switch self {
            case .missing(let file): "\(file): no such file"
            case .unreadable(let file, let why): "\(file): cannot read: \(why)"
            case .invalid(let file, let why): "\(file): not a matrix report (bindcheck matrix --format json): \(why)"
            }
        }

        /// 66 (EX_NOINPUT) for a missing file, 64 for one that cannot be read or is no report.
        public var exitStatus: Int32 {
            switch self {
            case .missing: 66
            case .unreadable, .invalid: 64
            }
        }
    }
}

/// The lines of a file (or of bytes in memory), read a megabyte at a time with read(2). A class:
/// its file is closed when it goes, however far it was read.
final class LineReader {
    private var fd: Int32 = -1
    private var buffer: [UInt8]
    private var start = 0
    private var atEnd: Bool
    private(set) var lineNumber = 0
    static let chunk = 1 << 20

    init(bytes: [UInt8]) {
        buffer = bytes
        atEnd = true
    }

    deinit { if fd >= 0 { close(fd) } }

    private init(fd: Int32) {
        self.fd = fd
        buffer = []
        buffer.reserveCapacity(2 * Self.chunk)
        atEnd = false
    }

    static func open(_ path: String) throws(MatrixDiff.LoadError) -> LineReader {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw .missing(file: path) }
        if isDirectory.boolValue { throw .unreadable(file: path, why: "a directory") }
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .unreadable(file: path, why: String(cString: strerror(errno))) }
        return LineReader(fd: fd)
    }

    /// The next line without its newline, nil at the end (where a file is closed).
    func next() -> [UInt8]? {
        while true {
            let count = buffer.count
            let nl = buffer.withUnsafeBufferPointer { b -> Int? in
                guard start < count, let base = b.baseAddress,
                    let p = memchr(base + start, Int32(UInt8(ascii: "\n")), count - start)
                else { return nil }
                return UnsafeRawPointer(p) - UnsafeRawPointer(base)
            }
            if let nl {
                let line = Array(buffer[start..<nl])
                start = nl + 1
                lineNumber += 1
                return line
            }
            if atEnd {
                guard start < buffer.count else { return nil }
                let line = Array(buffer[start...])
                start = buffer.count
                lineNumber += 1
                return line
            }
            buffer.removeSubrange(0..<start)
            start = 0
            let old = buffer.count
            buffer.append(contentsOf: repeatElement(0, count: Self.chunk))
            var n = 0
            repeat {
                n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + old, Self.chunk) }
            } while n < 0 && errno == EINTR
            buffer.removeLast(Self.chunk - max(n, 0))
            if n <= 0 {
                atEnd = true
                close(fd)
                fd = -1
            }
        }
    }
}
