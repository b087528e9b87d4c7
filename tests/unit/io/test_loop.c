/* The loop's timer heap: timers fire in deadline order, re-arming and cancelling keep the
 * heap consistent, hooks run after every iteration, and wake hooks before anything else. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "io/loop.h"

#define N 500

static uint64_t fired[N];
static size_t nfired;
static struct sf_loop_timer timers[N];

static void on_fire(struct sf_loop_timer *t)
{
    fired[nfired++] = t->when;
}

static void timers_fire_in_order(void **u)
{
    (void)u;
    struct sf_loop *l = sf_loop_new();
    assert_non_null(l);
    uint64_t base = sf_loop_now(l);
    uint32_t x = 7;
    nfired = 0;
    for (int i = 0; i < N; i++) {
        x = x * 1103515245 + 12345;
        timers[i].fn = on_fire;
        assert_int_equal(sf_loop_timer_set(l, &timers[i], base + (x >> 16) % 1000), 0);
    }
    /* move some, cancel some */
    for (int i = 0; i < N; i += 3)
        assert_int_equal(sf_loop_timer_set(l, &timers[i], base + (uint64_t)(i % 17)), 0);
    int cancelled = 0;
    for (int i = 1; i < N; i += 5) {
        sf_loop_timer_cancel(l, &timers[i]);
        assert_false(sf_loop_timer_armed(&timers[i]));
        cancelled++;
    }
    sf_loop_timer_cancel(l, &timers[1]); /* twice is harmless */
    /* deadlines are in ns and all within 1 us of base: one iteration fires them all */
    assert_int_equal(sf_loop_once(l, 10), 0);
    assert_int_equal(nfired, N - cancelled);
    for (size_t i = 1; i < nfired; i++)
        assert_true(fired[i - 1] <= fired[i]);
    sf_loop_free(l);
}

static int hook_runs;
static void on_hook(struct sf_hook *h)
{
    (void)h;
    hook_runs++;
}

static void hooks_run_each_iteration(void **u)
{
    (void)u;
    struct sf_loop *l = sf_loop_new();
    struct sf_hook h = {.fn = on_hook};
    sf_loop_add_hook(l, &h);
    hook_runs = 0;
    sf_loop_once(l, 0);
    sf_loop_once(l, 0);
    assert_int_equal(hook_runs, 2);
    sf_loop_del_hook(l, &h);
    sf_loop_once(l, 0);
    assert_int_equal(hook_runs, 2);
    sf_loop_free(l);
}

/* The order inside one iteration: wake hooks, then descriptors, then timers, then hooks. */
static char order[8];
static size_t norder;
static void mark(char c)
{
    if (norder < sizeof order - 1)
        order[norder++] = c;
}
static void on_wake_mark(struct sf_hook *h)
{
    (void)h;
    mark('w');
}
static void on_after_mark(struct sf_hook *h)
{
    (void)h;
    mark('a');
}
static void on_timer_mark(struct sf_loop_timer *t)
{
    (void)t;
    mark('t');
}
static void on_io_mark(struct sf_io *io, uint32_t ev)
{
    (void)io;
    (void)ev;
    mark('i');
}

static void wake_hooks_run_first(void **u)
{
    (void)u;
    struct sf_loop *l = sf_loop_new();
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    struct sf_io io = {.fd = p[0], .fn = on_io_mark};
    assert_int_equal(sf_loop_add(l, &io, EPOLLIN), 0);
    struct sf_hook w = {.fn = on_wake_mark}, a = {.fn = on_after_mark};
    struct sf_loop_timer t = {.fn = on_timer_mark};
    sf_loop_add_wake_hook(l, &w);
    sf_loop_add_hook(l, &a);
    assert_int_equal(sf_loop_timer_set(l, &t, sf_loop_now(l)), 0);
    norder = 0;
    assert_int_equal(sf_loop_once(l, 100), 0);
    order[norder] = 0;
    assert_string_equal(order, "wita");
    sf_loop_del_wake_hook(l, &w);
    norder = 0;
    assert_int_equal(sf_loop_once(l, 0), 0);
    order[norder] = 0;
    assert_string_equal(order, "a"); /* edge-triggered: the byte was reported once */
    close(p[0]);
    close(p[1]);
    sf_loop_free(l);
}

/* A hook that holds the loop for 2 ms of the loop's own clock, counted as work "census":
 * that iteration lands in the histogram's bucket above 1 ms and in the ring of slow ones
 * with its events, timers and work; the quick ones do not. */
static struct sf_loop *slow_loop;
static int slow_work, slow_armed;
static void on_slow_hook(struct sf_hook *h)
{
    (void)h;
    if (!slow_armed)
        return;
    slow_armed = 0;
    struct sf_loop_mark m = sf_loop_mark();
    while (sf_loop_mark().wall_ns - m.wall_ns < 2 * SF_NSEC_PER_MS)
        ;
    sf_loop_work_add(slow_loop, slow_work, m);
}

static void iterations_are_timed_with_their_work(void **u)
{
    (void)u;
    struct sf_loop *l = slow_loop = sf_loop_new();
    assert_int_equal(sf_loop_work_id(l, "census"), 0);
    assert_int_equal(sf_loop_work_id(l, "admin"), 1);
    assert_int_equal(sf_loop_work_id(l, "census"), 0); /* found, not registered twice */
    static const char *const more[] = {"a", "b", "c", "d", "e", "f", "g"};
    int full = 0;
    for (size_t i = 0; i < sizeof more / sizeof *more; i++)
        full |= sf_loop_work_id(l, more[i]) < 0;
    assert_true(full); /* at most SF_LOOP_WORKS kinds */
    slow_work = 0;
    struct sf_hook h = {.fn = on_slow_hook};
    sf_loop_add_hook(l, &h);
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct sf_io io = {.fd = p[0], .fn = on_io_mark};
    assert_int_equal(sf_loop_add(l, &io, EPOLLIN), 0);
    assert_int_equal(sf_loop_once(l, 0), 0);
    assert_int_equal(sf_loop_once(l, 0), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    struct sf_loop_timer t = {.fn = on_timer_mark};
    assert_int_equal(sf_loop_timer_set(l, &t, sf_loop_now(l)), 0);
    slow_armed = 1;
    assert_int_equal(sf_loop_once(l, 100), 0);
    assert_int_equal(sf_loop_once(l, 0), 0);

    const struct sf_loop_stats *st = sf_loop_stats(l);
    assert_int_equal(st->iterations, 4);
    uint64_t sum = 0, above = 0;
    for (int i = 0; i < SF_LOOP_BUCKETS; i++) {
        sum += st->buckets[i];
        if (i > 0 && sf_loop_bucket_ns[i - 1] >= SF_LOOP_SLOW_NS)
            above += st->buckets[i];
    }
    assert_int_equal(sum, 4);
    /* The others are quick unless the machine preempted them: not counted on. */
    assert_true(above >= 1 && above == st->nslow);
    const struct sf_loop_iter *it = NULL;
    for (uint64_t i = 0; i < st->nslow; i++)
        if (st->slow[i].work_ns[0] > 0) {
            assert_null(it); /* one iteration did that work */
            it = &st->slow[i];
        }
    assert_non_null(it);
    assert_true(it->busy_ns >= 2 * SF_NSEC_PER_MS);
    assert_int_equal(it->events, 1);
    assert_int_equal(it->timers, 1);
    assert_true(it->work_ns[0] >= 2 * SF_NSEC_PER_MS);
    assert_true(it->work_ns[0] <= it->hooks_ns);
    assert_true(it->events_ns + it->timers_ns + it->hooks_ns <= it->busy_ns);
    assert_int_equal(it->work_ns[1], 0);
    assert_true(st->work_ns[0] == it->work_ns[0]);
    assert_true(st->max_ns >= it->busy_ns);
    assert_true(st->work_cpu_ns[0] > 0);
    close(p[0]);
    close(p[1]);
    sf_loop_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timers_fire_in_order),
        cmocka_unit_test(hooks_run_each_iteration),
        cmocka_unit_test(wake_hooks_run_first),
        cmocka_unit_test(iterations_are_timed_with_their_work),
    };
    return cmocka_run_group_tests_name("io_loop", tests, NULL, NULL);
}
