// The SwiftNIO bridge: built only with the package trait NIO (`traits: ["NIO"]` on the
// `.package` line), so that a package depending on BindKit alone neither fetches nor builds
// swift-nio. Without the trait this module is empty.
#if NIO
    import BindKit
    import BindRules
    import NIOCore
    import NIOPosix

    #if canImport(Glibc)
        import Glibc
    #elseif canImport(Musl)
        import Musl
    #endif

    // MARK: - SocketAddress, both ways

    /// A NIO address BindKit cannot take: a Unix-domain socket, or an IPv6 zone naming no interface.
    public struct SocketAddressConversionError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    extension BindKit.SocketAddress {
        /// The BindKit form of a NIO IP socket address (its `sockaddr_in` / `sockaddr_in6`, scope id
        /// kept as an index zone). A Unix-domain address throws.
        public init(_ address: NIOCore.SocketAddress) throws(SocketAddressConversionError) {
            let bytes: [UInt8]
            switch address {
            case .v4(let a): bytes = withUnsafeBytes(of: a.address) { Array($0) }
            case .v6(let a): bytes = withUnsafeBytes(of: a.address) { Array($0) }
            case .unixDomainSocket:
                throw SocketAddressConversionError(description: "\(address) is a Unix-domain socket address, not an IP one")
            }
            do { self = try BindKit.SocketAddress(sockaddr: bytes) } catch {
                throw SocketAddressConversionError(description: "\(address): \(error)")
            }
        }
    }

    extension NIOCore.SocketAddress {
        /// The NIO form of a BindKit socket address; a zone name is resolved to its interface index in
        /// the calling thread's network namespace (throws when there is no such interface).
        public init(_ address: BindKit.SocketAddress) throws(SocketAddressConversionError) {
            var resolved = address
            if case .v6(var a) = address.ip, case .name(let name)? = a.zone {
                do { a.zone = .index(try Interface.index(named: name)) } catch {
                    throw SocketAddressConversionError(description: "\(address): zone %\(name) names no interface (\(error))")
                }
                resolved = BindKit.SocketAddress(ip: .v6(a), port: address.port)
            }
            let bytes = resolved.sockaddrBytes
            switch resolved.ip {
            case .v4:
                var sin = sockaddr_in()
                withUnsafeMutableBytes(of: &sin) { $0.copyBytes(from: bytes.prefix($0.count)) }
                self.init(sin, host: "")
            case .v6:
                var sin6 = sockaddr_in6()
                withUnsafeMutableBytes(of: &sin6) { $0.copyBytes(from: bytes.prefix($0.count)) }
                self.init(sin6, host: "")
            }
        }
    }

    // MARK: - The model's answer before NIO binds

    /// The options a NIO bootstrap sets on its socket before bind, as the model needs them: NIO's
    /// `ChannelOptions.socketOption(.so_reuseaddr)` and friends cannot be read back from a bootstrap.
    public struct BindOptions: Sendable, Hashable {
        /// `SO_REUSEADDR` (NIO's `.so_reuseaddr`; most NIO servers set it).
        public var reuseAddress: Bool
        /// `SO_REUSEPORT` (NIO's `.so_reuseport`).
        public var reusePort: Bool
        /// `IPV6_V6ONLY` on an inet6 socket; nil leaves `net.ipv6.bindv6only`'s default.
        public var v6Only: Bool?

        public init(reuseAddress: Bool = false, reusePort: Bool = false, v6Only: Bool? = nil) {
            self.reuseAddress = reuseAddress
            self.reusePort = reusePort
            self.v6Only = v6Only
        }
    }

    /// What the model says of one bind on the live host: the outcome, why, and who holds the port.
    public struct BindVerdict: Error, Sendable, CustomStringConvertible {
        public var address: BindKit.SocketAddress
        public var transport: Transport
        /// `ok` or the errno bind() is predicted to fail with.
        public var outcome: Outcome
        public var reason: Reason
        /// Whether every fact the prediction used was known (no holder's option left unread).
        public var certain: Bool
        /// The processes holding the colliding socket, as `pid N (command)`; empty when none is known.
        public var holders: [String]
        /// The kernel's errno when NIO's own bind failed (nil for a pre-flight).
        public var kernelErrno: String?

        public var succeeds: Bool { outcome == .ok }

        /// One paragraph: the bind, the outcome, the rule, the holder, the fix.
        public var description: String {
            var lines = ["\(transport) bind \(address): \(kernelErrno ?? outcome.description)"]
            if let kernelErrno, kernelErrno != outcome.description { lines[0] += " (the model predicted \(outcome))" }
            if !reason.text.isEmpty { lines.append("  why: \(reason.text)") }
            if !holders.isEmpty { lines.append("  held by: \(holders.joined(separator: ", "))") }
            if let fix = reason.fix { lines.append("  what would change it: \(fix)") }
            if !certain { lines.append("  note: some of the holders' options could not be read; the likeliest values were assumed") }
            return lines.joined(separator: "\n")
        }
    }

    public enum BindPreflight {
        /// The model's answer for a bind of `address` by a new socket of this process with `options`,
        /// against the live host: its interfaces and sysctls, and the sockets on that port with their
        /// holders and options (``LiveHost/inspect(_:ports:readOptions:)``). Nothing is bound.
        public static func check(
            _ address: BindKit.SocketAddress, transport: Transport, options: BindOptions = BindOptions(), listen: Bool = true
        ) throws -> BindVerdict {
            let live = try LiveHost.current()
            let inspection = live.inspect([transport], ports: [address.port])
            var table = SocketTable()
            var holdersByID: [String: [String]] = [:]
            for (i, s) in inspection.sockets.enumerated() {
                let id =
                    s.holders.first.map { "pid \($0.process.pid) (\($0.process.command)) fd \($0.fd)" }
                    ?? "inode \(s.socket.inode) #\(i) (uid \(s.socket.uid))"
                table.addExisting(s.socket, id: id, options: try? s.options?.get(), v6onlyDefault: live.facts.sysctls.bindv6only)
                holdersByID[id] = s.holders.map { "pid \($0.process.pid) (\($0.process.command))" }
            }
            let credentials = live.facts.credentials
            var settings: [SocketOptionSetting] = [.uid(credentials.effectiveUID), .caps(credentials.capabilities.effective)]
            if options.reuseAddress { settings.append(.reuseaddr(true)) }
            if options.reusePort { settings.append(.reuseport(true)) }
            if let v6 = options.v6Only { settings.append(.v6only(v6)) }
            var steps = [
                Step(id: "new", action: .socket(family: address.family, transport: transport, options: settings)),
                Step(id: "new", action: .bind(AddressSpec(ip: address.ip, port: .number(address.port)))),
            ]
            if listen && transport == .tcp { steps.append(Step(id: "new", action: .listen(backlog: 128))) }
            let p = BindModel(host: ModelHost(facts: live.facts)).predictConditionally(steps, from: table)
            let holders = p.reason.holder.map { holdersByID[$0.id] ?? [$0.id] } ?? []
            return BindVerdict(
                address: address, transport: transport, outcome: p.outcome, reason: p.reason, certain: p.certain, holders: holders)
        }

        /// A NIO bind error explained: for an `IOError` (NIO's `bind(descriptor:ptr:bytes:)` failing
        /// with an errno), the model's verdict on the same bind against the live host, which names
        /// the socket and process that hold the port; nil for any other error.
        public static func explain(
            _ error: any Error, binding address: BindKit.SocketAddress, transport: Transport, options: BindOptions = BindOptions()
        ) -> BindVerdict? {
            guard let io = error as? IOError else { return nil }
            guard var verdict = try? check(address, transport: transport, options: options) else { return nil }
            verdict.kernelErrno = ErrnoName.name(io.errnoCode) ?? "errno \(io.errnoCode)"
            return verdict
        }
    }

    // MARK: - Bootstraps

    extension BindPreflight {
        /// The pre-flight, then NIO's bind, its failure explained.
        static func bind(
            _ address: NIOCore.SocketAddress, transport: Transport, options: BindOptions,
            _ nioBind: (NIOCore.SocketAddress) -> EventLoopFuture<Channel>
        ) async throws -> Channel {
            let target = try BindKit.SocketAddress(address)
            let verdict = try check(target, transport: transport, options: options)
            if !verdict.succeeds { throw verdict }
            do { return try await nioBind(address).get() } catch {
                throw explain(error, binding: target, transport: transport, options: options) ?? error
            }
        }
    }

    extension ServerBootstrap {
        /// Asks the model first, then binds: a bind the model predicts to fail (an address not of
        /// this host, a port held, a privileged port) throws its ``BindVerdict`` before NIO tries;
        /// a failure of NIO's own bind is rethrown as the verdict on it. `options` must be the socket
        /// options this bootstrap sets (the model cannot read them from it).
        public func bind(checking address: NIOCore.SocketAddress, options: BindOptions = BindOptions()) async throws -> Channel {
            try await BindPreflight.bind(address, transport: .tcp, options: options) { bind(to: $0) }
        }
    }

    extension DatagramBootstrap {
        /// The same as ``NIOPosix/ServerBootstrap/bind(checking:options:)`` for UDP.
        public func bind(checking address: NIOCore.SocketAddress, options: BindOptions = BindOptions()) async throws -> Channel {
            try await BindPreflight.bind(address, transport: .udp, options: options) { bind(to: $0) }
        }
    }
#endif
