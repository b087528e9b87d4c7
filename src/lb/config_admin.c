/* The `admin` directive: `admin ADDR;`, or `admin ADDR { token "..."; allow RANGE...; }` for
 * the runtime API's access (docs/config.md, docs/lb.md "Runtime API"). */
#include "lb/config_int.h"

#include <string.h>

static int parse_token(struct lb_config *c, struct lb_config_error *e, const struct node *d)
{
    if (lb_conf_want_args(e, d, 1, 1) < 0)
        return -1;
    const struct arg *a = &d->args[0];
    size_t n = strlen(a->s);
    if (n < 16 || n >= sizeof c->admin_token)
        return lb_conf_fail_at(e, a, "a token has 16 to %zu characters (found %zu)",
                               sizeof c->admin_token - 1, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)a->s[i] <= 0x20 || (unsigned char)a->s[i] >= 0x7f)
            return lb_conf_fail_at(e, a, "a token has visible ASCII characters only");
    memcpy(c->admin_token, a->s, n + 1);
    return 0;
}

int lb_conf_cidr_list(struct lb_config_error *e, const struct node *d, struct lb_cidr *out,
                      size_t *n)
{
    if (lb_conf_want_args(e, d, 1, LB_CIDRS_MAX) < 0)
        return -1;
    for (size_t i = 0; i < d->nargs; i++) {
        const char *why;
        if (lb_cidr_parse(&out[i], d->args[i].s, &why) < 0)
            return lb_conf_fail_at(e, &d->args[i], "'%s': %s", d->args[i].s, why);
    }
    *n = d->nargs;
    return 0;
}

int lb_conf_admin(struct lb_config *c, struct lb_config_error *e, const struct node *n)
{
    if (c->has_admin)
        return lb_conf_fail_at(e, &n->name, "'admin' is given twice");
    if (n->block ? lb_conf_want_block(e, n, 1) : lb_conf_want_args(e, n, 1, 1))
        return -1;
    if (lb_conf_arg_addr(e, &n->args[0], &c->admin, &c->admin_pos) < 0)
        return -1;
    c->has_admin = 1;
    const struct arg *allow = NULL;
    int have_token = 0;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct node *d = &n->kids[i];
        if (!strcmp(d->name.s, "token")) {
            if (have_token++)
                return lb_conf_fail_at(e, &d->name, "'token' is given twice");
            if (parse_token(c, e, d) < 0)
                return -1;
        } else if (!strcmp(d->name.s, "allow")) {
            if (allow)
                return lb_conf_fail_at(e, &d->name,
                                       "'allow' is given twice (list every range "
                                       "on one line)");
            if (lb_conf_cidr_list(e, d, c->admin_allow, &c->nadmin_allow) < 0)
                return -1;
            allow = &d->name;
        } else {
            return lb_conf_fail_at(e, &d->name, "unknown directive '%s' in admin (token, allow)",
                                   d->name.s);
        }
    }
    /* Other hosts may change servers and kill sessions: never without the token. */
    for (size_t i = 0; i < c->nadmin_allow; i++)
        if (!lb_cidr_is_loopback(&c->admin_allow[i]) && !c->admin_token[0])
            return lb_conf_fail_at(e, allow,
                                   "'allow' opens the admin listener to other hosts: give it a "
                                   "'token' too");
    return 0;
}
