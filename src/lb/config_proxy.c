/* The PROXY protocol directives: `send_proxy v1|v2` (backend, or a server option),
 * `accept_proxy from RANGE...` and `accept_proxy_timeout D` (frontend); docs/config.md,
 * "PROXY protocol". */
#include "lb/config_int.h"
#include "lb/proxy_proto.h"

#include <string.h>

int lb_conf_proxy_version(struct lb_config_error *e, const struct arg *a, int *out)
{
    if (!strcmp(a->s, "v1"))
        *out = LB_PROXY_V1;
    else if (!strcmp(a->s, "v2"))
        *out = LB_PROXY_V2;
    else if (!strcmp(a->s, "off"))
        *out = LB_PROXY_NONE;
    else
        return lb_conf_fail_at(e, a, "expected v1, v2 or off, found '%s'", a->s);
    return 0;
}

int lb_conf_proxy_backend(struct lb_config_error *e, const struct node *d,
                          struct lb_backend_conf *b, int *seen)
{
    if (strcmp(d->name.s, "send_proxy"))
        return 1;
    if (*seen)
        return lb_conf_fail_at(e, &d->name, "'send_proxy' is given twice");
    *seen = 1;
    if (lb_conf_want_args(e, d, 1, 1) < 0)
        return -1;
    return lb_conf_proxy_version(e, &d->args[0], &b->send_proxy);
}

static int proxy_timeout(struct lb_config_error *e, const struct node *d,
                         struct lb_frontend_conf *f)
{
    if (lb_conf_want_args(e, d, 1, 1) < 0)
        return -1;
    const struct arg *a = &d->args[0];
    uint64_t ms;
    if (lb_conf_arg_duration(e, a, LB_PROXY_TIMEOUT_MIN_MS, &ms) < 0)
        return -1;
    if (ms > LB_PROXY_TIMEOUT_MAX_MS)
        return lb_conf_fail_at(e, a, "'%s' is too long (at most %um)", a->s,
                               LB_PROXY_TIMEOUT_MAX_MS / 60000);
    f->accept_proxy_timeout_ms = ms;
    return 0;
}

int lb_conf_proxy_frontend(struct lb_config_error *e, const struct node *d,
                           struct lb_frontend_conf *f)
{
    if (!strcmp(d->name.s, "accept_proxy_timeout"))
        return proxy_timeout(e, d, f);
    if (strcmp(d->name.s, "accept_proxy"))
        return 1;
    if (f->naccept_proxy)
        return lb_conf_fail_at(e, &d->name,
                               "'accept_proxy' is given twice (list every range "
                               "on one line)");
    if (d->nargs < 2 || strcmp(d->args[0].s, "from"))
        return lb_conf_fail_at(e, d->nargs ? &d->args[0] : &d->name,
                               "accept_proxy takes 'from' and the ranges it trusts, as "
                               "'accept_proxy from 10.0.0.0/8;'");
    struct node rest = *d;
    rest.args++;
    rest.nargs--;
    return lb_conf_cidr_list(e, &rest, f->accept_proxy, &f->naccept_proxy);
}

int lb_conf_proxy_frontend_check(struct lb_config_error *e, const struct node *n,
                                 const struct lb_frontend_conf *f)
{
    if (f->naccept_proxy)
        return 0;
    for (size_t i = 0; i < n->nkids; i++)
        if (!strcmp(n->kids[i].name.s, "accept_proxy_timeout"))
            return lb_conf_fail_at(e, &n->kids[i].name,
                                   "'accept_proxy_timeout' without 'accept_proxy': no PROXY "
                                   "header is awaited on frontend '%s'",
                                   f->name);
    return 0;
}
