import BindKit
import BindRules

/// The sockets a live namespace has on a question's ports, as the model's table: each named by
/// the process that holds it (`pid 812 (nginx) fd 6`), or by what is known where no holder can be
/// seen (`inode 4443273 (uid 0, holder not visible)`).
///
/// Sockets the model cannot tell apart (same transport, family, local address, state for bind(),
/// creating uid, device, known options and holding processes: the 50,000 connections a server
/// accepted on its port) are one entry, which stands for all of them. For a bind that is exact:
/// the kernel refuses a bind when any socket on the port conflicts, and identical sockets
/// conflict alike. An unknown option of such a group is tried at each value for the whole group:
/// an answer that is the same for every value is the same for any mix of values.
public struct LiveTable: Sendable {
    /// Sockets the model takes as one.
    public struct Group: Sendable {
        /// The id in the table, which names the first socket (and how many more it stands for).
        public var id: String
        public var sockets: [InspectedSocket]
        public var first: InspectedSocket { sockets[0] }
    }

    public var groups: [Group]
    public var v6onlyDefault: Bool
    public var table: SocketTable

    /// The sockets of `inspection` that hold a port (not TCP request sockets), of `transports`.
    public init(_ inspection: Inspection, transports: Set<Transport>? = nil, v6onlyDefault: Bool) {
        self.v6onlyDefault = v6onlyDefault
        var index: [Key: Int] = [:]
        var members: [[InspectedSocket]] = []
        for s in inspection.sockets where s.socket.holdsPort && transports?.contains(s.socket.transport) != false {
            let k = Key(s)
            if let i = index[k] {
                members[i].append(s)
            } else {
                index[k] = members.count
                members.append([s])
            }
        }
        var used: Set<String> = []
        groups = members.map { m in
            var id = Self.name(m[0]) + (m.count > 1 ? " and \(m.count - 1) more like it" : "")
            if used.contains(id) { id += " #\(used.count)" }
            used.insert(id)
            return Group(id: id, sockets: m)
        }
        table = SocketTable()
        table = build()
    }

    /// The group an id of the table names.
    public func group(_ id: String) -> Group? { groups.first { $0.id == id } }

    /// The table, with IPV6_V6ONLY of the group `id` taken as `v6only` (what a fix would do).
    public func table(setting v6only: Bool, on id: String) -> SocketTable { build(v6only: (id, v6only)) }

    private func build(v6only change: (String, Bool)? = nil) -> SocketTable {
        var t = SocketTable()
        for g in groups {
            var s = g.first.socket
            var options = try? g.first.options?.get()
            if let (id, v) = change, id == g.id {
                s.v6only = v
                options?.v6only = v
            }
            t.addExisting(s, id: g.id, options: options, v6onlyDefault: v6onlyDefault)
        }
        return t
    }

    /// `pid 812 (nginx) fd 6`, `inode 4443273 (uid 0, holder not visible)`,
    /// `TIME_WAIT 127.0.0.1:5000 ↔ 127.0.0.1:41234`.
    static func name(_ s: InspectedSocket) -> String {
        if let h = s.holders.first {
            let more = s.holders.count > 1 ? " (and \(s.holders.count - 1) more processes)" : ""
            return "pid \(h.process.pid) (\(h.process.command)) fd \(h.fd)\(more)"
        }
        if s.socket.state == .timeWait || s.socket.inode == 0 {
            return "TIME_WAIT \(s.socket.local)" + (s.socket.remote.map { " ↔ \($0)" } ?? "")
        }
        return "inode \(s.socket.inode) (uid \(s.socket.uid), holder not visible)"
    }

    /// What the model sees of a socket.
    struct Key: Hashable {
        var transport: Transport
        var family: AddressFamily
        var local: SocketAddress
        var state: Int
        var uid: UInt32
        var reuseAddress: Bool?
        var reusePort: Bool?
        var v6only: Bool?
        var device: UInt32?
        var pids: [Int32]

        init(_ s: InspectedSocket) {
            let o = try? s.options?.get()
            transport = s.socket.transport
            family = s.socket.family
            local = s.socket.local
            switch s.socket.state {
            case .listening: state = 0
            case .timeWait: state = 1
            case .bound, .established, .other: state = 2
            }
            uid = s.socket.uid
            reuseAddress = o?.reuseAddress
            reusePort = o?.reusePort
            v6only = o?.v6only ?? s.socket.v6only
            device = s.socket.interfaceIndex ?? o?.deviceIndex
            pids = s.holders.map(\.process.pid)
        }
    }
}

/// A process holding a socket, for reports.
public struct ProcessReport: Sendable, Codable, Hashable {
    public var pid: Int32
    public var command: String
    public var commandLine: [String]
    public var uid: UInt32
    public var user: String?
    public var unit: String?
    public var container: String?
    /// The process's first descriptor of the socket.
    public var fd: Int32

    public init(_ h: HoldingProcess) {
        pid = h.process.pid
        command = h.process.command
        commandLine = h.process.commandLine
        uid = h.process.uid
        user = h.process.userName
        unit = h.process.unit
        container = h.process.container?.description
        fd = h.fd
    }
}

/// A socket (or a group of sockets the model takes as one) on a port, for reports.
public struct SocketReport: Sendable, Codable, Hashable {
    /// Its id in the model's table.
    public var id: String
    /// How many sockets it stands for.
    public var count: Int
    public var transport: String
    public var local: String
    /// The first one's peer, for a connected socket.
    public var remote: String?
    public var state: String
    /// `sk_uid`: the uid that created it.
    public var uid: UInt32
    public var inodes: [UInt64]
    /// Options as read (nil: unknown, see `optionsUnknown`).
    public var reuseaddr: Bool?
    public var reuseport: Bool?
    public var v6only: Bool?
    public var device: String?
    /// Why SO_REUSEADDR and SO_REUSEPORT are unknown, when they are.
    public var optionsUnknown: String?
    public var processes: [ProcessReport]
    /// One line: who holds it, its state and options.
    public var text: String

    public init(_ g: LiveTable.Group) {
        let s = g.first
        id = g.id
        count = g.sockets.count
        transport = s.socket.transport.rawValue
        local = "\(s.socket.local)"
        remote = s.socket.remote.map { "\($0)" }
        state = s.socket.state.rawValue
        uid = s.socket.uid
        inodes = g.sockets.map(\.socket.inode)
        switch s.options {
        case .success(let o)?:
            reuseaddr = o.reuseAddress
            reuseport = o.reusePort
            v6only = o.v6only ?? s.socket.v6only
            device = o.device
        case .failure(let why)?:
            optionsUnknown = why.description
            v6only = s.socket.v6only
            device = s.deviceName
        case nil:
            v6only = s.socket.v6only
            device = s.deviceName
        }
        if s.socket.family != .inet6 { v6only = nil }
        processes = s.holders.map(ProcessReport.init)
        let many = g.sockets.count > 1 ? "\(g.sockets.count) sockets: " : ""
        text = "\(many)\(s.holderWords), \(s.stateWords)"
    }
}
