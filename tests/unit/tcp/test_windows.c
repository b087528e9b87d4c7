/* Send and receive windows at their edges, as the seed sweep (tests/sim/test_sweep.c) found
 * them going wrong: zero-window probes and their answers, a window that closes with data in
 * flight, a prober's ACKs, the advertised edge behind RCV.NXT, a retransmission that runs past
 * SND.MAX, a scale too coarse for the buffer, and a window promised beyond a full buffer. Each
 * test failed before its fix. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "fixture.h"

static const char blob[8000] = {7};

static void plain(struct sf_tcp_config *c)
{
    c->timestamps = 0;
    c->sack = 0;
    c->window_scaling = 0;
}

static void retries_short(struct sf_tcp_config *c)
{
    plain(c);
    c->retries2 = 3;
}

static void small_rcvbuf(struct sf_tcp_config *c)
{
    plain(c);
    c->rcvbuf = 4096;
}

static struct sf_conn_info info(struct fx *f)
{
    struct sf_conn_info in;
    sf_info(f->conn, &in);
    return in;
}

/* Everything the engine emitted so far, unchecked. */
static void skip_out(struct fx *f)
{
    f->next = f->nout;
}

/* Found by the seed sweep (issue 11): the answer to a zero-window probe acknowledges SND.UNA
 * with the same zero window while the probe octet is outstanding, the letter of RFC 5681's
 * duplicate ACK. Counted so, the third answer set off a fast retransmission: a full segment
 * into the closed window, past SND.MAX. When the window opened and the peer took it, its
 * ACK was "for data not yet sent", and the two ends traded ACKs until retries2 ended the
 * connection. While the persist timer runs an ACK is no duplicate (as in BSD, where persist
 * and retransmission exclude each other). */
static void zero_window_probe_answers_not_dupacks(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    fx_passive_open(f);
    fx_in(f, TH_ACK, 1, 1, 0, NULL, NULL, 0); /* window closes */
    assert_int_equal(sf_send(f->conn, blob, 4000), 4000);
    fx_none(f);
    uint32_t gap = 200;
    for (int i = 0; i < 5; i++) {
        fx_advance(f, gap);
        fx_out(f, TH_ACK, 1, 1, 1);               /* the probe */
        fx_in(f, TH_ACK, 1, 1, 0, NULL, NULL, 0); /* not taken: window still zero */
        fx_none(f);                               /* and no retransmission into it */
        gap *= 2;
    }
    fx_in(f, TH_ACK, 1, 1, 2920, NULL, NULL, 0); /* the window opens */
    fx_out(f, TH_ACK, 2, 1, 1460);
    fx_in(f, TH_ACK, 1, 1462, 2920, NULL, NULL, 0); /* probe octet and segment taken */
    fx_out(f, TH_ACK, 1462, 1, 1460);
    fx_out(f, TH_ACK | TH_PSH, 2922, 1, 1079);
    fx_in(f, TH_ACK, 1, 4001, 2920, NULL, NULL, 0); /* all of it: an ACK of data sent */
    fx_none(f);
    struct sf_conn_info in;
    sf_info(f->conn, &in);
    assert_int_equal(in.dupacks_fast_retransmits, 0);
    assert_int_equal(in.unacked, 0);
    assert_int_equal(in.in_flight, 0);
    fx_free(f);
}

/* Found by the seed sweep: the window closes with data in flight (here a stale zero-window
 * ACK overtook a fresh update on the way). A retransmission timeout then sent nothing, the
 * window being zero, yet counted towards retries2: the connection died with ETIMEDOUT without
 * a segment on the wire, its peer alive. The persist timer takes over instead, probing with
 * the first unacknowledged octet as long as the peer answers; when the window opens, what
 * was in flight goes again at once. */
static void window_closes_with_data_in_flight(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(retries_short);
    fx_passive_open(f);
    assert_int_equal(sf_send(f->conn, blob, 1000), 1000);
    fx_out(f, TH_ACK | TH_PSH, 1, 1, 1000);
    fx_in(f, TH_ACK, 1, 1, 0, NULL, NULL, 0); /* the window closes; the segment is dropped */
    fx_none(f);
    uint32_t gap = 200;
    for (int i = 0; i < 5; i++) { /* more than retries2 rounds */
        fx_advance(f, gap - 1);
        fx_none(f);
        fx_advance(f, 1);
        fx_out(f, TH_ACK, 1, 1, 1);               /* a probe: the first octet in flight */
        fx_in(f, TH_ACK, 1, 1, 0, NULL, NULL, 0); /* answered, still closed */
        gap *= 2;
    }
    assert_int_equal(fx_state(f), SF_ESTABLISHED);
    fx_in(f, TH_ACK, 1, 1, 4000, NULL, NULL, 0); /* it opens */
    fx_out(f, TH_ACK | TH_PSH, 1, 1, 1000);
    fx_in(f, TH_ACK, 1, 1001, 4000, NULL, NULL, 0);
    fx_advance(f, 60000);
    fx_none(f);
    struct sf_conn_info in;
    sf_info(f->conn, &in);
    assert_int_equal(in.in_flight, 0);
    assert_int_equal(in.unacked, 0);
    assert_int_equal(fx_state(f), SF_ESTABLISHED);
    fx_free(f);
}

/* RFC 1122 §4.2.2.17: "As long as the receiving TCP continues to send acknowledgments in
 * response to the probe segments, the sending TCP MUST allow the connection to stay open."
 * Answered probes counted towards retries2 all the same (only new data reset the count), so
 * a reader that paused for some minutes had its peer give up. Unanswered ones still end it. */
static void answered_probes_keep_the_connection(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(retries_short);
    fx_passive_open(f);
    fx_in(f, TH_ACK, 1, 1, 0, NULL, NULL, 0);
    assert_int_equal(sf_send(f->conn, blob, 100), 100);
    uint32_t gap = 200;
    for (int i = 0; i < 6; i++) {
        fx_advance(f, gap);
        fx_out(f, TH_ACK, 1, 1, 1);
        fx_in(f, TH_ACK, 1, 1, 0, NULL, NULL, 0);
        gap *= 2;
    }
    assert_int_equal(fx_state(f), SF_ESTABLISHED);
    for (int i = 0; i < 3; i++) { /* the peer falls silent: retries2 probes */
        fx_advance(f, gap);
        fx_out(f, TH_ACK, 1, 1, 1);
        gap = gap * 2 > 120000 ? 120000 : gap * 2;
    }
    assert_int_equal(fx_state(f), SF_ESTABLISHED);
    fx_advance(f, gap);
    assert_int_equal(fx_state(f), SF_CLOSED);
    assert_int_equal(sf_take_error(f->conn), ETIMEDOUT);
    fx_free(f);
}

/* RFC 9293 §3.10.7.4: "If the RCV.WND is zero, no segments will be acceptable, but special
 * allowance should be made to accept valid ACKs". A zero-window probe that was refused still
 * moved its sender's SND.NXT one octet beyond our window, so every later ACK from that peer
 * carries SEG.SEQ = RCV.NXT + 1. Refused as out of window, those ACKs never acknowledged our
 * own data: both directions stalled until retries2 reset the connection. */
static void zero_window_takes_a_probers_acks(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(small_rcvbuf);
    fx_passive_open(f);
    fx_in(f, TH_ACK, 1, 1, 65535, NULL, blob, 1460);
    fx_in(f, TH_ACK, 1461, 1, 65535, NULL, blob, 1460);
    fx_in(f, TH_ACK, 2921, 1, 65535, NULL, blob, 1176); /* our 4096 bytes: window zero */
    skip_out(f);
    assert_int_equal(info(f).rcv_wnd, 0);
    assert_int_equal(sf_send(f->conn, blob, 1000), 1000);
    fx_out(f, TH_ACK | TH_PSH, 1, 4097, 1000);
    fx_in(f, TH_ACK, 4097, 1, 65535, NULL, blob, 1); /* the peer's probe, refused */
    fx_out(f, TH_ACK, 1001, 4097, 0);
    fx_in(f, TH_ACK, 4098, 1001, 65535, NULL, NULL, 0); /* its ACK, from beyond the probe */
    fx_none(f);
    assert_int_equal(info(f).unacked, 0);
    assert_int_equal(info(f).in_flight, 0);
    fx_free(f);
}

/* Data that starts inside the window is kept as far as the buffer has room, which may reach
 * past the edge we advertised (the receiver's silly window avoidance holds the edge while
 * the buffer has more). RCV.NXT then passed the advertised edge, the window computed from
 * the two went negative, and the next ACK offered 65535 bytes from a full 4096-byte buffer. */
static void advertised_edge_never_behind_rcv_nxt(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(small_rcvbuf);
    fx_passive_open(f);
    fx_in(f, TH_ACK, 1, 1, 65535, NULL, blob, 1460);
    fx_in(f, TH_ACK, 1461, 1, 65535, NULL, blob, 540);
    fx_advance(f, 40);
    skip_out(f);
    char buf[500];
    assert_int_equal(sf_recv(f->conn, buf, sizeof buf), 500); /* too little to move the edge */
    fx_none(f);
    assert_int_equal(info(f).rcv_wnd, 2096);
    fx_in(f, TH_ACK, 2001, 1, 65535, NULL, blob, 1460);
    fx_in(f, TH_ACK, 3461, 1, 65535, NULL, blob, 1136); /* ends 500 bytes past the edge */
    fx_advance(f, 40);
    const struct sf_seg *ack = fx_out(f, TH_ACK, 1, 4597, 0);
    assert_int_equal(ack->wnd, 0);
    assert_int_equal(info(f).rcv_wnd, 0);
    fx_free(f);
}

/* RFC 6582 §3.2 step 4: a partial ACK retransmits the first unacknowledged segment. When
 * only a short segment was left in flight and more data waited behind it, a full segment went
 * from SND.UNA, past SND.MAX. The peer acknowledged those bytes, the ACK read as one for data
 * never sent ("send an ACK, drop the segment"), and the two ends traded ACKs until retries2. */
static void partial_ack_retransmission_past_snd_max(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    fx_passive_open(f);
    fx_in(f, TH_ACK, 1, 1, 3420, NULL, NULL, 0);
    assert_int_equal(sf_send(f->conn, blob, 3420), 3420);
    fx_out(f, TH_ACK, 1, 1, 1460);
    fx_out(f, TH_ACK, 1461, 1, 1460);
    fx_out(f, TH_ACK | TH_PSH, 2921, 1, 500);
    assert_int_equal(sf_send(f->conn, blob, 1000), 1000); /* waits for window */
    fx_none(f);
    for (int i = 0; i < 3; i++)
        fx_in(f, TH_ACK, 1, 1, 3420, NULL, NULL, 0);
    fx_out(f, TH_ACK, 1, 1, 1460);                  /* fast retransmit */
    fx_in(f, TH_ACK, 1, 2921, 3420, NULL, NULL, 0); /* partial: 2921:3421 still missing */
    fx_out(f, TH_ACK, 2921, 1, 1460);               /* one segment from SND.UNA */
    skip_out(f);
    fx_in(f, TH_ACK, 1, 4381, 3420, NULL, NULL, 0); /* the peer took all of it */
    skip_out(f);
    assert_int_equal(info(f).unacked, 40);
    fx_advance(f, 1000);
    skip_out(f);
    fx_in(f, TH_ACK, 1, 4421, 3420, NULL, NULL, 0);
    fx_advance(f, 60000);
    fx_none(f);
    assert_int_equal(info(f).unacked, 0);
    assert_int_equal(fx_state(f), SF_ESTABLISHED);
    fx_free(f);
}

static void small_rcvbuf_scaled(struct sf_tcp_config *c)
{
    small_rcvbuf(c);
    c->window_scaling = 1;
}

static void wscale_14(struct sf_tcp_config *c)
{
    small_rcvbuf_scaled(c);
    c->wscale = 14;
}

/* The window field counts units of 1 << wscale. With 14 (16 KB units) and a 4096-byte
 * buffer, a drained buffer offered 4096 >> 14 = 0: once the peer had filled the window to
 * its edge, it never opened again. The shift offered is now at most one whose unit is half
 * the buffer (Linux derives it from the buffer). */
static void wscale_fits_the_buffer(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(wscale_14);
    fx_listen(f);
    struct sf_tcp_opts o = {.has = OPT_MSS | OPT_WSCALE, .mss = 1460, .wscale = 0};
    fx_in(f, TH_SYN, 0, 0, 65535, &o, NULL, 0);
    const struct sf_seg *synack = fx_out(f, TH_SYN | TH_ACK, 0, 1, 0);
    assert_true(synack->opt.has & OPT_WSCALE);
    unsigned shift = synack->opt.wscale;
    fx_in(f, TH_ACK, 1, 1, 65535, NULL, NULL, 0);
    int err;
    f->conn = sf_accept(f->listener, &err);
    assert_non_null(f->conn);
    fx_in(f, TH_ACK, 1, 1, 65535, NULL, blob, 4096); /* the window, to its edge, at once */
    const struct sf_seg *full = fx_out(f, TH_ACK, 1, 4097, 0);
    assert_int_equal(full->wnd, 0);
    char buf[4096];
    assert_int_equal(sf_recv(f->conn, buf, sizeof buf), 4096);
    const struct sf_seg *update = fx_out(f, TH_ACK, 1, 4097, 0);
    assert_true(update->wnd > 0);
    assert_int_equal((uint32_t)update->wnd << shift, 4096);
    assert_true((1u << shift) <= 4096 / 2);
    fx_free(f);
}

static void wscale_10(struct sf_tcp_config *c)
{
    small_rcvbuf_scaled(c);
    c->wscale = 10;
}

/* With window scaling the edge can only be offered in whole units, and an edge that would
 * otherwise move back is rounded up (RFC 7323 §2.4): the window offered may exceed the free
 * buffer by up to a unit. When the peer then filled it, the buffer dropped the excess and
 * the next ACK still offered a unit; a sender with that data in flight retransmitted into it
 * until retries2 reset a connection whose reader had only paused. A full buffer now offers a
 * zero window (the retraction §2.4 allows), and its sender probes as long as we answer. */
static void full_buffer_offers_zero_window(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(wscale_10);
    fx_listen(f);
    struct sf_tcp_opts o = {.has = OPT_MSS | OPT_WSCALE, .mss = 1460, .wscale = 0};
    fx_in(f, TH_SYN, 0, 0, 65535, &o, NULL, 0);
    const struct sf_seg *synack = fx_out(f, TH_SYN | TH_ACK, 0, 1, 0);
    assert_int_equal(synack->opt.wscale, 10);
    fx_in(f, TH_ACK, 1, 1, 65535, NULL, NULL, 0);
    int err;
    f->conn = sf_accept(f->listener, &err);
    assert_non_null(f->conn);
    fx_in(f, TH_ACK, 1, 1, 65535, NULL, blob, 1000);
    fx_advance(f, 40);
    const struct sf_seg *ack = fx_out(f, TH_ACK, 1, 1001, 0);
    assert_int_equal(ack->wnd, 4); /* 4096 offered with 3096 free: rounded up a unit */
    fx_in(f, TH_ACK, 1001, 1, 65535, NULL, blob, 4096); /* to that edge */
    fx_advance(f, 40);
    ack = fx_out(f, TH_ACK, 1, 4097, 0);
    assert_int_equal(ack->wnd, 0);
    assert_int_equal(info(f).rcv_wnd, 0);
    /* What was offered stays "in window" (RFC 7323 §2.4): the peer's SND.NXT went past our
     * edge with the dropped bytes, and its ACK from there must still count. */
    assert_int_equal(sf_send(f->conn, blob, 500), 500);
    fx_out(f, TH_ACK | TH_PSH, 1, 4097, 500);
    fx_in(f, TH_ACK, 5097, 501, 65535, NULL, NULL, 0);
    fx_none(f);
    assert_int_equal(info(f).unacked, 0);
    char buf[4096];
    assert_int_equal(sf_recv(f->conn, buf, sizeof buf), 4096);
    ack = fx_out(f, TH_ACK, 501, 4097, 0);
    assert_int_equal(ack->wnd, 4);
    fx_in(f, TH_ACK, 4097, 501, 65535, NULL, blob, 1000); /* the dropped bytes, again */
    fx_advance(f, 40);
    fx_out(f, TH_ACK, 501, 5097, 0);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(zero_window_probe_answers_not_dupacks),
        cmocka_unit_test(window_closes_with_data_in_flight),
        cmocka_unit_test(answered_probes_keep_the_connection),
        cmocka_unit_test(zero_window_takes_a_probers_acks),
        cmocka_unit_test(advertised_edge_never_behind_rcv_nxt),
        cmocka_unit_test(partial_ack_retransmission_past_snd_max),
        cmocka_unit_test(wscale_fits_the_buffer),
        cmocka_unit_test(full_buffer_offers_zero_window),
    };
    return cmocka_run_group_tests_name("tcp_windows", tests, NULL, NULL);
}
