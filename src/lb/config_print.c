/* The configuration printed back in its own language (synfin -T, and the config fuzz harness:
 * whatever parses must print to text that parses to the same configuration).
 *
 * Everything is written out, defaults included, so the text says what is in force. Profiles
 * referenced by name are resolved at parse time; a frontend or backend therefore prints its
 * effective settings inline, and only the directives its side reads (docs/config.md,
 * "Profiles"): the others would be rejected there, and nothing reads them. */
#include "lb/config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Every directive line starts with ind: "" at the top, four spaces per block level. */
#define IN1 "    "
#define IN2 "        "

static void put_duration(FILE *out, const char *ind, const char *name, uint64_t ms)
{
    static const struct {
        uint64_t ms;
        const char *unit;
    } units[] = {{3600000, "h"}, {60000, "m"}, {1000, "s"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (ms % units[i].ms == 0 && (ms || units[i].ms == 1000)) {
            fprintf(out, "%s%s %" PRIu64 "%s;\n", ind, name, ms / units[i].ms, units[i].unit);
            return;
        }
    fprintf(out, "%s%s %" PRIu64 "ms;\n", ind, name, ms);
}

static void put_size(FILE *out, const char *name, uint32_t bytes)
{
    if (bytes && bytes % (1u << 20) == 0)
        fprintf(out, IN1 "%s %um;\n", name, bytes >> 20);
    else if (bytes && bytes % 1024 == 0)
        fprintf(out, IN1 "%s %uk;\n", name, bytes >> 10);
    else
        fprintf(out, IN1 "%s %u;\n", name, bytes);
}

static void put_bool(FILE *out, const char *name, int v)
{
    fprintf(out, IN1 "%s %s;\n", name, v ? "on" : "off");
}

/* A double-quoted string: the escapes the parser undoes, every other byte as it is. */
static void put_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        switch (*s) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default: fputc(*s, out); break;
        }
    }
    fputc('"', out);
}

static void put_source(FILE *out, const struct lb_source *s)
{
    char host[LB_ADDR_STRLEN];
    lb_addr_host(&s->addr, host, sizeof host);
    int v6 = s->addr.u.sa.sa_family == AF_INET6;
    fprintf(out, " %s%s%s", v6 ? "[" : "", host, v6 ? "]" : "");
    if (s->port_lo)
        fprintf(out, ":%u-%u", s->port_lo, s->port_hi);
}

enum { SIDE_CLIENT = 1, SIDE_SERVER = 2, SIDE_BOTH = 3 };

/* http: the profile of an http frontend (or a named profile, which may serve one). */
static void put_profile(FILE *out, const struct lb_config *c, const struct lb_profile *p, int side,
                        int http)
{
    int stack = c->transport.kind == LB_TRANSPORT_STACK;
    if (side & SIDE_SERVER) {
        put_duration(out, IN1, "connect_timeout", p->connect_timeout_ms);
        put_duration(out, IN1, "server_fin_timeout", p->server_fin_timeout_ms);
        fprintf(out, IN1 "server_close %s;\n", p->server_close == LB_CLOSE_RST ? "rst" : "fin");
        if (stack) /* synfin's own TCP's: an error on the kernel transport */
            put_bool(out, "fast_open", p->fast_open);
        if (p->nsources) {
            fputs(IN1 "source", out);
            for (uint32_t i = 0; i < p->nsources; i++)
                put_source(out, &p->sources[i]);
            fputs(";\n", out);
        }
    }
    if (side & SIDE_CLIENT) {
        put_duration(out, IN1, "client_fin_timeout", p->client_fin_timeout_ms);
        if (!stack) /* a kernel listener option: an error on the stack */
            put_bool(out, "defer_accept", p->defer_accept);
        if (http) /* an error in a tcp frontend */
            fprintf(out, IN1 "client_close_first %s;\n",
                    p->client_close_first == LB_FIRST_CLIENT ? "client" : "synfin");
    }
    put_duration(out, IN1, "idle_timeout", p->idle_timeout_ms);
    put_bool(out, "keepalive", p->keepalive);
    put_duration(out, IN1, "keepalive_idle", p->keepalive_idle_ms);
    put_duration(out, IN1, "keepalive_interval", p->keepalive_interval_ms);
    fprintf(out, IN1 "keepalive_count %u;\n", p->keepalive_count);
    put_duration(out, IN1, "user_timeout", p->user_timeout_ms);
    put_bool(out, "nodelay", p->nodelay);
    put_bool(out, "reset_on_timeout", p->reset_on_timeout);
    put_size(out, "buffer_size", p->buffer_size);
    if (stack)
        lb_stack_print(&p->tcp, IN1, out);
}

static void put_check(FILE *out, const struct lb_check_conf *k)
{
    static const char *const types[] = {"none", "tcp", "http"};
    fprintf(out, IN1 "check {\n" IN2 "type %s;\n" IN2 "uri ", types[k->type % 3]);
    put_string(out, k->uri);
    fputs(";\n", out);
    if (k->host[0]) {
        fputs(IN2 "host ", out);
        put_string(out, k->host);
        fputs(";\n", out);
    }
    fprintf(out, IN2 "expect %d;\n", k->expect);
    put_duration(out, IN2, "interval", k->interval_ms);
    put_duration(out, IN2, "timeout", k->timeout_ms);
    fprintf(out, IN2 "rise %u;\n" IN2 "fall %u;\n" IN1 "}\n", k->rise, k->fall);
}

static void put_backend(FILE *out, const struct lb_config *c, const struct lb_backend_conf *b)
{
    char a[LB_ADDR_STRLEN];
    fprintf(out, "\nbackend %s {\n    balance %s;\n", b->name, lb_balance_name(b->balance));
    fprintf(out, IN1 "maglev_table_size %u;\n" IN1 "retries %u;\n", b->maglev_size, b->retries);
    put_duration(out, IN1, "queue_timeout", b->queue_timeout_ms);
    fprintf(out, IN1 "max_fails %u;\n", b->max_fails);
    put_duration(out, IN1, "fail_timeout", b->fail_timeout_ms);
    put_check(out, &b->check);
    if (b->mode != LB_MODE_ANY)
        fprintf(out, IN1 "mode %s;\n", b->mode == LB_MODE_HTTP ? "http" : "tcp");
    if (b->mode != LB_MODE_TCP) {
        fprintf(out, IN1 "http_reuse %s;\n" IN1 "pool_max_idle %u;\n", lb_reuse_name(b->http.reuse),
                b->http.pool_max_idle);
        put_duration(out, IN1, "pool_idle_timeout", b->http.pool_idle_timeout_ms);
        fprintf(out, IN1 "pool_max_requests %u;\n", b->http.pool_max_requests);
    }
    static const char *const proxies[] = {"off", "v1", "v2"};
    fprintf(out, IN1 "send_proxy %s;\n", proxies[b->send_proxy % 3]);
    put_profile(out, c, &b->profile, SIDE_SERVER, 0);
    for (size_t i = 0; i < b->nservers; i++) {
        const struct lb_server_conf *s = &b->servers[i];
        fprintf(out, IN1 "server %s %s weight %u maxconn %u send_proxy %s%s;\n", s->name,
                lb_addr_format(&s->addr, a, sizeof a), s->weight, s->maxconn,
                proxies[s->send_proxy % 3], s->backup ? " backup" : "");
    }
    fputs("}\n", out);
}

static void put_frontend(FILE *out, const struct lb_config *c, const struct lb_frontend_conf *f)
{
    char a[LB_ADDR_STRLEN];
    fprintf(out, "\nfrontend %s {\n", f->name);
    for (uint32_t i = 0; i < f->nlisten; i++)
        fprintf(out, IN1 "listen %s;\n", lb_addr_format(&f->listen[i], a, sizeof a));
    fprintf(out, IN1 "backlog %d;\n", f->backlog);
    if (c->transport.kind != LB_TRANSPORT_STACK)
        put_bool(out, "reuseport", f->reuseport);
    fprintf(out, IN1 "maxconn %u;\n" IN1 "backend %s;\n", f->maxconn, c->backends[f->backend].name);
    if (f->naccept_proxy) {
        fputs(IN1 "accept_proxy from", out);
        for (size_t i = 0; i < f->naccept_proxy; i++)
            fprintf(out, " %s", lb_cidr_format(&f->accept_proxy[i], a, sizeof a));
        fputs(";\n", out);
        put_duration(out, IN1, "accept_proxy_timeout", f->accept_proxy_timeout_ms);
    }
    int http = f->mode == LB_MODE_HTTP;
    fprintf(out, IN1 "mode %s;\n", http ? "http" : "tcp");
    if (http) {
        const struct lb_http_fe_conf *h = &f->http;
        put_duration(out, IN1, "keepalive_timeout", h->keepalive_timeout_ms);
        fprintf(out, IN1 "keepalive_requests %u;\n", h->keepalive_requests);
        put_size(out, "max_header_size", h->max_header_size);
        put_bool(out, "forwarded_for", h->forwarded_for);
        put_bool(out, "forwarded_proto", h->forwarded_proto);
        put_bool(out, "forwarded", h->forwarded);
        put_bool(out, "via", h->via);
    }
    put_profile(out, c, &f->profile, SIDE_CLIENT, http);
    fputs("}\n", out);
}

static void put_admin(FILE *out, const struct lb_config *c)
{
    char a[LB_ADDR_STRLEN];
    fprintf(out, "admin %s", lb_addr_format(&c->admin, a, sizeof a));
    if (!c->admin_token[0] && !c->nadmin_allow) {
        fputs(";\n", out);
        return;
    }
    fputs(" {\n", out);
    if (c->admin_token[0]) {
        fputs(IN1 "token ", out);
        put_string(out, c->admin_token);
        fputs(";\n", out);
    }
    if (c->nadmin_allow) {
        fputs(IN1 "allow", out);
        for (size_t i = 0; i < c->nadmin_allow; i++)
            fprintf(out, " %s", lb_cidr_format(&c->admin_allow[i], a, sizeof a));
        fputs(";\n", out);
    }
    fputs("}\n", out);
}

void lb_conf_print_log(const struct lb_config *c, FILE *out)
{
    static const char *const logs[] = {"stderr", "stdout", "off"};
    fputs("log ", out);
    if (c->log_target == LB_LOG_FILE) {
        put_string(out, c->log_path);
    } else if (c->log_target == LB_LOG_SYSLOG) {
        char a[LB_ADDR_STRLEN];
        fprintf(out, "syslog %s ", lb_syslog_facility_name(c->log_facility));
        if (c->log_udp)
            fputs(lb_addr_format(&c->log_addr, a, sizeof a), out);
        else
            put_string(out, c->log_path);
        fprintf(out, " rfc%d", c->log_rfc);
    } else {
        fputs(logs[c->log_target % 3], out);
    }
    fprintf(out, ";\nlog_format %s;\n", c->log_format == LB_LOG_JSON ? "json" : "kv");
}

int lb_config_print(const struct lb_config *c, FILE *out)
{
    char a[LB_ADDR_STRLEN];
    lb_transport_print(&c->transport, out);
    if (c->has_admin)
        put_admin(out, c);
    lb_conf_print_log(c, out);
    put_duration(out, "", "drain_timeout", c->drain_timeout_ms);
    if (c->threads != 1)
        fprintf(out, "threads %u;\n", c->threads);
    for (size_t i = 0; i < c->ncpu_map; i++)
        fprintf(out, "cpu_map %s %s;\n", c->cpu_map[i].threads_text, c->cpu_map[i].cpus_text);
    if (c->announce.enabled) {
        fprintf(out, "announce {\n" IN1 "table %u;\n", c->announce.table);
        put_duration(out, IN1, "withdraw_delay", c->announce.withdraw_delay_ms);
        fprintf(out, IN1 "device %s;\n}\n", c->announce.device);
    }
    for (size_t i = 0; i < c->nprofiles; i++) {
        fprintf(out, "\nprofile %s {\n", c->profiles[i].name);
        put_profile(out, c, &c->profiles[i].p, SIDE_BOTH, 1);
        fputs("}\n", out);
    }
    for (size_t i = 0; i < c->nbackends; i++)
        put_backend(out, c, &c->backends[i]);
    for (size_t i = 0; i < c->nfrontends; i++)
        put_frontend(out, c, &c->frontends[i]);
    if (c->nresponds)
        fputs("\n", out);
    for (size_t i = 0; i < c->nresponds; i++) {
        fprintf(out, "respond %s ", lb_addr_format(&c->responds[i].listen, a, sizeof a));
        put_string(out, c->responds[i].body);
        fputs(";\n", out);
    }
    return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
