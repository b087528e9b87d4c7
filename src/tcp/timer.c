/* Connection timers. Each connection has one wheel timer set to the earliest of its deadlines
 * (retransmission/persist, delayed ACK, keepalive, FIN-WAIT-2 or LAST-ACK lifetime): arming
 * or moving a deadline is a few compares, and the wheel holds one entry per connection. */
#include <errno.h>
#include <stddef.h>

#include "tcp/internal.h"
#include "tcp/seq.h"

static uint64_t to_tick(sf_time_t t)
{
    return (t + 999u) / 1000u; /* round up: a timer never fires early */
}

static void rearm(struct sf_conn *c)
{
    sf_time_t m = 0;
    for (int i = 0; i < T_COUNT; i++)
        if (c->at[i] && (!m || c->at[i] < m))
            m = c->at[i];
    if (!m) {
        sf_wheel_del(&c->e->wheel, &c->timer);
        return;
    }
    uint64_t tick = to_tick(m);
    if (sf_timer_armed(&c->timer) && c->timer.expires == tick)
        return;
    sf_wheel_add(&c->e->wheel, &c->timer, tick);
}

void timer_set(struct sf_conn *c, enum sf_tmr which, sf_time_t at)
{
    c->at[which] = at ? at : 1;
    rearm(c);
}

void timer_clear(struct sf_conn *c, enum sf_tmr which)
{
    if (!c->at[which])
        return;
    c->at[which] = 0;
    rearm(c);
}

void timers_clear_all(struct sf_conn *c)
{
    for (int i = 0; i < T_COUNT; i++)
        c->at[i] = 0;
    sf_wheel_del(&c->e->wheel, &c->timer);
}

/* ---- RTT and RTO (RFC 6298) --------------------------------------------------------- */

void rtt_sample(struct sf_conn *c, uint32_t r)
{
    struct sf_snd *s = &c->snd;
    const struct sf_tcp_config *cfg = ccfg(c);
    if (!s->srtt) {
        /* (2.2) first measurement: SRTT <- R, RTTVAR <- R/2 */
        s->srtt = r ? r : 1;
        s->rttvar = r / 2;
    } else {
        /* (2.3) RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'|; SRTT <- 7/8 SRTT + 1/8 R' */
        uint32_t delta = s->srtt > r ? s->srtt - r : r - s->srtt;
        s->rttvar = (3u * s->rttvar + delta) / 4u;
        s->srtt = (7u * s->srtt + r) / 8u;
        if (!s->srtt)
            s->srtt = 1;
    }
    if (!s->min_rtt || r < s->min_rtt)
        s->min_rtt = r;
    /* RTO <- SRTT + max(G, K*RTTVAR), G = 1 ms (our clock), K = 4; then the bounds. */
    uint32_t var = 4u * s->rttvar > 1000u ? 4u * s->rttvar : 1000u;
    uint64_t rto = (uint64_t)s->srtt + var;
    if (rto < (uint64_t)cfg->rto_min_ms * 1000u)
        rto = (uint64_t)cfg->rto_min_ms * 1000u;
    if (rto > (uint64_t)cfg->rto_max_ms * 1000u)
        rto = (uint64_t)cfg->rto_max_ms * 1000u;
    s->rto = (uint32_t)rto;
}

/* RFC 6298 §5.7: "If the timer expires awaiting the ACK of a SYN segment and the TCP
 * implementation is using an RTO less than 3 seconds, the RTO MUST be re-initialized to 3
 * seconds when data transmission begins (i.e., after the three-way handshake completes)."
 * A retransmitted SYN or SYN-ACK gives no sample (Karn) unless timestamps do; Linux falls
 * back the same way (TCP_TIMEOUT_FALLBACK). Called once, on reaching ESTABLISHED. */
void rto_after_handshake(struct sf_conn *c)
{
    struct sf_snd *s = &c->snd;
    uint32_t fallback = SF_MS(3000);
    if (fallback > SF_MS(ccfg(c)->rto_max_ms))
        fallback = (uint32_t)SF_MS(ccfg(c)->rto_max_ms);
    if (c->retrans_segs && !s->srtt && s->rto < fallback)
        s->rto = fallback;
}

/* The RTO with exponential backoff (RFC 6298 §5.5), bounded by rto_max. */
uint32_t rto_current(const struct sf_conn *c)
{
    uint64_t max = (uint64_t)ccfg(c)->rto_max_ms * 1000u;
    uint64_t rto = (uint64_t)c->snd.rto << (c->snd.backoff < 32 ? c->snd.backoff : 32);
    return (uint32_t)(rto > max ? max : rto);
}

/* ---- handlers ------------------------------------------------------------------------- */

static void on_rtx_persist(struct sf_conn *c)
{
    struct sf_engine *e = c->e;
    struct sf_snd *s = &c->snd;
    if (seq_gt(s->una + s->wnd, s->nxt)) {
        /* The window is open but below one segment: the override timeout (RFC 9293
         * §3.8.6.2.1) sends what fits rather than wait for an update that may be lost. */
        c->flags &= ~(uint32_t)F_PERSIST;
        tcp_output_override(c);
        return;
    }
    /* RFC 1122 §4.2.2.17: probe for as long as the peer answers; give up only when probes
     * go unanswered as long as retransmissions would. */
    if (++c->snd.probes > ccfg(c)->retries2) {
        e->st.retrans_timeouts++;
        conn_abort(c, ETIMEDOUT, SF_CAUSE_RETRANS_TIMEOUT, 0);
        return;
    }
    send_window_probe(c);
    if (c->snd.backoff < 31)
        c->snd.backoff++;
    timer_set(c, T_RTX, e->now + rto_current(c));
}

static void on_rtx(struct sf_conn *c)
{
    struct sf_engine *e = c->e;
    struct sf_snd *s = &c->snd;

    if (c->flags & F_PERSIST) {
        on_rtx_persist(c);
        return;
    }
    if (c->state == SF_SYN_SENT || c->state == SF_SYN_RECEIVED) {
        uint32_t limit = c->state == SF_SYN_SENT ? ccfg(c)->syn_retries : ccfg(c)->synack_retries;
        sf_time_t until = c->connect_deadline;
        if (s->backoff >= limit || (until && e->now >= until)) {
            if (c->state == SF_SYN_SENT) {
                e->st.attempt_fails++;
                fastopen_syn_timeout(c); /* RFC 7413 §4.1.3.1: no answer at all */
            }
            conn_abort(c, ETIMEDOUT, SF_CAUSE_SYN_TIMEOUT, 0);
            return;
        }
        s->backoff++;
        s->rtt_start = 0; /* Karn: no sample from a retransmitted SYN */
        s->nxt = s->iss;
        timer_clear(c, T_RTX);
        send_syn(c); /* arms T_RTX, no later than the deadline */
        return;
    }
    if (s->una == s->max)
        return;
    if (c->user_timeout_ms && s->una_since && e->now - s->una_since >= SF_MS(c->user_timeout_ms)) {
        e->st.user_timeouts++;
        conn_abort(c, ETIMEDOUT, SF_CAUSE_USER_TIMEOUT, 0);
        return;
    }
    if (s->backoff >= ccfg(c)->retries2) {
        e->st.retrans_timeouts++;
        conn_abort(c, ETIMEDOUT, SF_CAUSE_RETRANS_TIMEOUT, 0);
        return;
    }
    /* RFC 6298 §5.4-5.6 and RFC 5681 §3.1: retransmit the earliest segment, back off, fall
     * back to slow start from one segment, and go back to SND.UNA (go-back-N as ACKs
     * return). */
    e->st.rto_expirations++;
    cc_on_rto(c);
    s->backoff++;

    s->rtt_start = 0;
    s->nxt = s->una;
    timer_clear(c, T_RTX);
    tcp_output(c);
    if (!c->at[T_RTX] && c->state != SF_CLOSED)
        timer_set(c, T_RTX, e->now + rto_current(c));
    if (c->user_timeout_ms && s->una_since) {
        sf_time_t limit = s->una_since + SF_MS(c->user_timeout_ms);
        if (c->at[T_RTX] > limit)
            timer_set(c, T_RTX, limit);
    }
}

static void on_delack(struct sf_conn *c)
{
    if (c->rcv.last_ack != c->rcv.nxt || (c->flags & F_ACK_NOW))
        send_ack(c);
}

void keepalive_reset(struct sf_conn *c)
{
    c->last_rx = c->e->now;
    c->ka_probes = 0;
    if ((c->flags & F_KEEPALIVE) && !c->at[T_KEEPALIVE])
        timer_set(c, T_KEEPALIVE, c->e->now + SF_SEC(c->keepidle_s));
}

static void on_keepalive(struct sf_conn *c)
{
    struct sf_engine *e = c->e;
    if (!(c->flags & F_KEEPALIVE))
        return;
    if (c->state != SF_ESTABLISHED && c->state != SF_CLOSE_WAIT && c->state != SF_FIN_WAIT_2)
        return;
    /* Data in flight or waiting: retransmission decides liveness, not keepalive. */
    uint32_t queued = c->snd.buf ? c->snd.buf->len : 0;
    if (c->snd.una != c->snd.max || queued) {
        timer_set(c, T_KEEPALIVE, e->now + SF_SEC(c->keepidle_s));
        return;
    }
    if (c->ka_probes == 0 && e->now - c->last_rx < SF_SEC(c->keepidle_s)) {
        timer_set(c, T_KEEPALIVE, c->last_rx + SF_SEC(c->keepidle_s));
        return;
    }
    if (c->ka_probes >= c->keepcnt) {
        /* Linux resets the connection after the last unanswered probe. */
        e->st.keepalive_timeouts++;
        conn_abort(c, ETIMEDOUT, SF_CAUSE_KEEPALIVE_TIMEOUT, 1);
        return;
    }
    send_keepalive_probe(c);
    c->ka_probes++;
    timer_set(c, T_KEEPALIVE, e->now + SF_SEC(c->keepintvl_s));
}

static void on_close_timer(struct sf_conn *c)
{
    struct sf_engine *e = c->e;
    if (c->state == SF_FIN_WAIT_2 && (c->flags & F_ORPHAN)) {
        /* tcp_fin_timeout: nobody will read this connection, and the peer never sent its
         * FIN. Linux resets it. */
        e->st.fin_wait2_timeouts++;
        send_rst_conn(c);
        conn_closed(c, SF_CAUSE_FIN_WAIT2_TIMEOUT);
    } else if (c->state == SF_LAST_ACK) {
        e->st.last_ack_timeouts++;
        send_rst_conn(c);
        conn_closed(c, SF_CAUSE_LAST_ACK_TIMEOUT);
    }
}

void timer_fire(struct sf_timer *t, void *arg)
{
    (void)arg;
    struct sf_conn *c = (struct sf_conn *)((char *)t - offsetof(struct sf_conn, timer));
    struct sf_engine *e = c->e;
    static void (*const handlers[T_COUNT])(struct sf_conn *) = {
        [T_RTX] = on_rtx,
        [T_DELACK] = on_delack,
        [T_KEEPALIVE] = on_keepalive,
        [T_CLOSE] = on_close_timer,
    };
    /* Delayed ACK first: a retransmission sent in the same tick carries the ACK anyway. */
    static const enum sf_tmr order[T_COUNT] = {T_DELACK, T_RTX, T_KEEPALIVE, T_CLOSE};
    for (int i = 0; i < T_COUNT; i++) {
        enum sf_tmr w = order[i];
        if (!c->at[w] || c->at[w] > e->now)
            continue;
        c->at[w] = 0;
        handlers[w](c);
        if (c->state == SF_CLOSED || (c->flags & (F_DEAD | F_TW_HANDOFF)))
            return;
    }
    rearm(c);
}
