import BindTestSupport
import Foundation
import Testing

/// The built `bindcheck` next to the test bundle (swift test builds every product first).
let bindcheckPath: String? = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    for config in ["debug", "release"] {
        let p = root.appendingPathComponent(".build/\(config)/bindcheck").path
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    return nil
}()

/// Runs bindcheck (as `asUser` through setpriv, without capabilities, when given) in a child,
/// its output in temporary files: no pipes, no Foundation `Process` (whose lazily made event
/// descriptors and asynchronously closed pipes the leak check would rightly count).
func runBindcheck(_ args: [String], asUser: String? = nil) throws -> BindcheckRun {
    let program = bindcheckPath ?? "/nonexistent"
    let argv =
        asUser.map {
            ["/usr/bin/setpriv", "--reuid=\($0)", "--regid=\($0)", "--clear-groups", "--inh-caps=-all", program]
        } ?? [program]
    return try runInChild(argv + args, outputIn: FileManager.default.temporaryDirectory.path)
}

@Suite("bindcheck command line", .checksLeaks, .enabled(if: bindcheckPath != nil, "bindcheck is not built"))
struct CLITests {
    @Test(
        "malformed input to parse: first stderr line names the problem, exit 64, no trace",
        arguments: [
            "10.0.0.256", "", " ", "1.2.3", "1.2.3.4.5", "::g", "1:2:3:4:5:6:7:8:9", "[::1]", "[::1]:", "[::1]:65536",
            "1.2.3.4:-1", "1.2.3.4:0x50", "fe80::1%", "[fe80::1%]:80", "::1:80:", "\u{0}", "üñí", "999999999999999999999999",
            "<10,000 digits>", "127.1:80:80", "[1.2.3.4]:80", "1.2.3.4:80 ",
        ])
    func parseRejects(_ argument: String) throws {
        let input = argument == "<10,000 digits>" ? String(repeating: "1", count: 10_000) : argument
        let r = try runBindcheck(["parse", input])
        #expect(r.status == 64, "\(input.debugDescription): status \(r.status)")
        let first = r.stderr.split(separator: "\n").first.map(String.init) ?? ""
        #expect(first.hasPrefix("bindcheck: ") || first.hasPrefix("Error: "), "first line: \(first)")
        #expect(first.count > 12, "the first line names the problem: \(first)")
        #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("Stack dump"))
        #expect(r.stdout.isEmpty)
    }

    @Test(
        "soak: the same scenarios and steps whatever the number of workers; bad --workers is 64",
        .enabled(if: canMakeNamespaces, "needs root to create network namespaces"))
    func soakWorkers() throws {
        let one = try runBindcheck(["soak", "--scenarios", "150", "--seed", "77", "--workers", "1", "--json"])
        let three = try runBindcheck(["soak", "--scenarios", "150", "--seed", "77", "--workers", "3", "--json"])
        #expect(one.status == 0 && three.status == 0, "\(one.stderr) \(three.stderr)")
        let decode = { (r: BindcheckRun) throws -> [String: Double] in
            try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Double])
        }
        let a = try decode(one)
        let b = try decode(three)
        #expect(a["scenarios"] == 150 && b["scenarios"] == 150)
        #expect(a["steps"] == b["steps"] && (a["steps"] ?? 0) > 150)
        #expect(a["disagree"] == 0 && b["disagree"] == 0)
        let bad = try runBindcheck(["soak", "--workers", "0"])
        #expect(bad.status == 64 && bad.stderr.contains("--workers"))
    }

    @Test func parseAccepts() throws {
        let r = try runBindcheck(["parse", "--json", "[fe80::1%1]:8080"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("link-local"))
        let legacy = try runBindcheck(["parse", "--legacy", "0x7f000001"])
        #expect(legacy.status == 0 && legacy.stdout.hasPrefix("127.0.0.1"))
        let strict = try runBindcheck(["parse", "0x7f000001"])
        #expect(strict.status == 64)
    }

    @Test("run: exit 0 when all agree, 1 when an expectation differs, 64 for an invalid file")
    func runExitCodes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bindcheck-cli-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = dir.appendingPathComponent("good.json")
        try
            #"{"name":"g","steps":[{"op":"socket","id":"a","family":"inet","type":"tcp"},{"op":"bind","id":"a","address":"10.9.9.9:5000","expect":"EADDRNOTAVAIL"}]}"#
            .write(to: good, atomically: true, encoding: .utf8)
        let wrong = dir.appendingPathComponent("wrong.json")
        try
            #"{"name":"w","steps":[{"op":"socket","id":"a","family":"inet","type":"tcp"},{"op":"bind","id":"a","address":"10.9.9.9:5000","expect":"ok"}]}"#
            .write(to: wrong, atomically: true, encoding: .utf8)
        let bad = dir.appendingPathComponent("bad.json")
        try #"{"name":"b","steps":[{"op":"socket","id":"a","family":"inet6","type":"sctp"}]}"#.write(
            to: bad, atomically: true, encoding: .utf8)

        let m = try runBindcheck(["run", "--model", good.path])
        #expect(m.status == 0)
        #expect(try runBindcheck(["run", "--model", wrong.path]).status == 1)
        let b = try runBindcheck(["run", bad.path])
        #expect(b.status == 64)
        #expect(b.stderr.contains("bad.json") && b.stderr.contains("step 0") && b.stderr.contains("type"))
        #expect(try runBindcheck(["run", dir.appendingPathComponent("missing.json").path]).status == 64)
        #expect(try runBindcheck(["run", "--model", "--kernel-only", good.path]).status == 64)
        // `--kernel RELEASE` names the release the model answers for; a bare `--kernel` is
        // SCENARIOS.md's "the kernel alone", so with --model it is refused.
        #expect(try runBindcheck(["run", "--model", "--kernel", good.path, good.path]).status == 64)
        #expect(try runBindcheck(["run", "--model", "--kernel", "6.1", good.path]).status == 0)
        let kernelAlone = try runBindcheck(["run", "--json", "--kernel", good.path])
        #expect(kernelAlone.status == 0 || kernelAlone.status == 77)
        if kernelAlone.status == 0 { #expect(kernelAlone.stdout.contains("\"model\":null")) }

        let json = try runBindcheck(["run", "--json", "--model", good.path])
        let line = try #require(json.stdout.split(separator: "\n").first)
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(obj["scenario"] as? String == "g" && obj["kernel"] is NSNull && obj["model"] as? String == "ok")

        if geteuid() == 0 {
            #expect(try runBindcheck(["run", good.path]).status == 0)
            // Without the privilege to make namespaces: 77, and the message says what is missing.
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir.path)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: good.path)
            let unprivileged = try runBindcheck(["run", good.path], asUser: "65534")
            #expect(unprivileged.status == 77, "\(unprivileged.stderr)")
            #expect(unprivileged.stderr.contains("privilege"))
        }
    }
}
