/* The simulator at scale with the real engine: thousands of connections between two hosts,
 * and a couple of hundred hosts each with its own engine, over impaired links. Every
 * connection does a request and a response and closes; every byte must arrive intact, every
 * connection must end, and the engines' object counts must return to zero. The CPU time is
 * printed as a diagnostic, never asserted (speed is for benchmarks). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/sim.h"
#include "tcp/tcp.h"

#define MSG  1024
#define PORT 80

struct node;

/* One end of one connection. */
struct end {
    struct node *node;
    struct sf_conn *c;
    int client;
    uint32_t id;
    size_t got;
    uint8_t buf[MSG];
    int done; /* the owner closed it */
};

struct node {
    struct sf_sim *sim;
    struct sf_sim_host *host;
    struct sf_engine *eng;
    struct sf_conn *listener;
    struct end *ends;
    size_t nends, cap;
    uint64_t *finished; /* connections fully done on this side (shared counter) */
    uint64_t *errors;
};

static uint8_t request_byte(uint32_t id, size_t i)
{
    return (uint8_t)(id * 31u + i * 7u + 1u);
}

static void node_output(void *ctx, const void *pkt, size_t len)
{
    struct node *n = ctx;
    int rc = sf_sim_send(n->sim, n->host, pkt, len);
    if (rc < 0)
        (*n->errors)++;
}

static void node_deliver(void *ctx, const void *pkt, size_t len, sf_time_t now)
{
    struct node *n = ctx;
    sf_engine_input(n->eng, pkt, len, now);
}

static void node_advance(void *ctx, sf_time_t now)
{
    struct node *n = ctx;
    sf_engine_advance(n->eng, now);
}

static sf_time_t node_deadline(void *ctx)
{
    struct node *n = ctx;
    return sf_engine_next_deadline(n->eng);
}

static const struct sf_sim_host_ops node_ops = {node_deliver, node_advance, node_deadline};

static void end_events(struct sf_conn *c, unsigned events, void *user);

static struct end *new_end(struct node *n)
{
    if (n->nends == n->cap)
        return NULL;
    struct end *e = &n->ends[n->nends++];
    memset(e, 0, sizeof *e);
    e->node = n;
    return e;
}

static void send_all(struct end *e, const uint8_t *data)
{
    ssize_t k = sf_send(e->c, data, MSG);
    if (k != MSG)
        (*e->node->errors)++;
}

static void finish(struct end *e)
{
    e->done = 1;
    if (sf_close(e->c) < 0)
        (*e->node->errors)++;
    (*e->node->finished)++;
}

/* Client: send the request once connected, read the response, close (active close).
 * Server: read the request, answer with each byte inverted, close on the client's FIN. */
static void end_events(struct sf_conn *c, unsigned events, void *user)
{
    struct end *e = user;
    if (e->done)
        return;
    if (events & SF_EV_RESET) {
        (*e->node->errors)++;
        e->done = 1;
        sf_abort(c);
        (*e->node->finished)++;
        return;
    }
    if (e->client && (events & SF_EV_CONNECTED)) {
        uint8_t req[MSG];
        for (size_t i = 0; i < MSG; i++)
            req[i] = request_byte(e->id, i);
        send_all(e, req);
    }
    if (!(events & (SF_EV_READABLE | SF_EV_PEER_FIN)))
        return;
    for (;;) {
        uint8_t tmp[MSG];
        ssize_t k = sf_recv(c, tmp, sizeof tmp);
        if (k == -EAGAIN)
            return;
        if (k < 0) {
            (*e->node->errors)++;
            return;
        }
        if (k == 0) { /* the peer's FIN */
            if (!e->client && e->got == MSG)
                finish(e);
            else if (!e->client)
                (*e->node->errors)++;
            return;
        }
        if (e->got + (size_t)k > MSG) {
            (*e->node->errors)++;
            return;
        }
        memcpy(e->buf + e->got, tmp, (size_t)k);
        e->got += (size_t)k;
        if (e->got < MSG)
            continue;
        if (!e->client) {
            uint8_t resp[MSG];
            for (size_t i = 0; i < MSG; i++)
                resp[i] = (uint8_t)~e->buf[i];
            send_all(e, resp);
        } else {
            for (size_t i = 0; i < MSG; i++)
                if ((uint8_t)(e->buf[i] ^ request_byte(e->id, i)) != 0xff)
                    (*e->node->errors)++;
            finish(e);
            return;
        }
    }
}

static void listener_events(struct sf_conn *l, unsigned events, void *user)
{
    struct node *n = user;
    if (!(events & SF_EV_ACCEPT))
        return;
    for (;;) {
        int err = 0;
        struct sf_conn *c = sf_accept(l, &err);
        if (!c)
            return;
        struct end *e = new_end(n);
        if (!e) {
            (*n->errors)++;
            sf_abort(c);
            continue;
        }
        e->c = c;
        sf_set_handler(c, end_events, e);
    }
}

static void node_init(struct node *n, struct sf_sim *sim, const uint8_t addr[4], size_t cap,
                      uint64_t *finished, uint64_t *errors, uint8_t key_byte)
{
    memset(n, 0, sizeof *n);
    n->sim = sim;
    n->finished = finished;
    n->errors = errors;
    n->cap = cap;
    n->ends = calloc(cap, sizeof *n->ends);
    assert_non_null(n->ends);
    n->host = sf_sim_host_add(sim, addr, &node_ops, n);
    assert_non_null(n->host);
    struct sf_tcp_config cfg;
    sf_tcp_config_defaults(&cfg);
    cfg.time_wait_ms = 1000;
    cfg.somaxconn = 65535;
    struct sf_engine_params p;
    memset(&p, 0, sizeof p);
    p.config = &cfg;
    p.ops.output = node_output;
    p.ctx = n;
    memset(p.key, key_byte, sizeof p.key);
    p.local_addr = sf_addr_v4(addr[0], addr[1], addr[2], addr[3]);
    n->eng = sf_engine_new(&p);
    assert_non_null(n->eng);
}

static void node_listen(struct node *n)
{
    n->listener = sf_socket(n->eng);
    assert_non_null(n->listener);
    struct sf_endpoint ep = {.addr = {0}, .port = PORT};
    assert_int_equal(sf_bind(n->listener, &ep), 0);
    sf_set_handler(n->listener, listener_events, n);
    assert_int_equal(sf_listen(n->listener, 65535), 0);
}

static void node_connect(struct node *n, const uint8_t to[4], uint32_t id)
{
    struct end *e = new_end(n);
    assert_non_null(e);
    e->client = 1;
    e->id = id;
    e->c = sf_socket(n->eng);
    assert_non_null(e->c);
    sf_set_handler(e->c, end_events, e);
    struct sf_endpoint ep = {sf_addr_v4(to[0], to[1], to[2], to[3]), PORT};
    assert_int_equal(sf_connect(e->c, &ep), -EINPROGRESS);
    sf_sim_host_touch(n->sim, n->host);
}

static void node_check_empty(struct node *n)
{
    if (n->listener)
        sf_close(n->listener);
    struct sf_engine_stats st;
    sf_engine_stats(n->eng, &st);
    assert_int_equal(st.conns_live, 0);
    assert_int_equal(st.tw_live, 0);
    assert_int_equal(st.bufs_live, 0);
    sf_engine_free(n->eng);
    free(n->ends);
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const struct sf_sim_link_params impaired = {
    .delay = 5000,
    .jitter = 500,
    .loss = 0.01,
    .duplicate = 0.005,
    .reorder = 0.01,
    .reorder_us = 2000,
};

/* 3000 connections between two hosts, opened 100 at a time every millisecond. */
static void thousands_between_two_hosts(void **state)
{
    (void)state;
    const uint32_t conns = 3000;
    struct sf_sim *sim = sf_sim_new(42);
    assert_int_equal(sf_sim_link_default(sim, &impaired), 0);
    uint64_t finished = 0, errors = 0;
    static struct node client, server;
    const uint8_t ca[4] = {10, 0, 0, 1}, sa[4] = {10, 0, 0, 2};
    node_init(&client, sim, ca, conns, &finished, &errors, 1);
    node_init(&server, sim, sa, conns, &finished, &errors, 2);
    node_listen(&server);
    double t0 = cpu_ms();
    for (uint32_t i = 0; i < conns; i++) {
        node_connect(&client, sa, i);
        if (i % 100 == 99)
            sf_sim_run_until(sim, sf_sim_now(sim) + 1000);
    }
    /* both sides of every connection finish */
    while (finished < 2u * conns && sf_sim_now(sim) < SF_SEC(600))
        sf_sim_run_until(sim, sf_sim_now(sim) + SF_MS(100));
    assert_int_equal(finished, 2u * conns);
    assert_int_equal(errors, 0);
    /* TIME-WAIT (1 s) and the last retransmissions run out */
    assert_int_equal(sf_sim_run_until_idle(sim, sf_sim_now(sim) + SF_SEC(120)), 0);
    double cpu = cpu_ms() - t0;
    struct sf_sim_stats ss;
    sf_sim_stats(sim, &ss);
    struct sf_sim_link_stats ls;
    sf_sim_link_totals(sim, &ls);
    print_message("# %u connections: %.1f ms CPU, %.1f us per connection; %llu packets, %llu "
                  "lost, %llu buffers for at most %llu in flight\n",
                  conns, cpu, cpu * 1000 / conns, (unsigned long long)ls.sent,
                  (unsigned long long)ls.lost, (unsigned long long)ss.bufs,
                  (unsigned long long)ss.peak_in_flight);
    assert_true(ls.lost > 0 && ls.duplicated > 0 && ls.reordered > 0);
    /* a buffer is allocated only when none is free: never more than were in flight at once */
    assert_true(ss.bufs <= ss.peak_in_flight);
    node_check_empty(&client);
    node_check_empty(&server);
    sf_sim_free(sim);
}

/* 200 hosts, each with its own engine: every host listens and connects to five others. */
static void hundreds_of_hosts(void **state)
{
    (void)state;
    const uint32_t hosts = 200, per_host = 5;
    struct sf_sim *sim = sf_sim_new(7);
    assert_int_equal(sf_sim_link_default(sim, &impaired), 0);
    uint64_t finished = 0, errors = 0;
    struct node *nodes = calloc(hosts, sizeof *nodes);
    assert_non_null(nodes);
    for (uint32_t i = 0; i < hosts; i++) {
        const uint8_t a[4] = {10, 1, (uint8_t)(i >> 8), (uint8_t)(i + 1)};
        node_init(&nodes[i], sim, a, 4 * per_host, &finished, &errors, (uint8_t)i);
        node_listen(&nodes[i]);
    }
    double t0 = cpu_ms();
    for (uint32_t i = 0; i < hosts; i++)
        for (uint32_t k = 0; k < per_host; k++) {
            uint32_t j = (i + 1 + k * 37) % hosts;
            if (j == i)
                j = (j + 1) % hosts;
            const uint8_t to[4] = {10, 1, (uint8_t)(j >> 8), (uint8_t)(j + 1)};
            node_connect(&nodes[i], to, i * per_host + k);
        }
    uint64_t target = 2ull * hosts * per_host;
    while (finished < target && sf_sim_now(sim) < SF_SEC(600))
        sf_sim_run_until(sim, sf_sim_now(sim) + SF_MS(100));
    assert_int_equal(finished, target);
    assert_int_equal(errors, 0);
    assert_int_equal(sf_sim_run_until_idle(sim, sf_sim_now(sim) + SF_SEC(120)), 0);
    double cpu = cpu_ms() - t0;
    print_message("# %u hosts, %u connections: %.1f ms CPU, %.1f us per connection\n", hosts,
                  hosts * per_host, cpu, cpu * 1000 / (hosts * per_host));
    for (uint32_t i = 0; i < hosts; i++)
        node_check_empty(&nodes[i]);
    free(nodes);
    sf_sim_free(sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(thousands_between_two_hosts),
        cmocka_unit_test(hundreds_of_hosts),
    };
    return cmocka_run_group_tests_name("io_sim_tcp", tests, NULL, NULL);
}
