import BindKit

// The scenario model of shared/SCENARIOS.md: what a scenario file says, decoded and checked.
// Pure values: `BindConformance.ScenarioDecoder` makes them from JSON, the model predicts
// them and the kernel executor runs them.

/// The port of an address in a scenario: a number, or `$ID`, the port that socket (or
/// `timewait` step) `ID` was last bound to.
public enum PortSpec: Hashable, Sendable, CustomStringConvertible {
    case number(UInt16)
    /// `$a` → `.reference("a")`.
    case reference(String)

    /// `"8080"` or `"$a"`, as in a scenario file.
    public var description: String {
        switch self {
        case .number(let port): String(port)
        case .reference(let id): "$" + id
        }
    }
}

/// An address of a `bind` or `timewait` step: `ADDR:PORT`, `[ADDR]:PORT` or `[ADDR%ZONE]:PORT`.
public struct AddressSpec: Hashable, Sendable, CustomStringConvertible {
    public var ip: IPAddress
    public var port: PortSpec
    /// The address as written in the file, e.g. `"[::]:0"` or `"0.0.0.0:$a"`.
    public var text: String

    public init(ip: IPAddress, port: PortSpec, text: String) {
        self.ip = ip
        self.port = port
        self.text = text
    }

    /// An address whose text is made from `ip` and `port`: `192.0.2.1:80`, `[fe80::1%bk0]:$a`.
    public init(ip: IPAddress, port: PortSpec) {
        self.ip = ip
        self.port = port
        switch ip {
        case .v4: self.text = "\(ip):\(port)"
        case .v6: self.text = "[\(ip)]:\(port)"
        }
    }

    /// The family whose sockaddr this address is written in: `.inet` for `ADDR:PORT`,
    /// `.inet6` for the bracketed forms.
    public var family: AddressFamily {
        switch ip {
        case .v4: .inet
        case .v6: .inet6
        }
    }

    public var description: String { text }
}

/// One option of a `socket` step, or the option a `setsockopt` step sets.
public enum SocketOptionSetting: Hashable, Sendable {
    /// The effective uid the socket is created and used under.
    case uid(UInt32)
    /// The effective capabilities held while the socket is created and bound.
    case caps(Set<Capability>)
    /// `SO_REUSEADDR`.
    case reuseaddr(Bool)
    /// `SO_REUSEPORT`.
    case reuseport(Bool)
    /// `IPV6_V6ONLY`.
    case v6only(Bool)
    /// `IP_FREEBIND` / `IPV6_FREEBIND`.
    case freebind(Bool)
    /// `IP_TRANSPARENT` / `IPV6_TRANSPARENT`.
    case transparent(Bool)
    /// `SO_BINDTODEVICE`.
    case device(String)
    /// `IP_LOCAL_PORT_RANGE`, passed to the kernel as written (even when `low > high`).
    case localPortRange(low: UInt16, high: UInt16)
    /// `SO_BROADCAST`: a UDP socket needs it to send to a broadcast address.
    case broadcast(Bool)

    /// The key of this option in a scenario file.
    public var key: String {
        switch self {
        case .uid: "uid"
        case .caps: "caps"
        case .reuseaddr: "reuseaddr"
        case .reuseport: "reuseport"
        case .v6only: "v6only"
        case .freebind: "freebind"
        case .transparent: "transparent"
        case .device: "device"
        case .localPortRange: "local_port_range"
        case .broadcast: "broadcast"
        }
    }

    /// The option keys, in the order a `socket` step sets them.
    public static let orderedKeys: [String] = [
        "uid", "caps", "reuseaddr", "reuseport", "v6only", "freebind", "transparent", "device", "local_port_range",
        "broadcast",
    ]

    /// The position of this option in `orderedKeys`.
    public var order: Int {
        switch self {
        case .uid: 0
        case .caps: 1
        case .reuseaddr: 2
        case .reuseport: 3
        case .v6only: 4
        case .freebind: 5
        case .transparent: 6
        case .device: 7
        case .localPortRange: 8
        case .broadcast: 9
        }
    }
}

/// What a step is expected to give: success or one error, the same values the model and the
/// kernel give (``Outcome``). In an `.errno` the primary name, e.g. `"EADDRINUSE"` (an alias in
/// the file, such as `EWOULDBLOCK`, is stored as its primary name, `EAGAIN`).
public typealias Expectation = Outcome

/// What a step does.
public enum StepAction: Hashable, Sendable {
    /// Creates a socket and sets `options`, which are in `SocketOptionSetting.orderedKeys` order.
    case socket(family: AddressFamily, transport: Transport, options: [SocketOptionSetting])
    case setsockopt(SocketOptionSetting)
    case bind(AddressSpec)
    case listen(backlog: Int32)
    case close
    /// Leaves a TCP TIME_WAIT entry on the address (see SCENARIOS.md).
    case timewait(AddressSpec, reuseaddr: Bool)
    /// `connect(2)` to the address: TCP waits at most 2 s for the connection; UDP sets the
    /// default destination.
    case connect(AddressSpec)
    /// UDP `sendto(2)` of one datagram to the address, or `send(2)` to the connected
    /// destination when it is nil.
    case send(AddressSpec?)
}

/// The namespace a socket lives in: this host, or the peer (the other machine on the link).
public enum Side: String, Hashable, Sendable {
    case host, peer
}

/// One step of a scenario.
public struct Step: Hashable, Sendable {
    /// The socket the step acts on; for `timewait`, the optional name of its port; `nil` only
    /// for a `timewait` step without an id.
    public var id: String?
    public var action: StepAction
    /// The expected result, when the file gives one.
    public var expect: Expectation?
    /// A `socket` step's namespace (`"on"`); `.host` for every other step.
    public var on: Side = .host
    /// A `connect` (TCP) or `send` step's expected receivers (`expect_by`), sorted by id.
    public var expectBy: [String]?

    public init(id: String?, action: StepAction, expect: Expectation? = nil, on: Side = .host, expectBy: [String]? = nil) {
        self.id = id
        self.action = action
        self.expect = expect
        self.on = on
        self.expectBy = expectBy
    }

    /// The `op` of the step: `"socket"`, `"setsockopt"`, `"bind"`, `"listen"`, `"close"` or `"timewait"`.
    public var op: String {
        switch action {
        case .socket: "socket"
        case .setsockopt: "setsockopt"
        case .bind: "bind"
        case .listen: "listen"
        case .close: "close"
        case .timewait: "timewait"
        case .connect: "connect"
        case .send: "send"
        }
    }

    /// Every `op`, in the order of SCENARIOS.md.
    public static let ops: [String] = ["socket", "setsockopt", "bind", "listen", "close", "timewait", "connect", "send"]
}

/// One sysctl of a scenario: its name (`net.ipv6.bindv6only`) and the string written to it.
public struct SysctlSetting: Hashable, Sendable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// A scenario: a name, sysctls for the namespace, and steps.
public struct Scenario: Hashable, Sendable {
    public var name: String
    /// In the order of the file.
    public var sysctls: [SysctlSetting]
    public var steps: [Step]

    public init(name: String, sysctls: [SysctlSetting] = [], steps: [Step]) {
        self.name = name
        self.sysctls = sysctls
        self.steps = steps
    }

    /// Whether a socket step puts a socket on the peer: the scenario then has a peer namespace.
    public var hasPeer: Bool { steps.contains { $0.on == .peer } }
}
