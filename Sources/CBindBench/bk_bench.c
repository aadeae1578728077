// The C baselines of bindbench: the matrix's system calls (matrix_ratio), inet_pton over the
// parse corpus (parse_ratio) and a bind cycle (bind_cycle_ratio).
#include "bk_bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

// The structs Swift fills field by field: their size and the offset of every field.
_Static_assert(sizeof(bk_bench_sock) == 80, "bk_bench_sock");
BK_FIELD(bk_bench_sock, family, 0);
BK_FIELD(bk_bench_sock, transport, 4);
BK_FIELD(bk_bench_sock, v6only, 8);
BK_FIELD(bk_bench_sock, reuseaddr, 12);
BK_FIELD(bk_bench_sock, reuseport, 16);
BK_FIELD(bk_bench_sock, freebind, 20);
BK_FIELD(bk_bench_sock, uid, 24);
BK_FIELD(bk_bench_sock, caps, 32);
BK_FIELD(bk_bench_sock, addr, 40);
BK_FIELD(bk_bench_sock, listen, 72);
BK_FIELD(bk_bench_sock, timewait, 76);
_Static_assert(sizeof(bk_bench_cell) == 168, "bk_bench_cell");
BK_FIELD(bk_bench_cell, a, 0);
BK_FIELD(bk_bench_cell, has_b, 80);
BK_FIELD(bk_bench_cell, b, 88);

static void with_creds(const bk_bench_sock *s, uint64_t permitted, int enter) {
    uint64_t mask = s->caps & permitted;
    if (s->uid == 0 && mask == permitted) return;
    if (enter) {
        if (s->uid != 0) bk_thread_set_euid(s->uid);
        bk_thread_set_effective_caps(mask);
    } else {
        bk_thread_set_euid(0);
        bk_thread_set_effective_caps(permitted);
    }
}

static int tcp_state(int fd) {
    struct tcp_info info;
    socklen_t len = sizeof(info);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0) return -1;
    return info.tcpi_state;
}

static void leave_time_wait(int listener, int family) {
    bk_addr target;
    if (bk_getsockname(listener, &target) < 0) return;
    static const uint8_t zero[16];
    if (family == AF_INET && memcmp(target.bytes, zero, 4) == 0) {
        target.bytes[0] = 127; target.bytes[3] = 1;
    } else if (family == AF_INET6 && memcmp(target.bytes, zero, 16) == 0) {
        target.bytes[15] = 1;
    } else if (family == AF_INET6 && memcmp(target.bytes, zero, 10) == 0 && target.bytes[10] == 0xff &&
               target.bytes[11] == 0xff && memcmp(target.bytes + 12, zero, 4) == 0) {
        target.bytes[12] = 127; target.bytes[15] = 1;
    }
    int c = bk_socket(family, 0);
    if (c < 0) return;
    if (bk_connect(c, &target, 5000) == 0) {
        int a = bk_accept(listener, NULL);
        if (a >= 0) close(a);
        char byte;
        (void)read(c, &byte, 1);
        shutdown(c, SHUT_WR);
        for (int i = 0; i < 5000 && tcp_state(c) != TCP_CLOSE; i++) usleep(200);
    }
    close(c);
}

static int open_bound(const bk_bench_sock *s, uint64_t permitted) {
    with_creds(s, permitted, 1);
    int fd = bk_socket(s->family, s->transport);
    if (fd >= 0) {
        if (s->reuseaddr) bk_setsockopt_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
        if (s->reuseport) bk_setsockopt_int(fd, SOL_SOCKET, BK_SO_REUSEPORT, 1);
        if (s->v6only >= 0) bk_setsockopt_int(fd, IPPROTO_IPV6, BK_IPV6_V6ONLY, s->v6only);
        if (s->freebind) {
            if (s->family == AF_INET) bk_setsockopt_int(fd, IPPROTO_IP, BK_IP_FREEBIND, 1);
            else bk_setsockopt_int(fd, IPPROTO_IPV6, BK_IPV6_FREEBIND, 1);
        }
        if (bk_bind(fd, &s->addr) == 0) {
            struct sockaddr_storage ss;
            bk_addr got;
            (void)ss;
            (void)bk_getsockname(fd, &got);
            if (s->listen && s->transport == 0 && bk_listen(fd, 128) == 0) {
                (void)bk_getsockname(fd, &got);
                if (s->timewait) {
                    leave_time_wait(fd, s->family);
                    close(fd);
                    fd = -1;
                }
            }
        }
    }
    with_creds(s, permitted, 0);
    return fd;
}

int bk_bench_cells(const bk_bench_cell *cells, int n, uint64_t permitted) {
    for (int i = 0; i < n; i++) {
        int a = open_bound(&cells[i].a, permitted);
        int b = cells[i].has_b ? open_bound(&cells[i].b, permitted) : -1;
        if (a >= 0) close(a);
        if (b >= 0) close(b);
    }
    return 0;
}

int bk_bench_pton(const char *const *strings, int count, int reps) {
    int accepted = 0;
    uint8_t buf[16];
    for (int r = 0; r < reps; r++) {
        accepted = 0;
        for (int i = 0; i < count; i++) {
            const char *s = strings[i];
            int family = strchr(s, ':') ? AF_INET6 : AF_INET;
            accepted += inet_pton(family, s, buf) == 1;
        }
    }
    return accepted;
}

int bk_bench_bind_cycle(int iterations, uint16_t port) {
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < iterations; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return (-errno);
        int one = 1;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
            int e = (-errno);
            close(fd);
            return e;
        }
        close(fd);
    }
    return 0;
}
