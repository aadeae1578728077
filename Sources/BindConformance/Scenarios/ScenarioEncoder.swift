import BindKit
import BindRules

/// Writes scenarios in the format of shared/SCENARIOS.md, so that
/// `ScenarioDecoder.decode(text: ScenarioEncoder.encode(s), …) == s` for valid scenarios.
///
/// Keys come in the order of SCENARIOS.md (`op`, `id`, then the op's own keys, then
/// `expect`); defaults (`backlog` 128, `reuseaddr` false on `timewait`, empty `sysctls`)
/// are left out; each step is one line.
public enum ScenarioEncoder {
    /// One scenario as an object, several as an array (an empty list gives `[]`, which is not
    /// a valid scenario file), pretty, with one step a line, ending with a newline.
    public static func encode(_ scenarios: [Scenario]) -> String {
        let value: JSONValue
        let stepDepth: Int
        if scenarios.count == 1, let only = scenarios.first {
            value = only.jsonValue
            stepDepth = 2
        } else {
            value = .array(scenarios.map(\.jsonValue))
            stepDepth = 3
        }
        return value.serialized(.pretty(indent: 2, inlineDepth: stepDepth)) + "\n"
    }
}

extension Scenario {
    /// This scenario as the JSON object of a scenario file.
    public var jsonValue: JSONValue {
        var members = [JSONMember(key: "name", value: .string(name))]
        if !sysctls.isEmpty {
            members.append(JSONMember(key: "sysctls", value: .object(sysctls.map { JSONMember(key: $0.name, value: .string($0.value)) })))
        }
        members.append(JSONMember(key: "steps", value: .array(steps.map(\.jsonValue))))
        return .object(members)
    }
}

extension Step {
    /// This step as the JSON object of a scenario file.
    public var jsonValue: JSONValue {
        var members = [JSONMember(key: "op", value: .string(op))]
        if let id {
            members.append(JSONMember(key: "id", value: .string(id)))
        }
        switch action {
        case .socket(let family, let transport, let options):
            members.append(JSONMember(key: "family", value: .string(family == .inet ? "inet" : "inet6")))
            members.append(JSONMember(key: "type", value: .string(transport == .tcp ? "tcp" : "udp")))
            if on == .peer {
                members.append(JSONMember(key: "on", value: .string("peer")))
            }
            for option in options {
                members.append(JSONMember(key: option.key, value: option.jsonValue))
            }
        case .setsockopt(let option):
            members.append(JSONMember(key: "option", value: .string(option.key)))
            members.append(JSONMember(key: "value", value: option.jsonValue))
        case .bind(let address):
            members.append(JSONMember(key: "address", value: .string(address.text)))
        case .listen(let backlog):
            if backlog != 128 {
                members.append(JSONMember(key: "backlog", value: .integer(backlog)))
            }
        case .close:
            break
        case .timewait(let address, let reuseaddr):
            members.append(JSONMember(key: "address", value: .string(address.text)))
            if reuseaddr {
                members.append(JSONMember(key: "reuseaddr", value: .bool(true)))
            }
        case .connect(let address):
            members.append(JSONMember(key: "address", value: .string(address.text)))
        case .send(let address):
            if let address {
                members.append(JSONMember(key: "address", value: .string(address.text)))
            }
        }
        if let expect {
            members.append(JSONMember(key: "expect", value: .string(expect.description)))
        }
        if let expectBy {
            members.append(JSONMember(key: "expect_by", value: .array(expectBy.map { .string($0) })))
        }
        return .object(members)
    }
}

extension SocketOptionSetting {
    /// The value of this option as written in a scenario file.
    public var jsonValue: JSONValue {
        switch self {
        case .uid(let uid): .integer(uid)
        case .caps(let caps): .array(caps.sorted().map { .string($0.name) })
        case .reuseaddr(let on), .reuseport(let on), .v6only(let on), .freebind(let on), .transparent(let on), .broadcast(let on): .bool(on)
        case .device(let name): .string(name)
        case .localPortRange(let low, let high): .array([.integer(low), .integer(high)])
        }
    }
}
