import CBindShim
import SystemPackage

/// Network namespaces, and the little rtnetlink a namespace's fixture needs (a veth pair, addresses,
/// links up). Every call acts on the calling thread's network namespace only: a thread that
/// enters another namespace takes no other thread of the process with it.
package enum NetworkNamespace {
    /// Moves the calling thread into a new network namespace of its own, which holds only `lo`, down.
    /// The corresponding C function is unshare(2) with CLONE_NEWNET.
    package static func unshare() throws(Errno) { try _unshare().get() }

    static func _unshare() -> Result<Void, Errno> { shimVoid(bk_unshare_netns()) }

    /// Opens the calling thread's network namespace (`/proc/thread-self/ns/net`): a descriptor to
    /// come back to it with ``enter(_:)``. The caller closes it. The corresponding C function is
    /// open(2).
    package static func openCurrent() throws(Errno) -> FileDescriptor { try _openCurrent().get() }

    static func _openCurrent() -> Result<FileDescriptor, Errno> {
        shimResult(bk_netns_open_current()).map(FileDescriptor.init(rawValue:))
    }

    /// Opens a namespace file: `/proc/<pid>/ns/net` for a process's network namespace,
    /// `/run/netns/<name>` for one `ip netns add` made. The caller closes it. The corresponding C
    /// function is open(2).
    package static func open(path: String) throws(Errno) -> FileDescriptor { try _open(path: path).get() }

    static func _open(path: String) -> Result<FileDescriptor, Errno> {
        shimResult(bk_ns_open(path)).map(FileDescriptor.init(rawValue:))
    }

    /// Moves the calling thread into the network namespace `namespace` refers to (EINVAL when it
    /// refers to something else, EPERM without CAP_SYS_ADMIN over it). The corresponding C function
    /// is setns(2) with CLONE_NEWNET.
    package static func enter(_ namespace: FileDescriptor) throws(Errno) { try _enter(namespace).get() }

    static func _enter(_ namespace: FileDescriptor) -> Result<Void, Errno> { shimVoid(bk_setns_net(namespace.rawValue)) }

    /// Moves the calling thread into the network namespace of the file at `path` (see
    /// ``open(path:)``), for a thread of its own that is to work in another process's namespace.
    /// The corresponding C functions are open(2), setns(2) and close(2).
    package static func enter(path: String) throws(Errno) { try _enter(path: path).get() }

    static func _enter(path: String) -> Result<Void, Errno> {
        _open(path: path).flatMap { fd in
            let entered = _enter(fd)
            _ = bk_close(fd.rawValue)
            return entered
        }
    }

    /// Runs `body` on a thread of its own inside the network namespace of the file at `path` (see
    /// ``open(path:)``), and returns what it returned once that thread has ended; the calling
    /// thread stays where it is. For work in another process's namespace or a named one. The
    /// corresponding C functions are pthread_create(3), open(2), setns(2) and pthread_join(3).
    package static func run<T>(inNamespaceAt path: String, _ body: @escaping () throws -> T) throws -> T {
        try JoinedThread.run { () throws -> T in
            try enter(path: path)
            return try body()
        }.get()
    }

    /// The inode of a namespace file such as `/proc/thread-self/ns/net`: two files refer to the
    /// same namespace when their inodes are equal (all namespace files live on one nsfs device).
    /// The corresponding C function is stat(2).
    package static func inode(path: String) throws(Errno) -> UInt64 { try _inode(path: path).get() }

    static func _inode(path: String) -> Result<UInt64, Errno> { shimResult(bk_ns_inode(path)).map(UInt64.init) }

    /// Where the user namespace that owns the calling thread's network namespace stands, as
    /// bind's privilege check sees it (`ns_capable()` over that user namespace). The corresponding
    /// C functions are ioctl(2) with NS_GET_USERNS, NS_GET_PARENT and NS_GET_OWNER_UID.
    package static func owner() throws(Errno) -> Owner { try _owner().get() }

    static func _owner() -> Result<Owner, Errno> {
        var raw = bk_netns_owner()
        return shimVoid(bk_netns_owner_relation(&raw)).map {
            switch raw.relation {
            case 0: .own
            case 1: .descendant(childOwnerUID: raw.child_owner_uid)
            default: .outside
            }
        }
    }

    /// The owner of a network namespace, seen from the calling thread's user namespace.
    package enum Owner: Hashable, Sendable {
        /// The thread's own user namespace.
        case own
        /// A user namespace below the thread's; `childOwnerUID` owns the one just below the
        /// thread's on the way down to it.
        case descendant(childOwnerUID: UInt32)
        /// An ancestor of the thread's user namespace, or an unrelated one.
        case outside
    }

    // MARK: - Links and addresses

    /// Brings the interface `name` up. The corresponding C function is ioctl(2) with SIOCGIFFLAGS
    /// then SIOCSIFFLAGS.
    package static func setLinkUp(_ name: String) throws(Errno) { try _setLinkUp(name).get() }

    static func _setLinkUp(_ name: String) -> Result<Void, Errno> { shimVoid(bk_link_up(name)) }

    /// The flags of the interface `name` (ENODEV when there is none). The corresponding C function
    /// is ioctl(2) with SIOCGIFFLAGS.
    package static func linkFlags(_ name: String) throws(Errno) -> LinkFlags { try _linkFlags(name).get() }

    static func _linkFlags(_ name: String) -> Result<LinkFlags, Errno> {
        shimResult(bk_link_flags(name)).map { LinkFlags(rawValue: UInt32($0)) }
    }

    /// Creates a veth pair, `name` and `peer`, both down. The corresponding C function is an
    /// rtnetlink RTM_NEWLINK request (sendto(2) and recv(2) on a NETLINK_ROUTE socket).
    package static func createVethPair(_ name: String, peer: String) throws(Errno) { try _createVethPair(name, peer: peer).get() }

    static func _createVethPair(_ name: String, peer: String) -> Result<Void, Errno> { shimVoid(bk_veth_create(name, peer)) }

    /// Adds `ip`/`prefixLength` to the interface with index `interface` (a link-local IPv6 address
    /// with link scope); `noDAD` skips IPv6 duplicate address detection, so that the address can be
    /// bound at once. The corresponding C function is an rtnetlink RTM_NEWADDR request.
    package static func addAddress(_ ip: IPAddress, prefixLength: UInt8, toInterface interface: UInt32, noDAD: Bool = false)
        throws(Errno)
    {
        try _addAddress(ip, prefixLength: prefixLength, toInterface: interface, noDAD: noDAD).get()
    }

    static func _addAddress(_ ip: IPAddress, prefixLength: UInt8, toInterface interface: UInt32, noDAD: Bool) -> Result<Void, Errno> {
        let bytes: [UInt8]
        switch ip {
        case .v4(let a): bytes = a.bytes
        case .v6(let a): bytes = a.bytes
        }
        return shimVoid(bytes.withUnsafeBufferPointer { bk_addr_add(interface, ip.family.cValue, $0.baseAddress, prefixLength, noDAD) })
    }
}

/// An interface's `IFF_*` flags, as SIOCGIFFLAGS reports them.
package struct LinkFlags: OptionSet, Hashable, Sendable {
    package let rawValue: UInt32
    package init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `IFF_UP`: brought up.
    package static let up = LinkFlags(rawValue: UInt32(BK_IFF_UP))
    /// `IFF_LOOPBACK`
    package static let loopback = LinkFlags(rawValue: UInt32(BK_IFF_LOOPBACK))
    /// `IFF_RUNNING`: up with a carrier (a veth once its peer is up too).
    package static let running = LinkFlags(rawValue: UInt32(BK_IFF_RUNNING))
}
