import BindKit
import BindTestSupport
import CBindShim
import Foundation
import PropertyBased
import SystemPackage
import Testing

// The sock_diag reply parser and the request builder, without the kernel: messages laid out by
// hand as <linux/inet_diag.h> and FACTS.md describe them, the exact request bytes `bkdiag
// request` printed, and a port of the kernel's bytecode interpreter and audit for the filter. The
// kernel's own replies are LiveHostTests'.

/// Netlink messages as the kernel writes them (host byte order, 4-byte aligned).
struct DiagWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v) { bytes += $0 } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v) { bytes += $0 } }
    mutating func pad() { while bytes.count % 4 != 0 { bytes.append(0) } }

    /// One netlink message of `type` and `seq` around `payload`.
    mutating func message(type: Int32, seq: UInt32, _ payload: [UInt8]) {
        u32(UInt32(16 + payload.count))
        u16(UInt16(type))
        u16(0x2)  // NLM_F_MULTI
        u32(seq)
        u32(0)
        bytes += payload
        pad()
    }

    /// An `inet_diag_msg` and its attributes.
    static func diag(
        family: UInt8, state: UInt8, timer: UInt8 = 0, sport: UInt16, dport: UInt16 = 0, src: [UInt8], dst: [UInt8] = [],
        ifindex: UInt32 = 0, cookie: UInt64 = 0, uid: UInt32 = 0, inode: UInt32 = 0, attributes: [(UInt16, [UInt8])] = []
    ) -> [UInt8] {
        var w = DiagWriter()
        w.u8(family)
        w.u8(state)
        w.u8(timer)
        w.u8(0)
        w.u16(sport.bigEndian)
        w.u16(dport.bigEndian)
        w.bytes += src + [UInt8](repeating: 0, count: 16 - src.count)
        w.bytes += dst + [UInt8](repeating: 0, count: 16 - dst.count)
        w.u32(ifindex)
        w.u32(UInt32(truncatingIfNeeded: cookie))
        w.u32(UInt32(truncatingIfNeeded: cookie >> 32))
        w.u32(0)  // expires
        w.u32(0)  // rqueue
        w.u32(0)  // wqueue
        w.u32(uid)
        w.u32(inode)
        for (type, value) in attributes {
            w.u16(UInt16(4 + value.count))
            w.u16(type)
            w.bytes += value
            w.pad()
        }
        return w.bytes
    }

    mutating func done(seq: UInt32, error: Int32 = 0) {
        message(type: BK_NLMSG_DONE, seq: seq, withUnsafeBytes(of: error) { Array($0) })
    }
}

private let v6any = [UInt8](repeating: 0, count: 16)
private let mappedLoopback: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1]

private func parse(_ bytes: [UInt8], seq: UInt32 = 7, _ transport: Transport = .tcp) -> Result<
    (sockets: [HostSocket], progress: SockDiagReply.Progress), SockDiagError
> {
    SockDiagReply.parse(bytes, sequence: seq, transport: transport)
}

/// One bytecode op at `i`: its code, the steps taken when it holds or not, and the port of a
/// port comparison (the next op's `no`).
private func op(_ bc: [UInt8], _ i: Int) -> (code: UInt8, yes: Int, no: Int, port: UInt16)? {
    guard i >= 0, i + 4 <= bc.count else { return nil }
    let port = i + 8 <= bc.count ? UInt16(bc[i + 6]) | UInt16(bc[i + 7]) << 8 : 0
    return (bc[i], Int(bc[i + 1]), Int(UInt16(bc[i + 2]) | UInt16(bc[i + 3]) << 8), port)
}

/// `inet_diag_bc_run()` (net/ipv4/inet_diag.c) for the local-port conditions.
private func bcRun(_ bc: [UInt8], port: UInt16) -> Bool {
    var i = 0
    var len = bc.count
    while len > 0 {
        guard let o = op(bc, i) else { return false }
        let taken: Bool
        switch o.code {
        case 0: taken = true  // NOP
        case 1: taken = false  // JMP
        case 2: taken = port >= o.port  // S_GE
        case 3: taken = port <= o.port  // S_LE
        case 11: taken = port == o.port  // S_EQ
        default: return false
        }
        let step = taken ? o.yes : o.no
        len -= step
        i += step
    }
    return len == 0
}

/// `inet_diag_bc_audit()` and `valid_cc()` for the ops the filter uses.
private func bcAudit(_ bc: [UInt8]) -> Bool {
    func validCC(_ cc: Int) -> Bool {
        var i = 0
        var len = bc.count
        while len >= 0 {
            if cc > len { return false }
            if cc == len { return true }
            guard let o = op(bc, i), o.yes >= 4, o.yes & 3 == 0 else { return false }
            len -= o.yes
            i += o.yes
        }
        return false
    }
    var i = 0
    var len = bc.count
    while len > 0 {
        guard let o = op(bc, i) else { return false }
        var minLength = 4
        switch o.code {
        case 2, 3, 11:
            guard len >= 8 else { return false }
            minLength = 8
        case 0, 1: break
        default: return false
        }
        if o.code != 0 {
            if o.no < minLength || o.no > len + 4 || o.no & 3 != 0 { return false }
            if o.no < len && !validCC(len - o.no) { return false }
        }
        if o.yes < minLength || o.yes > len + 4 || o.yes & 3 != 0 { return false }
        i += o.yes
        len -= o.yes
    }
    return len == 0
}

private func bytecode(_ ports: [UInt16], form: Int32) -> [UInt8]? {
    var out = [UInt8](repeating: 0, count: ports.count * 20 + 16)
    let n = ports.withUnsafeBufferPointer { p in
        out.withUnsafeMutableBufferPointer { bk_diag_bytecode(p.baseAddress, Int32(p.count), form, $0.baseAddress, $0.count) }
    }
    return n < 0 ? nil : Array(out.prefix(Int(n)))
}

@Suite("sock_diag replies and requests", .checksLeaks)
struct SockDiagReplyTests {
    @Test("an inet6 listener: every field and attribute, in the kernel's byte orders")
    func listenerFields() throws {
        var w = DiagWriter()
        let cgroup = withUnsafeBytes(of: UInt64(0x1234_5678_9abc)) { Array($0) }
        let msg = DiagWriter.diag(
            family: 10, state: 10, sport: 8080, src: v6any, ifindex: 0, cookie: 0x1_0000_07b4, uid: 65534, inode: 30_306_845,
            attributes: [
                (UInt16(BK_INET_DIAG_SHUTDOWN), [0]), (UInt16(BK_INET_DIAG_SKV6ONLY), [1]), (UInt16(BK_INET_DIAG_CGROUP_ID), cgroup),
                (UInt16(BK_INET_DIAG_SOCKOPT), [0x36, 0x00]), (0x7fff, [1, 2, 3]),
            ])
        w.message(type: BK_SOCK_DIAG_BY_FAMILY, seq: 7, msg)
        w.done(seq: 7)
        let (sockets, progress) = try parse(w.bytes).get()
        #expect(progress == .done)
        let s = try #require(sockets.first)
        #expect(sockets.count == 1)
        let local = try SocketAddress(parsing: "[::]:8080")
        #expect(s.family == .inet6 && s.transport == .tcp && s.local == local)
        #expect(s.state == .listening && s.kernelState == .listen && s.remote == nil)
        #expect(s.uid == 65534 && s.inode == 30_306_845 && s.cookie == 0x1_0000_07b4)
        #expect(s.interfaceIndex == 0 && s.v6only == true && s.cgroupID == 0x1234_5678_9abc)
        #expect(s.freebind == true && s.transparent == true, "0x036: is_icsk, freebind, mc_loop, transparent")
        #expect(s.source == .sockDiag)
    }

    @Test("an inet socket: addresses, peer, device, cookie halves; absent attributes stay unknown")
    func inetFields() throws {
        var w = DiagWriter()
        let msg = DiagWriter.diag(
            family: 2, state: 1, sport: 8022, dport: 8020, src: [127, 0, 0, 1], dst: [127, 0, 0, 2], ifindex: 1,
            cookie: 0xdead_beef_0000_0001,
            uid: 1000, inode: 42)
        w.message(type: BK_TCPDIAG_GETSOCK, seq: 7, msg)
        let (sockets, progress) = try parse(w.bytes, .udp).get()
        #expect(progress == .more)
        let s = try #require(sockets.first)
        let (local, remote) = (try SocketAddress(parsing: "127.0.0.1:8022"), try SocketAddress(parsing: "127.0.0.2:8020"))
        #expect(s.local == local && s.remote == remote)
        #expect(s.state == .established && s.transport == .udp && s.interfaceIndex == 1 && s.cookie == 0xdead_beef_0000_0001)
        #expect(s.v6only == nil && s.freebind == nil && s.transparent == nil && s.cgroupID == nil)
    }

    @Test(
        "kernel states as the model reads them",
        arguments: [
            (UInt8(10), UInt8(0), HostSocket.State.listening), (7, 0, .bound), (1, 0, .established), (6, 3, .timeWait),
            (5, 3, .timeWait), (5, 0, .other), (2, 0, .other), (3, 1, .other), (8, 0, .other),
        ])
    func states(_ state: UInt8, _ timer: UInt8, _ expected: HostSocket.State) throws {
        var w = DiagWriter()
        w.message(
            type: BK_SOCK_DIAG_BY_FAMILY, seq: 7, DiagWriter.diag(family: 2, state: state, timer: timer, sport: 80, src: [10, 0, 0, 1]))
        #expect(try parse(w.bytes).get().sockets.first?.state == expected)
    }

    @Test("a request socket holds no port; a TIME_WAIT entry does")
    func holdsPort() throws {
        var w = DiagWriter()
        w.message(type: BK_SOCK_DIAG_BY_FAMILY, seq: 7, DiagWriter.diag(family: 2, state: 3, timer: 1, sport: 80, src: [10, 0, 0, 1]))
        w.message(type: BK_SOCK_DIAG_BY_FAMILY, seq: 7, DiagWriter.diag(family: 2, state: 6, timer: 3, sport: 80, src: [10, 0, 0, 1]))
        let s = try parse(w.bytes).get().sockets
        #expect(s.map(\.holdsPort) == [false, true])
    }

    @Test("a v4-mapped local address and a link-local one with its scope")
    func addresses() throws {
        var w = DiagWriter()
        w.message(type: BK_SOCK_DIAG_BY_FAMILY, seq: 7, DiagWriter.diag(family: 10, state: 1, sport: 8008, src: mappedLoopback))
        w.message(
            type: BK_SOCK_DIAG_BY_FAMILY, seq: 7,
            DiagWriter.diag(family: 10, state: 7, sport: 8009, src: [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], ifindex: 3))
        let s = try parse(w.bytes).get().sockets
        #expect(s.map { "\($0.local)" } == ["[::ffff:127.0.0.1]:8008", "[fe80::1%3]:8009"])
    }

    @Test("messages of another dump are skipped, its NLMSG_DONE too; port 0 is no holder")
    func otherSequences() throws {
        var w = DiagWriter()
        w.message(type: BK_SOCK_DIAG_BY_FAMILY, seq: 6, DiagWriter.diag(family: 2, state: 10, sport: 1, src: [0, 0, 0, 0]))
        w.done(seq: 6)
        w.message(type: BK_NLMSG_NOOP, seq: 7, [])
        w.message(type: BK_SOCK_DIAG_BY_FAMILY, seq: 7, DiagWriter.diag(family: 2, state: 10, sport: 0, src: [0, 0, 0, 0]))
        w.message(type: BK_SOCK_DIAG_BY_FAMILY, seq: 7, DiagWriter.diag(family: 2, state: 10, sport: 2, src: [0, 0, 0, 0]))
        let (sockets, progress) = try parse(w.bytes).get()
        #expect(progress == .more && sockets.map(\.local.port) == [2])
    }

    @Test("the kernel's refusals: NLMSG_ERROR and a failed NLMSG_DONE carry its errno")
    func refusals() {
        var e = DiagWriter()
        e.message(type: BK_NLMSG_ERROR, seq: 7, withUnsafeBytes(of: Int32(-22)) { Array($0) } + [UInt8](repeating: 0, count: 16))
        #expect(parse(e.bytes).failureValue == .kernel(.invalidArgument))
        var d = DiagWriter()
        d.done(seq: 7, error: -4)
        #expect(parse(d.bytes).failureValue == .kernel(.interrupted))
        var extreme = DiagWriter()
        extreme.done(seq: 7, error: Int32.min)
        #expect(parse(extreme.bytes).failureValue != nil)
    }

    /// One way to damage a reply.
    enum Damage: String, CaseIterable, Sendable {
        case lengthPastEnd = "message length past the end"
        case lengthBelowHeader = "message shorter than its header"
        case shortDiagMessage = "inet_diag_msg cut short"
        case shortAttribute = "attribute shorter than its header"
        case attributePastMessage = "attribute past its message"
        case unknownFamily = "an unknown address family"
        case zeroError = "NLMSG_ERROR 0 in a dump"

        func apply(_ b: inout [UInt8]) {
            switch self {
            case .lengthPastEnd: b[0] = 0xff
            case .lengthBelowHeader: b[0] = 8
            case .shortDiagMessage: b[0] = 16 + 40
            case .shortAttribute: b[16 + 72] = 2
            case .attributePastMessage: b[16 + 72] = 200
            case .unknownFamily: b[16] = 7
            case .zeroError: b = [20, 0, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
            }
        }
    }

    @Test("malformed replies are named, never trapped on", arguments: Damage.allCases)
    func malformed(_ damage: Damage) {
        var w = DiagWriter()
        w.message(
            type: BK_SOCK_DIAG_BY_FAMILY, seq: 7,
            DiagWriter.diag(family: 2, state: 10, sport: 80, src: [0, 0, 0, 0], attributes: [(UInt16(BK_INET_DIAG_SKV6ONLY), [1])]))
        var bytes = w.bytes
        damage.apply(&bytes)
        guard case .failure(.malformed(let offset, let text)) = parse(bytes) else {
            Issue.record("\(damage.rawValue): \(parse(bytes))")
            return
        }
        #expect(offset >= 0 && offset < bytes.count && !text.isEmpty, "\(damage.rawValue)")
    }

    @Test("every prefix and every one-byte change of a real-shaped datagram parses or is refused, within bounds")
    func damagedDatagrams() {
        var w = DiagWriter()
        for port in [UInt16(8001), 8002] {
            w.message(
                type: BK_SOCK_DIAG_BY_FAMILY, seq: 7,
                DiagWriter.diag(
                    family: 10, state: 10, sport: port, src: v6any, inode: 5,
                    attributes: [(UInt16(BK_INET_DIAG_SKV6ONLY), [0]), (UInt16(BK_INET_DIAG_SOCKOPT), [0x12, 0])]))
        }
        w.done(seq: 7)
        let good = w.bytes
        for n in 0...good.count { Self.expectSane(parse(Array(good.prefix(n)))) }
        for i in good.indices {
            for v: UInt8 in [0, 1, 3, 0x7f, 0x80, 0xff] {
                var b = good
                b[i] = v
                Self.expectSane(parse(b))
            }
        }
    }

    @Test("random bytes never trap the parser")
    func randomBytes() async {
        let datagram = Generator(run: { rng -> [UInt8] in
            var w = DiagWriter()
            for _ in 0..<Int.random(in: 0...3, using: &rng) {
                var payload = DiagWriter.diag(
                    family: chance(50, &rng) ? 2 : 10, state: UInt8.random(in: 0...13, using: &rng),
                    sport: UInt16.random(in: 0...3, using: &rng),
                    src: v6any,
                    attributes: [(UInt16.random(in: 0...30, using: &rng), [UInt8](repeating: 1, count: Int.random(in: 0...9, using: &rng)))]
                )
                for _ in 0..<Int.random(in: 0...4, using: &rng) where !payload.isEmpty {
                    payload[Int.random(in: 0..<payload.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
                w.message(type: chance(80, &rng) ? BK_SOCK_DIAG_BY_FAMILY : Int32.random(in: 0...30, using: &rng), seq: 7, payload)
            }
            var b = w.bytes
            for _ in 0..<Int.random(in: 0...3, using: &rng) where !b.isEmpty {
                b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if chance(20, &rng) { b = Array(b.prefix(Int.random(in: 0...b.count, using: &rng))) }
            return b
        })
        await propertyCheck(count: 3000, input: datagram) { bytes in Self.expectSane(parse(bytes)) }
    }

    /// What a parse may give: sockets that hold a real port of their own family, or a refusal
    /// pointing inside the datagram.
    static func expectSane(_ r: Result<(sockets: [HostSocket], progress: SockDiagReply.Progress), SockDiagError>) {
        switch r {
        case .success(let (sockets, _)):
            for s in sockets {
                #expect(s.local.port != 0 && s.local.family == s.family && (s.remote?.family ?? s.family) == s.family)
            }
        case .failure(.malformed(let offset, _)): #expect(offset >= 0)
        case .failure(.kernel): break
        }
    }

    @Test("the real replies of the fuzz seeds (a namespace of every kind of socket) parse whole")
    func realReplies() throws {
        let seeds = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fuzz/Seeds/FuzzDiag")
        let files = try FileManager.default.contentsOfDirectory(atPath: seeds.path)
        var sockets = 0
        var done = 0
        for f in files {
            let bytes = try [UInt8](Data(contentsOf: seeds.appendingPathComponent(f)))
            let seq = bytes.count >= 12 ? UInt32(bytes[8]) | UInt32(bytes[9]) << 8 | UInt32(bytes[10]) << 16 | UInt32(bytes[11]) << 24 : 0
            switch parse(bytes, seq: seq) {
            case .success(let r):
                sockets += r.sockets.count
                if r.progress == .done { done += 1 }
            case .failure(.kernel(let e)): #expect(e == .invalidArgument, "\(f): only the refused filter")
            case .failure(let e): Issue.record("\(f): \(e)")
            }
        }
        #expect(files.count >= 30 && sockets > 400 && done > 5)
    }

    // MARK: - Requests

    @Test("the request bytes for inet6 TCP filtered to 8080, as bkdiag sent them (FACTS.md 1.2)")
    func requestBytes() throws {
        let bc = try #require(bytecode([8080], form: 0))
        #expect(bc == [0x0b, 0x08, 0x0c, 0x00, 0x00, 0x00, 0x90, 0x1f])
        var out = [UInt8](repeating: 0xee, count: 128)
        let n = bc.withUnsafeBufferPointer { b in
            out.withUnsafeMutableBufferPointer {
                bk_diag_request($0.baseAddress, $0.count, 1, 10, 6, BK_DIAG_ALL_STATES, b.baseAddress, b.count)
            }
        }
        var expected: [UInt8] = [0x54, 0, 0, 0, 0x14, 0, 0x01, 0x03, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x0a, 0x06, 0, 0, 0xff, 0xff, 0xff, 0xff]
        expected += [UInt8](repeating: 0, count: 48)
        expected += [0x0c, 0x00, 0x01, 0x00] + bc
        #expect(Array(out.prefix(Int(n))) == expected)
        // The compat request: type 18, states after the 48-byte id.
        let c = bc.withUnsafeBufferPointer { b in
            out.withUnsafeMutableBufferPointer { bk_diag_request($0.baseAddress, $0.count, 2, 0, 6, 0x2400, b.baseAddress, b.count) }
        }
        #expect(c == 16 + 60 + 12 && out[4] == 18 && out[16 + 52] == 0x00 && out[16 + 53] == 0x24)
        #expect(bk_diag_request(&out, 40, 1, 10, 6, 0, nil, 0) == -Errno.noSpace.rawValue)
    }

    @Test("the range form of one port is S_GE then S_LE (every kernel)")
    func rangeBytes() {
        #expect(
            bytecode([8080], form: 1) == [0x02, 0x08, 0x14, 0x00, 0x00, 0x00, 0x90, 0x1f, 0x03, 0x08, 0x0c, 0x00, 0x00, 0x00, 0x90, 0x1f])
        #expect(bytecode([], form: 0) == nil && bytecode([1], form: 2) == nil)
        #expect(bytecode([UInt16](repeating: 1, count: Int(BK_DIAG_MAX_PORTS) + 1), form: 0) == nil)
    }

    @Test("a filter of several ports passes the kernel's audit and matches exactly those ports")
    func multiPortFilter() async {
        let question = Generator(run: { rng -> ([UInt16], Int32) in
            let n = Int.random(in: 1...Int(BK_DIAG_MAX_PORTS), using: &rng)
            return ((0..<n).map { _ in UInt16.random(in: 0...200, using: &rng) }, Int32.random(in: 0...1, using: &rng))
        })
        await propertyCheck(count: 200, input: question) { q in
            let (ports, form) = q
            guard let bc = bytecode(ports, form: form) else {
                Issue.record("refused \(ports.count) ports")
                return
            }
            #expect(bcAudit(bc), "the kernel would answer EINVAL")
            for p in UInt16(0)...201 { #expect(bcRun(bc, port: p) == ports.contains(p), "port \(p) of \(ports)") }
        }
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let e) = self { return e }
        return nil
    }
}
