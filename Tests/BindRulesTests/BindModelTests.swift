import BindKit
import BindRules
import BindTestSupport
import Testing

// Every rule of the model, one case each, on a host described here (the fixture's interfaces of
// SCENARIOS.md): the rule and the kernel function its reason names, and that a model without
// words decides exactly as one with them. The kernel's answers are compared in
// BindConformanceTests; this table pins which function of the model's files speaks.

func ip(_ text: String) -> IPAddress {
    (try? IPAddress(parsing: text)) ?? .v4(.any)
}

let fixture = ModelHost(
    interfaces: [
        Interface(
            name: "lo", index: 1, isUp: true, isLoopback: true,
            addresses: [InterfaceAddress(ip: ip("127.0.0.1"), prefixLength: 8), InterfaceAddress(ip: ip("::1"), prefixLength: 128)]),
        Interface(
            name: "bk0", index: 2, isUp: true, isLoopback: false,
            addresses: [
                InterfaceAddress(ip: ip("192.0.2.1"), prefixLength: 24), InterfaceAddress(ip: ip("2001:db8::1"), prefixLength: 64),
                InterfaceAddress(ip: ip("fe80::1"), prefixLength: 64),
            ]),
    ],
    sysctls: BindSysctls())

private func socket(
    _ id: String, _ family: AddressFamily = .inet, _ transport: Transport = .tcp, _ options: [SocketOptionSetting] = []
) -> Step {
    Step(id: id, action: .socket(family: family, transport: transport, options: options))
}

private func bind(_ id: String, _ address: String, _ port: PortSpec = .number(4000)) -> Step {
    Step(id: id, action: .bind(AddressSpec(ip: ip(address), port: port)))
}

private func set(_ id: String, _ option: SocketOptionSetting) -> Step { Step(id: id, action: .setsockopt(option)) }
private func listen(_ id: String) -> Step { Step(id: id, action: .listen(backlog: 128)) }
private func close(_ id: String) -> Step { Step(id: id, action: .close) }

struct RuleCase: Sendable, CustomTestStringConvertible {
    var name: String
    var steps: [Step]
    /// The last step's outcome, rule and kernel function.
    var outcome: Outcome
    var rule: String
    var kernel: String
    var sysctls = BindSysctls()
    var testDescription: String { name }
}

@Suite("The model's rules", .checksLeaks)
struct BindModelTests {
    static let user: [SocketOptionSetting] = [.uid(1000)]
    static let cases: [RuleCase] = [
        // socket() and setsockopt()
        RuleCase(name: "socket", steps: [socket("a")], outcome: .ok, rule: "socket", kernel: "inet_create"),
        RuleCase(
            name: "an option", steps: [socket("a"), set("a", .reuseaddr(true))], outcome: .ok, rule: "setsockopt",
            kernel: "sock_setsockopt"),
        RuleCase(name: "uid", steps: [socket("a"), set("a", .uid(1000))], outcome: .ok, rule: "credentials", kernel: "setresuid"),
        RuleCase(name: "caps", steps: [socket("a"), set("a", .caps([]))], outcome: .ok, rule: "credentials", kernel: "capset"),
        RuleCase(
            name: "IPV6_V6ONLY on inet", steps: [socket("a"), set("a", .v6only(true))], outcome: .errno("ENOPROTOOPT"),
            rule: "option-level", kernel: "ip_setsockopt"),
        RuleCase(
            name: "IPV6_V6ONLY after bind", steps: [socket("a", .inet6), bind("a", "::"), set("a", .v6only(true))],
            outcome: .errno("EINVAL"), rule: "v6only-after-bind", kernel: "do_ipv6_setsockopt"),
        RuleCase(
            name: "IP_TRANSPARENT without capability", steps: [socket("a", .inet, .tcp, user), set("a", .transparent(true))],
            outcome: .errno("EPERM"), rule: "transparent-needs-capability", kernel: "do_ip_setsockopt"),
        RuleCase(
            name: "SO_BINDTODEVICE to no interface", steps: [socket("a"), set("a", .device("nope"))], outcome: .errno("ENODEV"),
            rule: "no-such-device", kernel: "sock_setbindtodevice"),
        RuleCase(
            name: "SO_BINDTODEVICE changed without CAP_NET_RAW",
            steps: [socket("a", .inet, .tcp, user + [.device("bk0")]), set("a", .device("lo"))], outcome: .errno("EPERM"),
            rule: "rebind-device-needs-capability", kernel: "sock_bindtoindex_locked"),
        RuleCase(
            name: "IP_LOCAL_PORT_RANGE out of order", steps: [socket("a", .inet, .tcp, [.localPortRange(low: 5000, high: 4000)])],
            outcome: .errno("EINVAL"), rule: "port-range-order", kernel: "do_ip_setsockopt"),
        RuleCase(
            name: "no such socket", steps: [bind("a", "0.0.0.0")], outcome: .errno("EBADF"), rule: "no-socket", kernel: "sockfd_lookup"),
        // bind(): family and length, then __inet_bind's order
        RuleCase(
            name: "IPv6 address on inet", steps: [socket("a"), bind("a", "::1")], outcome: .errno("EAFNOSUPPORT"), rule: "family",
            kernel: "__inet_bind"),
        RuleCase(
            name: "IPv4 sockaddr on inet6", steps: [socket("a", .inet6), bind("a", "127.0.0.1")], outcome: .errno("EINVAL"),
            rule: "address-length", kernel: "inet6_bind"),
        RuleCase(
            name: "$id of a socket never bound", steps: [socket("a"), bind("a", "0.0.0.0", .reference("x"))], outcome: .errno("EINVAL"),
            rule: "unresolved-port", kernel: "(scenario)"),
        RuleCase(
            name: "IPv4 not local, before privilege", steps: [socket("a", .inet, .tcp, user), bind("a", "198.51.100.7", .number(80))],
            outcome: .errno("EADDRNOTAVAIL"), rule: "address-not-local", kernel: "__inet_bind"),
        RuleCase(
            name: "IPv4 privileged port", steps: [socket("a", .inet, .tcp, user), bind("a", "127.0.0.1", .number(80))],
            outcome: .errno("EACCES"), rule: "privileged-port", kernel: "__inet_bind"),
        RuleCase(
            name: "IPv4 already bound", steps: [socket("a"), bind("a", "127.0.0.1"), bind("a", "127.0.0.1", .number(4001))],
            outcome: .errno("EINVAL"), rule: "already-bound", kernel: "__inet_bind"),
        // __inet6_bind's order
        RuleCase(
            name: "IPv6 multicast on TCP", steps: [socket("a", .inet6), bind("a", "ff0e::1")], outcome: .errno("EINVAL"),
            rule: "tcp-multicast", kernel: "__inet6_bind"),
        RuleCase(
            name: "IPv6 privileged port, before locality",
            steps: [socket("a", .inet6, .tcp, user), bind("a", "2001:db8::9", .number(80))], outcome: .errno("EACCES"),
            rule: "privileged-port", kernel: "__inet6_bind"),
        RuleCase(
            name: "IPv6 already bound", steps: [socket("a", .inet6), bind("a", "::1"), bind("a", "::1", .number(4001))],
            outcome: .errno("EINVAL"), rule: "already-bound", kernel: "__inet6_bind"),
        RuleCase(
            name: "v4-mapped on IPV6_V6ONLY", steps: [socket("a", .inet6, .tcp, [.v6only(true)]), bind("a", "::ffff:127.0.0.1")],
            outcome: .errno("EINVAL"), rule: "v4mapped-on-v6only", kernel: "__inet6_bind"),
        RuleCase(
            name: "v4-mapped not local", steps: [socket("a", .inet6), bind("a", "::ffff:198.51.100.7")],
            outcome: .errno("EADDRNOTAVAIL"), rule: "address-not-local", kernel: "__inet6_bind"),
        RuleCase(
            name: "zone names no interface", steps: [socket("a", .inet6), bind("a", "fe80::1%nope")], outcome: .errno("ENODEV"),
            rule: "no-such-device", kernel: "if_nametoindex"),
        RuleCase(
            name: "link-local without scope", steps: [socket("a", .inet6), bind("a", "fe80::1")], outcome: .errno("EINVAL"),
            rule: "link-local-needs-scope", kernel: "__inet6_bind"),
        RuleCase(
            name: "scope of no interface", steps: [socket("a", .inet6), bind("a", "fe80::1%9")], outcome: .errno("ENODEV"),
            rule: "no-such-device", kernel: "dev_get_by_index"),
        RuleCase(
            name: "IPv6 not local", steps: [socket("a", .inet6), bind("a", "2001:db8::9")], outcome: .errno("EADDRNOTAVAIL"),
            rule: "address-not-local", kernel: "__inet6_bind"),
        RuleCase(
            name: "link-local on its device", steps: [socket("a", .inet6), bind("a", "fe80::1%bk0")], outcome: .ok, rule: "bind",
            kernel: "inet_csk_get_port"),
        // The port
        RuleCase(name: "TCP port", steps: [socket("a"), bind("a", "127.0.0.1")], outcome: .ok, rule: "bind", kernel: "inet_csk_get_port"),
        RuleCase(
            name: "UDP port 0", steps: [socket("a", .inet, .udp), bind("a", "0.0.0.0", .number(0))], outcome: .ok, rule: "bind",
            kernel: "udp_lib_get_port"),
        RuleCase(
            name: "TCP conflict", steps: [socket("a"), bind("a", "0.0.0.0"), socket("b"), bind("b", "127.0.0.1")],
            outcome: .errno("EADDRINUSE"), rule: "conflict", kernel: "inet_csk_bind_conflict"),
        RuleCase(
            name: "UDP conflict",
            steps: [socket("a", .inet6, .udp), bind("a", "::"), socket("b", .inet, .udp), bind("b", "127.0.0.1")],
            outcome: .errno("EADDRINUSE"), rule: "conflict", kernel: "udp_lib_lport_inuse"),
        RuleCase(
            name: "TCP ephemeral range exhausted",
            steps: [socket("a"), bind("a", "0.0.0.0", .number(0)), socket("b"), bind("b", "0.0.0.0", .number(0))],
            outcome: .errno("EADDRINUSE"), rule: "ephemeral-exhausted", kernel: "inet_csk_find_open_port",
            sysctls: BindSysctls(localPortRange: .init(low: 40000, high: 40000))),
        RuleCase(
            name: "UDP ephemeral range exhausted",
            steps: [
                socket("a", .inet, .udp), bind("a", "0.0.0.0", .number(0)), socket("b", .inet, .udp), bind("b", "0.0.0.0", .number(0)),
            ],
            outcome: .errno("EADDRINUSE"), rule: "ephemeral-exhausted", kernel: "udp_lib_get_port",
            sysctls: BindSysctls(localPortRange: .init(low: 40000, high: 40000))),
        // listen()
        RuleCase(
            name: "listen on UDP", steps: [socket("a", .inet, .udp), listen("a")], outcome: .errno("EOPNOTSUPP"), rule: "listen-udp",
            kernel: "sock_no_listen"),
        RuleCase(
            name: "listen autobinds", steps: [socket("a"), listen("a")], outcome: .ok, rule: "listen", kernel: "inet_csk_listen_start"),
        RuleCase(
            name: "listen again", steps: [socket("a"), listen("a"), listen("a")], outcome: .ok, rule: "listen", kernel: "__inet_listen_sk"),
        RuleCase(
            name: "listen re-checks the port",
            steps: [
                socket("a", .inet, .tcp, [.reuseaddr(true)]), bind("a", "0.0.0.0"), socket("b", .inet, .tcp, [.reuseaddr(true)]),
                bind("b", "127.0.0.1"), listen("a"), listen("b"),
            ],
            outcome: .errno("EADDRINUSE"), rule: "listen-conflict", kernel: "inet_csk_bind_conflict"),
        RuleCase(
            name: "listen finds no port", steps: [socket("a"), bind("a", "0.0.0.0", .number(40000)), socket("b"), listen("b")],
            outcome: .errno("EADDRINUSE"), rule: "ephemeral-exhausted", kernel: "inet_csk_find_open_port",
            sysctls: BindSysctls(localPortRange: .init(low: 40000, high: 40000))),
        // close and TIME_WAIT
        RuleCase(
            name: "close", steps: [socket("a"), bind("a", "127.0.0.1"), close("a")], outcome: .ok, rule: "close", kernel: "inet_release"),
        RuleCase(
            name: "TIME_WAIT entry",
            steps: [Step(id: "t", action: .timewait(AddressSpec(ip: ip("127.0.0.1"), port: .number(4000)), reuseaddr: false))],
            outcome: .ok, rule: "time-wait", kernel: "tcp_time_wait"),
        RuleCase(
            name: "bind onto a TIME_WAIT entry",
            steps: [
                Step(id: "t", action: .timewait(AddressSpec(ip: ip("127.0.0.1"), port: .number(4000)), reuseaddr: false)), socket("a"),
                bind("a", "127.0.0.1", .reference("t")),
            ],
            outcome: .errno("EADDRINUSE"), rule: "time-wait", kernel: "inet_csk_bind_conflict"),
    ]

    @Test("each rule names its kernel function", arguments: cases)
    func ruleAndKernelFunction(_ c: RuleCase) throws {
        var host = fixture
        host.sysctls = c.sysctls
        let last = try #require(BindModel(host: host).run(c.steps).last)
        #expect(last.outcome == c.outcome, "\(last.reason)")
        #expect(last.reason.rule == c.rule, "\(last.reason)")
        #expect(last.reason.kernel == c.kernel, "\(last.reason)")
    }

    @Test("without words, the same outcomes, rules, ports and tables", arguments: cases)
    func quietDecidesTheSame(_ c: RuleCase) {
        var host = fixture
        host.sysctls = c.sysctls
        let explaining = BindModel(host: host).run(c.steps)
        let quiet = BindModel(host: host, explains: false).run(c.steps)
        var applied = SocketTable()
        for (i, (e, q)) in zip(explaining, quiet).enumerated() {
            #expect(e.outcome == q.outcome, "step \(i)")
            #expect(e.table == q.table, "step \(i)")
            #expect([e.reason.rule, e.reason.kernel] == [q.reason.rule, q.reason.kernel], "step \(i)")
            #expect(e.reason.port == q.reason.port, "step \(i)")
            #expect(!e.reason.text.isEmpty, "step \(i)")
            #expect(q.reason.text.isEmpty && q.reason.holder == nil && q.reason.fix == nil, "step \(i)")
            // apply threads one table through the steps as run does.
            let a = BindModel(host: host, explains: false).apply(c.steps[i], to: &applied)
            #expect(a.outcome == q.outcome && a.reason == q.reason && applied == q.table, "step \(i)")
        }
    }
}
