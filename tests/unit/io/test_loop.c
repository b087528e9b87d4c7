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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timers_fire_in_order),
        cmocka_unit_test(hooks_run_each_iteration),
        cmocka_unit_test(wake_hooks_run_first),
    };
    return cmocka_run_group_tests_name("io_loop", tests, NULL, NULL);
}
