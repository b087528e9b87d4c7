/* Counting keys in bounded memory: exact while keys fit, Space-Saving bounds past that. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "stat/topk.h"

static struct st_key key(uint16_t port)
{
    struct st_key k;
    memset(&k, 0, sizeof k);
    k.family = 2;
    k.port = port;
    k.addr[3] = (uint8_t)(port * 7);
    return k;
}

static void add_n(struct st_topk *t, uint16_t port, unsigned n)
{
    struct st_key k = key(port);
    for (unsigned i = 0; i < n; i++)
        st_topk_add(t, &k);
}

static void exact_when_keys_fit(void **unused)
{
    (void)unused;
    struct st_topk *t = st_topk_new(16);
    assert_non_null(t);
    add_n(t, 80, 5);
    add_n(t, 443, 9);
    add_n(t, 22, 1);
    add_n(t, 8080, 5);
    struct st_topk_row rows[8];
    size_t n = st_topk_top(t, rows, 8);
    assert_int_equal(n, 4);
    assert_int_equal(rows[0].key.port, 443);
    assert_int_equal(rows[0].count, 9);
    /* A tie keeps key order: port 80 sorts before 8080 as a key. */
    assert_int_equal(rows[1].count, 5);
    assert_int_equal(rows[2].count, 5);
    assert_int_equal(rows[3].key.port, 22);
    assert_int_equal(st_topk_total(t), 20);
    assert_true(st_topk_exact(t));
    assert_int_equal(st_topk_top(t, rows, 2), 2);
    assert_int_equal(rows[1].count, 5);
    st_topk_clear(t);
    assert_int_equal(st_topk_top(t, rows, 8), 0);
    assert_int_equal(st_topk_total(t), 0);
    st_topk_free(t);
}

/* Many keys through a small table: heavy keys survive with counts within their error. */
static void heavy_hitters_survive_eviction(void **unused)
{
    (void)unused;
    enum { CAP = 64, LIGHT = 5000 };
    struct st_topk *t = st_topk_new(CAP);
    assert_non_null(t);
    unsigned truth[3] = {0};
    srand(7);
    for (unsigned i = 0; i < 40000; i++) {
        unsigned r = (unsigned)rand() % 100;
        uint16_t port;
        if (r < 20)
            port = 1; /* 20 % */
        else if (r < 30)
            port = 2; /* 10 % */
        else if (r < 35)
            port = 3; /* 5 % */
        else
            port = (uint16_t)(100 + (unsigned)rand() % LIGHT);
        if (port <= 3)
            truth[port - 1]++;
        struct st_key k = key(port);
        st_topk_add(t, &k);
    }
    assert_false(st_topk_exact(t));
    assert_int_equal(st_topk_distinct(t), CAP);
    struct st_topk_row rows[3];
    assert_int_equal(st_topk_top(t, rows, 3), 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rows[i].key.port, i + 1);
        /* Space-Saving: count - error <= truth <= count, error <= total / capacity. */
        assert_true(rows[i].count >= truth[i]);
        assert_true(rows[i].count - rows[i].error <= truth[i]);
        assert_true(rows[i].error <= 40000 / CAP);
    }
    st_topk_free(t);
}

/* Deletions in the probe table keep every remaining key findable. */
static void churn_keeps_lookups_right(void **unused)
{
    (void)unused;
    struct st_topk *t = st_topk_new(8);
    assert_non_null(t);
    for (unsigned round = 0; round < 200; round++) {
        add_n(t, 7, 3); /* one key that must stay and keep counting */
        add_n(t, (uint16_t)(1000 + round), 1);
    }
    struct st_topk_row rows[1];
    assert_int_equal(st_topk_top(t, rows, 1), 1);
    assert_int_equal(rows[0].key.port, 7);
    assert_int_equal(rows[0].count, 600);
    assert_int_equal(rows[0].error, 0);
    st_topk_free(t);
}

static void bad_capacity(void **unused)
{
    (void)unused;
    assert_null(st_topk_new(0));
    assert_null(st_topk_new((1u << 24) + 1));
    st_topk_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_when_keys_fit),
        cmocka_unit_test(heavy_hitters_survive_eviction),
        cmocka_unit_test(churn_keeps_lookups_right),
        cmocka_unit_test(bad_capacity),
    };
    return cmocka_run_group_tests_name("stat_topk", tests, NULL, NULL);
}
