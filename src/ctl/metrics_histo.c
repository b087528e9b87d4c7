/* /metrics: the backends' latency histograms (src/lb/histo.h) in Prometheus' histogram
 * form: cumulative _bucket{le=...} series ending at +Inf, then _sum and _count. */
#include "ctl/render.h"
#include "ctl/sum.h"

static void histogram(struct sf_strbuf *b, struct lb *lb, const char *name, const char *help,
                      const struct lb_histo_bounds *bounds, size_t off)
{
    sf_sb_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (size_t i = 0; i < lb->nbe; i++) {
        const struct lb_backend *be = lb->be[i];
        struct lb_histo sum;
        ctl_sum_histo(lb, i, off, &sum); /* every thread's, bucket by bucket */
        const struct lb_histo *h = &sum;
        uint64_t cum = 0;
        for (int k = 0; k < LB_HISTO_BUCKETS; k++) {
            cum += h->bucket[k];
            sf_sb_printf(b, "%s_bucket{backend=\"%s\",le=\"%g\"} %llu\n", name, be->conf.name,
                         bounds->le_s[k], (unsigned long long)cum);
        }
        sf_sb_printf(b, "%s_bucket{backend=\"%s\",le=\"+Inf\"} %llu\n", name, be->conf.name,
                     (unsigned long long)h->count);
        sf_sb_printf(b, "%s_sum{backend=\"%s\"} %.9f\n", name, be->conf.name,
                     (double)h->sum_ns / 1e9);
        sf_sb_printf(b, "%s_count{backend=\"%s\"} %llu\n", name, be->conf.name,
                     (unsigned long long)h->count);
    }
}

void ctl_render_metrics_histograms(struct lb *lb, struct sf_strbuf *b)
{
    histogram(b, lb, "synfin_backend_connect_seconds",
              "Time from the connect to a server to its answer, connects that succeeded.",
              &lb_histo_connect, offsetof(struct lb_backend, connect_hist));
    histogram(b, lb, "synfin_backend_session_duration_seconds",
              "Time from accept to end of the sessions the backend served (queued, failed "
              "and refused ones included).",
              &lb_histo_duration, offsetof(struct lb_backend, duration_hist));
}
