// Network namespaces and the little rtnetlink BindKit needs to build a fixture:
// a veth pair, addresses, links up. Everything acts on the calling thread's
// network namespace only.
#include "bk_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define NEG_ERRNO (-(errno ? errno : EIO))

int bk_unshare_netns(void) {
    return unshare(CLONE_NEWNET) < 0 ? NEG_ERRNO : 0;
}

int bk_ns_open(const char *path) {
    int fd;
    do { fd = open(path, O_RDONLY | O_CLOEXEC); } while (fd < 0 && errno == EINTR);
    return fd < 0 ? NEG_ERRNO : fd;
}

int bk_netns_open_current(void) { return bk_ns_open("/proc/thread-self/ns/net"); }

int bk_setns_net(int fd) {
    return setns(fd, CLONE_NEWNET) < 0 ? NEG_ERRNO : 0;
}

int64_t bk_ns_inode(const char *path) {
    struct stat st;
    if (stat(path, &st) < 0) return NEG_ERRNO;
    return (int64_t)st.st_ino;
}

/// Reads an interface's flags (SIOCGIFFLAGS) through a fresh datagram socket; with `set_up`,
/// also brings it up (SIOCSIFFLAGS) and returns 0. Returns the flags, 0, or -errno.
static int link_flags_ioctl(const char *name, int set_up) {
    if (strlen(name) >= IFNAMSIZ) return -ENAMETOOLONG;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return NEG_ERRNO;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    int r;
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
        r = NEG_ERRNO;
    } else {
        r = ifr.ifr_flags & 0xffff;
        if (set_up) {
            ifr.ifr_flags |= IFF_UP;
            r = ioctl(fd, SIOCSIFFLAGS, &ifr) < 0 ? NEG_ERRNO : 0;
        }
    }
    close(fd);
    return r;
}

int bk_link_up(const char *name) { return link_flags_ioctl(name, 1); }

int bk_link_flags(const char *name) { return link_flags_ioctl(name, 0); }

// MARK: - rtnetlink

typedef struct {
    struct nlmsghdr nh;
    char buf[1024];
} nl_req;

static struct rtattr *nl_add_attr(struct nlmsghdr *nh, size_t cap, unsigned short type, const void *data, size_t len) {
    size_t attr_len = RTA_LENGTH(len);
    if (NLMSG_ALIGN(nh->nlmsg_len) + RTA_ALIGN(attr_len) > cap) return NULL;
    struct rtattr *rta = (struct rtattr *)((char *)nh + NLMSG_ALIGN(nh->nlmsg_len));
    rta->rta_type = type;
    rta->rta_len = (unsigned short)attr_len;
    if (len) memcpy(RTA_DATA(rta), data, len);
    nh->nlmsg_len = (uint32_t)(NLMSG_ALIGN(nh->nlmsg_len) + RTA_ALIGN(attr_len));
    return rta;
}

static void nl_end_nest(struct nlmsghdr *nh, struct rtattr *nest) {
    nest->rta_len = (unsigned short)((char *)nh + NLMSG_ALIGN(nh->nlmsg_len) - (char *)nest);
}

/// Sends one request and waits for its acknowledgement; returns 0 or -errno from the kernel.
static int nl_transact(struct nlmsghdr *nh) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return NEG_ERRNO;
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    nh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    nh->nlmsg_seq = 1;
    int result = 0;
    if (sendto(fd, nh, nh->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        result = NEG_ERRNO;
        close(fd);
        return result;
    }
    char reply[4096];
    for (;;) {
        ssize_t n = recv(fd, reply, sizeof(reply), 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            result = NEG_ERRNO;
            break;
        }
        struct nlmsghdr *r = (struct nlmsghdr *)reply;
        int done = 0;
        for (; NLMSG_OK(r, (size_t)n); r = NLMSG_NEXT(r, n)) {
            if (r->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr *e = (struct nlmsgerr *)NLMSG_DATA(r);
                result = e->error;  // already negative, or 0 for the ack
                done = 1;
                break;
            }
            if (r->nlmsg_type == NLMSG_DONE) {
                done = 1;
                break;
            }
        }
        if (done) break;
    }
    close(fd);
    return result;
}

int bk_veth_create(const char *name, const char *peer) {
    if (strlen(name) >= IFNAMSIZ || strlen(peer) >= IFNAMSIZ) return -ENAMETOOLONG;
    nl_req req;
    memset(&req, 0, sizeof(req));
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
    req.nh.nlmsg_type = RTM_NEWLINK;
    req.nh.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    struct ifinfomsg *ifi = (struct ifinfomsg *)NLMSG_DATA(&req.nh);
    ifi->ifi_family = AF_UNSPEC;
    size_t cap = sizeof(req);
    if (!nl_add_attr(&req.nh, cap, IFLA_IFNAME, name, strlen(name) + 1)) return -ENOBUFS;
    struct rtattr *linkinfo = nl_add_attr(&req.nh, cap, IFLA_LINKINFO, NULL, 0);
    if (!linkinfo) return -ENOBUFS;
    if (!nl_add_attr(&req.nh, cap, IFLA_INFO_KIND, "veth", 5)) return -ENOBUFS;
    struct rtattr *data = nl_add_attr(&req.nh, cap, IFLA_INFO_DATA, NULL, 0);
    if (!data) return -ENOBUFS;
    struct rtattr *peer_info = nl_add_attr(&req.nh, cap, VETH_INFO_PEER, NULL, 0);
    if (!peer_info) return -ENOBUFS;
    // The peer's payload starts with its own ifinfomsg.
    struct ifinfomsg peer_ifi;
    memset(&peer_ifi, 0, sizeof(peer_ifi));
    if (NLMSG_ALIGN(req.nh.nlmsg_len) + NLMSG_ALIGN(sizeof(peer_ifi)) > cap) return -ENOBUFS;
    memcpy((char *)&req.nh + NLMSG_ALIGN(req.nh.nlmsg_len), &peer_ifi, sizeof(peer_ifi));
    req.nh.nlmsg_len = (uint32_t)(NLMSG_ALIGN(req.nh.nlmsg_len) + NLMSG_ALIGN(sizeof(peer_ifi)));
    if (!nl_add_attr(&req.nh, cap, IFLA_IFNAME, peer, strlen(peer) + 1)) return -ENOBUFS;
    nl_end_nest(&req.nh, peer_info);
    nl_end_nest(&req.nh, data);
    nl_end_nest(&req.nh, linkinfo);
    return nl_transact(&req.nh);
}

int bk_addr_add(uint32_t ifindex, int family, const uint8_t *addr, uint8_t prefix_len, bool nodad) {
    if (family != AF_INET && family != AF_INET6) return -EAFNOSUPPORT;
    size_t alen = family == AF_INET ? 4 : 16;
    nl_req req;
    memset(&req, 0, sizeof(req));
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
    req.nh.nlmsg_type = RTM_NEWADDR;
    req.nh.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    struct ifaddrmsg *ifa = (struct ifaddrmsg *)NLMSG_DATA(&req.nh);
    ifa->ifa_family = (unsigned char)family;
    ifa->ifa_prefixlen = prefix_len;
    ifa->ifa_index = ifindex;
    ifa->ifa_scope = 0;
    if (family == AF_INET6 && alen == 16 && addr[0] == 0xfe && (addr[1] & 0xc0) == 0x80) ifa->ifa_scope = RT_SCOPE_LINK;
    if (nodad) ifa->ifa_flags = IFA_F_NODAD;
    size_t cap = sizeof(req);
    if (!nl_add_attr(&req.nh, cap, IFA_LOCAL, addr, alen)) return -ENOBUFS;
    if (!nl_add_attr(&req.nh, cap, IFA_ADDRESS, addr, alen)) return -ENOBUFS;
    if (family == AF_INET && prefix_len < 31) {
        uint8_t brd[4];
        memcpy(brd, addr, 4);
        uint32_t host_bits = 32u - prefix_len;
        uint32_t v = ((uint32_t)brd[0] << 24) | ((uint32_t)brd[1] << 16) | ((uint32_t)brd[2] << 8) | brd[3];
        v |= host_bits >= 32 ? 0xffffffffu : ((1u << host_bits) - 1u);
        brd[0] = (uint8_t)(v >> 24); brd[1] = (uint8_t)(v >> 16); brd[2] = (uint8_t)(v >> 8); brd[3] = (uint8_t)v;
        if (!nl_add_attr(&req.nh, cap, IFA_BROADCAST, brd, 4)) return -ENOBUFS;
    }
    if (nodad) {
        uint32_t flags = IFA_F_NODAD;
        if (!nl_add_attr(&req.nh, cap, IFA_FLAGS, &flags, sizeof(flags))) return -ENOBUFS;
    }
    return nl_transact(&req.nh);
}
