import BindKit
import BindRules

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Finds and reads scenario files.
///
/// A path is a file, read whatever its name, or a directory, searched recursively for files
/// whose names end in `.json`, in sorted order (bytewise, by path below the directory).
/// Entries whose names start with `.` are skipped, and symbolic links to directories are
/// not followed, so a search always ends. A file larger than
/// `ScenarioDecoder.maximumFileSize` (4 MiB) is refused before it is read.
public enum ScenarioLoader {
    /// Loads every scenario file under `paths`, in the order given (each directory's files in
    /// sorted order). Stops at the first file that cannot be used.
    ///
    /// - Throws: `ScenarioFileError` with kind `.missing` for a path that does not exist (or a
    ///   directory without `*.json` files), `.unreadable`, `.tooLarge`, or `.invalid` for a
    ///   file that is not exactly the scenario format.
    public static func load(paths: [String]) throws(ScenarioFileError) -> [(file: String, scenarios: [Scenario])] {
        var result: [(file: String, scenarios: [Scenario])] = []
        for path in paths {
            for file in try files(at: path) {
                let data = try read(file: file)
                result.append((file: file, scenarios: try ScenarioDecoder.decode(data: data, file: file)))
            }
        }
        return result
    }

    /// The scenario files a path stands for: itself when it is a file, the `*.json` files below
    /// it, in sorted order, when it is a directory.
    public static func files(at path: String) throws(ScenarioFileError) -> [String] {
        guard !path.isEmpty else {
            throw ScenarioFileError(kind: .missing, file: path, problem: "an empty path names no file")
        }
        let info: stat
        do {
            info = try status(path, following: true)
        } catch {
            throw ScenarioFileError(
                kind: error.code == ENOENT || error.code == ENOTDIR ? .missing : .unreadable, file: path, problem: error.message)
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG:
            return [path]
        case S_IFDIR:
            let found = try jsonFiles(under: path)
            guard !found.isEmpty else {
                throw ScenarioFileError(kind: .missing, file: path, problem: "the directory holds no *.json file")
            }
            return found
        default:
            throw ScenarioFileError(kind: .unreadable, file: path, problem: "not a regular file or a directory")
        }
    }

    /// The contents of a regular file of at most `ScenarioDecoder.maximumFileSize` bytes.
    public static func read(file path: String) throws(ScenarioFileError) -> [UInt8] {
        let limit = ScenarioDecoder.maximumFileSize
        // O_NONBLOCK: opening a FIFO put in place of the file must not hang.
        var descriptor: Int32
        repeat {
            descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        } while descriptor < 0 && errno == EINTR
        guard descriptor >= 0 else {
            let code = errno
            throw ScenarioFileError(kind: code == ENOENT || code == ENOTDIR ? .missing : .unreadable, file: path, problem: message(code))
        }
        defer { _ = close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            throw ScenarioFileError(kind: .unreadable, file: path, problem: message(errno))
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw ScenarioFileError(kind: .unreadable, file: path, problem: "not a regular file")
        }
        guard info.st_size <= limit else {
            throw ScenarioFileError(
                kind: .tooLarge, file: path, problem: "the file is \(info.st_size) bytes, larger than the limit of \(limit) bytes (4 MiB)")
        }
        // Read at most one byte past the limit: a file may grow, or report no size at all.
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size) + 1)
        var count = 0
        while true {
            if count == bytes.count {
                guard count <= limit else { break }
                bytes.append(contentsOf: [UInt8](repeating: 0, count: Swift.min(64 * 1024, limit + 1 - count)))
            }
            let n = bytes.withUnsafeMutableBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return Glibc.read(descriptor, base + count, buffer.count - count)
            }
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                throw ScenarioFileError(kind: .unreadable, file: path, problem: message(code))
            }
            if n == 0 { break }
            count += n
        }
        guard count <= limit else {
            throw ScenarioFileError(kind: .tooLarge, file: path, problem: "the file is larger than the limit of \(limit) bytes (4 MiB)")
        }
        bytes.removeSubrange(count...)
        return bytes
    }

    // MARK: Directories

    private static func jsonFiles(under root: String) throws(ScenarioFileError) -> [String] {
        var found: [[UInt8]] = []  // paths below root, as bytes, to sort bytewise
        var pending: [[UInt8]] = [[]]
        while let relative = pending.popLast() {
            let directory = join(root, relative)
            for name in try entries(of: directory) {
                if name.first == UInt8(ascii: ".") { continue }
                let child = relative.isEmpty ? name : relative + [UInt8(ascii: "/")] + name
                let childPath = join(root, child)
                let info: stat
                do {
                    info = try status(childPath, following: false)
                } catch {
                    if error.code == ENOENT { continue }  // removed while we looked
                    throw ScenarioFileError(kind: .unreadable, file: childPath, problem: error.message)
                }
                switch info.st_mode & S_IFMT {
                case S_IFDIR:
                    pending.append(child)
                case S_IFREG, S_IFLNK:
                    guard name.count > 5, name.suffix(5).elementsEqual(".json".utf8) else { continue }
                    if info.st_mode & S_IFMT == S_IFLNK {
                        // A link counts when it leads to a regular file.
                        guard let target = try? status(childPath, following: true), target.st_mode & S_IFMT == S_IFREG else { continue }
                    }
                    found.append(child)
                default:
                    continue
                }
            }
        }
        found.sort { $0.lexicographicallyPrecedes($1) }
        return found.map { join(root, $0) }
    }

    private static func join(_ root: String, _ relative: [UInt8]) -> String {
        if relative.isEmpty { return root }
        let separator = root.hasSuffix("/") ? "" : "/"
        return root + separator + String(decoding: relative, as: UTF8.self)
    }

    private static func entries(of directory: String) throws(ScenarioFileError) -> [[UInt8]] {
        guard let handle = opendir(directory) else {
            throw ScenarioFileError(kind: .unreadable, file: directory, problem: message(errno))
        }
        defer { _ = closedir(handle) }
        var names: [[UInt8]] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                Array(raw.prefix { $0 != 0 })
            }
            if name == [UInt8(ascii: ".")] || name == [UInt8(ascii: "."), UInt8(ascii: ".")] { continue }
            names.append(name)
        }
        return names
    }

    // MARK: System calls

    private struct SystemError: Error {
        var code: Int32
        var message: String
    }

    private static func status(_ path: String, following: Bool) throws(SystemError) -> stat {
        var info = stat()
        let result = following ? stat(path, &info) : lstat(path, &info)
        guard result == 0 else {
            let code = errno
            throw SystemError(code: code, message: message(code))
        }
        return info
    }

    private static func message(_ code: Int32) -> String {
        let name = BindKit.ErrnoName.name(code).map { " (\($0))" } ?? ""
        return String(cString: strerror(code)) + name
    }
}
