import ArgumentParser
import BindConformance
import BindKit

struct Interfaces: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List this host's interfaces and their addresses (or another network namespace's).",
        discussion: """
            Exit status: 0, 64 bad --netns, 66 --netns names no namespace, 71 the interfaces could not be read, \
            77 --netns needs privileges this process lacks.
            """)

    @Option(help: "The network namespace: a pid (its /proc/PID/ns/net) or a namespace file (/run/netns/NAME).") var netns: String?
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws {
        let interfaces: [Interface]
        if netns != nil {
            // Read on a thread inside that namespace, with its facts.
            interfaces = try openNamespace(netns).facts.interfaces
        } else {
            do { interfaces = try Interface.current() } catch { throw fail("\(error)", code: 71) }
        }
        if json {
            try printJSON(interfaces)
        } else {
            print(InterfaceTable.render(interfaces))
        }
    }
}
