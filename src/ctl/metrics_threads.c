/* /metrics and /stats with threads: each thread's figures, stored by the thread itself after
 * its batches (lb/shared.h, struct lb_thread_stat), read here on thread 0 without a lock.
 * The admin listener runs on thread 0: its own figures are read directly. */
#include "ctl/render.h"
#include "lb/shared.h"

#include <stdatomic.h>

static uint64_t t_total(const struct lb *lb, uint32_t i)
{
    if (i == lb->thread)
        return lb->sessions_total;
    return atomic_load_explicit(&lb->shared->stat[i].sessions_total, memory_order_relaxed);
}

static uint32_t t_active(const struct lb *lb, uint32_t i)
{
    if (i == lb->thread)
        return lb->nsessions;
    return atomic_load_explicit(&lb->shared->stat[i].sessions, memory_order_relaxed);
}

static double t_cpu_s(const struct lb *lb, uint32_t i)
{
    return (double)atomic_load_explicit(&lb->shared->stat[i].cpu_ns, memory_order_relaxed) / 1e9;
}

/* Thread i's loop: thread 0's own read directly, the others' as stored at their sync tick. */
struct loop_fig {
    uint64_t iterations, busy_ns, max_ns, slow;
};

static struct loop_fig t_loop(const struct lb *lb, uint32_t i)
{
    if (i == lb->thread) {
        const struct sf_loop_stats *st = sf_loop_stats(lb->loop);
        return (struct loop_fig){st->iterations, st->busy_ns, st->max_ns, st->nslow};
    }
    const struct lb_thread_stat *t = &lb->shared->stat[i];
    return (struct loop_fig){atomic_load_explicit(&t->loop_iterations, memory_order_relaxed),
                             atomic_load_explicit(&t->loop_busy_ns, memory_order_relaxed),
                             atomic_load_explicit(&t->loop_max_ns, memory_order_relaxed),
                             atomic_load_explicit(&t->loop_slow, memory_order_relaxed)};
}

/* Each thread's figures read once (four relaxed loads), then printed family by family. */
static void loop_families(const struct lb *lb, struct sf_strbuf *b)
{
    uint32_t n = lb->shared->nthreads;
    struct loop_fig f[LB_THREADS_MAX];
    for (uint32_t i = 0; i < n; i++)
        f[i] = t_loop(lb, i);
    sf_sb_printf(b, "# HELP synfin_thread_loop_iterations_total Loop iterations, by thread.\n"
                    "# TYPE synfin_thread_loop_iterations_total counter\n");
    for (uint32_t i = 0; i < n; i++)
        sf_sb_printf(b, "synfin_thread_loop_iterations_total{thread=\"%u\"} %llu\n", i,
                     (unsigned long long)f[i].iterations);
    sf_sb_printf(b, "# HELP synfin_thread_loop_busy_seconds_total Busy time of the loop's "
                    "iterations (wakeup to the end of the hooks), by thread.\n"
                    "# TYPE synfin_thread_loop_busy_seconds_total counter\n");
    for (uint32_t i = 0; i < n; i++)
        sf_sb_printf(b, "synfin_thread_loop_busy_seconds_total{thread=\"%u\"} %.6f\n", i,
                     (double)f[i].busy_ns / 1e9);
    sf_sb_printf(b, "# HELP synfin_thread_loop_iteration_max_seconds The longest iteration "
                    "since start, by thread.\n"
                    "# TYPE synfin_thread_loop_iteration_max_seconds gauge\n");
    for (uint32_t i = 0; i < n; i++)
        sf_sb_printf(b, "synfin_thread_loop_iteration_max_seconds{thread=\"%u\"} %.6f\n", i,
                     (double)f[i].max_ns / 1e9);
    sf_sb_printf(b, "# HELP synfin_thread_loop_slow_iterations_total Iterations busy over 1 ms, "
                    "by thread.\n"
                    "# TYPE synfin_thread_loop_slow_iterations_total counter\n");
    for (uint32_t i = 0; i < n; i++)
        sf_sb_printf(b, "synfin_thread_loop_slow_iterations_total{thread=\"%u\"} %llu\n", i,
                     (unsigned long long)f[i].slow);
}

void ctl_render_loop_threads(const struct lb *lb, struct sf_strbuf *b)
{
    if (!lb->shared)
        return;
    sf_sb_printf(b, ",\"threads\":[");
    for (uint32_t i = 0; i < lb->shared->nthreads; i++) {
        struct loop_fig f = t_loop(lb, i);
        sf_sb_printf(b,
                     "%s{\"thread\":%u,\"iterations\":%llu,\"busy_s\":%.6f,\"max_ms\":%.3f,"
                     "\"slow_total\":%llu}",
                     i ? "," : "", i, (unsigned long long)f.iterations, (double)f.busy_ns / 1e9,
                     (double)f.max_ns / 1e6, (unsigned long long)f.slow);
    }
    sf_sb_printf(b, "]");
}

uint32_t ctl_sessions_active(const struct lb *lb)
{
    if (!lb->shared)
        return lb->nsessions;
    uint32_t n = 0;
    for (uint32_t i = 0; i < lb->shared->nthreads; i++)
        n += t_active(lb, i);
    return n;
}

uint64_t ctl_sessions_total(const struct lb *lb)
{
    if (!lb->shared)
        return lb->sessions_total;
    uint64_t n = 0;
    for (uint32_t i = 0; i < lb->shared->nthreads; i++)
        n += t_total(lb, i);
    return n;
}

void ctl_render_metrics_threads(struct lb *lb, struct sf_strbuf *b)
{
    if (!lb->shared)
        return;
    uint32_t n = lb->shared->nthreads;
    sf_sb_printf(b,
                 "# HELP synfin_threads Event-loop threads, each owning its sessions.\n"
                 "# TYPE synfin_threads gauge\nsynfin_threads %u\n",
                 n);
    sf_sb_printf(b, "# HELP synfin_thread_sessions_active Live sessions, by thread.\n"
                    "# TYPE synfin_thread_sessions_active gauge\n");
    for (uint32_t i = 0; i < n; i++)
        sf_sb_printf(b, "synfin_thread_sessions_active{thread=\"%u\"} %u\n", i, t_active(lb, i));
    sf_sb_printf(b, "# HELP synfin_thread_sessions_total Sessions accepted, by thread.\n"
                    "# TYPE synfin_thread_sessions_total counter\n");
    for (uint32_t i = 0; i < n; i++)
        sf_sb_printf(b, "synfin_thread_sessions_total{thread=\"%u\"} %llu\n", i,
                     (unsigned long long)t_total(lb, i));
    sf_sb_printf(b, "# HELP synfin_thread_cpu_seconds_total CPU time of each thread's loop "
                    "(CLOCK_THREAD_CPUTIME_ID, stored every few ms).\n"
                    "# TYPE synfin_thread_cpu_seconds_total counter\n");
    for (uint32_t i = 0; i < n; i++)
        sf_sb_printf(b, "synfin_thread_cpu_seconds_total{thread=\"%u\"} %.6f\n", i, t_cpu_s(lb, i));
    loop_families(lb, b);
}

void ctl_render_stats_threads(struct lb *lb, struct sf_strbuf *b)
{
    if (!lb->shared)
        return;
    sf_sb_printf(b, ",\"threads\":[");
    for (uint32_t i = 0; i < lb->shared->nthreads; i++)
        sf_sb_printf(b, "%s{\"thread\":%u,\"active\":%u,\"total\":%llu,\"cpu_s\":%.6f}",
                     i ? "," : "", i, t_active(lb, i), (unsigned long long)t_total(lb, i),
                     t_cpu_s(lb, i));
    sf_sb_printf(b, "]");
}
