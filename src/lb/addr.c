/* Address parsing and printing for IPv4 and IPv6. */
#include "lb/addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_port(const char *s, uint16_t *port)
{
    if (!*s)
        return -1;
    unsigned long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (unsigned long)(*p - '0');
        if (v > 65535)
            return -1;
    }
    *port = (uint16_t)v;
    return 0;
}

int lb_addr_parse(struct lb_addr *a, const char *s, int need_port, const char **why)
{
    char host[64];
    const char *port = NULL;
    size_t hl;
    memset(a, 0, sizeof *a);
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end) {
            *why = "missing ']' after IPv6 address";
            return -1;
        }
        hl = (size_t)(end - s - 1);
        if (end[1] == ':')
            port = end + 2;
        else if (end[1]) {
            *why = "expected ':' and a port after ']'";
            return -1;
        }
        s++;
    } else {
        const char *colon = strrchr(s, ':');
        hl = colon ? (size_t)(colon - s) : strlen(s);
        if (colon && strchr(s, ':') != colon) {
            /* Two colons or more: IPv6, where ::1:2000 could be either an address or an
             * address and a port. Only brackets tell; without them it is all address. */
            if (need_port) {
                *why = "an IPv6 address with a port is written in brackets, as [::1]:8080";
                return -1;
            }
            hl = strlen(s);
        } else if (colon) {
            port = colon + 1;
        }
    }
    if (hl == 0 || hl >= sizeof host) {
        *why = "expected an address such as 127.0.0.1:8080";
        return -1;
    }
    memcpy(host, s, hl);
    host[hl] = 0;
    uint16_t p = 0;
    if (port) {
        if (parse_port(port, &p) < 0) {
            *why = "bad port (0-65535)";
            return -1;
        }
    } else if (need_port) {
        *why = "missing ':port'";
        return -1;
    }
    if (inet_pton(AF_INET, host, &a->u.in4.sin_addr) == 1) {
        a->u.in4.sin_family = AF_INET;
        a->u.in4.sin_port = htons(p);
        a->len = sizeof a->u.in4;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a->u.in6.sin6_addr) == 1) {
        a->u.in6.sin6_family = AF_INET6;
        a->u.in6.sin6_port = htons(p);
        a->len = sizeof a->u.in6;
        return 0;
    }
    *why = "not a numeric IPv4 or IPv6 address";
    return -1;
}

char *lb_addr_host(const struct lb_addr *a, char *buf, size_t len)
{
    const void *src = a->u.sa.sa_family == AF_INET6 ? (const void *)&a->u.in6.sin6_addr
                                                    : (const void *)&a->u.in4.sin_addr;
    if (a->u.sa.sa_family != AF_INET && a->u.sa.sa_family != AF_INET6) {
        snprintf(buf, len, "-");
        return buf;
    }
    if (!inet_ntop(a->u.sa.sa_family, src, buf, (socklen_t)len))
        snprintf(buf, len, "?");
    return buf;
}

char *lb_addr_format(const struct lb_addr *a, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN];
    lb_addr_host(a, host, sizeof host);
    if (a->u.sa.sa_family == AF_INET6)
        snprintf(buf, len, "[%s]:%u", host, lb_addr_port(a));
    else if (a->u.sa.sa_family == AF_INET)
        snprintf(buf, len, "%s:%u", host, lb_addr_port(a));
    else
        snprintf(buf, len, "-");
    return buf;
}

uint16_t lb_addr_port(const struct lb_addr *a)
{
    if (a->u.sa.sa_family == AF_INET6)
        return ntohs(a->u.in6.sin6_port);
    if (a->u.sa.sa_family == AF_INET)
        return ntohs(a->u.in4.sin_port);
    return 0;
}

void lb_addr_set_port(struct lb_addr *a, uint16_t port)
{
    if (a->u.sa.sa_family == AF_INET6)
        a->u.in6.sin6_port = htons(port);
    else
        a->u.in4.sin_port = htons(port);
}

size_t lb_addr_key(const struct lb_addr *a, const uint8_t **key)
{
    if (a->u.sa.sa_family == AF_INET6) {
        *key = a->u.in6.sin6_addr.s6_addr;
        return 16;
    }
    *key = (const uint8_t *)&a->u.in4.sin_addr.s_addr;
    return 4;
}

int lb_addr_same_host(const struct lb_addr *a, const struct lb_addr *b)
{
    const uint8_t *ka, *kb;
    if (a->u.sa.sa_family != b->u.sa.sa_family)
        return 0;
    size_t n = lb_addr_key(a, &ka);
    lb_addr_key(b, &kb);
    return memcmp(ka, kb, n) == 0;
}

int lb_addr_equal(const struct lb_addr *a, const struct lb_addr *b)
{
    return lb_addr_same_host(a, b) && lb_addr_port(a) == lb_addr_port(b);
}

void lb_addr_from_sockaddr(struct lb_addr *a, const struct sockaddr *sa, socklen_t len)
{
    memset(a, 0, sizeof *a);
    if (len > sizeof a->u)
        len = sizeof a->u;
    memcpy(&a->u, sa, len);
    a->len = len;
}

void lb_addr_unmap(struct lb_addr *out, const struct lb_addr *a)
{
    *out = *a;
    if (a->u.sa.sa_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&a->u.in6.sin6_addr))
        return;
    uint16_t port = lb_addr_port(a);
    memset(out, 0, sizeof *out);
    out->u.in4.sin_family = AF_INET;
    memcpy(&out->u.in4.sin_addr, a->u.in6.sin6_addr.s6_addr + 12, 4);
    out->u.in4.sin_port = htons(port);
    out->len = sizeof out->u.in4;
}

int lb_addr_is_any(const struct lb_addr *a)
{
    if (a->u.sa.sa_family == AF_INET6)
        return IN6_IS_ADDR_UNSPECIFIED(&a->u.in6.sin6_addr);
    return a->u.sa.sa_family == AF_INET && a->u.in4.sin_addr.s_addr == htonl(INADDR_ANY);
}

int lb_addr_is_loopback(const struct lb_addr *a)
{
    struct lb_addr u;
    lb_addr_unmap(&u, a);
    if (u.u.sa.sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&u.u.in6.sin6_addr);
    return u.u.sa.sa_family == AF_INET && (ntohl(u.u.in4.sin_addr.s_addr) >> 24) == 127;
}

int lb_addr_same_host_unmapped(const struct lb_addr *a, const struct lb_addr *b)
{
    struct lb_addr ua, ub;
    lb_addr_unmap(&ua, a);
    lb_addr_unmap(&ub, b);
    return lb_addr_same_host(&ua, &ub);
}
