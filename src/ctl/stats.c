/* /stats and /sessions (JSON), and the admin request routing. */
#include "ctl/render.h"
#include "lb/session.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void causes_obj(struct sf_strbuf *b, const uint64_t *causes)
{
    sf_sb_printf(b, "{");
    for (int c = 1; c < LB_CAUSE_N; c++)
        sf_sb_printf(b, "%s\"%s\":%llu", c > 1 ? "," : "", lb_cause_name(c),
                     (unsigned long long)causes[c]);
    sf_sb_printf(b, "}");
}

uint32_t ctl_backend_active(const struct lb *lb, const struct lb_backend *be)
{
    uint32_t n = 0;
    for (const struct lb_session *s = lb->sessions; s; s = s->next)
        n += s->be == be;
    return n;
}

void ctl_render_stats(struct lb *lb, const struct lb_census *c, struct sf_strbuf *b)
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
                 (unsigned long long)lb->tp->tw_removed, (unsigned long long)lb->tp->tw_left);
    if (lb->tp->tw_error)
        sf_sb_json_str(b, strerror(lb->tp->tw_error));
    else
        sf_sb_printf(b, "null");
    sf_sb_printf(b, "}");
    sf_sb_printf(b, ",\"sock_diag\":%s", c->diag_error ? "false" : "true");
    sf_sb_printf(b, ",\"sessions\":{\"active\":%u,\"total\":%llu}", lb->nsessions,
                 (unsigned long long)lb->sessions_total);
    sf_sb_printf(b, ",\"close_causes\":");
    causes_obj(b, lb->causes);
    sf_sb_printf(b, ",\"frontends\":[");
    for (size_t i = 0; i < lb->nfe; i++) {
        const struct lb_frontend *f = lb->fe[i];
        sf_sb_printf(b, "%s{\"name\":", i ? "," : "");
        sf_sb_json_str(b, f->conf.name);
        sf_sb_printf(b, ",\"listen\":");
        sf_sb_json_str(b, lb_addr_format(&f->conf.listen, a, sizeof a));
        sf_sb_printf(b, ",\"backend\":");
        sf_sb_json_str(b, f->backend->conf.name);
        sf_sb_printf(b,
                     ",\"active\":%u,\"maxconn\":%u,\"paused\":%s,\"total\":%llu,"
                     "\"bytes_in\":%llu,\"bytes_out\":%llu,\"close_causes\":",
                     f->active, f->conf.maxconn, f->paused ? "true" : "false",
                     (unsigned long long)f->sessions_total, (unsigned long long)f->bytes_in,
                     (unsigned long long)f->bytes_out);
        causes_obj(b, f->causes);
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
                     lb_balance_name(be->conf.balance), ctl_backend_active(lb, be), be->queued,
                     (unsigned long long)be->sessions_total,
                     (unsigned long long)be->no_server_total);
        for (size_t j = 0; j < be->nservers; j++) {
            const struct lb_server *s = be->servers[j];
            sf_sb_printf(b, "%s{\"name\":", j ? "," : "");
            sf_sb_json_str(b, s->name);
            sf_sb_printf(b, ",\"address\":");
            sf_sb_json_str(b, lb_addr_format(&s->addr, a, sizeof a));
            sf_sb_printf(b,
                         ",\"weight\":%u,\"maxconn\":%u,\"backup\":%s,\"up\":%s,"
                         "\"checked\":%s,\"ejected\":%s,\"active\":%u,\"total\":%llu,"
                         "\"connect_failures\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu,"
                         "\"last_check\":",
                         s->weight, s->maxconn, s->backup ? "true" : "false",
                         lb_server_usable(s, now) ? "true" : "false", s->health ? "true" : "false",
                         now < s->ejected_until ? "true" : "false", s->conns,
                         (unsigned long long)s->sessions_total,
                         (unsigned long long)s->connect_failures, (unsigned long long)s->bytes_in,
                         (unsigned long long)s->bytes_out);
            sf_sb_json_str(b, s->last_check);
            sf_sb_printf(b, "}");
        }
        sf_sb_printf(b, "]}");
    }
    sf_sb_printf(b, "]}\n");
}

/* One connection of a session: its TCP state and its age, since `since` (accept for the
 * client, the connect for the server). */
static void conn_obj(struct sf_strbuf *b, struct lb_conn *c, uint64_t since, uint64_t now)
{
    struct lb_conn_info in;
    char l[LB_ADDR_STRLEN], p[LB_ADDR_STRLEN];
    if (!c || lb_conn_info(c, &in) < 0) {
        sf_sb_printf(b, "null");
        return;
    }
    sf_sb_printf(b,
                 "{\"state\":\"%s\",\"age_ms\":%.3f,\"local\":\"%s\",\"peer\":\"%s\","
                 "\"unacked\":%u,\"rtt_us\":%u,\"cause\":",
                 sf_state_name(in.state), (double)(now - since) / 1e6,
                 lb_addr_format(&in.local, l, sizeof l), lb_addr_format(&in.peer, p, sizeof p),
                 in.unacked, in.rtt_us);
    if (in.cause)
        sf_sb_json_str(b, in.cause);
    else
        sf_sb_printf(b, "null");
    sf_sb_printf(b, "}");
}

void ctl_render_sessions(struct lb *lb, struct sf_strbuf *b)
{
    static const char *const states[] = {"queued", "connecting", "established"};
    uint64_t now = sf_loop_now(lb->loop);
    sf_sb_printf(b, "{\"version\":%d,\"sessions\":[", CTL_STATS_VERSION);
    int first = 1;
    for (const struct lb_session *s = lb->sessions; s; s = s->next) {
        char a[LB_ADDR_STRLEN];
        uint64_t last = s->last_c > s->last_s ? s->last_c : s->last_s;
        sf_sb_printf(b, "%s{\"id\":%llu,\"frontend\":", first ? "" : ",",
                     (unsigned long long)s->id);
        first = 0;
        sf_sb_json_str(b, s->fe->conf.name);
        sf_sb_printf(b, ",\"backend\":");
        sf_sb_json_str(b, s->be->conf.name);
        sf_sb_printf(b, ",\"server\":");
        if (s->srv)
            sf_sb_json_str(b, s->srv->name);
        else
            sf_sb_printf(b, "null");
        sf_sb_printf(b,
                     ",\"client_addr\":\"%s\",\"state\":\"%s\",\"age_ms\":%.3f,"
                     "\"idle_ms\":%.3f,\"bytes_up\":%llu,\"bytes_down\":%llu,"
                     "\"client_fin\":%s,\"server_fin\":%s,\"client\":",
                     lb_addr_format(&s->client, a, sizeof a), states[s->state],
                     (double)(now - s->t_start) / 1e6, (double)(now - last) / 1e6,
                     (unsigned long long)s->up.bytes, (unsigned long long)s->down.bytes,
                     s->up.eof ? "true" : "false", s->down.eof ? "true" : "false");
        conn_obj(b, s->cc, s->t_start, now);
        sf_sb_printf(b, ",\"server_conn\":");
        conn_obj(b, s->sc, s->t_connect, now);
        sf_sb_printf(b, "}");
    }
    sf_sb_printf(b, "]}\n");
}

/* POST /sessions/<id>/kill */
static int kill_route(struct lb *lb, const char *path, struct sf_strbuf *body)
{
    const char *p = path + strlen("/sessions/");
    char *end;
    unsigned long long id = strtoull(p, &end, 10);
    if (end == p || strcmp(end, "/kill") != 0)
        return 404;
    if (lb_kill_session(lb, id) < 0) {
        sf_sb_printf(body, "no session %llu\n", id);
        return 404;
    }
    sf_sb_printf(body, "killed session %llu\n", id);
    return 200;
}

int ctl_handle(void *ctx, const struct ctl_admin_req *r, struct sf_strbuf *body, const char **ctype)
{
    struct ctl *ctl = ctx;
    struct lb *lb = ctl->lb;
    int get = !strcmp(r->method, "GET");
    if (!strncmp(r->path, "/sessions/", 10)) {
        if (strcmp(r->method, "POST"))
            return 405;
        return kill_route(lb, r->path, body);
    }
    if (!strcmp(r->path, "/metrics") || !strcmp(r->path, "/stats") ||
        !strcmp(r->path, "/sessions") || !strcmp(r->path, "/")) {
        if (!get)
            return 405;
        if (!strcmp(r->path, "/")) {
            sf_sb_printf(body, "synfin admin: /metrics /stats /sessions "
                               "POST /sessions/ID/kill\n");
            return 200;
        }
        if (!strcmp(r->path, "/sessions")) {
            *ctype = "application/json";
            ctl_render_sessions(lb, body);
            return 200;
        }
        struct lb_census c;
        lb_census_take(lb, &c);
        if (ctl->admin)
            ctl_admin_census(ctl->admin, &c);
        if (!strcmp(r->path, "/metrics")) {
            *ctype = "text/plain; version=0.0.4; charset=utf-8";
            ctl_render_metrics(lb, &c, body);
        } else {
            *ctype = "application/json";
            ctl_render_stats(lb, &c, body);
        }
        return 200;
    }
    return 404;
}
