/* How long the admin thread's loop iterations take, and what ran in the slow ones: the
 * synfin_loop_* families of /metrics and GET /loop (docs/lb.md, "Loop iterations"). The
 * admin listener and the census share the loop with the sessions, so this is where one
 * sees whether admin work holds the proxied traffic. */
#include "ctl/render.h"

/* {"NAME":value,...}, each kind of work's ns over unit_ns. */
static void work_obj(struct sf_strbuf *b, const struct sf_loop_stats *st, const uint64_t *ns,
                     double unit_ns)
{
    sf_sb_printf(b, "{");
    for (int i = 0; i < st->nworks; i++) {
        sf_sb_printf(b, "%s", i ? "," : "");
        sf_sb_json_str(b, st->work_names[i]);
        sf_sb_printf(b, ":%.6f", (double)ns[i] / unit_ns);
    }
    sf_sb_printf(b, "}");
}

void ctl_render_metrics_loop(struct lb *lb, struct sf_strbuf *b)
{
    const struct sf_loop_stats *st = sf_loop_stats(lb->loop);
    sf_sb_printf(b, "# HELP synfin_loop_iteration_seconds Busy time of the admin thread's loop "
                    "iterations, from the wakeup to the end of the hooks.\n"
                    "# TYPE synfin_loop_iteration_seconds histogram\n");
    uint64_t cum = 0;
    for (int i = 0; i < SF_LOOP_BUCKETS; i++) {
        cum += st->buckets[i];
        if (i == SF_LOOP_BUCKETS - 1)
            sf_sb_printf(b, "synfin_loop_iteration_seconds_bucket{le=\"+Inf\"} %llu\n",
                         (unsigned long long)cum);
        else
            sf_sb_printf(b, "synfin_loop_iteration_seconds_bucket{le=\"%g\"} %llu\n",
                         (double)sf_loop_bucket_ns[i] / 1e9, (unsigned long long)cum);
    }
    sf_sb_printf(b,
                 "synfin_loop_iteration_seconds_sum %.6f\nsynfin_loop_iteration_seconds_count "
                 "%llu\n",
                 (double)st->busy_ns / 1e9, (unsigned long long)st->iterations);
    sf_sb_printf(b,
                 "# HELP synfin_loop_iteration_max_seconds The longest iteration since start.\n"
                 "# TYPE synfin_loop_iteration_max_seconds gauge\n"
                 "synfin_loop_iteration_max_seconds %.6f\n",
                 (double)st->max_ns / 1e9);
    sf_sb_printf(b, "# HELP synfin_loop_work_seconds_total Time the loop spent on a kind of "
                    "work besides the sessions.\n"
                    "# TYPE synfin_loop_work_seconds_total counter\n");
    for (int i = 0; i < st->nworks; i++)
        sf_sb_printf(b, "synfin_loop_work_seconds_total{work=\"%s\"} %.6f\n", st->work_names[i],
                     (double)st->work_ns[i] / 1e9);
    sf_sb_printf(b, "# HELP synfin_loop_work_cpu_seconds_total The thread's CPU time in that "
                    "work (less than the time when the thread was preempted).\n"
                    "# TYPE synfin_loop_work_cpu_seconds_total counter\n");
    for (int i = 0; i < st->nworks; i++)
        sf_sb_printf(b, "synfin_loop_work_cpu_seconds_total{work=\"%s\"} %.6f\n", st->work_names[i],
                     (double)st->work_cpu_ns[i] / 1e9);
}

void ctl_render_loop(struct lb *lb, struct sf_strbuf *b)
{
    const struct sf_loop_stats *st = sf_loop_stats(lb->loop);
    uint64_t now = sf_loop_now(lb->loop);
    sf_sb_printf(b,
                 "{\"version\":%d,\"iterations\":%llu,\"busy_s\":%.6f,\"max_ms\":%.3f,"
                 "\"slow_ms\":%.3f,\"slow_total\":%llu,\"work_s\":",
                 CTL_STATS_VERSION, (unsigned long long)st->iterations, (double)st->busy_ns / 1e9,
                 (double)st->max_ns / 1e6, (double)SF_LOOP_SLOW_NS / 1e6,
                 (unsigned long long)st->nslow);
    work_obj(b, st, st->work_ns, 1e9);
    sf_sb_printf(b, ",\"buckets\":[");
    for (int i = 0; i < SF_LOOP_BUCKETS; i++) {
        sf_sb_printf(b, "%s{\"le_ms\":", i ? "," : "");
        if (i == SF_LOOP_BUCKETS - 1)
            sf_sb_printf(b, "null");
        else
            sf_sb_printf(b, "%g", (double)sf_loop_bucket_ns[i] / 1e6);
        sf_sb_printf(b, ",\"n\":%llu}", (unsigned long long)st->buckets[i]);
    }
    sf_sb_printf(b, "],\"work_cpu_s\":");
    work_obj(b, st, st->work_cpu_ns, 1e9);
    sf_sb_printf(b, ",\"slow\":[");
    uint64_t kept = st->nslow < SF_LOOP_SLOW_MAX ? st->nslow : SF_LOOP_SLOW_MAX;
    for (uint64_t k = 0; k < kept; k++) {
        uint64_t seq = st->nslow - 1 - k;
        const struct sf_loop_iter *it = &st->slow[seq % SF_LOOP_SLOW_MAX];
        sf_sb_printf(b,
                     "%s{\"seq\":%llu,\"ago_ms\":%.3f,\"busy_ms\":%.3f,\"events\":%u,"
                     "\"timers\":%u,\"events_ms\":%.3f,\"timers_ms\":%.3f,\"hooks_ms\":%.3f,"
                     "\"work_ms\":",
                     k ? "," : "", (unsigned long long)seq, (double)(now - it->start_ns) / 1e6,
                     (double)it->busy_ns / 1e6, it->events, it->timers, (double)it->events_ns / 1e6,
                     (double)it->timers_ns / 1e6, (double)it->hooks_ns / 1e6);
        work_obj(b, st, it->work_ns, 1e6);
        sf_sb_printf(b, ",\"work_cpu_ms\":");
        work_obj(b, st, it->work_cpu_ns, 1e6);
        sf_sb_printf(b, "}");
    }
    sf_sb_printf(b, "]");
    ctl_render_loop_threads(lb, b);
    sf_sb_printf(b, "}\n");
}
