import BindKit
import BindRules
import BindTestSupport
import Testing

@Suite(.checksLeaks) struct ScenarioTypesTests {
    static let everyOption: [SocketOptionSetting] = [
        .uid(0), .caps([.netBindService]), .reuseaddr(true), .reuseport(false), .v6only(true), .freebind(false),
        .transparent(true), .device("bk0"), .localPortRange(low: 1, high: 2), .broadcast(true),
    ]

    @Test func optionKeysFollowTheOrderOfTheContract() {
        #expect(
            SocketOptionSetting.orderedKeys == [
                "uid", "caps", "reuseaddr", "reuseport", "v6only", "freebind", "transparent", "device", "local_port_range",
                "broadcast",
            ])
        #expect(Self.everyOption.map(\.key) == SocketOptionSetting.orderedKeys)
        #expect(Self.everyOption.map(\.order) == Array(0..<10))
    }

    @Test func opsOfEveryAction() throws {
        let address = AddressSpec(ip: try IPAddress(parsing: "127.0.0.1"), port: .number(80))
        let steps: [Step] = [
            Step(id: "a", action: .socket(family: .inet, transport: .tcp, options: [])),
            Step(id: "a", action: .setsockopt(.reuseaddr(true))),
            Step(id: "a", action: .bind(address)),
            Step(id: "a", action: .listen(backlog: 128)),
            Step(id: "a", action: .close),
            Step(id: nil, action: .timewait(address, reuseaddr: false)),
            Step(id: "a", action: .connect(address)),
            Step(id: "a", action: .send(nil)),
        ]
        #expect(steps.map(\.op) == Step.ops)
        #expect(Step.ops == ["socket", "setsockopt", "bind", "listen", "close", "timewait", "connect", "send"])
    }

    @Test func descriptions() throws {
        #expect(PortSpec.number(8080).description == "8080")
        #expect(PortSpec.reference("srv").description == "$srv")
        #expect(BindRules.Expectation.ok.description == "ok")
        #expect(BindRules.Expectation.errno("EACCES").description == "EACCES")
        let v4 = AddressSpec(ip: try IPAddress(parsing: "0.0.0.0"), port: .reference("a"))
        #expect(v4.text == "0.0.0.0:$a")
        #expect(v4.description == "0.0.0.0:$a")
        #expect(v4.family == .inet)
        let v6 = AddressSpec(ip: try IPAddress(parsing: "fe80::1%2"), port: .number(0))
        #expect(v6.text == "[fe80::1%2]:0")
        #expect(v6.family == .inet6)
    }

    @Test func textIsPartOfTheAddress() throws {
        let ip = try IPAddress(parsing: "::")
        // Two spellings of one address are two specs: the text is kept as written.
        #expect(AddressSpec(ip: ip, port: .number(0), text: "[::]:0") != AddressSpec(ip: ip, port: .number(0), text: "[::0]:0"))
        #expect(AddressSpec(ip: ip, port: .number(0)) == AddressSpec(ip: ip, port: .number(0), text: "[::]:0"))
    }

    @Test func capsAreASet() {
        #expect(SocketOptionSetting.caps([.netAdmin, .netRaw]) == .caps([.netRaw, .netAdmin]))
        #expect(Capability.netBindService.rawValue == 10)
        #expect(Capability.netAdmin.rawValue == 12)
        #expect(Capability.sysAdmin.rawValue == 21)
        #expect(Capability.checkpointRestore.rawValue == 40)
    }

    @Test func scenarioDefaults() {
        let scenario = Scenario(name: "s", steps: [Step(id: "a", action: .close)])
        #expect(scenario.sysctls.isEmpty)
        #expect(scenario.steps.first?.expect == nil)
    }
}
