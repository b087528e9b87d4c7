/* HAProxy's and nginx's words, met where synfin expects its own: the error names synfin's
 * equivalent instead of a bare "unknown directive". The table is docs/haproxy.md's, in
 * short; keep the two together. */
#include "lb/config_int.h"

#include <stdio.h>
#include <string.h>

struct hint {
    const char *block; /* "*" anywhere, "top", "frontend", "backend", "server", "check" */
    const char *name;
    const char *arg; /* the first argument it needs, "#" a number, NULL any */
    const char *who;
    const char *synfin;
};

static const struct hint hints[] = {
    /* HAProxy */
    {"*", "bind", NULL, "HAProxy", "'listen ADDR:PORT' (one line per address)"},
    {"*", "default_backend", NULL, "HAProxy", "'backend NAME' in the frontend"},
    {"*", "use_backend", NULL, "HAProxy", "'backend NAME' in the frontend (one per frontend)"},
    {"*", "timeout", "client", "HAProxy", "'idle_timeout DURATION' in the frontend"},
    {"*", "timeout", "server", "HAProxy", "'idle_timeout DURATION' in the backend"},
    {"*", "timeout", "tunnel", "HAProxy", "'idle_timeout DURATION'"},
    {"*", "timeout", "connect", "HAProxy", "'connect_timeout DURATION' in the backend"},
    {"*", "timeout", "queue", "HAProxy", "'queue_timeout DURATION' in the backend"},
    {"*", "timeout", "check", "HAProxy", "'check { timeout DURATION; }' in the backend"},
    {"*", "timeout", "client-fin", "HAProxy", "'client_fin_timeout DURATION' in the frontend"},
    {"*", "timeout", "server-fin", "HAProxy", "'server_fin_timeout DURATION' in the backend"},
    {"*", "timeout", "http-keep-alive", "HAProxy",
     "'keepalive_timeout DURATION' in a mode http frontend"},
    {"*", "timeout", NULL, "HAProxy", "'idle_timeout', 'connect_timeout' or 'queue_timeout'"},
    {"*", "option", "httplog", "HAProxy", "'log' (one key=value line per session, every mode)"},
    {"*", "option", "tcplog", "HAProxy", "'log' (one key=value line per session, every mode)"},
    {"*", "option", "forwardfor", "HAProxy", "'forwarded_for on' in a mode http frontend"},
    {"*", "option", "httpchk", "HAProxy", "'check { type http; uri /PATH; }' in the backend"},
    {"*", "option", "tcp-check", "HAProxy", "'check { type tcp; }' in the backend"},
    {"*", "option", "tcpka", "HAProxy", "'keepalive on'"},
    {"*", "option", "redispatch", "HAProxy", "nothing: a failed connect retries another server"},
    {"*", "option", "http-keep-alive", "HAProxy", "'keepalive_timeout' in a mode http frontend"},
    {"*", "option", "http-server-close", "HAProxy", "'http_reuse never' in the backend"},
    {"*", "option", NULL, "HAProxy", "a directive of its own (docs/haproxy.md)"},
    {"*", "http-reuse", NULL, "HAProxy", "'http_reuse never|safe|aggressive|always'"},
    {"*", "send-proxy", NULL, "HAProxy", "'send_proxy v1' in the backend"},
    {"*", "send-proxy-v2", NULL, "HAProxy", "'send_proxy v2' in the backend"},
    {"*", "accept-proxy", NULL, "HAProxy", "'accept_proxy' in the frontend"},
    {"*", "hash-type", NULL, "HAProxy", "'balance maglev' (consistent hashing)"},
    {"*", "stats", NULL, "HAProxy", "'admin ADDR:PORT' at the top level (/stats, /metrics)"},
    {"top", "listen", NULL, "HAProxy",
     "a 'frontend' block (listen, backend) and a 'backend' block (servers)"},
    {"top", "defaults", NULL, "HAProxy", "'profile NAME { ... }', named by 'profile NAME'"},
    {"top", "global", NULL, "HAProxy", "top-level directives: log, admin, drain_timeout"},
    {"top", "maxconn", NULL, "HAProxy", "'maxconn N' in each frontend"},
    {"top", "nbthread", NULL, "HAProxy", "'threads N' (or 'threads auto') at the top level"},
    {"top", "cpu-map", NULL, "HAProxy",
     "'cpu_map THREADS CPULIST' or 'cpu_map auto CPULIST' (threads from 0) at the top level"},
    {"frontend", "log", NULL, "HAProxy", "'log' at the top level (one log for all)"},
    {"backend", "log", NULL, "HAProxy", "'log' at the top level (one log for all)"},
    {"backend", "maxconn", NULL, "HAProxy", "'maxconn N' on each server line, or in the frontend"},
    {"backend", "fullconn", NULL, "HAProxy", "'maxconn N' on each server line"},
    {"server", "check", NULL, "HAProxy", "'check { ... }' in the backend (for every server)"},
    {"server", "inter", NULL, "HAProxy", "'check { interval DURATION; }' in the backend"},
    {"server", "rise", NULL, "HAProxy", "'check { rise N; }' in the backend"},
    {"server", "fall", NULL, "HAProxy", "'check { fall N; }' in the backend"},
    {"server", "send-proxy", NULL, "HAProxy", "'send_proxy v1' in the backend"},
    {"server", "send-proxy-v2", NULL, "HAProxy", "'send_proxy v2' in the backend"},
    {"server", "disabled", NULL, "HAProxy", "leaving the server out, or 'synfin-ctl ... maint'"},
    {"check", "inter", NULL, "HAProxy", "'interval DURATION'"},
    /* nginx */
    {"top", "stream", NULL, "nginx", "'frontend' and 'backend' blocks at the top level"},
    {"top", "worker_processes", NULL, "nginx", "'threads N' (or 'threads auto'): one process"},
    {"top", "http", NULL, "nginx", "'frontend' blocks with 'mode http'"},
    {"top", "upstream", NULL, "nginx", "'backend NAME { server NAME ADDR:PORT; }'"},
    {"top", "server", NULL, "nginx", "'frontend NAME { listen ADDR:PORT; backend NAME; }'"},
    {"top", "worker_processes", NULL, "nginx", "nothing: synfin runs one event loop"},
    {"top", "events", NULL, "nginx", "nothing: synfin runs one event loop"},
    {"*", "proxy_pass", NULL, "nginx", "'backend NAME' in the frontend"},
    {"*", "proxy_timeout", NULL, "nginx", "'idle_timeout DURATION'"},
    {"*", "proxy_connect_timeout", NULL, "nginx", "'connect_timeout DURATION' in the backend"},
    {"*", "proxy_read_timeout", NULL, "nginx", "'idle_timeout DURATION' in the backend"},
    {"*", "proxy_send_timeout", NULL, "nginx", "'idle_timeout DURATION' in the backend"},
    {"*", "proxy_protocol", NULL, "nginx",
     "'send_proxy v1' in the backend ('accept_proxy' in a frontend)"},
    {"*", "proxy_protocol_timeout", NULL, "nginx",
     "'accept_proxy_timeout DURATION' in the frontend"},
    {"*", "proxy_bind", NULL, "nginx", "'source ADDR' in the backend"},
    {"*", "proxy_next_upstream_tries", NULL, "nginx", "'retries N' in the backend"},
    {"*", "proxy_buffer_size", NULL, "nginx", "'buffer_size SIZE'"},
    {"*", "tcp_nodelay", NULL, "nginx", "'nodelay on|off'"},
    {"*", "so_keepalive", NULL, "nginx", "'keepalive on' (and keepalive_idle ...)"},
    {"*", "least_conn", NULL, "nginx", "'balance leastconn'"},
    {"*", "ip_hash", NULL, "nginx", "'balance source'"},
    {"*", "hash", NULL, "nginx", "'balance source' or 'balance maglev'"},
    {"*", "health_check", NULL, "nginx", "'check { ... }' in the backend"},
    {"*", "access_log", NULL, "nginx", "'log' at the top level"},
    {"*", "error_log", NULL, "nginx", "'log' at the top level"},
    {"backend", "keepalive", "#", "nginx", "'pool_max_idle N' (idle server connections kept)"},
    {"backend", "keepalive_timeout", NULL, "nginx", "'pool_idle_timeout DURATION'"},
    {"backend", "keepalive_requests", NULL, "nginx", "'pool_max_requests N'"},
    {"server", "down", NULL, "nginx", "leaving the server out, or 'synfin-ctl ... maint'"},
};

static int is_number(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* nginx writes a server's options as name=value: the name decides. */
static const char *server_option_hint(const char *opt)
{
    static const struct {
        const char *prefix, *synfin;
    } eq[] = {
        {"weight=", "'weight N'"},
        {"max_conns=", "'maxconn N'"},
        {"max_fails=", "'max_fails N' in the backend"},
        {"fail_timeout=", "'fail_timeout DURATION' in the backend"},
    };
    static char buf[200];
    for (size_t i = 0; i < sizeof eq / sizeof eq[0]; i++)
        if (!strncmp(opt, eq[i].prefix, strlen(eq[i].prefix))) {
            snprintf(buf, sizeof buf, "'%s' is nginx's; synfin says %s (docs/haproxy.md)", opt,
                     eq[i].synfin);
            return buf;
        }
    return NULL;
}

const char *lb_conf_hint(const char *block, const char *name, const char *arg)
{
    static char buf[240];
    const char *top = block ? block : "top";
    if (!strcmp(top, "server")) {
        const char *h = server_option_hint(name);
        if (h)
            return h;
    }
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++) {
        const struct hint *h = &hints[i];
        if (strcmp(h->name, name) || (strcmp(h->block, "*") && strcmp(h->block, top)))
            continue;
        if ((!strcmp(top, "server") || !strcmp(top, "check")) && !strcmp(h->block, "*"))
            continue; /* a directive's word, not a server option's */
        if (h->arg && (!arg || (!strcmp(h->arg, "#") ? !is_number(arg) : strcmp(h->arg, arg))))
            continue;
        if (h->arg && strcmp(h->arg, "#"))
            snprintf(buf, sizeof buf, "'%s %s' is %s's; synfin says %s (docs/haproxy.md)", name,
                     arg, h->who, h->synfin);
        else
            snprintf(buf, sizeof buf, "'%s' is %s's; synfin says %s (docs/haproxy.md)", name,
                     h->who, h->synfin);
        return buf;
    }
    return NULL;
}

int lb_conf_unknown(struct lb_config_error *e, const struct node *d, const char *block)
{
    const char *hint = lb_conf_hint(block, d->name.s, d->nargs ? d->args[0].s : NULL);
    if (hint)
        return lb_conf_fail_at(e, &d->name, "%s", hint);
    if (block)
        return lb_conf_fail_at(e, &d->name, "unknown directive '%s' in %s", d->name.s, block);
    return lb_conf_fail_at(e, &d->name, "unknown directive '%s'", d->name.s);
}
