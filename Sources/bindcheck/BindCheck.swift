import ArgumentParser
import BindConformance
import BindKit
import Foundation

@main
struct BindCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bindcheck",
        abstract: "Knows, exactly, what bind() will do on Linux, and checks that against the kernel.",
        version: BindKitVersion.current,
        subcommands: [
            MatrixCommand.self, Run.self, ExplainCommand.self, WhoCommand.self, ReachCommand.self, Privileged.self, SoakCommand.self,
            DiffCommand.self,
            Interfaces.self,
            Parse.self,
        ]
    )

    /// ArgumentParser's `main()`, except that a usage error is one line on stderr and exit 64,
    /// as every other bad input of bindcheck is; `--help`, `--version` and the completion
    /// scripts are ArgumentParser's own.
    static func main() {
        let arguments = Run.kernelFlags(Array(CommandLine.arguments.dropFirst()))
        var command: any ParsableCommand
        do { command = try parseAsRoot(arguments) } catch {
            guard exitCode(for: error) == .validationFailure else { exit(withError: error) }
            warn("bindcheck: " + (dashedValueHint(arguments) ?? firstLine(message(for: error))))
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
        do { try command.run() } catch { exit(withError: error) }
    }

    /// ArgumentParser's message cut to one line.
    static func firstLine(_ message: String) -> String {
        let first = message.split(separator: "\n").first.map(String.init) ?? message
        return first.hasPrefix("Error: ") ? String(first.dropFirst(7)) : first
    }

    /// For arguments that fail to parse only because a value starts with '-' (`parse -1`): the
    /// way to pass it, after `--`. Nil when moving no such argument behind `--` would help.
    static func dashedValueHint(_ arguments: [String]) -> String? {
        let end = arguments.firstIndex(of: "--") ?? arguments.endIndex
        let subcommands = configuration.subcommands
        let type = subcommands.first { arguments.contains($0._commandName) }
        let subcommand = type?._commandName ?? "parse"
        // The options the command declares, as its help lists them ("--udp", "-h, --help").
        let help = helpMessage(for: type ?? Self.self, columns: 1000)
        func declared(_ token: String) -> Bool {
            let name = token.split(separator: "=").first.map(String.init) ?? token
            return [" ", ",", "]", "\n", "="].contains { help.contains(name + $0) }
        }
        for (i, token) in arguments[..<end].enumerated() where token.count > 1 && token.hasPrefix("-") && !declared(token) {
            var moved = arguments
            moved.remove(at: i)
            if end == arguments.endIndex { moved += ["--", token] } else { moved.insert(token, at: end) }
            guard (try? parseAsRoot(moved)) != nil else { continue }
            let what = subcommand == "parse" ? "parse an address" : "give an argument"
            return "unknown option '\(token)': to \(what) that starts with '-', write `bindcheck \(subcommand) -- \(token)`"
        }
        return nil
    }
}

/// Writes one line to standard error.
func warn(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Fails with a message on stderr and the given exit status.
func fail(_ text: String, code: Int32) -> ExitCode {
    warn("bindcheck: " + text)
    return ExitCode(code)
}

/// Prints `value` as a JSON document: its keys sorted, two spaces a level, `"key" : value`.
func printJSON<T: Encodable>(_ value: T) throws {
    print(try JSONValue(encoding: value).sortingKeys.commandLineText)
}
