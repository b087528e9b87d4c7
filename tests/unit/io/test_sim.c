#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/pcap.h"
#include "io/sim.h"

/* ---- helpers: minimal IPv4 packets ---------------------------------------------------- */

#define PROTO_TEST 253 /* RFC 3692 experimental */

static void addr_of(int i, uint8_t out[4])
{
    out[0] = 10;
    out[1] = 0;
    out[2] = (uint8_t)(i >> 8);
    out[3] = (uint8_t)i;
}

static int index_of(const uint8_t a[4])
{
    return a[2] << 8 | a[3];
}

static uint32_t fnv(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* IPv4 header (no checksum: the sim does not look at it) + payload. */
static size_t build(uint8_t *buf, const uint8_t src[4], const uint8_t dst[4], const void *payload,
                    size_t n)
{
    memset(buf, 0, 20);
    buf[0] = 0x45;
    buf[2] = (uint8_t)((20 + n) >> 8);
    buf[3] = (uint8_t)(20 + n);
    buf[8] = 64;
    buf[9] = PROTO_TEST;
    memcpy(buf + 12, src, 4);
    memcpy(buf + 16, dst, 4);
    memcpy(buf + 20, payload, n);
    return 20 + n;
}

/* ---- a recording host ------------------------------------------------------------------- */

struct rec {
    int n;
    sf_time_t when[64];
    uint8_t first_byte[64];
    size_t len[64];
    sf_time_t deadline;
    int advances;
    sf_time_t advanced_at[16];
};

static void rec_deliver(void *ctx, const void *pkt, size_t len, sf_time_t now)
{
    struct rec *r = ctx;
    if (r->n < 64) {
        r->when[r->n] = now;
        r->first_byte[r->n] = len > 20 ? ((const uint8_t *)pkt)[20] : 0;
        r->len[r->n] = len;
    }
    r->n++;
}

static void rec_advance(void *ctx, sf_time_t now)
{
    struct rec *r = ctx;
    if (r->advances < 16)
        r->advanced_at[r->advances] = now;
    r->advances++;
    if (now >= r->deadline)
        r->deadline = SF_TIME_NEVER;
}

static sf_time_t rec_deadline(void *ctx)
{
    return ((struct rec *)ctx)->deadline;
}

static const struct sf_sim_host_ops rec_ops = {rec_deliver, rec_advance, rec_deadline};

struct pair {
    struct sf_sim *sim;
    struct sf_sim_host *a, *b;
    struct rec ra, rb;
    uint8_t addr_a[4], addr_b[4];
};

static void pair_init(struct pair *p, uint64_t seed)
{
    memset(p, 0, sizeof *p);
    p->ra.deadline = p->rb.deadline = SF_TIME_NEVER;
    p->sim = sf_sim_new(seed);
    assert_non_null(p->sim);
    addr_of(1, p->addr_a);
    addr_of(2, p->addr_b);
    p->a = sf_sim_host_add(p->sim, p->addr_a, &rec_ops, &p->ra);
    p->b = sf_sim_host_add(p->sim, p->addr_b, &rec_ops, &p->rb);
    assert_non_null(p->a);
    assert_non_null(p->b);
}

static int send_byte(struct pair *p, uint8_t v, size_t extra)
{
    uint8_t payload[1500] = {v};
    uint8_t buf[1600];
    size_t n = build(buf, p->addr_a, p->addr_b, payload, 1 + extra);
    return sf_sim_send(p->sim, p->a, buf, n);
}

/* ---- basic routing and time ------------------------------------------------------------- */

static void routes_in_order_with_delay(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 1);
    struct sf_sim_link_params lp = {.delay = 250};
    assert_int_equal(sf_sim_link_default(p.sim, &lp), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(send_byte(&p, (uint8_t)i, 0), 0);
    sf_sim_run_until(p.sim, 249);
    assert_int_equal(p.rb.n, 0);
    assert_int_equal(sf_sim_now(p.sim), 249);
    sf_sim_run_until(p.sim, 250);
    assert_int_equal(p.rb.n, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(p.rb.when[i], 250);
        assert_int_equal(p.rb.first_byte[i], i); /* same time: insertion order */
    }
    assert_int_equal(p.ra.n, 0);
    struct sf_sim_link_stats st;
    assert_int_equal(sf_sim_link_stats(p.sim, p.a, p.b, &st), 0);
    assert_int_equal(st.sent, 5);
    assert_int_equal(st.delivered, 5);
    assert_int_equal(st.bytes_delivered, 5 * 21);
    assert_int_equal(sf_sim_link_stats(p.sim, p.b, p.a, &st), -ENOENT);
    sf_sim_free(p.sim);
}

static void rejects_bad_packets(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 1);
    uint8_t buf[64];
    uint8_t nowhere[4] = {192, 0, 2, 99};
    size_t n = build(buf, p.addr_a, nowhere, "x", 1);
    assert_int_equal(sf_sim_send(p.sim, p.a, buf, n), -EHOSTUNREACH);
    assert_int_equal(sf_sim_send(p.sim, p.a, buf, 19), -EINVAL);
    buf[0] = 0x60;
    assert_int_equal(sf_sim_send(p.sim, p.a, buf, n), -EINVAL);
    static uint8_t huge[70000];
    huge[0] = 0x45;
    assert_int_equal(sf_sim_send(p.sim, p.a, huge, sizeof huge), -EMSGSIZE);
    struct sf_sim_stats st;
    sf_sim_stats(p.sim, &st);
    assert_int_equal(st.unroutable, 1);
    assert_int_equal(st.malformed, 2);
    assert_int_equal(st.in_flight, 0);
    /* a second host with the same address is refused */
    errno = 0;
    assert_null(sf_sim_host_add(p.sim, p.addr_a, &rec_ops, &p.ra));
    assert_int_equal(errno, EEXIST);
    struct sf_sim_host_ops none = {0};
    uint8_t other[4] = {10, 9, 9, 9};
    assert_null(sf_sim_host_add(p.sim, other, &none, NULL));
    struct sf_sim_link_params bad = {.loss = 1.5};
    assert_int_equal(sf_sim_link_default(p.sim, &bad), -EINVAL);
    assert_int_equal(sf_sim_link_set(p.sim, p.a, p.b, &bad), -EINVAL);
    sf_sim_free(p.sim);
}

/* IPv6 packets are routed by the destination of their 40-byte header, to the host that was
 * given that address; an unknown one is unroutable, a second host cannot take it. */
static void routes_ipv6(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 1);
    uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1}, b6[16] = {0xfd, [15] = 2};
    assert_int_equal(sf_sim_host_add_addr6(p.sim, p.a, a6), 0);
    assert_int_equal(sf_sim_host_add_addr6(p.sim, p.b, b6), 0);
    assert_int_equal(sf_sim_host_add_addr6(p.sim, p.a, b6), -EEXIST);
    uint8_t buf[64];
    memset(buf, 0, sizeof buf);
    buf[0] = 0x60;
    buf[5] = 1; /* payload length */
    buf[6] = PROTO_TEST;
    memcpy(buf + 8, a6, 16);
    memcpy(buf + 24, b6, 16);
    buf[40] = 0x77;
    assert_int_equal(sf_sim_send(p.sim, p.a, buf, 41), 0);
    sf_sim_run_until(p.sim, 1000000);
    assert_int_equal(p.rb.n, 1);
    assert_int_equal(p.rb.len[0], 41);
    buf[39] = 9; /* nobody has it */
    assert_int_equal(sf_sim_send(p.sim, p.a, buf, 41), -EHOSTUNREACH);
    assert_int_equal(sf_sim_send(p.sim, p.a, buf, 39), -EINVAL); /* shorter than the header */
    sf_sim_free(p.sim);
}

/* Host timers run exactly at their deadline; run_until moves the clock even when idle. */
static void runs_host_timers_on_time(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 1);
    p.ra.deadline = 1500;
    sf_sim_run_until(p.sim, 1000);
    assert_int_equal(p.ra.advances, 0);
    /* the owner moves the deadline earlier from outside: touch makes the sim see it */
    p.ra.deadline = 1200;
    sf_sim_host_touch(p.sim, p.a);
    sf_sim_run_until(p.sim, 10000);
    assert_int_equal(p.ra.advances, 1);
    assert_int_equal(p.ra.advanced_at[0], 1200);
    assert_int_equal(sf_sim_now(p.sim), 10000);
    sf_sim_free(p.sim);
}

/* A host whose deadline stays due after it ran (a bug in the host) cannot stall the clock. */
static sf_time_t stuck_deadline(void *ctx)
{
    (void)ctx;
    return 0;
}

static void stuck_host_does_not_spin(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 1);
    struct rec r = {.deadline = SF_TIME_NEVER};
    const struct sf_sim_host_ops ops = {rec_deliver, rec_advance, stuck_deadline};
    uint8_t addr[4] = {10, 0, 0, 9};
    assert_non_null(sf_sim_host_add(p.sim, addr, &ops, &r));
    sf_sim_run_until(p.sim, 10);
    assert_int_equal(r.advances, 11); /* once per microsecond from 0 to 10 */
    sf_sim_free(p.sim);
}

static int got_three(void *ctx)
{
    return ((struct rec *)ctx)->n >= 3;
}

static void run_until_pred_and_idle(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 1);
    struct sf_sim_link_params lp = {.delay = 100};
    assert_int_equal(sf_sim_link_set(p.sim, p.a, p.b, &lp), 0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(send_byte(&p, (uint8_t)i, 0), 0);
        sf_sim_run_until(p.sim, sf_sim_now(p.sim) + 10);
    }
    /* sent at 0, 10, 20, 30, 40: arrive at 100, 110, ... */
    assert_int_equal(sf_sim_run_until_pred(p.sim, 1000, got_three, &p.rb), 1);
    assert_int_equal(sf_sim_now(p.sim), 120);
    assert_int_equal(sf_sim_run_until_pred(p.sim, 125, got_three, &p.ra), 0);
    assert_int_equal(sf_sim_now(p.sim), 125);
    assert_int_equal(sf_sim_run_until_idle(p.sim, 130), -ETIMEDOUT);
    assert_int_equal(sf_sim_now(p.sim), 130);
    assert_int_equal(p.rb.n, 4);
    assert_int_equal(sf_sim_run_until_idle(p.sim, SF_TIME_NEVER), 0);
    assert_int_equal(p.rb.n, 5);
    assert_int_equal(sf_sim_now(p.sim), 140);
    sf_sim_free(p.sim);
}

/* ---- impairments ------------------------------------------------------------------------ */

/* Loss is close to its probability and exactly reproducible from the seed. */
static uint64_t lost_with_seed(uint64_t seed, double loss, uint32_t *pattern)
{
    struct pair p;
    pair_init(&p, seed);
    struct sf_sim_link_params lp = {.loss = loss};
    assert_int_equal(sf_sim_link_default(p.sim, &lp), 0);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(send_byte(&p, (uint8_t)i, 0), 0);
    sf_sim_run_until_idle(p.sim, SF_TIME_NEVER);
    struct sf_sim_link_stats st;
    assert_int_equal(sf_sim_link_stats(p.sim, p.a, p.b, &st), 0);
    assert_int_equal(st.delivered + st.lost, 10000);
    assert_int_equal((uint64_t)p.rb.n, st.delivered);
    *pattern = fnv(p.rb.first_byte, 64);
    sf_sim_free(p.sim);
    return st.lost;
}

static void loss_is_seeded(void **state)
{
    (void)state;
    uint32_t pa, pb, pc;
    uint64_t a = lost_with_seed(42, 0.2, &pa);
    uint64_t b = lost_with_seed(42, 0.2, &pb);
    uint64_t c = lost_with_seed(43, 0.2, &pc);
    assert_int_equal(a, b);
    assert_int_equal(pa, pb);
    assert_true(a > 1800 && a < 2200);
    assert_true(c > 1800 && c < 2200);
    assert_true(a != c || pa != pc);
    assert_int_equal(lost_with_seed(1, 0.0, &pa), 0);
    assert_int_equal(lost_with_seed(1, 1.0, &pa), 10000);
}

static void duplicates_and_corrupts(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 7);
    struct sf_sim_link_params lp = {.duplicate = 0.25};
    assert_int_equal(sf_sim_link_default(p.sim, &lp), 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(send_byte(&p, 1, 0), 0);
    sf_sim_run_until_idle(p.sim, SF_TIME_NEVER);
    struct sf_sim_link_stats st;
    assert_int_equal(sf_sim_link_stats(p.sim, p.a, p.b, &st), 0);
    assert_true(st.duplicated > 200 && st.duplicated < 300);
    assert_int_equal(st.delivered, 1000 + st.duplicated);
    assert_int_equal((uint64_t)p.rb.n, st.delivered);
    sf_sim_free(p.sim);
}

struct corrupt_check {
    uint8_t sent[120];
    int bad_bits, packets, header_touched;
};

static void count_bit_flips(void *ctx, const void *pkt, size_t len, sf_time_t now)
{
    (void)now;
    struct corrupt_check *c = ctx;
    const uint8_t *b = pkt;
    assert_int_equal(len, sizeof c->sent);
    c->packets++;
    for (size_t i = 0; i < len; i++) {
        int bits = __builtin_popcount((unsigned)(b[i] ^ c->sent[i]));
        c->bad_bits += bits;
        if (bits && i < 20)
            c->header_touched++;
    }
}

static void corruption_flips_one_payload_bit(void **state)
{
    (void)state;
    struct sf_sim *sim = sf_sim_new(3);
    struct corrupt_check c = {0};
    const struct sf_sim_host_ops sink = {count_bit_flips, NULL, NULL};
    const struct sf_sim_host_ops quiet = {rec_deliver, NULL, NULL};
    uint8_t a[4] = {10, 0, 0, 1}, b[4] = {10, 0, 0, 2};
    struct rec ra = {0};
    struct sf_sim_host *ha = sf_sim_host_add(sim, a, &quiet, &ra);
    assert_non_null(sf_sim_host_add(sim, b, &sink, &c));
    struct sf_sim_link_params lp = {.corrupt = 1.0};
    assert_int_equal(sf_sim_link_default(sim, &lp), 0);
    uint8_t payload[100];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 31);
    build(c.sent, a, b, payload, sizeof payload);
    for (int i = 0; i < 500; i++)
        assert_int_equal(sf_sim_send(sim, ha, c.sent, sizeof c.sent), 0);
    sf_sim_run_until_idle(sim, SF_TIME_NEVER);
    assert_int_equal(c.packets, 500);
    assert_int_equal(c.bad_bits, 500);
    assert_int_equal(c.header_touched, 0);
    struct sf_sim_link_stats t;
    sf_sim_link_totals(sim, &t);
    assert_int_equal(t.corrupted, 500);
    sf_sim_free(sim);
}

static void reorders_within_the_span(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 11);
    struct sf_sim_link_params lp = {.delay = 1000, .reorder = 0.3, .reorder_us = 50};
    assert_int_equal(sf_sim_link_default(p.sim, &lp), 0);
    for (int i = 0; i < 60; i++) {
        assert_int_equal(send_byte(&p, (uint8_t)i, 0), 0);
        sf_sim_run_until(p.sim, sf_sim_now(p.sim) + 10);
    }
    sf_sim_run_until_idle(p.sim, SF_TIME_NEVER);
    assert_int_equal(p.rb.n, 60);
    int inversions = 0, seen[60] = {0};
    for (int i = 0; i < 60; i++) {
        seen[p.rb.first_byte[i]]++;
        if (i && p.rb.first_byte[i] < p.rb.first_byte[i - 1])
            inversions++;
        /* sent at 10*k, arrives in [10*k + 1000, 10*k + 1050] */
        sf_time_t sent = 10u * p.rb.first_byte[i];
        assert_true(p.rb.when[i] >= sent + 1000 && p.rb.when[i] <= sent + 1050);
    }
    for (int i = 0; i < 60; i++)
        assert_int_equal(seen[i], 1);
    struct sf_sim_link_stats st;
    sf_sim_link_stats(p.sim, p.a, p.b, &st);
    assert_true(st.reordered > 5);
    assert_true(inversions > 0);
    sf_sim_free(p.sim);
}

/* 1000 bytes/s: a 100-byte packet takes 100 ms on the wire; a 350-byte queue holds three. */
static void rate_limit_and_tail_drop(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 1);
    struct sf_sim_link_params lp = {.delay = 5, .rate = 1000, .queue_limit = 350};
    assert_int_equal(sf_sim_link_set(p.sim, p.a, p.b, &lp), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(send_byte(&p, (uint8_t)i, 79), 0); /* 20 + 80 bytes */
    sf_sim_run_until_idle(p.sim, SF_TIME_NEVER);
    assert_int_equal(p.rb.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(p.rb.when[i], (sf_time_t)(i + 1) * 100000 + 5);
        assert_int_equal(p.rb.first_byte[i], i);
    }
    struct sf_sim_link_stats st;
    sf_sim_link_stats(p.sim, p.a, p.b, &st);
    assert_int_equal(st.queue_drops, 7);
    /* once the queue drained, the link takes packets again */
    assert_int_equal(send_byte(&p, 99, 79), 0);
    sf_sim_run_until_idle(p.sim, SF_TIME_NEVER);
    assert_int_equal(p.rb.n, 4);
    assert_int_equal(p.rb.when[3], 300005 + 100000 + 5); /* sent at 300005 */
    sf_sim_free(p.sim);
}

/* Changing the default reaches links already in use, unless they have their own. */
static void default_link_follows(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 1);
    assert_int_equal(send_byte(&p, 0, 0), 0); /* creates a->b with the zero default */
    struct sf_sim_link_params own = {.delay = 7};
    assert_int_equal(sf_sim_link_set(p.sim, p.b, p.a, &own), 0);
    struct sf_sim_link_params def = {.delay = 500};
    assert_int_equal(sf_sim_link_default(p.sim, &def), 0);
    sf_sim_run_until_idle(p.sim, SF_TIME_NEVER);
    assert_int_equal(p.rb.when[0], 0);
    assert_int_equal(send_byte(&p, 1, 0), 0);
    uint8_t buf[64];
    size_t n = build(buf, p.addr_b, p.addr_a, "y", 1);
    assert_int_equal(sf_sim_send(p.sim, p.b, buf, n), 0);
    sf_sim_run_until_idle(p.sim, SF_TIME_NEVER);
    assert_int_equal(p.rb.when[1], 500);
    assert_int_equal(p.ra.when[0], 7);
    sf_sim_free(p.sim);
}

/* ---- a toy reliable transport: exactly-once delivery over bad links, many hosts ---------- */

#define MSGS 40
#define RTO  5000

struct arq_host {
    struct sf_sim *sim;
    struct sf_sim_host *h;
    int self, peer;
    uint32_t next_seq;  /* next message to send */
    int waiting;        /* next_seq is sent and not acknowledged */
    sf_time_t rto_at;   /* retransmission time */
    uint32_t *expected; /* per source: next in-order message */
    uint32_t received;  /* in-order messages received from all sources */
    uint32_t digest;
};

struct msg {
    uint8_t type; /* 'D' data, 'A' ack */
    uint8_t pad[3];
    uint32_t seq;
    uint32_t hash; /* over the fields above and the payload */
    uint8_t payload[32];
};

static void arq_send(struct arq_host *a, int to, uint8_t type, uint32_t seq)
{
    struct msg m = {.type = type, .seq = seq};
    for (size_t i = 0; i < sizeof m.payload; i++)
        m.payload[i] = (uint8_t)(seq * 7 + i + (unsigned)a->self);
    m.hash = 0;
    m.hash = fnv((const uint8_t *)&m, sizeof m);
    uint8_t buf[128], src[4], dst[4];
    addr_of(a->self, src);
    addr_of(to, dst);
    size_t n = build(buf, src, dst, &m, sizeof m);
    assert_int_equal(sf_sim_send(a->sim, a->h, buf, n), 0);
}

static void arq_transmit(struct arq_host *a, sf_time_t now)
{
    if (a->next_seq >= MSGS) {
        a->rto_at = SF_TIME_NEVER;
        return;
    }
    arq_send(a, a->peer, 'D', a->next_seq);
    a->waiting = 1;
    a->rto_at = now + RTO;
}

static void arq_deliver(void *ctx, const void *pkt, size_t len, sf_time_t now)
{
    struct arq_host *a = ctx;
    struct msg m;
    assert_int_equal(len, 20 + sizeof m);
    memcpy(&m, (const uint8_t *)pkt + 20, sizeof m);
    uint32_t h = m.hash;
    m.hash = 0;
    if (fnv((const uint8_t *)&m, sizeof m) != h)
        return; /* corrupted: dropped, as a checksum would */
    int from = index_of((const uint8_t *)pkt + 12);
    if (m.type == 'D') {
        if (m.seq == a->expected[from]) {
            a->expected[from]++;
            a->received++;
            a->digest = a->digest * 31 + m.seq + (uint32_t)from;
        }
        if (a->expected[from])
            arq_send(a, from, 'A', a->expected[from] - 1);
    } else if (m.type == 'A' && a->waiting && m.seq == a->next_seq) {
        a->next_seq++;
        a->waiting = 0;
        arq_transmit(a, now);
    }
}

static void arq_advance(void *ctx, sf_time_t now)
{
    struct arq_host *a = ctx;
    if (a->rto_at <= now)
        arq_transmit(a, now);
}

static sf_time_t arq_deadline(void *ctx)
{
    return ((struct arq_host *)ctx)->rto_at;
}

struct arq_run {
    uint64_t total_received, bufs, peak, sent, events;
    uint32_t digest;
};

static struct arq_run arq_network(uint64_t seed, int hosts, const struct sf_sim_link_params *lp,
                                  FILE *capture)
{
    struct sf_sim *sim = sf_sim_new(seed);
    assert_non_null(sim);
    assert_int_equal(sf_sim_link_default(sim, lp), 0);
    struct sf_pcap *pcap = NULL;
    if (capture) {
        pcap = sf_pcap_open_stream(capture);
        assert_non_null(pcap);
        sf_sim_set_capture(sim, pcap, pcap);
    }
    struct arq_host *a = calloc((size_t)hosts, sizeof *a);
    assert_non_null(a);
    const struct sf_sim_host_ops ops = {arq_deliver, arq_advance, arq_deadline};
    for (int i = 0; i < hosts; i++) {
        uint8_t addr[4];
        addr_of(i, addr);
        a[i].sim = sim;
        a[i].self = i;
        a[i].peer = (int)((i * 7919u + 13) % (unsigned)hosts);
        if (a[i].peer == i)
            a[i].peer = (i + 1) % hosts;
        a[i].expected = calloc((size_t)hosts, sizeof *a[i].expected);
        assert_non_null(a[i].expected);
        a[i].rto_at = 0; /* start sending at time 0 through the timer */
        a[i].h = sf_sim_host_add(sim, addr, &ops, &a[i]);
        assert_non_null(a[i].h);
    }
    assert_int_equal(sf_sim_run_until_idle(sim, SF_TIME_NEVER), 0);
    struct arq_run r = {0};
    for (int i = 0; i < hosts; i++) {
        assert_int_equal(a[i].next_seq, MSGS);
        r.total_received += a[i].received;
        r.digest = r.digest * 17 + a[i].digest;
        free(a[i].expected);
    }
    struct sf_sim_stats ss;
    sf_sim_stats(sim, &ss);
    struct sf_sim_link_stats t;
    sf_sim_link_totals(sim, &t);
    /* every copy is accounted for */
    assert_int_equal(t.delivered, t.sent - t.lost - t.queue_drops + t.duplicated);
    assert_int_equal(ss.in_flight, 0);
    r.bufs = ss.bufs;
    r.peak = ss.peak_in_flight;
    r.sent = t.sent;
    r.events = ss.events;
    if (pcap)
        assert_int_equal(sf_pcap_close(pcap), 0);
    free(a);
    sf_sim_free(sim);
    return r;
}

static const struct sf_sim_link_params bad_link = {
    .delay = 2000,
    .jitter = 800,
    .loss = 0.1,
    .duplicate = 0.05,
    .corrupt = 0.05,
    .reorder = 0.1,
    .reorder_us = 3000,
};

static void many_hosts_exactly_once(void **state)
{
    (void)state;
    const int hosts = 300;
    struct arq_run r = arq_network(99, hosts, &bad_link, NULL);
    assert_int_equal(r.total_received, (uint64_t)hosts * MSGS);
    /* buffers are recycled: the pool is bounded by what is in flight at once, not by the
     * number of packets sent */
    assert_true(r.sent > 20000);
    assert_true(r.bufs <= r.peak);
    assert_true(r.bufs < (uint64_t)hosts * 4);
}

static char *capture(uint64_t seed, size_t *len, struct arq_run *r)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    assert_non_null(f);
    *r = arq_network(seed, 20, &bad_link, f);
    assert_int_equal(fclose(f), 0);
    return buf;
}

/* Same seed, same trace, byte for byte; another seed, another trace. */
static void same_seed_same_trace(void **state)
{
    (void)state;
    size_t la, lb, lc;
    struct arq_run ra, rb, rc;
    char *a = capture(5, &la, &ra);
    char *b = capture(5, &lb, &rb);
    char *c = capture(6, &lc, &rc);
    assert_true(la > 24 + 1000);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    assert_int_equal(ra.digest, rb.digest);
    assert_true(la != lc || memcmp(a, c, la) != 0);
    assert_int_equal(rc.total_received, 20 * MSGS);
    free(a);
    free(b);
    free(c);
}

/* The observer sees every step of every packet, in the order it happens. */
struct seen {
    int what[8];
    sf_time_t last;
    int ordered;
};

static void observe(void *ctx, enum sf_sim_what what, const struct sf_sim_host *src,
                    const struct sf_sim_host *dst, const void *pkt, size_t len, sf_time_t now)
{
    struct seen *s = ctx;
    (void)pkt;
    assert_non_null(src);
    assert_true(len >= 20);
    assert_true(what == SF_SIM_UNROUTABLE ? dst == NULL : dst != NULL);
    s->what[what]++;
    if (now < s->last)
        s->ordered = 0;
    s->last = now;
}

static void observer_sees_everything(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 9);
    struct seen seen = {.ordered = 1};
    sf_sim_set_observer(p.sim, observe, &seen);
    struct sf_sim_link_params lp = {
        .delay = 100, .loss = 0.2, .duplicate = 0.2, .corrupt = 0.1, .reorder = 0.2};
    assert_int_equal(sf_sim_link_default(p.sim, &lp), 0);
    for (int i = 0; i < 500; i++) {
        assert_int_equal(send_byte(&p, (uint8_t)i, 30), 0);
        sf_sim_run_until(p.sim, sf_sim_now(p.sim) + 10);
    }
    uint8_t buf[64], nowhere[4] = {192, 0, 2, 9};
    size_t n = build(buf, p.addr_a, nowhere, "z", 1);
    assert_int_equal(sf_sim_send(p.sim, p.a, buf, n), -EHOSTUNREACH);
    sf_sim_run_until_idle(p.sim, SF_TIME_NEVER);
    struct sf_sim_link_stats st;
    sf_sim_link_stats(p.sim, p.a, p.b, &st);
    assert_int_equal(seen.what[SF_SIM_SENT], st.sent);
    assert_int_equal(seen.what[SF_SIM_DELIVERED], st.delivered);
    assert_int_equal(seen.what[SF_SIM_LOST], st.lost);
    assert_int_equal(seen.what[SF_SIM_DUPLICATED], st.duplicated);
    assert_int_equal(seen.what[SF_SIM_CORRUPTED], st.corrupted);
    assert_int_equal(seen.what[SF_SIM_REORDERED], st.reordered);
    assert_int_equal(seen.what[SF_SIM_UNROUTABLE], 1);
    assert_true(st.lost && st.duplicated && st.corrupted && st.reordered);
    assert_true(seen.ordered);
    sf_sim_free(p.sim);
}

/* Dropped packets go to the dropped capture, delivered ones to the other. */
static void captures_delivered_and_dropped(void **state)
{
    (void)state;
    char *bd = NULL, *bx = NULL;
    size_t ld, lx;
    FILE *fd = open_memstream(&bd, &ld), *fx = open_memstream(&bx, &lx);
    struct sf_pcap *pd = sf_pcap_open_stream(fd), *px = sf_pcap_open_stream(fx);
    assert_non_null(pd);
    assert_non_null(px);
    struct pair p;
    pair_init(&p, 21);
    sf_sim_set_capture(p.sim, pd, px);
    struct sf_sim_link_params lp = {.loss = 0.5};
    assert_int_equal(sf_sim_link_default(p.sim, &lp), 0);
    for (int i = 0; i < 200; i++)
        assert_int_equal(send_byte(&p, (uint8_t)i, 0), 0);
    sf_sim_run_until_idle(p.sim, SF_TIME_NEVER);
    struct sf_sim_link_stats st;
    sf_sim_link_stats(p.sim, p.a, p.b, &st);
    assert_int_equal(sf_pcap_count(pd), st.delivered);
    assert_int_equal(sf_pcap_count(px), st.lost);
    assert_int_equal(sf_pcap_close(pd), 0);
    assert_int_equal(sf_pcap_close(px), 0);
    fclose(fd);
    fclose(fx);
    /* 24-byte header, then 16 + 21 bytes per packet */
    assert_int_equal(ld, 24 + st.delivered * 37);
    assert_int_equal(lx, 24 + st.lost * 37);
    free(bd);
    free(bx);
    sf_sim_free(p.sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(routes_in_order_with_delay),
        cmocka_unit_test(rejects_bad_packets),
        cmocka_unit_test(routes_ipv6),
        cmocka_unit_test(runs_host_timers_on_time),
        cmocka_unit_test(stuck_host_does_not_spin),
        cmocka_unit_test(run_until_pred_and_idle),
        cmocka_unit_test(loss_is_seeded),
        cmocka_unit_test(duplicates_and_corrupts),
        cmocka_unit_test(corruption_flips_one_payload_bit),
        cmocka_unit_test(reorders_within_the_span),
        cmocka_unit_test(rate_limit_and_tail_drop),
        cmocka_unit_test(default_link_follows),
        cmocka_unit_test(many_hosts_exactly_once),
        cmocka_unit_test(same_seed_same_trace),
        cmocka_unit_test(captures_delivered_and_dropped),
        cmocka_unit_test(observer_sees_everything),
    };
    return cmocka_run_group_tests_name("io_sim", tests, NULL, NULL);
}
