import ArgumentParser
import BindConformance
import BindKit
import Foundation

@main
struct BindCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bindcheck",
        abstract: "Knows, exactly, what bind() will do on Linux, and checks that against the kernel.",
        subcommands: [
            MatrixCommand.self, Run.self, ExplainCommand.self, WhoCommand.self, Privileged.self, SoakCommand.self, DiffCommand.self,
            Interfaces.self,
            Parse.self,
        ]
    )
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

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}
