/// An Internet address family, as `socket(2)` and `bind(2)` know it.
///
/// The raw value is the name used in text and JSON (`"inet"`, `"inet6"`);
/// ``cValue`` is the `AF_*` constant Linux uses.
public enum AddressFamily: String, Sendable, Codable, Hashable, CaseIterable {
    /// IPv4 (`AF_INET`).
    case inet
    /// IPv6 (`AF_INET6`).
    case inet6

    /// The Linux `AF_*` constant: `AF_INET` is 2, `AF_INET6` is 10.
    public var cValue: Int32 {
        switch self {
        case .inet: 2
        case .inet6: 10
        }
    }
}

/// The transport a socket uses: TCP (`SOCK_STREAM`) or UDP (`SOCK_DGRAM`).
public enum Transport: String, Sendable, Codable, Hashable, CaseIterable {
    case tcp
    case udp
}
