/* Transmit coalescing for GSO writes; see coalesce.h. */
#include "io/coalesce.h"

#include <arpa/inet.h>
#include <string.h>

#include "net/checksum.h"

enum { TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_PSH = 0x08, TCP_ACK = 0x10 };

struct view {
    size_t ihl, thl, payload;
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

/* A well-formed IPv4 TCP data segment with nothing but ACK (and PSH), or 0. */
static int data_segment(const uint8_t *p, size_t len, struct view *v)
{
    if (len < 40 || (p[0] >> 4) != 4 || p[9] != IPPROTO_TCP)
        return 0;
    v->ihl = (size_t)(p[0] & 15) * 4;
    if (v->ihl < 20 || get16(p + 2) != len || (get16(p + 6) & 0x3fff) != 0)
        return 0; /* bad length, or a fragment */
    if (len < v->ihl + 20)
        return 0;
    const uint8_t *t = p + v->ihl;
    v->thl = (size_t)(t[12] >> 4) * 4;
    if (v->thl < 20 || len < v->ihl + v->thl)
        return 0;
    v->payload = len - v->ihl - v->thl;
    v->flags = t[13];
    v->id = get16(p + 4);
    v->seq = (uint32_t)get16(t + 4) << 16 | get16(t + 6);
    return v->payload > 0 && (v->flags & ~TCP_PSH) == TCP_ACK;
}

/* Headers equal but for the fields each segment has its own. */
static int same_headers(const uint8_t *a, const uint8_t *b, const struct view *v)
{
    static const struct {
        uint8_t from, to; /* byte ranges compared, [from, to) */
    } ip[] = {{0, 2}, {6, 10}, {12, 20}};
    for (size_t i = 0; i < sizeof ip / sizeof ip[0]; i++)
        if (memcmp(a + ip[i].from, b + ip[i].from, ip[i].to - ip[i].from) != 0)
            return 0;
    if (memcmp(a + 20, b + 20, v->ihl - 20) != 0) /* IP options */
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
        c->next_id = (uint16_t)(v.id + 1);
        c->next_seq = v.seq + (uint32_t)v.payload;
        c->last = (v.flags & TCP_PSH) != 0;
        return 1;
    }
    if (c->last || v.ihl + v.thl != c->hdr_len || v.payload > c->seg_size ||
        c->len + v.payload > sizeof c->pkt || v.seq != c->next_seq || v.id != c->next_id ||
        !same_headers(c->pkt, pkt, &v))
        return 0;
    memcpy(c->pkt + c->len, pkt + c->hdr_len, v.payload);
    c->len += v.payload;
    c->nseg++;
    c->next_id++;
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
    size_t ihl = (size_t)(ip[0] & 15) * 4;
    put16(ip + 2, (uint16_t)len);
    put16(ip + 10, 0);
    uint16_t ipsum = sf_csum_fold(sf_csum_add(0, ip, ihl));
    memcpy(ip + 10, &ipsum, 2);
    /* The partial checksum a device completes per segment: the pseudo-header sum over the
     * whole TCP length, not complemented (what Linux leaves in a CHECKSUM_PARTIAL packet). */
    uint8_t pseudo[12];
    memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = IPPROTO_TCP;
    put16(pseudo + 10, (uint16_t)(len - ihl));
    uint16_t partial = (uint16_t)~sf_csum_fold(sf_csum_add(0, pseudo, sizeof pseudo));
    memcpy(ip + ihl + 16, &partial, 2);
    *seg_size = c->seg_size;
    return len;
}
