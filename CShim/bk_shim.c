#include "bk_shim.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

// After <netinet/in.h>: its libc-compat guards let <linux/in.h> add what glibc lacks.
#include <linux/in.h>

// MARK: - What Swift relies on, checked against the system headers

_Static_assert(sizeof(struct sockaddr_in) == 16, "sockaddr_in layout");
_Static_assert(sizeof(struct sockaddr_in6) == 28, "sockaddr_in6 layout");
_Static_assert(offsetof(struct sockaddr_in6, sin6_scope_id) == BK_SIN6_LEN_RFC2133, "RFC 2133 sockaddr_in6 length");

_Static_assert(BK_SOL_SOCKET == SOL_SOCKET, "SOL_SOCKET");
_Static_assert(BK_IPPROTO_IP == IPPROTO_IP, "IPPROTO_IP");
_Static_assert(BK_IPPROTO_IPV6 == IPPROTO_IPV6, "IPPROTO_IPV6");
_Static_assert(BK_SO_REUSEADDR == SO_REUSEADDR, "SO_REUSEADDR");
_Static_assert(BK_SO_KEEPALIVE == SO_KEEPALIVE, "SO_KEEPALIVE");
_Static_assert(BK_SO_SNDBUF == SO_SNDBUF, "SO_SNDBUF");
_Static_assert(BK_SO_RCVBUF == SO_RCVBUF, "SO_RCVBUF");
_Static_assert(BK_SO_REUSEPORT == SO_REUSEPORT, "SO_REUSEPORT");
_Static_assert(BK_SO_RCVTIMEO == SO_RCVTIMEO, "SO_RCVTIMEO");
_Static_assert(BK_SO_SNDTIMEO == SO_SNDTIMEO, "SO_SNDTIMEO");
_Static_assert(BK_SO_BINDTODEVICE == SO_BINDTODEVICE, "SO_BINDTODEVICE");
_Static_assert(BK_IP_FREEBIND == IP_FREEBIND, "IP_FREEBIND");
_Static_assert(BK_IP_TRANSPARENT == IP_TRANSPARENT, "IP_TRANSPARENT");
_Static_assert(BK_IP_LOCAL_PORT_RANGE == IP_LOCAL_PORT_RANGE, "IP_LOCAL_PORT_RANGE");
_Static_assert(BK_IPV6_V6ONLY == IPV6_V6ONLY, "IPV6_V6ONLY");
_Static_assert(BK_IPV6_TRANSPARENT == IPV6_TRANSPARENT, "IPV6_TRANSPARENT");
_Static_assert(BK_IPV6_FREEBIND == IPV6_FREEBIND, "IPV6_FREEBIND");
_Static_assert(BK_TCP_ESTABLISHED == TCP_ESTABLISHED, "TCP_ESTABLISHED");
_Static_assert(BK_TCP_SYN_SENT == TCP_SYN_SENT, "TCP_SYN_SENT");
_Static_assert(BK_TCP_SYN_RECV == TCP_SYN_RECV, "TCP_SYN_RECV");
_Static_assert(BK_TCP_FIN_WAIT1 == TCP_FIN_WAIT1, "TCP_FIN_WAIT1");
_Static_assert(BK_TCP_FIN_WAIT2 == TCP_FIN_WAIT2, "TCP_FIN_WAIT2");
_Static_assert(BK_TCP_TIME_WAIT == TCP_TIME_WAIT, "TCP_TIME_WAIT");
_Static_assert(BK_TCP_CLOSE == TCP_CLOSE, "TCP_CLOSE");
_Static_assert(BK_TCP_CLOSE_WAIT == TCP_CLOSE_WAIT, "TCP_CLOSE_WAIT");
_Static_assert(BK_TCP_LAST_ACK == TCP_LAST_ACK, "TCP_LAST_ACK");
_Static_assert(BK_TCP_LISTEN == TCP_LISTEN, "TCP_LISTEN");
_Static_assert(BK_TCP_CLOSING == TCP_CLOSING, "TCP_CLOSING");
_Static_assert(BK_SHUT_RD == SHUT_RD, "SHUT_RD");
_Static_assert(BK_SHUT_WR == SHUT_WR, "SHUT_WR");
_Static_assert(BK_SHUT_RDWR == SHUT_RDWR, "SHUT_RDWR");
_Static_assert(BK_IFNAMSIZ == IFNAMSIZ, "IFNAMSIZ");
_Static_assert(BK_IFF_UP == IFF_UP, "IFF_UP");
_Static_assert(BK_IFF_LOOPBACK == IFF_LOOPBACK, "IFF_LOOPBACK");
_Static_assert(BK_IFF_RUNNING == IFF_RUNNING, "IFF_RUNNING");

// The structs Swift reads field by field: their size and the offset of every field.
_Static_assert(sizeof(bk_addr) == 32, "bk_addr");
BK_FIELD(bk_addr, family, 0);
BK_FIELD(bk_addr, port, 4);
BK_FIELD(bk_addr, bytes, 6);
_Static_assert(sizeof(((bk_addr *)0)->bytes) == 16, "bk_addr.bytes");
BK_FIELD(bk_addr, scope_id, 24);
BK_FIELD(bk_addr, flowinfo, 28);
_Static_assert(sizeof(bk_capsets) == 40, "bk_capsets");
BK_FIELD(bk_capsets, effective, 0);
BK_FIELD(bk_capsets, permitted, 8);
BK_FIELD(bk_capsets, inheritable, 16);
BK_FIELD(bk_capsets, bounding, 24);
BK_FIELD(bk_capsets, ambient, 32);
_Static_assert(sizeof(bk_ifaddr) == 52, "bk_ifaddr");
BK_FIELD(bk_ifaddr, name, 0);
_Static_assert(sizeof(((bk_ifaddr *)0)->name) == IFNAMSIZ, "bk_ifaddr.name");
BK_FIELD(bk_ifaddr, index, 16);
BK_FIELD(bk_ifaddr, flags, 20);
BK_FIELD(bk_ifaddr, family, 24);
BK_FIELD(bk_ifaddr, addr, 28);
_Static_assert(sizeof(((bk_ifaddr *)0)->addr) == 16, "bk_ifaddr.addr");
BK_FIELD(bk_ifaddr, prefix_len, 44);
BK_FIELD(bk_ifaddr, scope_id, 48);

#define NEG_ERRNO (-(errno ? errno : EIO))

// MARK: - Socket addresses

int bk_sockaddr_encode(const bk_addr *a, struct sockaddr_storage *out) {
    memset(out, 0, sizeof(*out));
    if (a->family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)out;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(a->port);
        memcpy(&sin->sin_addr, a->bytes, 4);
        return (int)sizeof(*sin);
    }
    if (a->family == AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(a->port);
        sin6->sin6_flowinfo = htonl(a->flowinfo);
        memcpy(&sin6->sin6_addr, a->bytes, 16);
        sin6->sin6_scope_id = a->scope_id;
        return (int)sizeof(*sin6);
    }
    return -EAFNOSUPPORT;
}

int bk_sockaddr_decode(const void *raw, size_t len, bk_addr *out) {
    memset(out, 0, sizeof(*out));
    if (raw == NULL || len < sizeof(sa_family_t)) return -EINVAL;
    sa_family_t family;
    memcpy(&family, raw, sizeof(family));
    out->family = family;
    if (family == AF_INET) {
        if (len < sizeof(struct sockaddr_in)) return -EINVAL;
        struct sockaddr_in sin;
        memcpy(&sin, raw, sizeof(sin));
        out->port = ntohs(sin.sin_port);
        memcpy(out->bytes, &sin.sin_addr, 4);
        return 0;
    }
    if (family == AF_INET6) {
        // The kernel accepts the RFC 2133 length (no scope id) too.
        if (len < (size_t)BK_SIN6_LEN_RFC2133) return -EINVAL;
        struct sockaddr_in6 sin6;
        memset(&sin6, 0, sizeof(sin6));
        memcpy(&sin6, raw, len < sizeof(sin6) ? len : sizeof(sin6));
        out->port = ntohs(sin6.sin6_port);
        out->flowinfo = ntohl(sin6.sin6_flowinfo);
        memcpy(out->bytes, &sin6.sin6_addr, 16);
        out->scope_id = len >= sizeof(sin6) ? sin6.sin6_scope_id : 0;
        return 0;
    }
    return -EAFNOSUPPORT;
}

// MARK: - Syscalls

int bk_socket(int family, int transport) {
    int type = transport == 1 ? SOCK_DGRAM : SOCK_STREAM;
    int fd = socket(family, type | SOCK_CLOEXEC, 0);
    return fd < 0 ? NEG_ERRNO : fd;
}

int bk_bind(int fd, const bk_addr *a) {
    struct sockaddr_storage ss;
    int len = bk_sockaddr_encode(a, &ss);
    if (len < 0) return len;
    return bind(fd, (struct sockaddr *)&ss, (socklen_t)len) < 0 ? NEG_ERRNO : 0;
}

int bk_bind_raw(int fd, const void *sa, socklen_t len) {
    return bind(fd, (const struct sockaddr *)sa, len) < 0 ? NEG_ERRNO : 0;
}

int bk_listen(int fd, int backlog) {
    return listen(fd, backlog) < 0 ? NEG_ERRNO : 0;
}

static int64_t monotonic_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/// Waits for the connection in progress on `fd` to end: poll(2) for writability until
/// `deadline_ns` (CLOCK_MONOTONIC; < 0: no limit), each EINTR retried with what is left, then
/// SO_ERROR. Returns 0, -errno of the connection, or `expired` past the deadline.
static int connect_wait(int fd, int64_t deadline_ns, int expired, const struct sockaddr *again, socklen_t again_len) {
    for (;;) {
        int wait = -1;
        if (deadline_ns >= 0) {
            int64_t left = deadline_ns - monotonic_ns();
            wait = left <= 0 ? 0 : (int)((left + 999999) / 1000000);
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int n = poll(&p, 1, wait);
        if (n > 0) break;
        if (n < 0 && errno != EINTR) return NEG_ERRNO;
        if (n == 0 && wait == 0) return expired;
    }
    int err = 0;
    socklen_t elen = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) return NEG_ERRNO;
    // The connection is over (made or failed), but the socket layer still counts the socket as
    // connecting until connect() is called again: that call answers 0 (the socket is then
    // connected: a later connect() is EISCONN) or ECONNABORTED (it is then unconnected: a later
    // connect() starts afresh), as a blocking connect() would have left it (__inet_stream_connect).
    if (again) (void)connect(fd, again, again_len);
    return err ? -err : 0;
}

int bk_connect(int fd, const bk_addr *a, int timeout_ms) {
    struct sockaddr_storage ss;
    int len = bk_sockaddr_encode(a, &ss);
    if (len < 0) return len;
    int64_t start = monotonic_ns();
    if (timeout_ms < 0) {
        if (connect(fd, (struct sockaddr *)&ss, (socklen_t)len) == 0) return 0;
        if (errno != EINTR) return NEG_ERRNO;
        // Interrupted, the connection goes on in the kernel; connect() again would be EALREADY on a
        // non-blocking socket and, once SO_SNDTIMEO runs out, on a blocking one. Wait as the
        // first call would have: without limit, or SO_SNDTIMEO from the start, then EINPROGRESS.
        struct timeval tv = {0, 0};
        socklen_t tlen = sizeof(tv);
        int64_t deadline = -1;
        if (getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &tlen) == 0 && (tv.tv_sec != 0 || tv.tv_usec != 0)) {
            deadline = start + (int64_t)tv.tv_sec * 1000000000 + (int64_t)tv.tv_usec * 1000;
        }
        return connect_wait(fd, deadline, -EINPROGRESS, (struct sockaddr *)&ss, (socklen_t)len);
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return NEG_ERRNO;
    if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return NEG_ERRNO;
    int result = 0;
    if (connect(fd, (struct sockaddr *)&ss, (socklen_t)len) < 0) {
        result = errno == EINPROGRESS || errno == EINTR ? connect_wait(fd, start + (int64_t)timeout_ms * 1000000, -ETIMEDOUT,
                                                                       (struct sockaddr *)&ss, (socklen_t)len)
                                                        : NEG_ERRNO;
    }
    if (!(flags & O_NONBLOCK)) (void)fcntl(fd, F_SETFL, flags);
    return result;
}

int bk_accept(int fd, bk_addr *peer) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int r;
    do { r = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC); } while (r < 0 && errno == EINTR);
    if (r < 0) return NEG_ERRNO;
    if (peer) (void)bk_sockaddr_decode(&ss, len, peer);
    return r;
}

static int name_call(int fd, bk_addr *out, int peer) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int r = peer ? getpeername(fd, (struct sockaddr *)&ss, &len) : getsockname(fd, (struct sockaddr *)&ss, &len);
    if (r < 0) return NEG_ERRNO;
    return bk_sockaddr_decode(&ss, len, out);
}

int bk_getsockname(int fd, bk_addr *out) { return name_call(fd, out, 0); }
int bk_getpeername(int fd, bk_addr *out) { return name_call(fd, out, 1); }

int bk_shutdown(int fd, int how) {
    return shutdown(fd, how) < 0 ? NEG_ERRNO : 0;
}

int bk_close(int fd) {
    // Linux releases the descriptor even when close() reports EINTR: never retry.
    return close(fd) < 0 && errno != EINTR ? NEG_ERRNO : 0;
}

int bk_setsockopt_int(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof(value)) < 0 ? NEG_ERRNO : 0;
}

int bk_getsockopt_int(int fd, int level, int name, int *value) {
    socklen_t len = sizeof(*value);
    *value = 0;
    return getsockopt(fd, level, name, value, &len) < 0 ? NEG_ERRNO : 0;
}

int bk_setsockopt_raw(int fd, int level, int name, const void *value, socklen_t len) {
    return setsockopt(fd, level, name, value, len) < 0 ? NEG_ERRNO : 0;
}

int bk_getsockopt_raw(int fd, int level, int name, void *value, socklen_t *len) {
    return getsockopt(fd, level, name, value, len) < 0 ? NEG_ERRNO : 0;
}

int bk_set_timeout_us(int fd, int name, int64_t usec) {
    if (usec < 0) return -EINVAL;
    struct timeval tv = {.tv_sec = (time_t)(usec / 1000000), .tv_usec = (suseconds_t)(usec % 1000000)};
    return setsockopt(fd, SOL_SOCKET, name, &tv, sizeof(tv)) < 0 ? NEG_ERRNO : 0;
}

int bk_get_timeout_us(int fd, int name, int64_t *usec) {
    struct timeval tv;
    socklen_t len = sizeof(tv);
    if (getsockopt(fd, SOL_SOCKET, name, &tv, &len) < 0) return NEG_ERRNO;
    *usec = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
    return 0;
}

int bk_set_linger(int fd, int on, int seconds) {
    struct linger l = {.l_onoff = on, .l_linger = seconds};
    return setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) < 0 ? NEG_ERRNO : 0;
}

int bk_get_linger(int fd, int *on, int *seconds) {
    struct linger l = {0, 0};
    socklen_t len = sizeof(l);
    if (getsockopt(fd, SOL_SOCKET, SO_LINGER, &l, &len) < 0) return NEG_ERRNO;
    *on = l.l_onoff;
    *seconds = l.l_linger;
    return 0;
}

int bk_get_tcp_state(int fd) {
    struct tcp_info info;
    socklen_t len = sizeof(info);
    memset(&info, 0, sizeof(info));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0) return NEG_ERRNO;
    return info.tcpi_state;
}

int bk_set_nonblocking(int fd, bool on) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return NEG_ERRNO;
    flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, flags) < 0 ? NEG_ERRNO : 0;
}

int bk_get_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return NEG_ERRNO;
    return (flags & O_NONBLOCK) ? 1 : 0;
}

int bk_count_open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return NEG_ERRNO;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') n++;
    }
    closedir(d);
    return n - 1;  // the directory's own descriptor
}

// MARK: - Files

int64_t bk_read_file(const char *path, void *buf, size_t cap) {
    int fd;
    do { fd = open(path, O_RDONLY | O_CLOEXEC); } while (fd < 0 && errno == EINTR);
    if (fd < 0) return NEG_ERRNO;
    size_t total = 0;
    int64_t result = 0;
    while (total < cap) {
        ssize_t n = read(fd, (char *)buf + total, cap - total);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            result = NEG_ERRNO;
            break;
        }
        if (n == 0) break;
        total += (size_t)n;
    }
    close(fd);
    return result < 0 ? result : (int64_t)total;
}

int bk_write_file(const char *path, const void *buf, size_t len) {
    int fd;
    do { fd = open(path, O_WRONLY | O_CLOEXEC); } while (fd < 0 && errno == EINTR);
    if (fd < 0) return NEG_ERRNO;
    // One write: a /proc/sys handler takes the whole value in one call.
    ssize_t n;
    do { n = write(fd, buf, len); } while (n < 0 && errno == EINTR);
    int result = n < 0 ? NEG_ERRNO : 0;
    close(fd);
    return result;
}

// MARK: - Text addresses

int bk_inet_pton4(const char *s, uint8_t out[4]) { return inet_pton(AF_INET, s, out) == 1 ? 1 : 0; }
int bk_inet_pton6(const char *s, uint8_t out[16]) { return inet_pton(AF_INET6, s, out) == 1 ? 1 : 0; }

int bk_inet_aton(const char *s, uint8_t out[4]) {
    struct in_addr a;
    if (inet_aton(s, &a) == 0) return 0;
    memcpy(out, &a, 4);
    return 1;
}

int bk_inet_ntop4(const uint8_t in[4], char *buf, size_t len) {
    if (inet_ntop(AF_INET, in, buf, (socklen_t)len) == NULL) return -ENOSPC;
    return (int)strlen(buf);
}

int bk_inet_ntop6(const uint8_t in[16], char *buf, size_t len) {
    if (inet_ntop(AF_INET6, in, buf, (socklen_t)len) == NULL) return -ENOSPC;
    return (int)strlen(buf);
}

// MARK: - Capabilities

static uint64_t flag_mask(cap_t caps, cap_flag_t which) {
    uint64_t mask = 0;
    int max = bk_cap_max_bits();
    for (int c = 0; c <= max && c < 64; c++) {
        cap_flag_value_t v = CAP_CLEAR;
        if (cap_get_flag(caps, (cap_value_t)c, which, &v) == 0 && v == CAP_SET) mask |= (1ULL << c);
    }
    return mask;
}

int bk_cap_max_bits(void) {
    // cap_max_bits() returns the number of capabilities the kernel knows.
    unsigned n = cap_max_bits();
    return n == 0 ? CAP_LAST_CAP : (int)n - 1;
}

int bk_caps_self(bk_capsets *out) {
    memset(out, 0, sizeof(*out));
    cap_t caps = cap_get_proc();
    if (!caps) return NEG_ERRNO;
    out->effective = flag_mask(caps, CAP_EFFECTIVE);
    out->permitted = flag_mask(caps, CAP_PERMITTED);
    out->inheritable = flag_mask(caps, CAP_INHERITABLE);
    cap_free(caps);
    int max = bk_cap_max_bits();
    for (int c = 0; c <= max && c < 64; c++) {
        if (cap_get_bound((cap_value_t)c) == 1) out->bounding |= (1ULL << c);
        if (cap_get_ambient((cap_value_t)c) == 1) out->ambient |= (1ULL << c);
    }
    return 0;
}

int bk_caps_file(const char *path, bk_capsets *out) {
    memset(out, 0, sizeof(*out));
    if (access(path, F_OK) != 0) return NEG_ERRNO;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NEG_ERRNO;
    errno = 0;
    cap_t caps = cap_get_fd(fd);
    int saved = errno;
    close(fd);
    if (!caps) return (saved == ENODATA || saved == 0 || saved == ENOTSUP) ? 0 : -saved;
    out->effective = flag_mask(caps, CAP_EFFECTIVE);
    out->permitted = flag_mask(caps, CAP_PERMITTED);
    out->inheritable = flag_mask(caps, CAP_INHERITABLE);
    cap_free(caps);
    return 1;
}

int bk_cap_from_name(const char *name) {
    cap_value_t v;
    char lower[64];
    size_t n = strlen(name);
    if (n == 0 || n >= sizeof(lower)) return -EINVAL;
    for (size_t i = 0; i <= n; i++) {
        char c = name[i];
        lower[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    if (strncmp(lower, "cap_", 4) != 0) return -EINVAL;
    if (cap_from_name(lower, &v) != 0) return -EINVAL;
    return (int)v;
}

int bk_thread_set_effective_caps(uint64_t effective) {
    cap_t caps = cap_get_proc();
    if (!caps) return NEG_ERRNO;
    int max = bk_cap_max_bits();
    for (int c = 0; c <= max && c < 64; c++) {
        cap_value_t v = (cap_value_t)c;
        cap_set_flag(caps, CAP_EFFECTIVE, 1, &v, (effective >> c) & 1 ? CAP_SET : CAP_CLEAR);
    }
    int r = cap_set_proc(caps) < 0 ? NEG_ERRNO : 0;
    cap_free(caps);
    return r;
}

int bk_thread_set_euid(uint32_t euid) {
    // The raw system call, not glibc's setresuid(), which would change every thread.
    long r = syscall(SYS_setresuid, (uid_t)-1, (uid_t)euid, (uid_t)-1);
    return r < 0 ? NEG_ERRNO : 0;
}

int bk_no_new_privs(void) {
    int r = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
    return r < 0 ? NEG_ERRNO : r;
}

int bk_in_initial_userns(void) {
    // The initial user namespace maps the whole uid range: "0 0 4294967295".
    int fd = open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NEG_ERRNO;
    char buf[256];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0) return NEG_ERRNO;
    buf[n] = 0;
    unsigned long a = 1, b = 1, c = 0;
    if (sscanf(buf, "%lu %lu %lu", &a, &b, &c) != 3) return 0;
    return (a == 0 && b == 0 && c == 4294967295UL) ? 1 : 0;
}

// MARK: - Interfaces

static uint8_t prefix_of(const struct sockaddr *mask) {
    if (!mask) return 0;
    const uint8_t *p;
    size_t n;
    if (mask->sa_family == AF_INET) {
        p = (const uint8_t *)&((const struct sockaddr_in *)mask)->sin_addr;
        n = 4;
    } else if (mask->sa_family == AF_INET6) {
        p = (const uint8_t *)&((const struct sockaddr_in6 *)mask)->sin6_addr;
        n = 16;
    } else {
        return 0;
    }
    uint8_t bits = 0;
    for (size_t i = 0; i < n; i++) bits += (uint8_t)__builtin_popcount(p[i]);
    return bits;
}

int bk_interfaces(bk_ifaddr *out, int max) {
    struct ifaddrs *list;
    if (getifaddrs(&list) < 0) return NEG_ERRNO;
    int count = 0;
    // Addresses first.
    for (struct ifaddrs *i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr) continue;
        int fam = i->ifa_addr->sa_family;
        if (fam != AF_INET && fam != AF_INET6) continue;
        if (count < max) {
            bk_ifaddr *o = &out[count];
            memset(o, 0, sizeof(*o));
            strncpy(o->name, i->ifa_name, sizeof(o->name) - 1);
            o->index = if_nametoindex(i->ifa_name);
            o->flags = i->ifa_flags;
            o->family = fam;
            bk_addr a;
            socklen_t len = fam == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
            if (bk_sockaddr_decode(i->ifa_addr, len, &a) == 0) {
                memcpy(o->addr, a.bytes, 16);
                o->scope_id = a.scope_id;
            }
            o->prefix_len = prefix_of(i->ifa_netmask);
        }
        count++;
    }
    // Then interfaces that have no address at all (AF_PACKET entries only).
    for (struct ifaddrs *i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_PACKET) continue;
        int has = 0;
        for (struct ifaddrs *j = list; j; j = j->ifa_next) {
            if (j->ifa_addr && (j->ifa_addr->sa_family == AF_INET || j->ifa_addr->sa_family == AF_INET6) &&
                strcmp(j->ifa_name, i->ifa_name) == 0) {
                has = 1;
                break;
            }
        }
        if (has) continue;
        if (count < max) {
            bk_ifaddr *o = &out[count];
            memset(o, 0, sizeof(*o));
            strncpy(o->name, i->ifa_name, sizeof(o->name) - 1);
            o->index = if_nametoindex(i->ifa_name);
            o->flags = i->ifa_flags;
        }
        count++;
    }
    freeifaddrs(list);
    return count;
}

int bk_if_nametoindex(const char *name) {
    unsigned idx = if_nametoindex(name);
    return idx == 0 ? NEG_ERRNO : (int)idx;
}

int bk_if_indextoname(uint32_t index, char out[16]) {
    return if_indextoname(index, out) == NULL ? NEG_ERRNO : 0;
}
