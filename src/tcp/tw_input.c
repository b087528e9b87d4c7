/* TIME-WAIT (RFC 9293 §3.6.1, §3.10.7.4): what an entry does with the segments that reach it.
 *
 * TIME-WAIT exists so that the last ACK can be repeated if the peer's FIN comes again, and so
 * that old duplicates of this connection die out before a new incarnation of the 4-tuple can
 * take them for its own. The entry answers a retransmitted FIN with an ACK and starts its
 * 2MSL again; answers anything out of window with an ACK; lets a new SYN take the tuple over
 * when the SYN is provably newer (RFC 6191); and ignores an RST unless rfc1337 is off. */
#include <errno.h>
#include <string.h>

#include "tcp/internal.h"
#include "tcp/seq.h"
#include "tcp/tw_input.h"

#define TW_WSCALE_SHIFT 4

uint32_t tw_now_ms(const struct sf_engine *e)
{
    return (uint32_t)((e->now - e->epoch) / 1000u);
}

static void tw_send_ack(struct sf_engine *e, const struct sf_tw *w)
{
    struct sf_seg_out o;
    memset(&o, 0, sizeof o);
    o.t = w->t;
    o.seq = w->snd_nxt;
    o.ack = w->rcv_nxt;
    o.flags = TH_ACK;
    o.wnd = w->rcv_wnd;
    o.ip_id = e->ip_id++;
    if (w->flags & TW_TS_OK) {
        o.opt.has = OPT_TS;
        o.opt.tsval = tw_now_ms(e) + w->ts_offset;
        o.opt.tsecr = w->ts_recent;
    }
    segment_out(e, &o, NULL, 0, NULL, 0);
}

void tw_end(struct sf_engine *e, uint32_t idx, int cause)
{
    struct sf_tw *w = tw_get(&e->tw, idx);
    struct sf_tuple t = w->t;
    report_transition(e, w->id, NULL, &t, SF_TIME_WAIT, SF_CLOSED, (enum sf_cause)cause);
    tw_remove(&e->tw, idx);
    port_ref(e, t.lport, -1);
}

int tw_enter(struct sf_conn *c)
{
    struct sf_engine *e = c->e;
    /* tcp_max_tw_buckets: beyond the cap the new entry is refused and the connection closes
     * at once, as Linux's "time wait bucket table overflow"; the entries already there keep
     * protecting their 4-tuples. */
    if (e->tw.count >= e->cfg.max_tw)
        return -ENOSPC;
    uint32_t idx = tw_insert(&e->tw, &c->t, c->time_wait_ms, tw_now_ms(e));
    if (!idx)
        return -ENOMEM;
    struct sf_tw *w = tw_get(&e->tw, idx);
    w->id = c->id;
    w->snd_nxt = c->snd.max;
    w->rcv_nxt = c->rcv.nxt;
    w->ts_recent = c->rcv.ts_recent;
    w->ts_offset = c->ts_offset;
    unsigned shift = (c->flags & F_WS_OK) ? c->rcv.wscale : 0;
    uint32_t win = rcv_window(c) >> shift;
    w->rcv_wnd = (uint16_t)(win > 65535 ? 65535 : win);
    w->flags = (uint8_t)(((c->flags & F_TS_OK) ? TW_TS_OK : 0) |
                         (ccfg(c)->rfc1337 ? TW_RFC1337 : 0) | (shift << TW_WSCALE_SHIFT));
    port_ref(e, c->t.lport, +1);
    e->st.tw_created++;
    return 0;
}

void tw_expire(struct sf_engine *e)
{
    uint32_t now = tw_now_ms(e);
    uint32_t idx;
    while ((idx = tw_first(&e->tw)) != 0 && tw_ms_le(tw_get(&e->tw, idx)->expire_ms, now)) {
        e->st.tw_expired++;
        tw_end(e, idx, SF_CAUSE_TIME_WAIT_TIMEOUT);
    }
}

void tw_input(struct sf_engine *e, uint32_t idx, struct sf_seg *s)
{
    struct sf_tw *w = tw_get(&e->tw, idx);
    int ts = (w->flags & TW_TS_OK) && (s->opt.has & OPT_TS);
    uint32_t wnd = (uint32_t)w->rcv_wnd << (w->flags >> TW_WSCALE_SHIFT);

    /* PAWS (RFC 7323 §5.3) holds in TIME-WAIT too: an old duplicate is answered, not taken. */
    if (ts && !(s->flags & TH_RST) && seq_lt(s->opt.tsval, w->ts_recent)) {
        e->st.paws_drops++;
        tw_send_ack(e, w);
        return;
    }

    if (s->flags & TH_SYN) {
        /* RFC 9293 §3.10.7.4, fourth check: "For the TIME-WAIT state, new connections can be
         * accepted if the Timestamp Option is used and meets expectations (per [RFC 6191]).
         * For all other cases, ... TCP endpoints MUST send a 'challenge ACK'". A new SYN
         * reopens the 4-tuple when it cannot be an old duplicate (its timestamp is newer than
         * the last one seen, or without timestamps its sequence number is beyond the old
         * connection's) and a listener will take it. A SYN-ACK never opens anything. */
        int newer = ts ? seq_gt(s->opt.tsval, w->ts_recent) : seq_gt(s->seq, w->rcv_nxt);
        struct sf_conn *l = table_lookup_listener(e, &s->t.laddr, s->t.lport);
        if (!(s->flags & TH_ACK) && newer && l) {
            /* A listener with full queues would drop the SYN after the entry had gone, and
             * the peer's retransmission would then get an ordinary ISN, possibly inside the
             * old sequence space. Dropped here instead, the entry stays to reopen later. */
            if (!listen_syn_room(l))
                return;
            /* The new incarnation starts well above the old one's sequence space. */
            uint32_t isn = w->snd_nxt + 65535u + 2u;
            e->st.tw_reopened++;
            tw_end(e, idx, SF_CAUSE_TW_REOPEN);
            listen_syn(l, s, isn);
            return;
        }
        if (challenge_ack_allowed(e))
            tw_send_ack(e, w);
        return;
    }

    if (s->flags & TH_RST) {
        /* RFC 1337: an RST must not end TIME-WAIT early ("TIME-WAIT assassination"), or an
         * old duplicate could kill it and let older segments into a new connection. With
         * rfc1337 = 0, an exact RST ends it, as Linux does by default. */
        if (w->flags & TW_RFC1337) {
            e->st.tw_rst_ignored++;
            return;
        }
        if (s->seq == w->rcv_nxt) {
            e->st.tw_killed_rst++;
            e->st.rst_in++;
            tw_end(e, idx, SF_CAUSE_RST);
        } else if (seq_in(s->seq, w->rcv_nxt, w->rcv_nxt + (wnd ? wnd : 1)) &&
                   challenge_ack_allowed(e)) {
            tw_send_ack(e, w); /* RFC 5961 §3.2 challenge ACK */
        }
        return;
    }

    uint32_t len = seg_seqlen(s);
    int ok = len == 0 ? seq_in(s->seq, w->rcv_nxt, w->rcv_nxt + (wnd ? wnd : 1))
                      : wnd && (seq_in(s->seq, w->rcv_nxt, w->rcv_nxt + wnd) ||
                                seq_in(s->seq + len - 1, w->rcv_nxt, w->rcv_nxt + wnd));
    /* RFC 7323 §5.3 R3: an acceptable segment with SEG.TSval >= TS.Recent and SEG.SEQ =<
     * Last.ACK.sent (RCV.NXT here) has its timestamp recorded, so PAWS and the reopen test
     * above compare with what was really seen last. (A retransmitted FIN lies left of the
     * window: R2 rejects it first.) */
    if (ts && ok && seq_ge(s->opt.tsval, w->ts_recent) && seq_le(s->seq, w->rcv_nxt))
        w->ts_recent = s->opt.tsval;

    /* "The only thing that can arrive in this state is a retransmission of the remote FIN.
     * Acknowledge it, and restart the 2 MSL timeout." A retransmission ends at RCV.NXT; a
     * FIN inside the window is acceptable and reaches the eighth check, whose TIME-WAIT rule
     * is the same (after the fifth: without ACK it is dropped). */
    if ((s->flags & TH_FIN) && (s->seq + s->len + 1 == w->rcv_nxt || (ok && (s->flags & TH_ACK)))) {
        e->st.tw_fin_reacked++;
        tw_send_ack(e, w);
        tw_restart(&e->tw, idx, tw_now_ms(e));
        return;
    }

    /* Any other segment: acceptable ones are ignored, others get an ACK of RCV.NXT (first
     * step of §3.10.7.4). */
    if (!ok)
        tw_send_ack(e, w);
}
