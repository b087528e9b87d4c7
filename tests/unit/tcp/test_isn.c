/* Initial sequence numbers as an observer sees them, in the SYNs of active opens (RFC 6528 §3:
 * ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a 4 µs clock): one
 * 4-tuple's ISNs advance with the clock, exactly; other 4-tuples' ISNs, and other keys', have
 * nothing to do with it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "tcp/segment.h"
#include "tcp/tcp.h"

struct harness {
    struct sf_engine *e;
    sf_time_t now;
    uint32_t syn_seq; /* of the last SYN sent */
    unsigned syns;
};

static void on_output(void *ctx, const void *pkt, size_t len)
{
    struct harness *h = ctx;
    struct sf_seg s;
    assert_int_equal(sf_seg_parse(pkt, len, &s), SEG_OK);
    assert_true(s.flags & TH_SYN);
    h->syn_seq = s.seq;
    h->syns++;
}

static void start(struct harness *h, uint8_t key_seed)
{
    memset(h, 0, sizeof *h);
    h->now = SF_SEC(1000);
    struct sf_engine_params p;
    memset(&p, 0, sizeof p);
    p.ops.output = on_output;
    p.ctx = h;
    for (int i = 0; i < 32; i++)
        p.key[i] = (uint8_t)(i * 13 + key_seed);
    p.local_addr = sf_addr_v4(192, 168, 0, 1);
    p.now = h->now;
    h->e = sf_engine_new(&p);
    assert_non_null(h->e);
}

static void advance_to(struct harness *h, sf_time_t t)
{
    h->now = t;
    sf_engine_advance(h->e, t);
}

/* The ISN of a connect from local port lport to 192.0.2.d:rport now; the connection is then
 * closed in SYN-SENT (deleted, nothing sent), so the 4-tuple is free again. */
static uint32_t isn_of(struct harness *h, uint16_t lport, uint8_t d, uint16_t rport)
{
    struct sf_conn *c = sf_socket(h->e);
    assert_non_null(c);
    struct sf_endpoint local = {.addr = sf_addr_v4(192, 168, 0, 1), .port = lport};
    struct sf_endpoint remote = {.addr = sf_addr_v4(192, 0, 2, d), .port = rport};
    assert_int_equal(sf_bind(c, &local), 0);
    unsigned before = h->syns;
    assert_int_equal(sf_connect(c, &remote), -EINPROGRESS);
    assert_int_equal(h->syns, before + 1);
    assert_int_equal(sf_close(c), 0);
    return h->syn_seq;
}

/* The clock component: the same 4-tuple 1 s later starts 1 s / 4 µs = 250000 higher, and
 * 3 ms later 750 higher: exactly, since F does not change. */
static void same_tuple_later_is_larger(void **state)
{
    (void)state;
    struct harness h;
    start(&h, 7);
    uint32_t a = isn_of(&h, 50000, 1, 80);
    assert_int_equal(isn_of(&h, 50000, 1, 80), a); /* same instant, same ISN */
    advance_to(&h, h.now + SF_SEC(1));
    uint32_t b = isn_of(&h, 50000, 1, 80);
    assert_int_equal(b - a, 250000u);
    advance_to(&h, h.now + SF_MS(3));
    assert_int_equal(isn_of(&h, 50000, 1, 80) - b, 750u);
    sf_engine_free(h.e);
}

static unsigned popcount32(uint32_t x)
{
    unsigned n = 0;
    for (; x; x &= x - 1)
        n++;
    return n;
}

/* F is keyed and mixes every field: 4-tuples one port or one address apart, at one instant,
 * get ISNs that are all distinct, whose successive differences are not a pattern, and whose
 * bits each come out set about half the time; a change of one bit of one field flips about
 * half the ISN's bits. (Deterministic: the key is fixed, so the bounds are not a gamble.) */
static void other_tuples_are_unrelated(void **state)
{
    (void)state;
    struct harness h;
    start(&h, 7);
    enum { N = 256 };
    uint32_t isn[N];
    for (unsigned i = 0; i < N; i++) {
        /* a quarter each: local port, remote port, remote address, all three moving */
        unsigned k = i % 64, kind = i / 64;
        uint16_t lport = (uint16_t)(50000 + (kind == 0 || kind == 3 ? k : 0));
        uint16_t rport = (uint16_t)(80 + (kind == 1 || kind == 3 ? k : 0));
        uint8_t d = (uint8_t)(1 + (kind == 2 || kind == 3 ? k : 0));
        isn[i] = isn_of(&h, lport, d, rport);
    }
    unsigned ones[32] = {0};
    unsigned same_step = 0;
    for (unsigned i = 0; i < N; i++) {
        for (unsigned j = 0; j < i; j++)
            assert_true(isn[i] != isn[j] || (i % 64 == 0 && j % 64 == 0));
        if (i >= 2 && isn[i] - isn[i - 1] == isn[i - 1] - isn[i - 2])
            same_step++;
        for (unsigned b = 0; b < 32; b++)
            ones[b] += (isn[i] >> b) & 1;
    }
    assert_true(same_step <= 1);
    for (unsigned b = 0; b < 32; b++) {
        if (ones[b] < N / 4 || ones[b] > 3 * N / 4)
            fail_msg("ISN bit %u set in %u of %u ISNs", b, ones[b], N);
    }
    /* one bit of the local port: about 16 of 32 bits change, never few */
    for (unsigned i = 0; i + 1 < 64; i += 2) {
        unsigned flipped = popcount32(isn[i] ^ isn[i + 1]);
        if (flipped < 6 || flipped > 26)
            fail_msg("ports %u and %u: %u ISN bits differ", 50000 + i, 50001 + i, flipped);
    }
    sf_engine_free(h.e);
}

/* The secret decides F: two engines with different keys give the same 4-tuple, at the same
 * instant, unrelated ISNs; the same key gives the same ISN (reproducible runs). */
static void different_keys_differ(void **state)
{
    (void)state;
    struct harness a, b, c;
    start(&a, 7);
    start(&b, 8);
    start(&c, 7);
    unsigned equal = 0;
    for (uint16_t p = 0; p < 64; p++) {
        uint32_t x = isn_of(&a, (uint16_t)(50000 + p), 1, 80);
        uint32_t y = isn_of(&b, (uint16_t)(50000 + p), 1, 80);
        assert_int_equal(isn_of(&c, (uint16_t)(50000 + p), 1, 80), x);
        if (x == y)
            equal++;
        if (popcount32(x ^ y) < 4)
            fail_msg("port %u: keys 7 and 8 give ISNs %#x and %#x", 50000 + p, x, y);
    }
    assert_int_equal(equal, 0);
    sf_engine_free(a.e);
    sf_engine_free(b.e);
    sf_engine_free(c.e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_tuple_later_is_larger),
        cmocka_unit_test(other_tuples_are_unrelated),
        cmocka_unit_test(different_keys_differ),
    };
    return cmocka_run_group_tests_name("tcp_isn", tests, NULL, NULL);
}
