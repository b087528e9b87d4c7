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
#include "tcp/internal.h"
#include "tcp/seq.h"

#define MIN_MTU 68 /* RFC 791: every IPv4 path carries 68 bytes */

static void pmtu_update(struct sf_conn *c, uint16_t mtu)
{
    struct sf_engine *e = c->e;
    if (mtu < MIN_MTU)
        return;
    uint32_t mss = (uint32_t)mtu - 40u - ((c->flags & F_TS_OK) ? 12u : 0u);
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

int icmp_input(struct sf_engine *e, const uint8_t *pkt, size_t len)
{
    struct sf_icmp_tcp m;
    enum sf_icmp_kind k = sf_icmp_parse(pkt, len, &m);
    if (k == SF_ICMP_MALFORMED)
        return -EINVAL;
    if (k != SF_ICMP_TCP_ERROR)
        return -EPROTONOSUPPORT; /* echo and the rest: the owner's business */
    e->st.icmp_in++;
    /* ICMPv4 only (ICMPv6 packet too big and unreachable are not taken yet) */
    struct sf_tuple t;
    memset(&t, 0, sizeof t);
    t.laddr.family = t.raddr.family = SF_AF_INET;
    memcpy(t.laddr.u.v4, &m.saddr, 4);
    memcpy(t.raddr.u.v4, &m.daddr, 4);
    t.lport = m.sport;
    t.rport = m.dport;
    struct sf_conn *c = table_lookup(e, &t);
    if (!c || !seq_in(m.seq, c->snd.una, c->snd.max)) {
        e->st.icmp_ignored++;
        return 0;
    }
    if (m.type == SF_ICMP_DEST_UNREACH && m.code == SF_ICMP_FRAG_NEEDED) {
        pmtu_update(c, m.mtu);
    } else if (m.type == SF_ICMP_DEST_UNREACH && c->state == SF_SYN_SENT &&
               (m.code == SF_ICMP_PORT_UNREACH || m.code == SF_ICMP_PROT_UNREACH)) {
        e->st.attempt_fails++;
        conn_abort(c, ECONNREFUSED, SF_CAUSE_ICMP_UNREACH, 0);
    } else {
        e->st.icmp_ignored++;
    }
    return 0;
}
