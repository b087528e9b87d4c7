/* Timer wheel against a brute-force model: random arms, cancels and re-arms, clock jumps of
 * every size; each timer fires exactly once, at the first advance at or past its expiry. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "tcp/wheel.h"

#define N 4000

struct item {
    struct sf_timer t;
    uint64_t due; /* model: expiry, 0 when not armed */
    int fired;
};

static struct item items[N];
static uint64_t now;
static int errors;

static void on_fire(struct sf_timer *t, void *arg)
{
    (void)arg;
    struct item *it = (struct item *)t;
    if (it->due == 0 || it->due > now)
        errors++; /* fired while cancelled, or early */
    it->fired++;
    it->due = 0;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint64_t random_delay(void)
{
    switch (next_rand() % 5) {
    case 0: return next_rand() % 64;
    case 1: return next_rand() % 4096;
    case 2: return next_rand() % 300000;
    case 3: return next_rand() % 8000000;
    default: return 1 + next_rand() % 3;
    }
}

static void against_model(void **state)
{
    (void)state;
    struct sf_wheel w;
    now = 123456789;
    sf_wheel_init(&w, now);
    memset(items, 0, sizeof items);

    for (int round = 0; round < 200000; round++) {
        struct item *it = &items[next_rand() % N];
        switch (next_rand() % 4) {
        case 0:
        case 1:
            it->due = now + random_delay();
            if (it->due == now)
                it->due = now + 1; /* the wheel fires past-due timers at the next tick */
            sf_wheel_add(&w, &it->t, it->due);
            break;
        case 2:
            sf_wheel_del(&w, &it->t);
            it->due = 0;
            break;
        default: {
            /* Before advancing: no live timer is due before next(), and level-0 is exact. */
            uint64_t min = UINT64_MAX;
            size_t live = 0;
            for (int i = 0; i < N; i++)
                if (items[i].due) {
                    live++;
                    if (items[i].due < min)
                        min = items[i].due;
                }
            assert_int_equal(w.count, live);
            uint64_t nx = sf_wheel_next(&w);
            assert_true(nx <= min);
            if (min != UINT64_MAX && (min >> 6) == (now >> 6))
                assert_int_equal(nx, min); /* same first-level block: exact */
            uint64_t step =
                (next_rand() % 3 == 0) ? (nx == UINT64_MAX ? 1 : nx - now) : random_delay();
            now += step ? step : 1;
            sf_wheel_advance(&w, now, on_fire, NULL);
            for (int i = 0; i < N; i++)
                if (items[i].due && items[i].due <= now)
                    errors++; /* due but not fired */
        }
        }
    }
    assert_int_equal(errors, 0);
}

/* Timers in one expired batch cancel each other from their callbacks: whichever fires first,
 * the other must not fire. One re-arms itself from its own callback. */
static struct sf_wheel *cb_wheel;
static struct sf_timer a, b;
static int a_fires, b_fires;
static void chain_fire(struct sf_timer *t, void *arg)
{
    (void)arg;
    if (t == &a) {
        a_fires++;
        sf_wheel_del(cb_wheel, &b);
        if (a_fires < 3)
            sf_wheel_add(cb_wheel, &a, cb_wheel->now + 10);
    } else {
        b_fires++;
        sf_wheel_del(cb_wheel, &a);
    }
}

static void rearm_and_cancel_from_callback(void **state)
{
    (void)state;
    struct sf_wheel w;
    cb_wheel = &w;
    sf_wheel_init(&w, 0);
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    sf_wheel_add(&w, &a, 5);
    sf_wheel_add(&w, &b, 5);
    sf_wheel_advance(&w, 5, chain_fire, NULL);
    assert_int_equal(a_fires + b_fires, 1);
    if (a_fires) {
        assert_int_equal(sf_wheel_next(&w), 15);
        sf_wheel_advance(&w, 100, chain_fire, NULL);
        assert_int_equal(a_fires, 2); /* one advance fires a timer once; the re-arm is later */
        sf_wheel_advance(&w, 200, chain_fire, NULL);
        assert_int_equal(a_fires, 3);
    }
    assert_int_equal(w.count, 0);
    assert_int_equal(sf_wheel_next(&w), UINT64_MAX);
}

/* Exact at millisecond resolution at every scale: a 2000 ms timer fires at 2000, not 2048. */
static void exact_firing_times(void **state)
{
    (void)state;
    static const uint64_t delays[] = {1, 63, 64, 2000, 60000, 7200000, 1ULL << 34};
    for (size_t i = 0; i < sizeof delays / sizeof delays[0]; i++) {
        struct sf_wheel w;
        sf_wheel_init(&w, 777);
        struct item it;
        memset(&it, 0, sizeof it);
        it.due = 777 + delays[i];
        sf_wheel_add(&w, &it.t, it.due);
        now = 777;
        /* Step through deadlines as an event loop would: it fires at its tick exactly. */
        while (sf_timer_armed(&it.t)) {
            uint64_t nx = sf_wheel_next(&w);
            assert_true(nx > now);
            now = nx;
            sf_wheel_advance(&w, now, on_fire, NULL);
        }
        assert_int_equal(it.fired, 1);
        assert_int_equal(now, 777 + delays[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(against_model),
        cmocka_unit_test(rearm_and_cancel_from_callback),
        cmocka_unit_test(exact_firing_times),
    };
    return cmocka_run_group_tests_name("tcp_wheel", tests, NULL, NULL);
}
