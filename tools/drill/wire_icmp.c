/* ICMP and ICMPv6 errors about a TCP segment, as packetdrill sends them: the quoted IP header
 * and the first 8 bytes of the TCP header (ports and sequence number), which is what an
 * endpoint needs to find the connection (RFC 792, RFC 4443 §2.4 "as much of the invoking
 * packet as possible" is allowed, packetdrill quotes the minimum). */
#include "wire.h"

#include <stdio.h>
#include <string.h>

#include "net/checksum.h"

#define ECHOED_TCP 8 /* bytes of the quoted TCP header */

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v);
}

/* The quoted packet: an IP header from ip's destination to its source, then 8 bytes of TCP.
 * Its total length says what the quoted segment was (headers and payload). */
static size_t quote(uint8_t *q, const struct dr_ip4 *ip, uint16_t ip_id, const struct dr_packet *s)
{
    size_t tcp_total = 20 + s->len;
    if (ip->v6) {
        put32(q, 6u << 28);
        put16(q + 4, (uint32_t)tcp_total);
        q[6] = 6;
        q[7] = 64;
        memcpy(q + 8, ip->dst6, 16);
        memcpy(q + 24, ip->src6, 16);
        q += 40;
    } else {
        memset(q, 0, 20);
        q[0] = 0x45;
        put16(q + 2, (uint32_t)(20 + tcp_total));
        put16(q + 4, ip_id);
        q[6] = 0x40;
        q[8] = 64;
        q[9] = 6;
        memcpy(q + 12, ip->dst, 4);
        memcpy(q + 16, ip->src, 4);
        uint16_t c = sf_csum_fold(sf_csum_add(0, q, 20));
        memcpy(q + 10, &c, 2);
        q += 20;
    }
    put16(q, s->sport);
    put16(q + 2, s->dport);
    put32(q + 4, s->seq);
    return (ip->v6 ? 40u : 20u) + ECHOED_TCP;
}

size_t dr_wire_build_icmp(uint8_t *buf, size_t cap, const struct dr_ip4 *ip, uint16_t ip_id,
                          int type, int code, uint32_t mtu, const struct dr_packet *quoted)
{
    size_t iph = ip->v6 ? 40 : 20;
    size_t icmp_len = 8 + iph + ECHOED_TCP;
    if (iph + icmp_len > cap)
        return 0;
    uint8_t *h = buf, *m = buf + iph;
    memset(buf, 0, iph + icmp_len);
    m[0] = (uint8_t)type;
    m[1] = (uint8_t)code;
    if (ip->v6)
        put32(m + 4, mtu); /* Packet Too Big: the MTU; other types: unused, zero */
    else if (mtu)
        put16(m + 6, mtu); /* RFC 1191: next-hop MTU */
    quote(m + 8, ip, ip_id, quoted);
    if (ip->v6) {
        put32(h, 6u << 28 | (uint32_t)ip->tos << 20 | (ip->flowlabel & 0xfffff));
        put16(h + 4, (uint32_t)icmp_len);
        h[6] = 58;
        h[7] = ip->ttl ? ip->ttl : 64;
        memcpy(h + 8, ip->src6, 16);
        memcpy(h + 24, ip->dst6, 16);
        uint8_t ph[40]; /* RFC 4443 §2.3: the checksum covers an IPv6 pseudo-header */
        memcpy(ph, ip->src6, 16);
        memcpy(ph + 16, ip->dst6, 16);
        put32(ph + 32, (uint32_t)icmp_len);
        ph[36] = ph[37] = ph[38] = 0;
        ph[39] = 58;
        uint16_t c = sf_csum_fold(sf_csum_add(sf_csum_add(0, ph, sizeof ph), m, icmp_len));
        memcpy(m + 2, &c, 2);
        return iph + icmp_len;
    }
    h[0] = 0x45;
    h[1] = ip->tos;
    put16(h + 2, (uint32_t)(iph + icmp_len));
    put16(h + 4, ip_id);
    h[8] = ip->ttl ? ip->ttl : 64;
    h[9] = 1;
    memcpy(h + 12, ip->src, 4);
    memcpy(h + 16, ip->dst, 4);
    uint16_t c = sf_csum_fold(sf_csum_add(0, h, 20));
    memcpy(h + 10, &c, 2);
    c = sf_csum_fold(sf_csum_add(0, m, icmp_len));
    memcpy(m + 2, &c, 2);
    return iph + icmp_len;
}

/* packetdrill's names of ICMP types and codes (the IANA registries' numbers). */
struct code_name {
    int code;
    const char *name;
};

static const struct code_name v4_unreach[] = {
    {0, "net_unreachable"},
    {1, "host_unreachable"},
    {2, "protocol_unreachable"},
    {3, "port_unreachable"},
    {4, "frag_needed"},
    {5, "source_route_failed"},
    {6, "net_unknown"},
    {7, "host_unknown"},
    {8, "source_host_isolated"},
    {9, "net_prohibited"},
    {10, "host_prohibited"},
    {11, "net_unreachable_for_tos"},
    {12, "host_unreachable_for_tos"},
    {13, "packet_filtered"},
    {14, "precedence_violation"},
    {15, "precedence_cutoff"},
    {-1, NULL},
};
static const struct code_name v6_unreach[] = {
    {0, "net_unreachable"},
    {0, "no_route"},
    {1, "admin_prohibited"},
    {2, "not_neighbour"},
    {3, "address_unreachable"},
    {4, "port_unreachable"},
    {-1, NULL},
};
static const struct code_name v6_time[] = {
    {0, "exceeded_hop_limit"},
    {1, "exceeded_frag_time"},
    {-1, NULL},
};
static const struct code_name v6_param[] = {
    {0, "header_field"},
    {1, "unknown_next_header"},
    {2, "unknown_option"},
    {-1, NULL},
};

struct type_name {
    int type;
    const char *name;
    const struct code_name *codes;
};

static const struct type_name v4_types[] = {
    {0, "echo_reply", NULL},          {3, "unreachable", v4_unreach},
    {4, "source_quench", NULL},       {5, "redirect", NULL},
    {8, "echo_request", NULL},        {11, "time_exceeded", NULL},
    {12, "parameter_problem", NULL},  {13, "timestamp_request", NULL},
    {14, "timestamp_reply", NULL},    {15, "information_request", NULL},
    {16, "information_reply", NULL},  {17, "address_mask_request", NULL},
    {18, "address_mask_reply", NULL}, {-1, NULL, NULL},
};
static const struct type_name v6_types[] = {
    {1, "unreachable", v6_unreach},
    {2, "packet_too_big", NULL},
    {3, "time_exceeded", v6_time},
    {4, "parameter_problem", v6_param},
    {128, "echo_request", NULL},
    {129, "echo_reply", NULL},
    {-1, NULL, NULL},
};

int dr_icmp_lookup(int v6, const char *type, const char *code, int *t, int *c)
{
    const struct code_name *codes = NULL;
    char tail;
    *t = *c = -1;
    if (sscanf(type, "type_%d%c", t, &tail) != 1) {
        *t = -1;
        for (const struct type_name *n = v6 ? v6_types : v4_types; n->name; n++)
            if (!strcmp(n->name, type)) {
                *t = n->type;
                codes = n->codes;
            }
    }
    if (*t < 0 || *t > 255)
        return -1;
    if (!code) {
        *c = 0;
        return 0;
    }
    if (sscanf(code, "code_%d%c", c, &tail) == 1)
        return *c >= 0 && *c <= 255 ? 0 : -2;
    for (; codes && codes->name; codes++)
        if (!strcmp(codes->name, code)) {
            *c = codes->code;
            return 0;
        }
    return -2;
}
