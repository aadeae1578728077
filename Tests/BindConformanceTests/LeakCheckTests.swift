import BindConformance
import BindTestSupport
import Foundation
import Testing

/// The leak check itself: it must see each kind of leak, and it must be on every suite.
@Suite("Leak check", .checksLeaks, .serialized)
struct LeakCheckTests {
    @Test("an open socket is seen, and is gone once closed")
    func socketDescriptor() throws {
        let before = ProcessResources.current()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(fd >= 0)
        let leaks = before.leaks(comparedTo: .current())
        close(fd)
        #expect(leaks.count == 1)
        #expect(leaks.first?.hasPrefix("descriptor \(fd) (socket:[") == true, "\(leaks)")
        #expect(before.leaks(comparedTo: .current()) == [])
    }

    @Test(
        "a thread left in a private network namespace is seen",
        .enabled(if: canMakeNamespaces, "needs root to create a network namespace"))
    func threadInNamespace() throws {
        let before = ProcessResources.current()
        // Seen from the namespace's own thread, while it is there; joined and gone afterwards.
        let during = try withPrivateNamespace { _ in ProcessResources.current() }
        let leaks = before.leaks(comparedTo: during)
        #expect(leaks.count == 1)
        #expect(leaks.first?.contains("left in network namespace net:[") == true, "\(leaks)")
        #expect(before.leaks(comparedTo: .current()) == [])
    }

    @Test("a child not reaped is seen")
    func childProcess() throws {
        let before = ProcessResources.current()
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("30"), nil]
        defer { for a in argv { free(a) } }
        try #require(posix_spawn(&pid, "/bin/sleep", nil, nil, argv, environ) == 0)
        let leaks = before.leaks(comparedTo: .current())
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect(leaks == ["child process \(pid) not reaped"])
        #expect(before.leaks(comparedTo: .current()) == [])
    }

    @Test("every suite in Tests/ carries the leak check")
    func everySuiteIsChecked() throws {
        let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        let files = try FileManager.default.subpathsOfDirectory(atPath: tests.path).filter { $0.hasSuffix(".swift") }
        var suites = 0
        var unchecked: [String] = []
        for file in files {
            let text = try String(contentsOf: tests.appendingPathComponent(file), encoding: .utf8)
            // Each top-level type: the attributes written above it, and whether its body has tests.
            var attributes = ""
            var declaration: Substring?
            var hasTests = false
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                if declaration == nil {
                    attributes += line + "\n"
                    if ["struct ", "final class ", "class ", "enum ", "actor ", "extension "].contains(where: {
                        line.hasPrefix($0) || (line.hasPrefix("@") && line.contains(" \($0)"))
                    }) {
                        declaration = line
                    }
                }
                if line.contains("@Test") { hasTests = true }
                guard line == "}" || (declaration != nil && line.hasSuffix("}") && !line.hasPrefix(" ")) else {
                    if declaration == nil && line.trimmingCharacters(in: .whitespaces).isEmpty { attributes = "" }
                    continue
                }
                if let declaration {
                    if attributes.contains("@Suite") { suites += 1 }
                    if (hasTests || attributes.contains("@Suite")) && !attributes.contains(".checksLeaks") {
                        unchecked.append("\(file): \(declaration)")
                    }
                }
                attributes = ""
                declaration = nil
                hasTests = false
            }
        }
        #expect(suites >= 25)
        #expect(unchecked == [])
    }
}
