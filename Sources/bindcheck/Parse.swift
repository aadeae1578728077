import ArgumentParser
import BindConformance
import BindKit

struct Parse: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Parse an address or socket address; say what it is and what binding it would mean here.",
        discussion: "Accepts 192.0.2.1, ::1, 1.2.3.4:80, [::1]:80, [fe80::1%eth0]:80. Exit 64 for malformed input.")

    @Argument(help: "An IPv4/IPv6 address or a socket address.") var address: String
    @Flag(help: "Also accept what inet_aton accepts for IPv4 (127.1, 0x7f000001, 0177.0.0.1, 2130706433).") var legacy = false
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let parsed: ParsedAddress
        do { parsed = try ParsedAddress(parsing: address, legacy: legacy) } catch {
            throw fail("\(error)", code: 64)
        }
        let report = AddressReport(parsed, input: address, facts: try? HostFacts.current())
        if json { try printJSON(report) } else { print(report.text) }
    }
}
