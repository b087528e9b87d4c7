/* Address ranges as the config writes them (127.0.0.0/8, ::1/128, a bare address for one
 * host): who may use the admin listener, which peers may send a PROXY header. */
#ifndef SYNFIN_LB_CIDR_H
#define SYNFIN_LB_CIDR_H

#include <stddef.h>
#include <stdint.h>

#include "lb/addr.h"

/* Ranges a directive may list. */
#define LB_CIDRS_MAX 16

struct lb_cidr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t net[16];
    unsigned bits;
};

/* "a.b.c.d[/n]" or "ipv6[/n]" (a bare address is one host). Host bits set below the prefix
 * are an error: 10.1.2.3/8 is more likely a typo than a range. 0, or -1 with *why. */
int lb_cidr_parse(struct lb_cidr *c, const char *s, const char **why);
/* Whether a's host address is in c (an IPv4-mapped IPv6 address counts as IPv4). */
int lb_cidr_match(const struct lb_cidr *c, const struct lb_addr *a);
/* Whether a is in any of the n ranges. */
int lb_cidr_match_any(const struct lb_cidr *c, size_t n, const struct lb_addr *a);
/* Whether the range holds only loopback addresses. */
int lb_cidr_is_loopback(const struct lb_cidr *c);
/* As parsed, always with its prefix length ("127.0.0.0/8"); returns buf. */
char *lb_cidr_format(const struct lb_cidr *c, char *buf, size_t len);

#endif
