// The host's sockets as the kernel sees them: NETLINK_SOCK_DIAG requests (the replies are parsed
// in Swift), the /proc/PID/fd scan that finds which processes hold a socket, and the read of a
// holder's options through pidfd_getfd. Facts and measurements: notes/diag/FACTS.md.
#include "bk_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif
#ifndef SO_BINDTOIFINDEX
#define SO_BINDTOIFINDEX 62
#endif
// The same numbers on every architecture since the syscall tables were unified (Linux 5.1).
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

#define NEG_ERRNO (-(errno ? errno : EIO))

// MARK: - What Swift relies on, checked against the uapi headers

_Static_assert(BK_NETLINK_SOCK_DIAG == NETLINK_SOCK_DIAG, "NETLINK_SOCK_DIAG");
_Static_assert(BK_SOCK_DIAG_BY_FAMILY == SOCK_DIAG_BY_FAMILY, "SOCK_DIAG_BY_FAMILY");
_Static_assert(BK_TCPDIAG_GETSOCK == TCPDIAG_GETSOCK, "TCPDIAG_GETSOCK");
_Static_assert(BK_NLMSG_NOOP == NLMSG_NOOP, "NLMSG_NOOP");
_Static_assert(BK_NLMSG_ERROR == NLMSG_ERROR, "NLMSG_ERROR");
_Static_assert(BK_NLMSG_DONE == NLMSG_DONE, "NLMSG_DONE");
_Static_assert(BK_NLMSG_HDRLEN == NLMSG_HDRLEN, "NLMSG_HDRLEN");
_Static_assert(BK_NLA_TYPE_MASK == (NLA_TYPE_MASK & 0xffff), "NLA_TYPE_MASK");
_Static_assert(BK_INET_DIAG_SHUTDOWN == INET_DIAG_SHUTDOWN, "INET_DIAG_SHUTDOWN");
_Static_assert(BK_INET_DIAG_SKV6ONLY == INET_DIAG_SKV6ONLY, "INET_DIAG_SKV6ONLY");
_Static_assert(BK_INET_DIAG_MARK == INET_DIAG_MARK, "INET_DIAG_MARK");
// Older uapi headers (Debian 12's are 6.1) have no INET_DIAG_SOCKOPT or CGROUP_ID name: they follow
// INET_DIAG_CLASS_ID (17), MD5SIG (18), ULP_INFO (19), SK_BPF_STORAGES (20) in the enum.
_Static_assert(INET_DIAG_CLASS_ID == 17, "INET_DIAG_CLASS_ID");
_Static_assert(BK_INET_DIAG_CGROUP_ID == INET_DIAG_CLASS_ID + 4, "INET_DIAG_CGROUP_ID");
_Static_assert(BK_INET_DIAG_SOCKOPT == INET_DIAG_CLASS_ID + 5, "INET_DIAG_SOCKOPT");
_Static_assert(BK_TCP_NEW_SYN_RECV == BK_TCP_CLOSING + 1, "TCP_NEW_SYN_RECV follows TCP_CLOSING");
_Static_assert(BK_TCP_BOUND_INACTIVE == BK_TCP_NEW_SYN_RECV + 1, "TCP_BOUND_INACTIVE follows TCP_NEW_SYN_RECV");

_Static_assert(sizeof(struct nlmsghdr) == BK_NLMSG_HDRLEN, "nlmsghdr");
_Static_assert(sizeof(struct inet_diag_sockid) == 48, "inet_diag_sockid");
_Static_assert(sizeof(struct inet_diag_req) == 60, "inet_diag_req");
_Static_assert(sizeof(struct inet_diag_req_v2) == 56, "inet_diag_req_v2");
_Static_assert(sizeof(struct inet_diag_bc_op) == 4, "inet_diag_bc_op");
_Static_assert(sizeof(struct inet_diag_msg) == BK_INET_DIAG_MSG_LEN, "inet_diag_msg");
BK_FIELD(struct inet_diag_msg, idiag_family, BK_IDIAG_FAMILY);
BK_FIELD(struct inet_diag_msg, idiag_state, BK_IDIAG_STATE);
BK_FIELD(struct inet_diag_msg, idiag_timer, BK_IDIAG_TIMER);
BK_FIELD(struct inet_diag_msg, id.idiag_sport, BK_IDIAG_SPORT);
BK_FIELD(struct inet_diag_msg, id.idiag_dport, BK_IDIAG_DPORT);
BK_FIELD(struct inet_diag_msg, id.idiag_src, BK_IDIAG_SRC);
BK_FIELD(struct inet_diag_msg, id.idiag_dst, BK_IDIAG_DST);
BK_FIELD(struct inet_diag_msg, id.idiag_if, BK_IDIAG_IF);
BK_FIELD(struct inet_diag_msg, id.idiag_cookie, BK_IDIAG_COOKIE);
BK_FIELD(struct inet_diag_msg, idiag_expires, BK_IDIAG_EXPIRES);
BK_FIELD(struct inet_diag_msg, idiag_uid, BK_IDIAG_UID);
BK_FIELD(struct inet_diag_msg, idiag_inode, BK_IDIAG_INODE);

_Static_assert(sizeof(bk_holder) == 16, "bk_holder");
BK_FIELD(bk_holder, pid, 0);
BK_FIELD(bk_holder, fd, 4);
BK_FIELD(bk_holder, inode, 8);
_Static_assert(sizeof(bk_scan_stats) == 32, "bk_scan_stats");
BK_FIELD(bk_scan_stats, processes, 0);
BK_FIELD(bk_scan_stats, denied, 4);
BK_FIELD(bk_scan_stats, vanished, 8);
BK_FIELD(bk_scan_stats, stopped_early, 12);
BK_FIELD(bk_scan_stats, descriptors, 16);
BK_FIELD(bk_scan_stats, rows_dropped, 24);
_Static_assert(sizeof(bk_holder_opts) == 64, "bk_holder_opts");
BK_FIELD(bk_holder_opts, domain, 0);
BK_FIELD(bk_holder_opts, reuseaddr, 12);
BK_FIELD(bk_holder_opts, reuseport, 16);
BK_FIELD(bk_holder_opts, v6only, 20);
BK_FIELD(bk_holder_opts, bindtoifindex, 24);
BK_FIELD(bk_holder_opts, acceptconn, 36);
BK_FIELD(bk_holder_opts, device, 40);
BK_FIELD(bk_holder_opts, cookie, 56);

// MARK: - Requests

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

static uint8_t *bc_op(uint8_t *p, uint8_t code, uint8_t yes, uint16_t no) {
    struct inet_diag_bc_op op = {.code = code, .yes = yes, .no = no};
    memcpy(p, &op, sizeof op);
    return p + sizeof op;
}

// `inet_diag_bc_run()` steps `yes` bytes on a match and `no` bytes otherwise; a filter matches when
// it ends exactly at its end. `inet_diag_bc_audit()` follows the `yes` steps and wants every `no`
// target on that path, so an alternative is written as ss writes `||`: the test, then a JMP (never
// taken as `yes`, whose `no` reaches the end), then the next test. A test's `no` lands after its
// JMP; the last test's lands 4 bytes past the end, which rejects.
int bk_diag_bytecode(const uint16_t *ports, int n, int form, uint8_t *out, size_t cap) {
    if (n < 1 || n > BK_DIAG_MAX_PORTS || (form != 0 && form != 1)) return -EINVAL;
    size_t test = form == 0 ? 8 : 16;
    size_t len = (size_t)n * (test + 4) - 4;
    if (len > cap) return -ENOSPC;
    uint8_t *p = out;
    for (int i = 0; i < n; i++) {
        if (form == 0) {
            p = bc_op(p, INET_DIAG_BC_S_EQ, 8, 12);
            p = bc_op(p, 0, 0, ports[i]);
        } else {
            p = bc_op(p, INET_DIAG_BC_S_GE, 8, 20);
            p = bc_op(p, 0, 0, ports[i]);
            p = bc_op(p, INET_DIAG_BC_S_LE, 8, 12);
            p = bc_op(p, 0, 0, ports[i]);
        }
        if (i < n - 1) p = bc_op(p, INET_DIAG_BC_JMP, 4, (uint16_t)(len - (size_t)(p - out)));
    }
    return (int)len;
}

int bk_diag_request(uint8_t *out, size_t cap, uint32_t seq, uint8_t family, uint8_t protocol, uint32_t states,
                    const uint8_t *bytecode, size_t bclen) {
    int compat = family == AF_UNSPEC;
    size_t body = compat ? sizeof(struct inet_diag_req) : sizeof(struct inet_diag_req_v2);
    size_t attr = bclen ? NLA_HDRLEN + NLA_ALIGN(bclen) : 0;
    size_t len = NLMSG_HDRLEN + body + attr;
    if (len > cap || bclen > 0xffff - NLA_HDRLEN) return -ENOSPC;
    memset(out, 0, len);
    struct nlmsghdr nh = {
        .nlmsg_len = (uint32_t)len,
        .nlmsg_type = compat ? TCPDIAG_GETSOCK : SOCK_DIAG_BY_FAMILY,
        .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
        .nlmsg_seq = seq,
    };
    memcpy(out, &nh, sizeof nh);
    // The id stays zero: no sport pre-filter (the bound-inactive walk ignores it), no cookie.
    if (compat) {
        // inet_diag_dump_compat() walks each TCP table once, for both families.
        struct inet_diag_req r = {.idiag_states = states};
        memcpy(out + NLMSG_HDRLEN, &r, sizeof r);
    } else {
        struct inet_diag_req_v2 r = {.sdiag_family = family, .sdiag_protocol = protocol, .idiag_states = states};
        memcpy(out + NLMSG_HDRLEN, &r, sizeof r);
    }
    if (bclen) {
        uint8_t *a = out + NLMSG_HDRLEN + body;
        put16(a, (uint16_t)(NLA_HDRLEN + bclen));
        put16(a + 2, INET_DIAG_REQ_BYTECODE);
        memcpy(a + NLA_HDRLEN, bytecode, bclen);
    }
    return (int)len;
}

int bk_diag_open(void) {
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) return NEG_ERRNO;
    // A dump answers at once; the timeout only keeps a caller from waiting forever on a kernel
    // that would not.
    struct timeval tv = {.tv_sec = 30};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
        int e = NEG_ERRNO;
        close(fd);
        return e;
    }
    return fd;
}

int bk_diag_send(int fd, const uint8_t *request, size_t len) {
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    ssize_t n;
    do {
        n = sendto(fd, request, len, 0, (struct sockaddr *)&kernel, sizeof kernel);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return NEG_ERRNO;
    return (size_t)n == len ? 0 : -EMSGSIZE;
}

int64_t bk_diag_recv(int fd, uint8_t *buf, size_t cap) {
    for (;;) {
        struct iovec iov = {buf, cap};
        struct sockaddr_nl from;
        memset(&from, 0, sizeof from);
        struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1};
        ssize_t n = recvmsg(fd, &mh, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return NEG_ERRNO;
        }
        if (mh.msg_flags & MSG_TRUNC) return -EMSGSIZE;
        if (from.nl_pid != 0) continue;  // not from the kernel
        return (int64_t)n;
    }
}

// MARK: - /proc/PID/fd

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/// A whole decimal number of at most 18 digits (a pid or a descriptor), or -1.
static int64_t parse_decimal(const char *s) {
    if (!*s) return -1;
    int64_t v = 0;
    for (int i = 0; s[i]; i++) {
        if (s[i] < '0' || s[i] > '9' || i >= 18) return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/// "socket:[12345]" -> 12345, or 0.
static uint64_t socket_inode(const char *l, ssize_t n) {
    if (n < 10 || n > 30 || memcmp(l, "socket:[", 8) != 0 || l[n - 1] != ']') return 0;
    uint64_t v = 0;
    for (ssize_t i = 8; i < n - 1; i++) {
        if (l[i] < '0' || l[i] > '9') return 0;
        v = v * 10 + (uint64_t)(l[i] - '0');
    }
    return v;
}

/// The index of `ino` in the sorted `want`, or -1.
static int find_inode(const uint64_t *want, int n, uint64_t ino) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (want[mid] == ino) return mid;
        if (want[mid] < ino) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

struct scan {
    const uint64_t *want;
    int n;
    uint32_t *seen;  // the generation (process) that last found each wanted socket
    uint32_t gen;
    uint8_t *dents;
    bk_holder *out;
    int cap, rows;
    bk_scan_stats *st;
};

enum { DENTS_MAX = 65536 };

static void scan_pid(struct scan *sc, int procfd, int32_t pid) {
    char path[32];
    int len = 0;
    // "<pid>/fd" without snprintf's locale machinery.
    char digits[12];
    int nd = 0;
    for (uint32_t v = (uint32_t)pid; nd == 0 || v; v /= 10) digits[nd++] = (char)('0' + v % 10);
    while (nd) path[len++] = digits[--nd];
    memcpy(path + len, "/fd", 4);
    sc->st->processes++;
    int dfd = openat(procfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        if (errno == EACCES || errno == EPERM) sc->st->denied++;
        else sc->st->vanished++;  // ENOENT, ESRCH: it exited since the listing
        return;
    }
    sc->gen++;
    int left = sc->n;
    // The kernel makes a dentry for every entry it returns, so the first read is small (a
    // holder's listener is usually among its first descriptors); later reads grow.
    size_t chunk = 2048;
    while (left > 0) {
        long got = syscall(SYS_getdents64, dfd, sc->dents, chunk);
        chunk = chunk * 4 < DENTS_MAX ? chunk * 4 : DENTS_MAX;
        if (got <= 0) break;  // the end, or ENOENT when the process exited meanwhile
        for (long off = 0; off < got && left > 0;) {
            struct linux_dirent64 *e = (struct linux_dirent64 *)(sc->dents + off);
            off += e->d_reclen;
            if (e->d_name[0] == '.') continue;
            char link[32];
            ssize_t ln = readlinkat(dfd, e->d_name, link, sizeof link);
            sc->st->descriptors++;
            uint64_t ino = ln > 0 ? socket_inode(link, ln) : 0;
            if (ino == 0) continue;
            int i = find_inode(sc->want, sc->n, ino);
            if (i < 0 || sc->seen[i] == sc->gen) continue;  // not wanted, or a second descriptor (dup)
            sc->seen[i] = sc->gen;
            left--;
            int64_t fd = parse_decimal(e->d_name);
            if (fd < 0) continue;
            if (sc->rows < sc->cap) sc->out[sc->rows++] = (bk_holder){pid, (int32_t)fd, ino};
            else sc->st->rows_dropped++;
        }
    }
    if (left == 0) sc->st->stopped_early++;
    close(dfd);
}

int bk_find_holders(const uint64_t *inodes, int n, bk_holder *out, int cap, bk_scan_stats *stats) {
    memset(stats, 0, sizeof *stats);
    if (n <= 0) return 0;
    int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (procfd < 0) return NEG_ERRNO;
    int result = 0;
    uint8_t *dents = malloc(DENTS_MAX);
    uint32_t *seen = calloc((size_t)n, sizeof *seen);
    size_t npids = 0, pcap = 1024;
    int32_t *pids = malloc(pcap * sizeof *pids);
    if (!dents || !seen || !pids) {
        result = -ENOMEM;
        goto out;
    }
    // The pid list first, a snapshot: a process that starts later was not there to be seen.
    for (;;) {
        long got = syscall(SYS_getdents64, procfd, dents, DENTS_MAX);
        if (got < 0) {
            result = NEG_ERRNO;
            goto out;
        }
        if (got == 0) break;
        for (long off = 0; off < got;) {
            struct linux_dirent64 *e = (struct linux_dirent64 *)(dents + off);
            off += e->d_reclen;
            int64_t pid = parse_decimal(e->d_name);
            if (pid <= 0 || pid > INT32_MAX) continue;
            if (npids == pcap) {
                int32_t *more = realloc(pids, pcap * 2 * sizeof *pids);
                if (!more) {
                    result = -ENOMEM;
                    goto out;
                }
                pids = more;
                pcap *= 2;
            }
            pids[npids++] = (int32_t)pid;
        }
    }
    struct scan sc = {.want = inodes, .n = n, .seen = seen, .dents = dents, .out = out, .cap = cap, .st = stats};
    for (size_t k = 0; k < npids; k++) scan_pid(&sc, procfd, pids[k]);
    result = sc.rows;
out:
    free(pids);
    free(seen);
    free(dents);
    close(procfd);
    return result;
}

// MARK: - A holder's options

static int get_int(int fd, int level, int name, int32_t *out) {
    int v = 0;
    socklen_t l = sizeof v;
    if (getsockopt(fd, level, name, &v, &l) < 0) return NEG_ERRNO;
    *out = v;
    return 0;
}

/// The options of the duplicate `s`, once it is known to be the socket asked for.
static int read_opts(int s, uint64_t inode, uint64_t cookie, bk_holder_opts *o) {
    struct stat st;
    if (fstat(s, &st) < 0) return NEG_ERRNO;
    if (!S_ISSOCK(st.st_mode) || (inode && st.st_ino != inode)) return -ESTALE;
    socklen_t cl = sizeof o->cookie;
    if (getsockopt(s, SOL_SOCKET, SO_COOKIE, &o->cookie, &cl) < 0) o->cookie = 0;
    if (cookie && o->cookie && o->cookie != cookie) return -ESTALE;
    int r;
    if ((r = get_int(s, SOL_SOCKET, SO_DOMAIN, &o->domain)) < 0) return r;
    if ((r = get_int(s, SOL_SOCKET, SO_TYPE, &o->type)) < 0) return r;
    if ((r = get_int(s, SOL_SOCKET, SO_PROTOCOL, &o->protocol)) < 0) return r;
    if ((r = get_int(s, SOL_SOCKET, SO_REUSEADDR, &o->reuseaddr)) < 0) return r;
    if ((r = get_int(s, SOL_SOCKET, SO_REUSEPORT, &o->reuseport)) < 0) return r;
    if ((r = get_int(s, SOL_SOCKET, SO_ACCEPTCONN, &o->acceptconn)) < 0) return r;
    o->v6only = -1;
    if (o->domain == AF_INET6 && (r = get_int(s, IPPROTO_IPV6, IPV6_V6ONLY, &o->v6only)) < 0) return r;
    // IP_FREEBIND and IP_TRANSPARENT read the inet flags that IPV6_FREEBIND and IPV6_TRANSPARENT
    // set, on both families.
    if ((r = get_int(s, SOL_IP, IP_FREEBIND, &o->freebind)) < 0) return r;
    if ((r = get_int(s, SOL_IP, IP_TRANSPARENT, &o->transparent)) < 0) return r;
    if (get_int(s, SOL_SOCKET, SO_BINDTOIFINDEX, &o->bindtoifindex) < 0) o->bindtoifindex = -1;  // Linux < 5.1
    // The kernel wants room for IFNAMSIZ bytes (EINVAL otherwise) and writes the name with its NUL.
    char name[IFNAMSIZ + 1] = {0};
    socklen_t dl = IFNAMSIZ;
    if (getsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, name, &dl) < 0) return NEG_ERRNO;
    memcpy(o->device, name, sizeof o->device - 1);
    o->device[sizeof o->device - 1] = 0;
    return 0;
}

int bk_holder_opts_read(int32_t pid, int32_t fd, uint64_t inode, uint64_t cookie, bk_holder_opts *out) {
    memset(out, 0, sizeof *out);
    int pfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
    if (pfd < 0) return NEG_ERRNO;
    int s = (int)syscall(SYS_pidfd_getfd, pfd, fd, 0);  // O_CLOEXEC is implied
    int r = s < 0 ? NEG_ERRNO : 0;
    close(pfd);
    if (s < 0) return r;
    // Nothing but getsockopt is done with the duplicate, and it is closed at once: the holder's
    // socket keeps no reference from this process.
    r = read_opts(s, inode, cookie, out);
    close(s);
    return r;
}

int bk_thread_set_ids(uint32_t uid, uint32_t gid) {
    // The raw system calls, not glibc's wrappers, which would change every thread.
    if (syscall(SYS_setgroups, 0, NULL) < 0) return NEG_ERRNO;
    if (syscall(SYS_setresgid, (gid_t)gid, (gid_t)gid, (gid_t)gid) < 0) return NEG_ERRNO;
    if (syscall(SYS_setresuid, (uid_t)uid, (uid_t)uid, (uid_t)uid) < 0) return NEG_ERRNO;
    return 0;
}
