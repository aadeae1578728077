import BindKit
import BindRules
import Foundation

/// What `bindcheck explain` and `who` will read of the live host, done once, for timing from
/// outside against `ss -tanp 'sport = :P'` (each a process of its own, run round-robin):
/// `bindbench --live-explain P` reads the TCP sockets on port P (sock_diag, filtered in the
/// kernel), their holders (/proc/PID/fd) and options (pidfd_getfd), and predicts a bind of
/// 0.0.0.0:P from them; `--live-who P` reads TCP and UDP and predicts nothing. One line on
/// stdout says what was found.
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
        let explains = mode == "--live-explain"
        let inspection = live.inspect(explains ? [.tcp] : [.tcp, .udp], ports: [port])
        var line = inspection.sockets.map { s -> String in
            let who = s.holders.map { "\($0.process.command)[\($0.process.pid)]" }.joined(separator: ",")
            let options: String
            switch s.options {
            case .success(let o)?: options = "reuseaddr=\(o.reuseAddress) reuseport=\(o.reusePort)"
            case .failure(let e)?: options = "\(e)"
            case nil: options = "-"
            }
            return "\(s.socket.transport) \(s.socket.local) \(s.socket.kernelState) \(who.isEmpty ? "?" : who) \(options)"
        }
        if explains {
            var table = SocketTable()
            for (i, s) in inspection.sockets.enumerated() {
                table.addExisting(s.socket, id: "#\(i)", options: try? s.options?.get(), v6onlyDefault: live.facts.sysctls.bindv6only)
            }
            let steps = [
                Step(id: "new", action: .socket(family: .inet, transport: .tcp, options: [])),
                Step(id: "new", action: .bind(AddressSpec(ip: .v4(.any), port: .number(port)))),
            ]
            let p = BindModel(host: ModelHost(facts: live.facts)).predictConditionally(steps, from: table)
            line.append("bind 0.0.0.0:\(port): \(p.outcome)\(p.certain ? "" : " (not certain)")")
        }
        print(line.joined(separator: "; "))
        return 0
    }
}
