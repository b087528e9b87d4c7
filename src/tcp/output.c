/* What goes on the wire and when: SYN and SYN-ACK, data within the send and congestion
 * windows, Nagle, the FIN, ACKs (immediate or delayed), retransmissions, window and keepalive
 * probes, and RSTs. */
#include <string.h>

#include "tcp/internal.h"
#include "tcp/seq.h"

static uint32_t min32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

uint32_t ts_now(const struct sf_conn *c)
{
    return (uint32_t)((c->e->now - c->e->epoch) / 1000u) + c->ts_offset;
}

uint32_t rcv_window(const struct sf_conn *c)
{
    return seq_gt(c->rcv.adv, c->rcv.nxt) ? c->rcv.adv - c->rcv.nxt : 0;
}

static uint32_t rcv_capacity(const struct sf_conn *c)
{
    return c->rcv.buf ? c->rcv.buf->cap : c->rcvbuf_size;
}

static uint32_t rcv_space(const struct sf_conn *c)
{
    return c->rcv.buf ? rcvbuf_space(c->rcv.buf) : c->rcvbuf_size;
}

/* The right edge we would offer now: receiver silly window avoidance (RFC 9293 §3.8.6.2.2)
 * keeps the edge where it is until it can move by min(buffer/2, MSS); it never moves left. */
static uint32_t rcv_right_edge(const struct sf_conn *c)
{
    uint32_t right = c->rcv.nxt + rcv_space(c);
    uint32_t step = min32(rcv_capacity(c) / 2, c->rcv.mss);
    if (seq_gt(right, c->rcv.adv) && right - c->rcv.adv < step)
        right = c->rcv.adv;
    if (seq_lt(right, c->rcv.adv))
        right = c->rcv.adv;
    return right;
}

uint16_t rcv_window_field(struct sf_conn *c, int syn)
{
    if (syn) {
        /* The window in a SYN is never scaled (RFC 7323 §2.2). */
        uint32_t w = min32(rcv_space(c), 65535);
        c->rcv.adv = c->rcv.nxt + w;
        return (uint16_t)w;
    }
    uint32_t right = rcv_right_edge(c);
    unsigned shift = (c->flags & F_WS_OK) ? c->rcv.wscale : 0;
    uint32_t win = right - c->rcv.nxt;
    uint32_t field = win >> shift;
    if (field > 65535)
        field = 65535;
    else if (seq_lt(c->rcv.nxt + (field << shift), c->rcv.adv))
        field++; /* rounding must not pull the advertised edge back */
    c->rcv.adv = c->rcv.nxt + (field << shift);
    return (uint16_t)field;
}

void window_update_after_read(struct sf_conn *c)
{
    if (c->state != SF_ESTABLISHED && c->state != SF_FIN_WAIT_1 && c->state != SF_FIN_WAIT_2)
        return;
    uint32_t old = rcv_window(c);
    uint32_t now = rcv_right_edge(c) - c->rcv.nxt;
    unsigned shift = (c->flags & F_WS_OK) ? c->rcv.wscale : 0;
    if (now > (65535u << shift))
        now = 65535u << shift; /* what the window field can say */
    /* As Linux: tell the peer when the window at least doubled (this covers a window that
     * was zero), not on every read. */
    if (now > old && now >= 2 * old) {
        c->flags |= F_ACK_NOW;
        tcp_output(c);
    }
}

void segment_out(struct sf_engine *e, const struct sf_seg_out *o, const void *d1, size_t l1,
                 const void *d2, size_t l2)
{
    size_t n = sf_seg_build_csum(e->txbuf, e->txcap, o, d1, l1, d2, l2, e->tx_csum_partial);
    if (n == 0)
        return; /* cannot happen with txcap sized for the MSS; never send a broken packet */
    e->st.segs_out++;
    if (o->flags & TH_RST)
        e->st.rst_out++;
    engine_output(e, e->txbuf, n);
}

/* SACK blocks the next segment with ACK carries: up to 3 beside timestamps, 4 without. */
static unsigned sack_blocks(const struct sf_conn *c)
{
    const struct sf_rcvbuf *b = c->rcv.buf;
    if (!(c->flags & F_SACK_OK) || !b || b->nblk == 0)
        return 0;
    unsigned max = (c->flags & F_TS_OK) ? 3 : 4;
    return b->nblk < max ? b->nblk : max;
}

/* Up to 3 SACK blocks with timestamps (4 without), most recent first (RFC 2018 §4): "The
 * first SACK block ... MUST specify the contiguous block of data containing the segment which
 * triggered this ACK", then "the most recently reported SACK blocks (based on first SACK
 * blocks in previous SACK options)". A block's stamp is when it was last a first block, so
 * the blocks in stamp order, newest first, are exactly that list (and never overlap). */
static void fill_sack(const struct sf_conn *c, struct sf_tcp_opts *o)
{
    const struct sf_rcvbuf *b = c->rcv.buf;
    unsigned max = sack_blocks(c);
    if (max == 0)
        return;
    o->has |= OPT_SACK;
    o->nsack = 0;
    uint32_t taken = 0; /* bitmap of blk[] already placed (SF_OOO_MAX <= 32) */
    while (o->nsack < max) {
        unsigned best = b->nblk;
        for (unsigned i = 0; i < b->nblk; i++)
            if (!(taken & (1u << i)) &&
                (best == b->nblk || (int32_t)(b->blk[i].stamp - b->blk[best].stamp) > 0))
                best = i;
        taken |= 1u << best;
        o->sack[o->nsack].start = c->rcv.nxt + b->blk[best].lo;
        o->sack[o->nsack++].end = c->rcv.nxt + b->blk[best].hi;
    }
}

/* Sends one segment of this connection. Every segment with ACK carries RCV.NXT and the
 * current window, so it also serves as the pending ACK. */
static void conn_send(struct sf_conn *c, uint32_t seq, uint8_t flags, const void *d1, uint32_t l1,
                      const void *d2, uint32_t l2)
{
    struct sf_engine *e = c->e;
    struct sf_seg_out o;
    memset(&o, 0, sizeof o);
    o.t = c->t;
    o.seq = seq;
    o.flags = flags;
    o.ip_id = e->ip_id++;
    if (flags & TH_SYN) {
        fill_syn_options(c, &o.opt);
    } else if (c->flags & F_TS_OK) {
        o.opt.has |= OPT_TS;
        o.opt.tsval = ts_now(c);
        o.opt.tsecr = c->rcv.ts_recent;
    }
    if (flags & TH_ACK) {
        o.ack = c->rcv.nxt;
        if (!(flags & (TH_SYN | TH_RST)))
            fill_sack(c, &o.opt);
    }
    o.wnd = (flags & TH_RST) ? 0 : rcv_window_field(c, !!(flags & TH_SYN));
    if (flags & TH_ACK) {
        c->rcv.last_ack = c->rcv.nxt;
        c->flags &= ~(uint32_t)F_ACK_NOW;
        if (c->at[T_DELACK])
            timer_clear(c, T_DELACK);
    }
    c->segs_out++;
    segment_out(e, &o, d1, l1, d2, l2);
}

void fill_syn_options(struct sf_conn *c, struct sf_tcp_opts *o)
{
    const struct sf_tcp_config *cfg = ccfg(c);
    int synack = c->state == SF_SYN_RECEIVED;
    memset(o, 0, sizeof *o);
    o->has = OPT_MSS;
    o->mss = c->rcv.mss;
    /* On a SYN we offer what the configuration allows; on a SYN-ACK we answer only what the
     * peer offered (RFC 7323 §2.2, §3.2; RFC 2018 §2). */
    if (synack ? (c->flags & F_WS_OK) : cfg->window_scaling) {
        o->has |= OPT_WSCALE;
        o->wscale = c->rcv.wscale;
    }
    if (synack ? (c->flags & F_SACK_OK) : cfg->sack)
        o->has |= OPT_SACK_OK;
    if (synack ? (c->flags & F_TS_OK) : cfg->timestamps) {
        o->has |= OPT_TS;
        o->tsval = ts_now(c);
        o->tsecr = synack ? c->rcv.ts_recent : 0;
    }
    /* RFC 7413: a SYN-ACK's cookie (asked for, or a bad one replaced); a SYN's cookie or
     * request, on its first transmission only (Linux retransmits a plain SYN: a path that
     * drops the option still connects) */
    int syn_fo = !synack && (c->tfo_client & TFOC_OPT) && c->snd.max == c->snd.iss;
    if ((synack && (c->flags & F_PASSIVE) && c->tfo_out_len) || syn_fo) {
        o->has |= OPT_FO;
        o->fo_exp = c->tfo_out_exp;
        o->fo_len = c->tfo_out_len;
        memcpy(o->fo_cookie, c->tfo_out, c->tfo_out_len);
    }
}

void send_syn(struct sf_conn *c)
{
    if (c->connect_timeout_ms && !c->connect_deadline)
        c->connect_deadline = c->e->now + SF_MS(c->connect_timeout_ms);
    /* A SYN-ACK once the peer's SYN is in (SYN-RECEIVED, or FIN-WAIT-1 closed from it). */
    uint8_t flags = TH_SYN | (c->state != SF_SYN_SENT ? TH_ACK : 0);
    int again = seq_lt(c->snd.iss, c->snd.max);
    if (again) {
        c->retrans_segs++;
        c->e->st.retrans_segs++;
    }
    /* Fast Open: the first SYN carries data; a retransmission none (as Linux: the data goes
     * after the handshake, as for any SYN-ACK that does not acknowledge it) */
    const uint8_t *p1 = NULL, *p2 = NULL;
    uint32_t len = 0, l1 = 0, l2 = 0;
    if (!again && (c->tfo_client & TFOC_DATA) && (len = fastopen_syn_data(c)) > 0)
        sndbuf_peek(c->snd.buf, 0, len, &p1, &l1, &p2, &l2);
    conn_send(c, c->snd.iss, flags, p1, l1, p2, l2);
    c->bytes_sent += len;
    c->snd.nxt = c->snd.iss + 1 + len;
    c->snd.max = seq_max(c->snd.max, c->snd.nxt);
    if (!c->at[T_RTX])
        timer_set(c, T_RTX, c->e->now + rto_current(c));
    if (c->connect_deadline && c->at[T_RTX] > c->connect_deadline)
        timer_set(c, T_RTX, c->connect_deadline); /* on_rtx drops it then */
}

void send_ack(struct sf_conn *c)
{
    conn_send(c, c->snd.max, TH_ACK, NULL, 0, NULL, 0);
}

void send_rst_conn(struct sf_conn *c)
{
    conn_send(c, c->snd.max, TH_RST | TH_ACK, NULL, 0, NULL, 0);
}

/* RFC 5961 §7 limits challenge ACKs per second. A budget the same every second is a side
 * channel: an off-path attacker who triggers challenge ACKs and counts the answers learns
 * whether another connection spent some, and with it that connection's sequence numbers
 * (CVE-2016-5696). As Linux since 4.7, each second's budget is drawn anew, here from
 * [limit/2 + 1, limit] by a keyed hash of the second. */
int challenge_ack_allowed(struct sf_engine *e)
{
    if (e->now - e->chal_second >= SF_SEC(1) || e->chal_budget == 0) {

        e->chal_second = e->now;
        e->chal_count = 0;
        uint32_t limit = e->cfg.challenge_ack_limit, spread = (limit + 1) / 2;
        uint64_t second = e->now / SF_SEC(1);
        e->chal_budget =
            limit / 2 + 1 + (uint32_t)(sf_siphash(&e->key_cookie, &second, sizeof second) % spread);
        if (e->chal_budget > limit)
            e->chal_budget = limit;
    }
    if (e->chal_count >= e->chal_budget) {
        e->st.challenge_acks_limited++;
        return 0;
    }
    e->chal_count++;
    e->st.challenge_acks++;
    return 1;
}

void send_challenge_ack(struct sf_conn *c)
{
    if (challenge_ack_allowed(c->e))
        send_ack(c);
}

/* RFC 9293 §3.10.7.1: a segment for no connection. If it has ACK: <SEQ=SEG.ACK><CTL=RST>;
 * otherwise <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. Never answer an RST. */
void send_rst_for(struct sf_engine *e, const struct sf_seg *s)
{
    if (s->flags & TH_RST)
        return;
    struct sf_seg_out o;
    memset(&o, 0, sizeof o);
    o.t = s->t;
    o.ip_id = e->ip_id++;
    if (s->flags & TH_ACK) {
        o.seq = s->ack;
        o.flags = TH_RST;
    } else {
        o.seq = 0;
        o.ack = s->seq + seg_seqlen(s);
        o.flags = TH_RST | TH_ACK;
    }
    segment_out(e, &o, NULL, 0, NULL, 0);
}

/* Payload bytes the next data segment may carry. SND.MSS already leaves room for the options
 * every segment has (timestamps); SACK blocks come and go, so their bytes (nop, nop, kind,
 * length, 8 per block) are taken off here: "the TCP sender MUST reduce its segment size by the
 * TCP options length" (RFC 9293 §3.7.1, RFC 6691), or a full segment outgrows the path MTU. */
static uint32_t send_mss(const struct sf_conn *c)
{
    unsigned n = sack_blocks(c);
    uint32_t opt = n ? 4u + 8u * n : 0u;
    return c->snd.mss > opt + 1u ? c->snd.mss - opt : 1u;
}

static uint32_t data_end(const struct sf_conn *c)
{
    return c->snd.buf_seq + (c->snd.buf ? c->snd.buf->len : 0);
}

/* Sends data (and FIN) from seq, up to len bytes, without touching SND.NXT. */
static void send_from(struct sf_conn *c, uint32_t seq, uint32_t len, int fin)
{
    const uint8_t *p1 = NULL, *p2 = NULL;
    uint32_t l1 = 0, l2 = 0;
    if (len)
        sndbuf_peek(c->snd.buf, seq - c->snd.buf_seq, len, &p1, &l1, &p2, &l2);
    uint8_t flags = TH_ACK;
    if (fin)
        flags |= TH_FIN;
    /* PSH on the segment that empties the send buffer: the last of the owner's writes. */
    if (len && seq + len == data_end(c))
        flags |= TH_PSH;
    if (seq_lt(seq, c->snd.max)) {
        c->retrans_segs++;
        c->e->st.retrans_segs++;
        c->snd.rtx_tsval = ts_now(c);

        /* Karn: a retransmitted segment gives no RTT sample. */
        if (c->snd.rtt_start && seq_le(seq, c->snd.rtt_seq))
            c->snd.rtt_start = 0;
    }
    conn_send(c, seq, flags, p1, l1, p2, l2);
    c->bytes_sent += len;
}

void retransmit_head(struct sf_conn *c)
{
    struct sf_snd *s = &c->snd;
    if (!seq_gt(s->una, s->iss) || s->una == s->max)
        return;
    uint32_t avail = seq_gt(data_end(c), s->una) ? data_end(c) - s->una : 0;
    uint32_t len = min32(avail, send_mss(c));
    int fin = (c->flags & F_FIN_QUEUED) && s->una + len == s->fin_seq && seq_lt(s->fin_seq, s->max);
    send_from(c, s->una, len, fin);
    if (seq_lt(s->nxt, s->una + len + (uint32_t)fin))
        s->nxt = s->una + len + (uint32_t)fin;
}

void send_keepalive_probe(struct sf_conn *c)
{
    /* <SEQ=SND.NXT-1><ACK=RCV.NXT>, no data: outside the peer's window, so it must answer
     * with an ACK (RFC 9293 §3.8.4, as Linux and the BSDs do). */
    c->e->st.keepalive_probes++;
    conn_send(c, c->snd.max - 1, TH_ACK, NULL, 0, NULL, 0);
}

void send_window_probe(struct sf_conn *c)
{
    struct sf_snd *s = &c->snd;
    c->e->st.zero_window_probes++;
    /* RFC 9293 §3.8.6.1: probe with one octet of data beyond the window (or the FIN when
     * nothing else is left). The probe occupies sequence space like any segment; until the
     * peer takes it, later probes repeat the same octet. */
    if (seq_lt(s->una, s->max)) {
        int fin = (c->flags & F_FIN_QUEUED) && s->una == s->fin_seq;
        send_from(c, s->una, fin ? 0 : 1, fin);
        return;
    }
    uint32_t unsent = seq_gt(data_end(c), s->nxt) ? data_end(c) - s->nxt : 0;
    if (unsent) {
        send_from(c, s->nxt, 1, 0);
    } else if ((c->flags & F_FIN_QUEUED) && s->nxt == s->fin_seq) {
        send_from(c, s->nxt, 0, 1);
    } else {
        return;
    }
    s->nxt += 1;
    s->max = seq_max(s->max, s->nxt);
    if (s->una_since == 0)
        s->una_since = c->e->now;
}

/* Sends what the windows, Nagle and the cork allow. override: the persist timer fired with a
 * window too small for a full segment and nothing in flight, so the first segment goes
 * whatever sender SWS avoidance would say (RFC 9293 §3.8.6.2.1, the override timeout). */
static void output(struct sf_conn *c, int override)
{
    struct sf_engine *e = c->e;
    struct sf_snd *s = &c->snd;
    enum sf_state st = (enum sf_state)c->state;

    if (st == SF_CLOSED || st == SF_LISTEN || st == SF_TIME_WAIT || (c->tfo_client & TFOC_DEFER))
        return;
    int syn_unacked = !seq_gt(s->una, s->iss);
    if (syn_unacked && s->nxt == s->iss) {
        send_syn(c); /* first transmission, or a retransmission after a timeout */
        if (st != SF_FIN_WAIT_1)
            return;
    }
    /* RFC 7413 §4.2.2: a Fast Open server "MAY send data ... before the handshake completes"
     * (once its SYN-ACK is out), as Linux does. */
    int tfo_early = (c->flags & F_TFO) && st == SF_SYN_RECEIVED && s->nxt != s->iss;
    if (syn_unacked && !tfo_early) {
        /* Our SYN is not acknowledged yet: nothing but ACKs may go, and the FIN of a CLOSE in
         * SYN-RECEIVED: "If no SENDs have been issued and there is no pending data to send,
         * then form a FIN segment and send it" (RFC 9293 §3.10.4). */
        if (st == SF_FIN_WAIT_1 && (c->flags & F_FIN_QUEUED) && s->fin_seq == s->iss + 1 &&
            s->nxt == s->fin_seq) {
            send_from(c, s->nxt, 0, 1);
            s->nxt = s->max = s->fin_seq + 1;
            if (!c->at[T_RTX])
                timer_set(c, T_RTX, e->now + rto_current(c));
        } else if (c->flags & F_ACK_NOW) {
            send_ack(c);
        }
        return;
    }
    if (s->una == s->max && s->last_send && e->now - s->last_send > rto_current(c))
        cc_after_idle(c);

    uint32_t mss = send_mss(c);
    for (;;) {
        uint32_t end = data_end(c);
        uint32_t unsent = seq_gt(end, s->nxt) ? end - s->nxt : 0;
        uint32_t wnd = min32(s->wnd, s->cwnd);
        uint32_t usable = seq_gt(s->una + wnd, s->nxt) ? s->una + wnd - s->nxt : 0;
        uint32_t len = min32(min32(unsent, usable), mss);
        int fin_pending = (c->flags & F_FIN_QUEUED) && seq_le(s->nxt, s->fin_seq);
        int fin = 0;
        if (fin_pending && len == unsent) {
            /* The FIN rides on the segment with the last byte, or goes alone. It takes one
             * octet of the peer's window like data (a retransmitted one already had it). */
            fin = seq_lt(s->nxt + len, s->una + s->wnd) || seq_lt(s->nxt, s->max);
        }
        if (len > 0 && len < mss && !fin && !override) {
            /* Nagle (RFC 896) with Minshall's refinement, as Linux: a short segment goes if
             * it is all we have and no other short segment is unacknowledged (so the tail
             * of a large write is not held back a round trip), or Nagle is off. Sender SWS
             * avoidance (RFC 9293 §3.8.6.2.1): or it is at least half the largest window
             * the peer offered; or it is a retransmission. */
            int ok = 0;
            if (len == unsent && ((c->flags & F_NODELAY) || seq_le(s->sml, s->una)))
                ok = 1;
            if (s->max_wnd && len >= s->max_wnd / 2)
                ok = 1;
            /* A cork holds every short segment, whatever NODELAY says (as TCP_CORK). */
            if (c->flags & F_CORK)
                ok = 0;
            if (seq_lt(s->nxt, s->max))
                ok = 1;
            if (!ok)
                break;
        }
        if (len == 0 && !fin)
            break;
        override = 0;
        if (s->una == s->max)
            s->una_since = e->now;
        uint32_t seq = s->nxt;
        send_from(c, seq, len, fin);
        if (len < mss && !seq_lt(seq, s->max))
            s->sml = seq + len; /* end of the last short segment (Minshall) */
        if (!(c->flags & F_TS_OK) && !s->rtt_start && !seq_lt(seq, s->max)) {
            s->rtt_seq = seq + len + (uint32_t)fin;
            s->rtt_start = e->now ? e->now : 1;
        }
        s->nxt = seq + len + (uint32_t)fin;
        s->max = seq_max(s->max, s->nxt);
        s->last_send = e->now;
        if (!c->at[T_RTX] || (c->flags & F_PERSIST)) {
            c->flags &= ~(uint32_t)F_PERSIST;
            timer_set(c, T_RTX, e->now + rto_current(c));
        }
        if (fin)
            break;
    }

    if (c->flags & F_ACK_NOW)
        send_ack(c);

    /* Nothing in flight, and the peer's window is what holds back the rest: zero, or too
     * small for the next segment (its update may have been lost). Nothing else would ever
     * send again, so the persist timer probes a zero window until it opens (RFC 9293
     * §3.8.6.1) and, for a small one, fires the override timeout that sends what fits
     * (§3.8.6.2.1); as Linux's probe timer does for both. */
    uint32_t unsent = seq_gt(data_end(c), s->nxt) ? data_end(c) - s->nxt : 0;
    int fin_waiting = (c->flags & F_FIN_QUEUED) && s->nxt == s->fin_seq;
    uint32_t room = seq_gt(s->una + s->wnd, s->nxt) ? s->una + s->wnd - s->nxt : 0;
    int window_bound = unsent ? room < min32(unsent, mss) : (fin_waiting && room == 0);
    if (window_bound && s->una == s->max && !c->at[T_RTX]) {
        c->flags |= F_PERSIST;
        timer_set(c, T_RTX, e->now + rto_current(c));
    }
}

void tcp_output(struct sf_conn *c)
{
    output(c, 0);
}

void tcp_output_override(struct sf_conn *c)
{
    output(c, 1);
}
