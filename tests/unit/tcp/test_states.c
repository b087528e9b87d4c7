/* One fixture per state: one segment in, exactly what comes out, and the new state. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "fixture.h"

static const char data1000[1000] = {1};

static void no_options(struct sf_tcp_config *c)
{
    c->timestamps = 0;
    c->sack = 0;
    c->window_scaling = 0;
}

static void passive_open_and_first_data(void **state)
{
    (void)state;
    struct fx *f = fx_new(no_options);
    fx_passive_open(f);
    /* In-order data: the ACK waits for the delayed-ACK timer (40 ms). */
    fx_in(f, TH_ACK | TH_PSH, 1, 1, 65535, NULL, data1000, 1000);
    fx_none(f);
    fx_advance(f, 39);
    fx_none(f);
    fx_advance(f, 1);
    fx_out(f, TH_ACK, 1, 1001, 0);
    char buf[2000];
    assert_int_equal(sf_recv(f->conn, buf, sizeof buf), 1000);
    assert_int_equal(sf_recv(f->conn, buf, sizeof buf), -EAGAIN);
    /* A second full segment since the last ACK gets an ACK at once. */
    fx_in(f, TH_ACK, 1001, 1, 65535, NULL, data1000, 1000);
    fx_none(f);
    fx_in(f, TH_ACK, 2001, 1, 65535, NULL, data1000, 1000);
    fx_out(f, TH_ACK, 1, 3001, 0);
    fx_free(f);
}

static void active_open(void **state)
{
    (void)state;
    struct fx *f = fx_new(NULL);
    fx_active_open(f);
    fx_none(f);
    fx_free(f);
}

static void passive_close(void **state)
{
    (void)state;
    struct fx *f = fx_new(no_options);
    fx_passive_open(f);
    /* ESTABLISHED + FIN → ACK at once, CLOSE_WAIT, reads see end of stream. */
    fx_in(f, TH_ACK | TH_FIN, 1, 1, 65535, NULL, NULL, 0);
    fx_out(f, TH_ACK, 1, 2, 0);
    assert_int_equal(fx_state(f), SF_CLOSE_WAIT);
    assert_int_equal(fx_last_transition(f)->cause, SF_CAUSE_FIN);
    char b[10];
    assert_int_equal(sf_recv(f->conn, b, sizeof b), 0);
    /* close → FIN, LAST_ACK; ACK of the FIN → CLOSED. */
    struct sf_conn *c = f->conn;
    struct sf_conn_info info;
    sf_info(c, &info);
    uint64_t id = info.id;
    assert_int_equal(sf_close(c), 0);
    fx_out(f, TH_ACK | TH_FIN, 1, 2, 0);
    assert_int_equal(fx_last_transition(f)->to, SF_LAST_ACK);
    fx_in(f, TH_ACK, 2, 2, 65535, NULL, NULL, 0);
    fx_none(f);
    assert_int_equal(fx_last_transition(f)->id, id);
    assert_int_equal(fx_last_transition(f)->to, SF_CLOSED);
    assert_int_equal(fx_last_transition(f)->cause, SF_CAUSE_ACK);
    struct sf_engine_stats st;
    sf_engine_stats(f->e, &st);
    assert_int_equal(st.conns_live, 1); /* only the listener */
    assert_int_equal(st.tw_live, 0);
    fx_free(f);
}

static void active_close_time_wait(void **state)
{
    (void)state;
    struct fx *f = fx_new(no_options);
    fx_passive_open(f);
    assert_int_equal(sf_close(f->conn), 0);
    fx_out(f, TH_ACK | TH_FIN, 1, 1, 0);
    fx_in(f, TH_ACK, 1, 2, 65535, NULL, NULL, 0);
    fx_none(f);
    assert_int_equal(fx_last_transition(f)->to, SF_FIN_WAIT_2);
    fx_in(f, TH_ACK | TH_FIN, 1, 2, 65535, NULL, NULL, 0);
    fx_out(f, TH_ACK, 2, 2, 0);
    assert_int_equal(fx_last_transition(f)->to, SF_TIME_WAIT);
    struct sf_engine_stats st;
    sf_engine_stats(f->e, &st);
    assert_int_equal(st.tw_live, 1);
    assert_int_equal(st.conns_live, 1);
    /* A retransmitted FIN is ACKed again and restarts the 60 s. */
    fx_advance(f, 30000);
    fx_in(f, TH_ACK | TH_FIN, 1, 2, 65535, NULL, NULL, 0);
    fx_out(f, TH_ACK, 2, 2, 0);
    fx_advance(f, 59999);
    sf_engine_stats(f->e, &st);
    assert_int_equal(st.tw_live, 1);
    fx_advance(f, 1);
    sf_engine_stats(f->e, &st);
    assert_int_equal(st.tw_live, 0);
    assert_int_equal(fx_last_transition(f)->from, SF_TIME_WAIT);
    assert_int_equal(fx_last_transition(f)->cause, SF_CAUSE_TIME_WAIT_TIMEOUT);
    /* Now the 4-tuple is unknown: an ACK draws an RST <SEQ=SEG.ACK>. */
    fx_in(f, TH_ACK, 2, 2, 65535, NULL, NULL, 0);
    fx_out(f, TH_RST, 2, 0, 0);
    fx_free(f);
}

static void simultaneous_close(void **state)
{
    (void)state;
    struct fx *f = fx_new(no_options);
    fx_passive_open(f);
    assert_int_equal(sf_close(f->conn), 0);
    fx_out(f, TH_ACK | TH_FIN, 1, 1, 0);
    /* The peer's FIN crosses ours: it does not ack our FIN → CLOSING. */
    fx_in(f, TH_ACK | TH_FIN, 1, 1, 65535, NULL, NULL, 0);
    fx_out(f, TH_ACK, 2, 2, 0);
    assert_int_equal(fx_last_transition(f)->to, SF_CLOSING);
    fx_in(f, TH_ACK, 2, 2, 65535, NULL, NULL, 0);
    fx_none(f);
    assert_int_equal(fx_last_transition(f)->to, SF_TIME_WAIT);
    fx_free(f);
}

static void rst_rules_rfc5961(void **state)
{
    (void)state;
    struct fx *f = fx_new(no_options);
    fx_passive_open(f);
    /* In window but not exact: challenge ACK, connection stays. */
    fx_in(f, TH_RST, 100, 0, 0, NULL, NULL, 0);
    fx_out(f, TH_ACK, 1, 1, 0);
    assert_int_equal(fx_state(f), SF_ESTABLISHED);
    /* Outside the window: dropped silently. */
    fx_in(f, TH_RST, 1000000, 0, 0, NULL, NULL, 0);
    fx_none(f);
    /* Exact: reset. */
    fx_in(f, TH_RST, 1, 0, 0, NULL, NULL, 0);
    fx_none(f);
    assert_int_equal(fx_state(f), SF_CLOSED);
    assert_true(f->events & SF_EV_RESET);
    assert_int_equal(sf_take_error(f->conn), ECONNRESET);
    fx_free(f);
}

static void tw_rst(struct fx *f)
{
    fx_passive_open(f);
    sf_close(f->conn);
    fx_out(f, TH_ACK | TH_FIN, 1, 1, 0);
    fx_in(f, TH_ACK | TH_FIN, 1, 2, 65535, NULL, NULL, 0);
    fx_out(f, TH_ACK, 2, 2, 0);
    assert_int_equal(fx_last_transition(f)->to, SF_TIME_WAIT);
    fx_in(f, TH_RST, 2, 0, 0, NULL, NULL, 0);
    fx_none(f);
}

static void rfc1337_off(struct sf_tcp_config *c)
{
    no_options(c);
    c->rfc1337 = 0;
}

static void time_wait_rst(void **state)
{
    (void)state;
    struct fx *f = fx_new(no_options);
    tw_rst(f);
    struct sf_engine_stats st;
    sf_engine_stats(f->e, &st);
    assert_int_equal(st.tw_live, 1); /* RFC 1337: ignored */
    assert_int_equal(st.tw_rst_ignored, 1);
    fx_free(f);

    f = fx_new(rfc1337_off);
    tw_rst(f);
    sf_engine_stats(f->e, &st);
    assert_int_equal(st.tw_live, 0); /* Linux behaviour: the RST ends TIME-WAIT */
    assert_int_equal(fx_last_transition(f)->cause, SF_CAUSE_RST);
    fx_free(f);
}

/* TIME-WAIT, a FIN inside the window (not a retransmission of the one that got us here):
 * acceptable, so the eighth check's TIME-WAIT rule holds, "Acknowledge it, and restart the
 * 2 MSL timeout" (RFC 9293 §3.10.7.4); without ACK the fifth check drops it first. */
static void time_wait_fin_in_window(void **state)
{
    (void)state;
    struct fx *f = fx_new(no_options);
    fx_passive_open(f);
    sf_close(f->conn);
    fx_out(f, TH_ACK | TH_FIN, 1, 1, 0);
    fx_in(f, TH_ACK | TH_FIN, 1, 2, 65535, NULL, NULL, 0);
    fx_out(f, TH_ACK, 2, 2, 0);
    assert_int_equal(fx_last_transition(f)->to, SF_TIME_WAIT);
    fx_advance(f, 30000);
    fx_in(f, TH_FIN, 2, 0, 65535, NULL, NULL, 0);
    fx_none(f);
    fx_in(f, TH_ACK | TH_FIN, 2, 2, 65535, NULL, NULL, 0);
    fx_out(f, TH_ACK, 2, 2, 0);
    fx_none(f);
    struct sf_engine_stats st;
    fx_advance(f, 59999);
    sf_engine_stats(f->e, &st);
    assert_int_equal(st.tw_live, 1);
    fx_advance(f, 1);
    sf_engine_stats(f->e, &st);
    assert_int_equal(st.tw_live, 0);
    fx_free(f);
}

static void drop_syn_fin_on(struct sf_tcp_config *c)
{
    no_options(c);
    c->drop_syn_fin = 1;
}

/* CLOSED (RFC 9293 §3.10.7.1): "An incoming segment not containing a RST causes a RST to be
 * sent in response", a SYN+FIN too: <SEQ=0><ACK=SEG.SEQ+SEG.LEN> counting SYN and FIN. A
 * listener drops it (no state gives it a meaning); drop_syn_fin=1 drops it everywhere. */
static void closed_syn_fin(void **state)
{
    (void)state;
    struct fx *f = fx_new(no_options);
    fx_in(f, TH_SYN | TH_FIN, 0, 0, 65535, NULL, NULL, 0);
    fx_out(f, TH_RST | TH_ACK, 0, 2, 0);
    fx_none(f);
    fx_in(f, TH_SYN | TH_FIN, 0, 0, 65535, NULL, data1000, 10);
    fx_out(f, TH_RST | TH_ACK, 0, 12, 0);
    fx_in(f, TH_SYN | TH_RST, 0, 0, 65535, NULL, NULL, 0);
    fx_none(f);
    fx_listen(f);
    fx_in(f, TH_SYN | TH_FIN, 0, 0, 65535, NULL, NULL, 0);
    fx_none(f);
    fx_free(f);

    f = fx_new(drop_syn_fin_on);
    fx_in(f, TH_SYN | TH_FIN, 0, 0, 65535, NULL, NULL, 0);
    fx_none(f);
    fx_in(f, TH_SYN, 0, 0, 65535, NULL, NULL, 0);
    fx_out(f, TH_RST | TH_ACK, 0, 1, 0);
    fx_free(f);
}

/* connect() without the handshake done: the segments only the SYN-ACK lets go. */
static void connect_only(struct fx *f)
{
    f->conn = sf_socket(f->e);
    struct sf_endpoint ep = {.addr = sf_addr_v4(192, 0, 2, 1), .port = 40000};
    f->local_port = 0;
    assert_int_equal(sf_connect(f->conn, &ep), -EINPROGRESS);
    const struct sf_seg *syn = fx_out(f, TH_SYN, 0, 0, 0);
    f->local_port = syn->t.rport;
}

/* shutdown(SHUT_WR) in SYN-SENT after sf_send took data: the data is not dropped. The FIN is
 * queued behind it (RFC 9293 §3.10.4 CLOSE: "Queue this until all preceding SENDs have been
 * segmentized, then form a FIN segment and send it"), nothing goes before the handshake, and
 * the SYN-ACK releases data and FIN in one segment: FIN-WAIT-1, then FIN-WAIT-2 on its ACK. */
static void shutdown_in_syn_sent_keeps_data(void **state)
{
    (void)state;
    struct fx *f = fx_new(no_options);
    connect_only(f);
    assert_int_equal(sf_send(f->conn, data1000, 100), 100);
    assert_int_equal(sf_shutdown(f->conn, SF_SHUT_WR), 0);
    fx_none(f);
    assert_int_equal(fx_state(f), SF_SYN_SENT);
    assert_int_equal(sf_send(f->conn, data1000, 1), -EPIPE);
    fx_advance(f, 50);
    struct sf_tcp_opts o = {.has = OPT_MSS, .mss = 1460};
    fx_in(f, TH_SYN | TH_ACK, 0, 1, 65535, &o, NULL, 0);
    fx_out(f, TH_ACK | TH_PSH | TH_FIN, 1, 1, 100);
    fx_none(f);
    assert_int_equal(fx_state(f), SF_FIN_WAIT_1);
    assert_int_equal(fx_last_transition(f)->from, SF_ESTABLISHED);
    assert_int_equal(fx_last_transition(f)->cause, SF_CAUSE_SHUTDOWN);
    fx_in(f, TH_ACK, 1, 102, 65535, NULL, NULL, 0);
    fx_none(f);
    assert_int_equal(fx_state(f), SF_FIN_WAIT_2);
    /* The receive half is open: the peer's data and FIN are taken. */
    fx_in(f, TH_ACK | TH_FIN, 1, 102, 65535, NULL, data1000, 10);
    fx_out(f, TH_ACK, 102, 12, 0);
    char b[20];
    assert_int_equal(sf_recv(f->conn, b, sizeof b), 10);
    assert_int_equal(sf_recv(f->conn, b, sizeof b), 0);
    fx_free(f);
}

/* The same through a simultaneous open: SYN-SENT → SYN-RECEIVED → FIN-WAIT-1 with the FIN
 * still behind the data; the data waits for the ACK of our SYN, then data and FIN go. */
static void shutdown_in_syn_sent_simultaneous_open(void **state)
{
    (void)state;
    struct fx *f = fx_new(no_options);
    connect_only(f);
    assert_int_equal(sf_send(f->conn, data1000, 100), 100);
    assert_int_equal(sf_shutdown(f->conn, SF_SHUT_WR), 0);
    fx_none(f);
    fx_in(f, TH_SYN, 0, 0, 65535, NULL, NULL, 0);
    fx_out(f, TH_SYN | TH_ACK, 0, 1, 0);
    fx_none(f);
    assert_int_equal(fx_state(f), SF_FIN_WAIT_1);
    fx_in(f, TH_ACK, 1, 1, 65535, NULL, NULL, 0);
    fx_out(f, TH_ACK | TH_PSH | TH_FIN, 1, 1, 100);
    fx_none(f);
    fx_in(f, TH_ACK, 1, 102, 65535, NULL, NULL, 0);
    assert_int_equal(fx_state(f), SF_FIN_WAIT_2);
    fx_free(f);
}

/* With nothing written, shutdown(SHUT_WR) in SYN-SENT is a half-close before the handshake:
 * the FIN follows the ACK of the SYN-ACK at once. A RST for the SYN still refuses it. */
static void shutdown_in_syn_sent_without_data(void **state)
{
    (void)state;
    struct fx *f = fx_new(no_options);
    connect_only(f);
    assert_int_equal(sf_shutdown(f->conn, SF_SHUT_WR), 0);
    fx_none(f);
    struct sf_tcp_opts o = {.has = OPT_MSS, .mss = 1460};
    fx_in(f, TH_SYN | TH_ACK, 0, 1, 65535, &o, NULL, 0);
    fx_out(f, TH_ACK | TH_FIN, 1, 1, 0);
    fx_none(f);
    assert_int_equal(fx_state(f), SF_FIN_WAIT_1);
    fx_free(f);

    f = fx_new(no_options);
    connect_only(f);
    assert_int_equal(sf_shutdown(f->conn, SF_SHUT_WR), 0);
    fx_in(f, TH_RST | TH_ACK, 0, 1, 0, NULL, NULL, 0);
    fx_none(f);
    assert_int_equal(fx_state(f), SF_CLOSED);
    assert_int_equal(sf_take_error(f->conn), ECONNREFUSED);
    fx_free(f);
}

/* SYN-RECEIVED, fifth check: "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED ... If
 * the segment acknowledgment is not acceptable, form a reset segment <SEQ=SEG.ACK><CTL=RST>
 * and send it." Both ways out of the range (SEG.ACK = ISS, which acknowledges nothing, and
 * beyond what was sent) draw exactly that RST and nothing else; the embryonic connection is
 * not touched, and the right ACK still completes it. Passive (from a listener) and active
 * (a simultaneous open) SYN-RECEIVED run different code before the ACK check, so both. */
static void syn_received_unacceptable_ack_passive(void **state)
{
    (void)state;
    struct fx *f = fx_new(no_options);
    fx_listen(f);
    struct sf_tcp_opts o = {.has = OPT_MSS, .mss = 1460};
    fx_in(f, TH_SYN, 0, 0, 65535, &o, NULL, 0);
    fx_out(f, TH_SYN | TH_ACK, 0, 1, 0);
    struct sf_engine_stats st;
    sf_engine_stats(f->e, &st);
    assert_int_equal(st.states[SF_SYN_RECEIVED], 1);
    uint64_t rst_out = st.rst_out;

    fx_in(f, TH_ACK, 1, 0, 65535, NULL, NULL, 0);
    fx_out(f, TH_RST, 0, 0, 0);
    fx_none(f);
    fx_in(f, TH_ACK, 1, 1000, 65535, NULL, NULL, 0);
    fx_out(f, TH_RST, 1000, 0, 0);
    fx_none(f);
    sf_engine_stats(f->e, &st);
    assert_int_equal(st.rst_out, rst_out + 2);
    assert_int_equal(st.states[SF_SYN_RECEIVED], 1);
    assert_int_equal(st.states[SF_ESTABLISHED], 0);
    int err;
    assert_null(sf_accept(f->listener, &err));
    assert_int_equal(err, -EAGAIN);

    fx_in(f, TH_ACK, 1, 1, 65535, NULL, NULL, 0);
    fx_none(f);
    f->conn = sf_accept(f->listener, &err);
    assert_non_null(f->conn);
    assert_int_equal(fx_state(f), SF_ESTABLISHED);
    fx_free(f);
}

static void note_event(struct sf_conn *c, unsigned ev, void *user)
{
    (void)c;
    ((struct fx *)user)->events |= ev;
}

static void syn_received_unacceptable_ack_active(void **state)
{
    (void)state;
    struct fx *f = fx_new(no_options);
    connect_only(f);
    sf_set_handler(f->conn, note_event, f);
    fx_in(f, TH_SYN, 0, 0, 65535, NULL, NULL, 0);
    fx_out(f, TH_SYN | TH_ACK, 0, 1, 0);
    assert_int_equal(fx_state(f), SF_SYN_RECEIVED);

    fx_in(f, TH_ACK, 1, 0, 65535, NULL, NULL, 0);
    fx_out(f, TH_RST, 0, 0, 0);
    fx_none(f);
    fx_in(f, TH_ACK, 1, 1000, 65535, NULL, NULL, 0);
    fx_out(f, TH_RST, 1000, 0, 0);
    fx_none(f);
    assert_int_equal(fx_state(f), SF_SYN_RECEIVED);
    assert_false(f->events & (SF_EV_CONNECTED | SF_EV_RESET));

    fx_in(f, TH_ACK, 1, 1, 65535, NULL, NULL, 0);
    fx_none(f);
    assert_int_equal(fx_state(f), SF_ESTABLISHED);
    assert_true(f->events & SF_EV_CONNECTED);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(passive_open_and_first_data),
        cmocka_unit_test(active_open),
        cmocka_unit_test(passive_close),
        cmocka_unit_test(active_close_time_wait),
        cmocka_unit_test(simultaneous_close),
        cmocka_unit_test(rst_rules_rfc5961),
        cmocka_unit_test(time_wait_rst),
        cmocka_unit_test(shutdown_in_syn_sent_keeps_data),
        cmocka_unit_test(shutdown_in_syn_sent_simultaneous_open),
        cmocka_unit_test(shutdown_in_syn_sent_without_data),
        cmocka_unit_test(syn_received_unacceptable_ack_passive),
        cmocka_unit_test(syn_received_unacceptable_ack_active),
        cmocka_unit_test(time_wait_fin_in_window),
        cmocka_unit_test(closed_syn_fin),
    };
    return cmocka_run_group_tests_name("tcp_states", tests, NULL, NULL);
}
