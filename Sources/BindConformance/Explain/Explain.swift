import BindKit
import BindRules
import Foundation

/// `bindcheck explain`: a prediction for one bind in a live network namespace, from the sockets
/// the kernel lists on the port (sock_diag), the processes that hold them and their options
/// (pidfd_getfd), the namespace's interfaces and sysctls, and this process's credentials; with
/// how sure it is, what else it could be and why, and optionally the real bind beside it.
public struct Explanation: Sendable, Codable {
    public var address: String
    public var transport: String
    public var options: [String]
    /// The namespace file, when not the caller's own.
    public var namespace: String?
    /// The outcome with every unknown at its likeliest value: `ok` or an errno name.
    public var prediction: String
    /// Whether the outcome is the same whatever the unknowns are.
    public var certain: Bool
    public var rule: String
    public var kernelFunction: String
    public var reason: String
    public var fix: String?
    /// The socket the bind collides with, as the model names it.
    public var holder: Holder?
    /// The sockets `holder` stands for: their processes (pid, command, unit or container),
    /// state and options.
    public var heldBy: SocketReport?
    /// Fixes the model checked against this namespace: each would make the bind succeed.
    public var fixes: [String]
    /// The options the model was not told, at the value it took.
    public var unknowns: [Unknown]
    /// The outcomes under other values of the unknowns: fewest changes first.
    public var otherwise: [Otherwise]
    /// How to learn what is unknown, when something is.
    public var findOut: String?
    /// Every socket on the port of the transport, as the model was told.
    public var sockets: [SocketReport]
    /// The real result with `--try` (bound and closed at once, in the namespace).
    public var kernel: String?
    /// With `--try`: whether the kernel's answer is the prediction.
    public var agrees: Bool?
    /// What the listing or the holder scan could not see.
    public var caveats: [String]

    public struct Unknown: Sendable, Codable, Hashable {
        public var socket: String
        public var option: String
        /// The value the prediction took.
        public var assumed: String
        public var why: String
    }

    public struct Otherwise: Sendable, Codable, Hashable {
        /// The changes from what the prediction assumed (together).
        public var changes: [String]
        public var prediction: String
        public var reason: String
    }

    /// The bind a person asks about.
    public struct Request: Sendable {
        public var address: SocketAddress
        public var transport: Transport
        public var reuseaddr = false
        public var reuseport = false
        public var v6only: Bool?
        public var device: String?
        /// Also listen() after the bind (TCP).
        public var listen = false
        /// The kernel release the model answers for (`--kernel 6.1`); nil: the namespace's own.
        public var kernelRelease: String?
        public init(address: SocketAddress, transport: Transport) {
            self.address = address
            self.transport = transport
        }

        /// The question as the model's steps, under `creds`.
        func steps(_ creds: ProcessCredentials) -> [Step] {
            var o: [SocketOptionSetting] = [.uid(creds.effectiveUID), .caps(creds.capabilities.effective)]
            if reuseaddr { o.append(.reuseaddr(true)) }
            if reuseport { o.append(.reuseport(true)) }
            if let v6only { o.append(.v6only(v6only)) }
            if let device { o.append(.device(device)) }
            var steps = [
                Step(id: "new", action: .socket(family: address.family, transport: transport, options: o)),
                Step(id: "new", action: .bind(AddressSpec(ip: address.ip, port: .number(address.port)))),
            ]
            if listen { steps.append(Step(id: "new", action: .listen(backlog: 128))) }
            return steps
        }

        /// The command-line flags of the options.
        var flags: [String] {
            var f: [String] = []
            if reuseaddr { f.append("--reuseaddr") }
            if reuseport { f.append("--reuseport") }
            if let v6only { f.append(v6only ? "--v6only" : "--dual-stack") }
            if let device { f.append("--device \(device)") }
            if listen { f.append("--listen") }
            return f
        }

        var optionNames: [String] {
            var o: [String] = []
            if reuseaddr { o.append("SO_REUSEADDR") }
            if reuseport { o.append("SO_REUSEPORT") }
            if let v6only { o.append("IPV6_V6ONLY \(v6only ? "on" : "off")") }
            if let device { o.append("SO_BINDTODEVICE \(device)") }
            if listen { o.append("then listen()") }
            return o
        }
    }

    /// The model explain asks, for a namespace's facts: the one place where it is made.
    public static func model(for facts: HostFacts) -> BindModel {
        BindModel(host: ModelHost(facts: facts))
    }

    /// Predicts `request` in `live` (reading the port's sockets, holders and options there);
    /// with `tryIt`, also binds for real in that namespace and closes at once.
    public init(_ request: Request, live: LiveHost, tryIt: Bool = false) {
        let inspection = live.inspect([request.transport], ports: [request.address.port])
        self.init(request, live: live, inspection: inspection, tryIt: tryIt)
    }

    /// Predicts `request` from `inspection`, read in `live`.
    public init(_ request: Request, live: LiveHost, inspection: Inspection, tryIt: Bool = false) {
        var facts = live.facts
        // The model reads the kernel's version from the facts: `--kernel` stands in for it.
        if let release = request.kernelRelease { (facts.kernelRelease, facts.kernelBuild) = (release, nil) }
        address = "\(request.address)"
        transport = request.transport.rawValue
        options = request.optionNames
        namespace = live.namespacePath
        let lt = LiveTable(inspection, transports: [request.transport], v6onlyDefault: facts.sysctls.bindv6only)
        let steps = request.steps(facts.credentials)
        let model = Self.model(for: facts)
        let p = model.predictConditionally(steps, from: lt.table)
        prediction = p.outcome.description
        certain = p.certain
        rule = p.reason.rule
        kernelFunction = p.reason.kernel
        reason = p.reason.text
        fix = p.reason.fix
        holder = p.reason.holder
        heldBy = p.reason.holder.flatMap { lt.group($0.id) }.map(SocketReport.init)
        sockets = lt.groups.map(SocketReport.init)
        unknowns = p.unknowns.map { f in
            Unknown(socket: f.socket, option: f.option.rawValue, assumed: f.value.description, why: Self.why(f, lt))
        }
        otherwise = p.otherwise.map { a in
            Otherwise(changes: a.changes.map(\.description), prediction: a.outcome.description, reason: a.reason.text)
        }
        if !p.enumerated {
            otherwise.append(
                Otherwise(
                    changes: ["(\(p.assignments) combinations of the unknowns: only each single change was tried)"],
                    prediction: "unknown", reason: ""))
        }
        findOut = p.certain ? nil : Self.findOut(unknowns: p.unknowns, lt, request: request, facts: facts)
        fixes = p.outcome == .ok ? [] : Self.fixes(request, lt, p, model: model, facts: facts)
        caveats = inspection.notes
        if let h = heldBy, h.processes.isEmpty, h.state != HostSocket.State.timeWait.rawValue {
            if case .failure(.holderNotFound(denied: 0))? = p.reason.holder.flatMap({ lt.group($0.id) })?.first.options {
                caveats.append("no process holds \(h.id) any more: it was closed (or its holder exited) since it was listed")
            } else {
                caveats.append("the holder of \(h.id) is another user's process: run as root to name it")
            }
        }
        if tryIt {
            let outcome = live.perform { () -> Outcome in
                let executor = KernelExecutor()
                return steps.lazy.map { executor.perform($0) }.first { $0 != .ok } ?? .ok
            }
            kernel = outcome?.description ?? "not tried: no thread could enter the namespace"
            agrees = outcome.map { $0 == p.outcome }
        }
    }

    /// 0 the bind would succeed, 1 it would fail, 70 `--try` disagreed with the prediction.
    public var exitCode: Int32 {
        if agrees == false { return 70 }
        return prediction == "ok" ? 0 : 1
    }

    /// Why an option of a group is unknown.
    static func why(_ f: OptionFact, _ lt: LiveTable) -> String {
        guard let g = lt.group(f.socket) else { return "not told" }
        let s = g.first
        if s.socket.state == .timeWait { return "a TIME_WAIT entry keeps the options of the socket that left it out of reach" }
        switch s.options {
        case .failure(let e)?: return e.description
        case nil: return "not read"
        case .success:
            switch f.option {
            case .v6only: return "the kernel does not report IPV6_V6ONLY for this socket's state"
            case .device: return "the listing (/proc/net) has no device"
            default: return "not read"
            }
        }
    }

    /// How to learn the unknowns.
    static func findOut(unknowns: [OptionFact], _ lt: LiveTable, request: Request, facts: HostFacts) -> String? {
        guard !unknowns.isEmpty else { return nil }
        let groups = Set(unknowns.map(\.socket)).compactMap { lt.group($0) }
        if groups.allSatisfy({ $0.first.socket.state == .timeWait }) {
            return "a TIME_WAIT entry's options cannot be read by anyone: wait for it to expire (60 s), or try with --try"
        }
        let port = request.address.port
        let proto = request.transport == .udp ? " --udp" : ""
        let flags = request.flags.map { " " + $0 }.joined()
        if facts.credentials.effectiveUID != 0 {
            return
                "run as root (`sudo bindcheck explain\(proto)\(flags) \(request.address)` or `sudo bindcheck who\(proto) \(port)`), which reads every holder's options"
        }
        return "`bindcheck who\(proto) \(port)` shows each holder's options as read; those that could not be read say why"
    }

    /// Changes the model checks against this namespace, the first that would let the bind
    /// through: IPV6_V6ONLY on a dual-stack `[::]` holder (or on this socket), and SO_REUSEPORT or
    /// SO_REUSEADDR on this socket where the holder has it.
    static func fixes(_ r: Request, _ lt: LiveTable, _ p: ConditionalPrediction, model: BindModel, facts: HostFacts) -> [String] {
        var out: [String] = []
        let creds = facts.credentials
        func succeeds(_ req: Request, _ table: SocketTable) -> Bool {
            let q = model.predictConditionally(req.steps(creds), from: table)
            return q.outcome == .ok && q.certain
        }
        if let id = p.reason.holder?.id, let g = lt.group(id) {
            let s = g.first.socket
            let v6only: Bool =
                if case .success(let o)? = g.first.options, let v = o.v6only { v } else { s.v6only ?? facts.sysctls.bindv6only }
            let newIsV4 = r.address.ip.unmapped.family == .inet
            if s.family == .inet6 && s.local.ip.isUnspecified && !v6only && newIsV4
                && succeeds(r, lt.table(setting: true, on: id))
            {
                let who = g.first.holders.first.map { "\($0.process.command) (pid \($0.process.pid))" } ?? "the holder"
                out.append(
                    "\(who) listens on [::]:\(s.local.port) dual-stack (IPV6_V6ONLY off), which takes IPv4 \(r.address) too: with IPV6_V6ONLY set on its socket before it binds (for a Python server `sock.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 1)`), this bind would succeed; or serve both families from that one socket"
                )
            }
            if r.address.family == .inet6 && r.address.ip.isUnspecified && r.v6only != true && s.family == .inet {
                var alt = r
                alt.v6only = true
                if succeeds(alt, lt.table) {
                    out.append("with IPV6_V6ONLY on this socket (--v6only) it would succeed, serving IPv6 only beside the IPv4 holder")
                }
            }
        }
        for (name, change) in [("SO_REUSEPORT", { (q: inout Request) in q.reuseport = true }), ("SO_REUSEADDR", { $0.reuseaddr = true })] {
            var alt = r
            change(&alt)
            if (name == "SO_REUSEPORT" ? !r.reuseport : !r.reuseaddr) && succeeds(alt, lt.table) {
                out.append("with \(name) on this socket too it would succeed: the sockets on the port let it share")
            }
        }
        return out
    }

    public var text: String {
        let sure = certain ? "" : " (not certain)"
        var lines = [
            "\(transport) bind \(address)\(options.isEmpty ? "" : " with " + options.joined(separator: ", ")): \(prediction)\(sure)"
        ]
        if let namespace { lines.append("  in: network namespace \(namespace)") }
        lines.append("  why: \(reason)")
        if let heldBy {
            lines.append("  held by: \(heldBy.text)")
            if let cmd = heldBy.processes.first?.commandLine, !cmd.isEmpty { lines.append("  its command: \(cmd.joined(separator: " "))") }
        }
        if let fix { lines.append("  what would change it: \(fix)") }
        for f in fixes { lines.append("  fix: \(f)") }
        lines.append("  rule: \(rule) (\(kernelFunction))")
        if certain {
            lines.append(
                unknowns.isEmpty
                    ? "  certain: every option that matters was read"
                    : "  certain: \(unknowns.count) option(s) could not be read, and no value of theirs changes the answer")
        } else {
            for u in unknowns { lines.append("  unknown: \(u.option) of \(u.socket) (\(u.why)); taken as \(u.assumed)") }
            for o in otherwise {
                lines.append("  if \(o.changes.joined(separator: " and ")): \(o.prediction)\(o.reason.isEmpty ? "" : " (\(o.reason))")")
            }
            if let findOut { lines.append("  to find out: \(findOut)") }
        }
        if let kernel {
            lines.append("  tried for real: \(kernel)\(agrees == true ? " (as predicted)" : " (the model predicted \(prediction))")")
        }
        if sockets.count > 1 || (sockets.count == 1 && heldBy == nil) {
            lines.append("  sockets on \(transport) port \(address.split(separator: ":").last ?? ""):")
            for s in sockets { lines.append("    \(s.text)") }
        }
        for c in caveats { lines.append("  note: \(c)") }
        return lines.joined(separator: "\n")
    }
}

extension SocketError {
    /// For a failed bind: the model's explanation against the live namespace (`host`, or the
    /// calling thread's): who holds the port (pid, command, unit), whether the bind would fail
    /// now, why, how sure, and what would change it. `request` gives the failed socket's options
    /// (nil: none, of `transport`); nil when the error carries no address or the namespace
    /// cannot be read. For the holders alone, without the model, see BindKit's
    /// ``SocketError/explainLive(transport:in:)``.
    public func liveExplanation(transport: Transport = .tcp, request: Explanation.Request? = nil, in host: LiveHost? = nil)
        -> Explanation?
    {
        guard let address = request?.address ?? address else { return nil }
        let live: LiveHost
        if let host {
            live = host
        } else {
            guard let current = try? LiveHost.current() else { return nil }
            live = current
        }
        return Explanation(request ?? Explanation.Request(address: address, transport: transport), live: live)
    }
}
