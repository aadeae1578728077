// CBindShim: the only place in BindKit that touches C structs, errno, libcap,
// netlink and namespaces. Every function returns 0 or a positive value on
// success and -errno on failure, so Swift never reads the global errno.
#ifndef BK_SHIM_H
#define BK_SHIM_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - Constants
//
// Macros, so that the .c files can _Static_assert each against the system header's value (Swift
// imports them as Int32). Some are not in the headers Swift sees through Glibc (IP_LOCAL_PORT_RANGE
// is only in <linux/in.h> on glibc 2.36); the rest are here so that Swift names no number itself.

#define BK_SOL_SOCKET 1
#define BK_IPPROTO_IP 0
#define BK_IPPROTO_IPV6 41

#define BK_SO_REUSEADDR 2
#define BK_SO_KEEPALIVE 9
#define BK_SO_SNDBUF 7
#define BK_SO_RCVBUF 8
#define BK_SO_REUSEPORT 15
#define BK_SO_RCVTIMEO 20
#define BK_SO_SNDTIMEO 21
#define BK_SO_BINDTODEVICE 25

#define BK_IP_FREEBIND 15
#define BK_IP_TRANSPARENT 19
#define BK_IP_LOCAL_PORT_RANGE 51
#define BK_IPV6_V6ONLY 26
#define BK_IPV6_TRANSPARENT 75
#define BK_IPV6_FREEBIND 78

// The states TCP_INFO's tcpi_state reports (<netinet/tcp.h>).
#define BK_TCP_ESTABLISHED 1
#define BK_TCP_SYN_SENT 2
#define BK_TCP_SYN_RECV 3
#define BK_TCP_FIN_WAIT1 4
#define BK_TCP_FIN_WAIT2 5
#define BK_TCP_TIME_WAIT 6
#define BK_TCP_CLOSE 7
#define BK_TCP_CLOSE_WAIT 8
#define BK_TCP_LAST_ACK 9
#define BK_TCP_LISTEN 10
#define BK_TCP_CLOSING 11

#define BK_SHUT_RD 0
#define BK_SHUT_WR 1
#define BK_SHUT_RDWR 2

#define BK_IFNAMSIZ 16
#define BK_IFF_UP 0x1
#define BK_IFF_LOOPBACK 0x8
#define BK_IFF_RUNNING 0x40

/// The length of a sockaddr_in6 without sin6_scope_id (RFC 2133), which the kernel accepts.
#define BK_SIN6_LEN_RFC2133 24

/// For the .c files: the offset of a field Swift reads, checked at compile time.
#define BK_FIELD(type, field, offset) _Static_assert(offsetof(type, field) == (offset), #type "." #field)

// MARK: - Socket addresses

/// An address in a form Swift can copy without knowing sockaddr layouts.
typedef struct bk_addr {
    int32_t family;      // AF_INET or AF_INET6 (or whatever the kernel said)
    uint16_t port;       // host byte order
    uint8_t bytes[16];   // IPv4 in bytes[0..3]
    uint32_t scope_id;   // IPv6 only
    uint32_t flowinfo;   // IPv6 only
} bk_addr;

/// Encodes `a` into `out`; returns the sockaddr length, or -EAFNOSUPPORT.
int bk_sockaddr_encode(const bk_addr *a, struct sockaddr_storage *out);
/// Decodes `len` raw bytes of a sockaddr (any family, any length) into `out`.
/// Returns 0, -EINVAL when the length is too short for the family, or
/// -EAFNOSUPPORT for a family other than AF_INET/AF_INET6.
int bk_sockaddr_decode(const void *raw, size_t len, bk_addr *out);

// MARK: - Syscalls (all return -errno on failure)

/// socket(2) with SOCK_CLOEXEC; `transport` 0 = TCP (SOCK_STREAM), 1 = UDP (SOCK_DGRAM).
int bk_socket(int family, int transport);
/// bind(2) with the address encoded for `a->family`.
int bk_bind(int fd, const bk_addr *a);
/// bind(2) with raw sockaddr bytes, exactly as given (for foreign families/lengths).
int bk_bind_raw(int fd, const void *sa, socklen_t len);
int bk_listen(int fd, int backlog);
/// connect(2); with timeout_ms >= 0 the socket is made non-blocking for the call and
/// poll(2) waits at most that long (-ETIMEDOUT past it). A signal never ends the wait: after EINTR
/// the connection goes on in the kernel, so this waits for it with poll(2) (what is left of the
/// timeout, or of SO_SNDTIMEO without one: -EINPROGRESS past that, as connect(2) itself says) and
/// reads SO_ERROR, instead of calling connect() again. A wait that ends with the connection made
/// or failed leaves the socket as a blocking connect(2) would: connected, or unconnected (a later
/// call starts afresh, not ECONNABORTED); past the timeout it is left connecting.
int bk_connect(int fd, const bk_addr *a, int timeout_ms);
/// accept4(2) with SOCK_CLOEXEC; `peer` may be NULL. Returns the new descriptor.
int bk_accept(int fd, bk_addr *peer);
int bk_getsockname(int fd, bk_addr *out);
int bk_getpeername(int fd, bk_addr *out);
int bk_shutdown(int fd, int how);
int bk_close(int fd);
int bk_setsockopt_int(int fd, int level, int name, int value);
int bk_getsockopt_int(int fd, int level, int name, int *value);
int bk_setsockopt_raw(int fd, int level, int name, const void *value, socklen_t len);
int bk_getsockopt_raw(int fd, int level, int name, void *value, socklen_t *len);
/// SO_RCVTIMEO / SO_SNDTIMEO in microseconds.
int bk_set_timeout_us(int fd, int name, int64_t usec);
int bk_get_timeout_us(int fd, int name, int64_t *usec);
/// SO_LINGER: `on` 0 or 1, `seconds` the linger time.
int bk_set_linger(int fd, int on, int seconds);
int bk_get_linger(int fd, int *on, int *seconds);
/// TCP_INFO's tcpi_state (a BK_TCP_* state), or -errno.
int bk_get_tcp_state(int fd);
int bk_set_nonblocking(int fd, bool on);
int bk_get_nonblocking(int fd);
/// Counts entries of /proc/self/fd (less the one used to read it).
int bk_count_open_fds(void);

// MARK: - Files (for /proc/sys)

/// Reads at most `cap` bytes of the file at `path` from its start: the count read (`cap` when
/// there may be more), or -errno of open(2) or read(2).
int64_t bk_read_file(const char *path, void *buf, size_t cap);
/// Opens `path` for writing (no creation, no truncation: a /proc/sys entry) and writes `len`
/// bytes in one write(2): 0, or -errno of open(2) or write(2).
int bk_write_file(const char *path, const void *buf, size_t len);

// MARK: - Text addresses through the C library (the oracle for tests and benchmarks)

int bk_inet_pton4(const char *s, uint8_t out[4]);   // 1 ok, 0 invalid
int bk_inet_pton6(const char *s, uint8_t out[16]);  // 1 ok, 0 invalid
int bk_inet_aton(const char *s, uint8_t out[4]);    // 1 ok, 0 invalid
/// inet_ntop into buf; returns the length written or -ENOSPC.
int bk_inet_ntop4(const uint8_t in[4], char *buf, size_t len);
int bk_inet_ntop6(const uint8_t in[16], char *buf, size_t len);
// MARK: - Capabilities (libcap)

/// Capability sets as bit masks: bit N is capability number N.
typedef struct bk_capsets {
    uint64_t effective;
    uint64_t permitted;
    uint64_t inheritable;
    uint64_t bounding;
    uint64_t ambient;
} bk_capsets;

/// The calling thread's capability sets.
int bk_caps_self(bk_capsets *out);
/// File capabilities of `path` (cap_get_file): effective, permitted, inheritable
/// (bounding/ambient are 0). Returns 1 when the file has capabilities, 0 when it has
/// none, -errno when it cannot be read.
int bk_caps_file(const char *path, bk_capsets *out);
/// Capability number for a name like "cap_net_bind_service" (any case), or -EINVAL.
int bk_cap_from_name(const char *name);
/// The highest capability number this kernel knows.
int bk_cap_max_bits(void);
/// Sets the calling thread's effective set to `effective` (must be within permitted).
int bk_thread_set_effective_caps(uint64_t effective);
/// Changes only the calling thread's effective uid (raw setresuid(-1, euid, -1), so
/// other threads keep theirs). Permitted capabilities stay while the real uid is 0.
int bk_thread_set_euid(uint32_t euid);
/// no_new_privs of the calling thread (prctl PR_GET_NO_NEW_PRIVS): 0, 1 or -errno.
int bk_no_new_privs(void);
/// Whether the calling thread's user namespace is the initial one: 1 yes, 0 no.
int bk_in_initial_userns(void);

// MARK: - Privileged ports: who owns the network namespace, and a child with other credentials

/// The calling thread's securebits (prctl PR_GET_SECUREBITS), or -errno.
int bk_securebits(void);
/// SECBIT_NOROOT (<linux/securebits.h>): uid 0 gains no capabilities by exec.
#define BK_SECBIT_NOROOT 0x1

/// Where the user namespace that owns the calling thread's network namespace stands.
typedef struct bk_netns_owner {
    /// 0: the thread's own user namespace; 1: a descendant of it; 2: outside it (an ancestor or
    /// an unrelated one: NS_GET_USERNS answers EPERM for those).
    int32_t relation;
    /// With 1: the owner uid (NS_GET_OWNER_UID) of the user namespace just below the thread's on
    /// the way down to the owner.
    uint32_t child_owner_uid;
} bk_netns_owner;

/// ioctl(NS_GET_USERNS) on /proc/thread-self/ns/net, compared with /proc/thread-self/ns/user.
int bk_netns_owner_relation(bk_netns_owner *out);

/// Credentials a short-lived child takes, in this order, before it binds or execs.
typedef struct bk_cred_spec {
    int64_t uid;          // -1 keep; else setresuid(uid, euid, euid) (PR_SET_KEEPCAPS around it, so
    int64_t euid;         //   that capset below can keep what the spec asks for)
    int64_t gid;          // -1 keep; else setgroups(0, NULL) and setresgid(gid, gid, gid) first
    bool set_caps;        // capset(permitted, effective, inheritable); never more than the parent holds
    uint64_t permitted;
    uint64_t effective;
    uint64_t inheritable;
    uint64_t ambient;     // PR_CAP_AMBIENT_CLEAR_ALL, then PR_CAP_AMBIENT_RAISE each bit
    bool no_new_privs;    // PR_SET_NO_NEW_PRIVS
    int32_t userns;       // 0 none; 1 unshare(CLONE_NEWUSER); 2 unshare(CLONE_NEWUSER|CLONE_NEWNET);
                          //   then uid/gid 0 inside map to the child's euid/egid
    const char *stdout_path;  // NULL keep; else opened (created, truncated) onto 1, for an exec
    const char *stderr_path;  // NULL keep; else onto 2
} bk_cred_spec;

// The child (clone with CLONE_FILES, all signals blocked) shares the descriptor table only until
// close_range(3, ~0U, CLOSE_RANGE_UNSHARE) gives it a private copy of descriptors 0-2: it never
// holds a reference to another of the caller's descriptors, so a socket the caller's other
// threads close is released at once. Its memory is its own (a uid change makes an address space
// non-dumpable, and the caller's must not change).

/// A child takes `spec`'s credentials, binds the wildcard of `family` (AF_INET, or AF_INET6 with
/// IPV6_V6ONLY) at `port` with `transport` (0 TCP, 1 UDP), closes the socket and ends; it is reaped.
/// Returns 0 or -errno. `*stage` (see bk_child_stage_name) is nonzero when a credential step failed
/// (the result is that step's -errno); `*call` is 1 when socket() failed, 2 when bind() did.
int bk_bind_as(const bk_cred_spec *spec, int family, int transport, uint16_t port, int32_t *stage, int32_t *call);
/// A child takes `spec`'s credentials and execs argv[0] with `argv` (NULL-terminated) and the
/// caller's environment; this waits for it. Returns its exit status (0-255, or 128 + signal), or
/// -errno: of a credential step when `*stage` is nonzero, of execve() otherwise.
int bk_exec_as(const bk_cred_spec *spec, const char *const *argv, int32_t *stage);
/// The name of a credential step, e.g. "setresuid".
const char *bk_child_stage_name(int32_t stage);

// MARK: - Interfaces

typedef struct bk_ifaddr {
    char name[16];
    uint32_t index;
    uint32_t flags;       // IFF_*
    int32_t family;       // AF_INET, AF_INET6, or 0 for an interface with no address
    uint8_t addr[16];
    uint8_t prefix_len;
    uint32_t scope_id;
} bk_ifaddr;

/// getifaddrs(3) of the calling thread's network namespace, one entry per address
/// (AF_INET/AF_INET6) plus one with family 0 for each interface without an address.
/// Returns the count; when it exceeds `max`, only `max` are written.
int bk_interfaces(bk_ifaddr *out, int max);
int bk_if_nametoindex(const char *name);
int bk_if_indextoname(uint32_t index, char out[16]);

// MARK: - Network namespaces (act on the calling thread only)

/// unshare(CLONE_NEWNET): moves the calling thread into a new private network namespace.
int bk_unshare_netns(void);
/// Opens the calling thread's current network namespace (a descriptor for bk_setns_net).
int bk_netns_open_current(void);
/// Opens a namespace file such as "/proc/<pid>/ns/net" or "/run/netns/<name>" (O_RDONLY).
int bk_ns_open(const char *path);
/// setns(fd, CLONE_NEWNET).
int bk_setns_net(int fd);
/// Brings an interface up (SIOCSIFFLAGS).
int bk_link_up(const char *name);
/// The interface's flags (SIOCGIFFLAGS: IFF_UP 0x1, IFF_RUNNING 0x40 once it has carrier).
int bk_link_flags(const char *name);
/// Creates a veth pair through rtnetlink.
int bk_veth_create(const char *name, const char *peer);
/// Adds an address through rtnetlink; `nodad` sets IFA_F_NODAD.
int bk_addr_add(uint32_t ifindex, int family, const uint8_t *addr, uint8_t prefix_len, bool nodad);
/// The inode of a namespace file such as "/proc/thread-self/ns/net" (for leak checks).
int64_t bk_ns_inode(const char *path);


// MARK: - The host's sockets as the kernel sees them (NETLINK_SOCK_DIAG, /proc/PID/fd, pidfd_getfd)
//
// bk_diag.c. The requests are built here (uapi struct layouts); the replies are parsed in Swift
// (HostSocket+SockDiag.swift), which reads them by the offsets below, each checked against
// <linux/inet_diag.h> when the shim compiles.

#define BK_NETLINK_SOCK_DIAG 4
/// nlmsg_type of a per-family request and of its replies (`struct inet_diag_req_v2`).
#define BK_SOCK_DIAG_BY_FAMILY 20
/// nlmsg_type of the compat request (`struct inet_diag_req`): one walk of the TCP tables for both
/// families; its replies keep this type.
#define BK_TCPDIAG_GETSOCK 18
#define BK_NLMSG_NOOP 1
#define BK_NLMSG_ERROR 2
#define BK_NLMSG_DONE 3
#define BK_NLMSG_HDRLEN 16
/// Attribute types are 14 bits; the top two are NLA_F_NESTED and NLA_F_NET_BYTEORDER.
#define BK_NLA_TYPE_MASK 0x3fff

/// `struct inet_diag_msg` and the offsets of its fields.
#define BK_INET_DIAG_MSG_LEN 72
#define BK_IDIAG_FAMILY 0
#define BK_IDIAG_STATE 1
#define BK_IDIAG_TIMER 2
#define BK_IDIAG_SPORT 4    // big-endian
#define BK_IDIAG_DPORT 6    // big-endian
#define BK_IDIAG_SRC 8      // 16 bytes; AF_INET in the first 4
#define BK_IDIAG_DST 24
#define BK_IDIAG_IF 40      // sk_bound_dev_if
#define BK_IDIAG_COOKIE 44  // two u32, low then high
#define BK_IDIAG_EXPIRES 52
#define BK_IDIAG_UID 64
#define BK_IDIAG_INODE 68

/// Reply attributes BindKit reads.
#define BK_INET_DIAG_SHUTDOWN 8
#define BK_INET_DIAG_SKV6ONLY 11
#define BK_INET_DIAG_MARK 15
#define BK_INET_DIAG_CGROUP_ID 21
#define BK_INET_DIAG_SOCKOPT 22
/// Bits of INET_DIAG_SOCKOPT (`struct inet_diag_sockopt`, two bytes of bitfields) as GCC and Clang
/// lay them out on little-endian: byte 0 bit 2 freebind, bit 5 transparent; byte 1 bit 0
/// bind_address_no_port.
#define BK_DIAG_SOCKOPT_FREEBIND 0x04
#define BK_DIAG_SOCKOPT_TRANSPARENT 0x20
#define BK_DIAG_SOCKOPT_BIND_ADDRESS_NO_PORT 0x100

/// The TIME_WAIT timer (idiag_timer): a TIME_WAIT bucket, whatever its substate.
#define BK_IDIAG_TIMER_TIME_WAIT 3
/// TCP_NEW_SYN_RECV: a request socket (reported as TCP_SYN_RECV); it holds no port.
#define BK_TCP_NEW_SYN_RECV 12
/// TCP_BOUND_INACTIVE: a request bit only (Linux 6.8+): asks for TCP sockets bound but not
/// listening, which come back as TCP_CLOSE. Older kernels ignore it.
#define BK_TCP_BOUND_INACTIVE 13
/// Every state, the bound-inactive bit included.
#define BK_DIAG_ALL_STATES 0xffffffffu

/// The most local ports one bytecode filter holds (one filter of at most 10 KiB).
#define BK_DIAG_MAX_PORTS 512

/// Opens a NETLINK_SOCK_DIAG socket (SOCK_CLOEXEC, a 30 s receive timeout): it sees the sockets of
/// the network namespace of the thread that opens it, wherever it is used afterwards.
int bk_diag_open(void);
/// Compiles "local port is one of `ports`" into INET_DIAG_REQ_BYTECODE: `form` 0 with S_EQ (Linux
/// 4.16+), 1 with S_GE and S_LE (every kernel). Returns the length, or -EINVAL (n < 1 or more than
/// BK_DIAG_MAX_PORTS), -ENOSPC.
int bk_diag_bytecode(const uint16_t *ports, int n, int form, uint8_t *out, size_t cap);
/// Builds a dump request for `states` with the bytecode (`bclen` 0: none): the compat request
/// (TCPDIAG_GETSOCK, TCP of both families) when `family` is AF_UNSPEC, else SOCK_DIAG_BY_FAMILY
/// for `family` and `protocol`. Returns its length, or -ENOSPC.
int bk_diag_request(uint8_t *out, size_t cap, uint32_t seq, uint8_t family, uint8_t protocol, uint32_t states,
                    const uint8_t *bytecode, size_t bclen);
/// sendto(2) of a request to the kernel.
int bk_diag_send(int fd, const uint8_t *request, size_t len);
/// recvmsg(2) of one reply datagram from the kernel (others are dropped), retrying EINTR: its
/// length, or -errno (-EMSGSIZE when it did not fit, -EAGAIN past the receive timeout).
int64_t bk_diag_recv(int fd, uint8_t *buf, size_t cap);

/// One descriptor of a process that refers to a wanted socket.
typedef struct bk_holder {
    int32_t pid;
    int32_t fd;
    uint64_t inode;
} bk_holder;

/// What a holder scan looked at.
typedef struct bk_scan_stats {
    uint32_t processes;      // /proc/PID entries tried
    uint32_t denied;         // /proc/PID/fd not readable (EACCES, EPERM): another user's process
    uint32_t vanished;       // gone between the listing and the read
    uint32_t stopped_early;  // left once they held every wanted socket
    uint64_t descriptors;    // descriptors read
    uint32_t rows_dropped;   // rows that did not fit in `cap`
    uint32_t pad;
} bk_scan_stats;

/// Finds the processes that hold the sockets `inodes` (sorted ascending, no repeats): for each
/// /proc/PID, readlinkat(2) of every entry of PID/fd (getdents64(2)) until the process holds every
/// wanted socket. One row per (process, socket): its first descriptor. Returns the rows written
/// (at most `cap`; `rows_dropped` counts the rest) or -errno of opening /proc.
int bk_find_holders(const uint64_t *inodes, int n, bk_holder *out, int cap, bk_scan_stats *stats);

/// A holder's socket options, read on a duplicate of its descriptor.
typedef struct bk_holder_opts {
    int32_t domain;         // SO_DOMAIN
    int32_t type;           // SO_TYPE
    int32_t protocol;       // SO_PROTOCOL
    int32_t reuseaddr;      // SO_REUSEADDR
    int32_t reuseport;      // SO_REUSEPORT
    int32_t v6only;         // IPV6_V6ONLY, -1 for a socket that is not AF_INET6
    int32_t bindtoifindex;  // SO_BINDTOIFINDEX (-1 before Linux 5.1)
    int32_t freebind;       // IP_FREEBIND (the same flag as IPV6_FREEBIND)
    int32_t transparent;    // IP_TRANSPARENT (the same flag as IPV6_TRANSPARENT)
    int32_t acceptconn;     // SO_ACCEPTCONN: listening
    char device[16];        // SO_BINDTODEVICE, "" for none
    uint64_t cookie;        // SO_COOKIE
} bk_holder_opts;

/// pidfd_open(2) of `pid`, pidfd_getfd(2) of its descriptor `fd` (the duplicate is this process's,
/// O_CLOEXEC), fstat(2) and SO_COOKIE to check that it is still the socket `inode` / `cookie`
/// (0: not checked), getsockopt(2) of each option, close(2) at once. Returns 0 or -errno: -EPERM
/// (no ptrace access), -ESRCH (the process is gone), -EBADF (the descriptor is closed), -ESTALE
/// (it now names another file), -ENOSYS (Linux < 5.6).
int bk_holder_opts_read(int32_t pid, int32_t fd, uint64_t inode, uint64_t cookie, bk_holder_opts *out);

/// Sets the calling thread's real, effective and saved uid and gid (and clears its supplementary
/// groups) with the raw system calls, which change this thread only; from uid 0 to another, the
/// thread loses every capability and cannot come back. For a thread of its own that is to act
/// as an unprivileged user.
int bk_thread_set_ids(uint32_t uid, uint32_t gid);

// bk_data.c: the data path of a socket and what reach steps need.

#define BK_SO_BROADCAST 6
#define BK_POLLIN 0x001
#define BK_POLLOUT 0x004
#define BK_POLLERR 0x008

/// poll(2) of one descriptor for `events`, at most `timeout_ms` (-1: no limit), EINTR retried with
/// the time left. Returns the revents, 0 on timeout, or -errno.
int bk_wait(int fd, int events, int timeout_ms);
/// sendto(2) of `len` bytes to `to` (NULL: the connected destination) with MSG_NOSIGNAL; EINTR
/// retried. `timeout_ms` >= 0 waits at most that long for room (-EAGAIN after), -1 blocks.
/// Returns the bytes sent or -errno.
int64_t bk_sendto(int fd, const bk_addr *to, const void *buf, size_t len, int timeout_ms);
/// recvfrom(2) into `buf`; `from` (may be NULL) gets the sender. `timeout_ms` >= 0 waits at most
/// that long (-EAGAIN after; 0: do not wait), -1 blocks; EINTR retried. Returns the bytes or -errno.
int64_t bk_recvfrom(int fd, void *buf, size_t cap, bk_addr *from, int timeout_ms);
/// The bytes the receive queue holds (SO_MEMINFO's SK_MEMINFO_RMEM_ALLOC), read without taking
/// a datagram or a pending error. Returns the count or -errno.
int64_t bk_rmem_alloc(int fd);
/// Waits at most `timeout_ms` for a connection on the listener `fd` and accepts it (accept4(2),
/// SOCK_CLOEXEC | SOCK_NONBLOCK); -EAGAIN when none came. Returns the new descriptor or -errno.
int bk_accept_ready(int fd, int timeout_ms, bk_addr *peer);
/// Moves the interface `name` of the calling thread's namespace into the network namespace
/// `netns_fd` refers to (RTM_NEWLINK with IFLA_NET_NS_FD). Returns 0 or -errno.
int bk_link_set_netns(const char *name, int netns_fd);

#ifdef __cplusplus
}
#endif
#endif
