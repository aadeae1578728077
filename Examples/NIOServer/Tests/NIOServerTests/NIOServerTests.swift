import Foundation
import Testing

/// The built NIOServer beside this test bundle.
let server: String = {
    let bundle = Bundle.main.bundleURL.deletingLastPathComponent()
    for dir in [bundle, bundle.deletingLastPathComponent()] {
        let p = dir.appendingPathComponent("NIOServer").path
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return root.appendingPathComponent(".build/debug/NIOServer").path
}()

/// Runs `script` under `sh` in a network namespace of its own (`unshare -n`, lo up): the servers
/// it starts touch nothing of the host. Returns its standard output and error together.
func inPrivateNamespace(_ script: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
    p.arguments = ["-n", "/bin/sh", "-c", "ip link set lo up && " + script]
    var environment = ProcessInfo.processInfo.environment
    environment["SERVER"] = server
    environment["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin:" + (environment["PATH"] ?? "")
    p.environment = environment
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}

/// The shell lines that start a first server on `port` in the background (its pid in $first)
/// and wait until it listens, printing what it printed.
func startFirst(port: Int) -> String {
    """
    log=$(mktemp); "$SERVER" --port \(port) --seconds 30 > "$log" 2>&1 & first=$!
    for i in $(seq 300); do grep -q listening "$log" && break; sleep 0.1; done
    cat "$log"; rm -f "$log"
    """
}

/// The first server holds 127.0.0.1:8080; a second one, with and without the pre-flight, must
/// fail with EADDRINUSE and name the first by its pid; a client gets the first's line.
@Test(.enabled(if: getuid() == 0, "needs root for unshare -n"))
func heldPortIsExplained() throws {
    let out = try inPrivateNamespace(
        """
        \(startFirst(port: 8080))
        echo "first=$first"
        "$SERVER" --port 8080; echo "preflight rc=$?"
        "$SERVER" --port 8080 --no-preflight; echo "nio rc=$?"
        kill $first; wait $first
        """)
    let first = try #require(out.split(separator: "\n").first { $0.hasPrefix("first=") }?.dropFirst(6))
    #expect(out.contains("NIOServer: listening on [IPv4]127.0.0.1/127.0.0.1:8080"), "\(out)")
    #expect(out.contains("preflight rc=1") && out.contains("nio rc=1"), "\(out)")
    #expect(out.contains("not binding (BindKit's pre-flight):\ntcp bind 127.0.0.1:8080: EADDRINUSE"), "\(out)")
    #expect(out.contains("NIO's bind failed:\ntcp bind 127.0.0.1:8080: EADDRINUSE"), "\(out)")
    let heldBy = out.split(separator: "\n").filter { $0.contains("held by: pid \(first) (NIOServer)") }
    #expect(heldBy.count == 2, "both explanations name the holder, pid \(first): \(out)")
}

/// A free port: the pre-flight lets NIO bind, and a client gets the server's line.
@Test(.enabled(if: getuid() == 0, "needs root for unshare -n"))
func freePortBindsAndServes() throws {
    let out = try inPrivateNamespace(
        """
        \(startFirst(port: 8081))
        python3 -c 'import socket; s=socket.create_connection(("127.0.0.1", 8081)); print(s.recv(100).decode().strip())'
        kill $first; wait $first
        """)
    #expect(out.contains("listening on"), "\(out)")
    #expect(out.contains("hello from NIOServer"), "\(out)")
}
