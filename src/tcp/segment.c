#include "tcp/segment.h"

#include <string.h>

#include "net/checksum.h"

#define IPV4_HDR        20
#define IPV6_HDR        40
#define TCP_HDR         20
#define IPPROTO_TCP_NUM 6

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The TCP pseudo-header sum: for IPv4 (RFC 9293 §3.1) addresses, zero, protocol, TCP length;
 * for IPv6 (RFC 8200 §8.1) addresses, 32-bit upper-layer length, zeros, next header. */
static uint32_t pseudo_sum(const struct sf_addr *src, const struct sf_addr *dst, uint32_t tcp_len)
{
    uint8_t ph[40];
    if (src->family == SF_AF_INET6) {
        memcpy(ph, src->u.v6, 16);
        memcpy(ph + 16, dst->u.v6, 16);
        wr32(ph + 32, tcp_len);
        ph[36] = ph[37] = ph[38] = 0;
        ph[39] = IPPROTO_TCP_NUM;
        return sf_csum_add(0, ph, 40);
    }
    memcpy(ph, src->u.v4, 4);
    memcpy(ph + 4, dst->u.v4, 4);
    ph[8] = 0;
    ph[9] = IPPROTO_TCP_NUM;
    wr16(ph + 10, (uint16_t)tcp_len);
    return sf_csum_add(0, ph, 12);
}

static void parse_options(const uint8_t *p, size_t len, int syn, struct sf_tcp_opts *o)
{
    memset(o, 0, sizeof *o);
    size_t i = 0;
    while (i < len) {
        uint8_t kind = p[i];
        if (kind == 0) /* EOL */
            return;
        if (kind == 1) { /* NOP */
            i++;
            continue;
        }
        if (i + 1 >= len)
            return;
        uint8_t olen = p[i + 1];
        if (olen < 2 || i + olen > len)
            return; /* malformed: stop parsing, keep what we have */
        const uint8_t *v = p + i + 2;
        switch (kind) {
        case 2:
            if (olen == 4 && syn) {
                o->has |= OPT_MSS;
                o->mss = rd16(v);
            }
            break;
        case 3:
            if (olen == 3 && syn) {
                o->has |= OPT_WSCALE;
                /* RFC 7323 §2.3: a shift above 14 is used as 14. */
                o->wscale = v[0] > 14 ? 14 : v[0];
            }
            break;
        case 4:
            if (olen == 2 && syn)
                o->has |= OPT_SACK_OK;
            break;
        case 5:
            if (olen >= 10 && (olen - 2) % 8 == 0) {
                o->has |= OPT_SACK;
                o->nsack = 0;
                for (size_t b = 0; b < (size_t)(olen - 2) / 8 && b < SF_MAX_SACK_BLOCKS; b++) {
                    o->sack[b].start = rd32(v + 8 * b);
                    o->sack[b].end = rd32(v + 8 * b + 4);
                    o->nsack++;
                }
            }
            break;
        case 8:
            if (olen == 10) {
                o->has |= OPT_TS;
                o->tsval = rd32(v);
                o->tsecr = rd32(v + 4);
            }
            break;
        case 34:  /* RFC 7413 §4.1.1 */
        case 254: /* the experimental form before kind 34 (RFC 6994 ExID 0xF989), as Linux */
            if (syn) {
                size_t base = kind == 34 ? 2 : 4;
                if (kind == 254 && (olen < 4 || rd16(v) != 0xF989))
                    break;
                size_t clen = olen - base;
                /* a cookie of another length is no cookie: treated as invalid, not a request */
                if (clen > SF_FO_COOKIE_MAX || (clen && (clen < 4 || clen % 2)))
                    clen = SF_FO_COOKIE_MAX + 1;
                o->has |= OPT_FO;
                o->fo_exp = kind == 254;
                o->fo_len = (uint8_t)(clen > SF_FO_COOKIE_MAX ? 0xff : clen);
                if (clen <= SF_FO_COOKIE_MAX)
                    memcpy(o->fo_cookie, p + i + base, clen);
            }
            break;
        default: break; /* unknown options are skipped by their length */
        }
        i += olen;
    }
}

/* IPv6 (RFC 8200): a fixed 40-byte header; TCP must be the next header (a packet with
 * extension headers is not taken, as a fragment would not be either). */
static enum sf_parse_err parse_v6(const uint8_t *pkt, size_t len, struct sf_seg *s,
                                  const uint8_t **th, size_t *tlen)
{
    if (len < IPV6_HDR)
        return SEG_MALFORMED;
    size_t plen = rd16(pkt + 4);
    if (IPV6_HDR + plen > len)
        return SEG_MALFORMED;
    if (pkt[6] == 44) /* Fragment header */
        return SEG_FRAGMENT;
    if (pkt[6] != IPPROTO_TCP_NUM)
        return SEG_NOT_TCP;
    memset(&s->t, 0, sizeof s->t);
    s->t.raddr.family = s->t.laddr.family = SF_AF_INET6;
    memcpy(s->t.raddr.u.v6, pkt + 8, 16);
    memcpy(s->t.laddr.u.v6, pkt + 24, 16);
    s->ttl = pkt[7];
    *th = pkt + IPV6_HDR;
    *tlen = plen;
    return SEG_OK;
}

static enum sf_parse_err parse_tcp(const uint8_t *th, size_t tlen, struct sf_seg *s,
                                   unsigned flags);

enum sf_parse_err sf_seg_parse(const uint8_t *pkt, size_t len, struct sf_seg *s)
{
    return sf_seg_parse_flags(pkt, len, s, 0);
}

enum sf_parse_err sf_seg_parse_flags(const uint8_t *pkt, size_t len, struct sf_seg *s,
                                     unsigned flags)
{
    if (len >= 1 && (pkt[0] >> 4) == 6) {
        const uint8_t *th;
        size_t tlen;
        enum sf_parse_err rc = parse_v6(pkt, len, s, &th, &tlen);
        return rc != SEG_OK ? rc : parse_tcp(th, tlen, s, flags);
    }
    if (len < 1 || (pkt[0] >> 4) != 4)
        return len < 1 ? SEG_MALFORMED : SEG_NOT_TCP;
    if (len < IPV4_HDR)
        return SEG_MALFORMED;
    size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;
    size_t total = rd16(pkt + 2);
    if (ihl < IPV4_HDR || total < ihl || total > len)
        return SEG_MALFORMED;
    if (sf_csum_fold(sf_csum_add(0, pkt, ihl)) != 0)
        return SEG_BAD_CSUM;
    if (pkt[9] != IPPROTO_TCP_NUM)
        return SEG_NOT_TCP;
    uint16_t frag = rd16(pkt + 6);
    if (frag & 0x3fff) /* MF set or a fragment offset */
        return SEG_FRAGMENT;

    memset(&s->t, 0, sizeof s->t);
    s->t.raddr.family = s->t.laddr.family = SF_AF_INET;
    memcpy(s->t.raddr.u.v4, pkt + 12, 4);
    memcpy(s->t.laddr.u.v4, pkt + 16, 4);
    s->ttl = pkt[8];
    return parse_tcp(pkt + ihl, total - ihl, s, flags);
}

/* The TCP header and payload, once the IP header has given the addresses (s->t). The
 * checksum is a pass over every byte: skipped when the caller vouches for it. */
static enum sf_parse_err parse_tcp(const uint8_t *th, size_t tlen, struct sf_seg *s, unsigned flags)
{
    if (tlen < TCP_HDR)
        return SEG_MALFORMED;
    size_t doff = (size_t)(th[12] >> 4) * 4;
    if (doff < TCP_HDR || doff > tlen)
        return SEG_MALFORMED;
    if (!(flags & SF_IN_CSUM_VALID) &&
        sf_csum_fold(sf_csum_add(pseudo_sum(&s->t.raddr, &s->t.laddr, (uint32_t)tlen), th, tlen)) !=
            0)
        return SEG_BAD_CSUM;

    s->t.rport = rd16(th);
    s->t.lport = rd16(th + 2);
    s->seq = rd32(th + 4);
    s->ack = rd32(th + 8);
    s->flags = th[13];
    s->wnd = rd16(th + 14);
    s->urp = rd16(th + 18);
    s->data = th + doff;
    s->len = (uint32_t)(tlen - doff);
    if (s->t.rport == 0 || s->t.lport == 0)
        return SEG_MALFORMED;
    /* SYN with RST has no meaning in any state; stacks drop it (and scanners use it). SYN with
     * FIN is left to input_segment(): a closed port answers it with RST. */
    if ((s->flags & TH_SYN) && (s->flags & TH_RST))
        return SEG_MALFORMED;
    parse_options(th + TCP_HDR, doff - TCP_HDR, !!(s->flags & TH_SYN), &s->opt);
    return SEG_OK;
}

size_t sf_opts_len(const struct sf_tcp_opts *o, int syn)
{
    size_t n = 0;
    if (syn) {
        if (o->has & OPT_MSS)
            n += 4;
        if (o->has & OPT_TS)
            n += 12; /* sackOK,TS or nop,nop,TS */
        else if (o->has & OPT_SACK_OK)
            n += 4; /* nop,nop,sackOK */
        if (o->has & OPT_WSCALE)
            n += 4; /* nop,wscale */
        if (o->has & OPT_FO)
            n += ((o->fo_exp ? 4u : 2u) + o->fo_len + 3u) & ~3u; /* padded with nops */
        return n;
    }
    if (o->has & OPT_TS)
        n += 12;
    if ((o->has & OPT_SACK) && o->nsack)
        n += 4 + 8 * (size_t)o->nsack; /* nop,nop,sack */
    return n;
}

static uint8_t *put_ts(uint8_t *p, const struct sf_tcp_opts *o)
{
    p[0] = 8;
    p[1] = 10;
    wr32(p + 2, o->tsval);
    wr32(p + 6, o->tsecr);
    return p + 10;
}

/* Options in the order Linux sends them, so captures look familiar:
 * SYN: mss, sackOK, TS, nop, wscale; others: nop, nop, TS, then nop, nop, SACK. */
static size_t write_options(uint8_t *p, const struct sf_tcp_opts *o, int syn)
{
    uint8_t *start = p;
    if (syn) {
        if (o->has & OPT_MSS) {
            p[0] = 2;
            p[1] = 4;
            wr16(p + 2, o->mss);
            p += 4;
        }
        if (o->has & OPT_TS) {
            if (o->has & OPT_SACK_OK) {
                p[0] = 4;
                p[1] = 2;
            } else {
                p[0] = 1;
                p[1] = 1;
            }
            p = put_ts(p + 2, o);
        } else if (o->has & OPT_SACK_OK) {
            p[0] = 1;
            p[1] = 1;
            p[2] = 4;
            p[3] = 2;
            p += 4;
        }
        if (o->has & OPT_WSCALE) {
            p[0] = 1;
            p[1] = 3;
            p[2] = 3;
            p[3] = o->wscale;
            p += 4;
        }
        if (o->has & OPT_FO) {
            /* Linux's layout: the option, its cookie, then nop,nop if it ends mid-word */
            size_t len = (o->fo_exp ? 4u : 2u) + o->fo_len;
            p[0] = o->fo_exp ? 254 : 34;
            p[1] = (uint8_t)len;
            if (o->fo_exp)
                wr16(p + 2, 0xF989);
            memcpy(p + len - o->fo_len, o->fo_cookie, o->fo_len);
            for (; len % 4; len++)
                p[len] = 1;
            p += len;
        }
        return (size_t)(p - start);
    }
    if (o->has & OPT_TS) {
        p[0] = 1;
        p[1] = 1;
        p = put_ts(p + 2, o);
    }
    if ((o->has & OPT_SACK) && o->nsack) {
        p[0] = 1;
        p[1] = 1;
        p[2] = 5;
        p[3] = (uint8_t)(2 + 8 * o->nsack);
        p += 4;
        for (unsigned b = 0; b < o->nsack; b++) {
            wr32(p, o->sack[b].start);
            wr32(p + 4, o->sack[b].end);
            p += 8;
        }
    }
    return (size_t)(p - start);
}

static size_t build_tcp(uint8_t *th, size_t tlen, size_t olen, int syn, const struct sf_seg_out *o,
                        const void *d1, size_t l1, const void *d2, size_t l2, int partial);

size_t sf_seg_build(uint8_t *buf, size_t cap, const struct sf_seg_out *o, const void *d1, size_t l1,
                    const void *d2, size_t l2)
{
    return sf_seg_build_csum(buf, cap, o, d1, l1, d2, l2, 0);
}

size_t sf_seg_build_csum(uint8_t *buf, size_t cap, const struct sf_seg_out *o, const void *d1,
                         size_t l1, const void *d2, size_t l2, int partial)
{
    int syn = !!(o->flags & TH_SYN);
    size_t olen = sf_opts_len(&o->opt, syn);
    size_t tlen = TCP_HDR + olen + l1 + l2;
    int v6 = o->t.laddr.family == SF_AF_INET6;
    size_t iph = v6 ? IPV6_HDR : IPV4_HDR;
    size_t total = iph + tlen;
    if (total > cap || tlen > 65535 || (!v6 && total > 65535) || olen > 40)
        return 0;

    uint8_t *ip = buf;
    if (v6) {
        wr32(ip, 6u << 28); /* version, traffic class 0, flow label 0 */
        wr16(ip + 4, (uint16_t)tlen);
        ip[6] = IPPROTO_TCP_NUM;
        ip[7] = 64;
        memcpy(ip + 8, o->t.laddr.u.v6, 16);
        memcpy(ip + 24, o->t.raddr.u.v6, 16);
        return build_tcp(ip + IPV6_HDR, tlen, olen, syn, o, d1, l1, d2, l2, partial) + IPV6_HDR;
    }
    ip[0] = 0x45;
    ip[1] = 0;
    wr16(ip + 2, (uint16_t)total);
    wr16(ip + 4, o->ip_id);
    wr16(ip + 6, 0x4000); /* DF: TCP does its own segmentation (path MTU discovery) */
    ip[8] = 64;
    ip[9] = IPPROTO_TCP_NUM;
    ip[10] = ip[11] = 0;
    memcpy(ip + 12, o->t.laddr.u.v4, 4);
    memcpy(ip + 16, o->t.raddr.u.v4, 4);
    uint16_t ipc = sf_csum_fold(sf_csum_add(0, ip, IPV4_HDR));
    memcpy(ip + 10, &ipc, 2);
    return build_tcp(ip + IPV4_HDR, tlen, olen, syn, o, d1, l1, d2, l2, partial) + IPV4_HDR;
}

static size_t build_tcp(uint8_t *th, size_t tlen, size_t olen, int syn, const struct sf_seg_out *o,
                        const void *d1, size_t l1, const void *d2, size_t l2, int partial)
{
    wr16(th, o->t.lport);
    wr16(th + 2, o->t.rport);
    wr32(th + 4, o->seq);
    wr32(th + 8, o->ack);
    th[12] = (uint8_t)(((TCP_HDR + olen) / 4) << 4);
    th[13] = o->flags;
    wr16(th + 14, o->wnd);
    th[16] = th[17] = 0;
    th[18] = th[19] = 0;
    write_options(th + TCP_HDR, &o->opt, syn);
    uint8_t *payload = th + TCP_HDR + olen;
    if (l1)
        memcpy(payload, d1, l1);
    if (l2)
        memcpy(payload + l1, d2, l2);
    uint32_t sum = pseudo_sum(&o->t.laddr, &o->t.raddr, (uint32_t)tlen);
    /* Partial: the device sums from the TCP header on, this field included, and writes the
     * complement (virtio 1.x, 5.1.6.2). */
    uint16_t tc = partial ? (uint16_t)~sf_csum_fold(sum) : sf_csum_fold(sf_csum_add(sum, th, tlen));
    memcpy(th + 16, &tc, 2);
    return tlen;
}
