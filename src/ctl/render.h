/* What the admin endpoints say about a running load balancer: /metrics (Prometheus text
 * format 0.0.4), /stats and /sessions (JSON; schema in docs/lb.md). */
#ifndef SYNFIN_CTL_RENDER_H
#define SYNFIN_CTL_RENDER_H

#include "ctl/census.h"
#include "ctl/strbuf.h"
#include "lb/lb.h"

#define SF_STATS_VERSION 1

/* Live sessions of a backend (queued, connecting or established), counted from the session
 * list: sessions that a reload left on a removed backend count for that one only. */
uint32_t sf_backend_active(const struct lb *lb, const struct lb_backend *be);

void sf_render_metrics(struct lb *lb, const struct sf_census *c, struct sf_strbuf *b);
void sf_render_stats(struct lb *lb, const struct sf_census *c, struct sf_strbuf *b);
void sf_render_sessions(struct lb *lb, struct sf_strbuf *b);

/* The admin request handler for a load balancer (ctx: struct sf_ctl). */
struct sf_ctl {
    struct lb *lb;
    struct sf_admin *admin;
};
int sf_ctl_handle(void *ctx, const struct sf_admin_req *r, struct sf_strbuf *body,
                  const char **ctype);

#endif
