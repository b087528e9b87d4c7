/* ICMP errors about our segments (RFC 1122 §4.2.3.9, RFC 1191, RFC 5927).
 *
 * Fragmentation needed: the path cannot carry our segments; the connection sends smaller
 * ones from now on, and resends at once what the router dropped (path MTU discovery; our
 * packets carry DF). Port or protocol unreachable in SYN-SENT: nobody listens; the connect
 * fails with ECONNREFUSED, as on Linux. Everything else is a soft error and changes nothing.
 * An error is believed only if the sequence number it quotes is one we sent and that is not
 * yet acknowledged: otherwise it is stale or forged (RFC 5927 §4.1). */
#include <errno.h>
#include <string.h>

#include "net/icmp.h"
#include "net/icmp6.h"
#include "tcp/internal.h"
#include "tcp/seq.h"

#define MIN_MTU  68   /* RFC 791: every IPv4 path carries 68 bytes */
#define MIN_MTU6 1280 /* RFC 8200 §5: and every IPv6 path 1280 */

static void pmtu_update(struct sf_conn *c, uint32_t mtu)
{
    struct sf_engine *e = c->e;
    int v6 = c->t.laddr.family == SF_AF_INET6;
    /* RFC 8201 §4: a Packet Too Big below the minimum MTU is not believed below it */
    if (v6 && mtu < MIN_MTU6)
        mtu = MIN_MTU6;
    if (mtu < MIN_MTU)
        return;
    if (mtu > 65535)
        mtu = 65535;
    uint32_t mss = mtu - (v6 ? 60u : 40u) - ((c->flags & F_TS_OK) ? 12u : 0u);
    if (mss < 64)
        mss = 64;
    if (mss >= c->snd.mss)
        return; /* only ever smaller: a larger MTU is learned by probing, not by ICMP */
    c->snd.mss = (uint16_t)mss;
    e->st.pmtu_updates++;
    /* The router dropped the segment that was too big: send again from SND.UNA in the new
     * size. Not a congestion signal: the windows stay as they are. */
    c->snd.nxt = c->snd.una;
    tcp_output(c);
}

/* An error about a segment of ours, once the quoted 4-tuple and sequence number are known. */
static void icmp_act(struct sf_engine *e, const struct sf_tuple *t, uint32_t seq, uint32_t mtu,
                     int refused)
{
    struct sf_conn *c = table_lookup(e, t);
    if (!c || !seq_in(seq, c->snd.una, c->snd.max)) {
        e->st.icmp_ignored++;
        return;
    }
    if (mtu) {
        pmtu_update(c, mtu);
    } else if (refused && c->state == SF_SYN_SENT) {
        e->st.attempt_fails++;
        conn_abort(c, ECONNREFUSED, SF_CAUSE_ICMP_UNREACH, 0);
    } else {
        e->st.icmp_ignored++;
    }
}

/* ICMPv6 (RFC 4443): Packet Too Big lowers the MSS (RFC 8201); port unreachable during the
 * connect refuses it, as Linux's icmpv6_err_convert does. */
static int icmp6_input(struct sf_engine *e, const uint8_t *pkt, size_t len)
{
    struct sf_icmp6_tcp m;
    enum sf_icmp_kind k = sf_icmp6_parse(pkt, len, &m);
    if (k == SF_ICMP_MALFORMED)
        return -EINVAL;
    if (k != SF_ICMP_TCP_ERROR)
        return -EPROTONOSUPPORT;
    e->st.icmp_in++;
    struct sf_tuple t;
    memset(&t, 0, sizeof t);
    t.laddr.family = t.raddr.family = SF_AF_INET6;
    memcpy(t.laddr.u.v6, m.saddr, 16);
    memcpy(t.raddr.u.v6, m.daddr, 16);
    t.lport = m.sport;
    t.rport = m.dport;
    int too_big = m.type == SF_ICMP6_PACKET_TOO_BIG;
    icmp_act(e, &t, m.seq, too_big ? (m.mtu ? m.mtu : 1) : 0,
             m.type == SF_ICMP6_DEST_UNREACH && m.code == SF_ICMP6_PORT_UNREACH);
    return 0;
}

int icmp_input(struct sf_engine *e, const uint8_t *pkt, size_t len)
{
    if (len && (pkt[0] >> 4) == 6)
        return icmp6_input(e, pkt, len);
    struct sf_icmp_tcp m;
    enum sf_icmp_kind k = sf_icmp_parse(pkt, len, &m);
    if (k == SF_ICMP_MALFORMED)
        return -EINVAL;
    if (k != SF_ICMP_TCP_ERROR)
        return -EPROTONOSUPPORT; /* echo and the rest: the owner's business */
    e->st.icmp_in++;
    struct sf_tuple t;
    memset(&t, 0, sizeof t);
    t.laddr.family = t.raddr.family = SF_AF_INET;
    memcpy(t.laddr.u.v4, &m.saddr, 4);
    memcpy(t.raddr.u.v4, &m.daddr, 4);
    t.lport = m.sport;
    t.rport = m.dport;
    int frag = m.type == SF_ICMP_DEST_UNREACH && m.code == SF_ICMP_FRAG_NEEDED;
    /* a fragmentation-needed without MTU (pre-RFC 1191 router) is ignored: mtu 0 */
    if (frag && !m.mtu) {
        e->st.icmp_ignored++;
        return 0;
    }
    icmp_act(e, &t, m.seq, frag ? m.mtu : 0,
             m.type == SF_ICMP_DEST_UNREACH &&
                 (m.code == SF_ICMP_PORT_UNREACH || m.code == SF_ICMP_PROT_UNREACH));
    return 0;
}
