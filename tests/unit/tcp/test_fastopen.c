/* TCP Fast Open, server side (RFC 7413): the option on the wire (kinds 34 and 254), cookies
 * as Linux makes them, a cookie request answered, SYN data accepted with a valid cookie and
 * refused with a bad one, the listener's queue limit, and the engine-wide one. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "fixture.h"
#include "tcp/segment.h"

/* Linux's cookie for key a0bf63f7-ed803d81-cd641d30-cebc4a90 (the sysctl's text), client
 * 10.248.0.2, server 192.168.0.2: 00abaaabe8e954c2 (packetdrill's fastopen/server tests). */
static const uint8_t linux_key[16] = {0xf7, 0x63, 0xbf, 0xa0, 0x81, 0x3d, 0x80, 0xed,
                                      0x30, 0x1d, 0x64, 0xcd, 0x90, 0x4a, 0xbc, 0xce};

static void server(struct sf_tcp_config *c)
{
    c->timestamps = 0;
    c->sack = 0;
    c->window_scaling = 0;
    c->fastopen = SF_TFO_SERVER;
}

static void off(struct sf_tcp_config *c)
{
    server(c);
    c->fastopen = 0;
}

static struct sf_tcp_opts syn_opts(int fo, int exp, const uint8_t *cookie, uint8_t len)
{
    struct sf_tcp_opts o;
    memset(&o, 0, sizeof o);
    o.has = OPT_MSS;
    o.mss = 1460;
    if (fo) {
        o.has |= OPT_FO;
        o.fo_exp = (uint8_t)exp;
        o.fo_len = len;
        if (len)
            memcpy(o.fo_cookie, cookie, len);
    }
    return o;
}

static void peer_cookie(struct fx *f, uint8_t out[8])
{
    struct sf_addr peer = sf_addr_v4(192, 0, 2, 1), me = sf_addr_v4(192, 168, 0, 1);
    sf_fastopen_cookie(f->e, &peer, &me, out);
}

static struct sf_engine_stats stats(struct fx *f)
{
    struct sf_engine_stats st;
    sf_engine_stats(f->e, &st);
    return st;
}

static void listen_tfo(struct fx *f, long qlen)
{
    f->listener = sf_socket(f->e);
    assert_int_equal(sf_setopt(f->listener, SF_OPT_FASTOPEN, qlen), 0);
    struct sf_endpoint ep;
    memset(&ep, 0, sizeof ep);
    ep.addr.family = SF_AF_INET;
    ep.port = f->local_port;
    assert_int_equal(sf_bind(f->listener, &ep), 0);
    assert_int_equal(sf_listen(f->listener, 16), 0);
}

static void option_bytes_as_linux(void **unused)
{
    (void)unused;
    struct sf_seg_out o;
    memset(&o, 0, sizeof o);
    o.t.laddr = sf_addr_v4(192, 168, 0, 1);
    o.t.raddr = sf_addr_v4(192, 0, 2, 1);
    o.t.lport = 8080;
    o.t.rport = 40000;
    o.flags = TH_SYN | TH_ACK;
    o.opt = syn_opts(1, 0, (const uint8_t *)"\x00\xab\xaa\xab\xe8\xe9\x54\xc2", 8);
    uint8_t pkt[200];
    size_t n = sf_seg_build(pkt, sizeof pkt, &o, NULL, 0, NULL, 0);
    /* mss (4), then FO: 34, 10, the cookie, nop, nop */
    assert_int_equal(n, 20 + 20 + 4 + 12);
    static const uint8_t fo[12] = {34, 10, 0x00, 0xab, 0xaa, 0xab, 0xe8, 0xe9, 0x54, 0xc2, 1, 1};
    assert_memory_equal(pkt + 44, fo, 12);
    struct sf_seg s;
    assert_int_equal(sf_seg_parse(pkt, n, &s), SEG_OK);
    assert_true(s.opt.has & OPT_FO);
    assert_int_equal(s.opt.fo_len, 8);
    assert_int_equal(s.opt.fo_exp, 0);
    assert_memory_equal(s.opt.fo_cookie, fo + 2, 8);

    /* the experimental form: 254, 12, 0xF989, the cookie; a request: 254, 4, 0xF989 */
    o.opt.fo_exp = 1;
    n = sf_seg_build(pkt, sizeof pkt, &o, NULL, 0, NULL, 0);
    assert_int_equal(n, 20 + 20 + 4 + 12);
    static const uint8_t foexp[4] = {254, 12, 0xf9, 0x89};
    assert_memory_equal(pkt + 44, foexp, 4);
    assert_int_equal(sf_seg_parse(pkt, n, &s), SEG_OK);
    assert_int_equal(s.opt.fo_exp, 1);
    assert_int_equal(s.opt.fo_len, 8);
    o.opt.fo_len = 0;
    n = sf_seg_build(pkt, sizeof pkt, &o, NULL, 0, NULL, 0);
    assert_int_equal(n, 20 + 20 + 4 + 4);
    assert_int_equal(sf_seg_parse(pkt, n, &s), SEG_OK);
    assert_true(s.opt.has & OPT_FO);
    assert_int_equal(s.opt.fo_len, 0);
}

static void cookie_is_linuxs(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(server);
    sf_engine_set_fastopen_key(f->e, linux_key);
    struct sf_addr client = sf_addr_v4(10, 248, 0, 2), srv = sf_addr_v4(192, 168, 0, 2);
    uint8_t c[8];
    sf_fastopen_cookie(f->e, &client, &srv, c);
    assert_memory_equal(c, "\x00\xab\xaa\xab\xe8\xe9\x54\xc2", 8);
    static const uint8_t zero[16];
    sf_engine_set_fastopen_key(f->e, zero);
    sf_fastopen_cookie(f->e, &client, &srv, c);
    assert_memory_equal(c, "\x93\xb7\xaa\x4f\x55\x0f\x8a\x1a", 8);
    fx_free(f);
}

static void cookie_request_answered(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(server);
    listen_tfo(f, 4);
    struct sf_tcp_opts o = syn_opts(1, 1, NULL, 0);
    fx_in(f, TH_SYN, 0, 0, 65535, &o, "early", 5);
    const struct sf_seg *sa = fx_out(f, TH_SYN | TH_ACK, 0, 1, 0); /* data not taken */
    uint8_t want[8];
    peer_cookie(f, want);
    assert_true(sa->opt.has & OPT_FO);
    assert_int_equal(sa->opt.fo_exp, 1); /* answered in the form asked */
    assert_int_equal(sa->opt.fo_len, 8);
    assert_memory_equal(sa->opt.fo_cookie, want, 8);
    assert_int_equal(stats(f).tfo_cookies_sent, 1);
    assert_int_equal(stats(f).tfo_accepted, 0);
    int err;
    assert_null(sf_accept(f->listener, &err));
    fx_free(f);
}

static void valid_cookie_data_before_handshake(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(server);
    listen_tfo(f, 4);
    uint8_t ck[8];
    peer_cookie(f, ck);
    struct sf_tcp_opts o = syn_opts(1, 0, ck, 8);
    fx_in(f, TH_SYN, 0, 0, 65535, &o, "GET / HTTP/1.0\r\n\r\n", 18);
    const struct sf_seg *sa = fx_out(f, TH_SYN | TH_ACK, 0, 19, 0); /* SYN and data acked */
    assert_false(sa->opt.has & OPT_FO); /* a valid cookie is not sent again */
    fx_none(f);
    assert_int_equal(stats(f).tfo_accepted, 1);
    assert_int_equal(stats(f).tfo_pending, 1);
    /* the application has the connection and the data before the handshake completes */
    int err;
    f->conn = sf_accept(f->listener, &err);
    assert_non_null(f->conn);
    assert_int_equal(sf_conn_state(f->conn), SF_SYN_RECEIVED);
    char buf[64];
    assert_int_equal(sf_recv(f->conn, buf, sizeof buf), 18);
    assert_memory_equal(buf, "GET / HTTP/1.0\r\n\r\n", 18);
    /* and may answer at once (RFC 7413 §4.2.2) */
    assert_int_equal(sf_send(f->conn, "HTTP/1.0 200 OK\r\n", 17), 17);
    fx_advance(f, 0);
    fx_out(f, TH_ACK | TH_PSH, 1, 19, 17);
    /* the handshake's ACK (acknowledging the reply too) */
    fx_in(f, TH_ACK, 19, 18, 65535, NULL, NULL, 0);
    assert_int_equal(sf_conn_state(f->conn), SF_ESTABLISHED);
    assert_int_equal(stats(f).tfo_pending, 0);
    fx_free(f);
}

static void reset_before_handshake(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(server);
    listen_tfo(f, 4);
    uint8_t ck[8];
    peer_cookie(f, ck);
    struct sf_tcp_opts o = syn_opts(1, 0, ck, 8);
    fx_in(f, TH_SYN, 0, 0, 65535, &o, "0123456789", 10);
    fx_out(f, TH_SYN | TH_ACK, 0, 11, 0);
    int err;
    f->conn = sf_accept(f->listener, &err);
    assert_non_null(f->conn);
    fx_in(f, TH_RST | TH_ACK, 11, 1, 0, NULL, NULL, 0);
    /* the data already taken stays readable; then the reset, not a refusal */
    char buf[16];
    assert_int_equal(sf_recv(f->conn, buf, sizeof buf), 10);
    assert_int_equal(sf_take_error(f->conn), ECONNRESET);
    assert_int_equal(stats(f).tfo_pending, 0);
    fx_free(f);
}

static void bad_cookie_data_dropped(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(server);
    listen_tfo(f, 4);
    uint8_t ck[8];
    peer_cookie(f, ck);
    uint8_t bad[8];
    memcpy(bad, ck, 8);
    bad[7] ^= 1;
    struct sf_tcp_opts o = syn_opts(1, 0, bad, 8);
    fx_in(f, TH_SYN, 0, 0, 65535, &o, "hello", 5);
    const struct sf_seg *sa = fx_out(f, TH_SYN | TH_ACK, 0, 1, 0); /* only the SYN */
    assert_true(sa->opt.has & OPT_FO);
    assert_int_equal(sa->opt.fo_len, 8);
    assert_memory_equal(sa->opt.fo_cookie, ck, 8); /* a fresh, valid cookie */
    assert_int_equal(stats(f).tfo_refused, 1);
    assert_int_equal(stats(f).tfo_accepted, 0);
    int err;
    assert_null(sf_accept(f->listener, &err));
    /* the client sends its data again after the handshake */
    fx_in(f, TH_ACK, 1, 1, 65535, NULL, "hello", 5);
    f->conn = sf_accept(f->listener, &err);
    assert_non_null(f->conn);
    char buf[8];
    assert_int_equal(sf_recv(f->conn, buf, sizeof buf), 5);
    fx_free(f);
}

static void listener_queue_limit(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(server);
    listen_tfo(f, 1);
    uint8_t ck[8];
    peer_cookie(f, ck);
    struct sf_tcp_opts o = syn_opts(1, 0, ck, 8);
    fx_in(f, TH_SYN, 0, 0, 65535, &o, "one", 3);
    fx_out(f, TH_SYN | TH_ACK, 0, 4, 0);
    /* a second client port: the queue (1) is full, the SYN is a plain SYN, no cookie */
    f->peer_port++;
    f->iss_known = 0; /* another 4-tuple, another ISN */
    fx_in(f, TH_SYN, 0, 0, 65535, &o, "two", 3);
    const struct sf_seg *sa = fx_out(f, TH_SYN | TH_ACK, 0, 1, 0);
    assert_false(sa->opt.has & OPT_FO);
    assert_int_equal(stats(f).tfo_overflow, 1);
    assert_int_equal(stats(f).tfo_accepted, 1);
    fx_free(f);
}

static void one_pending(struct sf_tcp_config *c)
{
    server(c);
    c->fastopen_max_pending = 1;
}

static void no_cookie_always(struct sf_tcp_config *c)
{
    server(c);
    c->fastopen = SF_TFO_SERVER | SF_TFO_SERVER_NO_COOKIE | SF_TFO_SERVER_ALWAYS;
}

static void engine_limit_and_off(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(off);
    listen_tfo(f, 4);
    uint8_t ck[8];
    peer_cookie(f, ck);
    struct sf_tcp_opts o = syn_opts(1, 0, ck, 8);
    /* the fastopen setting off: TCP_FASTOPEN alone does nothing */
    fx_in(f, TH_SYN, 0, 0, 65535, &o, "one", 3);
    const struct sf_seg *sa = fx_out(f, TH_SYN | TH_ACK, 0, 1, 0);
    assert_false(sa->opt.has & OPT_FO);
    assert_int_equal(stats(f).tfo_accepted, 0);
    fx_free(f);

    /* fastopen_max_pending 1, engine-wide: the listener's queue of 4 does not matter */
    f = fx_new(one_pending);
    listen_tfo(f, 4);
    peer_cookie(f, ck);
    o = syn_opts(1, 0, ck, 8);
    fx_in(f, TH_SYN, 0, 0, 65535, &o, "one", 3);
    fx_out(f, TH_SYN | TH_ACK, 0, 4, 0);
    uint32_t first_iss = f->iss;
    f->peer_port++;
    f->iss_known = 0;
    fx_in(f, TH_SYN, 0, 0, 65535, &o, "two", 3);
    fx_out(f, TH_SYN | TH_ACK, 0, 1, 0);
    assert_int_equal(stats(f).tfo_overflow, 1);
    /* the first completes its handshake: room again */
    f->peer_port--;
    f->iss = first_iss;
    fx_in(f, TH_ACK, 4, 1, 65535, NULL, NULL, 0);
    assert_int_equal(stats(f).tfo_pending, 0);
    f->peer_port += 2;
    f->iss_known = 0;
    fx_in(f, TH_SYN, 0, 0, 65535, &o, "three", 5);
    fx_out(f, TH_SYN | TH_ACK, 0, 6, 0);
    assert_int_equal(stats(f).tfo_accepted, 2);
    fx_free(f);
}

static void no_cookie_needed(void **unused)
{
    (void)unused;
    /* 0x200: data without a cookie; 0x400: a listener without TCP_FASTOPEN takes it too */
    struct fx *f = fx_new(no_cookie_always);
    fx_listen(f);
    struct sf_tcp_opts o = syn_opts(0, 0, NULL, 0);
    fx_in(f, TH_SYN, 0, 0, 65535, &o, "data", 4);
    const struct sf_seg *sa = fx_out(f, TH_SYN | TH_ACK, 0, 5, 0);
    assert_false(sa->opt.has & OPT_FO);
    int err;
    f->conn = sf_accept(f->listener, &err);
    assert_non_null(f->conn);
    char buf[8];
    assert_int_equal(sf_recv(f->conn, buf, sizeof buf), 4);
    /* a SYN without data is a plain SYN */
    f->peer_port++;
    f->iss_known = 0;
    fx_in(f, TH_SYN, 0, 0, 65535, &o, NULL, 0);
    fx_out(f, TH_SYN | TH_ACK, 0, 1, 0);
    assert_null(sf_accept(f->listener, &err));
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(option_bytes_as_linux),
        cmocka_unit_test(cookie_is_linuxs),
        cmocka_unit_test(cookie_request_answered),
        cmocka_unit_test(valid_cookie_data_before_handshake),
        cmocka_unit_test(reset_before_handshake),
        cmocka_unit_test(bad_cookie_data_dropped),
        cmocka_unit_test(listener_queue_limit),
        cmocka_unit_test(engine_limit_and_off),
        cmocka_unit_test(no_cookie_needed),
    };
    return cmocka_run_group_tests_name("tcp_fastopen", tests, NULL, NULL);
}
