// The data path of a socket (send, receive, with timeouts and EINTR handled), the receive
// queue's size, and moving an interface to another network namespace: what reach steps need.
#include "bk_shim.h"

#include <errno.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NEG_ERRNO (-(errno ? errno : EIO))

static int64_t data_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/// Waits until `fd` has one of `events` or `timeout_ms` passes (-1: no limit), EINTR retried with
/// the time left. Returns the revents, 0 on timeout, or -errno.
int bk_wait(int fd, int events, int timeout_ms) {
    int64_t deadline = timeout_ms < 0 ? -1 : data_now_ms() + timeout_ms;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = (short)events};
        int left = deadline < 0 ? -1 : (int)(deadline - data_now_ms());
        if (deadline >= 0 && left < 0) left = 0;
        int r = poll(&p, 1, left);
        if (r > 0) return p.revents;
        if (r == 0) return 0;
        if (errno != EINTR) return NEG_ERRNO;
    }
}

int64_t bk_sendto(int fd, const bk_addr *to, const void *buf, size_t len, int timeout_ms) {
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    if (to) {
        int n = bk_sockaddr_encode(to, &ss);
        if (n < 0) return n;
        sl = (socklen_t)n;
    }
    for (;;) {
        ssize_t r = sendto(fd, buf, len, MSG_NOSIGNAL | (timeout_ms >= 0 ? MSG_DONTWAIT : 0), to ? (struct sockaddr *)&ss : NULL, sl);
        if (r >= 0) return r;
        if (errno == EINTR) continue;
        if (timeout_ms >= 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int w = bk_wait(fd, POLLOUT, timeout_ms);
            if (w < 0) return w;
            if (w == 0) return -EAGAIN;
            timeout_ms = 0;
            continue;
        }
        return NEG_ERRNO;
    }
}

int64_t bk_recvfrom(int fd, void *buf, size_t cap, bk_addr *from, int timeout_ms) {
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        ssize_t r = recvfrom(fd, buf, cap, timeout_ms >= 0 ? MSG_DONTWAIT : 0, (struct sockaddr *)&ss, &sl);
        if (r >= 0) {
            if (from) {
                memset(from, 0, sizeof(*from));
                if (sl > 0) (void)bk_sockaddr_decode(&ss, sl, from);
            }
            return r;
        }
        if (errno == EINTR) continue;
        if (timeout_ms >= 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (timeout_ms == 0) return -EAGAIN;
            int w = bk_wait(fd, POLLIN, timeout_ms);
            if (w < 0) return w;
            if (w == 0) return -EAGAIN;
            timeout_ms = 0;
            continue;
        }
        return NEG_ERRNO;
    }
}

int64_t bk_rmem_alloc(int fd) {
    uint32_t info[16];
    memset(info, 0, sizeof(info));
    socklen_t len = sizeof(info);
    if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, info, &len) < 0) return NEG_ERRNO;
    return (int64_t)info[0];  // SK_MEMINFO_RMEM_ALLOC
}

int bk_accept_ready(int fd, int timeout_ms, bk_addr *peer) {
    int w = bk_wait(fd, POLLIN, timeout_ms);
    if (w < 0) return w;
    if (w == 0) return -EAGAIN;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int r;
    do { r = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC | SOCK_NONBLOCK); } while (r < 0 && errno == EINTR);
    if (r < 0) return NEG_ERRNO;
    if (peer) (void)bk_sockaddr_decode(&ss, len, peer);
    return r;
}

int bk_link_set_netns(const char *name, int netns_fd) {
    unsigned int index = if_nametoindex(name);
    if (index == 0) return NEG_ERRNO;
    struct {
        struct nlmsghdr nh;
        struct ifinfomsg ifi;
        char attrs[64];
    } req;
    memset(&req, 0, sizeof(req));
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
    req.nh.nlmsg_type = RTM_NEWLINK;
    req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    req.nh.nlmsg_seq = 1;
    req.ifi.ifi_family = AF_UNSPEC;
    req.ifi.ifi_index = (int)index;
    struct rtattr *rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
    rta->rta_type = IFLA_NET_NS_FD;
    rta->rta_len = RTA_LENGTH(sizeof(uint32_t));
    uint32_t nsfd = (uint32_t)netns_fd;
    memcpy(RTA_DATA(rta), &nsfd, sizeof(nsfd));
    req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);

    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return NEG_ERRNO;
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    int result = -EIO;
    if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        result = NEG_ERRNO;
    } else {
        char reply[4096];
        for (;;) {
            ssize_t n = recv(fd, reply, sizeof(reply), 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                result = NEG_ERRNO;
                break;
            }
            struct nlmsghdr *r = (struct nlmsghdr *)reply;
            if (NLMSG_OK(r, (size_t)n) && r->nlmsg_type == NLMSG_ERROR) {
                result = ((struct nlmsgerr *)NLMSG_DATA(r))->error;
                break;
            }
        }
    }
    close(fd);
    return result;
}
