/* /stats (JSON) and the admin request routing. */
#include "ctl/render.h"
#include "ctl/sessions.h"
#include "ctl/sum.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Close causes of the process (fe < 0) or of frontend fe, every thread's. */
static void causes_obj(struct sf_strbuf *b, const struct lb *lb, long fe)
{
    sf_sb_printf(b, "{");
    for (int c = 1; c < LB_CAUSE_N; c++)
        sf_sb_printf(b, "%s\"%s\":%llu", c > 1 ? "," : "", lb_cause_name(c),
                     (unsigned long long)(fe < 0 ? CTL_LB(lb, causes[c])
                                                 : CTL_FE(lb, (size_t)fe, causes[c])));
    sf_sb_printf(b, "}");
}

void ctl_render_stats(struct lb *lb, const struct lb_census *c, uint64_t age_ns,
                      struct sf_strbuf *b)
{
    char a[LB_ADDR_STRLEN];
    uint64_t now = sf_loop_now(lb->loop);
    sf_sb_printf(b, "{\"version\":%d,\"transport\":", CTL_STATS_VERSION);
    sf_sb_json_str(b, lb->tp->ops->name);
    sf_sb_printf(b, ",\"pid\":%d,\"uptime_s\":%.3f,\"reloads\":%llu,\"reload_failures\":%llu",
                 (int)getpid(), (double)(now - lb->started_ns) / 1e9,
                 (unsigned long long)lb->reloads, (unsigned long long)lb->reload_failures);
    sf_sb_printf(b, ",\"draining\":%s", lb->draining ? "true" : "false");
    sf_sb_printf(b, ",\"tcp_states\":{");
    for (int s = 0; s < SF_STATE_COUNT; s++)
        sf_sb_printf(b, "%s\"%s\":%llu", s ? "," : "", sf_state_name(s),
                     (unsigned long long)c->states[s]);
    sf_sb_printf(b, "},\"time_wait\":{\"frontend\":%llu,\"backend\":%llu,\"respond\":%llu}",
                 (unsigned long long)c->tw_frontend, (unsigned long long)c->tw_backend,
                 (unsigned long long)c->tw_respond);
    sf_sb_printf(b, ",\"time_wait_removed\":{\"removed\":%llu,\"left\":%llu,\"error\":",
                 (unsigned long long)CTL_TP(lb, tw_removed),
                 (unsigned long long)CTL_TP(lb, tw_left));
    if (lb->tp->tw_error)
        sf_sb_json_str(b, strerror(lb->tp->tw_error));
    else
        sf_sb_printf(b, "null");
    sf_sb_printf(b, "}");
    sf_sb_printf(b, ",\"sock_diag\":%s,\"census_age_s\":%.3f", c->diag_error ? "false" : "true",
                 (double)age_ns / 1e9);
    sf_sb_printf(b, ",\"sessions\":{\"active\":%u,\"total\":%llu}", ctl_sessions_active(lb),
                 (unsigned long long)ctl_sessions_total(lb));
    ctl_render_stats_threads(lb, b);
    sf_sb_printf(
        b, ",\"connections\":{\"open\":%llu,\"limit\":", (unsigned long long)CTL_TP(lb, conn_open));
    if (lb->tp->conn_limit == UINT64_MAX)
        sf_sb_printf(b, "null,\"fd_exhausted\":%s}", lb->fd_short ? "true" : "false");
    else
        sf_sb_printf(b, "%llu,\"fd_exhausted\":%s}", (unsigned long long)CTL_TP(lb, conn_limit),
                     lb->fd_short ? "true" : "false");
    sf_sb_printf(b, ",\"close_causes\":");
    causes_obj(b, lb, -1);
    sf_sb_printf(b, ",\"frontends\":[");
    for (size_t i = 0; i < lb->nfe; i++) {
        const struct lb_frontend *f = lb->fe[i];
        sf_sb_printf(b, "%s{\"name\":", i ? "," : "");
        sf_sb_json_str(b, f->conf.name);
        /* "listen" is the first address (as before several could be written); "listeners"
         * has each, with the sessions it accepted. */
        sf_sb_printf(b, ",\"listen\":");
        sf_sb_json_str(b, lb_addr_format(&f->conf.listen[0], a, sizeof a));
        sf_sb_printf(b, ",\"listeners\":[");
        for (uint32_t k = 0; k < f->conf.nlisten; k++) {
            sf_sb_printf(b, "%s{\"addr\":", k ? "," : "");
            sf_sb_json_str(b, lb_addr_format(&f->conf.listen[k], a, sizeof a));
            sf_sb_printf(b, ",\"open\":%s,\"sessions\":%llu}", f->listener[k] ? "true" : "false",
                         (unsigned long long)CTL_FE(lb, i, listen_sessions[k]));
        }
        sf_sb_printf(b, "]");
        sf_sb_printf(b, ",\"backend\":");
        sf_sb_json_str(b, f->backend->conf.name);
        sf_sb_printf(b,
                     ",\"active\":%u,\"maxconn\":%u,\"paused\":%s,\"fd_paused\":%s,"
                     "\"fd_pauses\":%llu,\"loops\":%llu,\"proxy_untrusted\":%llu,\"total\":%llu,"
                     "\"bytes_in\":%llu,\"bytes_out\":%llu,\"close_causes\":",
                     lb_frontend_active_all(f), f->conf.maxconn,
                     CTL_FE_ANY(lb, i, paused) ? "true" : "false",
                     CTL_FE_ANY(lb, i, fd_paused) ? "true" : "false",
                     (unsigned long long)CTL_FE(lb, i, fd_pauses),
                     (unsigned long long)CTL_FE(lb, i, loops),
                     (unsigned long long)CTL_FE(lb, i, proxy_untrusted),
                     (unsigned long long)lb_frontend_sessions_all(f),
                     (unsigned long long)CTL_FE(lb, i, bytes_in),
                     (unsigned long long)CTL_FE(lb, i, bytes_out));
        causes_obj(b, lb, (long)i);
        sf_sb_printf(b, "}");
    }
    sf_sb_printf(b, "],\"backends\":[");
    for (size_t i = 0; i < lb->nbe; i++) {
        const struct lb_backend *be = lb->be[i];
        sf_sb_printf(b, "%s{\"name\":", i ? "," : "");
        sf_sb_json_str(b, be->conf.name);
        sf_sb_printf(b,
                     ",\"balance\":\"%s\",\"active\":%u,\"queued\":%u,\"total\":%llu,"
                     "\"no_server\":%llu,\"servers\":[",
                     lb_balance_name(be->conf.balance), (unsigned)CTL_BE(lb, i, active),
                     (unsigned)CTL_BE(lb, i, queued),
                     (unsigned long long)CTL_BE(lb, i, sessions_total),
                     (unsigned long long)CTL_BE(lb, i, no_server_total));
        for (size_t j = 0; j < be->nservers; j++) {
            const struct lb_server *s = be->servers[j];
            sf_sb_printf(b, "%s{\"name\":", j ? "," : "");
            sf_sb_json_str(b, s->name);
            sf_sb_printf(b, ",\"address\":");
            sf_sb_json_str(b, lb_addr_format(&s->addr, a, sizeof a));
            sf_sb_printf(b,
                         ",\"state\":\"%s\",\"config_weight\":%u"
                         ",\"weight\":%u,\"maxconn\":%u,\"backup\":%s,\"up\":%s,"
                         "\"checked\":%s,\"ejected\":%s,\"active\":%u,\"total\":%llu,"
                         "\"connect_failures\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu,"
                         "\"last_check\":",
                         lb_srv_admin_name(s->admin_state), s->weight_conf, s->weight, s->maxconn,
                         s->backup ? "true" : "false", lb_server_usable(s, now) ? "true" : "false",
                         s->health ? "true" : "false", now < s->ejected_until ? "true" : "false",
                         lb_server_load(s), (unsigned long long)lb_server_sessions_all(s),
                         (unsigned long long)CTL_SRV(lb, i, j, connect_failures),
                         (unsigned long long)CTL_SRV(lb, i, j, bytes_in),
                         (unsigned long long)CTL_SRV(lb, i, j, bytes_out));
            sf_sb_json_str(b, s->last_check);
            sf_sb_printf(b, "}");
        }
        sf_sb_printf(b, "]}");
    }
    sf_sb_printf(b, "]}\n");
}

/* The thread that owns session id, when it is another than this one's (lb.h, id >> 40). */
static int other_thread(const struct lb *lb, unsigned long long id, uint32_t *t)
{
    unsigned long long k = id >> LB_THREAD_ID_SHIFT;
    if (!lb->shared || k == lb->thread || k >= lb->shared->nthreads)
        return 0;
    *t = (uint32_t)k;
    return 1;
}

/* POST /sessions/<id>/kill: done by the thread that owns the session. */
static int kill_route(struct lb *lb, const char *path, struct ctl_admin_resp *resp)
{
    struct sf_strbuf *body = &resp->body;
    const char *p = path + strlen("/sessions/");
    char *end;
    uint32_t t;
    unsigned long long id = strtoull(p, &end, 10);
    if (end == p || strcmp(end, "/kill") != 0)
        return 404;
    if (other_thread(lb, id, &t))
        return ctl_remote_kill(lb, t, id, &resp->stream);
    if (lb_kill_session(lb, id) < 0) {
        sf_sb_printf(body, "no session %llu\n", id);
        return 404;
    }
    sf_sb_printf(body, "killed session %llu\n", id);
    return 200;
}

/* /metrics, /stats and /states: rendered at once (O(frontends + backends + servers), and
 * the arrows' counters) once a census fresh enough is there; until then the body waits. */
enum { REPORT_STATS, REPORT_METRICS, REPORT_STATES };
struct report {
    struct ctl_body base;
    struct ctl *ctl;
    int kind;
};

static int report_fill(struct ctl_body *bd, struct sf_strbuf *out, unsigned *budget)
{
    struct report *r = (struct report *)bd;
    uint64_t age;
    const struct lb_census *c = ctl_census_get(r->ctl, &age);
    if (!c)
        return CTL_BODY_WAIT;
    if (r->kind == REPORT_METRICS) {
        ctl_render_metrics(r->ctl->lb, c, age, out);
        if (r->ctl->admin) {
            uint64_t peer, token;
            ctl_admin_refused(r->ctl->admin, &peer, &token);
            sf_sb_printf(out,
                         "# HELP synfin_admin_refused_total Admin requests refused, by reason: "
                         "a peer not allowed (403), a missing or wrong token (401).\n"
                         "# TYPE synfin_admin_refused_total counter\n"
                         "synfin_admin_refused_total{reason=\"peer\"} %llu\n"
                         "synfin_admin_refused_total{reason=\"token\"} %llu\n",
                         (unsigned long long)peer, (unsigned long long)token);
        }
    } else if (r->kind == REPORT_STATES)
        ctl_render_states(r->ctl->lb, c, age, out);
    else
        ctl_render_stats(r->ctl->lb, c, age, out);
    *budget = *budget > 16 ? *budget - 16 : 0; /* formatting, no system call */
    return CTL_BODY_DONE;
}

static void report_free(struct ctl_body *bd)
{
    free(bd);
}

/* GET /sessions/ID, /sessions/ended; POST /sessions/ID/kill */
static int session_route(struct lb *lb, const struct ctl_admin_req *r, struct ctl_admin_resp *resp)
{
    if (!strcmp(r->method, "POST"))
        return kill_route(lb, r->path, resp);
    if (strcmp(r->method, "GET"))
        return 405;
    const char *rest = r->path + strlen("/sessions/");
    uint32_t t;
    if (lb->shared && !strcmp(rest, "ended"))
        return ctl_remote_ended(lb, &resp->stream); /* every thread's ring */
    if (other_thread(lb, strtoull(rest, NULL, 10), &t))
        return ctl_remote_detail(lb, t, rest, &resp->stream);
    int status = ctl_session_detail(lb, rest, &resp->body);
    if (status == 200)
        resp->ctype = "application/json";
    return status;
}

int ctl_handle(void *ctx, const struct ctl_admin_req *r, struct ctl_admin_resp *resp)
{
    struct ctl *ctl = ctx;
    struct lb *lb = ctl->lb;
    int get = !strcmp(r->method, "GET");
    if (!strncmp(r->path, "/sessions/", 10))
        return session_route(lb, r, resp);
    if (!strcmp(r->path, "/servers") || !strncmp(r->path, "/servers/", 9))
        return ctl_servers_route(lb, r, resp);
    if (!strcmp(r->path, "/loop")) {
        if (!get)
            return 405;
        ctl_render_loop(lb, &resp->body);
        resp->ctype = "application/json";
        return 200;
    }
    int kind = !strcmp(r->path, "/metrics")  ? REPORT_METRICS
               : !strcmp(r->path, "/states") ? REPORT_STATES
               : !strcmp(r->path, "/stats")  ? REPORT_STATS
                                             : -1;
    int status = 0;
    if (kind < 0 && strcmp(r->path, "/sessions") && strcmp(r->path, "/host")) {
        if (!get)
            return strcmp(r->path, "/") ? 404 : 405;
        return ctl_dashboard_file(r->path, resp);
    }
    if (!get)
        return 405;
    if (!strcmp(r->path, "/host")) {
        status = ctl_host_body(&resp->stream);
        resp->ctype = "application/json";
        return status;
    }
    if (!strcmp(r->path, "/sessions")) {
        status = ctl_sessions_body(lb, r->query, &resp->stream, &resp->body);
        if (resp->stream)
            resp->ctype = "application/json";
        return status;
    }
    struct report *rep = calloc(1, sizeof *rep);
    if (!rep)
        return 503;
    rep->base.fill = report_fill;
    rep->base.free = report_free;
    rep->ctl = ctl;
    rep->kind = kind;
    resp->stream = &rep->base;
    resp->ctype =
        kind == REPORT_METRICS ? "text/plain; version=0.0.4; charset=utf-8" : "application/json";
    return 200;
}
