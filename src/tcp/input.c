/* SEGMENT ARRIVES (RFC 9293 §3.10.7), in the RFC's order. Demultiplexing first: a
 * connection, else a TIME-WAIT entry, else a listener, else no one. Then, for a connection,
 * one handler for SYN-SENT and the eight steps for the synchronized states (and
 * SYN-RECEIVED), each quoted beside the code that does it. */
#include <errno.h>

#include "tcp/internal.h"
#include "tcp/seq.h"
#include "tcp/tw_input.h"

/* RFC 7323 §5.5: TS.Recent older than 24 days is invalid for PAWS. */
#define PAWS_IDLE SF_SEC(24ull * 24 * 3600)

static uint32_t min32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

void input_no_conn(struct sf_engine *e, const struct sf_seg *s)
{
    /* §3.10.7.1 CLOSED: "An incoming segment containing a RST is discarded. An incoming
     * segment not containing a RST causes a RST to be sent in response." */
    e->st.no_conn++;
    send_rst_for(e, s);
}

void input_segment(struct sf_engine *e, struct sf_seg *s)
{
    /* SYN+FIN opens and closes a sequence space at once: no state gives it a meaning, and
     * Linux drops it ("if (th->fin) goto discard" in LISTEN); port scanners send it to
     * fingerprint stacks. Only a closed port answers it, by §3.10.7.1: "An incoming segment
     * not containing a RST causes a RST to be sent in response" (unless drop_syn_fin asks
     * for the packet filters' silence). */
    int syn_fin = (s->flags & (TH_SYN | TH_FIN)) == (TH_SYN | TH_FIN);
    uint32_t hash = tuple_hash(e, &s->t);
    struct sf_conn *c = table_lookup_h(e, &s->t, hash);
    if (syn_fin && c)
        return;
    if (c) {
        c->segs_in++;
        if (c->state == SF_SYN_SENT)
            input_syn_sent(c, s);
        else
            input_synchronized(c, s);
        return;
    }
    uint32_t tw = tw_lookup_h(&e->tw, &s->t, hash);
    if (tw) {
        if (!syn_fin)
            tw_input(e, tw, s);
        return;
    }
    struct sf_conn *l = table_lookup_listener(e, &s->t.laddr, s->t.lport);
    if (l) {
        if (!syn_fin)
            listen_input(l, s);
        return;
    }
    if (syn_fin && e->cfg.drop_syn_fin)
        return;
    input_no_conn(e, s);
}

/* Options of a SYN (or SYN-ACK): what both sides agree to use. */
void negotiate_syn_options(struct sf_conn *c, const struct sf_seg *s)
{
    const struct sf_tcp_config *cfg = ccfg(c);
    const struct sf_tcp_opts *o = &s->opt;
    int active = c->state == SF_SYN_SENT;

    /* RFC 9293 §3.7.1: without an MSS option, assume 536 (IPv4); 1220 for IPv6. */
    c->snd.peer_mss = (o->has & OPT_MSS) ? o->mss : default_peer_mss(c);
    /* RFC 7323 §2.2: scaling is in use only if both sides sent the option. On a passive
     * open the peer's SYN decides; on an active one, what we offered does too. */
    if (cfg->window_scaling && (o->has & OPT_WSCALE)) {
        c->flags |= F_WS_OK;
        c->snd.wscale = o->wscale;
    } else {
        c->flags &= ~(uint32_t)F_WS_OK;
        c->snd.wscale = 0;
        c->rcv.wscale = 0;
    }
    if (cfg->sack && (o->has & OPT_SACK_OK))
        c->flags |= F_SACK_OK;
    if (cfg->timestamps && (o->has & OPT_TS)) {
        c->flags |= F_TS_OK;
        c->rcv.ts_recent = o->tsval;
        c->rcv.ts_recent_at = c->e->now;
    }
    (void)active;
    /* The payload we can send: the smaller of the peer's MSS and ours, less the options
     * every segment will carry (RFC 6691). */
    uint32_t mss = min32(c->snd.peer_mss, c->rcv.mss);
    if (c->flags & F_TS_OK)
        mss -= 12;
    c->snd.mss = (uint16_t)(mss < 64 ? 64 : mss);
}

/* The segment's SYN-ACK window is never scaled; all later windows are (RFC 7323 §2.2). */
static void take_window(struct sf_conn *c, const struct sf_seg *s, int syn)
{
    uint32_t w = syn ? s->wnd : (uint32_t)s->wnd << c->snd.wscale;
    c->snd.wnd = w;
    c->snd.wl1 = s->seq;
    c->snd.wl2 = s->ack;
    if (w > c->snd.max_wnd)
        c->snd.max_wnd = w;
}

static void rtt_from_ack(struct sf_conn *c, const struct sf_seg *s)
{
    struct sf_snd *sn = &c->snd;
    if ((c->flags & F_TS_OK) && (s->opt.has & OPT_TS) && s->opt.tsecr) {
        /* RFC 7323 §4.1: RTT from the echoed timestamp (our clock ticks in ms). But an echo
         * older than our latest retransmission is ambiguous, as Karn observed without
         * timestamps: when the ACK of a retransmission is lost, the next copy arrives as a
         * duplicate and the receiver answers with the TSval of the earlier copy, and the
         * sample would count every backoff interval as RTT. Such samples are skipped. */
        uint32_t r = ts_now(c) - s->opt.tsecr;
        int after_rtx = !sn->rtx_tsval || seq_ge(s->opt.tsecr, sn->rtx_tsval);
        if ((int32_t)r >= 0 && r < 600000u && after_rtx)
            rtt_sample(c, r * 1000u);
        sn->rtt_start = 0;

    } else if (sn->rtt_start && seq_ge(s->ack, sn->rtt_seq)) {
        rtt_sample(c, (uint32_t)(c->e->now - sn->rtt_start));
        sn->rtt_start = 0;
    }
}

/* A shutdown(SHUT_WR) in SYN-SENT queued our FIN behind the data (api.c): now that the
 * peer's SYN is in, the close proceeds as from SYN-RECEIVED or ESTABLISHED, "enter FIN-WAIT-1
 * state" (RFC 9293 §3.10.4 CLOSE); tcp_output sends data and FIN when the window allows. */
static void fin_after_open(struct sf_conn *c)
{
    if (c->flags & F_FIN_QUEUED)
        set_state(c, SF_FIN_WAIT_1, SF_CAUSE_SHUTDOWN);
}

/* A SYN-ACK that acknowledges data our SYN carried (Fast Open): it leaves the send buffer. */
static void syn_data_acked(struct sf_conn *c, uint32_t ack)
{
    struct sf_snd *sn = &c->snd;
    if (!sn->buf || !seq_gt(ack, sn->buf_seq))
        return;
    uint32_t data = min32(ack - sn->buf_seq, sn->buf->len);
    sndbuf_drop(sn->buf, data);
    sn->buf_seq += data;
    c->bytes_acked += data;
    if (sn->una == sn->max)
        sn->una_since = 0;
}

/* §3.10.7.3 SYN-SENT */
void input_syn_sent(struct sf_conn *c, struct sf_seg *s)
{
    struct sf_engine *e = c->e;
    int ack_ok = 0;

    /* "first check the ACK bit: If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless
     * the RST bit is set, if so drop the segment and return) <SEQ=SEG.ACK><CTL=RST> and
     * discard the segment." */
    if (s->flags & TH_ACK) {
        if (seq_le(s->ack, c->snd.iss) || seq_gt(s->ack, c->snd.max)) {
            if (!(s->flags & TH_RST))
                send_rst_for(e, s);
            return;
        }
        ack_ok = 1;
    }
    /* "second check the RST bit: If the ACK was acceptable, then signal to the user 'error:
     * connection reset', drop the segment, enter CLOSED state, delete TCB, and return.
     * Otherwise (no ACK), drop the segment and return." (RFC 5961 §3.2 agrees.) */
    if (s->flags & TH_RST) {
        if (ack_ok) {
            e->st.rst_in++;
            e->st.attempt_fails++;
            conn_abort(c, ECONNREFUSED, SF_CAUSE_RST, 0);
        }
        return;
    }
    /* "fifth, if neither of the SYN or RST bits is set, then drop the segment and return." */
    if (!(s->flags & TH_SYN))
        return;

    c->tfo_client &= (uint8_t)~TFOC_DEFER; /* a SYN to a deferred connect: no more waiting */
    /* "fourth check the SYN bit: RCV.NXT is set to SEG.SEQ+1, IRS is set to SEG.SEQ." The
     * window our SYN offered was counted from a RCV.NXT not known then: its right edge
     * moves with it, or it would be a sequence number of nowhere. */
    uint32_t offered = c->rcv.adv - c->rcv.nxt;
    c->rcv.irs = s->seq;
    c->rcv.nxt = s->seq + 1;
    c->rcv.adv = c->rcv.nxt + offered;
    c->rcv.last_ack = c->rcv.nxt;
    negotiate_syn_options(c, s);
    c->last_rx = e->now;

    if (ack_ok) {
        /* "SND.UNA should be advanced to equal SEG.ACK ... If SND.UNA > ISS (our SYN has been
         * ACKed), change the connection state to ESTABLISHED, form an ACK segment
         * <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and send it." */
        rtt_from_ack(c, s);
        c->snd.una = s->ack;
        syn_data_acked(c, s->ack);
        c->snd.backoff = 0;
        timer_clear(c, T_RTX);
        take_window(c, s, 1);
        cc_init(c);
        fastopen_synack(c, s); /* RFC 7413: the cookie, and data not acknowledged */
        set_state(c, SF_ESTABLISHED, SF_CAUSE_SYN_ACK);
        conn_event(c, SF_EV_CONNECTED | SF_EV_WRITABLE);
        fin_after_open(c);
        keepalive_reset(c);
        c->flags |= F_ACK_NOW;
        /* "If there are other controls or text in the segment, then continue processing at
         * the sixth step below where the URG bit is checked." */
        if (s->len || (s->flags & TH_FIN)) {
            struct sf_seg rest = *s;
            rest.seq = s->seq + 1;
            rest.flags = (uint8_t)(s->flags & ~TH_SYN);
            input_synchronized(c, &rest);
            return;
        }
        tcp_output(c);
        return;
    }
    /* "Otherwise, enter SYN-RECEIVED, form a SYN,ACK segment <SEQ=ISS><ACK=RCV.NXT>
     * <CTL=SYN,ACK> and send it." (simultaneous open) */
    take_window(c, s, 1);
    cc_init(c);
    set_state(c, SF_SYN_RECEIVED, SF_CAUSE_SYN);
    fin_after_open(c);
    c->snd.nxt = c->snd.iss;
    tcp_output(c);
}

/* The window the acceptability test uses: the one last offered, or the edge of one offered
 * before a withdrawal (withdraw_edge). RFC 7323 §2.4: "The receiver MUST honor, as in
 * window, any segment that would have been in window for any <ACK> sent by the receiver":
 * the peer may have sent into it already, and its ACKs carry the SND.NXT that went past our
 * edge; refused as out of window, they never acknowledged our data (Linux's sender, which
 * keeps SND.NXT there, stalled for seconds at a time). */
static uint32_t accept_window(struct sf_conn *c)
{
    uint32_t wnd = rcv_window(c);
    if (!(c->flags & F_WITHDRAWN))
        return wnd;
    if (seq_gt(c->rcv.withdrawn, c->rcv.nxt + wnd))
        return c->rcv.withdrawn - c->rcv.nxt;
    c->flags &= ~(uint32_t)F_WITHDRAWN; /* the window offered now reaches as far */
    return wnd;
}

/* §3.10.7.4 "first check sequence number": the acceptability test table. Returns 0 (not
 * acceptable), 1 (acceptable) or 2 (acceptable for its control bits only: the window is
 * zero, "but special allowance should be made to accept valid ACKs, URGs, and RSTs"). */
static int seq_acceptable(struct sf_conn *c, const struct sf_seg *s)
{
    uint32_t wnd = accept_window(c);
    uint32_t len = seg_seqlen(s);
    uint32_t nxt = c->rcv.nxt;
    /* An ACK may also come from just past the window. With the window zero, from one octet
     * beyond it: a zero-window probe (§3.8.6.1) that we refused still moved its sender's
     * SND.NXT past RCV.NXT, and all that sender's later ACKs carry it; they are the "valid
     * ACKs" of the special allowance. With part of the window withdrawn, from its old edge:
     * the sender filled what we offered and we dropped it. Refused, those ACKs would never
     * acknowledge our own data. */
    if (len == 0) {
        if (wnd == 0)
            return s->seq == nxt || s->seq == nxt + 1;
        return seq_in(s->seq, nxt, nxt + wnd) || ((c->flags & F_WITHDRAWN) && s->seq == nxt + wnd);
    }
    if (wnd == 0)
        return s->seq == nxt ? 2 : 0;
    return seq_in(s->seq, nxt, nxt + wnd) || seq_in(s->seq + len - 1, nxt, nxt + wnd);
}

static int is_dupack(const struct sf_conn *c, const struct sf_seg *s)
{
    /* RFC 5681 §2 DUPLICATE ACKNOWLEDGMENT: outstanding data, no data in the segment, SYN
     * and FIN off, SEG.ACK == SND.UNA, and the advertised window unchanged. Not while the
     * persist timer runs: the outstanding octet is a window probe, and the peer's answers
     * to it say the window is still closed, not that a segment left the network; counted,
     * they fast-retransmitted a full segment into the closed window (as BSD, where persist
     * and retransmission exclude each other). */
    return c->snd.una != c->snd.max && s->len == 0 && !(s->flags & (TH_SYN | TH_FIN)) &&
           s->ack == c->snd.una && ((uint32_t)s->wnd << c->snd.wscale) == c->snd.wnd &&
           !(c->flags & F_PERSIST);
}

static void new_ack(struct sf_conn *c, const struct sf_seg *s)
{
    struct sf_snd *sn = &c->snd;
    uint32_t acked = s->ack - sn->una;

    rtt_from_ack(c, s);
    if (sn->buf && seq_gt(s->ack, sn->buf_seq)) {
        uint32_t data = min32(s->ack - sn->buf_seq, sn->buf->len);
        sndbuf_drop(sn->buf, data);
        sn->buf_seq += data;
        c->bytes_acked += data;
    } else if (!sn->buf && seq_gt(s->ack, sn->buf_seq)) {
        sn->buf_seq = s->ack; /* only SYN/FIN were acknowledged */
    }
    /* "If SND.UNA < SEG.ACK =< SND.NXT, then set SND.UNA <- SEG.ACK." */
    sn->una = s->ack;
    if (seq_lt(sn->nxt, sn->una))
        sn->nxt = sn->una;
    sn->backoff = 0;
    sn->probes = 0;
    cc_on_ack(c, s->ack, acked);
    /* RFC 6298 §5.2, §5.3: all acked → stop the timer; otherwise restart it. */
    if (sn->una == sn->max) {
        timer_clear(c, T_RTX);
        c->flags &= ~(uint32_t)F_PERSIST;
        sn->una_since = 0;
    } else if (!(c->flags & F_PERSIST)) {
        timer_set(c, T_RTX, c->e->now + rto_current(c));
        sn->una_since = c->e->now;
    }
    if ((c->flags & F_WANT_WRITE) && sn->buf && sndbuf_free(sn->buf) > 0 &&
        !(c->flags & F_FIN_QUEUED)) {
        c->flags &= ~(uint32_t)F_WANT_WRITE;
        conn_event(c, SF_EV_WRITABLE);
    }
    conn_trim_buffers(c);
}

/* The window closed with data (or our FIN) in flight: the receiver shrank it, or a stale
 * zero-window ACK overtook a fresh update on the way. Nothing can be retransmitted into a
 * zero window, so a retransmission timeout would send nothing and still count towards
 * retries2, ending a connection whose peer is alive. The persist timer takes over, as in BSD
 * (Linux turns its retransmissions into probes): it probes with the first unacknowledged
 * octet for as long as the peer answers, and SND.NXT goes back to SND.UNA so that what the
 * receiver dropped goes again as soon as the window opens. */
static void persist_in_flight(struct sf_conn *c)
{
    struct sf_snd *sn = &c->snd;
    c->flags |= F_PERSIST;
    sn->nxt = sn->una;
    sn->dupacks = 0;
    timer_set(c, T_RTX, c->e->now + rto_current(c));
}

static int fin_acked(const struct sf_conn *c)
{
    return (c->flags & F_FIN_QUEUED) && seq_gt(c->snd.una, c->snd.fin_seq);
}

/* "If SND.UNA =< SEG.ACK =< SND.NXT, the send window should be updated. If (SND.WL1 <
 * SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK)), set SND.WND <- SEG.WND, set
 * SND.WL1 <- SEG.SEQ, and set SND.WL2 <- SEG.ACK." */
static void update_window(struct sf_conn *c, const struct sf_seg *s)
{
    struct sf_snd *sn = &c->snd;
    if (seq_ge(s->ack, sn->una) &&
        (seq_lt(sn->wl1, s->seq) || (sn->wl1 == s->seq && seq_le(sn->wl2, s->ack)))) {
        int opened = sn->wnd == 0 && s->wnd != 0;
        take_window(c, s, 0);
        if (opened && (c->flags & F_PERSIST)) {
            /* The window opened: the persist timer's job is done. */
            c->flags &= ~(uint32_t)F_PERSIST;
            timer_clear(c, T_RTX);
            sn->backoff = 0;
            if (sn->una != sn->max)
                timer_set(c, T_RTX, c->e->now + rto_current(c));
        }
    }
    if (sn->wnd == 0 && sn->una != sn->max && seq_gt(sn->una, sn->iss) && !(c->flags & F_PERSIST))
        persist_in_flight(c);
}

/* "fifth check the ACK field". Returns 0 when processing of the segment ends here. */
static int ack_step(struct sf_conn *c, const struct sf_seg *s)
{
    struct sf_engine *e = c->e;
    struct sf_snd *sn = &c->snd;

    if (c->state == SF_SYN_RECEIVED) {
        /* "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED state and continue
         * processing ... If the segment acknowledgment is not acceptable, form a reset
         * segment <SEQ=SEG.ACK><CTL=RST> and send it." */
        if (!seq_gt(s->ack, sn->una) || seq_gt(s->ack, sn->max)) {
            if (listen_cookie_supersedes(c, s))
                return 0;
            send_rst_for(e, s);
            return 0;
        }
        if ((c->flags & F_PASSIVE) && !(c->flags & F_TFO) && c->parent && !listen_accept_room(c)) {
            /* Accept queue full: ignore the ACK, as Linux does without abort_on_overflow;
             * the SYN-ACK retransmission will draw another one later. */
            e->st.listen_overflows++;
            return 0;
        }
        take_window(c, s, 0);
        set_state(c, SF_ESTABLISHED, (c->flags & F_COOKIE) ? SF_CAUSE_COOKIE_ACK : SF_CAUSE_ACK);
        if ((c->flags & F_PASSIVE) && !(c->flags & F_TFO))
            listen_established(c); /* a Fast Open child is on the accept queue already */
        else
            conn_event(c, SF_EV_CONNECTED | SF_EV_WRITABLE);
    }

    /* "If the ACK acks something not yet sent (SEG.ACK > SND.NXT), then send an ACK, drop
     * the segment, and return." */
    if (seq_gt(s->ack, sn->max)) {
        send_ack(c);
        return 0;
    }
    /* RFC 5961 §5.2: the ACK must lie in [SND.UNA - MAX.SND.WND, SND.NXT]; otherwise
     * "the segment MUST be discarded and an ACK sent back" (a challenge ACK, rate-limited). */
    if (seq_lt(s->ack, sn->una - sn->max_wnd)) {
        send_challenge_ack(c);
        return 0;
    }
    /* The segment passed every test that drops one (PAWS, the sequence number, RST, SYN and
     * the ACK checks): only now is it news from a live peer. RFC 1122 §4.2.3.6 probes when
     * "no data or acknowledgement packets have been received" for the idle time, and Linux
     * moves rcv_tstamp only for validated segments; a forged or stale segment outside the
     * window must not keep a dead connection open. The LAST-ACK timeout measures a silent
     * peer, not a slow one, by the same segments. */
    keepalive_reset(c);
    /* RFC 1122 §4.2.2.17: "As long as the receiving TCP continues to send acknowledgments in
     * response to the probe segments, the sending TCP MUST allow the connection to stay
     * open": only probes that go unanswered count towards the limit. */
    if (c->flags & F_PERSIST)
        sn->probes = 0;
    if (c->state == SF_LAST_ACK && c->at[T_CLOSE])
        timer_set(c, T_CLOSE, e->now + SF_MS(ccfg(c)->last_ack_timeout_ms));
    int dup = is_dupack(c, s);
    if (seq_gt(s->ack, sn->una))
        new_ack(c, s);
    update_window(c, s);
    if (dup)
        cc_on_dupack(c);

    switch (c->state) {
    case SF_FIN_WAIT_1:
        /* "In addition to the processing for the ESTABLISHED state, if the FIN segment is
         * now acknowledged, then enter FIN-WAIT-2 and continue processing in that state." */
        if (fin_acked(c)) {
            set_state(c, SF_FIN_WAIT_2, SF_CAUSE_ACK);
            /* Whatever the setting, an orphan here has a lifetime: nothing else would ever
             * end it if the peer never sends its FIN. */
            if (c->flags & F_ORPHAN)
                timer_set(c, T_CLOSE, e->now + SF_MS(ccfg(c)->fin_wait2_timeout_ms));
        }
        break;
    case SF_CLOSING:
        /* "if the ACK acknowledges our FIN, then enter the TIME-WAIT state; otherwise,
         * ignore the segment." */
        if (fin_acked(c)) {
            enter_time_wait(c, SF_CAUSE_ACK);
            return 0;
        }
        break;
    case SF_LAST_ACK:
        /* "The only thing that can arrive in this state is an acknowledgment of our FIN. If
         * our FIN is now acknowledged, delete the TCB, enter the CLOSED state, and return." */
        if (fin_acked(c)) {
            conn_closed(c, SF_CAUSE_ACK);
            return 0;
        }
        break;
    default: break;
    }
    return 1;
}

/* RCV.NXT moves on. Data that starts inside the window is kept as far as the buffer has
 * room, which can reach past the edge last advertised (silly window avoidance holds the edge
 * back while the buffer has more), and a FIN takes one more octet: the advertised edge
 * follows, so that the window, edge minus RCV.NXT, never goes negative (it wrapped to an
 * offer of 65535 << wscale from a full buffer). */
static void rcv_advance(struct sf_conn *c, uint32_t n)
{
    c->rcv.nxt += n;
    if (seq_lt(c->rcv.adv, c->rcv.nxt))
        c->rcv.adv = c->rcv.nxt;
}

static void deliver_in_order(struct sf_conn *c, uint32_t advanced)
{
    rcv_advance(c, advanced);
    c->bytes_received += advanced;
    if (!(c->flags & F_SHUT_RD))
        conn_event(c, SF_EV_READABLE);
}

static void process_fin(struct sf_conn *c, enum sf_cause cause);

/* Data inside the window we offered does not fit the buffer: window scaling rounded the
 * edge up past the buffer's end (RFC 7323 §2.4). That promise cannot be kept, and offering it
 * again would have the sender retransmit into it until retries2; the edge goes back to the
 * buffer's end (the retraction §2.4 allows, Linux's tcp_shrink_window), a zero window once
 * the buffer is full, which the sender probes for as long as we answer. */
static void withdraw_edge(struct sf_conn *c, uint32_t space)
{
    struct sf_rcv *r = &c->rcv;
    if (!seq_gt(r->adv, r->nxt + space))
        return;
    if (!(c->flags & F_WITHDRAWN) || seq_gt(r->adv, r->withdrawn))
        r->withdrawn = r->adv; /* still honoured as in window (accept_window) */
    c->flags |= F_WITHDRAWN;
    r->adv = r->nxt + space;
}

/* "seventh, process the segment text". Returns 0 when the connection was reset. */
static int data_step(struct sf_conn *c, const struct sf_seg *s)
{
    struct sf_engine *e = c->e;
    uint32_t seq = s->seq;
    const uint8_t *data = s->data;
    uint32_t len = s->len;

    /* "ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2: ... deliver the segment text to the user RECEIVE
     * buffers." In CLOSE-WAIT, CLOSING, LAST-ACK "this should not occur since a FIN has
     * been received from the remote side. Ignore the segment text." */
    if (c->state != SF_ESTABLISHED && c->state != SF_FIN_WAIT_1 && c->state != SF_FIN_WAIT_2)
        return 1;
    if (seq_lt(seq, c->rcv.nxt)) { /* trim what we already have */
        uint32_t skip = min32(c->rcv.nxt - seq, len);
        seq += skip;
        data += skip;
        len -= skip;
    }
    if (len == 0)
        return 1;
    if (c->flags & F_ORPHAN) {
        /* New data for a connection the owner has closed can never be read: reset, as Linux
         * does (RFC 2525 §2.17; RFC 9293 §3.10.7.4 for closed receive sides). */
        send_rst_conn(c);
        conn_abort(c, 0, SF_CAUSE_UNREAD_CLOSE, 0);
        return 0;
    }
    /* The largest segment seen sets how often we ACK (every second full segment). One longer
     * than the MSS we offered is several the receive path coalesced (TUN offload, GRO): it
     * counts as full-sized, as Linux counts a GRO packet by its gso_size. */
    if (len > c->rcv.seen_mss)
        c->rcv.seen_mss = len < c->rcv.mss ? len : c->rcv.mss;

    if (c->flags & F_SHUT_RD) {
        /* shutdown(SHUT_RD): in-order data is acknowledged and dropped. */
        if (seq == c->rcv.nxt) {
            rcv_advance(c, min32(len, rcv_window(c)));
        }
        c->flags |= F_ACK_NOW;
        return 1;
    }
    if (conn_ensure_rcvbuf(c) < 0) {
        c->flags |= F_ACK_NOW; /* no memory: drop the data; the peer will retransmit */
        return 1;
    }
    struct sf_rcvbuf *b = c->rcv.buf;
    uint32_t off = seq - c->rcv.nxt;
    uint32_t space = rcvbuf_space(b);
    if (off + len > space)
        withdraw_edge(c, space);
    if (off >= space) { /* beyond what the window allows: nothing to store */
        c->flags |= F_ACK_NOW;
        return 1;
    }
    uint32_t n = min32(len, space - off);
    int had_holes = b->nblk > 0;
    int stored;
    uint32_t adv = rcvbuf_store(b, off, data, n, &stored);
    if (off > 0 || n < len) {
        /* RFC 5681 §4.2: out-of-order data gets an immediate (duplicate) ACK, with SACK. */
        c->flags |= F_ACK_NOW;
    }
    if (adv) {
        deliver_in_order(c, adv);
        /* "An immediate ACK SHOULD be generated when a segment fills in all or part of a
         * gap" (RFC 5681 §4.2). Otherwise delay it, but ACK at least every second
         * full-sized segment. */
        if (had_holes)
            c->flags |= F_ACK_NOW;
        else if (c->rcv.nxt - c->rcv.last_ack >= 2u * c->rcv.seen_mss)
            c->flags |= F_ACK_NOW;
        else if (!c->at[T_DELACK])
            timer_set(c, T_DELACK, e->now + SF_MS(ccfg(c)->delack_ms));
        if ((c->flags & F_OOO_FIN) && c->rcv.nxt == c->rcv.fin_seq) {
            c->flags &= ~(uint32_t)F_OOO_FIN;
            process_fin(c, SF_CAUSE_FIN);
        }
    }
    return 1;
}

/* The peer's FIN, in order. */
static void process_fin(struct sf_conn *c, enum sf_cause cause)
{
    rcv_advance(c, 1);
    c->flags |= F_FIN_RCVD | F_ACK_NOW;
    if (c->first_fin == SF_CLOSER_NONE)
        c->first_fin = SF_CLOSER_REMOTE;
    conn_event(c, SF_EV_PEER_FIN | SF_EV_READABLE);
    switch (c->state) {
    case SF_SYN_RECEIVED:
    case SF_ESTABLISHED:
        /* "Enter the CLOSE-WAIT state." */
        set_state(c, SF_CLOSE_WAIT, cause);
        break;
    case SF_FIN_WAIT_1:
        /* "If our FIN has been ACKed (perhaps in this segment), then enter TIME-WAIT ...;
         * otherwise, enter the CLOSING state." (Acked → we are in FIN-WAIT-2 already.) */
        set_state(c, SF_CLOSING, cause);
        break;
    case SF_FIN_WAIT_2:
        /* "Enter the TIME-WAIT state. Start the time-wait timer, turn off the other
         * timers." The ACK of the FIN goes out first. */
        send_ack(c);
        enter_time_wait(c, cause);
        break;
    default: /* CLOSE-WAIT, CLOSING, LAST-ACK: "Remain in the ... state." */ break;
    }
}

/* "eighth, check the FIN bit" */
static void fin_step(struct sf_conn *c, const struct sf_seg *s, int acked_our_fin)
{
    uint32_t fin_at = s->seq + s->len;
    if (seq_gt(fin_at, c->rcv.nxt)) {
        /* Ahead of a hole: remember it and take it when the hole fills. */
        if (c->state == SF_ESTABLISHED || c->state == SF_FIN_WAIT_1 || c->state == SF_FIN_WAIT_2) {
            c->flags |= F_OOO_FIN;
            c->rcv.fin_seq = fin_at;
        }
        c->flags |= F_ACK_NOW;
        return;
    }
    if (seq_lt(fin_at, c->rcv.nxt)) {
        c->flags |= F_ACK_NOW; /* a retransmitted FIN: acknowledge it again */
        return;
    }
    process_fin(c, acked_our_fin ? SF_CAUSE_FIN_ACK : SF_CAUSE_FIN);
}

/* §3.10.7.4 "Otherwise": SYN-RECEIVED and the synchronized states. */
void input_synchronized(struct sf_conn *c, struct sf_seg *s)
{
    struct sf_engine *e = c->e;

    /* RFC 7323 §5.3 PAWS, before the sequence number check: "If SEG.TSval < TS.Recent and
     * if TS.Recent is valid, then treat the arriving segment as not acceptable: send an
     * acknowledgment in reply as specified in Section 3.10.7.4 of RFC 9293 and drop the
     * segment." RSTs are exempt. */
    if ((c->flags & F_TS_OK) && (s->opt.has & OPT_TS) && !(s->flags & TH_RST) &&
        seq_lt(s->opt.tsval, c->rcv.ts_recent) && e->now - c->rcv.ts_recent_at <= PAWS_IDLE) {
        e->st.paws_drops++;
        send_ack(c);
        return;
    }

    /* "first check sequence number ... If an incoming segment is not acceptable, an
     * acknowledgment should be sent in reply (unless the RST bit is set, if so drop the
     * segment and return): <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>" */
    if (!(c->flags & F_PASSIVE) && !seq_gt(c->snd.una, c->snd.iss) &&
        (c->state == SF_SYN_RECEIVED || c->state == SF_FIN_WAIT_1) &&
        (s->flags & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK) && s->seq + 1 == c->rcv.nxt &&
        seq_gt(s->ack, c->snd.una) && seq_le(s->ack, c->snd.max)) {
        /* Simultaneous open (RFC 9293 Figure 8, line 6): the peer's SYN-ACK repeats its SYN
         * and acknowledges ours. Take it as the ACK that completes the handshake, as Linux
         * does (the exception to RFC 5961 §4.2's challenge ACK); also after a CLOSE in
         * SYN-RECEIVED has moved us to FIN-WAIT-1. */
        s->seq += 1;
        s->flags &= (uint8_t)~TH_SYN;
    }
    int acceptable = seq_acceptable(c, s);
    if (!acceptable) {
        if (c->state == SF_SYN_RECEIVED && (s->flags & TH_SYN) && s->seq == c->rcv.irs &&
            !(s->flags & TH_ACK)) {
            /* The peer repeated its SYN: our SYN-ACK was lost. Send it again, echoing this
             * SYN's timestamp so the peer measures one round trip, not its SYN backoff. */
            if ((c->flags & F_TS_OK) && (s->opt.has & OPT_TS)) {
                c->rcv.ts_recent = s->opt.tsval;
                c->rcv.ts_recent_at = e->now;
            }
            c->snd.nxt = c->snd.iss;

            send_syn(c);
            return;
        }
        e->st.out_of_window++;
        if (s->flags & TH_SYN)
            send_challenge_ack(c); /* RFC 5961 §4.2: "irrespective of the sequence number" */
        else if (!(s->flags & TH_RST))
            send_ack(c);
        return;
    }
    if (acceptable == 2 && s->len) {
        /* Zero window: keep the control bits, drop the text (a zero-window probe). */
        s->len = 0;
        if (s->flags & TH_FIN)
            s->flags &= (uint8_t)~TH_FIN;
        c->flags |= F_ACK_NOW;
    }

    /* RFC 7323 §4.3: "If SEG.TSval >= TS.Recent and SEG.SEQ =< Last.ACK.sent then SEG.TSval
     * is copied to TS.Recent". */
    if ((c->flags & F_TS_OK) && (s->opt.has & OPT_TS) && seq_ge(s->opt.tsval, c->rcv.ts_recent) &&
        seq_le(s->seq, c->rcv.last_ack)) {
        c->rcv.ts_recent = s->opt.tsval;
        c->rcv.ts_recent_at = e->now;
    }

    /* "second check the RST bit": RFC 5961 §3.2: "If the RST bit is set and the sequence
     * number exactly matches the next expected sequence number (RCV.NXT), then TCP MUST
     * reset the connection. ... Otherwise (in the window but not exact) TCP MUST send an
     * ACK (challenge ACK)". */
    if (s->flags & TH_RST) {
        if (s->seq != c->rcv.nxt) {
            send_challenge_ack(c);
            return;
        }
        e->st.rst_in++;
        switch (c->state) {
        case SF_SYN_RECEIVED:
            /* "If this connection was initiated with a passive OPEN, then return this
             * connection to the LISTEN state": the listener simply forgets it. Active: the
             * connection was refused. A Fast Open child is the application's already (it
             * may have read and written): reset, as Linux reports it. */
            conn_abort(c, (c->flags & F_TFO) ? ECONNRESET : ECONNREFUSED, SF_CAUSE_RST, 0);
            break;
        case SF_ESTABLISHED:
        case SF_FIN_WAIT_1:
        case SF_FIN_WAIT_2:
        case SF_CLOSE_WAIT:
            /* "any outstanding RECEIVEs and SEND should receive 'reset' responses ... Enter
             * the CLOSED state, delete the TCB, and return." */
            e->st.estab_resets++;
            conn_abort(c, ECONNRESET, SF_CAUSE_RST, 0);
            break;
        default: /* CLOSING, LAST-ACK: "enter the CLOSED state, delete the TCB, and return" */
            conn_closed(c, SF_CAUSE_RST);
            break;
        }
        return;
    }

    /* "fourth, check the SYN bit": RFC 5961 §4.2: "If the SYN bit is set, irrespective of
     * the sequence number, TCP MUST send an ACK (also referred to as challenge ACK) to the
     * remote peer ... After sending the acknowledgment, TCP MUST drop the unacceptable
     * segment and stop processing further." */
    if (s->flags & TH_SYN) {
        if (c->state == SF_SYN_RECEIVED && (c->flags & F_PASSIVE)) {
            /* RFC 9293: "SYN-RECEIVED STATE: If the connection was initiated with a passive
             * OPEN, then return this connection to the LISTEN state and return": the
             * listener forgets the embryonic connection (RFC 5961 §4 is for synchronized
             * states, which SYN-RECEIVED is not). */
            conn_closed(c, SF_CAUSE_SYN);
            return;
        }
        send_challenge_ack(c);
        return;
    }

    /* "fifth check the ACK field: if the ACK bit is off, drop the segment and return" */
    if (!(s->flags & TH_ACK))
        return;
    int fin_was_acked = fin_acked(c);
    if (!ack_step(c, s))
        return;
    int acked_our_fin = !fin_was_acked && fin_acked(c);

    /* "sixth, check the URG bit": urgent data is delivered in line; the pointer is not
     * reported (RFC 6093 advises applications not to use it). */

    if (s->len && !data_step(c, s))
        return;
    if (s->flags & TH_FIN)
        fin_step(c, s, acked_our_fin);
    if (c->state == SF_CLOSED || (c->flags & F_TW_HANDOFF))
        return;
    tcp_output(c);
}
