/* GET /states (JSON): the census of synfin's own TCP by state and, when the transport is told
 * them (the stack's engine), every transition made since start by arrow (from, to) and
 * cause. What the dashboard draws on RFC 9293's diagram; rates are the client's differences
 * between two scrapes. */
#include "ctl/render.h"
#include "lb/counter.h"

#include <stdlib.h>
#include <unistd.h>

/* Every thread's arrows summed (each thread's transport writes its own with LB_COUNT_*):
 * NULL when the transport is not told them, or memory ran out. Freed by the caller. */
static uint64_t *arrows_sum(const struct lb *lb)
{
    if (!lb->tp->arrows)
        return NULL;
    uint64_t *a = calloc(LB_ARROWS_LEN, sizeof *a);
    if (!a)
        return NULL;
    uint32_t n = lb->shared ? lb->shared->nthreads : 1;
    for (uint32_t t = 0; t < n; t++) {
        const uint64_t *src = lb->shared ? lb->shared->lb[t]->tp->arrows : lb->tp->arrows;
        for (size_t i = 0; i < LB_ARROWS_LEN; i++)
            a[i] += LB_COUNT_LOAD(src[i]);
    }
    return a;
}

static void arrows(struct sf_strbuf *b, const uint64_t *a)
{
    int first = 1;
    sf_sb_printf(b, "[");
    for (int from = 0; from < SF_STATE_COUNT; from++)
        for (int to = 0; to < SF_STATE_COUNT; to++) {
            uint64_t total = 0;
            for (int c = 0; c < SF_CAUSE_COUNT; c++)
                total += a[lb_arrow_index(from, to, c)];
            if (!total)
                continue;
            sf_sb_printf(b, "%s{\"from\":\"%s\",\"to\":\"%s\",\"total\":%llu,\"causes\":{",
                         first ? "" : ",", sf_state_name(from), sf_state_name(to),
                         (unsigned long long)total);
            first = 0;
            int k = 0;
            for (int c = 0; c < SF_CAUSE_COUNT; c++) {
                uint64_t n = a[lb_arrow_index(from, to, c)];
                if (n)
                    sf_sb_printf(b, "%s\"%s\":%llu", k++ ? "," : "", sf_cause_id(c),
                                 (unsigned long long)n);
            }
            sf_sb_printf(b, "}}");
        }
    sf_sb_printf(b, "]");
}

void ctl_render_states(struct lb *lb, const struct lb_census *c, uint64_t age_ns,
                       struct sf_strbuf *b)
{
    uint64_t now = sf_loop_now(lb->loop);
    sf_sb_printf(b, "{\"version\":%d,\"transport\":", CTL_STATS_VERSION);
    sf_sb_json_str(b, lb->tp->ops->name);
    sf_sb_printf(b, ",\"pid\":%d,\"uptime_s\":%.3f,\"census_age_s\":%.3f,\"sock_diag\":%s",
                 (int)getpid(), (double)(now - lb->started_ns) / 1e9, (double)age_ns / 1e9,
                 c->diag_error ? "false" : "true");
    sf_sb_printf(b, ",\"sessions_active\":%u,\"states\":{", ctl_sessions_active(lb));
    for (int s = 0; s < SF_STATE_COUNT; s++)
        sf_sb_printf(b, "%s\"%s\":%llu", s ? "," : "", sf_state_name(s),
                     (unsigned long long)c->states[s]);
    sf_sb_printf(b, "},\"transitions\":");
    uint64_t *a = arrows_sum(lb);
    if (a)
        arrows(b, a);
    else
        sf_sb_printf(b, "null");
    free(a);
    sf_sb_printf(b, "}\n");
}
