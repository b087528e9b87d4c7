/* The PROXY protocol; see proxy_proto.h. */
#include "lb/proxy_proto.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const uint8_t v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                   0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* A decimal port: 0-65535, no sign, no leading zero. */
static int v1_port(const char *s, size_t n, uint16_t *out)
{
    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return -1;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

static int v1_addr(int family, const char *s, size_t n, struct lb_addr *a)
{
    char t[64];
    if (n == 0 || n >= sizeof t)
        return -1;
    memcpy(t, s, n);
    t[n] = 0;
    memset(a, 0, sizeof *a);
    if (family == AF_INET) {
        a->u.in4.sin_family = AF_INET;
        a->len = sizeof a->u.in4;
        return inet_pton(AF_INET, t, &a->u.in4.sin_addr) == 1 ? 0 : -1;
    }
    a->u.in6.sin6_family = AF_INET6;
    a->len = sizeof a->u.in6;
    return inet_pton(AF_INET6, t, &a->u.in6.sin6_addr) == 1 ? 0 : -1;
}

/* An IPv4-mapped IPv6 address is its IPv4 one, as everywhere in synfin (balancing, logs,
 * access ranges), and as lb_proxy_write would send it on. */
static void unmap_both(struct lb_proxy_hdr *h)
{
    struct lb_addr t;
    lb_addr_unmap(&t, &h->src);
    h->src = t;
    lb_addr_unmap(&t, &h->dst);
    h->dst = t;
}

/* "PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n", single spaces, or "PROXY UNKNOWN...\r\n". */
static int parse_v1(const uint8_t *buf, size_t len, struct lb_proxy_hdr *h, const char **why)
{
    const char *p = (const char *)buf;
    size_t lim = len < LB_PROXY_V1_MAX ? len : LB_PROXY_V1_MAX;
    const char *cr = memchr(p, '\r', lim);
    size_t n = cr ? (size_t)(cr - p) : lim;
    /* A LF or NUL before the CR is refused however the line goes on, so that a prefix and
     * the whole line always get the same answer. */
    if (memchr(p, '\n', n) || memchr(p, 0, n)) {
        *why = "a v1 header without CRLF";
        return LB_PROXY_BAD;
    }
    if (!cr) {
        if (len >= LB_PROXY_V1_MAX) {
            *why = "a v1 header longer than 107 bytes";
            return LB_PROXY_BAD;
        }
        return LB_PROXY_MORE;
    }
    if (n + 2 > LB_PROXY_V1_MAX) {
        *why = "a v1 header longer than 107 bytes";
        return LB_PROXY_BAD;
    }
    if (n + 1 >= len)
        return LB_PROXY_MORE;
    if (cr[1] != '\n') {
        *why = "a v1 header without CRLF";
        return LB_PROXY_BAD;
    }
    memset(h, 0, sizeof *h);
    h->len = n + 2;
    if (n >= 13 && !memcmp(p, "PROXY UNKNOWN", 13) && (n == 13 || p[13] == ' ')) {
        h->local = 1; /* the rest of the line is to be ignored (the spec) */
        return (int)h->len;
    }
    int family;
    if (n > 11 && !memcmp(p, "PROXY TCP4 ", 11))
        family = AF_INET;
    else if (n > 11 && !memcmp(p, "PROXY TCP6 ", 11))
        family = AF_INET6;
    else {
        *why = "a v1 header that is not PROXY TCP4, TCP6 or UNKNOWN";
        return LB_PROXY_BAD;
    }
    const char *f[4];
    size_t fl[4];
    const char *q = p + 11, *end = cr;
    for (int i = 0; i < 4; i++) {
        const char *sp = i < 3 ? memchr(q, ' ', (size_t)(end - q)) : end;
        if (!sp || (i == 3 && memchr(q, ' ', (size_t)(end - q)))) {
            *why = "a v1 header without four fields after the protocol";
            return LB_PROXY_BAD;
        }
        f[i] = q;
        fl[i] = (size_t)(sp - q);
        q = sp + 1;
    }
    uint16_t sport, dport;
    if (v1_addr(family, f[0], fl[0], &h->src) < 0 || v1_addr(family, f[1], fl[1], &h->dst) < 0) {
        *why = "a v1 header with a bad address";
        return LB_PROXY_BAD;
    }
    if (v1_port(f[2], fl[2], &sport) < 0 || v1_port(f[3], fl[3], &dport) < 0) {
        *why = "a v1 header with a bad port";
        return LB_PROXY_BAD;
    }
    lb_addr_set_port(&h->src, sport);
    lb_addr_set_port(&h->dst, dport);
    unmap_both(h);
    return (int)h->len;
}

static int parse_v2(const uint8_t *buf, size_t len, struct lb_proxy_hdr *h, const char **why)
{
    if (len < 16)
        return LB_PROXY_MORE;
    if ((buf[12] >> 4) != 2) {
        *why = "a v2 header of another version";
        return LB_PROXY_BAD;
    }
    int cmd = buf[12] & 0x0f;
    if (cmd > 1) {
        *why = "a v2 header with an unknown command";
        return LB_PROXY_BAD;
    }
    size_t body = (size_t)buf[14] << 8 | buf[15];
    if (16 + body > LB_PROXY_V2_MAX) {
        *why = "a v2 header longer than 536 bytes";
        return LB_PROXY_BAD;
    }
    if (len < 16 + body)
        return LB_PROXY_MORE;
    memset(h, 0, sizeof *h);
    h->len = 16 + body;
    int fam = buf[13] >> 4, proto = buf[13] & 0x0f;
    if (cmd == 0 || fam == 0) { /* LOCAL, or UNSPEC: the connection's own addresses */
        h->local = 1;
        return (int)h->len;
    }
    if (proto != 1) {
        *why = "a v2 header for another transport than TCP";
        return LB_PROXY_BAD;
    }
    const uint8_t *a = buf + 16;
    if (fam == 1) {
        if (body < 12) {
            *why = "a v2 header too short for its IPv4 addresses";
            return LB_PROXY_BAD;
        }
        h->src.u.in4.sin_family = h->dst.u.in4.sin_family = AF_INET;
        h->src.len = h->dst.len = sizeof h->src.u.in4;
        memcpy(&h->src.u.in4.sin_addr, a, 4);
        memcpy(&h->dst.u.in4.sin_addr, a + 4, 4);
        memcpy(&h->src.u.in4.sin_port, a + 8, 2);
        memcpy(&h->dst.u.in4.sin_port, a + 10, 2);
    } else if (fam == 2) {
        if (body < 36) {
            *why = "a v2 header too short for its IPv6 addresses";
            return LB_PROXY_BAD;
        }
        h->src.u.in6.sin6_family = h->dst.u.in6.sin6_family = AF_INET6;
        h->src.len = h->dst.len = sizeof h->src.u.in6;
        memcpy(&h->src.u.in6.sin6_addr, a, 16);
        memcpy(&h->dst.u.in6.sin6_addr, a + 16, 16);
        memcpy(&h->src.u.in6.sin6_port, a + 32, 2);
        memcpy(&h->dst.u.in6.sin6_port, a + 34, 2);
    } else {
        *why = "a v2 header with an address family synfin cannot use (AF_UNIX)";
        return LB_PROXY_BAD;
    }
    unmap_both(h);
    return (int)h->len;
}

int lb_proxy_parse(const uint8_t *buf, size_t len, struct lb_proxy_hdr *h, const char **why)
{
    *why = "";
    size_t n = len < 12 ? len : 12;
    if (!memcmp(buf, v2_sig, n))
        return len < 12 ? LB_PROXY_MORE : parse_v2(buf, len, h, why);
    n = len < 6 ? len : 6;
    if (!memcmp(buf, "PROXY ", n))
        return len < 6 ? LB_PROXY_MORE : parse_v1(buf, len, h, why);
    *why = "no PROXY header (neither the v1 nor the v2 signature)";
    return LB_PROXY_BAD;
}

/* The two addresses in one family: IPv4 if both are, else both IPv6. */
static int same_family(const struct lb_addr *src, const struct lb_addr *dst, struct lb_addr *s,
                       struct lb_addr *d)
{
    lb_addr_unmap(s, src);
    lb_addr_unmap(d, dst);
    if (s->u.sa.sa_family == AF_INET && d->u.sa.sa_family == AF_INET)
        return AF_INET;
    struct lb_addr *both[2] = {s, d};
    for (int i = 0; i < 2; i++) {
        struct lb_addr *x = both[i];
        if (x->u.sa.sa_family != AF_INET)
            continue;
        struct in_addr v4 = x->u.in4.sin_addr;
        uint16_t port = x->u.in4.sin_port;
        memset(x, 0, sizeof *x);
        x->u.in6.sin6_family = AF_INET6;
        x->u.in6.sin6_port = port;
        x->u.in6.sin6_addr.s6_addr[10] = x->u.in6.sin6_addr.s6_addr[11] = 0xff;
        memcpy(&x->u.in6.sin6_addr.s6_addr[12], &v4, 4);
        x->len = sizeof x->u.in6;
    }
    return AF_INET6;
}

size_t lb_proxy_write(int version, const struct lb_addr *src, const struct lb_addr *dst,
                      uint8_t *out)
{
    struct lb_addr s, d;
    int fam = src ? same_family(src, dst, &s, &d) : 0;
    if (version == 1) {
        if (!fam) {
            memcpy(out, "PROXY UNKNOWN\r\n", 15);
            return 15;
        }
        char sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN];
        const void *sp =
            fam == AF_INET ? (const void *)&s.u.in4.sin_addr : (const void *)&s.u.in6.sin6_addr;
        const void *dp =
            fam == AF_INET ? (const void *)&d.u.in4.sin_addr : (const void *)&d.u.in6.sin6_addr;
        inet_ntop(fam, sp, sa, sizeof sa);
        inet_ntop(fam, dp, da, sizeof da);
        int n = snprintf((char *)out, LB_PROXY_HEADER_MAX, "PROXY TCP%c %s %s %u %u\r\n",
                         fam == AF_INET ? '4' : '6', sa, da, lb_addr_port(&s), lb_addr_port(&d));
        return (size_t)n;
    }
    memcpy(out, v2_sig, 12);
    if (!fam) {
        out[12] = 0x20; /* version 2, LOCAL */
        out[13] = 0x00; /* UNSPEC */
        out[14] = out[15] = 0;
        return 16;
    }
    out[12] = 0x21; /* version 2, PROXY */
    uint8_t *a = out + 16;
    if (fam == AF_INET) {
        out[13] = 0x11; /* AF_INET, STREAM */
        out[14] = 0;
        out[15] = 12;
        memcpy(a, &s.u.in4.sin_addr, 4);
        memcpy(a + 4, &d.u.in4.sin_addr, 4);
        memcpy(a + 8, &s.u.in4.sin_port, 2);
        memcpy(a + 10, &d.u.in4.sin_port, 2);
        return 28;
    }
    out[13] = 0x21; /* AF_INET6, STREAM */
    out[14] = 0;
    out[15] = 36;
    memcpy(a, &s.u.in6.sin6_addr, 16);
    memcpy(a + 16, &d.u.in6.sin6_addr, 16);
    memcpy(a + 32, &s.u.in6.sin6_port, 2);
    memcpy(a + 34, &d.u.in6.sin6_port, 2);
    return 52;
}
