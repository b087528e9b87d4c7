/* The HTTP directives: a frontend's `mode http` and its client-side settings (keep-alive,
 * head size, the forwarding fields it adds), a backend's pooling and reuse of server
 * connections. Checked as strictly as the rest: a directive that would mean nothing where it
 * is written (an http setting in a tcp frontend, a pool setting in a `mode tcp` backend) is
 * an error naming it. docs/config.md, "HTTP mode", says where each default comes from. */
#include "lb/config_int.h"
#include "http/h1.h"

#include <string.h>

void lb_http_fe_defaults(struct lb_http_fe_conf *h)
{
    memset(h, 0, sizeof *h);
    h->keepalive_timeout_ms = 5000;             /* Apache KeepAliveTimeout 5 */
    h->keepalive_requests = 100;                /* Apache MaxKeepAliveRequests 100 */
    h->max_header_size = HTTP_DEFAULT_MAX_HEAD; /* 16k: HAProxy's tune.bufsize */
    h->forwarded_for = 1;   /* what balancers are configured for (Envoy adds it by default) */
    h->forwarded_proto = 1; /* the same */
    h->forwarded = 0;       /* RFC 7239 repeats the two above: on demand */
    h->via = 0;             /* HAProxy and nginx send none */
}

void lb_http_be_defaults(struct lb_http_be_conf *h)
{
    memset(h, 0, sizeof *h);
    h->reuse = LB_REUSE_SAFE;        /* HAProxy's default since 2.0 */
    h->pool_max_idle = 32;           /* nginx's upstream `keepalive 32` example */
    h->pool_idle_timeout_ms = 60000; /* nginx upstream keepalive_timeout 60s */
    h->pool_max_requests = 1000;     /* nginx upstream keepalive_requests 1000 (1.19.10+) */
}

const char *lb_reuse_name(int r)
{
    static const char *const names[] = {"never", "safe", "aggressive", "always"};
    return r >= 0 && r < 4 ? names[r] : "?";
}

static int arg_mode(struct lb_config_error *e, const struct arg *a, int *out)
{
    if (!strcmp(a->s, "tcp"))
        *out = LB_MODE_TCP;
    else if (!strcmp(a->s, "http"))
        *out = LB_MODE_HTTP;
    else
        return lb_conf_fail_at(e, a, "expected tcp or http, found '%s'", a->s);
    return 0;
}

static int arg_bool_at(struct lb_config_error *e, const struct node *d, int *out)
{
    if (lb_conf_want_args(e, d, 1, 1) < 0)
        return -1;
    return lb_conf_arg_bool(e, &d->args[0], out);
}

int lb_conf_http_frontend(struct lb_config_error *e, const struct node *d,
                          struct lb_frontend_conf *f, const struct arg **first)
{
    const char *nm = d->name.s;
    struct lb_http_fe_conf *h = &f->http;
    if (!strcmp(nm, "mode")) {
        if (lb_conf_want_args(e, d, 1, 1) < 0)
            return -1;
        return arg_mode(e, &d->args[0], &f->mode);
    }
    int rc;
    if (!strcmp(nm, "keepalive_timeout")) {
        rc = lb_conf_want_args(e, d, 1, 1) < 0
                 ? -1
                 : lb_conf_arg_duration(e, &d->args[0], 0, &h->keepalive_timeout_ms);
    } else if (!strcmp(nm, "keepalive_requests")) {
        rc = lb_conf_want_args(e, d, 1, 1) < 0
                 ? -1
                 : lb_conf_arg_count(e, &d->args[0], 0, 1000000000, &h->keepalive_requests);
    } else if (!strcmp(nm, "max_header_size")) {
        uint64_t v;
        const char *why;
        if (lb_conf_want_args(e, d, 1, 1) < 0)
            return -1;
        const struct arg *a = &d->args[0];
        if (lb_parse_size(a->s, &v, &why) < 0)
            return lb_conf_fail_at(e, a, "'%s': %s", a->s, why);
        if (v < 1024 || v > (1u << 20))
            return lb_conf_fail_at(e, a, "'%s' is out of range (1k-1m)", a->s);
        h->max_header_size = (uint32_t)v;
        rc = 0;
    } else if (!strcmp(nm, "forwarded_for")) {
        rc = arg_bool_at(e, d, &h->forwarded_for);
    } else if (!strcmp(nm, "forwarded_proto")) {
        rc = arg_bool_at(e, d, &h->forwarded_proto);
    } else if (!strcmp(nm, "forwarded")) {
        rc = arg_bool_at(e, d, &h->forwarded);
    } else if (!strcmp(nm, "via")) {
        rc = arg_bool_at(e, d, &h->via);
    } else {
        return 1;
    }
    if (rc == 0 && !*first)
        *first = &d->name;
    return rc;
}

int lb_conf_http_backend(struct lb_config_error *e, const struct node *d, struct lb_backend_conf *b,
                         const struct arg **first)
{
    const char *nm = d->name.s;
    struct lb_http_be_conf *h = &b->http;
    if (!strcmp(nm, "mode")) {
        if (lb_conf_want_args(e, d, 1, 1) < 0)
            return -1;
        return arg_mode(e, &d->args[0], &b->mode);
    }
    if (strcmp(nm, "http_reuse") && strcmp(nm, "pool_max_idle") &&
        strcmp(nm, "pool_idle_timeout") && strcmp(nm, "pool_max_requests"))
        return 1;
    if (lb_conf_want_args(e, d, 1, 1) < 0)
        return -1;
    const struct arg *a = &d->args[0];
    int rc = 0;
    if (!strcmp(nm, "http_reuse")) {
        int i;
        for (i = 0; i < 4 && strcmp(a->s, lb_reuse_name(i)); i++)
            ;
        if (i == 4)
            return lb_conf_fail_at(e, a, "expected never, safe, aggressive or always, found '%s'",
                                   a->s);
        h->reuse = i;
    } else if (!strcmp(nm, "pool_max_idle")) {
        rc = lb_conf_arg_count(e, a, 0, 100000, &h->pool_max_idle);
    } else if (!strcmp(nm, "pool_idle_timeout")) {
        rc = lb_conf_arg_duration(e, a, 1, &h->pool_idle_timeout_ms);
    } else {
        rc = lb_conf_arg_count(e, a, 0, 1000000000, &h->pool_max_requests);
    }
    if (rc == 0 && !*first)
        *first = &d->name;
    return rc;
}

/* After both blocks are read: an http frontend's backend must accept http, a tcp one's tcp. */
int lb_conf_http_check(const struct lb_config *c, struct lb_config_error *e, size_t fi,
                       const struct arg *backend_ref)
{
    const struct lb_frontend_conf *f = &c->frontends[fi];
    const struct lb_backend_conf *b = &c->backends[f->backend];
    if (b->mode == LB_MODE_ANY || b->mode == f->mode)
        return 0;
    return lb_conf_fail_at(e, backend_ref,
                           "frontend '%s' is mode %s, but backend '%s' is mode %s: a backend "
                           "serves the frontends of its own mode",
                           f->name, f->mode == LB_MODE_HTTP ? "http" : "tcp", b->name,
                           b->mode == LB_MODE_HTTP ? "http" : "tcp");
}
