import BindKit
import BindRules
import Foundation
import SystemPackage

/// A socket the executor holds, with its id and the credentials it runs under.
final class KernelSocket {
    let id: String
    let socket: Socket
    var uid: UInt32
    /// The effective capabilities, as a mask (bit N = capability N).
    var caps: UInt64
    /// The namespace the socket was created in.
    let side: Side
    /// Whether it listens (a connection may land in its accept queue).
    var listening = false

    init(_ socket: consuming Socket, id: String, uid: UInt32, caps: UInt64, side: Side = .host) {
        self.id = id
        self.socket = socket
        self.uid = uid
        self.caps = caps
        self.side = side
    }
}

/// Performs scenario steps against the real kernel, on the calling thread, which must already be
/// inside a private network namespace (see `withPrivateNamespace`). Every socket it opens is closed
/// when the executor is released; credentials are restored after every step.
package final class KernelExecutor {
    package init() { namespaces = nil }

    /// For a scenario with a peer: the namespaces to move between (the thread is in `host`
    /// between steps).
    package init(namespaces: ScenarioNamespaces) {
        self.namespaces = namespaces
    }

    let namespaces: ScenarioNamespaces?
    /// The receivers of the last `connect` (TCP) or `send` step, sorted by id; nil after any other step.
    package internal(set) var lastBy: [String]?
    /// Accepted ends of connections made by `connect` steps: open until the connecting socket or
    /// the listener is closed, or the run ends (closed first then).
    var accepted: [Accepted] = []
    /// How a `send` waits for its datagram to be delivered.
    package var settle = Settle.scenario

    /// The open sockets and the ports named by id: a cell has two or three, so a list searched
    /// in order is cheaper than a dictionary (kept allocated from one cell to the next).
    var sockets: [KernelSocket] = []
    private var ports: [(id: String, port: UInt16)] = []
    /// Interface indexes of the zone names bound so far (a step changes no interface, so a
    /// name is looked up once, not for every bind).
    private var interfaceIndexes: [(name: String, side: Side, index: UInt32)] = []
    /// Every capability, as a socket created by uid 0 without `caps` holds them.
    private let allCaps = Capability.mask(of: Set(Capability.allCases))
    /// The thread's permitted set: the most any step can hold.
    private let permitted: UInt64 = (try? ThreadCredentials.capabilityMasks().permitted) ?? 0

    /// Runs one step and names the result: "ok" or an errno name.
    package func perform(_ step: Step) -> Outcome {
        lastBy = nil
        let side: Side = if case .socket = step.action { step.on } else { socket(step.id)?.side ?? .host }
        guard side == .peer, let namespaces, let peer = namespaces.peer else { return performHere(step) }
        restoreCredentials()
        guard (try? NetworkNamespace.enter(peer)) != nil else { return .errno("EBADF") }
        let result = performHere(step)
        restoreCredentials()
        _ = try? NetworkNamespace.enter(namespaces.host)
        return result
    }

    /// Runs one step in the namespace the thread is in (the socket's).
    private func performHere(_ step: Step) -> Outcome {
        switch step.action {
        case .socket(let family, let transport, let options):
            return createSocket(step.id ?? "", family, transport, options, side: step.on)
        case .setsockopt(let option):
            guard let s = socket(step.id) else { return .errno("EBADF") }
            return asCreds(s.uid, s.caps) { setOption(option, on: s) }
        case .bind(let spec):
            guard let s = socket(step.id) else { return .errno("EBADF") }
            guard let address = resolve(spec, side: s.side) else { return .errno("EINVAL") }
            return asCreds(s.uid, s.caps) {
                outcome { () throws(SocketError) in
                    try s.socket.bind(to: address)
                    setPort(s.id, try s.socket.localPort)
                }
            }
        case .listen(let backlog):
            guard let s = socket(step.id) else { return .errno("EBADF") }
            return asCreds(s.uid, s.caps) {
                outcome { () throws(SocketError) in
                    try s.socket.listen(backlog: backlog)
                    s.listening = true
                    setPort(s.id, try s.socket.localPort)
                }
            }
        case .close:
            guard let i = sockets.firstIndex(where: { $0.id == step.id }) else { return .errno("EBADF") }
            closeAccepted(of: sockets[i].id)
            sockets.remove(at: i)  // released here: the socket closes in deinit
            return .ok
        case .connect(let spec):
            guard let s = socket(step.id) else { return .errno("EBADF") }
            guard let address = resolve(spec, side: s.side) else { return .errno("EINVAL") }
            return connect(s, to: address)
        case .send(let spec):
            guard let s = socket(step.id) else { return .errno("EBADF") }
            var address: SocketAddress?
            if let spec {
                guard let a = resolve(spec, side: s.side) else { return .errno("EINVAL") }
                address = a
            }
            return send(s, to: address)
        case .timewait(let spec, let reuseaddr):
            guard let address = resolve(spec) else { return .errno("EINVAL") }
            return timeWait(at: address, reuseaddr: reuseaddr, id: step.id)
        }
    }

    func socket(_ id: String?) -> KernelSocket? {
        sockets.first { $0.id == id }
    }

    func setPort(_ id: String, _ port: UInt16) {
        if let i = ports.firstIndex(where: { $0.id == id }) { ports[i].port = port } else { ports.append((id, port)) }
    }

    private func resolve(_ spec: AddressSpec, side: Side = .host) -> SocketAddress? {
        let ip = withZoneIndex(spec.ip, side: side)
        switch spec.port {
        case .number(let n): return SocketAddress(ip: ip, port: n)
        case .reference(let id): return ports.first { $0.id == id }.map { SocketAddress(ip: ip, port: $0.port) }
        }
    }

    /// `ip` with a zone name replaced by its interface index, looked up once per name. A name
    /// that names no interface stays (bind reports it as the kernel would).
    private func withZoneIndex(_ ip: IPAddress, side: Side) -> IPAddress {
        guard case .v6(var a) = ip, case .name(let name)? = a.zone else { return ip }
        if let known = interfaceIndexes.first(where: { $0.name == name && $0.side == side }) {
            a.zone = .index(known.index)
        } else {
            guard let index = try? Interface.index(named: name) else { return ip }
            interfaceIndexes.append((name, side, index))
            a.zone = .index(index)
        }
        return .v6(a)
    }

    func outcome(_ body: () throws(SocketError) -> Void) -> Outcome {
        do {
            try body()
            return .ok
        } catch {
            return .errno(error.errnoName)
        }
    }

    /// Runs `body` with the thread's effective uid and capabilities set as given, then restores
    /// uid 0 with every capability. Only this thread changes (raw setresuid, capset).
    /// The credentials this thread holds now (read once, then tracked).
    private var heldUID: UInt32 = geteuid()
    private var heldMask: UInt64 = (try? ThreadCredentials.capabilityMasks().effective) ?? 0

    /// Runs `body` with the thread's effective uid and capabilities set as given. Only this
    /// thread changes (raw setresuid, capset), and only when they differ from what it holds;
    /// `restoreCredentials()` goes back to uid 0 with every permitted capability.
    func asCreds(_ uid: UInt32, _ caps: UInt64, _ body: () -> Outcome) -> Outcome {
        // Only what the process holds can be made effective (a container may lack some).
        become(uid, caps & permitted)
        return body()
    }

    private func become(_ uid: UInt32, _ mask: UInt64) {
        if uid == heldUID && mask == heldMask { return }
        if uid != heldUID {
            // Another non-zero uid is reached through 0 (only uid 0 may take any euid). From 0
            // the kernel clears the effective set, back to 0 it restores it: it is set after.
            if heldUID != 0 && uid != 0 && (try? ThreadCredentials.setEffectiveUID(0)) != nil { heldUID = 0 }
            if (try? ThreadCredentials.setEffectiveUID(uid)) != nil { heldUID = uid }
        }
        if (try? ThreadCredentials.setEffectiveCapabilities(mask)) != nil { heldMask = mask }
    }

    /// Back to uid 0 with every permitted capability (a no-op when already so).
    func restoreCredentials() {
        become(0, permitted)
    }

    private func createSocket(
        _ id: String, _ family: AddressFamily, _ transport: Transport, _ options: [SocketOptionSetting], side: Side = .host
    ) -> Outcome {
        var uid: UInt32 = 0
        var caps: Set<Capability>?
        for o in options {
            if case .uid(let u) = o { uid = u }
            if case .caps(let c) = o { caps = c }
        }
        let effective = caps.map(Capability.mask(of:)) ?? (uid == 0 ? allCaps : 0)
        return asCreds(uid, effective) {
            let s: Socket
            do throws(SocketError) { s = try Socket(family: family, transport: transport) } catch { return .errno(error.errnoName) }
            let held = KernelSocket(s, id: id, uid: uid, caps: effective, side: side)
            if let i = sockets.firstIndex(where: { $0.id == id }) { sockets[i] = held } else { sockets.append(held) }
            for o in options {
                if case .uid = o { continue }
                if case .caps = o { continue }
                let r = setOption(o, on: held)
                if r != .ok { return r }
            }
            return .ok
        }
    }

    private func setOption(_ option: SocketOptionSetting, on s: KernelSocket) -> Outcome {
        switch option {
        case .uid(let u):
            s.uid = u
            return .ok
        case .caps(let c):
            s.caps = Capability.mask(of: c)
            return .ok
        case .reuseaddr(let v): return outcome { () throws(SocketError) in try s.socket.setReuseAddress(v) }
        case .reuseport(let v): return outcome { () throws(SocketError) in try s.socket.setReusePort(v) }
        case .v6only(let v): return outcome { () throws(SocketError) in try s.socket.setV6Only(v) }
        case .freebind(let v): return outcome { () throws(SocketError) in try s.socket.setFreebind(v) }
        case .transparent(let v): return outcome { () throws(SocketError) in try s.socket.setTransparent(v) }
        case .device(let name): return outcome { () throws(SocketError) in try s.socket.setBindToDevice(name) }
        case .localPortRange(let low, let high):
            return outcome { () throws(SocketError) in try s.socket.setLocalPortRange(low == 0 && high == 0 ? nil : (low, high)) }
        case .broadcast(let v): return outcome { () throws(SocketError) in try s.socket.setBroadcast(v) }
        }
    }

    /// A listener accepts one connection whose accepted side closes first, leaving TIME_WAIT on
    /// the connection's local address; client and listener are then closed.
    private func timeWait(at address: SocketAddress, reuseaddr: Bool, id: String?) -> Outcome {
        restoreCredentials()
        do throws(SocketError) {
            let listener = try Socket(family: address.family, transport: .tcp)
            try listener.setReuseAddress(reuseaddr)
            try listener.bind(to: address)
            try listener.listen(backlog: 4)
            if let id { setPort(id, try listener.localPort) }
            try Self.connectAndCloseAccepted(listener)
            return .ok
        } catch {
            return .errno(error.errnoName)
        }
    }

    /// Leaves a TIME_WAIT entry from the listening socket `id`, which stays open.
    func leaveTimeWait(_ id: String) -> Outcome {
        guard let s = socket(id) else { return .errno("EBADF") }
        restoreCredentials()
        return outcome { () throws(SocketError) in try Self.connectAndCloseAccepted(s.socket) }
    }

    /// A client connects to the listener (to the loopback when it is bound to a wildcard), the
    /// listener accepts, and the accepted side closes first: it takes TIME_WAIT once the client's
    /// FIN arrives. The client is closed before returning.
    static func connectAndCloseAccepted(_ listener: borrowing Socket) throws(SocketError) {
        var target = try listener.localAddress
        switch target.ip {
        case .v4(let a) where a.isUnspecified: target.ip = .v4(.loopback)
        case .v6(let a) where a.isUnspecified: target.ip = .v6(.loopback)
        case .v6(let a) where a.v4Mapped?.isUnspecified == true: target.ip = .v6(IPv6Address(v4Mapped: .loopback))
        default: break
        }
        // Right after the fixture is built, IPv6 routing can still answer EHOSTUNREACH for a
        // moment (addrconf work in progress): retry the connection, with a new client each time.
        var attempt = 0
        var connected: Socket?
        while connected == nil {
            let c = try Socket(family: listener.family, transport: .tcp)
            do throws(SocketError) {
                try c.connect(to: target, timeout: .seconds(5))
                connected = consume c
            } catch  where (error.errno == .noRouteToHost || error.errno == .networkUnreachable) && attempt < 200 {
                attempt += 1
                usleep(5000)
            }
        }
        guard let client = connected.take() else { throw SocketError(errno: .noRouteToHost, operation: "connect", address: target) }
        do {
            let accepted = try listener.accept()
            try accepted.close()
        }
        // The client sees EOF, then sends its FIN; once it is CLOSED the accepted side has
        // taken TIME_WAIT.
        var byte: UInt8 = 0
        _ = Glibc.read(client.descriptor, &byte, 1)
        try client.shutdown(.write)
        for _ in 0..<5000 {
            if (try? client.tcpState()) == .close { break }
            usleep(200)
        }
    }

    /// Closes every socket (the executor can then run another cell).
    package func closeAll() {
        accepted.removeAll()
        sockets.removeAll(keepingCapacity: true)
        ports.removeAll(keepingCapacity: true)
        restoreCredentials()
    }

    deinit {
        accepted.removeAll()  // the accepted ends close first
        restoreCredentials()
    }
}
