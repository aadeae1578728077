import Foundation

/// Two matrix reports (two hosts, two kernels) compared cell by cell, matched by
/// `MatrixCell.key`: the cells whose kernel result differs, whose model result differs, that
/// only one side has, and that only one side ran.
public struct MatrixDiff: Codable, Sendable {
    /// One report's header.
    public struct Side: Codable, Sendable {
        public var file: String
        public var kernel: String
        public var mode: String
        public var cells: Int
        public var agree: Int
        public var disagree: Int
        public var skipped: Int
        /// Records whose key an earlier record of the same report already had (the first counts).
        public var duplicates: Int
    }

    /// A cell whose result differs: the results on side A and side B.
    public struct Change: Codable, Sendable, Equatable {
        public var key: String
        public var a: CellOutcome?
        public var b: CellOutcome?

        public init(key: String, a: CellOutcome?, b: CellOutcome?) {
            self.key = key
            self.a = a
            self.b = b
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

    /// Compares `a` with `b`; `aName` and `bName` name them (their files) in the output.
    public init(_ a: MatrixReport, _ b: MatrixReport, aName: String = "A", bName: String = "B") {
        var inB: [String: Int] = [:]
        inB.reserveCapacity(b.records.count)
        var duplicatesB = 0
        for (i, r) in b.records.enumerated() {
            let key = r.cell.key
            if inB[key] == nil { inB[key] = i } else { duplicatesB += 1 }
        }
        var seenA = Set<String>()
        seenA.reserveCapacity(a.records.count)
        var duplicatesA = 0
        var matched = 0
        var kernelDiffers: [Change] = []
        var modelDiffers: [Change] = []
        var onlyInA: [String] = []
        var ranOnlyInA: [String] = []
        var ranOnlyInB: [String] = []
        for ra in a.records {
            let key = ra.cell.key
            guard seenA.insert(key).inserted else {
                duplicatesA += 1
                continue
            }
            guard let j = inB[key] else {
                onlyInA.append(key)
                continue
            }
            matched += 1
            let rb = b.records[j]
            switch (ra.skipped == nil, rb.skipped == nil) {
            case (true, true):
                if ra.kernel != rb.kernel { kernelDiffers.append(Change(key: key, a: ra.kernel, b: rb.kernel)) }
                if ra.model != rb.model { modelDiffers.append(Change(key: key, a: ra.model, b: rb.model)) }
            case (true, false): ranOnlyInA.append(key)
            case (false, true): ranOnlyInB.append(key)
            case (false, false): break
            }
        }
        var onlyInB: [String] = []
        for (i, rb) in b.records.enumerated() {
            let key = rb.cell.key
            if !seenA.contains(key), inB[key] == i { onlyInB.append(key) }
        }
        func side(_ r: MatrixReport, _ name: String, _ duplicates: Int) -> Side {
            Side(
                file: name, kernel: r.kernel, mode: r.mode, cells: r.cells, agree: r.agree, disagree: r.disagree, skipped: r.skipped,
                duplicates: duplicates)
        }
        self.a = side(a, aName, duplicatesA)
        self.b = side(b, bName, duplicatesB)
        self.matched = matched
        self.kernelDiffers = kernelDiffers
        self.modelDiffers = modelDiffers
        self.onlyInA = onlyInA
        self.onlyInB = onlyInB
        self.ranOnlyInA = ranOnlyInA
        self.ranOnlyInB = ranOnlyInB
    }

    /// 0 when no kernel result differs, 1 when some do.
    public var exitStatus: Int32 { kernelDiffers.isEmpty ? 0 : 1 }

    /// The comparison for a person: both headers, the counts, then each kind of difference with
    /// at most `limit` cells listed (0: all).
    public func text(limit: Int = 100) -> String {
        var out = ""
        for (name, s) in [("A", a), ("B", b)] {
            out += "\(name): \(s.file): Linux \(s.kernel) (\(s.mode == "host" ? "host namespace" : "private namespaces")), "
            out += "\(s.cells) cells, \(s.agree) agree, \(s.disagree) disagree, \(s.skipped) skipped"
            if s.duplicates > 0 { out += ", \(s.duplicates) duplicate keys (the first counts)" }
            out += "\n"
        }
        out += "\(matched) cells in both: kernel differs in \(kernelDiffers.count), model differs in \(modelDiffers.count); "
        out +=
            "only in A \(onlyInA.count), only in B \(onlyInB.count); run only in A \(ranOnlyInA.count), run only in B \(ranOnlyInB.count)\n"
        func changes(_ title: String, _ list: [Change]) {
            guard !list.isEmpty else { return }
            out += "\n\(title) (\(list.count)):\n"
            for c in list.prefix(limit > 0 ? limit : list.count) {
                out += "  \(c.key)\n    A: \(c.a?.description ?? "-")\n    B: \(c.b?.description ?? "-")\n"
            }
            if limit > 0, list.count > limit { out += "  … and \(list.count - limit) more\n" }
        }
        func keys(_ title: String, _ list: [String]) {
            guard !list.isEmpty else { return }
            out += "\n\(title) (\(list.count)):\n"
            for k in list.prefix(limit > 0 ? limit : list.count) { out += "  \(k)\n" }
            if limit > 0, list.count > limit { out += "  … and \(list.count - limit) more\n" }
        }
        changes("kernel result differs", kernelDiffers)
        changes("model result differs", modelDiffers)
        keys("only in A", onlyInA)
        keys("only in B", onlyInB)
        keys("run only in A (skipped in B)", ranOnlyInA)
        keys("run only in B (skipped in A)", ranOnlyInB)
        if out.hasSuffix("\n") { out.removeLast() }
        return out
    }

    public func json() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try e.encode(self)
    }

    // MARK: Loading

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

    /// Reads a matrix report written by `bindcheck matrix --format json`.
    public static func load(_ path: String) throws(LoadError) -> MatrixReport {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw .missing(file: path) }
        if isDirectory.boolValue { throw .unreadable(file: path, why: "a directory") }
        if !FileManager.default.isReadableFile(atPath: path) { throw .unreadable(file: path, why: "permission denied") }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            throw .unreadable(file: path, why: error.localizedDescription)
        }
        return try decode(data, file: path)
    }

    /// Decodes a matrix report; `file` names it in the error.
    public static func decode(_ data: Data, file: String) throws(LoadError) -> MatrixReport {
        do {
            return try JSONDecoder().decode(MatrixReport.self, from: data)
        } catch let e as DecodingError {
            throw .invalid(file: file, why: describe(e))
        } catch {
            throw .invalid(file: file, why: "\(error)")
        }
    }

    /// A decoding error in one line: what is wrong, and where.
    static func describe(_ e: DecodingError) -> String {
        func at(_ path: [any CodingKey]) -> String {
            guard !path.isEmpty else { return "the top level" }
            var s = ""
            for k in path {
                if let i = k.intValue { s += "[\(i)]" } else { s += (s.isEmpty ? "" : ".") + k.stringValue }
            }
            return s
        }
        switch e {
        case .keyNotFound(let key, let c): return "missing \(at(c.codingPath + [key]))"
        case .typeMismatch(_, let c), .valueNotFound(_, let c): return "\(c.debugDescription) (at \(at(c.codingPath)))"
        case .dataCorrupted(let c):
            return c.codingPath.isEmpty ? "not valid JSON (\(c.debugDescription))" : "\(c.debugDescription) (at \(at(c.codingPath)))"
        @unknown default: return "\(e)"
        }
    }
}
