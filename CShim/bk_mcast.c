#include "bk_mcast.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

_Static_assert(BK_IPPROTO_TCP == IPPROTO_TCP, "IPPROTO_TCP");
_Static_assert(BK_TCP_NODELAY == TCP_NODELAY, "TCP_NODELAY");
_Static_assert(BK_IP_MULTICAST_LOOP == IP_MULTICAST_LOOP, "IP_MULTICAST_LOOP");
_Static_assert(BK_IPV6_MULTICAST_LOOP == IPV6_MULTICAST_LOOP, "IPV6_MULTICAST_LOOP");
_Static_assert(sizeof(struct ip_mreqn) == 12, "ip_mreqn layout");
_Static_assert(sizeof(struct ipv6_mreq) == 20, "ipv6_mreq layout");

int bk_mcast_v4(int fd, int join, const uint8_t *group, const uint8_t *interface_address, int interface_index) {
    struct ip_mreqn m;
    memset(&m, 0, sizeof m);
    memcpy(&m.imr_multiaddr.s_addr, group, 4);
    memcpy(&m.imr_address.s_addr, interface_address, 4);
    m.imr_ifindex = interface_index;
    int name = join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP;
    return setsockopt(fd, IPPROTO_IP, name, &m, sizeof m) == 0 ? 0 : -errno;
}

int bk_mcast_v6(int fd, int join, const uint8_t *group, unsigned int interface_index) {
    struct ipv6_mreq m;
    memset(&m, 0, sizeof m);
    memcpy(&m.ipv6mr_multiaddr, group, 16);
    m.ipv6mr_interface = interface_index;
    int name = join ? IPV6_JOIN_GROUP : IPV6_LEAVE_GROUP;
    return setsockopt(fd, IPPROTO_IPV6, name, &m, sizeof m) == 0 ? 0 : -errno;
}
