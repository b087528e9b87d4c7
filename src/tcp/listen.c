/* LISTEN (RFC 9293 §3.10.7.2): the SYN queue of embryonic connections, the accept queue of
 * established ones, and syncookies.
 *
 * Syncookies (Bernstein; Linux's tcp_syncookies): when the SYN queue is full (syncookies = 1)
 * or always (2), the SYN-ACK carries all the state the connection needs in its sequence
 * number, and nothing is kept. The cookie is
 *     bits 31..27  a 64-second counter (mod 32): cookies live for two periods
 *     bits 26..24  an index into a table of MSS values (the largest not above the peer's)
 *     bits 23..0   a SipHash MAC of the 4-tuple, the peer's ISN and the counter
 * When the peer offered timestamps, the low six bits of our TSval carry its window scale
 * (4 bits, 15 = none) and SACK-permitted (1 bit); its ACK echoes them in TSecr. Without
 * timestamps a cookie connection runs without window scaling and SACK, as in Linux. */
#include <errno.h>
#include <string.h>

#include "tcp/internal.h"
#include "tcp/seq.h"

static const uint16_t cookie_mss[8] = {536, 1220, 1300, 1440, 1452, 1460, 4312, 8960};
#define COOKIE_PERIOD SF_SEC(64)
#define TS_OPT_BITS   6
#define TS_NO_WSCALE  0xf
#define TS_SACK_BIT   0x10

static void synq_add(struct sf_conn *l, struct sf_conn *c)
{
    struct sf_listen *q = l->listen;
    c->qprev = NULL;
    c->qnext = q->synq;
    if (q->synq)
        q->synq->qprev = c;
    q->synq = c;
    q->synq_len++;
    c->flags |= F_IN_SYNQ;
}

static void acceptq_add(struct sf_conn *l, struct sf_conn *c)
{
    struct sf_listen *q = l->listen;
    c->qnext = NULL;
    c->qprev = q->acceptq_tail;
    if (q->acceptq_tail)
        q->acceptq_tail->qnext = c;
    else
        q->acceptq_head = c;
    q->acceptq_tail = c;
    q->acceptq_len++;
    c->flags |= F_IN_ACCEPTQ;
}

void listen_unlink(struct sf_conn *c)
{
    struct sf_conn *l = c->parent;
    if (!l || !(c->flags & (F_IN_SYNQ | F_IN_ACCEPTQ)))
        return;
    fastopen_settle(c, 1);
    struct sf_listen *q = l->listen;
    if (c->flags & F_IN_SYNQ) {
        if (c->qprev)
            c->qprev->qnext = c->qnext;
        else
            q->synq = c->qnext;
        if (c->qnext)
            c->qnext->qprev = c->qprev;
        q->synq_len--;
    } else {
        if (c->qprev)
            c->qprev->qnext = c->qnext;
        else
            q->acceptq_head = c->qnext;
        if (c->qnext)
            c->qnext->qprev = c->qprev;
        else
            q->acceptq_tail = c->qprev;
        q->acceptq_len--;
    }
    c->flags &= ~(uint32_t)(F_IN_SYNQ | F_IN_ACCEPTQ);
    c->qnext = c->qprev = NULL;
    c->parent = NULL;
}

int listen_accept_room(const struct sf_conn *c)
{
    const struct sf_listen *q = c->parent->listen;
    return q->acceptq_len < q->backlog;
}

void listen_established(struct sf_conn *c)
{
    struct sf_conn *l = c->parent;
    if (!l)
        return;
    listen_unlink(c);
    c->parent = l;
    acceptq_add(l, c);
    conn_event(l, SF_EV_ACCEPT);
}

/* A connection created for a listener, before any state of its own. */
static struct sf_conn *passive_conn(struct sf_conn *l, const struct sf_seg *s, uint32_t iss)
{
    struct sf_engine *e = l->e;
    struct sf_conn *c = conn_alloc(e);
    if (!c) {
        e->st.alloc_fails++;
        return NULL;
    }
    /* The listener's profile, and options set on the listener, carry over, as accept()
     * does with sockets. */
    conn_use_profile(c, l->prof);
    c->flags |= F_PASSIVE | (l->flags & (F_NODELAY | F_KEEPALIVE));
    c->keepidle_s = l->keepidle_s;
    c->keepintvl_s = l->keepintvl_s;
    c->keepcnt = l->keepcnt;
    c->user_timeout_ms = l->user_timeout_ms;
    c->time_wait_ms = l->time_wait_ms;
    c->rcvbuf_size = l->rcvbuf_size;
    c->rcv.wscale = offered_wscale(ccfg(c), c->rcvbuf_size);
    c->sndbuf_size = l->sndbuf_size;
    c->linger = l->linger;
    c->rcv.mss = l->rcv.mss;
    c->handler = l->handler;
    c->user = l->user;

    c->t = s->t;
    conn_fit_family(c);
    c->parent = l;
    c->ts_offset = ts_offset_for(e, &c->t);
    c->snd.iss = iss;
    c->snd.una = c->snd.nxt = c->snd.max = iss;
    c->snd.buf_seq = iss + 1;
    c->snd.sml = iss;
    c->rcv.irs = s->seq;
    c->rcv.nxt = s->seq + 1;
    c->rcv.last_ack = c->rcv.nxt;
    c->last_rx = e->now;
    port_ref(e, c->t.lport, +1);
    c->flags |= F_BOUND;
    table_insert(e, c);
    /* The RFC's picture: the listener's TCB becomes this connection. The trace shows
     * LISTEN -> SYN_RECEIVED for it. */
    e->st.states[SF_CLOSED]--;
    e->st.states[SF_LISTEN]++;
    c->state = SF_LISTEN;
    e->st.passive_opens++;
    return c;
}

static uint32_t cookie_mac(struct sf_engine *e, const struct sf_tuple *t, uint32_t peer_isn,
                           uint32_t counter)
{
    uint8_t in[48];
    size_t n = tuple_key(t, in);
    memcpy(in + n, &peer_isn, 4);
    memcpy(in + n + 4, &counter, 4);
    return (uint32_t)sf_siphash(&e->key_cookie, in, n + 8);
}

static uint32_t cookie_counter(const struct sf_engine *e)
{
    return (uint32_t)(e->now / COOKIE_PERIOD);
}

static void send_cookie_synack(struct sf_conn *l, const struct sf_seg *s)
{
    struct sf_engine *e = l->e;
    const struct sf_tcp_config *cfg = ccfg(l);
    uint16_t peer_mss =
        (s->opt.has & OPT_MSS) ? s->opt.mss : (s->t.laddr.family == SF_AF_INET6 ? 1220 : 536);
    unsigned idx = 0;
    for (unsigned i = 0; i < 8; i++)
        if (cookie_mss[i] <= peer_mss)
            idx = i;
    uint32_t counter = cookie_counter(e);
    uint32_t cookie = (counter & 31u) << 27 | (uint32_t)idx << 24 |
                      (cookie_mac(e, &s->t, s->seq, counter) & 0xffffffu);

    struct sf_seg_out o;
    memset(&o, 0, sizeof o);
    o.t = s->t;
    o.seq = cookie;
    o.ack = s->seq + 1;
    o.flags = TH_SYN | TH_ACK;
    o.ip_id = e->ip_id++;
    o.wnd = (uint16_t)(l->rcvbuf_size < 65535 ? l->rcvbuf_size : 65535);
    o.opt.has = OPT_MSS;
    /* the listener's MSS is for IPv4: 20 bytes less fit an IPv6 packet of the same size */
    o.opt.mss = s->t.laddr.family == SF_AF_INET6 && l->rcv.mss > 108 ? l->rcv.mss - 20 : l->rcv.mss;
    if (cfg->timestamps && (s->opt.has & OPT_TS)) {
        uint32_t ts = (uint32_t)((e->now - e->epoch) / 1000u) + ts_offset_for(e, &s->t);
        uint32_t bits =
            (cfg->window_scaling && (s->opt.has & OPT_WSCALE)) ? s->opt.wscale : TS_NO_WSCALE;
        if (cfg->sack && (s->opt.has & OPT_SACK_OK))
            bits |= TS_SACK_BIT;
        uint32_t tsval = (ts & ~((1u << TS_OPT_BITS) - 1)) | bits;
        if (seq_gt(tsval, ts))
            tsval -= 1u << TS_OPT_BITS; /* never ahead of our clock */
        o.opt.has |= OPT_TS;
        o.opt.tsval = tsval;
        o.opt.tsecr = s->opt.tsval;
        if ((bits & 0xf) != TS_NO_WSCALE) {
            o.opt.has |= OPT_WSCALE;
            o.opt.wscale = offered_wscale(cfg, l->rcvbuf_size);
        }
        if (bits & TS_SACK_BIT)
            o.opt.has |= OPT_SACK_OK;
    }
    e->st.syncookies_sent++;
    segment_out(e, &o, NULL, 0, NULL, 0);
}

/* Whether the ACK carries a cookie of ours, for its 4-tuple and the peer's ISN, less than
 * two periods old. */
static int cookie_valid(struct sf_engine *e, const struct sf_seg *s)
{
    uint32_t cookie = s->ack - 1;
    uint32_t now = cookie_counter(e);
    uint32_t age = (now - (cookie >> 27)) & 31u;
    return age <= 1 &&
           (cookie_mac(e, &s->t, s->seq - 1, now - age) & 0xffffffu) == (cookie & 0xffffffu);
}

/* An ACK for a listener: a valid cookie creates the connection. Returns 1 if it did. */
static int cookie_ack(struct sf_conn *l, struct sf_seg *s)
{
    struct sf_engine *e = l->e;
    uint32_t cookie = s->ack - 1;
    uint32_t peer_isn = s->seq - 1;
    if (!cookie_valid(e, s)) {
        e->st.syncookies_failed++;
        return 0;
    }
    if (l->listen->acceptq_len >= l->listen->backlog) {
        e->st.listen_overflows++;
        return 1; /* valid, but no room: drop it; the peer retransmits its data or ACK */
    }
    struct sf_seg syn = *s;
    syn.seq = peer_isn;
    struct sf_conn *c = passive_conn(l, &syn, cookie);
    if (!c)
        return 1;
    c->flags |= F_COOKIE;
    synq_add(l, c);
    c->snd.nxt = c->snd.max = cookie + 1;
    /* The window the stateless SYN-ACK advertised is ours to honour (send_cookie_synack). */
    c->rcv.adv = c->rcv.nxt + (l->rcvbuf_size < 65535 ? l->rcvbuf_size : 65535);
    /* Options come back from the cookie and the echoed timestamp. */
    struct sf_seg opts;
    memset(&opts, 0, sizeof opts);
    opts.opt.has = OPT_MSS;
    opts.opt.mss = cookie_mss[(cookie >> 24) & 7];
    if ((s->opt.has & OPT_TS) && s->opt.tsecr && ccfg(l)->timestamps) {
        uint32_t bits = s->opt.tsecr & ((1u << TS_OPT_BITS) - 1);
        opts.opt.has |= OPT_TS;
        opts.opt.tsval = s->opt.tsval;
        if ((bits & 0xf) != TS_NO_WSCALE) {
            opts.opt.has |= OPT_WSCALE;
            opts.opt.wscale = (uint8_t)(bits & 0xf);
        }
        if (bits & TS_SACK_BIT)
            opts.opt.has |= OPT_SACK_OK;
    }
    negotiate_syn_options(c, &opts);
    c->snd.wnd = s->wnd; /* replaced, scaled, by the ACK processing below */
    c->snd.wl1 = s->seq - 1;
    c->snd.wl2 = s->ack;
    cc_init(c);
    e->st.syncookies_ok++;
    set_state(c, SF_SYN_RECEIVED, SF_CAUSE_COOKIE_ACK);
    input_synchronized(c, s);
    return 1;
}

/* An embryonic connection meets an ACK it cannot accept that carries a valid cookie: the
 * peer's first SYN got a cookie (the SYN queue was full), and its retransmission, the queue
 * having room by then, made this connection with an ISN of its own. The peer is established
 * on the cookie's numbers; the RST of RFC 9293's SYN-RECEIVED check would reset a good
 * connection (a slow round trip under a SYN flood is enough). As Linux (tcp_check_req hands
 * the ACK to the listener, whose cookie check takes it), the cookie wins: the embryo goes and
 * the cookie makes the connection. Returns 1 if it did (or dropped the ACK for want of room,
 * as cookie_ack does). */
int listen_cookie_supersedes(struct sf_conn *c, const struct sf_seg *s)
{
    struct sf_conn *l = c->parent;
    if (!(c->flags & F_PASSIVE) || (c->flags & (F_TFO | F_COOKIE)) || !l || l->state != SF_LISTEN ||
        (s->flags & (TH_SYN | TH_RST)) || !ccfg(l)->syncookies || s->seq - 1 != c->rcv.irs ||
        !cookie_valid(c->e, s))
        return 0;
    conn_closed(c, SF_CAUSE_COOKIE_ACK);
    struct sf_seg ack = *s; /* processed on as the new connection's (input_synchronized) */
    return cookie_ack(l, &ack);
}

/* RFC 7413 §4.2.2: the data of a SYN with a valid cookie is the application's at once, and
 * the connection with it: the child goes on the accept queue in SYN-RECEIVED, as in Linux,
 * and may send before the handshake completes (output.c). */
static void fastopen_accept(struct sf_conn *l, struct sf_conn *c, const struct sf_seg *s)
{
    uint32_t n = s->len;
    if (n && conn_ensure_rcvbuf(c) == 0) {
        struct sf_rcvbuf *b = c->rcv.buf;
        if (n > rcvbuf_space(b))
            n = rcvbuf_space(b); /* the rest is not acknowledged: the client sends it again */
        int stored;
        rcvbuf_store(b, 0, s->data, n, &stored);
        c->rcv.nxt += n;
        c->bytes_received += n;
        c->rcv.seen_mss = n < c->rcv.mss ? n : c->rcv.mss;
        if (n)
            c->tfo_client |= TFOC_ACKED; /* its SYN-ACK acknowledges SYN data (tcpi_options) */
    }
    /* from the SYN queue to the accept queue: still pending for the listener's count */
    c->flags &= ~(uint32_t)F_TFO_LQ;
    listen_unlink(c);
    c->flags |= F_TFO_LQ;
    c->parent = l;
    acceptq_add(l, c);
    conn_event(l, SF_EV_ACCEPT);
}

int listen_syn_room(struct sf_conn *l)
{
    struct sf_engine *e = l->e;
    const struct sf_listen *q = l->listen;
    if (q->acceptq_len >= q->backlog) {
        e->st.listen_overflows++;
        return 0;
    }
    if (q->synq_len >= ccfg(l)->max_syn_backlog) {
        e->st.syn_backlog_drops++;
        return 0;
    }
    return 1;
}

void listen_syn(struct sf_conn *l, struct sf_seg *s, uint32_t isn)
{
    struct sf_engine *e = l->e;
    struct sf_listen *q = l->listen;
    const struct sf_tcp_config *cfg = ccfg(l);

    if (q->acceptq_len >= q->backlog) {
        /* Accept queue full: drop the SYN (the peer retries), as Linux does. */
        e->st.listen_overflows++;
        return;
    }
    if (!isn &&
        (cfg->syncookies == 2 || (cfg->syncookies == 1 && q->synq_len >= cfg->max_syn_backlog))) {
        send_cookie_synack(l, s);
        return;
    }
    if (q->synq_len >= cfg->max_syn_backlog) {
        e->st.syn_backlog_drops++;
        return;
    }
    struct sf_conn *c = passive_conn(l, s, isn ? isn : isn_generate(e, &s->t));
    if (!c)
        return;
    int tfo = fastopen_syn(l, c, s);
    synq_add(l, c);
    negotiate_syn_options(c, s);
    c->snd.wnd = s->wnd; /* the window in a SYN is not scaled */
    c->snd.max_wnd = s->wnd;
    c->snd.wl1 = s->seq;
    c->snd.wl2 = 0;
    cc_init(c);
    set_state(c, SF_SYN_RECEIVED, SF_CAUSE_SYN);
    /* Karn timing of the SYN-ACK: without timestamps, the handshake's ACK is the first RTT
     * sample (as Linux takes), instead of keeping the initial 1 s RTO until data flows. */
    c->snd.rtt_seq = c->snd.iss + 1;
    c->snd.rtt_start = e->now ? e->now : 1;
    if (tfo)
        fastopen_accept(l, c, s);
    tcp_output(c); /* the SYN-ACK, acknowledging the data of a Fast Open SYN */
}

/* §3.10.7.2 LISTEN */
void listen_input(struct sf_conn *l, struct sf_seg *s)
{
    struct sf_engine *e = l->e;
    /* "first check for a RST: An incoming RST should be ignored." */
    if (s->flags & TH_RST)
        return;
    /* "second check for an ACK: Any acknowledgment is bad if it arrives on a connection
     * still in the LISTEN state. An acceptable reset segment should be formed for any
     * arriving ACK-bearing segment. The RST should be formatted as follows:
     * <SEQ=SEG.ACK><CTL=RST>" — unless it carries one of our cookies. */
    if (s->flags & TH_ACK) {
        if (!(s->flags & TH_SYN) && ccfg(l)->syncookies && cookie_ack(l, s))
            return;
        send_rst_for(e, s);
        return;
    }
    /* "third check for a SYN" */
    if (s->flags & TH_SYN) {
        listen_syn(l, s, 0);
        return;
    }
    /* "fourth, other data or control: ... drop the segment and return." */
}

void listen_close(struct sf_conn *l)
{
    struct sf_listen *q = l->listen;
    if (!q)
        return;
    /* Embryonic connections vanish silently (their SYN-ACKs stop); established ones that
     * were never accepted are reset, as Linux does. */
    while (q->synq)
        conn_closed(q->synq, SF_CAUSE_LISTENER_CLOSED);
    while (q->acceptq_head) {
        struct sf_conn *c = q->acceptq_head;
        listen_unlink(c);
        if (c->state == SF_CLOSED)
            conn_destroy(c); /* reset while queued (engine.c): now nobody will take it */
        else
            conn_abort(c, ECONNRESET, SF_CAUSE_LISTENER_CLOSED, 1);
    }
}
