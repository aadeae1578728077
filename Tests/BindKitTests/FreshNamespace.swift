import BindKit
import Foundation
import SystemPackage

// What the tests of BindKit's system-call wrappers share: a thread of its own in a new network
// namespace (nothing they do reaches the host's), and the kernel's own answers to compare with.

/// Whether this process may make network namespaces (root, or CAP_SYS_ADMIN).
let mayMakeNamespaces: Bool = (try? inFreshNamespace { true }) ?? false

/// Whether this process runs as root (real and effective uid 0).
let isRoot: Bool = getuid() == 0 && geteuid() == 0

/// Runs `body` on a thread of its own that first moves into a new network namespace, brings `lo`
/// up and writes `sysctls` there; returns what `body` returned once the thread has ended.
func inFreshNamespace<T>(sysctls: [(name: String, value: String)] = [], _ body: @escaping () throws -> T) throws -> T {
    try JoinedThread.run { () throws -> T in
        try NetworkNamespace.unshare()
        try NetworkNamespace.setLinkUp("lo")
        for s in sysctls { try Sysctl.write(s.name, s.value) }
        return try body()
    }.get()
}

/// The Errno `body` throws, or nil when it returns.
func errno(of body: () throws -> Void) -> Errno? {
    do {
        try body()
        return nil
    } catch let e as Errno {
        return e
    } catch {
        return nil
    }
}

/// What open(2) and read(2) of `path` answer, through swift-system: the oracle for `Sysctl.read`.
func readErrno(_ path: String) -> Errno? {
    errno {
        let fd = try FileDescriptor.open(path, .readOnly)
        defer { try? fd.close() }
        var buffer = [UInt8](repeating: 0, count: 4096)
        _ = try buffer.withUnsafeMutableBytes { try fd.read(into: $0) }
    }
}

/// What open(2) and write(2) of `value` to `path` answer, through swift-system: the oracle for
/// `Sysctl.write`.
func writeErrno(_ path: String, _ value: String) -> Errno? {
    errno {
        let fd = try FileDescriptor.open(path, .writeOnly)
        defer { try? fd.close() }
        _ = try fd.writeAll(Array(value.utf8))
    }
}

/// A line of /proc/thread-self/status (of the calling thread), without its key: `CapEff`, `Uid`, …
func threadStatus(_ key: String) -> String? {
    guard let text = try? String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8) else { return nil }
    return text.split(separator: "\n").first { $0.hasPrefix(key + ":") }
        .map { $0.dropFirst(key.count + 1).trimmingCharacters(in: .whitespaces) }
}

/// A capability mask of /proc/thread-self/status (`CapEff`, `CapPrm`, …).
func threadMask(_ key: String) -> UInt64? { threadStatus(key).flatMap { UInt64($0, radix: 16) } }
