import ArgumentParser
import BindConformance
import BindKit

struct Interfaces: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List this host's interfaces and their addresses.")

    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws {
        let interfaces: [Interface]
        do { interfaces = try Interface.current() } catch { throw fail("\(error)", code: 71) }
        if json {
            try printJSON(interfaces)
        } else {
            print(InterfaceTable.render(interfaces))
        }
    }
}
