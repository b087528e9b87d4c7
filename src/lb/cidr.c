/* Address ranges; see cidr.h. */
#include "lb/cidr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

int lb_cidr_parse(struct lb_cidr *c, const char *s, const char **why)
{
    char host[64];
    const char *slash = strchr(s, '/');
    size_t hl = slash ? (size_t)(slash - s) : strlen(s);
    memset(c, 0, sizeof *c);
    if (hl == 0 || hl >= sizeof host) {
        *why = "expected an address or a range such as 127.0.0.0/8";
        return -1;
    }
    memcpy(host, s, hl);
    host[hl] = 0;
    if (inet_pton(AF_INET, host, c->net) == 1) {
        c->family = AF_INET;
        c->bits = 32;
    } else if (inet_pton(AF_INET6, host, c->net) == 1) {
        c->family = AF_INET6;
        c->bits = 128;
    } else {
        *why = "not an IPv4 or IPv6 address";
        return -1;
    }
    if (slash) {
        const char *p = slash + 1;
        unsigned v = 0;
        if (!*p || strlen(p) > 3) {
            *why = "expected a prefix length after '/'";
            return -1;
        }
        for (; *p; p++) {
            if (*p < '0' || *p > '9') {
                *why = "expected a prefix length after '/'";
                return -1;
            }
            v = v * 10 + (unsigned)(*p - '0');
        }
        if (v > c->bits) {
            *why = c->family == AF_INET ? "an IPv4 prefix is 0 to 32 bits"
                                        : "an IPv6 prefix is 0 to 128 bits";
            return -1;
        }
        c->bits = v;
    }
    size_t n = c->family == AF_INET ? 4 : 16;
    for (size_t i = 0; i < n; i++) {
        unsigned keep = c->bits >= 8 * (i + 1) ? 8
                        : c->bits > 8 * i      ? c->bits - 8 * (unsigned)i
                                               : 0;
        uint8_t mask = (uint8_t)(keep ? 0xff << (8 - keep) : 0);
        if (c->net[i] & ~mask) {
            *why = "host bits are set below the prefix length";
            return -1;
        }
    }
    return 0;
}

int lb_cidr_match(const struct lb_cidr *c, const struct lb_addr *a)
{
    struct lb_addr u;
    lb_addr_unmap(&u, a);
    const uint8_t *k;
    size_t n = lb_addr_key(&u, &k);
    if (u.u.sa.sa_family != c->family || n != (c->family == AF_INET ? 4u : 16u))
        return 0;
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(k, c->net, full))
        return 0;
    if (rest) {
        uint8_t mask = (uint8_t)(0xff << (8 - rest));
        if ((k[full] & mask) != c->net[full])
            return 0;
    }
    return 1;
}

int lb_cidr_match_any(const struct lb_cidr *c, size_t n, const struct lb_addr *a)
{
    for (size_t i = 0; i < n; i++)
        if (lb_cidr_match(&c[i], a))
            return 1;
    return 0;
}

int lb_cidr_is_loopback(const struct lb_cidr *c)
{
    if (c->family == AF_INET)
        return c->bits >= 8 && c->net[0] == 127;
    static const uint8_t one[16] = {[15] = 1};
    return c->bits == 128 && !memcmp(c->net, one, 16);
}

char *lb_cidr_format(const struct lb_cidr *c, char *buf, size_t len)
{
    char h[INET6_ADDRSTRLEN];
    inet_ntop(c->family, c->net, h, sizeof h);
    snprintf(buf, len, "%s/%u", h, c->bits);
    return buf;
}
