import BindConformance
import BindKit
import CBindBench
import CBindShim
import Foundation

// bindbench: every figure is a ratio against C measured in the same process, same run.
// Usage: swift run -c release bindbench [--json] [--quick]

let arguments = CommandLine.arguments.dropFirst()
// The live host, once (LiveBench.swift): --live-explain PORT, --live-who PORT.
if let mode = arguments.first, mode == "--live-explain" || mode == "--live-who" {
    exit(LiveBench.run(mode, Array(arguments.dropFirst())))
}
// Every reach cell of the default matrix, model against kernel: counts and the cells that disagree.
if arguments.first == "--reach-cells" {
    var cells = Matrix.reachCells()
    if let n = arguments.dropFirst().first.flatMap({ Int($0) }) {
        var rng = SeededGenerator(seed: 7)
        cells.shuffle(using: &rng)
        cells = Array(cells.prefix(n))
    }
    let summary = try ReachRunner.run(cells)
    let bad = summary.records.filter { !$0.agrees }
    for r in bad.prefix(400) {
        print(
            "\(r.cell.key): model \(r.model.map(\.description) ?? "-") kernel \(r.kernel.map(\.description) ?? "-") — \(r.reason?.description ?? "")"
        )
    }
    print("reach cells: \(summary.records.count), agree \(summary.records.count - bad.count), disagree \(bad.count), \(summary.seconds) s")
    exit(bad.isEmpty ? 0 : 1)
}
// reach_ratio: one worker's reach cells/s (model + kernel) ÷ the C loop of the same system calls.
if arguments.first == "--reach-ratio" {
    var cells = Matrix.reachCells()
    var rng = SeededGenerator(seed: 2026)
    cells.shuffle(using: &rng)
    let sample = Array(cells.prefix(arguments.dropFirst().first.flatMap { Int($0) } ?? 4_000))
    let one = try ReachBench.oneWorker(sample)
    let n = Double(sample.count)
    print(
        "reach_ratio \(String(format: "%.3f", one.c / one.swift))  (\(sample.count) reach cells: Swift \(Int(one.swift / n * 1e6)) µs/cell, C \(Int(one.c / n * 1e6)) µs/cell; goal >= 0.8)"
    )
    exit(0)
}
let json = arguments.contains("--json")
let quick = arguments.contains("--quick")
// Diagnostics: --model-only; --worker-only; --parse-only [all|valid|invalid] (one list only, e.g. under callgrind);
// --parse-each (every string of the corpus alone: ns per parse, each side, and the ratio).
let parseLists = ["all", "valid", "invalid"]
let unknown = arguments.filter {
    !(["--json", "--quick", "--reach-ratio", "--model-only", "--worker-only", "--parse-only", "--parse-each"] + parseLists).contains($0)
}
if !unknown.isEmpty {
    FileHandle.standardError.write(
        Data("bindbench: unknown argument \(unknown.joined(separator: " ")); usage: bindbench [--json] [--quick]\n".utf8))
    exit(64)
}

let repetitions = quick ? 5 : 15

if arguments.contains("--model-only") {
    let cells = Array(Matrix.cells().prefix(50_000))
    let t = try MatrixBench.modelOnly(cells)
    print("model only: \(cells.count) cells in \(t) s = \(Int(t / Double(cells.count) * 1e9)) ns/cell")
    exit(0)
}

if arguments.contains("--worker-only") {
    // One worker against the C loop over bindbench's matrix sample, several times (for profiling).
    var cells = Matrix.cells().filter { $0.sysctls.isEmpty }
    var rng = SeededGenerator(seed: 2026)
    cells.shuffle(using: &rng)
    let sample = Array(cells.prefix(quick ? 4_000 : 20_000))
    for _ in 0..<(quick ? 3 : 5) {
        let one = try MatrixBench.oneWorker(sample)
        let n = Double(sample.count)
        print(
            "worker: Swift \(Int(one.swift / n * 1e9)) ns/cell, C \(Int(one.c / n * 1e9)) ns/cell, ratio \(String(format: "%.3f", one.c / one.swift))"
        )
    }
    exit(0)
}

/// Seconds taken by `body`.
func time(_ body: () -> Void) -> Double {
    let start = ContinuousClock.now
    body()
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// Median over repetitions of (Swift time ÷ C time), alternating the two so drift hits both.
func ratio(_ swift: () -> Void, _ c: () -> Void) -> (ratio: Double, swift: Double, c: Double) {
    swift()
    c()  // warm up
    var ratios: [Double] = []
    var ss: [Double] = []
    var cs: [Double] = []
    for _ in 0..<repetitions {
        let a = time(swift)
        let b = time(c)
        ratios.append(a / b)
        ss.append(a)
        cs.append(b)
    }
    return (median(ratios), median(ss), median(cs))
}

// MARK: the parse corpus and loop (parse_ratio below; --parse-only diagnostics here)
let corpus: [String] = [
    "127.0.0.1", "0.0.0.0", "192.0.2.1", "10.0.0.255", "255.255.255.255", "172.16.254.3", "8.8.8.8", "1.2.3.4",
    "::", "::1", "2001:db8::1", "fe80::1", "2001:db8:85a3::8a2e:370:7334", "::ffff:192.0.2.1",
    "ff02::1", "2001:0db8:0000:0000:0000:ff00:0042:8329", "1:2:3:4:5:6:7:8", "64:ff9b::192.0.2.33",
    "10.0.0.256", "1.2.3", "::ffff:1.2.3.256", "gggg::1", "1:2:3:4:5:6:7:8:9", "",
]
let parseReps = quick ? 2_000 : 20_000
var sink = 0
let cStrings = corpus.map { strdup($0) }
defer { for c in cStrings { free(c) } }
/// Every address's bits folded together, so that no part of a parse is left unused (the C
/// loop's inet_pton writes its bytes out).
@inline(__always)
func fold(_ address: IPAddress?) -> Int {
    switch address {
    case .v4(let a): Int(a.rawValue)
    case .v6(let a): Int(truncatingIfNeeded: a.high ^ a.low)
    case nil: 0
    }
}
/// Parses every string of `list` `reps` times with the failable parse, `IPAddress(_:)`,
/// which answers what inet_pton answers (the address, or not one); returns their bits folded.
@inline(never)
func parseLoop(_ list: [String], reps: Int) -> Int {
    var folded = 0
    for _ in 0..<reps {
        for s in list {
            folded ^= fold(IPAddress(s)) &+ 1
        }
    }
    return folded
}
/// The same with the throwing parse, `IPAddress(parsing:)`, whose refusals carry an error
/// (parse_throwing_ratio: a figure for the record, without a goal).
@inline(never)
func parseLoopThrowing(_ list: [String], reps: Int) -> Int {
    var folded = 0
    for _ in 0..<reps {
        for s in list {
            folded ^= fold(try? IPAddress(parsing: s)) &+ 1
        }
    }
    return folded
}
if arguments.contains("--parse-only") {
    let only = parseLists.filter(arguments.contains)
    for (name, list) in [("all", corpus), ("valid", Array(corpus.prefix(18))), ("invalid", Array(corpus.suffix(6)))]
    where only.isEmpty || only.contains(name) {
        let cs = list.map { strdup($0) }
        let r = ratio(
            { sink &+= parseLoop(list, reps: parseReps) },
            {
                cs.withUnsafeBufferPointer { buf in
                    buf.withMemoryRebound(to: UnsafePointer<CChar>?.self) { p in
                        sink &+= Int(bk_bench_pton(p.baseAddress, Int32(list.count), Int32(parseReps)))
                    }
                }
            })
        for c in cs { free(c) }
        print("\(name): ratio \(r.ratio)")
    }
    exit(0)
}
if arguments.contains("--parse-each") {
    let reps = parseReps * 24
    for (s, c) in zip(corpus, cStrings) {
        var p: UnsafePointer<CChar>? = UnsafePointer(c)
        let r = ratio({ sink &+= parseLoop([s], reps: reps) }, { sink &+= Int(bk_bench_pton(&p, 1, Int32(reps))) })
        let t = ratio({ sink &+= parseLoopThrowing([s], reps: reps) }, { sink &+= Int(bk_bench_pton(&p, 1, Int32(reps))) })
        let ns = { (t: Double) in String(format: "%6.1f", t / Double(reps) * 1e9) }
        print(
            "IPAddress(_:) \(ns(r.swift)) ns, (parsing:) \(ns(t.swift)) ns, inet_pton \(ns(r.c)) ns: ratios \(String(format: "%.3f", r.ratio)), \(String(format: "%.3f", t.ratio))  \(s.debugDescription)"
        )
    }
    exit(0)
}

// MARK: bind_cycle_ratio
let bindIterations = quick ? 2_000 : 10_000
let port = (try? Socket.findFreePort(on: .v4(.loopback), transport: .tcp)) ?? 40_000
let loopback = SocketAddress(ip: .v4(.loopback), port: port)
var failure: String?
let bind = ratio(
    {
        for _ in 0..<bindIterations {
            do {
                let s = try Socket(family: .inet, transport: .tcp)
                try s.setReuseAddress(true)
                try s.bind(to: loopback)
            } catch {
                failure = "\(error)"
                return
            }
        }
    },
    {
        let r = bk_bench_bind_cycle(Int32(bindIterations), port)
        if r < 0 { failure = "C loop: \(ErrnoName.name(-r) ?? "\(r)")" }
    })
if let failure {
    FileHandle.standardError.write(Data("bindbench: bind cycle failed: \(failure)\n".utf8))
    exit(1)
}

// MARK: parse_ratio and parse_throwing_ratio (the corpus and the loops are above)
let cParse = {
    cStrings.withUnsafeBufferPointer { buf in
        buf.withMemoryRebound(to: UnsafePointer<CChar>?.self) { p in
            sink &+= Int(bk_bench_pton(p.baseAddress, Int32(corpus.count), Int32(parseReps)))
        }
    }
}
MatrixBench.waitForQuietMachine()
let parse = ratio({ sink &+= parseLoop(corpus, reps: parseReps) }, cParse)
let parseThrowing = ratio({ sink &+= parseLoopThrowing(corpus, reps: parseReps) }, cParse)

// MARK: matrix_ratio and matrix_speedup (need the privilege to make network namespaces)
var matrixRatio: Double?
var matrixSpeedup: Double?
var matrixRatios: [Double] = []
var matrixSpeedups: [Double] = []  // every repetition, in order
var matrixNote: String?
do {
    var cells = Matrix.cells().filter { $0.sysctls.isEmpty }
    var rng = SeededGenerator(seed: 2026)
    cells.shuffle(using: &rng)
    let sample = Array(cells.prefix(quick ? 4_000 : 40_000))
    let reps = quick ? 1 : 7
    var ratios: [Double] = []
    var speedups: [Double] = []
    let big = Array(cells.prefix(quick ? 8_000 : 40_000))
    for rep in 0..<reps {
        let one = try MatrixBench.oneWorker(sample)
        ratios.append(one.c / one.swift)  // (cells/s Swift) / (cells/s C)
        // One worker first, then two, and the other way round the next time: drift hits both.
        var t1 = 0.0
        var t2 = 0.0
        if rep % 2 == 0 {
            t1 = try MatrixBench.runner(big, workers: 1)
            t2 = try MatrixBench.runner(big, workers: 2)
        } else {
            t2 = try MatrixBench.runner(big, workers: 2)
            t1 = try MatrixBench.runner(big, workers: 1)
        }
        speedups.append(t1 / t2)
    }
    matrixRatio = median(ratios)
    matrixSpeedup = median(speedups)
    (matrixRatios, matrixSpeedups) = (ratios, speedups)
} catch {
    matrixNote = "matrix figures need the privilege to make network namespaces: \(error)"
    FileHandle.standardError.write(Data("bindbench: \(matrixNote ?? "")\n".utf8))
}

if json {
    // Written by the reports' one JSON writer, the keys sorted.
    func number(_ v: Double) -> JSONValue { .number(v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : "\(v)") }
    func rounded(_ v: Double) -> JSONValue { number((v * 1000).rounded() / 1000) }
    var object: [String: JSONValue] = [
        "bind_cycle_ratio": rounded(bind.ratio),
        "bind_cycle_ns_swift": number((bind.swift / Double(bindIterations) * 1e9).rounded()),
        "bind_cycle_ns_c": number((bind.c / Double(bindIterations) * 1e9).rounded()),
        "parse_ratio": rounded(parse.ratio),
        "parse_ns_swift": number((parse.swift / Double(parseReps * corpus.count) * 1e9 * 10).rounded() / 10),
        "parse_ns_c": number((parse.c / Double(parseReps * corpus.count) * 1e9 * 10).rounded() / 10),
        "parse_throwing_ratio": rounded(parseThrowing.ratio),
        "repetitions": .integer(repetitions),
    ]
    object["matrix_ratio"] = matrixRatio.map(rounded) ?? .null
    object["matrix_speedup"] = matrixSpeedup.map(rounded) ?? .null
    object["matrix_ratio_each"] = .array(matrixRatios.map(rounded))
    object["matrix_speedup_each"] = .array(matrixSpeedups.map(rounded))
    if let matrixNote { object["matrix_note"] = .string(matrixNote) }
    let members = object.sorted { $0.key < $1.key }.map { JSONMember(key: $0.key, value: $0.value) }
    print(JSONValue.object(members).serialized())
} else {
    print(
        "bind_cycle_ratio \(String(format: "%.3f", bind.ratio))  (Socket \(Int(bind.swift / Double(bindIterations) * 1e9)) ns vs C \(Int(bind.c / Double(bindIterations) * 1e9)) ns per socket+SO_REUSEADDR+bind+close; goal <= 1.05)"
    )
    print(
        "parse_ratio      \(String(format: "%.3f", parse.ratio))  (IPAddress(_:) vs inet_pton over \(corpus.count) mixed strings; goal <= 0.5)"
    )
    print(
        "parse_throwing_ratio \(String(format: "%.3f", parseThrowing.ratio))  (IPAddress(parsing:), whose refusals carry an error; no goal)"
    )
    if let matrixRatio, let matrixSpeedup {
        print(
            "matrix_ratio     \(String(format: "%.3f", matrixRatio))  (cells/s of one worker, model + kernel, vs a C loop of the same system calls; goal >= 0.8)"
        )
        print("matrix_speedup   \(String(format: "%.3f", matrixSpeedup))  (two workers over one; goal >= 1.7)")
    }
}
if sink == 42 { print("") }  // keep the work observable
