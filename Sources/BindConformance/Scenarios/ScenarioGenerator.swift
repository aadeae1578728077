import BindKit
import BindRules

/// A small, fast, seedable generator (SplitMix64), so that a failing random scenario can be
/// regenerated from its seed.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random multi-socket scenarios over the fixture: both transports, wildcards, loopbacks, the
/// fixture's addresses, v4-mapped, non-local, link-local with and without scope, multicast and
/// broadcast; random options, owners, listen, close and timewait steps; sysctl variants.
public struct ScenarioGenerator: Sendable {
    public var minSockets = 2
    public var maxSockets = 5
    public var timewait = false
    public var sysctlVariants = true
    /// Reach steps too: sockets on the peer, SO_BROADCAST, `connect` and `send` steps.
    public var reach = false

    public init(minSockets: Int = 2, maxSockets: Int = 5, timewait: Bool = false, sysctlVariants: Bool = true, reach: Bool = false) {
        self.minSockets = minSockets
        self.maxSockets = maxSockets
        self.timewait = timewait
        self.sysctlVariants = sysctlVariants
        self.reach = reach
    }

    public static let ipv4Pool = [
        "0.0.0.0", "127.0.0.1", "127.0.0.2", "192.0.2.1", "192.0.2.2", "198.51.100.7", "224.0.0.1",
        "255.255.255.255", "192.0.2.255",
    ]
    public static let ipv6Pool = [
        "::", "::1", "2001:db8::1", "2001:db8::2", "fe80::1", "fe80::1%bk0", "fe80::1%lo", "::ffff:0.0.0.0",
        "::ffff:127.0.0.1", "::ffff:192.0.2.1", "::ffff:198.51.100.7", "ff02::1%bk0", "ff0e::1",
    ]

    public func scenario(name: String, using rng: inout some RandomNumberGenerator) -> Scenario {
        var sysctls: [SysctlSetting] = []
        if sysctlVariants {
            if Int.random(in: 0..<5, using: &rng) == 0 { sysctls.append(.init(name: "net.ipv6.bindv6only", value: "1")) }
            if Int.random(in: 0..<8, using: &rng) == 0 { sysctls.append(.init(name: "net.ipv4.ip_nonlocal_bind", value: "1")) }
            if Int.random(in: 0..<8, using: &rng) == 0 { sysctls.append(.init(name: "net.ipv6.ip_nonlocal_bind", value: "1")) }
            if Int.random(in: 0..<8, using: &rng) == 0 { sysctls.append(.init(name: "net.ipv4.ip_unprivileged_port_start", value: "4000")) }
        }
        let count = Int.random(in: minSockets...maxSockets, using: &rng)
        let ids = (0..<count).map { String(UnicodeScalar(UInt8(97 + $0))) }
        // Most sockets aim at one shared port so that they meet; some at another, 0, or $a.
        let sharedPort = [UInt16(4000), 4001, 80][Int.random(in: 0..<3, using: &rng)]
        var steps: [Step] = []
        var bound: [String] = []
        var pending: [Step] = []  // listen/close/setsockopt steps to interleave later
        if timewait && Int.random(in: 0..<3, using: &rng) == 0 {
            let ip = Self.randomAddress(family: Bool.random(using: &rng) ? .inet : .inet6, using: &rng, unicastOnly: true)
            steps.append(
                Step(id: "t", action: .timewait(AddressSpec(ip: ip, port: .number(sharedPort)), reuseaddr: Bool.random(using: &rng))))
            bound.append("t")
        }
        var transports: [String: Transport] = [:]
        for id in ids {
            let family: AddressFamily = Bool.random(using: &rng) ? .inet : .inet6
            let transport: Transport = Int.random(in: 0..<3, using: &rng) == 0 ? .udp : .tcp
            transports[id] = transport
            var options = Self.randomOptions(family: family, using: &rng)
            if reach && transport == .udp && Int.random(in: 0..<3, using: &rng) == 0 { options.append(.broadcast(true)) }
            let side: Side = reach && Int.random(in: 0..<4, using: &rng) == 0 ? .peer : .host
            steps.append(Step(id: id, action: .socket(family: family, transport: transport, options: options), on: side))
            var addressFamily = family
            if Int.random(in: 0..<12, using: &rng) == 0 { addressFamily = family == .inet ? .inet6 : .inet }
            let ip = Self.randomAddress(family: addressFamily, using: &rng, unicastOnly: false)
            let port: PortSpec
            switch Int.random(in: 0..<10, using: &rng) {
            case 0: port = .number(0)
            case 1: port = .number(4002)
            case 2 where !bound.isEmpty: port = .reference(bound[Int.random(in: 0..<bound.count, using: &rng)])
            default: port = .number(sharedPort)
            }
            steps.append(Step(id: id, action: .bind(AddressSpec(ip: ip, port: port))))
            bound.append(id)
            // Flush some pending steps of earlier sockets between binds.
            while !pending.isEmpty && Bool.random(using: &rng) { steps.append(pending.removeFirst()) }
            if transport == .tcp && Int.random(in: 0..<2, using: &rng) == 0 { pending.append(Step(id: id, action: .listen(backlog: 128))) }
            if Int.random(in: 0..<10, using: &rng) == 0 {
                pending.append(Step(id: id, action: .setsockopt(Self.randomSetting(family: family, using: &rng))))
            }
            if Int.random(in: 0..<8, using: &rng) == 0 { pending.append(Step(id: id, action: .close)) }
        }
        steps += pending
        if reach {
            // Connections and datagrams between them: to the shared port of an address of
            // either side, or to the port of a socket.
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let id = ids[Int.random(in: 0..<ids.count, using: &rng)]
                let family: AddressFamily = Bool.random(using: &rng) ? .inet : .inet6
                let ip = Self.randomAddress(family: family, using: &rng, unicastOnly: false)
                let port: PortSpec =
                    Bool.random(using: &rng) ? .number(sharedPort) : .reference(bound[Int.random(in: 0..<bound.count, using: &rng)])
                let address = AddressSpec(ip: ip, port: port)
                if transports[id] == .udp && Int.random(in: 0..<3, using: &rng) != 0 {
                    steps.append(Step(id: id, action: .send(Int.random(in: 0..<5, using: &rng) == 0 ? nil : address)))
                } else {
                    steps.append(Step(id: id, action: .connect(address)))
                }
            }
        }
        // A listen on a socket closed earlier in `pending` would be invalid: drop steps after a close.
        var closed = Set<String>()
        steps = steps.filter { step in
            guard let id = step.id, step.op != "timewait" else { return true }
            if closed.contains(id) { return false }
            if step.op == "close" { closed.insert(id) }
            return true
        }
        return Scenario(name: name, sysctls: sysctls, steps: steps)
    }

    static func randomAddress(family: AddressFamily, using rng: inout some RandomNumberGenerator, unicastOnly: Bool) -> IPAddress {
        var pool = family == .inet ? ipv4Pool : ipv6Pool
        if unicastOnly {
            pool = pool.filter {
                ![
                    "224.0.0.1", "255.255.255.255", "192.0.2.255", "ff02::1%bk0", "ff0e::1", "192.0.2.2", "198.51.100.7", "2001:db8::2",
                    "fe80::1", "fe80::1%lo", "::ffff:198.51.100.7",
                ].contains($0)
            }
        }
        let text = pool[Int.random(in: 0..<pool.count, using: &rng)]
        return (try? IPAddress(parsing: text)) ?? .v4(.loopback)
    }

    static func randomOptions(family: AddressFamily, using rng: inout some RandomNumberGenerator) -> [SocketOptionSetting] {
        var o: [SocketOptionSetting] = []
        if Int.random(in: 0..<4, using: &rng) == 0 {
            o.append(.uid(1000))
            if Int.random(in: 0..<3, using: &rng) == 0 { o.append(.caps([.netBindService])) }
        }
        if Bool.random(using: &rng) { o.append(.reuseaddr(true)) }
        if Bool.random(using: &rng) { o.append(.reuseport(true)) }
        if family == .inet6 && Int.random(in: 0..<3, using: &rng) == 0 { o.append(.v6only(Bool.random(using: &rng))) }
        if Int.random(in: 0..<8, using: &rng) == 0 { o.append(.freebind(true)) }
        if Int.random(in: 0..<10, using: &rng) == 0 { o.append(.device(["bk0", "lo"][Int.random(in: 0..<2, using: &rng)])) }
        return o
    }

    static func randomSetting(family: AddressFamily, using rng: inout some RandomNumberGenerator) -> SocketOptionSetting {
        switch Int.random(in: 0..<5, using: &rng) {
        case 0: .reuseaddr(Bool.random(using: &rng))
        case 1: .reuseport(Bool.random(using: &rng))
        case 2: .v6only(Bool.random(using: &rng))
        case 3: .device(["bk0", "lo", "bk1"][Int.random(in: 0..<3, using: &rng)])
        default: .freebind(Bool.random(using: &rng))
        }
    }
}

/// Smaller variants of a scenario that are still valid: one step fewer (a socket step takes
/// every step of its id with it, and no `$id` is left pointing at a socket never bound).
public enum ScenarioShrinker {
    public static func candidates(_ s: Scenario) -> [Scenario] {
        var out: [Scenario] = []
        for i in s.steps.indices.reversed() {
            var steps = s.steps
            let removed = steps.remove(at: i)
            if removed.op == "socket", let id = removed.id {
                // Remove every later step of this id up to (and with) its close.
                var j = i
                var open = true
                while j < steps.count && open {
                    if steps[j].id == id {
                        if steps[j].op == "close" { open = false }
                        steps.remove(at: j)
                    } else {
                        j += 1
                    }
                }
            }
            let candidate = Scenario(name: s.name, sysctls: s.sysctls, steps: steps)
            if !steps.isEmpty && isValid(candidate) { out.append(candidate) }
        }
        for k in s.sysctls.indices {
            var c = s
            c.sysctls.remove(at: k)
            out.append(c)
        }
        return out
    }

    /// Whether the scenario passes the decoder's validation (round trip through the encoder).
    public static func isValid(_ s: Scenario) -> Bool {
        (try? ScenarioDecoder.decode(text: ScenarioEncoder.encode([s]), file: "shrink")) != nil
    }

    /// Greedy shrinking: keep the first smaller candidate that still fails, until none does.
    public static func shrink(_ s: Scenario, stillFails: (Scenario) -> Bool) -> Scenario {
        var current = s
        var progress = true
        while progress {
            progress = false
            for c in candidates(current) where stillFails(c) {
                current = c
                progress = true
                break
            }
        }
        return current
    }
}
