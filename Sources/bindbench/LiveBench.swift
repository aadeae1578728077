import BindConformance
import BindKit
import BindRules
import Foundation

/// What `bindcheck explain` and `who` do with the live host, done once in this process, for
/// timing from outside (`scripts/live-bench.sh` times the `bindcheck` commands themselves against
/// `ss -tanp 'sport = :P'` in a namespace of 100,000 sockets and prints explain_ratio and
/// who_ratio): `bindbench --live-explain P` explains a bind of 0.0.0.0:P (TCP) as `bindcheck
/// explain` does: the port's sockets (sock_diag, filtered in the kernel), their holders
/// (/proc/PID/fd) and options (pidfd_getfd), the model's conditional prediction; `--live-who P`
/// makes `bindcheck who P`'s report. One line on stdout says what was found.
enum LiveBench {
    static func run(_ mode: String, _ arguments: [String]) -> Int32 {
        guard arguments.count == 1, let port = UInt16(arguments[0]), port != 0 else {
            FileHandle.standardError.write(Data("bindbench: usage: bindbench \(mode) PORT\n".utf8))
            return 64
        }
        let live: LiveHost
        do { live = try LiveHost.current() } catch {
            FileHandle.standardError.write(Data("bindbench: \(error)\n".utf8))
            return 71
        }
        if mode == "--live-explain" {
            let e = Explanation(Explanation.Request(address: SocketAddress(ip: .v4(.any), port: port), transport: .tcp), live: live)
            print(
                "bind 0.0.0.0:\(port): \(e.prediction)\(e.certain ? "" : " (not certain)"); \(e.sockets.count) groups of "
                    + "\(e.sockets.map(\.count).reduce(0, +)) sockets; held by \(e.heldBy?.text ?? "-")")
        } else {
            let w = WhoReport(port: port, transports: [.tcp, .udp], live: live)
            print(w.sockets.map { "\($0.socket.count) × \($0.socket.text): \($0.blocks)" }.joined(separator: "; "))
        }
        return 0
    }
}
