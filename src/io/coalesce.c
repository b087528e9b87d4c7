/* Transmit coalescing for GSO writes; see coalesce.h. */
#include "io/coalesce.h"

#include <arpa/inet.h>
#include <string.h>

#include "net/checksum.h"

enum { TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_PSH = 0x08, TCP_ACK = 0x10 };

struct view {
    int v6;
    size_t ihl, thl, payload; /* ihl: the IP header, 40 for IPv6 (no extension headers) */
    uint16_t id;
    uint32_t seq;
    uint8_t flags;
};

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* The IP header of an IPv4 or IPv6 TCP packet: its length in v->ihl, or 0. IPv6 only with TCP
 * right after the fixed header (what the engine sends). */
static int ip_header(const uint8_t *p, size_t len, struct view *v)
{
    v->v6 = len >= 40 && (p[0] >> 4) == 6;
    if (v->v6) {
        v->ihl = 40;
        v->id = 0; /* IPv6 has no ID: segments of a run differ only in TCP */
        return p[6] == IPPROTO_TCP && get16(p + 4) == len - 40;
    }
    if (len < 40 || (p[0] >> 4) != 4 || p[9] != IPPROTO_TCP)
        return 0;
    v->ihl = (size_t)(p[0] & 15) * 4;
    v->id = get16(p + 4);
    /* bad length, or a fragment */
    return v->ihl >= 20 && get16(p + 2) == len && (get16(p + 6) & 0x3fff) == 0;
}

/* A well-formed IPv4 or IPv6 TCP data segment with nothing but ACK (and PSH), or 0. */
static int data_segment(const uint8_t *p, size_t len, struct view *v)
{
    if (!ip_header(p, len, v) || len < v->ihl + 20)
        return 0;
    const uint8_t *t = p + v->ihl;
    v->thl = (size_t)(t[12] >> 4) * 4;
    if (v->thl < 20 || len < v->ihl + v->thl)
        return 0;
    v->payload = len - v->ihl - v->thl;
    v->flags = t[13];
    v->seq = (uint32_t)get16(t + 4) << 16 | get16(t + 6);
    return v->payload > 0 && (v->flags & ~TCP_PSH) == TCP_ACK;
}

/* Headers equal but for the fields each segment has its own. */
static int same_headers(const uint8_t *a, const uint8_t *b, const struct view *v)
{
    static const struct {
        uint8_t from, to; /* byte ranges compared, [from, to) */
    } ip4[] = {{0, 2}, {6, 10}, {12, 20}}, ip6[] = {{0, 4}, {6, 40}}; /* all but length (, ID) */
    for (size_t i = 0; !v->v6 && i < sizeof ip4 / sizeof ip4[0]; i++)
        if (memcmp(a + ip4[i].from, b + ip4[i].from, ip4[i].to - ip4[i].from) != 0)
            return 0;
    for (size_t i = 0; v->v6 && i < sizeof ip6 / sizeof ip6[0]; i++)
        if (memcmp(a + ip6[i].from, b + ip6[i].from, ip6[i].to - ip6[i].from) != 0)
            return 0;
    if (!v->v6 && memcmp(a + 20, b + 20, v->ihl - 20) != 0) /* IP options */
        return 0;
    const uint8_t *ta = a + v->ihl, *tb = b + v->ihl;
    /* ports; ack to the data offset; window; urgent pointer and options */
    return memcmp(ta, tb, 4) == 0 && memcmp(ta + 8, tb + 8, 5) == 0 &&
           memcmp(ta + 14, tb + 14, 2) == 0 && memcmp(ta + 18, tb + 18, v->thl - 18) == 0 &&
           (ta[13] & ~TCP_PSH) == (tb[13] & ~TCP_PSH);
}

int sf_coalesce_add(struct sf_coalesce *c, const uint8_t *pkt, size_t len)
{
    struct view v;
    if (!data_segment(pkt, len, &v))
        return 0;
    if (c->len == 0) {
        if (len > sizeof c->pkt || v.payload > UINT16_MAX)
            return 0;
        memcpy(c->pkt, pkt, len);
        c->len = len;
        c->seg_size = (uint16_t)v.payload;
        c->hdr_len = (uint16_t)(v.ihl + v.thl);
        c->nseg = 1;
        c->v6 = v.v6;
        c->next_id = (uint16_t)(v.v6 ? 0 : v.id + 1);
        c->next_seq = v.seq + (uint32_t)v.payload;
        c->last = (v.flags & TCP_PSH) != 0;
        return 1;
    }
    if (c->last || v.v6 != c->v6 || v.ihl + v.thl != c->hdr_len || v.payload > c->seg_size ||
        c->len + v.payload > sizeof c->pkt || v.seq != c->next_seq || v.id != c->next_id ||
        !same_headers(c->pkt, pkt, &v))
        return 0;
    memcpy(c->pkt + c->len, pkt + c->hdr_len, v.payload);
    c->len += v.payload;
    c->nseg++;
    c->next_id = (uint16_t)(c->v6 ? 0 : c->next_id + 1);
    c->next_seq += (uint32_t)v.payload;
    if (v.flags & TCP_PSH)
        c->pkt[v.ihl + 13] |= TCP_PSH;
    c->last = v.payload < c->seg_size || (v.flags & TCP_PSH);
    return 1;
}

size_t sf_coalesce_take(struct sf_coalesce *c, const uint8_t **pkt, uint16_t *seg_size,
                        uint16_t *hdr_len)
{
    size_t len = c->len;
    *pkt = c->pkt;
    *seg_size = 0;
    *hdr_len = c->hdr_len;
    c->len = 0;
    if (len == 0 || c->nseg == 1)
        return len;
    uint8_t *ip = c->pkt;
    /* The partial checksum a device completes per segment: the pseudo-header sum over the
     * whole TCP length, not complemented (what Linux leaves in a CHECKSUM_PARTIAL packet).
     * IPv4's (RFC 9293 §3.1) or IPv6's (RFC 8200 §8.1: addresses, 32-bit length, next
     * header). */
    uint8_t pseudo[40];
    size_t ihl, plen;
    memset(pseudo, 0, sizeof pseudo);
    if (c->v6) {
        ihl = 40;
        put16(ip + 4, (uint16_t)(len - ihl));
        memcpy(pseudo, ip + 8, 32);
        put16(pseudo + 34, (uint16_t)(len - ihl));
        pseudo[39] = IPPROTO_TCP;
        plen = 40;
    } else {
        ihl = (size_t)(ip[0] & 15) * 4;
        put16(ip + 2, (uint16_t)len);
        put16(ip + 10, 0);
        uint16_t ipsum = sf_csum_fold(sf_csum_add(0, ip, ihl));
        memcpy(ip + 10, &ipsum, 2);
        memcpy(pseudo, ip + 12, 8);
        pseudo[9] = IPPROTO_TCP;
        put16(pseudo + 10, (uint16_t)(len - ihl));
        plen = 12;
    }
    uint16_t partial = (uint16_t)~sf_csum_fold(sf_csum_add(0, pseudo, plen));
    memcpy(ip + ihl + 16, &partial, 2);
    *seg_size = c->seg_size;
    return len;
}
