/* The `announce` block: how this node tells its routing daemon which virtual addresses it
 * serves (docs/scale-out.md). synfin speaks no BGP; it puts routes into a kernel table that
 * BIRD or FRR learns and announces. */
#include "lb/config_int.h"

#include <string.h>

/* Tables 253-255 are the kernel's default, main and local: announcing there would route
 * this host's own traffic. 0 is "unspecified". */
static int table_reserved(uint32_t t)
{
    return t == 0 || (t >= 253u && t <= 255u);
}

static int device_name(struct lb_config_error *e, const struct arg *a, char *out, size_t cap)
{
    size_t n = strlen(a->s);
    if (n == 0 || n >= cap)
        return lb_conf_fail_at(e, a, "a device name has 1 to %zu characters", cap - 1);
    for (size_t i = 0; i < n; i++) {
        char c = a->s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return lb_conf_fail_at(e, a, "a device name has letters, digits, '_', '-' or '.': '%s'",
                                   a->s);
    }
    memcpy(out, a->s, n + 1);
    return 0;
}

int lb_conf_announce(struct lb_config *c, struct lb_config_error *e, const struct node *n)
{
    struct lb_announce_conf *a = &c->announce;
    if (lb_conf_want_block(e, n, 0) < 0)
        return -1;
    a->enabled = 1;
    a->pos.line = n->name.line;
    a->pos.col = n->name.col;
    a->withdraw_delay_ms = 5000;
    strcpy(a->device, "synfin-ann");
    int have_table = 0;
    static const char *const words[3] = {"table", "withdraw_delay", "device"};
    for (size_t i = 0; i < n->nkids; i++) {
        const struct node *d = &n->kids[i];
        int w = -1;
        for (int k = 0; k < 3; k++)
            if (!strcmp(d->name.s, words[k]))
                w = k;
        if (w < 0 || d->block)
            return lb_conf_fail_at(e, &d->name,
                                   "unknown directive '%s' in announce (table, withdraw_delay, "
                                   "device)",
                                   d->name.s);
        have_table |= w == 0;
        if (lb_conf_once(e, n->kids, i) < 0 || lb_conf_want_args(e, d, 1, 1) < 0)
            return -1;
        int rc = 0;
        if (w == 0) {
            rc = lb_conf_arg_count(e, &d->args[0], 1, UINT32_MAX, &a->table);
            if (rc == 0 && table_reserved(a->table))
                return lb_conf_fail_at(e, &d->args[0],
                                       "table %u is the kernel's own (253 default, 254 main, 255 "
                                       "local): give the table the routing daemon learns from",
                                       a->table);
        } else if (w == 1) {
            rc = lb_conf_arg_duration(e, &d->args[0], 0, &a->withdraw_delay_ms);
        } else {
            rc = device_name(e, &d->args[0], a->device, sizeof a->device);
        }
        if (rc < 0)
            return -1;
    }
    if (!have_table)
        return lb_conf_fail_at(e, &n->name,
                               "announce needs 'table N': the kernel routing table your routing "
                               "daemon learns routes from (docs/scale-out.md)");
    return 0;
}

/* A route names one address: a frontend on 0.0.0.0 or :: has nothing to announce. */
int lb_conf_announce_check(const struct lb_config *c, struct lb_config_error *e)
{
    if (!c->announce.enabled)
        return 0;
    for (size_t i = 0; i < c->nfrontends; i++) {
        const struct lb_frontend_conf *f = &c->frontends[i];
        for (uint32_t k = 0; k < f->nlisten; k++)
            if (lb_addr_is_any(&f->listen[k]))
                return lb_conf_fail(e, f->listen_pos[k].line, f->listen_pos[k].col,
                                    "frontend %s listens on a wildcard address, which announce "
                                    "cannot route: listen on the virtual address itself",
                                    f->name);
    }
    return 0;
}
