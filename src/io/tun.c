#include "io/tun.h"
#include "net/checksum.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

int sf_tun_open(struct sf_tun *t, const char *name, unsigned flags, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    t->fd = -1;
    if (strlen(name) >= IFNAMSIZ || !*name) {
        snprintf(err, errlen, "tun: bad device name '%s'", name);
        return -EINVAL;
    }
    t->created = if_nametoindex(name) == 0;
    t->txqueuelen_want = SF_TUN_TXQUEUELEN;
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "tun: /dev/net/tun: %s%s", strerror(e),
                 e == ENOENT ? " (no TUN support: modprobe tun)" : "");
        return -e;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (flags & SF_TUN_OFFLOAD ? IFF_VNET_HDR : 0) |
                    (flags & SF_TUN_MULTI_QUEUE ? IFF_MULTI_QUEUE : 0);
    memcpy(ifr.ifr_name, name, strlen(name));
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        const char *hint = e == EPERM ? " (needs CAP_NET_ADMIN)" : "";
        if (e == EINVAL && !t->created)
            hint = flags & SF_TUN_MULTI_QUEUE
                       ? " (threads need a multi-queue device: ip tuntap add ... multi_queue)"
                       : " (a multi-queue device: threads > 1 attach to it)";
        snprintf(err, errlen, "tun: %s %s: %s%s", t->created ? "creating" : "attaching to", name,
                 strerror(e), hint);
        close(fd);
        return -e;
    }
    t->fd = fd;
    memcpy(t->name, ifr.ifr_name, sizeof t->name - 1);
    t->mtu = 1500;
    if (flags & SF_TUN_OFFLOAD) {
        t->vnet = (int)sizeof(struct virtio_net_hdr); /* the kernel's default header size */
        /* TSO needs checksum offload; ECN TSO we do not take, so the kernel cuts those
         * packets itself. Refused (an old kernel): plain packets behind the header. */
        t->offload = ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) == 0;
    }
    return 0;
}

void sf_tun_adopt(struct sf_tun *t, int fd, const char *name)
{
    memset(t, 0, sizeof *t);
    t->fd = fd;
    t->mtu = 1500;
    snprintf(t->name, sizeof t->name, "%s", name);
}

static int ifioctl(int s, unsigned long req, struct ifreq *ifr, const char *what, char *err,
                   size_t errlen)
{
    if (ioctl(s, req, ifr) == 0)
        return 0;
    int e = errno;
    snprintf(err, errlen, "tun: %s %s: %s", what, ifr->ifr_name, strerror(e));
    return -e;
}

/* One "ADDRESS/PREFIX" (IPv4 or IPv6; no prefix: a host address). */
static int parse_cidr(const char *cidr, int *family, uint8_t addr[16], int *prefix, char *err,
                      size_t errlen)
{
    char text[64];
    const char *slash = strchr(cidr, '/');
    size_t alen = slash ? (size_t)(slash - cidr) : strlen(cidr);
    if (alen >= sizeof text) {
        snprintf(err, errlen, "tun: '%s' is not ADDRESS/PREFIX", cidr);
        return -EINVAL;
    }
    memcpy(text, cidr, alen);
    text[alen] = 0;
    if (inet_pton(AF_INET, text, addr) == 1)
        *family = AF_INET;
    else if (inet_pton(AF_INET6, text, addr) == 1)
        *family = AF_INET6;
    else {
        snprintf(err, errlen, "tun: '%s' is not an IPv4 or IPv6 address", text);
        return -EINVAL;
    }
    int max = *family == AF_INET ? 32 : 128;
    char *end = NULL;
    long p = slash ? strtol(slash + 1, &end, 10) : max;
    if (slash && (!slash[1] || *end || p < 1 || p > max)) {
        snprintf(err, errlen, "tun: '%s' is not ADDRESS/PREFIX (prefix 1 to %d)", cidr, max);
        return -EINVAL;
    }
    *prefix = (int)p;
    return 0;
}

static int dgram_socket(int family, char *err, size_t errlen)
{
    int s = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        int e = errno;
        snprintf(err, errlen, "tun: %s socket: %s%s", family == AF_INET6 ? "IPv6" : "IPv4",
                 strerror(e), e == EAFNOSUPPORT ? " (IPv6 disabled in this kernel)" : "");
        return -e;
    }
    return s;
}

static int set_addr4(int s, struct ifreq *ifr, const uint8_t addr[16], int prefix, char *err,
                     size_t errlen)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    memcpy(&sa.sin_addr, addr, 4);
    memcpy(&ifr->ifr_addr, &sa, sizeof sa);
    int rc = ifioctl(s, SIOCSIFADDR, ifr, "setting the address of", err, errlen);
    if (rc == 0) {
        sa.sin_addr.s_addr = htonl(prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> prefix));
        memcpy(&ifr->ifr_netmask, &sa, sizeof sa);
        rc = ifioctl(s, SIOCSIFNETMASK, ifr, "setting the netmask of", err, errlen);
    }
    return rc;
}

/* The kernel's struct in6_ifreq (linux/ipv6.h, whose header clashes with netinet/in.h): what
 * SIOCSIFADDR takes on an AF_INET6 socket. */
struct sf_in6_ifreq {
    struct in6_addr addr;
    uint32_t prefixlen;
    int ifindex;
};

/* An IPv6 address on the device. The device is layer 3 with IFF_NOARP, so the kernel skips
 * duplicate address detection and the address is usable at once (no neighbour discovery on
 * a TUN: nothing to resolve). */
static int set_addr6(const struct sf_tun *t, const uint8_t addr[16], int prefix, char *err,
                     size_t errlen)
{
    int s = dgram_socket(AF_INET6, err, errlen);
    if (s < 0)
        return s;
    struct sf_in6_ifreq r;
    memset(&r, 0, sizeof r);
    memcpy(&r.addr, addr, 16);
    r.prefixlen = (uint32_t)prefix;
    r.ifindex = (int)if_nametoindex(t->name);
    int rc = 0;
    if (ioctl(s, SIOCSIFADDR, &r) < 0 && errno != EEXIST) {
        rc = -errno;
        snprintf(err, errlen, "tun: setting the IPv6 address of %s: %s%s", t->name, strerror(-rc),
                 rc == -EACCES ? " (IPv6 disabled on the device: net.ipv6.conf.*.disable_ipv6)"
                               : "");
    }
    close(s);
    return rc;
}

int sf_tun_configure(struct sf_tun *t, const char *cidr, char *err, size_t errlen)
{
    int family, prefix;
    uint8_t addr[16];
    int rc = parse_cidr(cidr, &family, addr, &prefix, err, errlen);
    if (rc < 0)
        return rc;
    int s = dgram_socket(AF_INET, err, errlen);
    if (s < 0)
        return s;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, t->name, strlen(t->name));
    if (family == AF_INET)
        rc = set_addr4(s, &ifr, addr, prefix, err, errlen);
    if (rc == 0)
        rc = ifioctl(s, SIOCGIFFLAGS, &ifr, "reading the flags of", err, errlen);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ifioctl(s, SIOCSIFFLAGS, &ifr, "bringing up", err, errlen);
    }
    /* The kernel queues what it sends to us on the device's transmit queue, 500 packets by
     * default: a burst of many connections' segments while we are busy overflows it and each
     * drop costs a retransmission (make bench-lb counted 28,596 in one run). A longer queue
     * of a device we made is only memory; one we attached to is its owner's to size. */
    if (rc == 0 && t->created && t->txqueuelen_want) {
        ifr.ifr_qlen = t->txqueuelen_want;
        if (ioctl(s, SIOCSIFTXQLEN, &ifr) < 0)
            t->txqueuelen_want = 0; /* not fatal: the default queue still works */
    }
    /* IPv6 after the device is up: the kernel's IPv6 side of a device exists once it is. */
    if (rc == 0 && family == AF_INET6)
        rc = set_addr6(t, addr, prefix, err, errlen);
    if (rc == 0 && ifioctl(s, SIOCGIFMTU, &ifr, "reading the MTU of", err, errlen) == 0)
        t->mtu = ifr.ifr_mtu;
    close(s);
    return rc;
}

static int route6(struct sf_tun *t, int s, const uint8_t addr[16], int prefix, int add)
{
    struct in6_rtmsg rt;
    memset(&rt, 0, sizeof rt);
    memcpy(&rt.rtmsg_dst, addr, 16);
    rt.rtmsg_dst_len = (uint16_t)prefix;
    rt.rtmsg_metric = 1;
    rt.rtmsg_flags = RTF_UP | (prefix >= 128 ? RTF_HOST : 0);
    rt.rtmsg_ifindex = (int)if_nametoindex(t->name);
    return ioctl(s, add ? SIOCADDRT : SIOCDELRT, &rt) < 0 ? -errno : 0;
}

static int route4(struct sf_tun *t, int s, const uint8_t addr[4], int prefix, int add)
{
    struct rtentry rt;
    memset(&rt, 0, sizeof rt);
    struct sockaddr_in dst = {.sin_family = AF_INET};
    memcpy(&dst.sin_addr, addr, 4);
    struct sockaddr_in mask = {.sin_family = AF_INET};
    mask.sin_addr.s_addr = htonl(prefix >= 32 ? 0xffffffffu : ~(0xffffffffu >> prefix));
    memcpy(&rt.rt_dst, &dst, sizeof dst);
    memcpy(&rt.rt_genmask, &mask, sizeof mask);
    rt.rt_flags = RTF_UP | (prefix >= 32 ? RTF_HOST : 0);
    rt.rt_dev = t->name;
    return ioctl(s, add ? SIOCADDRT : SIOCDELRT, &rt) < 0 ? -errno : 0;
}

int sf_tun_route(struct sf_tun *t, int family, const uint8_t *addr, int prefix, int add, char *err,
                 size_t errlen)
{
    int af = family == 6 ? AF_INET6 : AF_INET;
    int s = dgram_socket(af, err, errlen);
    if (s < 0)
        return s;
    int rc = af == AF_INET6 ? route6(t, s, addr, prefix, add) : route4(t, s, addr, prefix, add);
    if (rc < 0) {
        char a[INET6_ADDRSTRLEN];
        inet_ntop(af, addr, a, sizeof a);
        snprintf(err, errlen, "tun: %s the route to %s/%d through %s: %s%s",
                 add ? "adding" : "removing", a, prefix, t->name, strerror(-rc),
                 rc == -EPERM ? " (needs CAP_NET_ADMIN)" : "");
    }
    close(s);
    return rc;
}

/* The kernel left the transport checksum partial: the field holds the pseudo-header sum and
 * the rest is ours to add, from csum_start to the end (virtio 1.x, 5.1.6.2). */
static int complete_csum(struct sf_tun *t, const struct virtio_net_hdr *h, uint8_t *pkt, size_t len)
{
    size_t start = h->csum_start, at = start + h->csum_offset;
    if (start >= len || at + 2 > len)
        return -EBADMSG;
    if (t->csum_leave_partial) {
        t->csum_left++;
        return 0;
    }
    uint16_t c = sf_csum_fold(sf_csum_add(0, pkt + start, len - start));
    memcpy(pkt + at, &c, 2);
    t->csum_completed++;
    return 0;
}

ssize_t sf_tun_read(struct sf_tun *t, void *buf, size_t cap)
{
    unsigned flags;
    return sf_tun_read_flags(t, buf, cap, &flags);
}

ssize_t sf_tun_read_flags(struct sf_tun *t, void *buf, size_t cap, unsigned *flags)
{
    struct virtio_net_hdr h;
    *flags = 0;
    struct iovec iov[2] = {{&h, (size_t)t->vnet}, {buf, cap}};
    for (;;) {
        ssize_t n = t->vnet ? readv(t->fd, iov, 2) : read(t->fd, buf, cap);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (!t->vnet)
            return n;
        if (n < t->vnet)
            return -EBADMSG;
        n -= t->vnet;
        if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE)
            t->gso_packets++;
        if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
            if (complete_csum(t, &h, buf, (size_t)n) < 0)
                return -EBADMSG;
            *flags = SF_TUN_CSUM_VALID;
        } else if (h.flags & VIRTIO_NET_HDR_F_DATA_VALID) {
            t->csum_valid++;
            *flags = SF_TUN_CSUM_VALID;
        }
        return n;
    }
}

static int write_with(struct sf_tun *t, const struct virtio_net_hdr *h, const void *pkt, size_t len)
{
    struct iovec iov[2] = {{(void *)h, (size_t)t->vnet}, {(void *)pkt, len}};
    for (;;) {
        ssize_t n = t->vnet ? writev(t->fd, iov, 2) : write(t->fd, pkt, len);
        if (n >= 0 && t->vnet)
            n = n < t->vnet ? 0 : n - t->vnet; /* a TUN write is whole or nothing */
        if (n == (ssize_t)len)
            return 0;
        if (n >= 0)
            return -EIO;
        if (errno != EINTR)
            return -errno;
    }
}

int sf_tun_write(struct sf_tun *t, const void *pkt, size_t len)
{
    struct virtio_net_hdr h = {.gso_type = VIRTIO_NET_HDR_GSO_NONE}; /* complete, no GSO */
    return write_with(t, &h, pkt, len);
}

/* The virtio header of a TCP packet whose checksum is partial: the kernel sums from the TCP
 * header (csum_start) and writes the result at its checksum field. */
static struct virtio_net_hdr partial_hdr(const uint8_t *ip)
{
    int v6 = (ip[0] >> 4) == 6;
    size_t ihl = v6 ? 40 : (size_t)(ip[0] & 15) * 4;
    struct virtio_net_hdr h = {
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
        .gso_type = VIRTIO_NET_HDR_GSO_NONE,
        .csum_start = (uint16_t)ihl,
        .csum_offset = 16, /* the TCP checksum field */
    };
    return h;
}

int sf_tun_write_gso(struct sf_tun *t, const void *pkt, size_t len, uint16_t seg_size,
                     uint16_t hdr_len)
{
    if (!seg_size)
        return sf_tun_write(t, pkt, len);
    if (!t->offload)
        return -EOPNOTSUPP;
    const uint8_t *ip = pkt;
    struct virtio_net_hdr h = partial_hdr(ip);
    h.gso_type = (ip[0] >> 4) == 6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
    h.hdr_len = hdr_len;
    h.gso_size = seg_size;
    t->gso_written++;
    return write_with(t, &h, pkt, len);
}

int sf_tun_steer(struct sf_tun *t, int prog_fd, char *err, size_t errlen)
{
    if (ioctl(t->fd, TUNSETSTEERINGEBPF, &prog_fd) == 0)
        return 0;
    int e = errno;
    snprintf(err, errlen, "tun: attaching the steering program to %s: %s", t->name, strerror(e));
    return -e;
}

int sf_tun_read_mtu(struct sf_tun *t, char *err, size_t errlen)
{
    int s = dgram_socket(AF_INET, err, errlen);
    if (s < 0)
        return s;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, t->name, strlen(t->name));
    int rc = ifioctl(s, SIOCGIFMTU, &ifr, "reading the MTU of", err, errlen);
    if (rc == 0)
        t->mtu = ifr.ifr_mtu;
    close(s);
    return rc;
}

int sf_tun_write_partial(struct sf_tun *t, const void *pkt, size_t len)
{
    if (!t->offload)
        return -EOPNOTSUPP;
    struct virtio_net_hdr h = partial_hdr(pkt);
    t->partial_written++;
    return write_with(t, &h, pkt, len);
}

void sf_tun_close(struct sf_tun *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
}
