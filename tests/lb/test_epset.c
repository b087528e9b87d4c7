/* The endpoint index behind loop detection: lookups find every value stored under a key,
 * IPv4 and its mapped IPv6 form are one key, and long runs of adds and deletes (backward
 * shift, growth, shrinking) agree with a plain list. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lb/epset.h"

static struct lb_addr addr(const char *s)
{
    struct lb_addr a;
    const char *why;
    assert_int_equal(lb_addr_parse(&a, s, 1, &why), 0);
    return a;
}

static size_t count(const struct lb_epset *s, const struct lb_addr *a, void *want, int *found)
{
    size_t it = 0, n = 0;
    void *v;
    *found = 0;
    while ((v = lb_epset_next(s, a, &it))) {
        n++;
        *found |= v == want;
    }
    return n;
}

static void keys_and_duplicates(void **u)
{
    (void)u;
    struct lb_epset s;
    lb_epset_init(&s);
    struct lb_addr a = addr("127.0.0.1:40000"), mapped = addr("[::ffff:127.0.0.1]:40000");
    struct lb_addr other_port = addr("127.0.0.1:40001"), v6 = addr("[::1]:40000");
    int x, y, found;
    size_t it = 0;
    assert_null(lb_epset_next(&s, &a, &it));
    assert_int_equal(lb_epset_del(&s, &a, &x), -ENOENT);
    assert_int_equal(lb_epset_add(&s, &a, &x), 0);
    assert_int_equal(lb_epset_add(&s, &mapped, &y), 0); /* one port, two destinations */
    assert_int_equal(count(&s, &a, &x, &found), 2);
    assert_true(found);
    assert_int_equal(count(&s, &mapped, &y, &found), 2);
    assert_true(found);
    assert_int_equal(count(&s, &other_port, &x, &found), 0);
    assert_int_equal(count(&s, &v6, &x, &found), 0);
    assert_int_equal(lb_epset_del(&s, &a, &y), 0); /* by key and value */
    assert_int_equal(count(&s, &a, &x, &found), 1);
    assert_true(found);
    assert_int_equal(lb_epset_del(&s, &a, &y), -ENOENT);
    lb_epset_free(&s);
}

#define N 5000

static void agrees_with_a_list(void **u)
{
    (void)u;
    struct lb_epset s;
    lb_epset_init(&s);
    static struct lb_addr keys[N];
    static int live[N], vals[N];
    uint32_t x = 7;
    size_t nlive = 0, peak = 0;
    for (int round = 0; round < 200000; round++) {
        x = x * 1103515245 + 12345;
        size_t i = (x >> 8) % N;
        if (!live[i]) {
            memset(&keys[i], 0, sizeof keys[i]);
            keys[i].u.in4.sin_family = AF_INET;
            /* few addresses and ports: long probe runs and shared keys */
            keys[i].u.in4.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(i % 3));
            keys[i].u.in4.sin_port = htons((uint16_t)(1000 + i % 700));
            keys[i].len = sizeof keys[i].u.in4;
            assert_int_equal(lb_epset_add(&s, &keys[i], &vals[i]), 0);
            live[i] = 1;
            nlive++;
        } else if ((x >> 20) % 3) {
            assert_int_equal(lb_epset_del(&s, &keys[i], &vals[i]), 0);
            live[i] = 0;
            nlive--;
        }
        if (nlive > peak)
            peak = nlive;
        assert_int_equal(s.n, nlive);
        if (round % 997 == 0) {
            for (size_t k = 0; k < N; k++) {
                int found;
                count(&s, &keys[k], &vals[k], &found);
                assert_int_equal(found, live[k] && 1);
            }
        }
    }
    /* emptied again, it gives back its memory down to the minimum */
    for (size_t k = 0; k < N; k++)
        if (live[k])
            assert_int_equal(lb_epset_del(&s, &keys[k], &vals[k]), 0);
    assert_int_equal(s.n, 0);
    assert_true(s.cap <= 128);
    assert_true(peak > 1000);
    lb_epset_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys_and_duplicates),
        cmocka_unit_test(agrees_with_a_list),
    };
    return cmocka_run_group_tests_name("lb_epset", tests, NULL, NULL);
}
