import Glibc
import Testing

/// What a test could leave behind in this process: open descriptors (sockets, namespace
/// handles, pipes, files), threads parked in a private network namespace, child processes
/// and named network namespaces (`/run/netns`).
public struct ProcessResources: Equatable, Sendable {
    /// Every open descriptor and what it points at (`socket:[1234]`, `net:[4026531840]`, a path).
    public var descriptors: [Int32: String]
    /// Every thread's network namespace (`net:[4026531840]`), by thread id.
    public var threadNamespaces: [Int32: String]
    /// The process's own network namespace: the main thread's.
    public var processNamespace: String
    /// The ids of this process's children, running or not yet reaped.
    public var children: Set<Int32>
    /// The names under `/run/netns` (what `ip netns add` makes).
    public var namedNamespaces: Set<String>

    /// The resources of this process now.
    public static func current() -> ProcessResources {
        var descriptors: [Int32: String] = [:]
        for name in entries(of: "/proc/self/fd") {
            guard let fd = Int32(name), let target = link("/proc/self/fd/\(name)") else { continue }
            descriptors[fd] = target
        }
        // The descriptor that listed /proc/self/fd was open while it listed itself.
        descriptors = descriptors.filter { !$0.value.hasPrefix("/proc/") || !$0.value.hasSuffix("/fd") }
        var namespaces: [Int32: String] = [:]
        var children: Set<Int32> = []
        for name in entries(of: "/proc/self/task") {
            guard let tid = Int32(name) else { continue }
            if let ns = link("/proc/self/task/\(name)/ns/net") { namespaces[tid] = ns }
            for child in read("/proc/self/task/\(name)/children").split(whereSeparator: { $0 == " " || $0 == "\n" }) {
                if let pid = Int32(child) { children.insert(pid) }
            }
        }
        return ProcessResources(
            descriptors: descriptors, threadNamespaces: namespaces,
            processNamespace: link("/proc/self/ns/net") ?? "?", children: children,
            namedNamespaces: Set(entries(of: "/run/netns")))
    }

    /// What is here in `after` that was not here in `self`, one line each: a descriptor
    /// opened and not closed (or closed and reopened on something else), a thread left in a
    /// namespace other than the process's, a child not reaped, a named namespace not deleted.
    public func leaks(comparedTo after: ProcessResources) -> [String] {
        var leaks: [String] = []
        for (fd, target) in after.descriptors.sorted(by: { $0.key < $1.key }) where descriptors[fd] != target {
            leaks.append("descriptor \(fd) (\(target)) left open")
        }
        for (tid, ns) in after.threadNamespaces.sorted(by: { $0.key < $1.key }) where ns != after.processNamespace {
            if threadNamespaces[tid] == ns { continue }  // there before: not this test's
            leaks.append("thread \(tid) left in network namespace \(ns) (the process is in \(after.processNamespace))")
        }
        for pid in after.children.subtracting(children).sorted() {
            leaks.append("child process \(pid) not reaped")
        }
        for name in after.namedNamespaces.subtracting(namedNamespaces).sorted() {
            leaks.append("named network namespace /run/netns/\(name) not deleted")
        }
        return leaks
    }

    static func entries(of directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func link(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBufferPointer { readlink(path, $0.baseAddress!, $0.count) }
        return n < 0 ? nil : String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func read(_ path: String) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBufferPointer { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += chunk.prefix(n)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Lets one checked test run at a time: a leak check counts the whole process's resources,
/// so two tests at once would see each other's. (`scripts/test.sh` runs serially anyway;
/// this keeps the check right under a plain `swift test` too.)
actor LeakCheckGate {
    static let shared = LeakCheckGate()
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func enter() async {
        if !busy {
            busy = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func leave() {
        if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() }
    }
}

/// A trait that fails a test which leaves a descriptor open, a thread in a private network
/// namespace, a child process unreaped or a named namespace behind. On a suite it checks
/// every test (and every case of a parameterized test) inside.
public struct LeakCheck: TestTrait, SuiteTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func scopeProvider(for test: Test, testCase: Test.Case?) -> LeakCheck? {
        // Each case of each test (a plain test has one), never a suite or a whole parameterized
        // test around its cases: those would hold the gate their cases wait for.
        testCase == nil ? nil : self
    }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        await LeakCheckGate.shared.enter()
        let before = ProcessResources.current()
        var thrown: (any Error)?
        do { try await function() } catch { thrown = error }
        var leaks = before.leaks(comparedTo: ProcessResources.current())
        // Left behind means still there: a thread joined a moment ago may still be leaving the
        // kernel (its namespaces are dropped after the join wakes). Look again for up to a second.
        // (usleep, not Task.sleep: the first Task.sleep makes libdispatch open its timer
        // descriptor for good, which would be reported as this test's.)
        for _ in 0..<100 where !leaks.isEmpty {
            usleep(10_000)
            leaks = before.leaks(comparedTo: ProcessResources.current())
        }
        await LeakCheckGate.shared.leave()
        for leak in leaks {
            Issue.record(Comment(rawValue: "left behind: \(leak)"))
        }
        if let thrown { throw thrown }
    }
}

extension Trait where Self == LeakCheck {
    /// Fails a test that leaves a descriptor, a namespaced thread, a child or a named namespace behind.
    public static var checksLeaks: LeakCheck { LeakCheck() }
}
