import BindKit
import BindRules
import BindTestSupport
import Testing

// The rules that changed between releases, each answered for the kernels on either side of its
// change. The outcomes for 5.10.223, 6.1.176, 6.12.117 and 6.18.44 are what those kernels
// answered to the same steps (Tests/Scenarios/kernels under scripts/kernels.sh, and on this
// machine); the sublevels between (6.1.167, 6.12.79, 6.7, 6.1.4) come from the release each
// change landed in (KernelChanges.swift): no kernel of those was booted.

private func socket(_ id: String, _ family: AddressFamily = .inet, _ transport: Transport = .tcp, _ options: [SocketOptionSetting] = [])
    -> Step
{
    Step(id: id, action: .socket(family: family, transport: transport, options: options))
}

private func bind(_ id: String, _ address: String, _ port: UInt16 = 5000) -> Step {
    Step(id: id, action: .bind(AddressSpec(ip: ip(address), port: .number(port))))
}

private func set(_ id: String, _ option: SocketOptionSetting) -> Step { Step(id: id, action: .setsockopt(option)) }
private func listen(_ id: String) -> Step { Step(id: id, action: .listen(backlog: 128)) }
private func timewait(_ address: String, _ port: UInt16 = 5000) -> Step {
    Step(id: nil, action: .timewait(AddressSpec(ip: ip(address), port: .number(port)), reuseaddr: false))
}

private func v(_ text: String) -> KernelVersion {
    KernelVersion(text) ?? KernelVersion(0, 0)
}

/// The outcome of the last step under kernel `version` (nil: the host's kernel unknown).
private func lastOutcome(_ steps: [Step], _ version: KernelVersion?, sysctls: BindSysctls = BindSysctls()) -> String {
    var host = fixture
    host.sysctls = sysctls
    host.kernel = version
    return BindModel(host: host).run(steps).last?.outcome.description ?? "none"
}

struct KernelCase: Sendable, CustomTestStringConvertible {
    var name: String
    var steps: [Step]
    /// Each release and the last step's outcome there.
    var outcomes: [(String, String)]
    var sysctls = BindSysctls()
    var testDescription: String { name }
}

@Suite("Rules keyed by the kernel release", .checksLeaks)
struct KernelVersionTests {
    static let elevenUDP: [Step] = (1...11).flatMap { i in
        [socket("h\(i)", .inet, .udp), bind("h\(i)", "127.0.0.\(i)")]
    }

    static let cases: [KernelCase] = [
        // A: IP_LOCAL_PORT_RANGE (91d0b78c5177, 6.3; stable 6.1.32).
        KernelCase(
            name: "A: IP_LOCAL_PORT_RANGE on socket()",
            steps: [socket("a", .inet, .tcp, [.localPortRange(low: 40000, high: 40009)])],
            outcomes: [
                ("5.10.223", "ENOPROTOOPT"), ("6.1.31", "ENOPROTOOPT"), ("6.1.32", "ok"), ("6.1.176", "ok"), ("6.2", "ENOPROTOOPT"),
                ("6.3", "ok"), ("6.12.117", "ok"), ("6.18.44", "ok"),
            ]),
        KernelCase(
            name: "A: IP_LOCAL_PORT_RANGE by setsockopt, inet6 UDP",
            steps: [socket("a", .inet6, .udp), set("a", .localPortRange(low: 40000, high: 40009))],
            outcomes: [("5.10.223", "ENOPROTOOPT"), ("6.1.176", "ok"), ("6.18.44", "ok")]),
        // B: a subnet's lowest address (94c821c74bf5, 5.14).
        KernelCase(
            name: "B: 192.0.2.0 of 192.0.2.1/24",
            steps: [socket("a"), bind("a", "192.0.2.0")],
            outcomes: [
                ("5.10.223", "ok"), ("5.13", "ok"), ("5.14", "EADDRNOTAVAIL"), ("6.1.176", "EADDRNOTAVAIL"), ("6.18.44", "EADDRNOTAVAIL"),
            ]),
        KernelCase(
            name: "B: [::ffff:192.0.2.0], UDP",
            steps: [socket("a", .inet6, .udp), bind("a", "::ffff:192.0.2.0")],
            outcomes: [("5.10.223", "ok"), ("6.1.176", "EADDRNOTAVAIL"), ("6.12.117", "EADDRNOTAVAIL")]),
        KernelCase(
            name: "B control: the broadcast address binds everywhere",
            steps: [socket("a", .inet, .udp), bind("a", "192.0.2.255")],
            outcomes: [("5.10.223", "ok"), ("6.1.176", "ok"), ("6.18.44", "ok")]),
        // C: bhash2 (28044fc1d495, 6.1).
        KernelCase(
            name: "C: inet 127.0.0.6 beside the TIME_WAIT of a dual-stack listener's child on [::1]",
            steps: [timewait("::"), socket("a"), bind("a", "127.0.0.6")],
            outcomes: [("5.10.223", "EADDRINUSE"), ("6.0", "EADDRINUSE"), ("6.1.176", "ok"), ("6.12.117", "ok"), ("6.18.44", "ok")]),
        KernelCase(
            name: "C control: inet 127.0.0.5 beside it binds everywhere",
            steps: [timewait("::"), socket("a"), bind("a", "127.0.0.5")],
            outcomes: [("5.10.223", "ok"), ("6.1.176", "ok"), ("6.18.44", "ok")]),
        // 936a192f9740 (6.2, stable 6.1.5): TIME_WAIT entries in bhash2.
        KernelCase(
            name: "C: a TIME_WAIT on 127.0.0.1 refuses 127.0.0.1, except 6.1.0 to 6.1.4",
            steps: [timewait("127.0.0.1"), socket("a"), bind("a", "127.0.0.1")],
            outcomes: [
                ("5.10.223", "EADDRINUSE"), ("6.1.4", "ok"), ("6.1.5", "EADDRINUSE"), ("6.1.176", "EADDRINUSE"), ("6.18.44", "EADDRINUSE"),
            ]),
        // D: UDP hash2 (e537dd15d0d4, 7.0; 6.1.168, 6.12.80, 6.18.21).
        KernelCase(
            name: "D: a UDP wildcard beside eleven specific holders",
            steps: elevenUDP + [socket("w", .inet, .udp), bind("w", "0.0.0.0")],
            outcomes: [
                ("5.10.223", "ok"), ("6.1.167", "ok"), ("6.1.168", "EADDRINUSE"), ("6.1.176", "EADDRINUSE"), ("6.12.79", "ok"),
                ("6.12.117", "EADDRINUSE"), ("6.18.20", "ok"), ("6.18.44", "EADDRINUSE"), ("7.0", "EADDRINUSE"),
            ]),
        KernelCase(
            name: "D: a dual-stack [::] beside eleven specific inet holders",
            steps: elevenUDP + [socket("w", .inet6, .udp), bind("w", "::")],
            outcomes: [("5.10.223", "ok"), ("6.1.176", "EADDRINUSE"), ("6.12.117", "EADDRINUSE")]),
        KernelCase(
            name: "D control: ten holders refuse the wildcard everywhere",
            steps: Array(elevenUDP.dropLast(2)) + [socket("w", .inet, .udp), bind("w", "0.0.0.0")],
            outcomes: [("5.10.223", "EADDRINUSE"), ("6.1.176", "EADDRINUSE"), ("6.18.44", "EADDRINUSE")]),
        // E: the bind bucket's fast path (822fb91fc724 + 8002d44fe84d, 6.8).
        KernelCase(
            name: "E: SO_REUSEADDR cleared after bind, a SO_REUSEADDR newcomer",
            steps: [
                socket("a", .inet, .tcp, [.reuseaddr(true)]), bind("a", "127.0.0.1"), set("a", .reuseaddr(false)),
                socket("b", .inet, .tcp, [.reuseaddr(true)]), bind("b", "127.0.0.1"),
            ],
            outcomes: [
                ("5.10.223", "ok"), ("6.1.176", "ok"), ("6.7", "ok"), ("6.8", "EADDRINUSE"), ("6.12.117", "EADDRINUSE"),
                ("6.18.44", "EADDRINUSE"),
            ]),
        KernelCase(
            name: "E: SO_REUSEPORT cleared after bind on 127.0.0.1, a SO_REUSEPORT 0.0.0.0 (FASTREUSEPORT_ANY)",
            steps: [
                socket("a", .inet, .tcp, [.reuseport(true)]), bind("a", "127.0.0.1"), set("a", .reuseport(false)),
                socket("b", .inet, .tcp, [.reuseport(true)]), bind("b", "0.0.0.0"),
            ],
            outcomes: [("5.10.223", "ok"), ("6.1.176", "ok"), ("6.12.117", "EADDRINUSE"), ("6.18.44", "EADDRINUSE")]),
        KernelCase(
            name: "E control: a listener clears the fast path, a SO_REUSEADDR newcomer is refused everywhere",
            steps: [
                socket("a", .inet, .tcp, [.reuseaddr(true)]), bind("a", "127.0.0.1"), listen("a"),
                socket("b", .inet, .tcp, [.reuseaddr(true)]), bind("b", "127.0.0.1"),
            ],
            outcomes: [("5.10.223", "EADDRINUSE"), ("6.1.176", "EADDRINUSE"), ("6.18.44", "EADDRINUSE")]),
        // F: v4-mapped in bhash2 (5e07e672412b in 6.1.168 without 06a8c04f8994).
        KernelCase(
            name: "F: [::ffff:0.0.0.0] held, [::ffff:127.0.0.1]",
            steps: [socket("a", .inet6), bind("a", "::ffff:0.0.0.0"), socket("b", .inet6), bind("b", "::ffff:127.0.0.1")],
            outcomes: [
                ("5.10.223", "EADDRINUSE"), ("6.1.167", "EADDRINUSE"), ("6.1.168", "ok"), ("6.1.176", "ok"), ("6.1", "ok"),
                ("6.12.117", "EADDRINUSE"), ("6.18.44", "EADDRINUSE"),
            ]),
        KernelCase(
            name: "F: [::ffff:0.0.0.0] listening, [::ffff:192.0.2.1] with SO_REUSEPORT",
            steps: [
                socket("a", .inet6), bind("a", "::ffff:0.0.0.0"), listen("a"), socket("b", .inet6, .tcp, [.reuseport(true)]),
                bind("b", "::ffff:192.0.2.1"),
            ],
            outcomes: [("5.10.223", "EADDRINUSE"), ("6.1.176", "ok"), ("6.12.117", "EADDRINUSE")]),
        KernelCase(
            name: "F control: [::ffff:0.0.0.0] held, inet 127.0.0.1 refused everywhere",
            steps: [socket("a", .inet6), bind("a", "::ffff:0.0.0.0"), socket("b"), bind("b", "127.0.0.1")],
            outcomes: [("5.10.223", "EADDRINUSE"), ("6.1.176", "EADDRINUSE"), ("6.18.44", "EADDRINUSE")]),
    ]

    @Test("the last step's outcome on each release", arguments: cases)
    func outcomes(_ c: KernelCase) {
        for (release, want) in c.outcomes {
            #expect(lastOutcome(c.steps, v(release), sysctls: c.sysctls) == want, "\(c.name) on \(release)")
        }
    }

    @Test("a model without words decides as one with them, on each release", arguments: cases)
    func withoutWords(_ c: KernelCase) {
        for (release, _) in c.outcomes {
            var host = fixture
            host.kernel = v(release)
            let a = BindModel(host: host).run(c.steps).map(\.outcome)
            let b = BindModel(host: host, explains: false).run(c.steps).map(\.outcome)
            #expect(a == b, "\(c.name) on \(release)")
        }
    }

    @Test("releases as uname gives them")
    func parsing() {
        #expect(KernelVersion(release: "6.1.0-31-cloud-amd64") == KernelVersion(6, 1, 0))
        #expect(
            KernelVersion(release: "6.1.0-31-cloud-amd64", build: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.168-1 (2026-03-28)")
                == KernelVersion(6, 1, 168))
        #expect(
            KernelVersion(release: "5.10.0-32-cloud-amd64", build: "#1 SMP Debian 5.10.223-1 (2024-08-10)") == KernelVersion(5, 10, 223))
        #expect(
            KernelVersion(release: "6.12.117+deb13-cloud-amd64", build: "#1 SMP PREEMPT_DYNAMIC Debian 6.12.117-1 (2026-01-01)")
                == KernelVersion(6, 12, 117))
        #expect(KernelVersion(release: "6.18.44-fc-v857", build: "#1 SMP") == KernelVersion(6, 18, 44))
        // Ubuntu's build names its own package, not a kernel version: the release's sublevel stays.
        #expect(KernelVersion(release: "6.8.0-45-generic", build: "#45-Ubuntu SMP PREEMPT_DYNAMIC") == KernelVersion(6, 8, 0))
        // A Debian build of another series is not this kernel's.
        #expect(KernelVersion(release: "6.12.1-custom", build: "#1 Debian 6.1.168-1") == KernelVersion(6, 12, 1))
        #expect(KernelVersion("6.1") == KernelVersion(6, 1, nil))
        #expect(KernelVersion("7.0-rc3") == KernelVersion(7, 0, nil))
        #expect(KernelVersion("linux") == nil)
        #expect(KernelVersion("") == nil)
        #expect(KernelVersion("6") == nil)
    }

    @Test("a release without a sublevel is the newest of its series")
    func ordering() {
        #expect(v("6.1.168") < v("6.1"))
        #expect(v("6.1") < v("6.2.0"))
        #expect(v("5.10.223") < v("6.1.0"))
        #expect(v("6.9") < v("6.10.1"))
    }

    @Test("an unknown, newer, older or unchecked release gets a note; a checked one none")
    func notes() {
        func note(_ k: KernelVersion?) -> String? {
            var host = fixture
            host.kernel = k
            return BindModel(host: host).kernelNote
        }
        #expect(note(v("6.18.44")) == nil)
        #expect(note(v("6.1.176")) == nil)
        #expect(note(v("5.10")) == nil)
        // A host described without a kernel gets the newest rules, silently; facts whose
        // release names no version, with a note.
        #expect(note(nil) == nil)
        var unreadable = fixture
        unreadable.unreadableKernelRelease = "custom"
        #expect(BindModel(host: unreadable).kernelNote?.contains("names no version") == true)
        #expect(note(v("7.1.2"))?.contains("newer") == true)
        #expect(note(v("4.19.300"))?.contains("older") == true)
        #expect(note(v("6.6.50"))?.contains("not checked") == true)
        // The note ends each reason with words; the newest rules answer a future kernel.
        var host = fixture
        host.kernel = v("7.1")
        let steps = [socket("a"), bind("a", "192.0.2.0")]
        let p = BindModel(host: host).run(steps)
        #expect(p.last?.outcome.description == "EADDRNOTAVAIL")
        #expect(p.last?.reason.text.contains("newer than the newest release") == true)
        #expect(BindModel(host: host).kernel == KernelVersion.newestKnown)
    }

    @Test("the changes between two releases")
    func changes() {
        let all = KernelChanges.changes(between: v("5.10.223"), and: v("6.18.44")).map(\.commit)
        #expect(Set(all) == Set(KernelChanges.all.map(\.commit)))
        #expect(KernelChanges.changes(between: v("6.12.117"), and: v("6.18.44")).isEmpty)
        #expect(Set(KernelChanges.changes(between: v("6.1.167"), and: v("6.1.176")).map(\.commit)) == ["5e07e672412b", "e537dd15d0d4"])
        #expect(
            KernelChanges.changes(between: v("6.1.176"), and: v("6.12.117")).map(\.commit).sorted()
                == ["06a8c04f8994", "822fb91fc724"])
        #expect(KernelChanges.changes(of: "address-not-local", between: v("6.18"), and: v("5.10")).map(\.commit) == ["94c821c74bf5"])
        // Either order, the same changes.
        #expect(KernelChanges.changes(between: v("6.1"), and: v("5.10")) == KernelChanges.changes(between: v("5.10"), and: v("6.1")))
    }
}
