#ifndef BK_MCAST_H
#define BK_MCAST_H

// Multicast membership and TCP_NODELAY: the structs (ip_mreqn, ipv6_mreq) stay in C. Each
// function returns 0 or -errno, as the rest of the shim.

#include <stdint.h>

#define BK_IPPROTO_TCP 6
#define BK_TCP_NODELAY 1
#define BK_IP_MULTICAST_LOOP 34
#define BK_IPV6_MULTICAST_LOOP 19

/// IP_ADD_MEMBERSHIP (`join` 1) or IP_DROP_MEMBERSHIP (0) with a struct ip_mreqn: the group and
/// the interface's own address (both 4 bytes, network order; the address may be 0.0.0.0) and
/// its index (0: the kernel picks by the route to the group).
int bk_mcast_v4(int fd, int join, const uint8_t *group, const uint8_t *interface_address, int interface_index);

/// IPV6_JOIN_GROUP (`join` 1) or IPV6_LEAVE_GROUP (0) with a struct ipv6_mreq: the group
/// (16 bytes, network order) and the interface index (0: by route).
int bk_mcast_v6(int fd, int join, const uint8_t *group, unsigned int interface_index);

#endif
