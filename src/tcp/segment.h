/* TCP segments on the wire: parsing an incoming IPv4/TCP packet, building an outgoing one.
 * Every length and offset of an incoming packet is checked before it is read. */
#ifndef SYNFIN_TCP_SEGMENT_H
#define SYNFIN_TCP_SEGMENT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tcp/tcp.h"

enum {
    TH_FIN = 0x01,
    TH_SYN = 0x02,
    TH_RST = 0x04,
    TH_PSH = 0x08,
    TH_ACK = 0x10,
    TH_URG = 0x20,
    TH_ECE = 0x40,
    TH_CWR = 0x80,
};

enum {
    OPT_MSS = 1u << 0,
    OPT_WSCALE = 1u << 1,
    OPT_SACK_OK = 1u << 2,
    OPT_TS = 1u << 3,
    OPT_SACK = 1u << 4,
    OPT_FO = 1u << 5, /* TCP Fast Open (RFC 7413): kind 34, or 254 with magic 0xF989 */
};

#define SF_FO_COOKIE_MAX 16 /* RFC 7413 §4.1.1: 4 to 16 bytes, even; 0 is a cookie request */

#define SF_MAX_SACK_BLOCKS 4

struct sf_sack_block {
    uint32_t start, end;
};

struct sf_tcp_opts {
    uint8_t has; /* OPT_* */
    uint8_t wscale;
    uint8_t nsack;
    uint16_t mss;
    uint32_t tsval, tsecr;
    struct sf_sack_block sack[SF_MAX_SACK_BLOCKS];
    uint8_t fo_exp; /* OPT_FO came as the experimental kind 254 (answered the same way) */
    uint8_t fo_len; /* cookie bytes; 0: a request */
    uint8_t fo_cookie[SF_FO_COOKIE_MAX];
};

/* The 4-tuple from the engine's side: l = local (the packet's destination on input). */
/* Addresses carry their family: IPv4 in u.v4 with the other 12 bytes zero, or IPv6. Both
 * addresses of a tuple have the same family. No padding: tuples compare with memcmp. */
struct sf_tuple {
    struct sf_addr laddr, raddr;
    uint16_t lport, rport; /* host order */
};

static inline int tuple_eq(const struct sf_tuple *a, const struct sf_tuple *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

/* The bytes keyed hashes are taken over (table, TIME-WAIT, ISN, timestamps, cookies): for IPv4
 * the 12 of addresses and ports, as before IPv6; for IPv6 36 and the family. Returns the
 * length written to out (at most 40). */
static inline size_t tuple_key(const struct sf_tuple *t, uint8_t out[40])
{
    if (t->laddr.family != SF_AF_INET6) {
        memcpy(out, t->laddr.u.v4, 4);
        memcpy(out + 4, t->raddr.u.v4, 4);
        memcpy(out + 8, &t->lport, 2);
        memcpy(out + 10, &t->rport, 2);
        return 12;
    }
    memcpy(out, t->laddr.u.v6, 16);
    memcpy(out + 16, t->raddr.u.v6, 16);
    memcpy(out + 32, &t->lport, 2);
    memcpy(out + 34, &t->rport, 2);
    out[36] = SF_AF_INET6;
    return 37;
}

/* An address with nothing in it (INADDR_ANY, ::) of its family. */
static inline int addr_is_any(const struct sf_addr *a)
{
    static const uint8_t zero[16];
    return memcmp(a->u.v6, zero, a->family == SF_AF_INET6 ? 16 : 4) == 0;
}

static inline int addr_eq(const struct sf_addr *a, const struct sf_addr *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

struct sf_seg {
    struct sf_tuple t;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t wnd; /* as on the wire (unscaled) */
    uint16_t urp;
    uint8_t ttl;
    struct sf_tcp_opts opt;
    const uint8_t *data;
    uint32_t len; /* payload bytes */
};

/* Sequence space the segment occupies: payload plus one each for SYN and FIN. */
static inline uint32_t seg_seqlen(const struct sf_seg *s)
{
    return s->len + !!(s->flags & TH_SYN) + !!(s->flags & TH_FIN);
}

enum sf_parse_err {
    SEG_OK = 0,
    SEG_MALFORMED, /* truncated, bad header lengths, bad flag combination, port 0 */
    SEG_BAD_CSUM,  /* IPv4 header or TCP checksum */
    SEG_NOT_TCP,   /* another protocol, or not IPv4 */
    SEG_FRAGMENT,  /* IP fragment: not reassembled */
};

/* Parses and checks an IPv4 packet carrying TCP. Malformed options end option parsing; the
 * segment itself is still valid (as Linux treats them). */
enum sf_parse_err sf_seg_parse(const uint8_t *pkt, size_t len, struct sf_seg *s);
/* The same; with SF_IN_CSUM_VALID in flags (tcp.h) the TCP checksum is not summed again. */
enum sf_parse_err sf_seg_parse_flags(const uint8_t *pkt, size_t len, struct sf_seg *s,
                                     unsigned flags);

/* An outgoing segment. */
struct sf_seg_out {
    struct sf_tuple t;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t wnd;
    uint16_t ip_id;
    struct sf_tcp_opts opt; /* options to include: a SYN gets MSS/SACK_OK/TS/WSCALE in
                               Linux's order; other segments TS and SACK blocks */
};

/* Builds the packet into buf: IPv4 header, TCP header and options, then the payload from two
 * pieces (a ring buffer may wrap). Returns the packet length, or 0 if cap is too small. */
size_t sf_seg_build(uint8_t *buf, size_t cap, const struct sf_seg_out *o, const void *d1, size_t l1,
                    const void *d2, size_t l2);
/* The same; with partial the TCP checksum field holds the pseudo-header's sum only, not
 * complemented, for a device to complete over the TCP header and payload (the payload is
 * not summed here). */
size_t sf_seg_build_csum(uint8_t *buf, size_t cap, const struct sf_seg_out *o, const void *d1,
                         size_t l1, const void *d2, size_t l2, int partial);

/* Length of the TCP options sf_seg_build would write for these options. */
size_t sf_opts_len(const struct sf_tcp_opts *o, int syn);

#endif
