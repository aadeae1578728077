// CBindBench: the C baselines of bindbench, linked by bindbench alone (the library has none of
// it). Each loop makes the same system calls as the Swift code it is measured against.
#ifndef BK_BENCH_H
#define BK_BENCH_H

#include "bk_shim.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Parses each of `count` strings with inet_pton (IPv6 when it has a ':'),
/// `reps` times; returns the number of accepted strings in the last pass.
int bk_bench_pton(const char *const *strings, int count, int reps);
/// `iterations` of socket + SO_REUSEADDR + bind(127.0.0.1:port) + close.
/// Returns 0 or -errno of the first failure.
int bk_bench_bind_cycle(int iterations, uint16_t port);

/// One socket of a benchmark cell: the same system calls the matrix makes for it.
typedef struct bk_bench_sock {
    int32_t family;     // AF_INET / AF_INET6
    int32_t transport;  // 0 TCP, 1 UDP
    int32_t v6only;     // -1 left alone, else IPV6_V6ONLY
    int32_t reuseaddr;
    int32_t reuseport;
    int32_t freebind;
    uint32_t uid;       // effective uid while the socket is created and bound
    uint64_t caps;      // effective capabilities meanwhile (masked by the permitted set)
    bk_addr addr;
    int32_t listen;     // listen() after a successful bind
    int32_t timewait;   // leave a TIME_WAIT entry (a listening first socket), then close it
} bk_bench_sock;

typedef struct bk_bench_cell {
    bk_bench_sock a;
    int32_t has_b;
    bk_bench_sock b;
} bk_bench_cell;

/// Runs `n` matrix cells in C: per socket, credentials (only when they differ from uid 0 with
/// `permitted`), socket, options, bind, listen, TIME_WAIT; then both sockets closed. Returns 0.
int bk_bench_cells(const bk_bench_cell *cells, int n, uint64_t permitted);

/// One socket of a reach cell: created, its options set, bound and (TCP) listening.
typedef struct bk_bench_reach_sock {
    int32_t family;
    int32_t reuseport;
    int32_t v6only;      // -1 left alone
    int32_t has_device;  // SO_BINDTODEVICE `device`
    char device[16];
    bk_addr addr;
} bk_bench_reach_sock;

/// A reach cell: `count` sockets from `first` of the sockets array, then a sender (in the peer
/// namespace when `from_peer`) that connects (TCP) or sends one byte (UDP) to `to`.
typedef struct bk_bench_reach_cell {
    int32_t first;
    int32_t count;
    int32_t transport;  // 0 TCP, 1 UDP
    int32_t sender_family;
    int32_t from_peer;
    int32_t unicast;  // a unicast destination: the settle stops at the first receiver
    bk_addr to;
} bk_bench_reach_cell;

/// Runs `n` reach cells in C, the executor's system calls for each: the sockets, the sender
/// (setns into `peer_fd` and back around it), connect with poll and a second connect, then
/// accept on every listener until the accepted end's peer is the sender; or SO_MEMINFO of every
/// UDP socket before and after sendto, polled every 500 µs until 6 polls saw no change (at most
/// 800), draining the queues that grew; then every socket closed. Returns 0.
int bk_bench_reach(const bk_bench_reach_cell *cells, int n, const bk_bench_reach_sock *socks, int host_fd, int peer_fd);

#ifdef __cplusplus
}
#endif
#endif
