/* What the admin endpoints say about a running load balancer: /metrics (Prometheus text
 * format 0.0.4), /stats and /sessions (JSON; schema in docs/lb.md).
 *
 * Nothing here walks the sessions to answer /metrics or /stats: the counters are kept by the
 * balancer as events happen, and the TCP state census (which the kernel cannot keep by
 * events) is taken in slices in the background and served with its age. /sessions is paged
 * and made in slices. */
#ifndef SYNFIN_CTL_RENDER_H
#define SYNFIN_CTL_RENDER_H

#include "ctl/admin.h"
#include "util/strbuf.h"
#include "lb/lb.h"

#define CTL_STATS_VERSION 1

/* /sessions pages: at most this many sessions unless ?limit= says otherwise, and never more
 * than the maximum. */
#define CTL_SESSIONS_LIMIT     1000
#define CTL_SESSIONS_LIMIT_MAX 10000

/* The census driver (census.c): one census at a time, each started at most once per period
 * and only while scrapes come (wanted_until), taken a slice per loop iteration. */
struct ctl_census {
    struct lb_census work, last; /* in progress; the last complete one */
    int running, have_last;
    uint64_t started_ns, done_ns, wanted_until;
    struct sf_hook hook;
    struct sf_loop_timer timer; /* the next census, or a nudge while one runs */
    int work_id;                /* the loop's account of census work (sf_loop_work_add) */
};

/* The admin request handler for a load balancer (ctx: struct ctl). */
struct ctl {
    struct lb *lb;
    struct ctl_admin *admin;
    struct ctl_census census;
};
/* Before the first request; ctl_fini before lb_free (and after ctl_admin_free). */
void ctl_init(struct ctl *ctl, struct lb *lb);
void ctl_fini(struct ctl *ctl);
int ctl_handle(void *ctx, const struct ctl_admin_req *r, struct ctl_admin_resp *resp);

/* The last complete census if it is fresh enough to serve (and its age in *age_ns); NULL
 * while a fresher one is being taken: ctl->admin is woken when it completes. Each call
 * keeps the background census going for a while. */
const struct lb_census *ctl_census_get(struct ctl *ctl, uint64_t *age_ns);

void ctl_render_metrics(struct lb *lb, const struct lb_census *c, uint64_t age_ns,
                        struct sf_strbuf *b);
/* The families of `mode http` (metrics_http.c); nothing when no frontend is in http mode. */
void ctl_render_metrics_http(struct lb *lb, struct sf_strbuf *b);
/* process_* as Prometheus client libraries name them, from /proc/self (metrics_process.c). */
void ctl_render_metrics_process(struct sf_strbuf *b);
/* With threads: each thread's sessions and CPU time (metrics_threads.c); nothing with one. */
void ctl_render_metrics_threads(struct lb *lb, struct sf_strbuf *b);
/* Live and accepted sessions of the process: every thread's. */
uint32_t ctl_sessions_active(const struct lb *lb);
/* /loop with threads: ,"threads":[each thread's iterations, busy time, longest, slow]. */
void ctl_render_loop_threads(const struct lb *lb, struct sf_strbuf *b);
uint64_t ctl_sessions_total(const struct lb *lb);
/* With threads: ,"threads":[{...}] for /stats; nothing with one. */
void ctl_render_stats_threads(struct lb *lb, struct sf_strbuf *b);
/* The admin thread's loop iterations (loop.c): synfin_loop_* for /metrics, GET /loop. */
void ctl_render_metrics_loop(struct lb *lb, struct sf_strbuf *b);
void ctl_render_loop(struct lb *lb, struct sf_strbuf *b);
/* The backends' connect time and session duration histograms (metrics_histo.c). */
void ctl_render_metrics_histograms(struct lb *lb, struct sf_strbuf *b);
void ctl_render_stats(struct lb *lb, const struct lb_census *c, uint64_t age_ns,
                      struct sf_strbuf *b);
/* GET /servers and POST /servers/... (servers.c): returns the status. */
int ctl_servers_route(struct lb *lb, const struct ctl_admin_req *r, struct ctl_admin_resp *resp);
/* The body of GET /sessions?QUERY, or 400 with the reason in err. */
int ctl_sessions_body(struct lb *lb, const char *query, struct ctl_body **out,
                      struct sf_strbuf *err);

/* GET /sessions/REST: REST "ended" lists the sessions that ended last; an id gives that
 * session (live, or among them) with its timeline. Returns the status; body filled. */
int ctl_session_detail(struct lb *lb, const char *rest, struct sf_strbuf *b);
/* GET /states: the census by state and the transitions by arrow and cause (states.c). */
void ctl_render_states(struct lb *lb, const struct lb_census *c, uint64_t age_ns,
                       struct sf_strbuf *b);
/* GET / and the dashboard's files (dashboard.c): 200 with the file, or 404. */
int ctl_dashboard_file(const char *path, struct ctl_admin_resp *resp);
/* GET /host: the host's sockets through sock_diag, by state and by peer, and the advisor's
 * findings (host.c), made in slices; 503 when out of memory. */
int ctl_host_body(struct ctl_body **out);

#endif
