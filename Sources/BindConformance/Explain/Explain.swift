import BindKit
import BindRules
import Foundation

/// `bindcheck explain`: a prediction for one bind on this host, with the host's own sockets as
/// holders, and optionally the real bind beside it.
public struct Explanation: Sendable, Codable {
    public var address: String
    public var transport: String
    public var options: [String]
    public var prediction: String
    public var rule: String
    public var kernelFunction: String
    public var reason: String
    public var fix: String?
    public var holder: Holder?
    /// The real result with `--try` (bound and closed at once).
    public var kernel: String?
    /// What the model cannot see.
    public var caveats: [String]

    public struct Request: Sendable {
        public var address: SocketAddress
        public var transport: Transport
        public var reuseaddr = false
        public var reuseport = false
        public var v6only: Bool?
        public var device: String?
        public init(address: SocketAddress, transport: Transport) {
            self.address = address
            self.transport = transport
        }
    }

    /// The socket options of `request` as scenario settings, in the order they are set.
    static func settings(_ r: Request, creds: ProcessCredentials) -> [SocketOptionSetting] {
        var o: [SocketOptionSetting] = [.uid(creds.effectiveUID), .caps(creds.capabilities.effective)]
        if r.reuseaddr { o.append(.reuseaddr(true)) }
        if r.reuseport { o.append(.reuseport(true)) }
        if let v = r.v6only { o.append(.v6only(v)) }
        if let d = r.device { o.append(.device(d)) }
        return o
    }

    public init(_ r: Request, facts: HostFacts, hostSockets: [HostSocket], tryIt: Bool) {
        address = "\(r.address)"
        transport = r.transport.rawValue
        let opts = Self.settings(r, creds: facts.credentials)
        options = opts.dropFirst(2).map(\.key)
        var table = SocketTable()
        for s in hostSockets where s.transport == r.transport {
            let state: SocketState = s.state == .listening ? .listening : s.state == .timeWait ? .timeWait : .bound
            table.addExisting(
                id: "inode \(s.inode) (uid \(s.uid), pid unknown)", family: s.family, transport: s.transport, ip: s.local.ip,
                port: s.local.port, state: state, ownerUID: s.uid, v6onlyDefault: facts.sysctls.bindv6only)
        }
        let family = r.address.family
        let steps = [
            Step(id: "new", action: .socket(family: family, transport: r.transport, options: opts)),
            Step(id: "new", action: .bind(AddressSpec(ip: r.address.ip, port: .number(r.address.port)))),
        ]
        let predictions = BindModel(host: ModelHost(facts: facts)).run(steps, from: table)
        let p = predictions.first { $0.outcome != .ok } ?? predictions[predictions.count - 1]
        prediction = p.outcome.description
        rule = p.reason.rule
        kernelFunction = p.reason.kernel
        reason = p.reason.text
        fix = p.reason.fix
        holder = p.reason.holder
        caveats = []
        if holder?.id.hasPrefix("inode ") == true {
            caveats.append("the holder's socket options cannot be read from /proc: they are taken as unset")
        }
        if tryIt {
            let executor = KernelExecutor()
            let results = steps.map { executor.perform($0) }
            kernel = (results.first { $0 != .ok } ?? .ok).description
        }
    }

    public var text: String {
        var lines = ["\(transport) bind \(address)\(options.isEmpty ? "" : " with " + options.joined(separator: ", ")): \(prediction)"]
        lines.append("  rule: \(rule) (\(kernelFunction))")
        lines.append("  why: \(reason)")
        if let fix { lines.append("  what would change it: \(fix)") }
        if let holder { lines.append("  collides with: \(holder.id) on \(holder.address) (\(holder.summary))") }
        if let kernel {
            lines.append("  tried for real: \(kernel)\(kernel == prediction ? " (as predicted)" : " (the model predicted \(prediction))")")
        }
        for c in caveats { lines.append("  note: \(c)") }
        return lines.joined(separator: "\n")
    }
}
