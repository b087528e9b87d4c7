/* A session's timeline; see timeline.h. */
#include "ctl/timeline.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void ctl_tl_init(struct ctl_timeline *tl, uint64_t t_start)
{
    tl->t0 = t_start;
    tl->n = 0;
}

void ctl_tl_add(struct ctl_timeline *tl, uint64_t t, const char *event, const char *fmt, ...)
{
    if (!t || tl->n == CTL_TL_MAX)
        return;
    struct ctl_tl_event *e = &tl->ev[tl->n];
    e->t = t;
    e->seq = (unsigned)tl->n++;
    e->event = event;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->detail, sizeof e->detail, fmt, ap);
    va_end(ap);
}

void ctl_tl_stamps(struct ctl_timeline *tl, uint64_t queued, uint64_t connect, uint64_t established)
{
    ctl_tl_add(tl, tl->t0, "accepted", "client connection ESTABLISHED (3-way handshake done)");
    ctl_tl_add(tl, queued, "queued", "waiting in the backend's queue for a server");
    ctl_tl_add(tl, connect, "connect", "SYN sent to the server (SYN_SENT)");
    ctl_tl_add(tl, established, "server_established", "server connection ESTABLISHED");
}

void ctl_tl_trace(struct ctl_timeline *tl, const struct lb_trace *trace, const uint64_t ids[2])
{
    if (!trace || (!ids[0] && !ids[1]))
        return;
    /* The ring oldest first: a scan of at most LB_TRACE_LEN entries, no system call. */
    uint64_t kept = trace->n < LB_TRACE_LEN ? trace->n : LB_TRACE_LEN;
    for (uint64_t i = trace->n - kept; i < trace->n; i++) {
        const struct lb_transition *r = &trace->ring[i % LB_TRACE_LEN];
        for (int side = 0; side < 2; side++)
            if (ids[side] && r->conn_id == ids[side])
                ctl_tl_add(tl, r->when_ns, side ? "server_tcp" : "client_tcp", "%s -> %s by %s",
                           sf_state_name(r->from), sf_state_name(r->to), sf_cause_id(r->cause));
    }
}

static int by_time(const void *a, const void *b)
{
    const struct ctl_tl_event *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void ctl_tl_render(struct ctl_timeline *tl, struct sf_strbuf *b)
{
    if (tl->n > 1) /* an empty timeline may have no array */
        qsort(tl->ev, tl->n, sizeof tl->ev[0], by_time);
    sf_sb_printf(b, ",\"timeline\":[");
    for (size_t i = 0; i < tl->n; i++) {
        const struct ctl_tl_event *e = &tl->ev[i];
        /* A transition stamped before the accept (the handshake) counts as at it. */
        double at_ms = e->t > tl->t0 ? (double)(e->t - tl->t0) / 1e6 : 0.0;
        sf_sb_printf(b, "%s{\"at_ms\":%.3f,\"event\":\"%s\",\"detail\":", i ? "," : "", at_ms,
                     e->event);
        sf_sb_json_str(b, e->detail);
        sf_sb_printf(b, "}");
    }
    sf_sb_printf(b, "]");
}
