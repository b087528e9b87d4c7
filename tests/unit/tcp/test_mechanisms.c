/* The engine's mechanisms one at a time, with explicit times and exact segments: retransmission
 * and its limits, persist, keepalive, syncookies, Nagle, SACK, fast retransmit, TIME-WAIT
 * reopen and cap, RFC 5961 rate limiting, PAWS, and the RST-on-close rules. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "fixture.h"
#include "net/checksum.h"

static const char blob[4000] = {7};

static void plain(struct sf_tcp_config *c)
{
    c->timestamps = 0;
    c->sack = 0;
    c->window_scaling = 0;
}

static struct sf_engine_stats stats(struct fx *f)
{
    struct sf_engine_stats st;
    sf_engine_stats(f->e, &st);
    return st;
}

/* SYN at 0, then 1, 2, 4, 8, 16, 32 s apart (syn_retries 6), then ETIMEDOUT at +64 s. */
static void syn_retransmission_and_limit(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    f->conn = sf_socket(f->e);
    struct sf_endpoint ep = {.addr = sf_addr_v4(192, 0, 2, 1), .port = 40000};
    assert_int_equal(sf_connect(f->conn, &ep), -EINPROGRESS);
    fx_out(f, TH_SYN, 0, 0, 0);
    static const uint32_t gaps[] = {1000, 2000, 4000, 8000, 16000, 32000};
    for (unsigned i = 0; i < 6; i++) {
        fx_advance(f, gaps[i] - 1);
        fx_none(f);
        fx_advance(f, 1);
        fx_out(f, TH_SYN, 0, 0, 0);
    }
    fx_advance(f, 63999);
    assert_int_equal(fx_state(f), SF_SYN_SENT);
    fx_advance(f, 1);
    fx_none(f);
    assert_int_equal(fx_state(f), SF_CLOSED);
    assert_int_equal(sf_take_error(f->conn), ETIMEDOUT);
    assert_int_equal(fx_last_transition(f)->cause, SF_CAUSE_SYN_TIMEOUT);
    fx_free(f);
}

/* Both sides send SYN: SYN_SENT → SYN_RECEIVED (SYN-ACK with our ISS) → ESTABLISHED. */
static void simultaneous_open(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    f->conn = sf_socket(f->e);
    struct sf_endpoint ep = {.addr = sf_addr_v4(192, 0, 2, 1), .port = 40000};
    sf_connect(f->conn, &ep);
    const struct sf_seg *syn = fx_out(f, TH_SYN, 0, 0, 0);
    f->local_port = syn->t.rport;
    fx_in(f, TH_SYN, 0, 0, 65535, NULL, NULL, 0);
    fx_out(f, TH_SYN | TH_ACK, 0, 1, 0);
    assert_int_equal(fx_state(f), SF_SYN_RECEIVED);
    fx_in(f, TH_SYN | TH_ACK, 0, 1, 65535, NULL, NULL, 0);
    assert_int_equal(fx_state(f), SF_ESTABLISHED);
    fx_free(f);
}

/* A zero window: nothing is sent; the persist timer probes with one byte, backing off; the
 * window opens and the rest flows. */
static void zero_window_persist(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    fx_passive_open(f);
    fx_in(f, TH_ACK, 1, 1, 0, NULL, NULL, 0); /* window closes */
    assert_int_equal(sf_send(f->conn, blob, 100), 100);
    fx_none(f);
    fx_advance(f, 200); /* the RTO: the handshake's RTT sample is 0, so rto_min */
    fx_out(f, TH_ACK, 1, 1, 1);
    fx_in(f, TH_ACK, 1, 1, 0, NULL, NULL, 0); /* probe not accepted, window still 0 */
    fx_advance(f, 399);
    fx_none(f);
    fx_advance(f, 1);
    fx_out(f, TH_ACK, 1, 1, 1);                  /* the same byte again, after a doubled interval */
    fx_in(f, TH_ACK, 1, 2, 1000, NULL, NULL, 0); /* accepted, window opens */
    fx_out(f, TH_ACK | TH_PSH, 2, 1, 99);
    fx_none(f);
    assert_int_equal(stats(f).zero_window_probes, 2);
    fx_free(f);
}

/* Issue 11: a window below one segment, its update lost. The peer takes two full segments,
 * then acknowledges them with a 1000-byte window, less than the 1080 bytes left and than
 * one MSS: sender SWS avoidance holds them, nothing is in flight, and the peer's update
 * never comes. The persist timer's override (RFC 9293 §3.8.6.2.1) sends what fits one RTO
 * later; without it the connection waited forever. */
static void small_window_override(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    fx_passive_open(f);
    fx_in(f, TH_ACK, 1, 1, 2920, NULL, NULL, 0);
    assert_int_equal(sf_send(f->conn, blob, 4000), 4000);
    fx_out(f, TH_ACK, 1, 1, 1460);
    fx_out(f, TH_ACK, 1461, 1, 1460);
    fx_none(f);
    fx_in(f, TH_ACK, 1, 2921, 1000, NULL, NULL, 0);
    fx_none(f);
    fx_advance(f, 199);
    fx_none(f);
    fx_advance(f, 1);
    fx_out(f, TH_ACK, 2921, 1, 1000); /* what the window allows, not a one-octet probe */
    fx_none(f);
    fx_in(f, TH_ACK, 1, 3921, 1000, NULL, NULL, 0);
    fx_out(f, TH_ACK | TH_PSH, 3921, 1, 80);
    fx_in(f, TH_ACK, 1, 4001, 1000, NULL, NULL, 0);
    fx_advance(f, 60000);
    fx_none(f);
    assert_int_equal(stats(f).zero_window_probes, 0);
    fx_free(f);
}

/* An idle connection holds no buffer: the receive buffer goes once read empty, the send
 * buffer once every byte is acknowledged; both come back with the next byte. */
static void idle_connection_holds_no_buffer(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    fx_passive_open(f);
    assert_int_equal(stats(f).bufs_live, 0);
    fx_in(f, TH_ACK | TH_PSH, 1, 1, 65535, NULL, blob, 100);
    assert_int_equal(stats(f).bufs_live, 1);
    char got[200];
    assert_int_equal(sf_recv(f->conn, got, sizeof got), 100);
    assert_int_equal(stats(f).bufs_live, 0);
    assert_int_equal(sf_send(f->conn, blob, 300), 300);
    fx_out(f, TH_ACK | TH_PSH, 1, 101, 300);
    assert_int_equal(stats(f).bufs_live, 1);
    fx_in(f, TH_ACK, 101, 301, 65535, NULL, NULL, 0);
    assert_int_equal(stats(f).bufs_live, 0);
    assert_int_equal(sf_send(f->conn, blob, 10), 10); /* and back again */
    fx_out(f, TH_ACK | TH_PSH, 301, 101, 10);
    assert_int_equal(fx_state(f), SF_ESTABLISHED);
    fx_free(f);
}

/* Our SYN offered its window before RCV.NXT was known; the right edge it promised is
 * counted from the peer's ISN once the SYN-ACK brings it. With an ISN half the sequence
 * space away from zero, an edge left where it was made every later window 65535 << 7: an
 * 8 MB window over a 128 KiB buffer (found by the balancer on the stack transport). */
static void active_open_window_follows_the_peers_isn(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(NULL); /* the defaults: scaling on, shift 7, 128 KiB */
    f->conn = sf_socket(f->e);
    struct sf_endpoint ep = {.addr = sf_addr_v4(192, 0, 2, 1), .port = 40000};
    assert_int_equal(sf_connect(f->conn, &ep), -EINPROGRESS);
    const struct sf_seg *syn = fx_out(f, TH_SYN, 0, 0, 0);
    assert_int_equal(syn->wnd, 65535); /* never scaled in a SYN */
    f->local_port = syn->t.rport;
    struct sf_tcp_opts o = {.has = OPT_MSS | OPT_WSCALE, .mss = 1460, .wscale = 10};
    uint32_t isn = 0x90000000u;
    fx_in_abs(f, TH_SYN | TH_ACK, isn, syn->seq + 1, 65535, &o, NULL, 0);
    const struct sf_seg *a = &f->out[f->next++].seg;
    assert_int_equal(a->flags, TH_ACK);
    assert_int_equal(a->wnd, 131072 >> 7);
    struct sf_conn_info in;
    sf_info(f->conn, &in);
    assert_int_equal(in.rcv_wnd, 131072);
    fx_free(f);
}

static void keepalive_cfg(struct sf_tcp_config *c)
{
    plain(c);
    c->keepalive = 1;
    c->keepalive_time = 10;
    c->keepalive_intvl = 2;
    c->keepalive_probes = 3;
}

/* Idle 10 s → probe <SEQ=SND.NXT-1>; an answer resets; unanswered probes 2 s apart; after the
 * third, RST and ETIMEDOUT. */
static void keepalive_probes_and_reset(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(keepalive_cfg);
    fx_passive_open(f);
    fx_advance(f, 9999);
    fx_none(f);
    fx_advance(f, 1);
    fx_out(f, TH_ACK, 0, 1, 0);                   /* SND.NXT - 1 */
    fx_in(f, TH_ACK, 1, 1, 65535, NULL, NULL, 0); /* answered */
    fx_advance(f, 9999);
    fx_none(f);
    fx_advance(f, 1);
    fx_out(f, TH_ACK, 0, 1, 0);
    fx_advance(f, 2000);
    fx_out(f, TH_ACK, 0, 1, 0);
    fx_advance(f, 2000);
    fx_out(f, TH_ACK, 0, 1, 0);
    fx_advance(f, 1999);
    fx_none(f);
    fx_advance(f, 1);
    fx_out(f, TH_RST | TH_ACK, 1, 1, 0);
    assert_int_equal(fx_state(f), SF_CLOSED);
    assert_int_equal(sf_take_error(f->conn), ETIMEDOUT);
    assert_int_equal(fx_last_transition(f)->cause, SF_CAUSE_KEEPALIVE_TIMEOUT);
    fx_free(f);
}

static void cookies_always(struct sf_tcp_config *c)
{
    c->syncookies = 2;
    c->sack = 1;
    c->timestamps = 1;
    c->window_scaling = 1;
}

/* syncookies = 2: the SYN-ACK keeps no state; the ACK carrying the cookie creates the
 * connection with the MSS, window scale and SACK the SYN offered. A forged ACK gets RST. */
static void syncookies(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(cookies_always);
    fx_listen(f);
    struct sf_tcp_opts o = {.has = OPT_MSS | OPT_WSCALE | OPT_SACK_OK | OPT_TS,
                            .mss = 1460,
                            .wscale = 6,
                            .tsval = 5000};
    fx_in(f, TH_SYN, 0, 0, 65535, &o, NULL, 0);
    const struct sf_seg *sa = fx_out(f, TH_SYN | TH_ACK, 0, 1, 0);
    assert_true(sa->opt.has & OPT_TS);
    assert_true(sa->opt.has & OPT_WSCALE);
    assert_true(sa->opt.has & OPT_SACK_OK);
    assert_int_equal(stats(f).conns_live, 1); /* only the listener: no state for the SYN */
    assert_int_equal(stats(f).syncookies_sent, 1);

    struct sf_tcp_opts ts = {.has = OPT_TS, .tsval = 5001, .tsecr = sa->opt.tsval};
    fx_in(f, TH_ACK, 1, 1, 100, &ts, NULL, 0);
    int err;
    struct sf_conn *c = sf_accept(f->listener, &err);
    assert_non_null(c);
    struct sf_conn_info in;
    sf_info(c, &in);
    assert_int_equal(in.state, SF_ESTABLISHED);
    assert_int_equal(in.snd_wscale, 6);
    assert_int_equal(in.snd_wnd, 100 << 6);
    assert_true(in.sack_ok);
    assert_true(in.ts_ok);
    assert_int_equal(in.snd_mss, 1460 - 12);
    assert_int_equal(stats(f).syncookies_ok, 1);

    /* A guessed cookie is refused with RST <SEQ=SEG.ACK>. */
    f->peer_port = 40001;
    fx_in_abs(f, TH_ACK, FX_PEER_ISN + 1, 12345, 100, NULL, NULL, 0);
    const struct sf_seg *rst = &f->out[f->next++].seg;
    assert_int_equal(rst->flags, TH_RST);
    assert_int_equal(rst->seq, 12345);
    assert_int_equal(stats(f).syncookies_failed, 1);
    sf_close(c);
    fx_free(f);
}

static void cookies_keepalive(struct sf_tcp_config *c)
{
    keepalive_cfg(c);
    c->syncookies = 2;
}

/* A cookie connection the peer closed first (its FIN, ours, its last ACK: CLOSED here, its
 * TIME-WAIT there), then a late duplicate of the handshake's ACK: no connection holds the
 * 4-tuple and the cookie is still valid, so the listener makes the connection again, with the
 * same ISS and no data (Linux's cookie_v4_check does the same). Returns it, established. The
 * soak on the impaired wire met this ghost (docs/lb.md, "Soak"). */
static struct sf_conn *cookie_ghost_after_passive_close(struct fx *f)
{
    fx_listen(f);
    struct sf_tcp_opts o = {.has = OPT_MSS, .mss = 1460};
    fx_in(f, TH_SYN, 0, 0, 65535, &o, NULL, 0);
    fx_out(f, TH_SYN | TH_ACK, 0, 1, 0);
    fx_in(f, TH_ACK, 1, 1, 65535, NULL, NULL, 0); /* the handshake's ACK */
    int err;
    struct sf_conn *c = sf_accept(f->listener, &err);
    assert_non_null(c);
    fx_in(f, TH_ACK | TH_FIN, 1, 1, 65535, NULL, NULL, 0);
    fx_out(f, TH_ACK, 1, 2, 0);
    assert_int_equal(sf_send(c, blob, 10), 10); /* the answer, then our FIN */
    fx_out(f, TH_ACK | TH_PSH, 1, 2, 10);
    sf_close(c);
    fx_out(f, TH_ACK | TH_FIN, 11, 2, 0);
    fx_in(f, TH_ACK, 2, 12, 65535, NULL, NULL, 0); /* LAST-ACK → CLOSED, no TIME-WAIT here */
    assert_int_equal(stats(f).conns_live, 1);
    assert_int_equal(stats(f).syncookies_ok, 1);

    fx_in(f, TH_ACK, 1, 1, 65535, NULL, NULL, 0); /* the duplicate, late */
    fx_none(f);
    assert_int_equal(stats(f).syncookies_ok, 2);
    struct sf_conn *g = sf_accept(f->listener, &err);
    assert_non_null(g);
    struct sf_conn_info in;
    sf_info(g, &in);
    assert_int_equal(in.state, SF_ESTABLISHED);
    assert_int_equal(in.iss, f->iss); /* the cookie's, again */
    assert_int_equal(in.snd_max, f->iss + 1);
    assert_int_equal(in.rcv_nxt, FX_PEER_ISN + 1);
    return g;
}

/* The ghost's peer is the old connection's TIME-WAIT: it answers a keepalive probe with its
 * own ACK <SEQ=2><ACK=12> (Linux answers any segment outside its window so), which acknowledges
 * what the ghost never sent: answered with an ACK and not taken as news from a live peer
 * (RFC 9293 §3.10.7.4), so keepalive ends the ghost. */
static void cookie_ghost_ended_by_keepalive(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(cookies_keepalive);
    struct sf_conn *g = cookie_ghost_after_passive_close(f);
    fx_advance(f, 10000);
    fx_out(f, TH_ACK, 0, 1, 0);                    /* the probe, SND.NXT - 1 */
    fx_in(f, TH_ACK, 2, 12, 65535, NULL, NULL, 0); /* the TIME-WAIT's ACK */
    fx_out(f, TH_ACK, 1, 1, 0);
    fx_advance(f, 2000);
    fx_out(f, TH_ACK, 0, 1, 0);
    fx_advance(f, 2000);
    fx_out(f, TH_ACK, 0, 1, 0);
    fx_advance(f, 2000);
    fx_out(f, TH_RST | TH_ACK, 1, 1, 0);
    assert_int_equal(sf_take_error(g), ETIMEDOUT);
    sf_close(g);
    fx_free(f);
}

/* With our FIN outstanding (the balancer relays the server's FIN to the ghost's client),
 * retransmission decides liveness, not keepalive: the TIME-WAIT answers every FIN with its
 * out-of-window ACK, and the FIN goes on being retransmitted (retries2 = 15, minutes), so
 * only the application's own idle timeout ends the ghost. */
static void cookie_ghost_fin_outlives_keepalive(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(cookies_keepalive);
    struct sf_conn *g = cookie_ghost_after_passive_close(f);
    assert_int_equal(sf_shutdown(g, SF_SHUT_WR), 0);
    fx_out(f, TH_ACK | TH_FIN, 1, 1, 0);
    fx_in(f, TH_ACK, 2, 12, 65535, NULL, NULL, 0); /* the TIME-WAIT's ACK */
    fx_out(f, TH_ACK, 2, 1, 0);
    for (int i = 0; i < 40; i++) {
        fx_advance(f, 1000);
        while (fx_pending(f)) {
            const struct sf_seg *s = fx_out(f, TH_ACK | TH_FIN, 1, 1, 0);
            (void)s;
            fx_in(f, TH_ACK, 2, 12, 65535, NULL, NULL, 0);
            fx_out(f, TH_ACK, 2, 1, 0);
        }
    }
    struct sf_conn_info in;
    sf_info(g, &in);
    assert_int_equal(in.state, SF_FIN_WAIT_1);
    assert_int_equal(sf_take_error(g), 0);
    sf_abort(g);
    fx_free(f);
}

/* RFC 2525 §2.17: close() with unread data sends RST, not FIN. */
static void close_with_unread_data_resets(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    fx_passive_open(f);
    fx_in(f, TH_ACK, 1, 1, 65535, NULL, blob, 10);
    sf_close(f->conn);
    fx_out(f, TH_RST | TH_ACK, 1, 11, 0);
    assert_int_equal(fx_last_transition(f)->cause, SF_CAUSE_UNREAD_CLOSE);
    assert_int_equal(stats(f).conns_live, 1);
    fx_free(f);
}

static void linger_zero_resets(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    fx_passive_open(f);
    assert_int_equal(sf_setopt(f->conn, SF_OPT_LINGER, 0), 0);
    sf_close(f->conn);
    fx_out(f, TH_RST | TH_ACK, 1, 1, 0);
    assert_int_equal(fx_last_transition(f)->cause, SF_CAUSE_LINGER0);
    assert_int_equal(stats(f).tw_live, 0); /* no TIME-WAIT after an RST */
    fx_free(f);
}

static void fin2_short(struct sf_tcp_config *c)
{
    plain(c);
    c->fin_wait2_timeout_ms = 5000;
}

/* An orphan in FIN-WAIT-2 whose peer never closes is reset after fin_wait2_timeout_ms. */
static void orphan_fin_wait2_timeout(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(fin2_short);
    fx_passive_open(f);
    sf_close(f->conn);
    fx_out(f, TH_ACK | TH_FIN, 1, 1, 0);
    fx_in(f, TH_ACK, 1, 2, 65535, NULL, NULL, 0);
    assert_int_equal(fx_last_transition(f)->to, SF_FIN_WAIT_2);
    fx_advance(f, 4999);
    fx_none(f);
    fx_advance(f, 1);
    fx_out(f, TH_RST | TH_ACK, 2, 1, 0);
    assert_int_equal(fx_last_transition(f)->cause, SF_CAUSE_FIN_WAIT2_TIMEOUT);
    assert_int_equal(stats(f).conns_live, 1);
    fx_free(f);
}

static void fin2_zero(struct sf_tcp_config *c)
{
    plain(c);
    c->fin_wait2_timeout_ms = 0;
}

/* fin_wait2_timeout_ms 0 is a lifetime of zero, not an unbounded one: an orphan whose peer
 * ACKs its FIN and goes silent is reset at once instead of held forever (found by the engine
 * fuzz harness, tests/fuzz/corpus/engine/regress-fin-wait2-zero). */
static void orphan_fin_wait2_zero(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(fin2_zero);
    fx_passive_open(f);
    sf_close(f->conn);
    fx_out(f, TH_ACK | TH_FIN, 1, 1, 0);
    fx_in(f, TH_ACK, 1, 2, 65535, NULL, NULL, 0);
    assert_int_equal(fx_last_transition(f)->to, SF_FIN_WAIT_2);
    fx_advance(f, 1);
    fx_out(f, TH_RST | TH_ACK, 2, 1, 0);
    assert_int_equal(fx_last_transition(f)->cause, SF_CAUSE_FIN_WAIT2_TIMEOUT);
    assert_int_equal(sf_engine_next_deadline(f->e), SF_TIME_NEVER);
    fx_free(f);
}

static void sack_on(struct sf_tcp_config *c)
{
    plain(c);
    c->sack = 1;
}

/* Out-of-order data: an immediate duplicate ACK carrying the SACK block; filling the hole
 * acknowledges everything at once. */
static void out_of_order_sack(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(sack_on);
    fx_listen(f);
    struct sf_tcp_opts o = {.has = OPT_MSS | OPT_SACK_OK, .mss = 1000};
    fx_in(f, TH_SYN, 0, 0, 65535, &o, NULL, 0);
    fx_out(f, TH_SYN | TH_ACK, 0, 1, 0);
    fx_in(f, TH_ACK, 1, 1, 65535, NULL, NULL, 0);
    int err;
    f->conn = sf_accept(f->listener, &err);
    fx_in(f, TH_ACK, 1001, 1, 65535, NULL, blob, 1000);
    const struct sf_seg *a = fx_out(f, TH_ACK, 1, 1, 0);
    assert_int_equal(a->opt.nsack, 1);
    assert_int_equal(a->opt.sack[0].start - FX_PEER_ISN, 1001);
    assert_int_equal(a->opt.sack[0].end - FX_PEER_ISN, 2001);
    fx_in(f, TH_ACK, 3001, 1, 65535, NULL, blob, 500);
    a = fx_out(f, TH_ACK, 1, 1, 0);
    assert_int_equal(a->opt.nsack, 2);
    assert_int_equal(a->opt.sack[0].start - FX_PEER_ISN, 3001); /* most recent first */
    fx_in(f, TH_ACK, 1, 1, 65535, NULL, blob, 1000);
    a = fx_out(f, TH_ACK, 1, 2001, 0);
    assert_int_equal(a->opt.nsack, 1);
    assert_int_equal(sf_readable(f->conn), 2000);
    fx_free(f);
}

/* RFC 2018 §4: the first block holds the segment that triggered the ACK, then the blocks
 * reported most recently: after 200:300, 400:500, 600:700 the order is 600 400 200, not
 * sequence order after the first; a segment joining an older block moves it to the front. */
static void sack_most_recent_first(void **unused)
{
    (void)unused;
    static const uint8_t blob[100];
    struct fx *f = fx_new(sack_on);
    fx_listen(f);
    struct sf_tcp_opts o = {.has = OPT_MSS | OPT_SACK_OK, .mss = 1000};
    fx_in(f, TH_SYN, 0, 0, 65535, &o, NULL, 0);
    fx_out(f, TH_SYN | TH_ACK, 0, 1, 0);
    fx_in(f, TH_ACK, 1, 1, 65535, NULL, NULL, 0);
    int err;
    f->conn = sf_accept(f->listener, &err);
    /* without timestamps up to 4 blocks; the last segment joins 200:300 and 400:500 */
    static const uint32_t seqs[] = {200, 400, 600, 800, 300};
    static const uint32_t want[][4][2] = {
        {{200, 300}},
        {{400, 500}, {200, 300}},
        {{600, 700}, {400, 500}, {200, 300}},
        {{800, 900}, {600, 700}, {400, 500}, {200, 300}},
        {{200, 500}, {800, 900}, {600, 700}},
    };
    static const unsigned nwant[] = {1, 2, 3, 4, 3};
    for (unsigned k = 0; k < 5; k++) {
        fx_in(f, TH_ACK, seqs[k], 1, 65535, NULL, blob, 100);
        const struct sf_seg *a = fx_out(f, TH_ACK, 1, 1, 0);
        assert_int_equal(a->opt.nsack, nwant[k]);
        for (unsigned i = 0; i < nwant[k]; i++) {
            assert_int_equal(a->opt.sack[i].start - FX_PEER_ISN, want[k][i][0]);
            assert_int_equal(a->opt.sack[i].end - FX_PEER_ISN, want[k][i][1]);
        }
    }
    fx_free(f);
}

/* IPv6 (RFC 8200): a 40-byte header with TCP as next header and the pseudo-header of §8.1
 * (addresses, 32-bit length, next header) in the TCP checksum. Built and parsed back; a
 * flipped payload bit fails the checksum, as does claiming the IPv4 family. */
static void ipv6_segment_roundtrip(void **unused)
{
    (void)unused;
    struct sf_seg_out o;
    memset(&o, 0, sizeof o);
    assert_int_equal(sf_addr_parse("2001:db8::1", &o.t.laddr), 0);
    assert_int_equal(sf_addr_parse("fd3d:fa7b:d17d::1", &o.t.raddr), 0);
    o.t.lport = 443;
    o.t.rport = 50000;
    o.seq = 1000;
    o.ack = 2000;
    o.flags = TH_ACK | TH_PSH;
    o.wnd = 512;
    o.opt.has = OPT_TS;
    o.opt.tsval = 7;
    o.opt.tsecr = 9;
    uint8_t buf[256];
    size_t n = sf_seg_build(buf, sizeof buf, &o, "hello", 5, NULL, 0);
    assert_int_equal(n, 40 + 20 + 12 + 5);
    assert_int_equal(buf[0] >> 4, 6);
    assert_int_equal(buf[6], 6);
    struct sf_seg s;
    assert_int_equal(sf_seg_parse(buf, n, &s), SEG_OK);
    assert_int_equal(s.t.laddr.family, SF_AF_INET6); /* seen from the receiver */
    assert_memory_equal(s.t.raddr.u.v6, o.t.laddr.u.v6, 16);
    assert_memory_equal(s.t.laddr.u.v6, o.t.raddr.u.v6, 16);
    assert_int_equal(s.t.rport, 443);
    assert_int_equal(s.seq, 1000);
    assert_int_equal(s.len, 5);
    assert_int_equal(s.opt.tsecr, 9);
    buf[n - 1] ^= 1;
    assert_int_equal(sf_seg_parse(buf, n, &s), SEG_BAD_CSUM);
    buf[n - 1] ^= 1;
    buf[8] ^= 0x80; /* the source address is in the pseudo-header */
    assert_int_equal(sf_seg_parse(buf, n, &s), SEG_BAD_CSUM);
    buf[8] ^= 0x80;
    buf[4] = 0xff; /* payload length beyond the packet */
    assert_int_equal(sf_seg_parse(buf, n, &s), SEG_MALFORMED);
}

/* A device that vouches for a packet's TCP checksum (SF_IN_CSUM_VALID: a TUN's DATA_VALID or
 * NEEDS_CSUM) spares the engine its pass over every byte: a wrong sum is not even seen,
 * in either family, while the IPv4 header's own checksum is still checked. */
static void csum_valid_skips_the_tcp_checksum(void **unused)
{
    (void)unused;
    static const char *const addrs[][2] = {{"10.0.0.1", "10.0.0.2"},
                                           {"2001:db8::1", "2001:db8::2"}};
    for (int v6 = 0; v6 < 2; v6++) {
        struct sf_seg_out o;
        memset(&o, 0, sizeof o);
        assert_int_equal(sf_addr_parse(addrs[v6][0], &o.t.laddr), 0);
        assert_int_equal(sf_addr_parse(addrs[v6][1], &o.t.raddr), 0);
        o.t.lport = 443;
        o.t.rport = 50000;
        o.seq = 1000;
        o.ack = 2000;
        o.flags = TH_ACK | TH_PSH;
        o.wnd = 512;
        uint8_t buf[256];
        size_t n = sf_seg_build(buf, sizeof buf, &o, "hello", 5, NULL, 0);
        assert_true(n > 0);
        buf[n - 1] ^= 1; /* the payload no longer matches its sum */
        struct sf_seg s;
        assert_int_equal(sf_seg_parse(buf, n, &s), SEG_BAD_CSUM);
        assert_int_equal(sf_seg_parse_flags(buf, n, &s, 0), SEG_BAD_CSUM);
        assert_int_equal(sf_seg_parse_flags(buf, n, &s, SF_IN_CSUM_VALID), SEG_OK);
        assert_int_equal(s.len, 5);
        assert_memory_equal(s.data, "helln", 5);
        if (!v6) {
            buf[8] ^= 1; /* the TTL: the IPv4 header's sum fails whatever the device said */
            assert_int_equal(sf_seg_parse_flags(buf, n, &s, SF_IN_CSUM_VALID), SEG_BAD_CSUM);
        }
    }
}

/* tx_csum_partial: a segment leaves with the pseudo-header's sum alone in its checksum
 * field; completed as a device completes it (the sum from the TCP header on, that field
 * included, complemented: what tun.c's complete_csum does), it is the segment built whole,
 * in either family, odd payload length included. */
static void partial_checksum_completes_to_the_whole_one(void **unused)
{
    (void)unused;
    static const char *const addrs[][2] = {{"10.0.0.1", "10.0.0.2"},
                                           {"2001:db8::1", "2001:db8::2"}};
    for (int v6 = 0; v6 < 2; v6++) {
        struct sf_seg_out o;
        memset(&o, 0, sizeof o);
        assert_int_equal(sf_addr_parse(addrs[v6][0], &o.t.laddr), 0);
        assert_int_equal(sf_addr_parse(addrs[v6][1], &o.t.raddr), 0);
        o.t.lport = 80;
        o.t.rport = 40000;
        o.seq = 0xfffffff0u;
        o.ack = 77;
        o.flags = TH_ACK;
        o.wnd = 1024;
        o.opt.has = OPT_TS;
        o.opt.tsval = 123456;
        o.opt.tsecr = 654321;
        uint8_t whole[256], part[256];
        size_t n = sf_seg_build(whole, sizeof whole, &o, "odd payload", 11, "!", 1);
        assert_int_equal(sf_seg_build_csum(part, sizeof part, &o, "odd payload", 11, "!", 1, 1), n);
        size_t ihl = v6 ? 40 : 20;
        assert_memory_not_equal(part + ihl + 16, whole + ihl + 16, 2);
        struct sf_seg s;
        assert_int_equal(sf_seg_parse(part, n, &s), SEG_BAD_CSUM); /* not whole yet */
        uint16_t c = sf_csum_fold(sf_csum_add(0, part + ihl, n - ihl));
        memcpy(part + ihl + 16, &c, 2);
        assert_memory_equal(part, whole, n);
        assert_int_equal(sf_seg_parse(part, n, &s), SEG_OK);
    }
}

/* A segment that carries SACK blocks carries that many fewer payload bytes (RFC 9293 §3.7.1):
 * with one block (12 option bytes) a full segment is 1448 bytes, so the packet stays at
 * 1500 and a path of that MTU carries it. */
static void sack_blocks_shrink_segments(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(sack_on);
    fx_listen(f);
    struct sf_tcp_opts o = {.has = OPT_MSS | OPT_SACK_OK, .mss = 1460};
    fx_in(f, TH_SYN, 0, 0, 65535, &o, NULL, 0);
    fx_out(f, TH_SYN | TH_ACK, 0, 1, 0);
    fx_in(f, TH_ACK, 1, 1, 65535, NULL, NULL, 0);
    int err;
    f->conn = sf_accept(f->listener, &err);
    fx_in(f, TH_ACK, 1001, 1, 65535, NULL, blob, 1000); /* a hole: one SACK block */
    fx_out(f, TH_ACK, 1, 1, 0);
    assert_int_equal(sf_send(f->conn, blob, 3000), 3000);
    const struct sf_seg *d = fx_out(f, TH_ACK, 1, 1, 1448);
    assert_int_equal(d->opt.nsack, 1);
    assert_int_equal(f->out[f->next - 1].len, 1500);
    fx_out(f, TH_ACK, 1449, 1, 1448);
    fx_out(f, TH_ACK | TH_PSH, 2897, 1, 104);
    fx_none(f);
    fx_free(f);
}

/* Nagle: a second small write waits for the ACK of the first; TCP_NODELAY sends it at once. */
static void nagle(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    fx_passive_open(f);
    sf_send(f->conn, blob, 10);
    fx_out(f, TH_ACK | TH_PSH, 1, 1, 10);
    sf_send(f->conn, blob, 10);
    fx_none(f);
    fx_in(f, TH_ACK, 1, 11, 65535, NULL, NULL, 0);
    fx_out(f, TH_ACK | TH_PSH, 11, 1, 10);
    sf_setopt(f->conn, SF_OPT_NODELAY, 1);
    sf_send(f->conn, blob, 10);
    fx_out(f, TH_ACK | TH_PSH, 21, 1, 10);
    fx_free(f);
}

/* A cork holds short segments (even with NODELAY) but not full ones; close() sends the held
 * tail with the FIN in one segment; removing the cork sends what it held. */
static void cork(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    fx_passive_open(f); /* peer MSS 1460 */
    sf_setopt(f->conn, SF_OPT_NODELAY, 1);
    sf_setopt(f->conn, SF_OPT_CORK, 1);
    long v = 0;
    assert_int_equal(sf_getopt(f->conn, SF_OPT_CORK, &v), 0);
    assert_int_equal(v, 1);
    sf_send(f->conn, blob, 100);
    fx_none(f);
    sf_send(f->conn, blob, 1400);
    fx_out(f, TH_ACK, 1, 1, 1460);
    fx_none(f);
    sf_setopt(f->conn, SF_OPT_CORK, 0);
    fx_out(f, TH_ACK | TH_PSH, 1461, 1, 40);
    fx_in(f, TH_ACK, 1, 1501, 65535, NULL, NULL, 0);
    fx_none(f);

    sf_setopt(f->conn, SF_OPT_CORK, 1);
    sf_send(f->conn, blob, 10);
    fx_none(f);
    sf_close(f->conn);
    fx_out(f, TH_ACK | TH_PSH | TH_FIN, 1501, 1, 10);
    fx_none(f);
    assert_int_equal(fx_state(f), SF_FIN_WAIT_1);
    fx_free(f);
}

/* Three duplicate ACKs retransmit the first unacknowledged segment at once (RFC 5681). */
static void fast_retransmit(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    fx_passive_open(f); /* peer MSS 1460 */
    sf_send(f->conn, blob, 4000);
    fx_out(f, TH_ACK, 1, 1, 1460);
    fx_out(f, TH_ACK, 1461, 1, 1460);
    fx_out(f, TH_ACK | TH_PSH, 2921, 1, 1080);
    for (int i = 0; i < 2; i++) {
        fx_in(f, TH_ACK, 1, 1, 65535, NULL, NULL, 0);
        fx_none(f);
    }
    fx_in(f, TH_ACK, 1, 1, 65535, NULL, NULL, 0);
    fx_out(f, TH_ACK, 1, 1, 1460);
    fx_in(f, TH_ACK, 1, 4001, 65535, NULL, NULL, 0);
    fx_none(f);
    struct sf_conn_info in;
    sf_info(f->conn, &in);
    assert_int_equal(in.dupacks_fast_retransmits, 1);
    assert_int_equal(in.retrans_segs, 1);
    fx_free(f);
}

/* RTO: data unanswered is retransmitted with doubling intervals; after retries2 the
 * connection ends with ETIMEDOUT. */
static void retries_short(struct sf_tcp_config *c)
{
    plain(c);
    c->retries2 = 3;
}

static void retransmission_timeout_limit(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(retries_short);
    fx_passive_open(f);
    sf_send(f->conn, blob, 100);
    fx_out(f, TH_ACK | TH_PSH, 1, 1, 100);
    uint32_t rto = 200; /* rto_min: the handshake gave an RTT sample */
    for (int i = 0; i < 3; i++) {
        fx_advance(f, rto - 1);
        fx_none(f);
        fx_advance(f, 1);
        fx_out(f, TH_ACK | TH_PSH, 1, 1, 100);
        rto *= 2;
    }
    fx_advance(f, rto);
    assert_int_equal(fx_state(f), SF_CLOSED);
    assert_int_equal(sf_take_error(f->conn), ETIMEDOUT);
    assert_int_equal(fx_last_transition(f)->cause, SF_CAUSE_RETRANS_TIMEOUT);
    fx_free(f);
}

static void to_time_wait(struct fx *f)
{
    fx_passive_open(f);
    sf_close(f->conn);
    fx_out(f, TH_ACK | TH_FIN, 1, 1, 0);
    fx_in(f, TH_ACK | TH_FIN, 1, 2, 65535, NULL, NULL, 0);
    fx_out(f, TH_ACK, 2, 2, 0);
}

/* A SYN with a higher sequence number reopens a TIME-WAIT 4-tuple (RFC 9293, RFC 6191); the
 * new ISN lies above the old connection's sequence space. An old SYN gets an ACK. */
static void time_wait_reopen(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    to_time_wait(f);
    fx_in(f, TH_SYN, 0, 0, 65535, NULL, NULL, 0); /* old: below RCV.NXT */
    fx_out(f, TH_ACK, 2, 2, 0);
    assert_int_equal(stats(f).tw_live, 1);
    fx_in(f, TH_SYN, 100000, 0, 65535, NULL, NULL, 0);
    const struct sf_seg *sa = &f->out[f->next++].seg;
    assert_int_equal(sa->flags, TH_SYN | TH_ACK);
    assert_int_equal(sa->seq, f->iss + 2 + 65535 + 2);
    assert_int_equal(stats(f).tw_live, 0);
    assert_int_equal(stats(f).tw_reopened, 1);
    fx_free(f);
}

/* The owner shut down first, the peer's FIN followed: the connection is a TIME-WAIT entry
 * and the handle reads CLOSED. Aborting the handle ends the entry (a load balancer that
 * resets its server side leaves nothing behind), silently: the entry had nothing to reset. */
static void abort_ends_time_wait(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    fx_active_open(f);
    assert_int_equal(sf_shutdown(f->conn, SF_SHUT_WR), 0);
    fx_out(f, TH_ACK | TH_FIN, 1, 1, 0);
    fx_in(f, TH_ACK | TH_FIN, 1, 2, 65535, NULL, NULL, 0);
    fx_out(f, TH_ACK, 2, 2, 0);
    assert_int_equal(fx_state(f), SF_CLOSED);
    assert_int_equal(stats(f).tw_live, 1);
    sf_abort(f->conn);
    fx_none(f);
    assert_int_equal(stats(f).tw_live, 0);
    assert_int_equal(stats(f).tw_aborted, 1);
    assert_int_equal(fx_last_transition(f)->cause, SF_CAUSE_ABORT);
    assert_int_equal(fx_last_transition(f)->from, SF_TIME_WAIT);
    fx_free(f);
}

static void synq_one(struct sf_tcp_config *c)
{
    plain(c);
    c->max_syn_backlog = 1;
}

/* A newer SYN meets a TIME-WAIT entry while the listener's SYN queue is full: it is dropped
 * and the entry stays, so the peer's retransmission still gets the ISN above the old
 * sequence space (found by the TIME-WAIT fuzz harness, which saw the entry end, the SYN
 * dropped, and the retransmitted SYN answered with an ISN below the old SND.NXT;
 * tests/fuzz/corpus/timewait/regress-reopen-synq-full). */
static void time_wait_reopen_queue_full(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(synq_one);
    to_time_wait(f);
    f->peer_port = 40001; /* an embryo fills the SYN queue */
    fx_in(f, TH_SYN, 0, 0, 65535, NULL, NULL, 0);
    assert_int_equal(f->out[f->next++].seg.flags, TH_SYN | TH_ACK);
    f->peer_port = 40000;
    fx_in(f, TH_SYN, 100000, 0, 65535, NULL, NULL, 0);
    fx_none(f);
    assert_int_equal(stats(f).tw_live, 1);
    assert_int_equal(stats(f).syn_backlog_drops, 1);
    f->peer_port = 40001; /* the embryo goes */
    fx_in(f, TH_RST, 1, 0, 0, NULL, NULL, 0);
    f->peer_port = 40000;
    fx_in(f, TH_SYN, 100000, 0, 65535, NULL, NULL, 0);
    const struct sf_seg *sa = &f->out[f->next++].seg;
    assert_int_equal(sa->flags, TH_SYN | TH_ACK);
    assert_int_equal(sa->seq, f->iss + 2 + 65535 + 2);
    assert_int_equal(stats(f).tw_reopened, 1);
    fx_free(f);
}

/* A SYN answered with a syncookie (the SYN queue full) and repeated once the queue has room
 * makes an embryo with an ISN of its own, while the peer, established on the cookie's
 * SYN-ACK, acknowledges the cookie. That ACK makes the connection on the cookie's numbers
 * and the embryo goes; no RST, which the peer would take (SEQ = its RCV.NXT) and lose a good
 * connection. Found by test_lb_stack_sessions under valgrind: the balancer's SYN-ACKs took
 * longer than the clients' 1 s SYN retransmission, and thousands of clients were reset. */
static void cookie_ack_supersedes_embryo(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(synq_one);
    fx_listen(f);
    f->peer_port = 40001; /* an embryo fills the SYN queue */
    fx_in(f, TH_SYN, 0, 0, 65535, NULL, NULL, 0);
    assert_int_equal(f->out[f->next++].seg.flags, TH_SYN | TH_ACK);
    f->peer_port = 40000;
    fx_in(f, TH_SYN, 0, 0, 65535, NULL, NULL, 0);
    const struct sf_seg *sa = &f->out[f->next++].seg;
    assert_int_equal(sa->flags, TH_SYN | TH_ACK);
    uint32_t cookie = sa->seq;
    assert_int_equal(stats(f).syncookies_sent, 1);
    f->peer_port = 40001; /* that embryo goes: room again */
    fx_in(f, TH_RST, 1, 0, 0, NULL, NULL, 0);
    f->peer_port = 40000; /* the SYN again: an embryo this time */
    fx_advance(f, 1000);
    fx_in(f, TH_SYN, 0, 0, 65535, NULL, NULL, 0);
    sa = &f->out[f->next++].seg;
    assert_int_equal(sa->flags, TH_SYN | TH_ACK);
    assert_int_not_equal(sa->seq, cookie);
    assert_int_equal(stats(f).states[SF_SYN_RECEIVED], 1);

    fx_in_abs(f, TH_ACK, FX_PEER_ISN + 1, cookie + 1, 65535, NULL, NULL, 0);
    fx_none(f);
    assert_int_equal(stats(f).syncookies_ok, 1);
    assert_int_equal(stats(f).rst_out, 0);
    assert_int_equal(stats(f).states[SF_SYN_RECEIVED], 0);
    int err;
    struct sf_conn *c = sf_accept(f->listener, &err);
    assert_non_null(c);
    assert_null(sf_accept(f->listener, &err));
    struct sf_conn_info in;
    sf_info(c, &in);
    assert_int_equal(in.state, SF_ESTABLISHED);
    assert_int_equal(in.iss, cookie);
    assert_int_equal(in.snd_una, cookie + 1);
    assert_int_equal(in.rcv_nxt, FX_PEER_ISN + 1);

    /* The embryo's SYN-ACK is not retransmitted: it is gone. */
    fx_advance(f, 5000);
    fx_none(f);
    assert_int_equal(sf_send(c, "x", 1), 1);
    const struct sf_seg *d = &f->out[f->next++].seg;
    assert_int_equal(d->seq, cookie + 1);
    assert_int_equal(d->ack, FX_PEER_ISN + 1);
    sf_close(c);
    fx_free(f);
}

static void tw_cap(struct sf_tcp_config *c)
{
    plain(c);
    c->max_tw = 1;
}

/* max_tw: a second TIME-WAIT entry pushes out the first, counted. */
static void time_wait_cap(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(tw_cap);
    to_time_wait(f);
    f->peer_port = 40001;
    struct sf_tcp_opts o = {.has = OPT_MSS, .mss = 1460};
    fx_in(f, TH_SYN, 0, 0, 65535, &o, NULL, 0);
    const struct sf_seg *sa = &f->out[f->next++].seg;
    uint32_t iss2 = sa->seq;
    fx_in_abs(f, TH_ACK, FX_PEER_ISN + 1, iss2 + 1, 65535, NULL, NULL, 0);
    int err;
    struct sf_conn *c = sf_accept(f->listener, &err);
    assert_non_null(c);
    sf_close(c);
    f->next++; /* its FIN */
    fx_in_abs(f, TH_ACK | TH_FIN, FX_PEER_ISN + 1, iss2 + 2, 65535, NULL, NULL, 0);
    assert_int_equal(stats(f).tw_live, 1);
    assert_int_equal(stats(f).tw_overflow, 1);
    fx_free(f);
}

static void chal_limit(struct sf_tcp_config *c)
{
    plain(c);
    c->challenge_ack_limit = 2;
}

/* Challenge ACKs are limited per second, engine-wide (RFC 5961 §7). */
static void challenge_ack_rate_limit(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(chal_limit);
    fx_passive_open(f);
    fx_in(f, TH_SYN, 5, 0, 65535, NULL, NULL, 0); /* SYN in ESTABLISHED */
    fx_out(f, TH_ACK, 1, 1, 0);
    fx_in(f, TH_RST, 10, 0, 0, NULL, NULL, 0);
    fx_out(f, TH_ACK, 1, 1, 0);
    fx_in(f, TH_RST, 11, 0, 0, NULL, NULL, 0);
    fx_none(f);
    assert_int_equal(stats(f).challenge_acks_limited, 1);
    fx_advance(f, 1000);
    fx_in(f, TH_RST, 12, 0, 0, NULL, NULL, 0);
    fx_out(f, TH_ACK, 1, 1, 0);
    assert_int_equal(fx_state(f), SF_ESTABLISHED);
    fx_free(f);
}

static void ts_on(struct sf_tcp_config *c)
{
    plain(c);
    c->timestamps = 1;
}

/* PAWS: a segment whose TSval is older than TS.Recent is answered with an ACK and dropped. */
static void paws(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(ts_on);
    fx_listen(f);
    struct sf_tcp_opts o = {.has = OPT_MSS | OPT_TS, .mss = 1460, .tsval = 1000};
    fx_in(f, TH_SYN, 0, 0, 65535, &o, NULL, 0);
    const struct sf_seg *sa = fx_out(f, TH_SYN | TH_ACK, 0, 1, 0);
    struct sf_tcp_opts ts = {.has = OPT_TS, .tsval = 1001, .tsecr = sa->opt.tsval};
    fx_in(f, TH_ACK, 1, 1, 65535, &ts, NULL, 0);
    int err;
    f->conn = sf_accept(f->listener, &err);
    ts.tsval = 900; /* from the past */
    fx_in(f, TH_ACK, 1, 1, 65535, &ts, blob, 100);
    const struct sf_seg *a = fx_out(f, TH_ACK, 1, 1, 0);
    assert_int_equal(a->opt.tsecr, 1001);
    assert_int_equal(sf_readable(f->conn), 0);
    assert_int_equal(stats(f).paws_drops, 1);
    fx_free(f);
}

/* RFC 5961 §5: an ACK for data never sent is answered with an ACK and dropped, data and all. */
static void ack_of_unsent_data(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    fx_passive_open(f);
    fx_in(f, TH_ACK, 1, 500, 65535, NULL, blob, 10);
    fx_out(f, TH_ACK, 1, 1, 0);
    assert_int_equal(sf_readable(f->conn), 0);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(syn_retransmission_and_limit),
        cmocka_unit_test(simultaneous_open),
        cmocka_unit_test(sack_most_recent_first),
        cmocka_unit_test(ipv6_segment_roundtrip),
        cmocka_unit_test(csum_valid_skips_the_tcp_checksum),
        cmocka_unit_test(partial_checksum_completes_to_the_whole_one),
        cmocka_unit_test(zero_window_persist),
        cmocka_unit_test(small_window_override),
        cmocka_unit_test(active_open_window_follows_the_peers_isn),
        cmocka_unit_test(idle_connection_holds_no_buffer),
        cmocka_unit_test(keepalive_probes_and_reset),
        cmocka_unit_test(syncookies),
        cmocka_unit_test(cookie_ghost_ended_by_keepalive),
        cmocka_unit_test(cookie_ghost_fin_outlives_keepalive),
        cmocka_unit_test(cookie_ack_supersedes_embryo),
        cmocka_unit_test(close_with_unread_data_resets),
        cmocka_unit_test(linger_zero_resets),
        cmocka_unit_test(orphan_fin_wait2_timeout),
        cmocka_unit_test(orphan_fin_wait2_zero),
        cmocka_unit_test(out_of_order_sack),
        cmocka_unit_test(sack_blocks_shrink_segments),
        cmocka_unit_test(nagle),
        cmocka_unit_test(cork),
        cmocka_unit_test(fast_retransmit),
        cmocka_unit_test(retransmission_timeout_limit),
        cmocka_unit_test(time_wait_reopen),
        cmocka_unit_test(time_wait_reopen_queue_full),
        cmocka_unit_test(time_wait_cap),
        cmocka_unit_test(abort_ends_time_wait),
        cmocka_unit_test(challenge_ack_rate_limit),
        cmocka_unit_test(paws),
        cmocka_unit_test(ack_of_unsent_data),
    };
    return cmocka_run_group_tests_name("tcp_mechanisms", tests, NULL, NULL);
}
