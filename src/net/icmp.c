#include "net/icmp.h"

#include <string.h>

#include "net/checksum.h"

#define IPPROTO_ICMP_NUM 1
#define IPPROTO_TCP_NUM  6

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* The IPv4 header at p: its length, or 0 if it is not a well-formed IPv4 header of at most
 * len bytes. */
static size_t ipv4_hdr_len(const uint8_t *p, size_t len)
{
    if (len < 20 || (p[0] >> 4) != 4)
        return 0;
    size_t ihl = (size_t)(p[0] & 0x0f) * 4;
    return ihl >= 20 && ihl <= len ? ihl : 0;
}

enum sf_icmp_kind sf_icmp_parse(const uint8_t *pkt, size_t len, struct sf_icmp_tcp *out)
{
    size_t ihl = ipv4_hdr_len(pkt, len);
    if (!ihl)
        return SF_ICMP_MALFORMED;
    if (pkt[9] != IPPROTO_ICMP_NUM)
        return SF_ICMP_OTHER;

    size_t total = rd16(pkt + 2);
    if (total < ihl + 8 || total > len)
        return SF_ICMP_MALFORMED;
    if (sf_csum_fold(sf_csum_add(0, pkt, ihl)) != 0)
        return SF_ICMP_MALFORMED;
    const uint8_t *icmp = pkt + ihl;
    size_t ilen = total - ihl;
    if (sf_csum_fold(sf_csum_add(0, icmp, ilen)) != 0)
        return SF_ICMP_MALFORMED;
    uint8_t type = icmp[0], code = icmp[1];
    if (type == SF_ICMP_ECHO)
        return SF_ICMP_IS_ECHO;
    if (type != SF_ICMP_DEST_UNREACH && type != SF_ICMP_TIME_EXCEEDED)
        return SF_ICMP_OTHER;
    /* The quoted datagram: its IP header and at least 8 bytes of TCP. */
    const uint8_t *q = icmp + 8;
    size_t qlen = ilen - 8;
    size_t qihl = ipv4_hdr_len(q, qlen);
    if (!qihl || qlen < qihl + 8)
        return SF_ICMP_MALFORMED;
    if (q[9] != IPPROTO_TCP_NUM)
        return SF_ICMP_OTHER;
    memset(out, 0, sizeof *out);
    out->type = type;
    out->code = code;
    if (type == SF_ICMP_DEST_UNREACH && code == SF_ICMP_FRAG_NEEDED)
        out->mtu = rd16(icmp + 6);
    memcpy(&out->saddr, q + 12, 4);
    memcpy(&out->daddr, q + 16, 4);
    const uint8_t *th = q + qihl;
    out->sport = rd16(th);
    out->dport = rd16(th + 2);
    out->seq = (uint32_t)th[4] << 24 | (uint32_t)th[5] << 16 | (uint32_t)th[6] << 8 | th[7];
    return SF_ICMP_TCP_ERROR;
}

size_t sf_icmp_echo_reply(uint8_t *pkt, size_t len)
{
    struct sf_icmp_tcp unused;
    if (sf_icmp_parse(pkt, len, &unused) != SF_ICMP_IS_ECHO)
        return 0;
    size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;
    size_t total = rd16(pkt + 2);
    uint8_t a[4];
    memcpy(a, pkt + 12, 4);
    memcpy(pkt + 12, pkt + 16, 4);
    memcpy(pkt + 16, a, 4);
    pkt[8] = 64; /* a fresh TTL */
    pkt[10] = pkt[11] = 0;
    uint16_t c = sf_csum_fold(sf_csum_add(0, pkt, ihl));
    memcpy(pkt + 10, &c, 2);
    uint8_t *icmp = pkt + ihl;
    icmp[0] = SF_ICMP_ECHO_REPLY;
    icmp[2] = icmp[3] = 0;
    c = sf_csum_fold(sf_csum_add(0, icmp, total - ihl));
    memcpy(icmp + 2, &c, 2);
    return total;
}
