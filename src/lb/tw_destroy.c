/* SOCK_DESTROY for one TIME_WAIT entry; see tw_destroy.h. */
#include "lb/tw_destroy.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#ifndef SOCK_DESTROY
#define SOCK_DESTROY 21
#endif

#define TCP_TIME_WAIT_STATE 6 /* include/net/tcp_states.h */

/* The kernel looks the entry up as an incoming packet would (inet_diag_find_one_icsk): the
 * request's "src" is our end, its "dst" the peer. Whatever it finds must carry the cookie,
 * or the request fails (ENOENT/ESTALE) and nothing is destroyed. */
static int fill_id(struct inet_diag_sockid *id, const struct lb_addr *local,
                   const struct lb_addr *peer, uint64_t cookie)
{
    memset(id, 0, sizeof *id);
    id->idiag_cookie[0] = (uint32_t)cookie;
    id->idiag_cookie[1] = (uint32_t)(cookie >> 32);
    if (local->u.sa.sa_family == AF_INET && peer->u.sa.sa_family == AF_INET) {
        id->idiag_sport = local->u.in4.sin_port;
        id->idiag_dport = peer->u.in4.sin_port;
        memcpy(id->idiag_src, &local->u.in4.sin_addr, 4);
        memcpy(id->idiag_dst, &peer->u.in4.sin_addr, 4);
        return AF_INET;
    }
    if (local->u.sa.sa_family == AF_INET6 && peer->u.sa.sa_family == AF_INET6) {
        id->idiag_sport = local->u.in6.sin6_port;
        id->idiag_dport = peer->u.in6.sin6_port;
        memcpy(id->idiag_src, &local->u.in6.sin6_addr, 16);
        memcpy(id->idiag_dst, &peer->u.in6.sin6_addr, 16);
        return AF_INET6;
    }
    return -EAFNOSUPPORT;
}

void lb_twd_close(struct lb_twd *d)
{
    if (d->fd >= 0)
        close(d->fd);
    d->fd = -1;
}

int lb_tw_destroy(struct lb_twd *d, const struct lb_addr *local, const struct lb_addr *peer,
                  uint64_t cookie)
{
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 r;
    } req;
    memset(&req, 0, sizeof req);
    if (cookie == 0)
        return -EINVAL; /* no name: never ask by the addresses alone */
    int family = fill_id(&req.r.id, local, peer, cookie);
    if (family < 0)
        return family;
    if (d->fd < 0) {
        d->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_SOCK_DIAG);
        if (d->fd < 0)
            return -errno;
    }
    req.nlh.nlmsg_len = sizeof req;
    req.nlh.nlmsg_type = SOCK_DESTROY;
    req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    req.nlh.nlmsg_seq = ++d->seq;
    req.r.sdiag_family = (uint8_t)family;
    req.r.sdiag_protocol = IPPROTO_TCP;
    req.r.idiag_states = 1u << TCP_TIME_WAIT_STATE;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(d->fd, &req, sizeof req, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0)
        return -errno;
    /* The kernel answers inside sendto (the ack is queued before it returns), so the
     * non-blocking read finds it; stale answers from an earlier failed call are skipped. */
    for (;;) {
        union {
            struct nlmsghdr h;
            char buf[512];
        } ans;
        ssize_t n = recv(d->fd, &ans, sizeof ans, 0);
        if (n < 0)
            return errno == EINTR ? -EAGAIN : -errno;
        if ((size_t)n < sizeof ans.h + sizeof(struct nlmsgerr) || ans.h.nlmsg_type != NLMSG_ERROR)
            return -EPROTO;
        if (ans.h.nlmsg_seq != d->seq)
            continue;
        const struct nlmsgerr *e = NLMSG_DATA(&ans.h);
        return e->error;
    }
}
