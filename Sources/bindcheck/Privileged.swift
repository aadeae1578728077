import ArgumentParser
import BindConformance
import BindKit

struct Privileged: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Who may bind below net.ipv4.ip_unprivileged_port_start, why, and how to change it.",
        discussion: """
            Decides from the effective uid, CAP_NET_BIND_SERVICE in each capability set, the sysctl of this \
            network namespace and the user namespace that owns it. With --binary, from what execve() of that \
            file gives (file capabilities, set-user-ID root, ambient capabilities, no_new_privs); with --user, \
            from what a fresh process of that user holds (uid 0: its bounding set; any other uid: nothing). \
            --try binds the wildcard of each family (TCP and UDP) for real in a child process that takes those \
            credentials (never more than this process holds), closes each socket at once, and shows the \
            prediction beside the kernel's answer.

            Exit status: 0 the bind would be allowed, 1 it would be refused, 64 bad input (a port, a user, an \
            unreadable binary), 66 the binary does not exist, 70 --try: the kernel disagreed with the prediction, \
            71 this host's facts could not be read, 77 --try (or --netns) needs privileges this process lacks. With \
            --netns PID|PATH the sysctl and the namespace's owner are read inside that network namespace, and \
            --try binds there (66 when it does not exist).
            """)

    @Option(parsing: .unconditional, help: "The port, 0-65535.") var port = "80"
    @Option(help: "A user name or uid: what a fresh process of that user holds.") var user: String?
    @Option(help: "An executable: what the process holds after it execs it.") var binary: String?
    @Flag(help: "Print one JSON object.") var json = false
    @Flag(name: .customLong("try"), help: "Also bind for real in a child with those credentials.") var attempt = false
    @Option(help: "The network namespace: a pid (its /proc/PID/ns/net) or a namespace file (/run/netns/NAME).") var netns: String?

    func run() throws {
        // The report is made (and --try run) on a thread inside the namespace: the sysctl, the
        // namespace's owner and the child that binds are all that namespace's.
        let outcome: Result<PrivilegeReport, ExitCode>
        if netns != nil {
            let live = try openNamespace(netns)
            outcome = live.perform { make() } ?? .failure(fail("--netns: no thread could enter the namespace", code: 71))
        } else {
            outcome = make()
        }
        let report = try outcome.get()
        if json { try printJSON(report) } else { print(report.text) }
        if report.exitCode != 0 { throw ExitCode(report.exitCode) }
    }

    /// The report for the calling thread's namespace, with --try run there.
    func make() -> Result<PrivilegeReport, ExitCode> {
        var report: PrivilegeReport
        do { report = try PrivilegeReport.make(port: port, user: user, binary: binary) } catch {
            return .failure(fail(error.description, code: error.exitCode))
        }
        if attempt {
            do { try report.attempt() } catch {
                if case .needsPrivilege = error { return .failure(fail("--try \(error)", code: 77)) }
                return .failure(fail("--try: \(error)", code: 71))
            }
        }
        return .success(report)
    }
}
