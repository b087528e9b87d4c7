#include "wire.h"

#include <stdio.h>
#include <string.h>

#include "net/checksum.h"

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t pseudo_sum(const struct dr_ip4 *ip, size_t tcp_len)
{
    if (ip->v6) { /* RFC 8200 §8.1 */
        uint8_t ph6[40];
        memcpy(ph6, ip->src6, 16);
        memcpy(ph6 + 16, ip->dst6, 16);
        put32(ph6 + 32, (uint32_t)tcp_len);
        ph6[36] = ph6[37] = ph6[38] = 0;
        ph6[39] = 6;
        return sf_csum_add(0, ph6, sizeof ph6);
    }
    uint8_t ph[12];
    memcpy(ph, ip->src, 4);
    memcpy(ph + 4, ip->dst, 4);
    ph[8] = 0;
    ph[9] = 6;
    put16(ph + 10, (uint32_t)tcp_len);
    return sf_csum_add(0, ph, sizeof ph);
}

/* Options in script order, padded with EOL (zero) bytes to a multiple of four. Returns the
 * length, or -1 past 40 bytes. */
static int encode_options(uint8_t *o, const struct dr_packet *p)
{
    size_t n = 0;
    uint8_t tmp[64];
    for (size_t i = 0; i < p->nopts; i++) {
        const struct dr_tcp_opt *x = &p->opts[i];
        uint8_t *q = tmp + n;
        size_t need = 0;
        switch (x->kind) {
        case DR_OPT_EOL: need = 1, q[0] = 0; break;
        case DR_OPT_NOP: need = 1, q[0] = 1; break;
        case DR_OPT_MSS:
            need = 4, q[0] = 2, q[1] = 4;
            put16(q + 2, x->a);
            break;
        case DR_OPT_WSCALE: need = 3, q[0] = 3, q[1] = 3, q[2] = (uint8_t)x->a; break;
        case DR_OPT_SACKOK: need = 2, q[0] = 4, q[1] = 2; break;
        case DR_OPT_SACK:
            need = 2 + 8u * x->nsack;
            q[0] = 5;
            q[1] = (uint8_t)need;
            for (unsigned k = 0; k < x->nsack; k++) {
                put32(q + 2 + 8 * k, x->sack[k][0]);
                put32(q + 6 + 8 * k, x->sack[k][1]);
            }
            break;
        case DR_OPT_TS:
            need = 10, q[0] = 8, q[1] = 10;
            put32(q + 2, x->a);
            put32(q + 6, x->b);
            break;
        case DR_OPT_FO:
        case DR_OPT_FOEXP: {
            size_t base = x->kind == DR_OPT_FO ? 2 : 4;
            need = base + x->a;
            q[0] = x->kind == DR_OPT_FO ? 34 : 254;
            q[1] = (uint8_t)need;
            if (base == 4)
                put16(q + 2, 0xF989);
            memcpy(q + base, x->fo, x->a);
            break;
        }
        case DR_OPT_OTHER: return -1;
        }
        n += need;
        if (n > 40)
            return -1;
    }
    while (n % 4)
        tmp[n++] = 0;
    if (n > 40)
        return -1;
    memcpy(o, tmp, n);
    return (int)n;
}

static size_t build_tcp(uint8_t *t, const struct dr_ip4 *ip, const struct dr_packet *p,
                        const uint8_t *opts, int olen, size_t tcp_len);

size_t dr_wire_build(uint8_t *buf, size_t cap, const struct dr_ip4 *ip, uint16_t ip_id,
                     const struct dr_packet *p)
{
    uint8_t opts[64];
    int olen = encode_options(opts, p);
    if (olen < 0)
        return 0;
    size_t tcp_len = 20 + (size_t)olen + p->len;
    size_t iph = ip->v6 ? 40 : 20;
    size_t total = iph + tcp_len;
    if (total > cap || total > DR_MAX_PACKET)
        return 0;
    uint8_t *h = buf;
    memset(h, 0, iph);
    if (ip->v6) {
        put32(h, 6u << 28 | (uint32_t)ip->tos << 20 | (ip->flowlabel & 0xfffff));
        put16(h + 4, (uint32_t)tcp_len);
        h[6] = 6;
        h[7] = ip->ttl ? ip->ttl : 64;
        memcpy(h + 8, ip->src6, 16);
        memcpy(h + 24, ip->dst6, 16);
        return build_tcp(buf + iph, ip, p, opts, olen, tcp_len) + iph;
    }
    h[0] = 0x45;
    h[1] = ip->tos;
    put16(h + 2, (uint32_t)total);
    put16(h + 4, ip_id);
    h[6] = 0x40; /* DF */
    h[8] = ip->ttl ? ip->ttl : 64;
    h[9] = 6;
    memcpy(h + 12, ip->src, 4);
    memcpy(h + 16, ip->dst, 4);
    uint16_t c = sf_csum_fold(sf_csum_add(0, h, 20));
    memcpy(h + 10, &c, 2);
    return build_tcp(buf + iph, ip, p, opts, olen, tcp_len) + iph;
}

static size_t build_tcp(uint8_t *t, const struct dr_ip4 *ip, const struct dr_packet *p,
                        const uint8_t *opts, int olen, size_t tcp_len)
{
    memset(t, 0, 20);
    put16(t, p->sport);
    put16(t + 2, p->dport);
    put32(t + 4, p->seq);
    put32(t + 8, p->has_ack ? p->ack : 0);
    t[12] = (uint8_t)((20 + olen) / 4 << 4);
    t[13] = p->flags;
    put16(t + 14, p->win);
    put16(t + 18, p->has_urg ? p->urg : 0);
    memcpy(t + 20, opts, (size_t)olen);
    uint8_t *data = t + 20 + olen;
    for (uint32_t i = 0; i < p->len; i++)
        data[i] = (uint8_t)('a' + (p->seq + i) % 26);
    uint16_t c = sf_csum_fold(sf_csum_add(pseudo_sum(ip, tcp_len), t, tcp_len));
    memcpy(t + 16, &c, 2);
    return tcp_len;
}

static int decode_options(const uint8_t *o, size_t n, struct dr_packet *p, char *err, size_t errlen)
{
    p->opts_mode = n ? DR_OPTS_LIST : DR_OPTS_NONE;
    p->nopts = 0;
    for (size_t i = 0; i < n;) {
        struct dr_tcp_opt *x = &p->opts[p->nopts];
        memset(x, 0, sizeof *x);
        uint8_t kind = o[i];
        if (kind == 0 || kind == 1) {
            x->kind = kind ? DR_OPT_NOP : DR_OPT_EOL;
            p->nopts++;
            i++;
            if (kind == 0) {
                /* what follows an EOL is padding; packetdrill prints each byte */
                while (i < n && p->nopts < DR_MAX_OPTS) {
                    p->opts[p->nopts++].kind = DR_OPT_EOL;
                    i++;
                }
            }
            continue;
        }
        if (i + 1 >= n || o[i + 1] < 2 || i + o[i + 1] > n) {
            snprintf(err, errlen, "malformed TCP option (kind %u) at option byte %zu", kind, i);
            return -1;
        }
        uint8_t len = o[i + 1];
        const uint8_t *v = o + i + 2;
        if (kind == 2 && len == 4) {
            x->kind = DR_OPT_MSS, x->a = get16(v);
        } else if (kind == 3 && len == 3) {
            x->kind = DR_OPT_WSCALE, x->a = v[0];
        } else if (kind == 4 && len == 2) {
            x->kind = DR_OPT_SACKOK;
        } else if (kind == 5 && len >= 10 && (len - 2) % 8 == 0 && (len - 2) / 8 <= DR_MAX_SACK) {
            x->kind = DR_OPT_SACK;
            x->nsack = (uint8_t)((len - 2) / 8);
            for (unsigned k = 0; k < x->nsack; k++) {
                x->sack[k][0] = get32(v + 8 * k);
                x->sack[k][1] = get32(v + 8 * k + 4);
            }
        } else if (kind == 8 && len == 10) {
            x->kind = DR_OPT_TS, x->a = get32(v), x->b = get32(v + 4);
        } else if (kind == 34 && len - 2 <= 16) {
            x->kind = DR_OPT_FO, x->a = len - 2u;
            memcpy(x->fo, v, x->a);
        } else if (kind == 254 && len >= 4 && len - 4 <= 16 && get16(v) == 0xF989) {
            x->kind = DR_OPT_FOEXP, x->a = len - 4u;
            memcpy(x->fo, v + 2, x->a);
        } else {
            x->kind = DR_OPT_OTHER, x->a = kind, x->b = len;
        }
        p->nopts++;
        i += len;
    }
    return 0;
}

static int parse_tcp(const uint8_t *t, size_t tcp_len, const struct dr_ip4 *ip, struct dr_packet *p,
                     char *err, size_t errlen);

int dr_wire_parse(const uint8_t *pkt, size_t len, struct dr_ip4 *ip, struct dr_packet *p, char *err,
                  size_t errlen)
{
    memset(p, 0, sizeof *p);
    memset(ip, 0, sizeof *ip);
    if (len >= 40 && (pkt[0] >> 4) == 6) {
        size_t plen = get16(pkt + 4);
        if (40 + plen > len) {
            snprintf(err, errlen, "truncated IPv6 packet");
            return -1;
        }
        if (pkt[6] != 6) {
            snprintf(err, errlen, "not TCP (IPv6 next header %u%s)", pkt[6],
                     pkt[6] == 58 ? ", ICMPv6" : "");
            return -1;
        }
        ip->v6 = 1;
        p->tos_check = DR_TOS_BYTE;
        p->tos = (uint8_t)(get16(pkt) >> 4);
        p->flowlabel = get32(pkt) & 0xfffff;
        p->ttl = pkt[7];
        memcpy(ip->src6, pkt + 8, 16);
        memcpy(ip->dst6, pkt + 24, 16);
        return parse_tcp(pkt + 40, plen, ip, p, err, errlen);
    }
    if (len < 20 || (pkt[0] >> 4) != 4) {
        snprintf(err, errlen, "not an IPv4 packet");
        return -1;
    }
    ip->v6 = 0;
    size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;
    size_t total = get16(pkt + 2);
    if (ihl < 20 || total < ihl || total > len) {
        snprintf(err, errlen, "malformed IPv4 header (ihl %zu, total length %zu, %zu bytes)", ihl,
                 total, len);
        return -1;
    }
    if (sf_csum_fold(sf_csum_add(0, pkt, ihl)) != 0) {
        snprintf(err, errlen, "bad IPv4 header checksum");
        return -1;
    }
    if (pkt[9] != 6) {
        snprintf(err, errlen, "not TCP (IP protocol %u%s)", pkt[9], pkt[9] == 1 ? ", ICMP" : "");
        return -1;
    }
    p->tos_check = DR_TOS_BYTE;
    p->tos = pkt[1];
    p->ttl = pkt[8];
    memcpy(ip->src, pkt + 12, 4);
    memcpy(ip->dst, pkt + 16, 4);
    return parse_tcp(pkt + ihl, total - ihl, ip, p, err, errlen);
}

static int parse_tcp(const uint8_t *t, size_t tcp_len, const struct dr_ip4 *ip, struct dr_packet *p,
                     char *err, size_t errlen)
{
    if (tcp_len < 20) {
        snprintf(err, errlen, "truncated TCP header");
        return -1;
    }
    size_t doff = (size_t)(t[12] >> 4) * 4;
    if (doff < 20 || doff > tcp_len) {
        snprintf(err, errlen, "bad TCP data offset %zu", doff);
        return -1;
    }
    if (sf_csum_fold(sf_csum_add(pseudo_sum(ip, tcp_len), t, tcp_len)) != 0) {
        snprintf(err, errlen, "bad TCP checksum");
        return -1;
    }
    p->dir = '>';
    p->sport = get16(t);
    p->dport = get16(t + 2);
    p->seq = get32(t + 4);
    p->flags = t[13];
    p->has_ack = (p->flags & DR_ACK) != 0;
    p->ack = get32(t + 8);
    p->has_win = 1;
    p->win = get16(t + 14);
    p->urg = get16(t + 18);
    p->has_urg = (p->flags & DR_URG) != 0;
    p->len = (uint32_t)(tcp_len - doff);
    return decode_options(t + 20, doff - 20, p, err, errlen);
}
