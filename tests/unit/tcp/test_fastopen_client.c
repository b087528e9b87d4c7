/* TCP Fast Open, client side (RFC 7413): one segment in, exactly what comes out and the new
 * state. A cookie request and the cookie kept; data in the SYN sized by the server's MSS; a
 * SYN-ACK that acknowledges part or none of it; a lost SYN (its retransmission plain), which
 * turns Fast Open off for that server for a while; the client bit off; the bounded cache. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "fixture.h"
#include "tcp/segment.h"

static const uint8_t cookie1[8] = {1, 2, 3, 4, 5, 6, 7, 8};
static const uint8_t cookie2[6] = {0xa, 0xb, 0xc, 0xd, 0xe, 0xf};

static void plain(struct sf_tcp_config *c)
{
    c->timestamps = 0;
    c->sack = 0;
    c->window_scaling = 0;
    c->fastopen = SF_TFO_CLIENT;
}

static void off(struct sf_tcp_config *c)
{
    plain(c);
    c->fastopen = 0;
}

static void small_cache(struct sf_tcp_config *c)
{
    plain(c);
    c->fastopen_cache = 4;
}

static struct sf_engine_stats stats(struct fx *f)
{
    struct sf_engine_stats st;
    sf_engine_stats(f->e, &st);
    return st;
}

static struct sf_tcp_opts synack_opts(uint16_t mss, const uint8_t *cookie, uint8_t len)
{
    struct sf_tcp_opts o;
    memset(&o, 0, sizeof o);
    o.has = OPT_MSS;
    o.mss = mss;
    if (cookie) {
        o.has |= OPT_FO;
        o.fo_len = len;
        memcpy(o.fo_cookie, cookie, len);
    }
    return o;
}

static struct sf_endpoint server_ep(struct sf_addr a)
{
    struct sf_endpoint ep;
    memset(&ep, 0, sizeof ep);
    ep.addr = a;
    ep.port = 40000;
    return ep;
}

/* A new connection that asks for Fast Open; rc is what sf_connect must return. */
static void fo_connect(struct fx *f, int rc)
{
    f->conn = sf_socket(f->e);
    assert_non_null(f->conn);
    f->iss_known = 0;
    assert_int_equal(sf_setopt(f->conn, SF_OPT_FASTOPEN_CONNECT, 1), 0);
    struct sf_endpoint ep = server_ep(sf_addr_v4(192, 0, 2, 1));
    assert_int_equal(sf_connect(f->conn, &ep), rc);
}

/* The SYN just sent: its port becomes the fixture's. */
static const struct sf_seg *syn_out(struct fx *f, uint32_t len)
{
    const struct sf_seg *s = fx_out(f, TH_SYN, 0, 0, len);
    f->local_port = s->t.rport;
    return s;
}

static void close_conn(struct fx *f)
{
    sf_abort(f->conn);
    f->next = f->nout; /* whatever the abort sent */
}

/* Learns cookie1 from the server (MSS 1200), the first connection's whole story. */
static void learn_cookie(struct fx *f)
{
    fo_connect(f, -EINPROGRESS);
    const struct sf_seg *syn = syn_out(f, 0);
    assert_true(syn->opt.has & OPT_FO);
    assert_int_equal(syn->opt.fo_len, 0); /* a request */
    struct sf_tcp_opts o = synack_opts(1200, cookie1, 8);
    fx_in(f, TH_SYN | TH_ACK, 0, 1, 65535, &o, NULL, 0);
    fx_out(f, TH_ACK, 1, 1, 0);
    fx_none(f);
    assert_int_equal(sf_conn_state(f->conn), SF_ESTABLISHED);
    close_conn(f);
}

static void request_then_syn_data(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    learn_cookie(f);
    assert_int_equal(stats(f).tfo_client_requests, 1);
    assert_int_equal(stats(f).tfo_client_syn_data, 0);

    /* with the cookie: connect returns 0 and sends nothing; the socket is writable */
    fo_connect(f, 0);
    fx_none(f);
    assert_int_equal(sf_conn_state(f->conn), SF_SYN_SENT);
    assert_true(sf_poll(f->conn) & SF_POLLOUT);
    assert_int_equal(sf_fastopen_room(f->conn), 1200 - 40);
    /* the first write: SYN, cookie and 1160 bytes; the engine takes all 2000 */
    static char data[2000];
    memset(data, 'x', sizeof data);
    assert_int_equal(sf_send(f->conn, data, sizeof data), 2000);
    const struct sf_seg *syn = syn_out(f, 1160);
    assert_true(syn->opt.has & OPT_FO);
    assert_int_equal(syn->opt.fo_len, 8);
    assert_memory_equal(syn->opt.fo_cookie, cookie1, 8);
    fx_none(f);
    assert_int_equal(sf_fastopen_room(f->conn), 0);
    /* the SYN-ACK acknowledges SYN and data: the rest goes, carrying the ACK */
    struct sf_tcp_opts o = synack_opts(1200, NULL, 0);
    fx_in(f, TH_SYN | TH_ACK, 0, 1161, 65535, &o, NULL, 0);
    fx_out(f, TH_ACK | TH_PSH, 1161, 1, 840);
    fx_none(f);
    struct sf_conn_info in;
    sf_info(f->conn, &in);
    assert_int_equal(in.state, SF_ESTABLISHED);
    assert_int_equal(in.tfo_syn_data, 1160);
    assert_int_equal(in.tfo_syn_data_acked, 1);
    assert_int_equal(in.tfo_client_fail, SF_TFO_FAIL_NONE);
    assert_int_equal(in.bytes_acked, 1160);
    assert_int_equal(in.retrans_segs, 0);
    assert_int_equal(stats(f).tfo_client_syn_data, 1);
    assert_int_equal(stats(f).tfo_client_data_acked, 1);
    assert_int_equal(stats(f).tfo_client_fallbacks, 0);
    fx_free(f);
}

static void partial_and_no_ack(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    learn_cookie(f);
    /* sf_connect_data: connect and send in one call */
    f->conn = sf_socket(f->e);
    f->iss_known = 0;
    struct sf_endpoint ep = server_ep(sf_addr_v4(192, 0, 2, 1));
    static char data[1000];
    memset(data, 'y', sizeof data);
    assert_int_equal(sf_connect_data(f->conn, &ep, data, sizeof data), 1000);
    syn_out(f, 1000);
    /* 300 acknowledged, and a new 6-byte cookie: the other 700 at once */
    struct sf_tcp_opts o = synack_opts(1000, cookie2, 6);
    fx_in(f, TH_SYN | TH_ACK, 0, 301, 65535, &o, NULL, 0);
    fx_out(f, TH_ACK | TH_PSH, 301, 1, 700);
    fx_none(f);
    struct sf_conn_info in;
    sf_info(f->conn, &in);
    assert_int_equal(in.tfo_syn_data_acked, 0);
    assert_int_equal(in.tfo_client_fail, SF_TFO_FAIL_DATA_NOT_ACKED);
    assert_int_equal(in.retrans_segs, 1);
    assert_int_equal(in.bytes_acked, 300);
    assert_int_equal(stats(f).tfo_client_fallbacks, 1);
    fx_in(f, TH_ACK, 1, 1001, 65535, NULL, NULL, 0);
    sf_info(f->conn, &in);
    assert_int_equal(in.unacked, 0);
    close_conn(f);

    /* the new cookie and MSS (1000 - 40) are used; none of the data acknowledged, no
     * cookie: all of it again, and the cookie stays (the server took the SYN) */
    fo_connect(f, 0);
    assert_int_equal(sf_send(f->conn, data, sizeof data), 1000);
    const struct sf_seg *syn = syn_out(f, 960);
    assert_int_equal(syn->opt.fo_len, 6);
    assert_memory_equal(syn->opt.fo_cookie, cookie2, 6);
    o = synack_opts(1000, NULL, 0);
    fx_in(f, TH_SYN | TH_ACK, 0, 1, 65535, &o, NULL, 0);
    fx_out(f, TH_ACK | TH_PSH, 1, 1, 1000); /* the SYN's 960 and the 40 behind them */
    fx_none(f);
    close_conn(f);
    fo_connect(f, 0);
    assert_int_equal(stats(f).tfo_client_blocked, 0);
    fx_free(f);
}

static void lost_syn_turns_fast_open_off(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    learn_cookie(f);
    fo_connect(f, 0);
    assert_int_equal(sf_send(f->conn, "0123456789", 10), 10);
    syn_out(f, 10);
    /* the retransmission: no option, no data */
    fx_advance(f, 1000);
    const struct sf_seg *again = fx_out(f, TH_SYN, 0, 0, 0);
    assert_false(again->opt.has & OPT_FO);
    fx_none(f);
    /* answered without a cookie, acknowledging the SYN only: the data after it */
    struct sf_tcp_opts o = synack_opts(1200, NULL, 0);
    fx_in(f, TH_SYN | TH_ACK, 0, 1, 65535, &o, NULL, 0);
    fx_out(f, TH_ACK | TH_PSH, 1, 1, 10);
    fx_none(f);
    struct sf_conn_info in;
    sf_info(f->conn, &in);
    assert_int_equal(in.tfo_client_fail, SF_TFO_FAIL_SYN_RETRANSMITTED);
    close_conn(f);

    /* for 60 s, a Fast Open connect to that server is a plain one */
    fx_advance(f, 59000);
    fo_connect(f, -EINPROGRESS);
    const struct sf_seg *syn = syn_out(f, 0);
    assert_false(syn->opt.has & OPT_FO);
    assert_int_equal(sf_fastopen_room(f->conn), 0);
    assert_int_equal(stats(f).tfo_client_blocked, 1);
    close_conn(f);
    /* then the cookie again */
    fx_advance(f, 1000);
    fo_connect(f, 0);
    close_conn(f);

    /* a second loss in a row: two minutes */
    fo_connect(f, 0);
    assert_int_equal(sf_send(f->conn, "x", 1), 1);
    syn_out(f, 1);
    fx_advance(f, 1000);
    fx_out(f, TH_SYN, 0, 0, 0);
    fx_in(f, TH_SYN | TH_ACK, 0, 1, 65535, &o, NULL, 0);
    fx_out(f, TH_ACK | TH_PSH, 1, 1, 1);
    close_conn(f);
    fx_advance(f, 119000);
    fo_connect(f, -EINPROGRESS);
    close_conn(f);
    fx_advance(f, 1000);
    fo_connect(f, 0);
    close_conn(f);
    fx_free(f);
}

static void request_retransmitted_plain(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    fo_connect(f, -EINPROGRESS);
    syn_out(f, 0);
    fx_advance(f, 1000);
    const struct sf_seg *again = fx_out(f, TH_SYN, 0, 0, 0);
    assert_false(again->opt.has & OPT_FO);
    /* a late cookie is still kept: the timeout may have been spurious */
    struct sf_tcp_opts o = synack_opts(1460, cookie1, 8);
    fx_in(f, TH_SYN | TH_ACK, 0, 1, 65535, &o, NULL, 0);
    fx_out(f, TH_ACK, 1, 1, 0);
    close_conn(f);
    fo_connect(f, 0);
    assert_int_equal(sf_fastopen_room(f->conn), 1420);
    fx_free(f);
}

static void client_bit_off(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(off);
    f->conn = sf_socket(f->e);
    assert_int_equal(sf_setopt(f->conn, SF_OPT_FASTOPEN_CONNECT, 1), -EOPNOTSUPP);
    /* sf_connect_data: a plain connect, the data queued for after the handshake */
    struct sf_endpoint ep = server_ep(sf_addr_v4(192, 0, 2, 1));
    assert_int_equal(sf_connect_data(f->conn, &ep, "abc", 3), 3);
    const struct sf_seg *syn = syn_out(f, 0);
    assert_false(syn->opt.has & OPT_FO);
    struct sf_tcp_opts o = synack_opts(1460, cookie1, 8); /* unasked: ignored */
    fx_in(f, TH_SYN | TH_ACK, 0, 1, 65535, &o, NULL, 0);
    fx_out(f, TH_ACK | TH_PSH, 1, 1, 3);
    fx_none(f);
    assert_int_equal(stats(f).tfo_client_requests, 0);
    fx_free(f);
}

/* A SYN-ACK with a cookie from server a (the fixture can only speak as 192.0.2.1). */
static void synack_from(struct fx *f, struct sf_addr a, uint32_t iss, uint16_t lport, uint8_t tag)
{
    struct sf_seg_out o;
    memset(&o, 0, sizeof o);
    o.t.laddr = a;
    o.t.raddr = sf_addr_v4(192, 168, 0, 1);
    o.t.lport = 40000;
    o.t.rport = lport;
    o.seq = FX_PEER_ISN;
    o.ack = iss + 1;
    o.flags = TH_SYN | TH_ACK;
    o.wnd = 65535;
    uint8_t ck[8] = {tag, tag, tag, tag, tag, tag, tag, tag};
    o.opt = synack_opts(1460, ck, 8);
    uint8_t pkt[256];
    size_t n = sf_seg_build(pkt, sizeof pkt, &o, NULL, 0, NULL, 0);
    assert_true(n > 0);
    assert_int_equal(sf_engine_input(f->e, pkt, n, f->now), 0);
}

/* Connects to server 10.0.0.<host> with Fast Open; returns what sf_connect said. With a
 * cookie request, the server answers with cookie <host>. */
static int learn_from(struct fx *f, uint8_t host)
{
    struct sf_conn *c = sf_socket(f->e);
    assert_int_equal(sf_setopt(c, SF_OPT_FASTOPEN_CONNECT, 1), 0);
    struct sf_endpoint ep = server_ep(sf_addr_v4(10, 0, 0, host));
    int rc = sf_connect(c, &ep);
    if (rc == -EINPROGRESS) {
        const struct fx_pkt *p = &f->out[f->nout - 1];
        assert_true(p->seg.flags == TH_SYN);
        synack_from(f, ep.addr, p->seg.seq, p->seg.t.rport, host);
    }
    sf_abort(c);
    f->next = f->nout;
    return rc;
}

static void cache_bounded_lru(void **unused)
{
    (void)unused;
    /* four entries (one set of four ways): a fifth server replaces the least recently used */
    struct fx *f = fx_new(small_cache);
    for (uint8_t h = 1; h <= 4; h++)
        assert_int_equal(learn_from(f, h), -EINPROGRESS);
    for (uint8_t h = 1; h <= 4; h++)
        assert_int_equal(learn_from(f, h), 0); /* all cached; 1 is now the oldest use */
    assert_int_equal(learn_from(f, 1), 0);     /* 1 used again: 2 is the oldest */
    assert_int_equal(learn_from(f, 5), -EINPROGRESS);
    assert_int_equal(learn_from(f, 5), 0);
    assert_int_equal(learn_from(f, 1), 0);
    assert_int_equal(learn_from(f, 2), -EINPROGRESS); /* replaced by 5 */
    /* flushed: every server asks again */
    sf_fastopen_cache_flush(f->e);
    assert_int_equal(learn_from(f, 5), -EINPROGRESS);
    fx_free(f);
}

/* ---- our client against our server: two engines wired back to back ---- */

struct pair {
    struct sf_engine *e[2];
    uint8_t q[2][16][2048]; /* packets waiting for engine i */
    size_t qlen[2][16];
    unsigned n[2];
};

static void to_server(void *ctx, const void *pkt, size_t len)
{
    struct pair *p = ctx;
    assert_true(p->n[1] < 16 && len <= 2048);
    memcpy(p->q[1][p->n[1]], pkt, len);
    p->qlen[1][p->n[1]++] = len;
}

static void to_client(void *ctx, const void *pkt, size_t len)
{
    struct pair *p = ctx;
    assert_true(p->n[0] < 16 && len <= 2048);
    memcpy(p->q[0][p->n[0]], pkt, len);
    p->qlen[0][p->n[0]++] = len;
}

static void pump(struct pair *p)
{
    while (p->n[0] || p->n[1])
        for (int i = 0; i < 2; i++) {
            unsigned n = p->n[i];
            uint8_t batch[16][2048];
            size_t lens[16];
            memcpy(batch, p->q[i], sizeof batch);
            memcpy(lens, p->qlen[i], sizeof lens);
            p->n[i] = 0;
            for (unsigned k = 0; k < n; k++)
                assert_int_equal(sf_engine_input(p->e[i], batch[k], lens[k], SF_SEC(10)), 0);
        }
}

static void client_and_server_engines(void **unused)
{
    (void)unused;
    static struct pair p;
    memset(&p, 0, sizeof p);
    struct sf_tcp_config cfg;
    sf_tcp_config_defaults(&cfg);
    cfg.fastopen = SF_TFO_CLIENT | SF_TFO_SERVER;
    for (int i = 0; i < 2; i++) {
        struct sf_engine_params ep;
        memset(&ep, 0, sizeof ep);
        ep.config = &cfg;
        ep.ops.output = i == 0 ? to_server : to_client;
        ep.ctx = &p;
        for (int k = 0; k < 32; k++)
            ep.key[k] = (uint8_t)(k * 7 + i * 3 + 1);
        ep.local_addr = sf_addr_v4(10, 0, 0, (uint8_t)(i + 1));
        ep.now = SF_SEC(10);
        p.e[i] = sf_engine_new(&ep);
        assert_non_null(p.e[i]);
    }
    struct sf_conn *l = sf_socket(p.e[1]);
    assert_int_equal(sf_setopt(l, SF_OPT_FASTOPEN, 8), 0);
    struct sf_endpoint any;
    memset(&any, 0, sizeof any);
    any.addr.family = SF_AF_INET;
    any.port = 80;
    assert_int_equal(sf_bind(l, &any), 0);
    assert_int_equal(sf_listen(l, 8), 0);
    struct sf_endpoint srv = {.addr = sf_addr_v4(10, 0, 0, 2), .port = 80};

    /* first: a cookie request, answered with our server's cookie */
    struct sf_conn *c = sf_socket(p.e[0]);
    assert_int_equal(sf_setopt(c, SF_OPT_FASTOPEN_CONNECT, 1), 0);
    assert_int_equal(sf_connect(c, &srv), -EINPROGRESS);
    pump(&p);
    assert_int_equal(sf_conn_state(c), SF_ESTABLISHED);
    int err;
    struct sf_conn *a = sf_accept(l, &err);
    assert_non_null(a);
    sf_abort(a);
    sf_abort(c);
    pump(&p);

    /* second: the request in the SYN, read by the server before the handshake's ACK */
    c = sf_socket(p.e[0]);
    assert_int_equal(sf_setopt(c, SF_OPT_FASTOPEN_CONNECT, 1), 0);
    assert_int_equal(sf_connect(c, &srv), 0);
    assert_int_equal(sf_send(c, "GET / HTTP/1.0\r\n\r\n", 18), 18);
    assert_int_equal(p.n[1], 1);
    assert_int_equal(sf_engine_input(p.e[1], p.q[1][0], p.qlen[1][0], SF_SEC(10)), 0);
    p.n[1] = 0;
    a = sf_accept(l, &err);
    assert_non_null(a);
    assert_int_equal(sf_conn_state(a), SF_SYN_RECEIVED);
    char buf[32];
    assert_int_equal(sf_recv(a, buf, sizeof buf), 18);
    assert_memory_equal(buf, "GET / HTTP/1.0\r\n\r\n", 18);
    pump(&p);
    struct sf_conn_info in;
    sf_info(c, &in);
    assert_int_equal(in.state, SF_ESTABLISHED);
    assert_int_equal(in.tfo_syn_data, 18);
    assert_int_equal(in.tfo_syn_data_acked, 1);
    struct sf_engine_stats cs, ss;
    sf_engine_stats(p.e[0], &cs);
    sf_engine_stats(p.e[1], &ss);
    assert_int_equal(cs.tfo_client_requests, 1);
    assert_int_equal(cs.tfo_client_syn_data, 1);
    assert_int_equal(cs.tfo_client_data_acked, 1);
    assert_int_equal(ss.tfo_cookies_sent, 1);
    assert_int_equal(ss.tfo_accepted, 1);
    sf_abort(a);
    sf_abort(c);
    sf_abort(l);
    sf_engine_free(p.e[0]);
    sf_engine_free(p.e[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_then_syn_data),
        cmocka_unit_test(partial_and_no_ack),
        cmocka_unit_test(lost_syn_turns_fast_open_off),
        cmocka_unit_test(request_retransmitted_plain),
        cmocka_unit_test(client_bit_off),
        cmocka_unit_test(cache_bounded_lru),
        cmocka_unit_test(client_and_server_engines),
    };
    return cmocka_run_group_tests_name("tcp_fastopen_client", tests, NULL, NULL);
}
