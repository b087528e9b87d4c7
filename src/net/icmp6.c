#include "net/icmp6.h"

#include <string.h>

#include "net/checksum.h"

#define IPV6_HDR        40
#define NEXT_ICMPV6     58
#define IPPROTO_TCP_NUM 6

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* RFC 4443 §2.3: the checksum covers the IPv6 pseudo-header (RFC 8200 §8.1) */
static uint16_t icmp6_sum(const uint8_t *pkt, size_t plen)
{
    uint8_t ph[40];
    memcpy(ph, pkt + 8, 32);
    ph[32] = (uint8_t)(plen >> 24);
    ph[33] = (uint8_t)(plen >> 16);
    ph[34] = (uint8_t)(plen >> 8);
    ph[35] = (uint8_t)plen;
    ph[36] = ph[37] = ph[38] = 0;
    ph[39] = NEXT_ICMPV6;
    return sf_csum_fold(sf_csum_add(sf_csum_add(0, ph, sizeof ph), pkt + IPV6_HDR, plen));
}

enum sf_icmp_kind sf_icmp6_parse(const uint8_t *pkt, size_t len, struct sf_icmp6_tcp *out)
{
    if (len < IPV6_HDR || (pkt[0] >> 4) != 6)
        return SF_ICMP_MALFORMED;
    size_t plen = rd16(pkt + 4);
    if (IPV6_HDR + plen > len || plen < 8)
        return SF_ICMP_MALFORMED;
    if (pkt[6] != NEXT_ICMPV6)
        return SF_ICMP_OTHER; /* extension headers before ICMPv6 are not followed */
    const uint8_t *icmp = pkt + IPV6_HDR;
    if (icmp6_sum(pkt, plen) != 0)
        return SF_ICMP_MALFORMED;
    uint8_t type = icmp[0], code = icmp[1];
    if (type == SF_ICMP6_ECHO_REQUEST)
        return code == 0 ? SF_ICMP_IS_ECHO : SF_ICMP_OTHER;
    if (type != SF_ICMP6_DEST_UNREACH && type != SF_ICMP6_PACKET_TOO_BIG &&
        type != SF_ICMP6_TIME_EXCEEDED)
        return SF_ICMP_OTHER;
    /* the quoted packet: its IPv6 header and the first 8 bytes of TCP */
    const uint8_t *q = icmp + 8;
    size_t qlen = plen - 8;
    if (qlen < IPV6_HDR + 8 || (q[0] >> 4) != 6)
        return SF_ICMP_MALFORMED;
    if (q[6] != IPPROTO_TCP_NUM)
        return SF_ICMP_OTHER;
    memset(out, 0, sizeof *out);
    out->type = type;
    out->code = code;
    if (type == SF_ICMP6_PACKET_TOO_BIG)
        out->mtu = rd32(icmp + 4);
    memcpy(out->saddr, q + 8, 16);
    memcpy(out->daddr, q + 24, 16);
    const uint8_t *th = q + IPV6_HDR;
    out->sport = rd16(th);
    out->dport = rd16(th + 2);
    out->seq = rd32(th + 4);
    return SF_ICMP_TCP_ERROR;
}

size_t sf_icmp6_echo_reply(uint8_t *pkt, size_t len)
{
    struct sf_icmp6_tcp unused;
    if (sf_icmp6_parse(pkt, len, &unused) != SF_ICMP_IS_ECHO)
        return 0;
    /* RFC 4443 §4.2: the reply's source is the address the request went to (ours, as the
     * caller checked: never a multicast one), its data the request's. */
    size_t plen = rd16(pkt + 4);
    uint8_t a[16];
    memcpy(a, pkt + 8, 16);
    memcpy(pkt + 8, pkt + 24, 16);
    memcpy(pkt + 24, a, 16);
    pkt[7] = 64; /* a fresh hop limit */
    uint8_t *icmp = pkt + IPV6_HDR;
    icmp[0] = SF_ICMP6_ECHO_REPLY;
    icmp[2] = icmp[3] = 0;
    uint16_t c = icmp6_sum(pkt, plen);
    memcpy(icmp + 2, &c, 2);
    return IPV6_HDR + plen;
}
