import BindKit
import BindRules

/// What kind of socket a matrix cell creates.
public enum SocketKind: String, Codable, CaseIterable, Sendable, Hashable {
    case inet
    case inet6Dual = "inet6 v6only=0"
    case inet6Only = "inet6 v6only=1"
    case inet6Default = "inet6 default"

    public var family: AddressFamily { self == .inet ? .inet : .inet6 }

    var v6onlySetting: SocketOptionSetting? {
        switch self {
        case .inet6Dual: .v6only(false)
        case .inet6Only: .v6only(true)
        case .inet, .inet6Default: nil
        }
    }

    /// The addresses the matrix binds with this kind: every address of the family, plus one of
    /// the other family (passed to the kernel as it stands).
    public var addresses: [String] {
        family == .inet ? Matrix.ipv4Addresses + ["::1"] : Matrix.ipv6Addresses + ["127.0.0.1"]
    }
}

/// SO_REUSEADDR / SO_REUSEPORT combinations.
public enum ReuseOptions: String, Codable, CaseIterable, Sendable, Hashable {
    case none
    case reuseaddr = "SO_REUSEADDR"
    case reuseport = "SO_REUSEPORT"
    case both = "SO_REUSEADDR+SO_REUSEPORT"

    /// Built once: the matrix asks them for every cell.
    private static let settingsOf: [[SocketOptionSetting]] = allCases.map { o in
        switch o {
        case .none: []
        case .reuseaddr: [.reuseaddr(true)]
        case .reuseport: [.reuseport(true)]
        case .both: [.reuseaddr(true), .reuseport(true)]
        }
    }

    var settings: [SocketOptionSetting] {
        switch self {
        case .none: Self.settingsOf[0]
        case .reuseaddr: Self.settingsOf[1]
        case .reuseport: Self.settingsOf[2]
        case .both: Self.settingsOf[3]
        }
    }
}

/// One socket of a cell.
public struct SocketConfig: Codable, Hashable, Sendable, CustomStringConvertible {
    public var kind: SocketKind
    public var address: String
    public var options: ReuseOptions
    public var freebind: Bool

    public init(kind: SocketKind, address: String, options: ReuseOptions = .none, freebind: Bool = false) {
        self.kind = kind
        self.address = address
        self.options = options
        self.freebind = freebind
    }

    /// `inet6 v6only=0 [::] SO_REUSEADDR`
    public var description: String {
        var s = ""
        write(to: &s)
        return s
    }

    /// Appends the description to `s`.
    func write(to s: inout String) {
        s += kind.rawValue
        s += " "
        let v6 = address.utf8.contains(UInt8(ascii: ":"))
        if v6 { s += "[" }
        s += address
        if v6 { s += "]" }
        if options != .none {
            s += " "
            s += options.rawValue
        }
        if freebind { s += " IP_FREEBIND" }
    }

    /// Kind and address without options: a row or column of the Markdown tables.
    public var place: String { kind.rawValue + " " + bracketedAddress }

    /// The address, in brackets if it is an IPv6 address: `[::1]`, `127.0.0.1`.
    public var bracketedAddress: String { address.utf8.contains(UInt8(ascii: ":")) ? "[\(address)]" : address }
}

/// The first socket's state when the second binds.
public enum FirstState: String, Codable, CaseIterable, Sendable, Hashable {
    case bound, listening
    case timeWait = "time-wait"
}

/// Who makes a single privileged bind.
public enum BindCredentials: String, Codable, CaseIterable, Sendable, Hashable {
    case root
    case rootWithoutBindService = "root without CAP_NET_BIND_SERVICE"
    case unprivileged = "uid 1000"

    /// Built once (a set of capabilities is costly to make for every cell).
    private static let withoutBindService: [SocketOptionSetting] = [.caps(Set(Capability.allCases).subtracting([.netBindService]))]

    var settings: [SocketOptionSetting] {
        switch self {
        case .root: []
        case .rootWithoutBindService: Self.withoutBindService
        case .unprivileged: [.uid(1000)]
        }
    }
}

/// One cell of the matrix: a pair of sockets (or a single socket) and the conditions around them.
public struct MatrixCell: Codable, Hashable, Sendable {
    public enum Group: String, Codable, Sendable, Hashable, CaseIterable {
        /// Two sockets of one transport.
        case pair
        /// Two sockets of different transports.
        case crossTransport = "cross-transport"
        /// One socket, under sysctl variants and with IP_FREEBIND.
        case single
        /// One socket at a fixed port, under given credentials and ip_unprivileged_port_start.
        case privilege
    }

    public var group: Group
    public var transport: Transport
    public var secondTransport: Transport?
    public var first: SocketConfig
    public var state: FirstState?
    public var second: SocketConfig?
    /// The second socket created by the first's uid (0), or by uid 1000.
    public var sameOwner: Bool?
    /// A fixed port (privilege cells); otherwise each cell gets a fresh port.
    public var port: UInt16?
    public var credentials: BindCredentials?
    /// Sysctls that differ from the namespace defaults.
    public var sysctls: [SysctlSetting]

    public init(
        group: Group, transport: Transport, secondTransport: Transport? = nil, first: SocketConfig, state: FirstState? = nil,
        second: SocketConfig? = nil, sameOwner: Bool? = nil, port: UInt16? = nil, credentials: BindCredentials? = nil,
        sysctls: [SysctlSetting] = []
    ) {
        self.group = group
        self.transport = transport
        self.secondTransport = secondTransport
        self.first = first
        self.state = state
        self.second = second
        self.sameOwner = sameOwner
        self.port = port
        self.credentials = credentials
        self.sysctls = sysctls
    }

    /// A stable one-line key (for diffs and reports), written in one string (every record of
    /// a report names its cell by it).
    public var key: String {
        var s = ""
        s.reserveCapacity(160)
        s += group.rawValue
        s += " "
        s += transport.rawValue
        if let secondTransport {
            s += " →"
            s += secondTransport.rawValue
        }
        s += " "
        first.write(to: &s)
        if let state {
            s += " ("
            s += state.rawValue
            s += ")"
        }
        if let second {
            s += " | "
            second.write(to: &s)
        }
        if let sameOwner { s += sameOwner ? " same uid" : " other uid" }
        if let port {
            s += " port "
            s += String(port)
        }
        if let credentials {
            s += " "
            s += credentials.rawValue
        }
        for x in sysctls {
            s += " "
            s += x.name
            s += "="
            s += x.value
        }
        return s
    }
}

extension SysctlSetting: Codable {
    enum CodingKeys: String, CodingKey { case name, value }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try c.decode(String.self, forKey: .name), value: try c.decode(String.self, forKey: .value))
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(value, forKey: .value)
    }
}

/// The step of a cell whose result a side records: `socket`, `bind`, `listen`, or leaving
/// TIME_WAIT (`timewait`).
public enum CellOp: String, Codable, CaseIterable, Sendable, Hashable {
    case socket, bind, listen, timewait
}

/// A step's result: which step, and its outcome.
public struct StepResult: Hashable, Sendable, CustomStringConvertible {
    public var op: CellOp
    public var outcome: Outcome

    public init(_ op: CellOp, _ outcome: Outcome) {
        self.op = op
        self.outcome = outcome
    }

    /// `bind EADDRINUSE`.
    public var description: String { "\(op.rawValue) \(outcome)" }
}

/// What a cell recorded on one side: the first socket's setup (its first failing step, nil when
/// it succeeded), the second socket's bind (or its socket() when that failed), and for TCP its
/// listen() when the bind succeeded. A single socket records its socket() as the setup.
public struct CellOutcome: Hashable, Sendable, CustomStringConvertible {
    public var setup: StepResult?
    public var result: StepResult
    public var listen: Outcome?
    /// A reach cell's outcome, as `bindcheck diff` reads it from a report (the fields above unused).
    public var reach: ReachOutcome?

    /// A reach cell's outcome.
    public init(reach: ReachOutcome) {
        self.init(result: StepResult(.socket, reach.result))
        self.reach = reach
    }

    public init(setup: StepResult? = nil, result: StepResult, listen: Outcome? = nil) {
        self.setup = setup
        self.result = result
        self.listen = listen
    }

    /// A bind's result (and listen's).
    public init(setup: StepResult? = nil, bind: Outcome, listen: Outcome? = nil) {
        self.init(setup: setup, result: StepResult(.bind, bind), listen: listen)
    }

    /// The errno of the first failing step of the second socket (bind, socket, or listen), nil when all succeeded.
    public var failure: (op: CellOp, errno: String)? {
        if case .errno(let e) = result.outcome { return (result.op, e) }
        if case .errno(let e)? = listen { return (.listen, e) }
        return nil
    }

    /// `first: bind EADDRNOTAVAIL; bind ok, listen ok`.
    public var description: String {
        if let reach { return reach.description }
        var s = setup.map { "first: \($0); " } ?? ""
        s += result.op == .bind ? "bind \(result.outcome)" : result.description
        if let listen { s += ", listen \(listen)" }
        return s
    }
}

/// One cell's results: the cell, the port it ran on, both sides' outcomes, and the model's
/// reason for its outcome (its rule and kernel function always; its words where the sides
/// disagree).
public struct MatrixRecord: Sendable {
    public var cell: MatrixCell
    public var model: CellOutcome?
    public var kernel: CellOutcome?
    public var reason: Reason?
    /// Why the cell was not run, if it was not.
    public var skipped: String?
    /// The port the cell ran on.
    public var port: UInt16?

    public init(
        cell: MatrixCell, model: CellOutcome?, kernel: CellOutcome?, reason: Reason? = nil, skipped: String? = nil, port: UInt16? = nil
    ) {
        self.cell = cell
        self.model = model
        self.kernel = kernel
        self.reason = reason
        self.skipped = skipped
        self.port = port
    }

    public var agrees: Bool { skipped == nil && model != nil && model == kernel }
}

/// The steps of a cell: the first socket's `socket` and `bind` (then `listen` when it listens or
/// leaves TIME_WAIT), and the second socket's, if any. Fields, not arrays: made without
/// allocating, and each side is handed a step in place, without a copy.
package struct CellSteps {
    var socketA: Step
    var bindA: Step
    /// Whether "a" listens after its bind.
    var listensA: Bool
    /// Whether "a", listening, then leaves a TIME_WAIT entry and closes.
    var leaveTimeWait: Bool
    var second: (socket: Step, bind: Step)?
}

/// The dimensions of the matrix and its cells.
public enum Matrix {
    public static let ipv4Addresses = [
        "0.0.0.0", "127.0.0.1", "127.0.0.2", "192.0.2.1", "192.0.2.2", "198.51.100.7", "224.0.0.1", "255.255.255.255", "192.0.2.255",
    ]
    public static let ipv6Addresses = [
        "::", "::1", "2001:db8::1", "2001:db8::2", "fe80::1%bk0", "fe80::1", "ff02::1%bk0", "::ffff:0.0.0.0", "::ffff:127.0.0.1",
        "::ffff:192.0.2.1", "::ffff:198.51.100.7",
    ]
    public static let privilegedPorts: [UInt16] = [0, 1, 80, 1023, 1024]

    /// The matrix's addresses, parsed once.
    static let parsed: [String: IPAddress] = Dictionary(
        uniqueKeysWithValues: (ipv4Addresses + ipv6Addresses).compactMap { a in (try? IPAddress(parsing: a)).map { (a, $0) } })
    public static let unprivilegedPortStarts = ["0", "80", "1024"]

    /// Every (kind, address) place.
    public static var places: [SocketConfig] {
        SocketKind.allCases.flatMap { kind in kind.addresses.map { SocketConfig(kind: kind, address: $0) } }
    }

    /// Every place with every option combination.
    public static var configs: [SocketConfig] {
        places.flatMap { p in ReuseOptions.allCases.map { SocketConfig(kind: p.kind, address: p.address, options: $0) } }
    }

    /// Whether a TCP listener on `address` can take a connection (so leave TIME_WAIT): not a
    /// multicast or broadcast address.
    static func canConnect(_ address: String) -> Bool {
        !["224.0.0.1", "255.255.255.255", "192.0.2.255"].contains(address) && !address.hasPrefix("ff")
    }

    /// Every cell of the default run, in a stable order, grouped by sysctl variant.
    public static func cells(only: Transport? = nil) -> [MatrixCell] {
        var cells: [MatrixCell] = []
        let transports = only.map { [$0] } ?? Transport.allCases
        let configs = configs
        // Pairs of one transport under the namespace defaults.
        for transport in transports {
            let states: [FirstState] = transport == .tcp ? FirstState.allCases : [.bound]
            for state in states {
                for first in configs where state != .timeWait || canConnect(first.address) {
                    for second in configs {
                        for same in [true, false] {
                            cells.append(
                                MatrixCell(
                                    group: .pair, transport: transport, first: first, state: state, second: second, sameOwner: same,
                                    sysctls: []))
                        }
                    }
                }
            }
        }
        // Pairs involving a default inet6 socket, with net.ipv6.bindv6only=1.
        let v6only = [SysctlSetting(name: "net.ipv6.bindv6only", value: "1")]
        for transport in transports {
            let states: [FirstState] = transport == .tcp ? [.bound, .listening] : [.bound]
            for state in states {
                for first in configs {
                    for second in configs where first.kind == .inet6Default || second.kind == .inet6Default {
                        cells.append(
                            MatrixCell(
                                group: .pair, transport: transport, first: first, state: state, second: second, sameOwner: true,
                                sysctls: v6only))
                    }
                }
            }
        }
        // A cross-transport sample: every place against every place, no options.
        if only == nil {
            for (a, b) in [(Transport.tcp, Transport.udp), (.udp, .tcp)] {
                for first in places {
                    for second in places {
                        cells.append(
                            MatrixCell(
                                group: .crossTransport, transport: a, secondTransport: b, first: first, state: .bound, second: second,
                                sameOwner: true, sysctls: []))
                    }
                }
            }
        }
        // Single sockets under every sysctl variant, with and without IP_FREEBIND.
        for bindv6only in ["0", "1"] {
            for nonlocal4 in ["0", "1"] {
                for nonlocal6 in ["0", "1"] {
                    var sysctls: [SysctlSetting] = []
                    if bindv6only != "0" { sysctls.append(.init(name: "net.ipv6.bindv6only", value: bindv6only)) }
                    if nonlocal4 != "0" { sysctls.append(.init(name: "net.ipv4.ip_nonlocal_bind", value: nonlocal4)) }
                    if nonlocal6 != "0" { sysctls.append(.init(name: "net.ipv6.ip_nonlocal_bind", value: nonlocal6)) }
                    for transport in transports {
                        for place in places {
                            for freebind in [false, true] {
                                var c = place
                                c.freebind = freebind
                                cells.append(MatrixCell(group: .single, transport: transport, first: c, sysctls: sysctls))
                            }
                        }
                    }
                }
            }
        }
        // Privileged ports.
        for start in unprivilegedPortStarts {
            let sysctls = start == "1024" ? [] : [SysctlSetting(name: "net.ipv4.ip_unprivileged_port_start", value: start)]
            for transport in transports {
                for place in [SocketConfig(kind: .inet, address: "0.0.0.0"), SocketConfig(kind: .inet6Default, address: "::")] {
                    for port in privilegedPorts {
                        for creds in BindCredentials.allCases {
                            cells.append(
                                MatrixCell(
                                    group: .privilege, transport: transport, first: place, port: port, credentials: creds, sysctls: sysctls)
                            )
                        }
                    }
                }
            }
        }
        return cells
    }

    /// The steps of a cell at `port`: the first socket's setup, and the second socket's (if any).
    package static func steps(_ cell: MatrixCell, port: UInt16) -> CellSteps {
        func bind(_ id: String, _ c: SocketConfig, _ p: UInt16) -> Step {
            let ip = parsed[c.address] ?? (try? IPAddress(parsing: c.address)) ?? .v4(.any)
            return Step(id: id, action: .bind(AddressSpec(ip: ip, port: .number(p), text: c.address)))
        }
        let p = cell.port ?? port
        let credentials: Extra =
            switch cell.credentials {
            case nil, .root?: .none
            case .rootWithoutBindService?: .withoutBindService
            case .unprivileged?: .uid1000
            }
        var second: (socket: Step, bind: Step)?
        if let c = cell.second {
            let owner: Extra = cell.sameOwner == false ? .uid1000 : .none
            second = (socketStep(second: true, c, cell.secondTransport ?? cell.transport, owner), bind("b", c, p))
        }
        // Made in one piece (filled in afterwards, the whole was copied out).
        return CellSteps(
            socketA: socketStep(second: false, cell.first, cell.transport, credentials), bindA: bind("a", cell.first, p),
            listensA: cell.state == .listening || cell.state == .timeWait, leaveTimeWait: cell.state == .timeWait && second != nil,
            second: second)
    }

    /// The options a cell adds before a socket's own: none, another uid, or root's capabilities
    /// without CAP_NET_BIND_SERVICE.
    enum Extra: Int, CaseIterable {
        case none, uid1000, withoutBindService

        var settings: [SocketOptionSetting] {
            switch self {
            case .none: []
            case .uid1000: [.uid(1000)]
            case .withoutBindService: BindCredentials.rootWithoutBindService.settings
            }
        }
    }

    /// The `socket` step of socket "a" or "b" with configuration `c` (its address aside).
    static func makeSocketStep(_ id: String, _ c: SocketConfig, _ transport: Transport, extra: [SocketOptionSetting]) -> Step {
        var options = extra
        options += c.options.settings
        if let v = c.kind.v6onlySetting { options.append(v) }
        if c.freebind { options.append(.freebind(true)) }
        return Step(id: id, action: .socket(family: c.kind.family, transport: transport, options: options))
    }

    /// Every `socket` step the matrix makes, built once (a cell copies two of them rather than
    /// building their option arrays), at `socketStepIndex`.
    private static let socketSteps: [Step] = {
        var steps = [Step](repeating: Step(id: nil, action: .close), count: 2 * 4 * 4 * 2 * 2 * 3)
        for second in [false, true] {
            for kind in SocketKind.allCases {
                for options in ReuseOptions.allCases {
                    for freebind in [false, true] {
                        for transport in [Transport.tcp, .udp] {
                            for extra in Extra.allCases {
                                let c = SocketConfig(kind: kind, address: "", options: options, freebind: freebind)
                                steps[socketStepIndex(second: second, c, transport, extra)] =
                                    makeSocketStep(second ? "b" : "a", c, transport, extra: extra.settings)
                            }
                        }
                    }
                }
            }
        }
        return steps
    }()

    private static func socketStepIndex(second: Bool, _ c: SocketConfig, _ transport: Transport, _ extra: Extra) -> Int {
        let kind =
            switch c.kind {
            case .inet: 0
            case .inet6Dual: 1
            case .inet6Only: 2
            case .inet6Default: 3
            }
        let options =
            switch c.options {
            case .none: 0
            case .reuseaddr: 1
            case .reuseport: 2
            case .both: 3
            }
        var i = second ? 1 : 0
        i = i * 4 + kind
        i = i * 4 + options
        i = i * 2 + (c.freebind ? 1 : 0)
        i = i * 2 + (transport == .tcp ? 0 : 1)
        return i * 3 + extra.rawValue
    }

    private static func socketStep(second: Bool, _ c: SocketConfig, _ transport: Transport, _ extra: Extra) -> Step {
        socketSteps[socketStepIndex(second: second, c, transport, extra)]
    }
}
