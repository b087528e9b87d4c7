/* Balancing: exact smooth-WRR sequences, least connections, source affinity, Maglev table
 * balance, stability and agreement, backups, maxconn and the retry's avoided server. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb/backend.h"
#include "lb/maglev.h"

#define MAXS 16

struct fixture {
    struct lb_backend b;
    struct lb_server s[MAXS];
    struct lb_server *ptr[MAXS];
};

static void setup(struct fixture *f, int balance, size_t n, const uint32_t *weights)
{
    memset(f, 0, sizeof *f);
    f->b.conf.balance = balance;
    f->b.conf.maglev_size = 65537;
    f->b.health_gen = 1;
    for (size_t i = 0; i < n; i++) {
        snprintf(f->s[i].name, sizeof f->s[i].name, "s%zu", i);
        f->s[i].weight = weights ? weights[i] : 1;
        f->s[i].up = 1;
        f->s[i].backend = &f->b;
        f->ptr[i] = &f->s[i];
    }
    f->b.servers = f->ptr;
    f->b.nservers = n;
}

static void teardown(struct fixture *f)
{
    free(f->b.maglev);
    free(f->b.maglev_srv);
}

static struct lb_addr client(uint32_t ip, uint16_t port)
{
    struct lb_addr a;
    memset(&a, 0, sizeof a);
    a.u.in4.sin_family = AF_INET;
    a.u.in4.sin_addr.s_addr = htonl(ip);
    a.u.in4.sin_port = htons(port);
    a.len = sizeof a.u.in4;
    return a;
}

static struct lb_server *pick(struct fixture *f, const struct lb_addr *c)
{
    struct lb_server *s = NULL;
    assert_int_equal(lb_balance_pick(&f->b, c, NULL, 0, &s), LB_PICK_OK);
    return s;
}

static void swrr_is_smooth(void **u)
{
    (void)u;
    struct fixture f;
    const uint32_t w[] = {5, 1, 1};
    setup(&f, LB_BAL_ROUNDROBIN, 3, w);
    struct lb_addr c = client(0x7f000001, 1);
    /* nginx's documented sequence for weights 5,1,1: a a b a c a a */
    const int want[] = {0, 0, 1, 0, 2, 0, 0};
    for (int round = 0; round < 100; round++)
        for (int i = 0; i < 7; i++)
            assert_ptr_equal(pick(&f, &c), &f.s[want[i]]);
    teardown(&f);
}

static void leastconn_fills_evenly(void **u)
{
    (void)u;
    struct fixture f;
    const uint32_t w[] = {1, 1, 2};
    setup(&f, LB_BAL_LEASTCONN, 3, w);
    struct lb_addr c = client(0x7f000001, 1);
    f.s[0].conns = 5; /* already busy */
    for (int i = 0; i < 35; i++)
        pick(&f, &c)->conns++;
    /* 40 sessions in all, per unit of weight: 10, 10, 20 */
    assert_int_equal(f.s[0].conns, 10);
    assert_int_equal(f.s[1].conns, 10);
    assert_int_equal(f.s[2].conns, 20);
    teardown(&f);
}

static void source_is_sticky_and_weighted(void **u)
{
    (void)u;
    struct fixture f;
    const uint32_t w[] = {1, 2, 1, 4};
    setup(&f, LB_BAL_SOURCE, 4, w);
    unsigned count[4] = {0};
    struct lb_server *first[2000];
    for (uint32_t i = 0; i < 2000; i++) {
        struct lb_addr c = client(0x0a000000 + i * 7919, (uint16_t)i);
        first[i] = pick(&f, &c);
        struct lb_addr again = client(0x0a000000 + i * 7919, 4242); /* port ignored */
        assert_ptr_equal(pick(&f, &again), first[i]);
        count[first[i] - f.s]++;
    }
    /* 250, 500, 250, 1000 expected: within 15% */
    const unsigned want[] = {250, 500, 250, 1000};
    for (int i = 0; i < 4; i++)
        assert_true(count[i] > want[i] * 85 / 100 && count[i] < want[i] * 115 / 100);
    /* s1 goes down: only its clients move */
    f.s[1].up = 0;
    for (uint32_t i = 0; i < 2000; i++) {
        struct lb_addr c = client(0x0a000000 + i * 7919, 1);
        struct lb_server *s = pick(&f, &c);
        if (first[i] != &f.s[1])
            assert_ptr_equal(s, first[i]);
        else
            assert_ptr_not_equal(s, &f.s[1]);
    }
    teardown(&f);
}

static void maglev_table_properties(void **u)
{
    (void)u;
    const uint32_t m = 65537;
    uint32_t *t1 = malloc(m * sizeof *t1), *t2 = malloc(m * sizeof *t2);
    assert_non_null(t1);
    assert_non_null(t2);
    const char *names[] = {"alpha", "bravo", "charlie", "delta", "echo"};
    const uint32_t ones[] = {1, 1, 1, 1, 1};
    assert_int_equal(lb_maglev_populate(t1, m, names, ones, 5), 0);
    /* balance: every server owns floor or ceil of m/5 slots */
    unsigned cnt[5] = {0};
    for (uint32_t i = 0; i < m; i++) {
        assert_true(t1[i] < 5);
        cnt[t1[i]]++;
    }
    for (int i = 0; i < 5; i++)
        assert_true(cnt[i] == m / 5 || cnt[i] == m / 5 + 1);
    /* agreement: another instance listing the servers in another order builds the same
     * mapping by name */
    const char *perm[] = {"delta", "alpha", "echo", "charlie", "bravo"};
    assert_int_equal(lb_maglev_populate(t2, m, perm, ones, 5), 0);
    for (uint32_t i = 0; i < m; i++)
        assert_string_equal(names[t1[i]], perm[t2[i]]);
    /* stability: without "charlie", slots of the others mostly stay (paper: a few %) */
    const char *four[] = {"alpha", "bravo", "delta", "echo"};
    assert_int_equal(lb_maglev_populate(t2, m, four, ones, 4), 0);
    unsigned kept = 0, others = 0;
    for (uint32_t i = 0; i < m; i++) {
        if (t1[i] == 2)
            continue;
        others++;
        kept += !strcmp(names[t1[i]], four[t2[i]]);
    }
    assert_true(kept * 100 >= others * 90);
    /* weights: 3:1 gives 3:1 slots */
    const uint32_t w[] = {3, 1};
    assert_int_equal(lb_maglev_populate(t1, m, names, w, 2), 0);
    unsigned c0 = 0;
    for (uint32_t i = 0; i < m; i++)
        c0 += t1[i] == 0;
    assert_true(c0 >= m * 3 / 4 - 2 && c0 <= m * 3 / 4 + 2);
    /* no servers: every slot empty */
    assert_int_equal(lb_maglev_populate(t1, 7, names, w, 0), 0);
    for (int i = 0; i < 7; i++)
        assert_int_equal(t1[i], UINT32_MAX);
    free(t1);
    free(t2);
}

static void maglev_pick_follows_health(void **u)
{
    (void)u;
    struct fixture f;
    setup(&f, LB_BAL_MAGLEV, 3, NULL);
    f.b.conf.maglev_size = 251;
    unsigned count[3] = {0};
    struct lb_server *first[600];
    for (uint32_t i = 0; i < 600; i++) {
        struct lb_addr c = client(0x0a000001, (uint16_t)(1000 + i));
        first[i] = pick(&f, &c);
        count[first[i] - f.s]++;
    }
    for (int i = 0; i < 3; i++)
        assert_true(count[i] > 150 && count[i] < 250);
    f.s[0].up = 0;
    f.b.health_gen++;
    unsigned moved_others = 0;
    for (uint32_t i = 0; i < 600; i++) {
        struct lb_addr c = client(0x0a000001, (uint16_t)(1000 + i));
        struct lb_server *s = pick(&f, &c);
        assert_ptr_not_equal(s, &f.s[0]);
        moved_others += first[i] != &f.s[0] && s != first[i];
    }
    assert_true(moved_others < 60);
    teardown(&f);
}

static void backups_only_when_no_primary(void **u)
{
    (void)u;
    struct fixture f;
    setup(&f, LB_BAL_ROUNDROBIN, 3, NULL);
    f.s[2].backup = 1;
    struct lb_addr c = client(0x7f000001, 1);
    for (int i = 0; i < 50; i++)
        assert_ptr_not_equal(pick(&f, &c), &f.s[2]);
    f.s[0].up = 0;
    f.s[1].ejected_until = 1000; /* passive ejection, still in force at now = 0 */
    for (int i = 0; i < 10; i++)
        assert_ptr_equal(pick(&f, &c), &f.s[2]);
    f.s[2].up = 0;
    struct lb_server *s;
    assert_int_equal(lb_balance_pick(&f.b, &c, NULL, 0, &s), LB_PICK_NONE);
    /* once the ejection expires, the primary is back */
    assert_int_equal(lb_balance_pick(&f.b, &c, NULL, 1000, &s), LB_PICK_OK);
    assert_ptr_equal(s, &f.s[1]);
    teardown(&f);
}

static void maxconn_and_avoid(void **u)
{
    (void)u;
    static const int algs[] = {LB_BAL_ROUNDROBIN, LB_BAL_LEASTCONN, LB_BAL_SOURCE, LB_BAL_MAGLEV};
    for (size_t a = 0; a < 4; a++) {
        struct fixture f;
        setup(&f, algs[a], 2, NULL);
        struct lb_addr c = client(0x7f000001, 1);
        struct lb_server *s;
        /* avoided server: the other one is chosen, whatever the algorithm */
        for (int i = 0; i < 20; i++) {
            assert_int_equal(lb_balance_pick(&f.b, &c, &f.s[0], 0, &s), LB_PICK_OK);
            assert_ptr_equal(s, &f.s[1]);
        }
        /* avoided server as the only one left: still used (bounded retries decide) */
        f.s[1].up = 0;
        f.b.health_gen++;
        assert_int_equal(lb_balance_pick(&f.b, &c, &f.s[0], 0, &s), LB_PICK_OK);
        assert_ptr_equal(s, &f.s[0]);
        /* all at maxconn: queue */
        f.s[0].maxconn = 2;
        f.s[0].conns = 2;
        assert_int_equal(lb_balance_pick(&f.b, &c, NULL, 0, &s), LB_PICK_FULL);
        f.s[0].conns = 1;
        assert_int_equal(lb_balance_pick(&f.b, &c, NULL, 0, &s), LB_PICK_OK);
        teardown(&f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(swrr_is_smooth),
        cmocka_unit_test(leastconn_fills_evenly),
        cmocka_unit_test(source_is_sticky_and_weighted),
        cmocka_unit_test(maglev_table_properties),
        cmocka_unit_test(maglev_pick_follows_health),
        cmocka_unit_test(backups_only_when_no_primary),
        cmocka_unit_test(maxconn_and_avoid),
    };
    return cmocka_run_group_tests_name("lb_balance", tests, NULL, NULL);
}
