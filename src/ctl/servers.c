/* The runtime API's server routes (docs/lb.md, "Runtime API"):
 *   GET  /servers[?format=text]          every server: state, weight, health, sessions
 *   POST /servers/BACKEND/SERVER/drain   no new sessions, its sessions go on
 *   POST /servers/BACKEND/SERVER/maint   no new sessions, its sessions are closed
 *   POST /servers/BACKEND/SERVER/ready   back in
 *   POST /servers/BACKEND/SERVER/weight/N */
#include "ctl/render.h"

#include <stdlib.h>
#include <string.h>

static void list(struct lb *lb, struct sf_strbuf *b)
{
    char a[LB_ADDR_STRLEN];
    uint64_t now = sf_loop_now(lb->loop);
    sf_sb_printf(b, "{\"servers\":[");
    int first = 1;
    for (size_t i = 0; i < lb->nbe; i++) {
        const struct lb_backend *be = lb->be[i];
        for (size_t j = 0; j < be->nservers; j++) {
            const struct lb_server *s = be->servers[j];
            sf_sb_printf(b, "%s{\"backend\":", first ? "" : ",");
            first = 0;
            sf_sb_json_str(b, be->conf.name);
            sf_sb_printf(b, ",\"server\":");
            sf_sb_json_str(b, s->name);
            sf_sb_printf(b, ",\"address\":");
            sf_sb_json_str(b, lb_addr_format(&s->addr, a, sizeof a));
            sf_sb_printf(b,
                         ",\"state\":\"%s\",\"health\":\"%s\",\"weight\":%u,"
                         "\"config_weight\":%u,\"backup\":%s,\"active\":%u,\"total\":%llu}",
                         lb_srv_admin_name(s->admin_state), lb_server_health(s, now), s->weight,
                         s->weight_conf, s->backup ? "true" : "false", lb_server_load(s),
                         (unsigned long long)lb_server_sessions_all(s));
        }
    }
    sf_sb_printf(b, "]}\n");
}

/* ?format=text: a table for people (synfin-ctl servers). */
static void table(struct lb *lb, struct sf_strbuf *b)
{
    char a[LB_ADDR_STRLEN], name[2 * LB_NAME_MAX + 2];
    uint64_t now = sf_loop_now(lb->loop);
    int wn = 6, wa = 7;
    for (size_t i = 0; i < lb->nbe; i++)
        for (size_t j = 0; j < lb->be[i]->nservers; j++) {
            const struct lb_server *s = lb->be[i]->servers[j];
            int n = snprintf(name, sizeof name, "%s/%s", lb->be[i]->conf.name, s->name);
            int m = (int)strlen(lb_addr_format(&s->addr, a, sizeof a));
            wn = n > wn ? n : wn;
            wa = m > wa ? m : wa;
        }
    sf_sb_printf(b, "%-*s  %-*s  %-5s  %-7s  %6s  %6s  %10s\n", wn, "SERVER", wa, "ADDRESS",
                 "STATE", "HEALTH", "WEIGHT", "ACTIVE", "TOTAL");
    for (size_t i = 0; i < lb->nbe; i++)
        for (size_t j = 0; j < lb->be[i]->nservers; j++) {
            const struct lb_server *s = lb->be[i]->servers[j];
            snprintf(name, sizeof name, "%s/%s", lb->be[i]->conf.name, s->name);
            sf_sb_printf(b, "%-*s  %-*s  %-5s  %-7s  %6u  %6u  %10llu%s\n", wn, name, wa,
                         lb_addr_format(&s->addr, a, sizeof a), lb_srv_admin_name(s->admin_state),
                         lb_server_health(s, now), s->weight, lb_server_load(s),
                         (unsigned long long)lb_server_sessions_all(s),
                         s->backup ? "  backup" : "");
        }
}

/* The next path segment of *p (up to '/' or the end) into out: 0, or -1 if empty or too
 * long. */
static int segment(const char **p, char *out, size_t outlen)
{
    const char *e = strchr(*p, '/');
    size_t n = e ? (size_t)(e - *p) : strlen(*p);
    if (n == 0 || n >= outlen)
        return -1;
    memcpy(out, *p, n);
    out[n] = 0;
    *p += n + (e ? 1 : 0);
    return 0;
}

static int change(struct lb *lb, const struct ctl_admin_req *r, struct sf_strbuf *body)
{
    char bn[LB_NAME_MAX], sn[LB_NAME_MAX], verb[16], num[16];
    const char *p = r->path + strlen("/servers/");
    if (segment(&p, bn, sizeof bn) < 0 || segment(&p, sn, sizeof sn) < 0 ||
        segment(&p, verb, sizeof verb) < 0) {
        sf_sb_printf(body, "expected /servers/BACKEND/SERVER/(drain|maint|ready|weight/N)\n");
        return 404;
    }
    struct lb_server *s = lb_server_find(lb, bn, sn);
    if (!s) {
        sf_sb_printf(body, "no server %s/%s\n", bn, sn);
        return 404;
    }
    if (!strcmp(verb, "weight")) {
        char *end;
        if (segment(&p, num, sizeof num) < 0 || *p) {
            sf_sb_printf(body, "expected /servers/%s/%s/weight/N\n", bn, sn);
            return 404;
        }
        unsigned long w = strtoul(num, &end, 10);
        if (*end || num[0] < '0' || num[0] > '9' || w > 1000) {
            sf_sb_printf(body, "weight '%s': expected 0 to 1000\n", num);
            return 400;
        }
        uint32_t old = lb_server_set_weight(lb, s, (uint32_t)w, r->who);
        sf_sb_printf(body, "%s/%s weight %u -> %lu\n", bn, sn, old, w);
        return 200;
    }
    int state = lb_srv_admin_parse(verb);
    if (state < 0 || *p) {
        sf_sb_printf(body, "unknown action '%s' (drain, maint, ready, weight/N)\n", verb);
        return 404;
    }
    int old = lb_server_set_state(lb, s, state, r->who);
    sf_sb_printf(body, "%s/%s %s -> %s\n", bn, sn, lb_srv_admin_name(old),
                 lb_srv_admin_name(state));
    return 200;
}

int ctl_servers_route(struct lb *lb, const struct ctl_admin_req *r, struct ctl_admin_resp *resp)
{
    if (!strcmp(r->path, "/servers")) {
        if (strcmp(r->method, "GET"))
            return 405;
        if (!strcmp(r->query, "format=text")) {
            table(lb, &resp->body);
            return 200;
        }
        list(lb, &resp->body);
        resp->ctype = "application/json";
        return 200;
    }
    if (strcmp(r->method, "POST"))
        return 405;
    return change(lb, r, &resp->body);
}
