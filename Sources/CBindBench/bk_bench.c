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

_Static_assert(sizeof(bk_bench_reach_sock) == 64, "bk_bench_reach_sock");
BK_FIELD(bk_bench_reach_sock, device, 16);
BK_FIELD(bk_bench_reach_sock, addr, 32);
_Static_assert(sizeof(bk_bench_reach_cell) == 56, "bk_bench_reach_cell");
BK_FIELD(bk_bench_reach_cell, to, 24);

static int same_end(const bk_addr *a, const bk_addr *b) {
    if (a->port != b->port) return 0;
    uint8_t x[16], y[16];
    const bk_addr *in[2] = {a, b};
    uint8_t *out[2] = {x, y};
    for (int i = 0; i < 2; i++) {
        if (in[i]->family == AF_INET) {
            memset(out[i], 0, 10);
            out[i][10] = 0xff;
            out[i][11] = 0xff;
            memcpy(out[i] + 12, in[i]->bytes, 4);
        } else {
            memcpy(out[i], in[i]->bytes, 16);
        }
    }
    return memcmp(x, y, 16) == 0;
}

static int reach_tcp(int s, const bk_addr *to, const int *fds, int count) {
    if (bk_connect(s, to, 2000) != 0) return -1;
    (void)bk_connect(s, to, -1);
    bk_addr local, remote;
    if (bk_getsockname(s, &local) < 0 || bk_getpeername(s, &remote) < 0) return -1;
    for (int round = 0; round < 500; round++) {
        for (int i = 0; i < count; i++) {
            if (fds[i] < 0) continue;
            bk_addr peer;
            int a;
            while ((a = bk_accept_ready(fds[i], 0, &peer)) >= 0) {
                bk_addr mine;
                if (bk_getpeername(a, &peer) == 0 && bk_getsockname(a, &mine) == 0 && same_end(&peer, &local) &&
                    same_end(&mine, &remote))
                    return a;
                close(a);
            }
        }
        usleep(1000);
    }
    return -1;
}

static void reach_udp(int s, const bk_addr *to, const int *fds, int count, int unicast) {
    int64_t before[5], now[5];
    int all[5];
    for (int i = 0; i < count; i++) all[i] = fds[i];
    all[count] = s;
    for (int i = 0; i <= count; i++) before[i] = all[i] >= 0 ? bk_rmem_alloc(all[i]) : 0;
    static const uint8_t payload = 0x42;
    (void)bk_sendto(s, to, &payload, 1, 1000);
    bk_addr got;
    (void)bk_getsockname(s, &got);
    for (int i = 0; i <= count; i++) now[i] = all[i] >= 0 ? bk_rmem_alloc(all[i]) : 0;
    int stable = 0;
    for (int waited = 0; stable < 6 && waited < 800; waited++) {
        if (unicast) {
            int reached = 0;
            for (int i = 0; i <= count; i++) reached |= now[i] > before[i];
            if (reached) break;
        }
        usleep(500);
        int same = 1;
        for (int i = 0; i <= count; i++) {
            int64_t x = all[i] >= 0 ? bk_rmem_alloc(all[i]) : 0;
            same &= x == now[i];
            now[i] = x;
        }
        stable = same ? stable + 1 : 0;
    }
    uint8_t buf[2048];
    for (int i = 0; i <= count; i++) {
        if (all[i] < 0 || now[i] <= before[i]) continue;
        for (int k = 0; k < 1024; k++) {
            int err = 0;
            socklen_t len = sizeof(err);
            if (getsockopt(all[i], SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) break;
            if (bk_wait(all[i], BK_POLLIN, 0) <= 0) break;
            if (bk_recvfrom(all[i], buf, sizeof(buf), NULL, 0) < 0) break;
        }
    }
}

int bk_bench_reach(const bk_bench_reach_cell *cells, int n, const bk_bench_reach_sock *socks, int host_fd, int peer_fd) {
    for (int c = 0; c < n; c++) {
        const bk_bench_reach_cell *cell = &cells[c];
        int fds[4] = {-1, -1, -1, -1};
        for (int i = 0; i < cell->count && i < 4; i++) {
            const bk_bench_reach_sock *k = &socks[cell->first + i];
            int fd = bk_socket(k->family, cell->transport);
            fds[i] = fd;
            if (fd < 0) continue;
            if (k->reuseport && bk_setsockopt_int(fd, SOL_SOCKET, BK_SO_REUSEPORT, 1) < 0) continue;
            if (k->v6only >= 0 && bk_setsockopt_int(fd, IPPROTO_IPV6, BK_IPV6_V6ONLY, k->v6only) < 0) continue;
            if (k->has_device &&
                setsockopt(fd, SOL_SOCKET, BK_SO_BINDTODEVICE, k->device, (socklen_t)strnlen(k->device, 16)) < 0)
                continue;
            if (bk_bind(fd, &k->addr) < 0) continue;
            bk_addr got;
            (void)bk_getsockname(fd, &got);
            if (cell->transport == 0 && bk_listen(fd, 128) == 0) (void)bk_getsockname(fd, &got);
        }
        // The sender's two steps (its socket, then its connect or send), each in its namespace.
        if (cell->from_peer) (void)bk_setns_net(peer_fd);
        int s = bk_socket(cell->sender_family, cell->transport);
        if (s >= 0 && cell->transport == 1) (void)bk_setsockopt_int(s, SOL_SOCKET, BK_SO_BROADCAST, 1);
        if (cell->from_peer) (void)bk_setns_net(host_fd);
        int accepted = -1;
        if (s >= 0) {
            if (cell->from_peer) (void)bk_setns_net(peer_fd);
            if (cell->transport == 0) {
                accepted = reach_tcp(s, &cell->to, fds, cell->count);
            } else {
                reach_udp(s, &cell->to, fds, cell->count, cell->unicast);
            }
            if (cell->from_peer) (void)bk_setns_net(host_fd);
        }
        if (accepted >= 0) close(accepted);
        if (s >= 0) close(s);
        for (int i = 0; i < 4; i++)
            if (fds[i] >= 0) close(fds[i]);
    }
    return 0;
}
