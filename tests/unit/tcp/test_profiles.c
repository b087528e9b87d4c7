/* Profiles (tcp.h, sf_profile): per-connection settings, as an F5 TCP profile gives one
 * virtual server's connections other timers than another's. Each test runs two connections
 * side by side, one with the engine's configuration and one with a profile, and shows the
 * setting differs exactly where the profile says; and that a profile its owner released lives
 * on for the connections that still use it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "fixture.h"

static void plain(struct sf_tcp_config *c)
{
    c->timestamps = 0;
    c->sack = 0;
    c->window_scaling = 0;
}

static struct sf_profile *profile(struct fx *f, void (*apply)(struct sf_tcp_config *))
{
    struct sf_tcp_config cfg = f->cfg;
    apply(&cfg);
    char err[128];
    struct sf_profile *p = sf_profile_new(f->e, &cfg, err, sizeof err);
    assert_non_null(p);
    return p;
}

static void two_syn_retries(struct sf_tcp_config *c)
{
    c->syn_retries = 2;
}

/* syn_retries 2 on the profile's connection: SYN at 0, 1, 3 s and ETIMEDOUT at 7 s, while
 * the engine's default (6) keeps the other one trying. */
static void active_open_takes_the_profile(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    struct sf_profile *p = profile(f, two_syn_retries);
    struct sf_conn *mine = sf_socket(f->e), *other = sf_socket(f->e);
    assert_int_equal(sf_set_profile(mine, p), 0);
    sf_profile_release(p); /* the connection keeps it alive */
    struct sf_endpoint ep = {.addr = sf_addr_v4(192, 0, 2, 1), .port = 40000};
    assert_int_equal(sf_connect(mine, &ep), -EINPROGRESS);
    ep.port = 40001;
    assert_int_equal(sf_connect(other, &ep), -EINPROGRESS);
    assert_int_equal(sf_set_profile(mine, p), -EINVAL); /* in use: too late */
    fx_advance(f, 7000);
    assert_int_equal(sf_conn_state(mine), SF_CLOSED);
    assert_int_equal(sf_take_error(mine), ETIMEDOUT);
    assert_int_equal(sf_conn_state(other), SF_SYN_SENT);
    sf_close(mine);
    sf_close(other);
    struct sf_engine_stats st;
    sf_engine_stats(f->e, &st);
    assert_int_equal(st.conns_live, 0);
    fx_free(f);
}

static void short_time_wait(struct sf_tcp_config *c)
{
    c->time_wait_ms = 2000; /* F5's TCP profile */
    c->rfc1337 = 1;
}

/* A listener's profile reaches the connections it accepts: closed first, the accepted one
 * holds TIME-WAIT for the profile's 2 s, not the engine's 60 s, and its entry ignores RST
 * (rfc1337) while the engine's default would not. */
static void accepted_connections_take_the_listeners(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    struct sf_profile *p = profile(f, short_time_wait);
    f->listener = sf_socket(f->e);
    assert_int_equal(sf_set_profile(f->listener, p), 0);
    sf_profile_release(p);
    struct sf_endpoint ep = {.addr = {.family = SF_AF_INET}, .port = f->local_port};
    assert_int_equal(sf_bind(f->listener, &ep), 0);
    assert_int_equal(sf_listen(f->listener, 16), 0);
    struct sf_tcp_opts o = {.has = OPT_MSS, .mss = 1460};
    fx_in(f, TH_SYN, 0, 0, 65535, &o, NULL, 0);
    fx_out(f, TH_SYN | TH_ACK, 0, 1, 0);
    fx_in(f, TH_ACK, 1, 1, 65535, NULL, NULL, 0);
    int err;
    f->conn = sf_accept(f->listener, &err);
    assert_non_null(f->conn);
    long tw;
    assert_int_equal(sf_getopt(f->conn, SF_OPT_TIME_WAIT_MS, &tw), 0);
    assert_int_equal(tw, 2000);
    sf_close(f->conn);
    fx_out(f, TH_ACK | TH_FIN, 1, 1, 0);
    fx_in(f, TH_ACK | TH_FIN, 1, 2, 65535, NULL, NULL, 0);
    fx_out(f, TH_ACK, 2, 2, 0);
    struct sf_engine_stats st;
    sf_engine_stats(f->e, &st);
    assert_int_equal(st.tw_live, 1);
    fx_in(f, TH_RST, 2, 0, 0, NULL, NULL, 0); /* exact, but rfc1337 keeps the entry */
    sf_engine_stats(f->e, &st);
    assert_int_equal(st.tw_live, 1);
    assert_int_equal(st.tw_rst_ignored, 1);
    fx_advance(f, 1999);
    sf_engine_stats(f->e, &st);
    assert_int_equal(st.tw_live, 1);
    fx_advance(f, 1);
    sf_engine_stats(f->e, &st);
    assert_int_equal(st.tw_live, 0);
    sf_close(f->listener);
    fx_free(f);
}

static void bad_rto(struct sf_tcp_config *c)
{
    c->rto_min_ms = 5000;
    c->rto_max_ms = 1000;
}

/* A profile is checked like the engine's configuration, with the same message. */
static void invalid_profile_is_refused(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    struct sf_tcp_config cfg = f->cfg;
    bad_rto(&cfg);
    char err[128] = "";
    assert_null(sf_profile_new(f->e, &cfg, err, sizeof err));
    assert_non_null(strstr(err, "rto"));
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(active_open_takes_the_profile),
        cmocka_unit_test(accepted_connections_take_the_listeners),
        cmocka_unit_test(invalid_profile_is_refused),
    };
    return cmocka_run_group_tests_name("tcp_profiles", tests, NULL, NULL);
}
