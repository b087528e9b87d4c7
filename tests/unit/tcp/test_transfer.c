/* Two engines on a lossy in-test link: connections move data both ways and close; every byte
 * must arrive exactly once and in order (checked by hash), every connection must end, and the
 * engines' object counts must return to zero. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcp/tcp.h"

/* ---- a tiny two-host link: delay, loss, deterministic ------------------------------------ */

struct pkt {
    sf_time_t at;
    int to; /* 0 = A, 1 = B */
    size_t len;
    uint8_t data[1600];
};

#define QMAX 200000

struct net {
    struct sf_engine *eng[2];
    struct pkt *q; /* FIFO per direction is enough: equal delays keep order */
    unsigned head, tail;
    sf_time_t now, delay;
    uint64_t rng;
    unsigned loss_ppm;
    uint64_t sent, lost;
};

static struct net net;

static uint64_t rnd(void)
{
    net.rng ^= net.rng << 13;
    net.rng ^= net.rng >> 7;
    net.rng ^= net.rng << 17;
    return net.rng;
}

static void output(void *ctx, const void *p, size_t len)
{
    int from = (int)(intptr_t)ctx;
    net.sent++;
    if (net.loss_ppm && rnd() % 1000000 < net.loss_ppm) {
        net.lost++;
        return;
    }
    assert_true(len <= sizeof net.q[0].data);
    assert_true(net.tail - net.head < QMAX);
    struct pkt *k = &net.q[net.tail++ % QMAX];
    k->at = net.now + net.delay;
    k->to = !from;
    k->len = len;
    memcpy(k->data, p, len);
}

static void run_until(sf_time_t limit, int (*done)(void))
{
    while (!done || !done()) {
        sf_time_t next = SF_TIME_NEVER;
        if (net.head != net.tail)
            next = net.q[net.head % QMAX].at;
        for (int i = 0; i < 2; i++) {
            sf_time_t d = sf_engine_next_deadline(net.eng[i]);
            if (d < next)
                next = d;
        }
        if (next == SF_TIME_NEVER || next > limit)
            break;
        if (next > net.now)
            net.now = next;
        while (net.head != net.tail && net.q[net.head % QMAX].at <= net.now) {
            struct pkt *k = &net.q[net.head++ % QMAX];
            sf_engine_input(net.eng[k->to], k->data, k->len, net.now);
        }
        for (int i = 0; i < 2; i++)
            sf_engine_advance(net.eng[i], net.now);
    }
}

/* ---- the application: request of random size, response of random size ---------------- */

#define MAXC 400

struct flow {
    struct sf_conn *c;
    int server;
    uint64_t seed;
    size_t tx_total, tx_done;
    size_t rx_total;
    uint64_t tx_hash, rx_hash;
    int rx_eof, closed, shut;
};

static struct flow flows[2 * MAXC];
static int nflows, finished;
static uint64_t expect_req_hash[MAXC], expect_resp_hash[MAXC];
static size_t req_len[MAXC], resp_len[MAXC];

static uint8_t byte_at(uint64_t seed, size_t i)
{
    uint64_t x = seed + i * 0x9e3779b97f4a7c15ULL;
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ULL;
    return (uint8_t)(x >> 56);
}

static uint64_t hash_add(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static void handler(struct sf_conn *c, unsigned ev, void *user);

static void pump(struct flow *f)
{
    uint8_t buf[8192];
    while (f->tx_done < f->tx_total) {
        size_t n = f->tx_total - f->tx_done;
        if (n > sizeof buf)
            n = sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = byte_at(f->seed, f->tx_done + i);
        ssize_t w = sf_send(f->c, buf, n);
        if (w == -EAGAIN)
            return;
        assert_true(w > 0);
        f->tx_done += (size_t)w;
    }
    if (!f->shut) {
        f->shut = 1;
        assert_int_equal(sf_shutdown(f->c, SF_SHUT_WR), 0);
    }
}

static void drain(struct flow *f)
{
    uint8_t buf[8192];
    for (;;) {
        ssize_t r = sf_recv(f->c, buf, sizeof buf);
        if (r == -EAGAIN)
            return;
        if (r == 0) {
            f->rx_eof = 1;
            return;
        }
        assert_true(r > 0);
        f->rx_hash = hash_add(f->rx_hash, buf, (size_t)r);
        f->rx_total += (size_t)r;
    }
}

/* Request lengths are distinct: the length names the connection. */
static size_t find_request(size_t len)
{
    for (size_t k = 0; k < MAXC; k++)
        if (req_len[k] == len)
            return k;
    fail_msg("request of unknown length %zu", len);
    return 0;
}

static void handler(struct sf_conn *c, unsigned ev, void *user)
{
    struct flow *f = user;
    if (!f) { /* the listener */
        int err;
        struct sf_conn *a;
        while ((a = sf_accept(c, &err)) != NULL) {
            struct flow *s = &flows[nflows++];
            memset(s, 0, sizeof *s);
            s->c = a;
            s->server = 1;
            s->rx_hash = s->tx_hash = 0xcbf29ce484222325ULL;
            sf_set_handler(a, handler, s);
        }
        return;
    }
    (void)ev;
    drain(f);
    if (f->server && f->rx_eof && !f->tx_total && !f->shut) {
        /* The request is complete: its length names the response. */
        size_t k = find_request(f->rx_total);
        f->seed = 1000 + k;
        f->tx_total = resp_len[k];
        if (f->tx_total == 0) {
            f->shut = 1;
            sf_shutdown(f->c, SF_SHUT_WR);
        }
    }
    if (f->tx_total)
        pump(f);
    if (f->rx_eof && f->shut && !f->closed &&
        (sf_conn_state(c) == SF_CLOSED || sf_conn_state(c) == SF_LAST_ACK ||
         sf_conn_state(c) == SF_TIME_WAIT || sf_conn_state(c) == SF_FIN_WAIT_2 ||
         sf_conn_state(c) == SF_CLOSING || sf_conn_state(c) == SF_FIN_WAIT_1)) {
        f->closed = 1;
        finished++;
        sf_close(c);
    }
}

static int all_finished(void)
{
    return finished == nflows && nflows > 0;
}

static void run_transfer(unsigned nconn, unsigned loss_ppm, size_t max_bytes, uint64_t seed)
{
    memset(&net, 0, sizeof net);
    net.q = calloc(QMAX, sizeof *net.q);
    assert_non_null(net.q);
    net.now = SF_SEC(10);
    net.delay = SF_MS(5);
    net.rng = seed | 1;
    net.loss_ppm = loss_ppm;
    struct sf_tcp_config cfg;
    sf_tcp_config_defaults(&cfg);
    cfg.time_wait_ms = 2000;
    cfg.rcvbuf = 65536;
    cfg.sndbuf = 65536;
    for (int i = 0; i < 2; i++) {
        struct sf_engine_params p;
        memset(&p, 0, sizeof p);
        p.config = &cfg;
        p.ops.output = output;
        p.ctx = (void *)(intptr_t)i;
        for (int k = 0; k < 32; k++)
            p.key[k] = (uint8_t)(seed + i * 31 + k);
        p.local_addr = sf_addr_v4(10, 0, 0, (uint8_t)(i + 1));
        p.now = net.now;
        net.eng[i] = sf_engine_new(&p);
        assert_non_null(net.eng[i]);
    }
    nflows = finished = 0;
    struct sf_conn *l = sf_socket(net.eng[1]);
    struct sf_endpoint ep = {.addr = sf_addr_v4(10, 0, 0, 2), .port = 80};
    assert_int_equal(sf_bind(l, &ep), 0);
    assert_int_equal(sf_listen(l, 1024), 0);
    sf_set_handler(l, handler, NULL);

    for (unsigned k = 0; k < nconn; k++) {
        /* Distinct request lengths identify the flow to the server. */
        req_len[k] = (size_t)(rnd() % max_bytes) / nconn * nconn + k + 1;
        resp_len[k] = (size_t)(rnd() % max_bytes);
        expect_req_hash[k] = hash_add(0xcbf29ce484222325ULL, NULL, 0);
        uint8_t b;
        uint64_t h = 0xcbf29ce484222325ULL;
        for (size_t i = 0; i < req_len[k]; i++) {
            b = byte_at(k, i);
            h = hash_add(h, &b, 1);
        }
        expect_req_hash[k] = h;
        h = 0xcbf29ce484222325ULL;
        for (size_t i = 0; i < resp_len[k]; i++) {
            b = byte_at(1000 + k, i);
            h = hash_add(h, &b, 1);
        }
        expect_resp_hash[k] = h;
    }
    for (unsigned k = 0; k < nconn; k++) {
        struct flow *f = &flows[nflows++];
        memset(f, 0, sizeof *f);
        f->seed = k;
        f->tx_total = req_len[k];
        f->rx_hash = 0xcbf29ce484222325ULL;
        f->c = sf_socket(net.eng[0]);
        sf_set_handler(f->c, handler, f);
        struct sf_endpoint to = {.addr = sf_addr_v4(10, 0, 0, 2), .port = 80};
        assert_int_equal(sf_connect(f->c, &to), -EINPROGRESS);
    }
    run_until(net.now + SF_SEC(3600), all_finished);
    if (!all_finished()) {
        for (int i = 0; i < nflows; i++)
            if (!flows[i].closed) {
                struct sf_conn_info in;
                sf_info(flows[i].c, &in);
                fprintf(stderr, "# flow %d server=%d state %s tx %zu/%zu rx %zu eof %d\n", i,
                        flows[i].server, sf_state_name(in.state), flows[i].tx_done,
                        flows[i].tx_total, flows[i].rx_total, flows[i].rx_eof);
            }
    }
    assert_int_equal(finished, 2 * (int)nconn);
    /* Every byte once and in order. */
    for (int i = 0; i < nflows; i++) {
        struct flow *f = &flows[i];
        if (f->server) {
            size_t k = (size_t)(f->seed - 1000);
            assert_int_equal(f->rx_total, req_len[k]);
            assert_true(f->rx_hash == expect_req_hash[k]);
        } else {
            assert_int_equal(f->rx_total, resp_len[f->seed]);
            assert_true(f->rx_hash == expect_resp_hash[f->seed]);
        }
    }
    /* Deliver what is still in flight and let TIME-WAIT run out: nothing may be left. */
    sf_close(l);
    run_until(net.now + SF_SEC(120), NULL);
    for (int i = 0; i < 2; i++) {
        struct sf_engine_stats st;
        sf_engine_stats(net.eng[i], &st);
        for (int k = 0; k < SF_STATE_COUNT; k++)
            if (st.states[k])
                fprintf(stderr, "# engine %d: %llu in %s\n", i, (unsigned long long)st.states[k],
                        sf_state_name((enum sf_state)k));
        assert_int_equal(st.conns_live, 0);
        assert_int_equal(st.tw_live, 0);
        assert_int_equal(st.bufs_live, 0);
        sf_engine_free(net.eng[i]);
    }
    free(net.q);
}

static void clean_link(void **state)
{
    (void)state;
    run_transfer(50, 0, 200000, 1);
}

static void one_percent_loss(void **state)
{
    (void)state;
    run_transfer(50, 10000, 200000, 2);
}

static void five_percent_loss(void **state)
{
    (void)state;
    run_transfer(50, 50000, 100000, 3);
}

static void twenty_percent_loss(void **state)
{
    (void)state;
    run_transfer(20, 200000, 30000, 4);
}

/* SWEEP=N runs N more seeds of each loss rate: a bug hunt, not part of make test. */
static void sweep(void **state)
{
    (void)state;
    int n = atoi(getenv("SWEEP"));
    for (int i = 0; i < n; i++) {
        static const unsigned loss[] = {0, 10000, 50000, 200000};
        fprintf(stderr, "# seed %d\n", 100 + i);
        run_transfer(30, loss[i % 4], i % 4 == 3 ? 30000 : 150000, 100 + (uint64_t)i);
    }
}

int main(void)
{
    if (getenv("SWEEP")) {
        const struct CMUnitTest t[] = {cmocka_unit_test(sweep)};
        return cmocka_run_group_tests_name("tcp_transfer_sweep", t, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(clean_link),
        cmocka_unit_test(one_percent_loss),
        cmocka_unit_test(five_percent_loss),
        cmocka_unit_test(twenty_percent_loss),
    };
    return cmocka_run_group_tests_name("tcp_transfer", tests, NULL, NULL);
}
