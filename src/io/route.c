/* rtnetlink host routes; see route.h. */
#include "io/route.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

struct route_req {
    struct nlmsghdr nh;
    struct rtmsg rt;
    char attrs[64];
};

static void put_attr(struct route_req *r, unsigned short type, const void *data, size_t len)
{
    struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->nh.nlmsg_len));
    a->rta_type = type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    memcpy(RTA_DATA(a), data, len);
    r->nh.nlmsg_len = NLMSG_ALIGN(r->nh.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* One request, one acknowledgement: the kernel's errno, or 0. */
static int talk(struct route_req *r)
{
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (s < 0)
        return -errno;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    int rc = 0;
    if (sendto(s, r, r->nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
        rc = -errno;
    } else {
        char buf[512];
        ssize_t n = recv(s, buf, sizeof buf, 0);
        if (n < 0)
            rc = -errno;
        else if ((size_t)n < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
            rc = -EPROTO;
        else {
            const struct nlmsghdr *h = (const struct nlmsghdr *)buf;
            const struct nlmsgerr *ack = NLMSG_DATA(h);
            rc = h->nlmsg_type == NLMSG_ERROR ? ack->error : -EPROTO;
        }
    }
    close(s);
    return rc;
}

int sf_route_host(int family, const uint8_t *addr, int ifindex, uint32_t table, int add, char *err,
                  size_t errlen)
{
    size_t alen = family == AF_INET6 ? 16 : 4;
    struct route_req r;
    memset(&r, 0, sizeof r);
    r.nh.nlmsg_len = NLMSG_LENGTH(sizeof r.rt);
    r.nh.nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
    r.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_REPLACE : 0);
    r.rt.rtm_family = (unsigned char)family;
    r.rt.rtm_dst_len = (unsigned char)(alen * 8);
    r.rt.rtm_table = table < 256 ? (unsigned char)table : RT_TABLE_UNSPEC;
    r.rt.rtm_protocol = RTPROT_STATIC;
    r.rt.rtm_scope = family == AF_INET ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
    r.rt.rtm_type = RTN_UNICAST;
    put_attr(&r, RTA_TABLE, &table, sizeof table);
    put_attr(&r, RTA_DST, addr, alen);
    put_attr(&r, RTA_OIF, &ifindex, sizeof ifindex);
    int rc = talk(&r);
    if (!add && rc == -ESRCH)
        rc = 0; /* not there: what was wanted */
    if (rc < 0) {
        char a[INET6_ADDRSTRLEN];
        inet_ntop(family, addr, a, sizeof a);
        snprintf(err, errlen, "route: %s %s/%zu in table %u: %s%s", add ? "adding" : "removing", a,
                 alen * 8, table, strerror(-rc), rc == -EPERM ? " (needs CAP_NET_ADMIN)" : "");
    }
    return rc;
}

int sf_link_up(const char *name, int *ifindex, char *err, size_t errlen)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        int e = errno;
        snprintf(err, errlen, "link: socket: %s", strerror(e));
        return -e;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    int rc = ioctl(s, SIOCGIFFLAGS, &ifr) < 0 ? -errno : 0;
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr) < 0 ? -errno : 0;
    }
    if (rc == 0)
        rc = ioctl(s, SIOCGIFINDEX, &ifr) < 0 ? -errno : 0;
    if (rc == 0)
        *ifindex = ifr.ifr_ifindex;
    else
        snprintf(err, errlen, "link: bringing up %s: %s%s", name, strerror(-rc),
                 rc == -EPERM ? " (needs CAP_NET_ADMIN)" : "");
    close(s);
    return rc;
}
