/* The 4-tuple table is keyed (table.c: SipHash of the 4-tuple under the engine's secret), so
 * that nobody can choose 4-tuples that pile into one bucket and turn every lookup into a walk
 * of one long chain. White-box: the connections go in through the API, and the test then
 * reads the engine's buckets. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "tcp/internal.h"

enum { N = 1024 };

static void discard(void *ctx, const void *pkt, size_t len)
{
    (void)ctx, (void)pkt, (void)len;
}

static struct sf_engine *engine(uint8_t key_seed)
{
    struct sf_engine_params p;
    memset(&p, 0, sizeof p);
    p.ops.output = discard;
    for (int i = 0; i < 32; i++)
        p.key[i] = (uint8_t)(i * 13 + key_seed);
    p.local_addr = sf_addr_v4(192, 168, 0, 1);
    p.now = SF_SEC(1000);
    struct sf_engine *e = sf_engine_new(&p);
    assert_non_null(e);
    return e;
}

/* Chosen 4-tuples: one local and one remote address, and ports picked so that an unkeyed
 * hash folds them all together. by_xor: lport ^ rport is constant (a hash XORing the fields);
 * sum: lport + rport is constant (one adding them). */
static struct sf_tuple chosen(unsigned i, int by_xor)
{
    struct sf_tuple t;
    memset(&t, 0, sizeof t);
    t.laddr = sf_addr_v4(192, 168, 0, 1);
    t.raddr = sf_addr_v4(192, 0, 2, 1);
    t.lport = (uint16_t)(20000 + i);
    t.rport = by_xor ? (uint16_t)(t.lport ^ 0x5a5a) : (uint16_t)(60000 - i);
    return t;
}

static uint32_t unkeyed(const struct sf_tuple *t, int by_xor)
{
    uint32_t l, r;
    memcpy(&l, t->laddr.u.v4, 4);
    memcpy(&r, t->raddr.u.v4, 4);
    return by_xor ? l ^ r ^ t->lport ^ t->rport : l + r + t->lport + t->rport;
}

/* Opens N connections (SYN-SENT) on the chosen 4-tuples. */
static void connect_chosen(struct sf_engine *e, int by_xor)
{
    for (unsigned i = 0; i < N; i++) {
        struct sf_tuple t = chosen(i, by_xor);
        struct sf_conn *c = sf_socket(e);
        assert_non_null(c);
        struct sf_endpoint local = endpoint_of(&t.laddr, t.lport),
                           remote = endpoint_of(&t.raddr, t.rport);
        assert_int_equal(sf_bind(c, &local), 0);
        assert_int_equal(sf_connect(c, &remote), -EINPROGRESS);
    }
}

static unsigned longest_chain(const struct sf_engine *e)
{
    unsigned longest = 0, total = 0;
    for (uint32_t b = 0; b <= e->table.mask; b++) {
        unsigned n = 0;
        for (const struct sf_conn *c = e->table.buckets[b]; c; c = c->hnext)
            n++;
        total += n;
        if (n > longest)
            longest = n;
    }
    assert_int_equal(total, N);
    return longest;
}

/* 1024 4-tuples that an unkeyed XOR or additive hash puts in one bucket spread over the
 * keyed table as random ones would: at under one connection per bucket, the longest chain is
 * a handful (5 here; 8 would be rare for a random hash, and the key is fixed, so this is no
 * gamble). */
static void chosen_tuples_do_not_pile_up(void **state)
{
    (void)state;
    for (int by_xor = 0; by_xor <= 1; by_xor++) {
        struct sf_tuple t0 = chosen(0, by_xor);
        for (unsigned i = 1; i < N; i++) {
            struct sf_tuple t = chosen(i, by_xor);
            /* the attack works there */
            assert_int_equal(unkeyed(&t, by_xor), unkeyed(&t0, by_xor));
        }
        struct sf_engine *e = engine(7);
        connect_chosen(e, by_xor);
        assert_true(e->table.mask + 1 >= N); /* the table grew with the connections */
        unsigned longest = longest_chain(e);
        if (longest > 8)
            fail_msg("%s-colliding 4-tuples: a chain of %u in %u buckets", by_xor ? "XOR" : "sum",
                     longest, e->table.mask + 1);
        for (unsigned i = 0; i < N; i++) {
            struct sf_tuple t = chosen(i, by_xor);
            struct sf_conn *c = table_lookup(e, &t);
            assert_non_null(c);
            assert_int_equal(c->t.lport, t.lport);
        }
        sf_engine_free(e);
    }
}

/* Where a 4-tuple goes is the key's secret: in two engines with different keys and tables of
 * the same size, the same 4-tuples land in unrelated buckets (one in the number of buckets
 * alike, as chance would have it: 0 here); with the same key, in the same ones. */
static void bucket_depends_on_key(void **state)
{
    (void)state;
    struct sf_engine *a = engine(7), *b = engine(8), *c = engine(7);
    connect_chosen(a, 1);
    connect_chosen(b, 1);
    connect_chosen(c, 1);
    uint32_t mask = a->table.mask;
    assert_int_equal(b->table.mask, mask);
    unsigned alike = 0;
    for (unsigned i = 0; i < N; i++) {
        struct sf_tuple t = chosen(i, 1);
        uint32_t ba = tuple_hash(a, &t) & mask;
        assert_int_equal(tuple_hash(c, &t) & mask, ba);
        if ((tuple_hash(b, &t) & mask) == ba)
            alike++;
    }
    if (alike > 8)
        fail_msg("%u of %u 4-tuples in the same bucket under two keys", alike, N);
    sf_engine_free(a);
    sf_engine_free(b);
    sf_engine_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chosen_tuples_do_not_pile_up),
        cmocka_unit_test(bucket_depends_on_key),
    };
    return cmocka_run_group_tests_name("tcp_table", tests, NULL, NULL);
}
