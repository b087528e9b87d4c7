/* The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2), sans I/O: the header
 * a front load balancer writes first on a connection to say who the client was, parsed
 * strictly from bytes, and written for a server connection.
 *
 * Bounds: a v1 header is one line of at most 107 bytes; a v2 header is 16 bytes and the
 * length they announce, which synfin takes up to LB_PROXY_V2_MAX (its TLVs are skipped). */
#ifndef SYNFIN_LB_PROXY_PROTO_H
#define SYNFIN_LB_PROXY_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "lb/addr.h"

#define LB_PROXY_V1_MAX 107
#define LB_PROXY_V2_MAX 536 /* 16 + 520: the addresses and TLVs HAProxy itself sends */
/* How long a frontend with accept_proxy waits for the header unless accept_proxy_timeout
 * says: 5 s, the bound synfin always had (HAProxy waits up to timeout client, nginx's
 * proxy_protocol_timeout is 30 s); the header comes in the connection's first segment. */
#define LB_PROXY_TIMEOUT_MS 5000
/* accept_proxy_timeout's range: a timer tick, and more than any front proxy takes. */
#define LB_PROXY_TIMEOUT_MIN_MS 1
#define LB_PROXY_TIMEOUT_MAX_MS 600000
/* What lb_proxy_write needs at most. */
#define LB_PROXY_HEADER_MAX 108

struct lb_proxy_hdr {
    int local;          /* v2 LOCAL, v1 UNKNOWN, an unspecified family: no addresses, the
                         * connection's own are meant (a health check) */
    struct lb_addr src; /* the client */
    struct lb_addr dst; /* where it connected */
    size_t len;         /* bytes the header took */
};

enum {
    LB_PROXY_MORE = 0, /* not complete yet */
    LB_PROXY_BAD = -1, /* not a PROXY header, or a malformed one */
};

/* Parses buf[0..len), the first bytes of a connection. Returns the header's length (> 0)
 * with *h filled (IPv4-mapped IPv6 addresses read as IPv4), LB_PROXY_MORE when more bytes are
 * needed (at most LB_PROXY_V2_MAX in all), or LB_PROXY_BAD with a static reason in *why. */
int lb_proxy_parse(const uint8_t *buf, size_t len, struct lb_proxy_hdr *h, const char **why);

/* Writes a header of version (1 or 2) for a connection from src to dst into out (at least
 * LB_PROXY_HEADER_MAX bytes). Addresses of different families are written as IPv6 (IPv4
 * mapped). src NULL: a LOCAL (v2) or UNKNOWN (v1) header. Returns its length. */
size_t lb_proxy_write(int version, const struct lb_addr *src, const struct lb_addr *dst,
                      uint8_t *out);

#endif
