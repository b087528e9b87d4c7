/* Profiles: the TCP settings of one side of a session, their built-in defaults, and the
 * directives that set them (in a profile block, or directly in a frontend or backend). */
#include "lb/config_int.h"

#include <stdio.h>
#include <string.h>

void lb_profile_defaults(struct lb_profile *p)
{
    memset(p, 0, sizeof *p);
    p->connect_timeout_ms = 5000;     /* HAProxy's documented `timeout connect 5s` */
    p->idle_timeout_ms = 300000;      /* F5 tcp profile Idle Timeout 300 s */
    p->client_fin_timeout_ms = 60000; /* Linux net.ipv4.tcp_fin_timeout 60 s */
    p->server_fin_timeout_ms = 60000; /* the same */
    p->keepalive = 0;                 /* Linux: SO_KEEPALIVE off */
    p->keepalive_idle_ms = 7200000;   /* Linux tcp_keepalive_time 7200 s */
    p->keepalive_interval_ms = 75000; /* Linux tcp_keepalive_intvl 75 s */
    p->keepalive_count = 9;           /* Linux tcp_keepalive_probes 9 */
    p->user_timeout_ms = 0;           /* Linux: TCP_USER_TIMEOUT unset */
    p->nodelay = 1;                   /* nginx tcp_nodelay on, HAProxy sets it too */
    p->defer_accept = 0;              /* Linux and nginx default */
    p->reset_on_timeout = 1;          /* F5 tcp profile Reset On Timeout enabled */
    p->server_close = LB_CLOSE_FIN;   /* a normal close, as the kernel does */
    p->buffer_size = 65536;           /* GSO builds 64 KiB segments: one read and one write each */
    p->fast_open = 0;                 /* off: a server that speaks first would wait for data */
    sf_tcp_config_defaults(&p->tcp);  /* the engine's, each with its origin (docs/engine.md) */

    p->client_close_first = LB_FIRST_SYNFIN; /* Apache and nginx close first */
}

void lb_profile_sockopts(const struct lb_profile *p, struct lb_sockopts *o)
{
    memset(o, 0, sizeof *o);
    o->nodelay = p->nodelay;
    o->keepalive = p->keepalive;
    o->keepalive_idle_s = (int)(p->keepalive_idle_ms / 1000);
    o->keepalive_intvl_s = (int)(p->keepalive_interval_ms / 1000);
    o->keepalive_cnt = (int)p->keepalive_count;
    o->user_timeout_ms = (int)p->user_timeout_ms;
    o->fastopen_connect = p->fast_open;
    o->tcp = &p->tcp;
}

enum ptype { P_DUR, P_DUR_S, P_BOOL, P_NBOOL, P_COUNT, P_CLOSE, P_SIZE, P_SOURCE, P_FIRST };

struct pdir {
    const char *name;
    int type;
    size_t off;
    uint64_t min, max;
    int side; /* enum pside */
};

#define POFF(f) offsetof(struct lb_profile, f)
static const struct pdir pdirs[] = {
    {"connect_timeout", P_DUR, POFF(connect_timeout_ms), 1, 0, SIDE_SERVER},
    {"idle_timeout", P_DUR, POFF(idle_timeout_ms), 1, 0, SIDE_BOTH},
    {"client_fin_timeout", P_DUR, POFF(client_fin_timeout_ms), 1, 0, SIDE_CLIENT},
    {"server_fin_timeout", P_DUR, POFF(server_fin_timeout_ms), 1, 0, SIDE_SERVER},
    {"keepalive", P_BOOL, POFF(keepalive), 0, 0, SIDE_BOTH},
    {"keepalive_idle", P_DUR_S, POFF(keepalive_idle_ms), 1000, 32767000, SIDE_BOTH},
    {"keepalive_interval", P_DUR_S, POFF(keepalive_interval_ms), 1000, 32767000, SIDE_BOTH},
    {"keepalive_count", P_COUNT, POFF(keepalive_count), 1, 127, SIDE_BOTH},
    {"user_timeout", P_DUR, POFF(user_timeout_ms), 0, 0x7fffffff, SIDE_BOTH},
    {"nodelay", P_BOOL, POFF(nodelay), 0, 0, SIDE_BOTH},
    {"nagle", P_NBOOL, POFF(nodelay), 0, 0, SIDE_BOTH}, /* the same switch, as F5 names it */
    {"defer_accept", P_BOOL, POFF(defer_accept), 0, 0, SIDE_CLIENT},
    {"reset_on_timeout", P_BOOL, POFF(reset_on_timeout), 0, 0, SIDE_BOTH},
    {"server_close", P_CLOSE, POFF(server_close), 0, 0, SIDE_SERVER},
    {"buffer_size", P_SIZE, POFF(buffer_size), 1024, 16 << 20, SIDE_BOTH},
    {"source", P_SOURCE, POFF(sources), 0, 0, SIDE_SERVER},
    {"client_close_first", P_FIRST, POFF(client_close_first), 0, 0, SIDE_CLIENT},
    {"fast_open", P_BOOL, POFF(fast_open), 0, 0, SIDE_SERVER},
};
#define NPDIRS (sizeof pdirs / sizeof pdirs[0])

static const struct pdir *find_pdir(const char *name)
{
    for (size_t i = 0; i < NPDIRS; i++)
        if (!strcmp(pdirs[i].name, name))
            return &pdirs[i];
    return NULL;
}

static int parse_source(struct lb_config_error *e, const struct arg *a, struct lb_source *s)
{
    char buf[96];
    const char *why;
    memset(s, 0, sizeof *s);
    if (strlen(a->s) >= sizeof buf)
        return lb_conf_fail_at(e, a, "source address too long");
    strcpy(buf, a->s);
    char *colon = strrchr(buf, ':');
    char *dash = colon ? strchr(colon, '-') : NULL;
    if (dash && buf[0] != '[' && strchr(buf, ':') != colon)
        /* ::1:1024-2000 reads as ::1 ports 1024-2000 or ::1:1024 ports ...-2000: only brackets
         * tell, as for a listening address. */
        return lb_conf_fail_at(e, a,
                               "'%s': an IPv6 source with a port range is written in brackets, "
                               "as [::1]:1024-2000",
                               a->s);
    if (dash) {
        *dash = 0;
        uint64_t lo, hi;
        const char *end;
        if (lb_conf_parse_u64(colon + 1, &lo, &end) < 0 || *end ||
            lb_conf_parse_u64(dash + 1, &hi, &end) < 0 || *end || lo == 0 || hi > 65535 || lo > hi)
            return lb_conf_fail_at(e, a, "'%s': port range must be LOW-HIGH within 1-65535", a->s);
        *colon = 0;
        s->port_lo = (uint16_t)lo;
        s->port_hi = (uint16_t)hi;
        if (buf[0] == '[') { /* [v6]:lo-hi */
            size_t hl = strlen(buf);
            if (hl < 3 || buf[hl - 1] != ']')
                return lb_conf_fail_at(e, a, "'%s': bad IPv6 source", a->s);
        }
        /* The brackets stay: without them the address's last ':' would read as a port. */
        if (lb_addr_parse(&s->addr, buf, 0, &why) < 0)
            return lb_conf_fail_at(e, a, "'%s': %s", a->s, why);
        return 0;
    }
    if (lb_addr_parse(&s->addr, buf, 0, &why) < 0)
        return lb_conf_fail_at(e, a, "'%s': %s", a->s, why);
    if (lb_addr_port(&s->addr) != 0) {
        s->port_lo = s->port_hi = lb_addr_port(&s->addr);
    }
    return 0;
}

/* Applies one profile directive to p. Returns 1 if n is not a profile directive. side is
 * the block it is written in: SIDE_BOTH for a profile block (a named profile may serve both
 * sides; each reads what concerns it), SIDE_CLIENT for a frontend, SIDE_SERVER for a backend,
 * where a directive the other side reads would be ignored: an error. */
/* A stack-only directive (config_stack.c): an error under the kernel transport, whose TCP
 * behaviour is the host's. */
static int stack_directive(const struct lb_config *c, struct lb_config_error *e,
                           const struct node *n, struct lb_profile *p, struct lb_conf_pset *set)
{
    char why[200];
    struct sf_tcp_config probe = p->tcp;
    uint64_t bits = 0;
    int rc =
        lb_stack_directive(n->name.s, n->nargs ? n->args[0].s : "", &probe, &bits, why, sizeof why);
    if (rc > 0)
        return 1;
    if (c->transport.kind != LB_TRANSPORT_STACK)
        return lb_conf_fail_at(e, &n->name,
                               "'%s' needs synfin's own TCP (transport stack { ... }): on kernel "
                               "sockets it is the host's setting",
                               n->name.s);
    if (lb_conf_want_args(e, n, 1, 1) < 0)
        return -1;
    if (rc < 0)
        return lb_conf_fail_at(e, &n->args[0], "%s", why);
    p->tcp = probe;
    set->tcp |= bits;
    return 0;
}

int lb_conf_profile_directive(const struct lb_config *c, struct lb_config_error *e,
                              const struct node *n, struct lb_profile *p, struct lb_conf_pset *set,
                              int side)
{
    const struct pdir *d = find_pdir(n->name.s);
    if (!d)
        return stack_directive(c, e, n, p, set);
    if (c->transport.kind == LB_TRANSPORT_STACK && !strcmp(d->name, "defer_accept"))
        return lb_conf_fail_at(e, &n->name,
                               "'defer_accept' is a kernel listener option (TCP_DEFER_ACCEPT); "
                               "synfin's own TCP accepts at once");
    if (c->transport.kind != LB_TRANSPORT_STACK && !strcmp(d->name, "fast_open"))
        return lb_conf_fail_at(e, &n->name,
                               "'fast_open' is an option of synfin's own TCP (transport stack)");
    if (side != SIDE_BOTH && d->side != SIDE_BOTH && d->side != side)
        return lb_conf_fail_at(
            e, &n->name,
            d->side == SIDE_SERVER
                ? "'%s' concerns the connection to the server: it belongs in a "
                  "backend or its profile, not in a frontend"
                : "'%s' concerns the client connection: it belongs in a frontend or "
                  "its profile, not in a backend",
            d->name);
    char *f = (char *)p + d->off;
    if (d->type == P_SOURCE) {
        if (lb_conf_want_args(e, n, 1, LB_SOURCES_MAX) < 0)
            return -1;
        for (size_t i = 0; i < n->nargs; i++)
            if (parse_source(e, &n->args[i], &p->sources[i]) < 0)
                return -1;
        p->nsources = (uint32_t)n->nargs;
    } else {
        if (lb_conf_want_args(e, n, 1, 1) < 0)
            return -1;
        const struct arg *a = &n->args[0];
        uint64_t v;
        const char *why;
        switch (d->type) {
        case P_DUR:
        case P_DUR_S:
            if (lb_parse_duration(a->s, &v, &why) < 0)
                return lb_conf_fail_at(e, a, "'%s': %s", a->s, why);
            if (d->type == P_DUR_S && v % 1000)
                return lb_conf_fail_at(e, a, "'%s': whole seconds only (the kernel counts seconds)",
                                       a->s);
            if (v < d->min || (d->max && v > d->max))
                return lb_conf_fail_at(e, a, "'%s' is out of range for %s", a->s, d->name);
            memcpy(f, &v, sizeof v);
            break;
        case P_BOOL:
            if (lb_conf_arg_bool(e, a, (int *)(void *)f) < 0)
                return -1;
            break;
        case P_NBOOL: {
            int b;
            if (lb_conf_arg_bool(e, a, &b) < 0)
                return -1;
            b = !b;
            memcpy(f, &b, sizeof b);
            break;
        }
        case P_COUNT: {
            uint32_t c;
            if (lb_conf_arg_count(e, a, d->min, d->max, &c) < 0)
                return -1;
            memcpy(f, &c, sizeof c);
            break;
        }
        case P_CLOSE: {
            int m;
            if (!strcmp(a->s, "fin"))
                m = LB_CLOSE_FIN;
            else if (!strcmp(a->s, "rst"))
                m = LB_CLOSE_RST;
            else
                return lb_conf_fail_at(e, a, "expected fin or rst, found '%s'", a->s);
            memcpy(f, &m, sizeof m);
            break;
        }
        case P_FIRST: {
            int m;
            if (!strcmp(a->s, "synfin"))
                m = LB_FIRST_SYNFIN;
            else if (!strcmp(a->s, "client"))
                m = LB_FIRST_CLIENT;
            else
                return lb_conf_fail_at(e, a, "expected synfin or client, found '%s'", a->s);
            memcpy(f, &m, sizeof m);
            break;
        }
        case P_SIZE: {
            if (lb_parse_size(a->s, &v, &why) < 0)
                return lb_conf_fail_at(e, a, "'%s': %s", a->s, why);
            if (v < d->min || v > d->max)
                return lb_conf_fail_at(e, a, "'%s' is out of range (1k-16m)", a->s);
            uint32_t c = (uint32_t)v;
            memcpy(f, &c, sizeof c);
            break;
        }
        default: break;
        }
    }
    set->lb |= 1u << (d - pdirs);
    return 0;
}

static size_t pdir_size(const struct pdir *d)
{
    switch (d->type) {
    case P_DUR:
    case P_DUR_S: return sizeof(uint64_t);
    case P_BOOL:
    case P_NBOOL:
    case P_FIRST:
    case P_CLOSE: return sizeof(int);
    default: return sizeof(uint32_t);
    }
}

/* dst = base, then every directive set inline in `over`. */
void lb_conf_profile_merge(struct lb_profile *dst, const struct lb_profile *base,
                           const struct lb_profile *over, struct lb_conf_pset set)
{
    *dst = *base;
    lb_stack_merge(&dst->tcp, &base->tcp, &over->tcp, set.tcp);
    for (size_t i = 0; i < NPDIRS; i++) {
        if (!(set.lb & (1u << i)))
            continue;
        if (pdirs[i].type == P_SOURCE) {
            memcpy(dst->sources, over->sources, sizeof dst->sources);
            dst->nsources = over->nsources;
        } else {
            memcpy((char *)dst + pdirs[i].off, (const char *)over + pdirs[i].off,
                   pdir_size(&pdirs[i]));
        }
    }
}
