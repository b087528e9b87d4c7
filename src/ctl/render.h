/* What the admin endpoints say about a running load balancer: /metrics (Prometheus text
 * format 0.0.4), /stats and /sessions (JSON; schema in docs/lb.md). */
#ifndef SYNFIN_CTL_RENDER_H
#define SYNFIN_CTL_RENDER_H

#include "ctl/admin.h"
#include "util/strbuf.h"
#include "lb/lb.h"

#define CTL_STATS_VERSION 1

/* Live sessions of a backend (queued, connecting or established), counted from the session
 * list: sessions that a reload left on a removed backend count for that one only. */
uint32_t ctl_backend_active(const struct lb *lb, const struct lb_backend *be);

void ctl_render_metrics(struct lb *lb, const struct lb_census *c, struct sf_strbuf *b);
void ctl_render_stats(struct lb *lb, const struct lb_census *c, struct sf_strbuf *b);
void ctl_render_sessions(struct lb *lb, struct sf_strbuf *b);

/* The admin request handler for a load balancer (ctx: struct ctl). */
struct ctl {
    struct lb *lb;
    struct ctl_admin *admin;
};
int ctl_handle(void *ctx, const struct ctl_admin_req *r, struct sf_strbuf *body,
               const char **ctype);

#endif
