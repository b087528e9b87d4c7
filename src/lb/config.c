/* Config parser: text -> tree of directives (with positions) -> checked lb_config.
 *
 * Three stages keep the error messages exact: the tree parser (config_syntax.c) knows only
 * the syntax (words, strings, `;`, `{ }`), the interpreter here knows every directive and
 * reports the position of the argument it rejects, and the checks (config_check.c) compare
 * objects with each other (an address used twice, a server that is a frontend). */
#include "lb/config_int.h"
#include "lb/proxy_proto.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- interpretation ---- */

struct pending_ref {
    const struct arg *profile; /* `profile NAME;` inside the block, or NULL */
    struct lb_profile inline_p;
    struct lb_conf_pset set;
};

static int find_profile(struct lb_config *c, struct lb_config_error *e, const struct arg *a,
                        const struct lb_profile **out)
{
    for (size_t i = 0; i < c->nprofiles; i++)
        if (!strcmp(c->profiles[i].name, a->s)) {
            *out = &c->profiles[i].p;
            return 0;
        }
    return lb_conf_fail_at(e, a, "unknown profile '%s'", a->s);
}

static int resolve_profile(struct lb_config *c, struct lb_config_error *e,
                           const struct pending_ref *r, struct lb_profile *out)
{
    struct lb_profile defaults;
    const struct lb_profile *base = &defaults;
    lb_profile_defaults(&defaults);
    if (r->profile && find_profile(c, e, r->profile, &base) < 0)
        return -1;
    lb_conf_profile_merge(out, base, &r->inline_p, r->set);
    return 0;
}

static int parse_profile_block(struct lb_config *c, struct lb_config_error *e, const struct node *n)
{
    if (lb_conf_want_block(e, n, 1) < 0)
        return -1;
    struct lb_profile_conf pc;
    memset(&pc, 0, sizeof pc);
    if (lb_conf_arg_name(e, &n->args[0], pc.name) < 0)
        return -1;
    for (size_t i = 0; i < c->nprofiles; i++)
        if (!strcmp(c->profiles[i].name, pc.name))
            return lb_conf_fail_at(e, &n->args[0], "profile '%s' is defined twice", pc.name);
    lb_profile_defaults(&pc.p);
    struct lb_conf_pset set = {0, 0};
    for (size_t i = 0; i < n->nkids; i++) {
        if (lb_conf_once(e, n->kids, i) < 0)
            return -1;
        int rc = lb_conf_profile_directive(c, e, &n->kids[i], &pc.p, &set, SIDE_BOTH);
        if (rc < 0)
            return -1;
        if (rc > 0)
            return lb_conf_unknown(e, &n->kids[i], "profile");
    }
    struct lb_profile_conf *np = realloc(c->profiles, (c->nprofiles + 1) * sizeof *np);
    if (!np)
        return lb_conf_fail_at(e, &n->name, "out of memory");
    c->profiles = np;
    c->profiles[c->nprofiles++] = pc;
    return 0;
}

static int parse_check(struct lb_config_error *e, const struct node *n, struct lb_check_conf *k)
{
    if (lb_conf_want_block(e, n, 0) < 0)
        return -1;
    k->type = LB_CHECK_TCP;
    const struct arg *timeout = NULL;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct node *d = &n->kids[i];
        const char *nm = d->name.s;
        if (lb_conf_once(e, n->kids, i) < 0 || lb_conf_want_args(e, d, 1, 1) < 0)
            return -1;
        const struct arg *a = &d->args[0];
        if (!strcmp(nm, "type")) {
            if (!strcmp(a->s, "tcp"))
                k->type = LB_CHECK_TCP;
            else if (!strcmp(a->s, "http"))
                k->type = LB_CHECK_HTTP;
            else if (!strcmp(a->s, "none"))
                k->type = LB_CHECK_NONE;
            else
                return lb_conf_fail_at(e, a, "expected tcp, http or none, found '%s'", a->s);
        } else if (!strcmp(nm, "uri")) {
            if (a->s[0] != '/' || strlen(a->s) >= sizeof k->uri || strpbrk(a->s, " \r\n"))
                return lb_conf_fail_at(e, a, "uri starts with '/', has no spaces, under %zu bytes",
                                       sizeof k->uri);
            strcpy(k->uri, a->s);
        } else if (!strcmp(nm, "host")) {
            if (strlen(a->s) >= sizeof k->host || strpbrk(a->s, " \r\n"))
                return lb_conf_fail_at(e, a, "bad host header value");
            strcpy(k->host, a->s);
        } else if (!strcmp(nm, "expect")) {
            uint32_t v;
            if (lb_conf_arg_count(e, a, 100, 599, &v) < 0)
                return -1;
            k->expect = (int)v;
        } else if (!strcmp(nm, "interval")) {
            if (lb_conf_arg_duration(e, a, 10, &k->interval_ms) < 0)
                return -1;
        } else if (!strcmp(nm, "timeout")) {
            if (lb_conf_arg_duration(e, a, 1, &k->timeout_ms) < 0)
                return -1;
            timeout = a;
        } else if (!strcmp(nm, "rise")) {
            if (lb_conf_arg_count(e, a, 1, 1000, &k->rise) < 0)
                return -1;
        } else if (!strcmp(nm, "fall")) {
            if (lb_conf_arg_count(e, a, 1, 1000, &k->fall) < 0)
                return -1;
        } else {
            return lb_conf_unknown(e, d, "check");
        }
    }
    /* A check still running when the next one is due would have to be cut short: the
     * timeout written here could never be honoured. */
    if (timeout && k->timeout_ms > k->interval_ms)
        return lb_conf_fail_at(e, timeout,
                               "check timeout '%s' is longer than its interval (%llums)",
                               timeout->s, (unsigned long long)k->interval_ms);
    return 0;
}

static int is_prime(uint32_t n)
{
    if (n < 2)
        return 0;
    for (uint32_t d = 2; (uint64_t)d * d <= n; d++)
        if (n % d == 0)
            return 0;
    return 1;
}

static int parse_server(struct lb_config_error *e, const struct node *d, struct lb_server_conf *s)
{
    if (lb_conf_want_args(e, d, 2, 9) < 0)
        return -1;
    memset(s, 0, sizeof *s);
    s->weight = 1;
    s->send_proxy = -1; /* the backend's, unless given */
    if (lb_conf_arg_name(e, &d->args[0], s->name) < 0 ||
        lb_conf_arg_addr(e, &d->args[1], &s->addr, &s->addr_pos) < 0)
        return -1;
    for (size_t j = 2; j < d->nargs; j++) {
        const struct arg *a = &d->args[j];
        if (!strcmp(a->s, "backup")) {
            s->backup = 1;
        } else if (!strcmp(a->s, "send_proxy")) {
            if (j + 1 >= d->nargs)
                return lb_conf_fail_at(e, a, "'send_proxy' needs a value (v1, v2 or off)");
            if (lb_conf_proxy_version(e, &d->args[++j], &s->send_proxy) < 0)
                return -1;
        } else if (!strcmp(a->s, "weight") || !strcmp(a->s, "maxconn")) {
            if (j + 1 >= d->nargs)
                return lb_conf_fail_at(e, a, "'%s' needs a value", a->s);
            uint32_t *v = a->s[0] == 'w' ? &s->weight : &s->maxconn;
            if (lb_conf_arg_count(e, &d->args[j + 1], a->s[0] == 'w' ? 1 : 0,
                                  a->s[0] == 'w' ? 1000 : 1000000, v) < 0)
                return -1;
            j++;
        } else {
            const char *hint = lb_conf_hint("server", a->s, NULL);
            if (hint)
                return lb_conf_fail_at(e, a, "%s", hint);
            return lb_conf_fail_at(e, a,
                                   "unknown server option '%s' (weight, maxconn, backup, "
                                   "send_proxy)",
                                   a->s);
        }
    }
    return 0;
}

static int parse_backend(struct lb_config *c, struct lb_config_error *e, const struct node *n,
                         struct pending_ref *ref)
{
    if (lb_conf_want_block(e, n, 1) < 0)
        return -1;
    struct lb_backend_conf *b = &c->backends[c->nbackends];
    memset(b, 0, sizeof *b);
    c->nbackends++;
    if (lb_conf_arg_name(e, &n->args[0], b->name) < 0)
        return -1;
    for (size_t i = 0; i + 1 < c->nbackends; i++)
        if (!strcmp(c->backends[i].name, b->name))
            return lb_conf_fail_at(e, &n->args[0], "backend '%s' is defined twice", b->name);
    b->balance = LB_BAL_ROUNDROBIN;
    b->maglev_size = 65537;      /* the Maglev paper's table size */
    b->retries = 3;              /* HAProxy `retries 3` */
    b->queue_timeout_ms = 5000;  /* HAProxy: timeout queue defaults to timeout connect */
    b->max_fails = 1;            /* nginx max_fails=1 */
    b->fail_timeout_ms = 10000;  /* nginx fail_timeout=10s */
    b->check.interval_ms = 2000; /* HAProxy inter 2s */
    b->check.timeout_ms = 1000;
    b->check.rise = 2; /* HAProxy rise 2 */
    b->check.fall = 3; /* HAProxy fall 3 */
    b->check.expect = 200;
    strcpy(b->check.uri, "/");
    b->mode = LB_MODE_ANY;
    lb_http_be_defaults(&b->http);
    const struct arg *maglev_arg = NULL, *http_arg = NULL;
    int send_proxy_seen = 0;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct node *d = &n->kids[i];
        const char *nm = d->name.s;
        if (strcmp(nm, "server") && lb_conf_once(e, n->kids, i) < 0)
            return -1;
        if (lb_conf_hint("backend", nm, d->nargs ? d->args[0].s : NULL))
            return lb_conf_unknown(e, d, "backend");
        int rc = lb_conf_http_backend(e, d, b, &http_arg);
        if (rc > 0)
            rc = lb_conf_proxy_backend(e, d, b, &send_proxy_seen);
        if (rc < 0)
            return -1;
        if (rc == 0)
            continue;
        rc = lb_conf_profile_directive(c, e, d, &ref->inline_p, &ref->set, SIDE_SERVER);
        if (rc < 0)
            return -1;
        if (rc == 0)
            continue;
        if (!strcmp(nm, "server")) {
            if (b->nservers >= 4096)
                return lb_conf_fail_at(e, &d->name, "too many servers (4096 at most)");
            struct lb_server_conf *ns = realloc(b->servers, (b->nservers + 1) * sizeof *ns);
            if (!ns)
                return lb_conf_fail_at(e, &d->name, "out of memory");
            b->servers = ns;
            if (parse_server(e, d, &ns[b->nservers]) < 0)
                return -1;
            for (size_t j = 0; j < b->nservers; j++)
                if (!strcmp(ns[j].name, ns[b->nservers].name))
                    return lb_conf_fail_at(e, &d->args[0],
                                           "server '%s' is defined twice in backend", ns[j].name);
            b->nservers++;
        } else if (!strcmp(nm, "check")) {
            if (parse_check(e, d, &b->check) < 0)
                return -1;
        } else if (!strcmp(nm, "profile")) {
            if (lb_conf_want_args(e, d, 1, 1) < 0)
                return -1;
            ref->profile = &d->args[0];
        } else if (lb_conf_want_args(e, d, 1, 1) < 0) {
            return -1;
        } else if (!strcmp(nm, "balance")) {
            const char *v = d->args[0].s;
            if (!strcmp(v, "roundrobin"))
                b->balance = LB_BAL_ROUNDROBIN;
            else if (!strcmp(v, "leastconn"))
                b->balance = LB_BAL_LEASTCONN;
            else if (!strcmp(v, "source"))
                b->balance = LB_BAL_SOURCE;
            else if (!strcmp(v, "maglev"))
                b->balance = LB_BAL_MAGLEV;
            else
                return lb_conf_fail_at(
                    e, &d->args[0], "unknown balance '%s' (roundrobin, leastconn, source, maglev)",
                    v);
        } else if (!strcmp(nm, "maglev_table_size")) {
            if (lb_conf_arg_count(e, &d->args[0], 7, 1000003, &b->maglev_size) < 0)
                return -1;
            if (!is_prime(b->maglev_size))
                return lb_conf_fail_at(
                    e, &d->args[0], "maglev_table_size must be prime (%u is not)", b->maglev_size);
            maglev_arg = &d->args[0];
        } else if (!strcmp(nm, "retries")) {
            if (lb_conf_arg_count(e, &d->args[0], 0, 100, &b->retries) < 0)
                return -1;
        } else if (!strcmp(nm, "queue_timeout")) {
            if (lb_conf_arg_duration(e, &d->args[0], 1, &b->queue_timeout_ms) < 0)
                return -1;
        } else if (!strcmp(nm, "max_fails")) {
            if (lb_conf_arg_count(e, &d->args[0], 0, 1000, &b->max_fails) < 0)
                return -1;
        } else if (!strcmp(nm, "fail_timeout")) {
            if (lb_conf_arg_duration(e, &d->args[0], 1, &b->fail_timeout_ms) < 0)
                return -1;
        } else {
            return lb_conf_unknown(e, d, "backend");
        }
    }
    if (b->nservers == 0)
        return lb_conf_fail_at(e, &n->args[0], "backend '%s' has no server", b->name);
    for (size_t i = 0; i < b->nservers; i++)
        if (b->servers[i].send_proxy < 0)
            b->servers[i].send_proxy = b->send_proxy;
    if (http_arg && b->mode == LB_MODE_TCP)
        return lb_conf_fail_at(e, http_arg,
                               "'%s' pools server connections of http sessions: backend '%s' "
                               "is mode tcp",
                               http_arg->s, b->name);
    if (maglev_arg && b->maglev_size < b->nservers)
        return lb_conf_fail_at(e, maglev_arg,
                               "maglev_table_size must exceed the number of servers");
    if (b->check.timeout_ms > b->check.interval_ms)
        b->check.timeout_ms = b->check.interval_ms; /* only the default can be: 1s */
    return 0;
}

static int parse_frontend(struct lb_config *c, struct lb_config_error *e, const struct node *n,
                          struct pending_ref *ref, const struct arg **backend_ref)
{
    if (lb_conf_want_block(e, n, 1) < 0)
        return -1;
    struct lb_frontend_conf *f = &c->frontends[c->nfrontends];
    memset(f, 0, sizeof *f);
    c->nfrontends++;
    if (lb_conf_arg_name(e, &n->args[0], f->name) < 0)
        return -1;
    for (size_t i = 0; i + 1 < c->nfrontends; i++)
        if (!strcmp(c->frontends[i].name, f->name))
            return lb_conf_fail_at(e, &n->args[0], "frontend '%s' is defined twice", f->name);
    f->backlog = 511;  /* nginx and Redis default backlog */
    f->maxconn = 4096; /* well under the descriptor limit: two per session */
    f->accept_proxy_timeout_ms = LB_PROXY_TIMEOUT_MS;
    f->mode = LB_MODE_TCP;
    lb_http_fe_defaults(&f->http);
    const struct arg *http_arg = NULL;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct node *d = &n->kids[i];
        const char *nm = d->name.s;
        if (strcmp(nm, "listen") && lb_conf_once(e, n->kids, i) < 0)
            return -1;
        if (lb_conf_hint("frontend", nm, d->nargs ? d->args[0].s : NULL))
            return lb_conf_unknown(e, d, "frontend");
        int rc = lb_conf_http_frontend(e, d, f, &http_arg);
        if (rc > 0)
            rc = lb_conf_proxy_frontend(e, d, f);
        if (rc < 0)
            return -1;
        if (rc == 0)
            continue;
        rc = lb_conf_profile_directive(c, e, d, &ref->inline_p, &ref->set, SIDE_CLIENT);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            if (!http_arg && !strcmp(nm, "client_close_first"))
                http_arg = &d->name; /* an http setting too: tcp mode relays the FINs */
            continue;
        }
        if (lb_conf_want_args(e, d, 1, 1) < 0)
            return -1;
        const struct arg *a = &d->args[0];
        if (!strcmp(nm, "listen")) {
            if (f->nlisten == LB_LISTEN_MAX)
                return lb_conf_fail_at(e, &d->name, "too many 'listen' lines (%d at most)",
                                       LB_LISTEN_MAX);
            if (lb_conf_arg_addr(e, a, &f->listen[f->nlisten], &f->listen_pos[f->nlisten]) < 0)
                return -1;
            f->nlisten++;
        } else if (!strcmp(nm, "backlog")) {
            uint32_t v;
            if (lb_conf_arg_count(e, a, 1, 65535, &v) < 0)
                return -1;
            f->backlog = (int)v;
        } else if (!strcmp(nm, "reuseport")) {
            if (lb_conf_arg_bool(e, a, &f->reuseport) < 0)
                return -1;
            if (f->reuseport && c->transport.kind == LB_TRANSPORT_STACK)
                return lb_conf_fail_at(e, &d->name,
                                       "'reuseport' shares a kernel listening socket; synfin's "
                                       "own TCP owns its addresses alone");
        } else if (!strcmp(nm, "maxconn")) {
            if (lb_conf_arg_count(e, a, 1, 1000000, &f->maxconn) < 0)
                return -1;
        } else if (!strcmp(nm, "backend")) {
            *backend_ref = a;
        } else if (!strcmp(nm, "profile")) {
            ref->profile = a;
        } else {
            return lb_conf_unknown(e, d, "frontend");
        }
    }
    if (!f->nlisten)
        return lb_conf_fail_at(e, &n->args[0], "frontend '%s' has no 'listen'", f->name);
    if (!*backend_ref)
        return lb_conf_fail_at(e, &n->args[0], "frontend '%s' has no 'backend'", f->name);
    if (lb_conf_proxy_frontend_check(e, n, f) < 0)
        return -1;
    if (http_arg && f->mode != LB_MODE_HTTP)
        return lb_conf_fail_at(e, http_arg,
                               "'%s' is an http setting: frontend '%s' needs 'mode http' for it",
                               http_arg->s, f->name);
    return 0;
}

static int parse_respond(struct lb_config *c, struct lb_config_error *e, const struct node *n)
{
    if (lb_conf_want_args(e, n, 2, 2) < 0)
        return -1;
    struct lb_respond_conf r;
    memset(&r, 0, sizeof r);
    if (lb_conf_arg_addr(e, &n->args[0], &r.listen, &r.listen_pos) < 0)
        return -1;
    if (strlen(n->args[1].s) > 65536)
        return lb_conf_fail_at(e, &n->args[1], "respond body too long (64 KiB at most)");
    r.body = strdup(n->args[1].s);
    struct lb_respond_conf *nr = realloc(c->responds, (c->nresponds + 1) * sizeof *nr);
    if (!r.body || !nr) {
        free(r.body);
        if (nr)
            c->responds = nr;
        return lb_conf_fail_at(e, &n->name, "out of memory");
    }
    c->responds = nr;
    c->responds[c->nresponds++] = r;
    return 0;
}

/* `transport kernel;` or `transport stack { ... }` (config_stack.c knows the words). */
static int parse_transport(struct lb_config *c, struct lb_config_error *e, const struct node *n)
{
    struct lb_transport_conf *t = &c->transport;
    if (n->nargs < 1)
        return lb_conf_fail_at(e, &n->name, "'transport' takes kernel or stack");
    const char *kind = n->args[0].s;
    if (!strcmp(kind, "kernel")) {
        if (lb_conf_want_args(e, n, 1, 1) < 0)
            return -1;
        t->kind = LB_TRANSPORT_KERNEL;
        return 0;
    }
    if (strcmp(kind, "stack"))
        return lb_conf_fail_at(e, &n->args[0], "unknown transport '%s' (kernel, stack)", kind);
    if (lb_conf_want_block(e, n, 1) < 0)
        return -1;
    t->kind = LB_TRANSPORT_STACK;
    char why[200];
    for (size_t i = 0; i < n->nkids; i++) {
        const struct node *d = &n->kids[i];
        if (strcmp(d->name.s, "address") && lb_conf_once(e, n->kids, i) < 0)
            return -1;
        char **args = calloc(d->nargs + 1, sizeof *args);
        if (!args)
            return lb_conf_fail_at(e, &d->name, "out of memory");
        for (size_t k = 0; k < d->nargs; k++)
            args[k] = d->args[k].s;
        int bad;
        int rc = d->block
                     ? 1
                     : lb_transport_directive(t, d->name.s, args, d->nargs, &bad, why, sizeof why);
        free(args);
        if (rc > 0)
            return lb_conf_fail_at(e, &d->name, "unknown directive '%s' in transport stack",
                                   d->name.s);
        if (rc < 0)
            return lb_conf_fail_at(e, bad >= 0 && (size_t)bad < d->nargs ? &d->args[bad] : &d->name,
                                   "%s", why);
    }
    if (lb_transport_finish(t, why, sizeof why) < 0)
        return lb_conf_fail_at(e, &n->name, "%s", why);
    return 0;
}

/* On the stack, every address synfin listens on or connects from is one the stack owns (IPv4
 * or IPv6), and every server can be reached from an address of its own family: the backend's
 * sources when it has some (all of the server's family), else the stack's own. */
static int check_stack_addresses(struct lb_config *c, struct lb_config_error *e,
                                 const struct node *top, size_t ntop)
{
    if (c->transport.kind != LB_TRANSPORT_STACK)
        return 0;
    size_t fi = 0, bi = 0, ri = 0;
    for (size_t i = 0; i < ntop; i++) {
        const struct node *n = &top[i];
        if (!strcmp(n->name.s, "respond")) {
            if (!lb_transport_owns(&c->transport, &c->responds[ri++].listen))
                return lb_conf_fail_at(
                    e, &n->args[0], "'%s' is not an address of the stack (transport stack address)",
                    n->args[0].s);
            continue;
        }
        int fe = !strcmp(n->name.s, "frontend"), be = !strcmp(n->name.s, "backend");
        if (!fe && !be)
            continue;
        for (size_t k = 0, li = 0; k < n->nkids; k++) {
            const struct node *d = &n->kids[k];
            if (!fe || strcmp(d->name.s, "listen"))
                continue;
            const struct lb_addr *a = &c->frontends[fi].listen[li++];
            if (!lb_transport_owns(&c->transport, a))
                return lb_conf_fail_at(
                    e, &d->args[0], "'%s' is not an address of the stack (transport stack address)",
                    d->args[0].s);
        }
        if (be) {
            const struct lb_profile *p = &c->backends[bi].profile;
            for (uint32_t s = 0; s < p->nsources; s++)
                if (!lb_transport_owns(&c->transport, &p->sources[s].addr))
                    return lb_conf_fail_at(e, &n->args[0],
                                           "backend '%s': its source addresses must be the stack's",
                                           c->backends[bi].name);
            for (size_t s = 0; s < c->backends[bi].nservers; s++) {
                const struct lb_server_conf *sv = &c->backends[bi].servers[s];
                int fam = sv->addr.u.sa.sa_family, ok = p->nsources > 0;
                for (uint32_t k = 0; k < p->nsources; k++)
                    ok &= p->sources[k].addr.u.sa.sa_family == fam;
                if (!ok && p->nsources)
                    return lb_conf_fail_at(e, &n->args[0],
                                           "backend '%s': server '%s' is %s, and so must be every "
                                           "source address",
                                           c->backends[bi].name, sv->name,
                                           fam == AF_INET6 ? "IPv6" : "IPv4");
                if (!p->nsources && !lb_transport_owns_family(&c->transport, fam))
                    return lb_conf_fail_at(e, &n->args[0],
                                           "backend '%s': server '%s' is %s and the stack has no "
                                           "%s address to connect from (transport stack address)",
                                           c->backends[bi].name, sv->name,
                                           fam == AF_INET6 ? "IPv6" : "IPv4",
                                           fam == AF_INET6 ? "IPv6" : "IPv4");
            }
        }
        fi += fe;
        bi += be;
    }
    return 0;
}

/* `threads N|auto`. On either transport: the stack gives each thread a queue of a
 * multi-queue TUN (docs/architecture.md, "The stack transport with threads"). */
static int parse_threads(struct lb_config *c, struct lb_config_error *e, const struct node *n)
{
    if (lb_conf_want_args(e, n, 1, 1) < 0)
        return -1;
    const struct arg *a = &n->args[0];
    if (!strcmp(a->s, "auto")) {
        cpu_set_t set;
        lb_conf_cpus_allowed(&set);
        int ncpu = CPU_COUNT(&set);
        c->threads = ncpu > 0 ? (uint32_t)(ncpu < LB_THREADS_MAX ? ncpu : LB_THREADS_MAX) : 1;
    } else if (lb_conf_arg_count(e, a, 1, LB_THREADS_MAX, &c->threads) < 0) {
        return -1;
    }
    c->threads_pos.line = a->line;
    c->threads_pos.col = a->col;
    return 0;
}

static int interpret(struct lb_config *c, struct lb_config_error *e, const struct node *top,
                     size_t ntop)
{
    size_t nf = 0, nb = 0;
    c->log_target = LB_LOG_STDERR;
    c->drain_timeout_ms = 30000; /* Kubernetes terminationGracePeriodSeconds 30 s */
    c->threads = 1;
    lb_transport_defaults(&c->transport);
    /* The transport first: it says which profile directives are allowed. */
    int have_transport = 0;
    for (size_t i = 0; i < ntop; i++) {
        if (strcmp(top[i].name.s, "transport"))
            continue;
        if (have_transport++)
            return lb_conf_once(e, top, i);
        if (parse_transport(c, e, &top[i]) < 0)
            return -1;
    }
    /* Profiles next: frontends and backends may name a profile defined below them. */
    for (size_t i = 0; i < ntop; i++) {
        if (!strcmp(top[i].name.s, "profile") && parse_profile_block(c, e, &top[i]) < 0)
            return -1;
        nf += !strcmp(top[i].name.s, "frontend");
        nb += !strcmp(top[i].name.s, "backend");
    }
    c->frontends = calloc(nf ? nf : 1, sizeof *c->frontends);
    c->backends = calloc(nb ? nb : 1, sizeof *c->backends);
    struct pending_ref *fref = calloc(nf ? nf : 1, sizeof *fref);
    struct pending_ref *bref = calloc(nb ? nb : 1, sizeof *bref);
    const struct arg **bnames = calloc(nf ? nf : 1, sizeof *bnames);
    int rc = -1;
    if (!c->frontends || !c->backends || !fref || !bref || !bnames) {
        lb_conf_fail(e, 0, 0, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < ntop; i++) {
        const struct node *n = &top[i];
        const char *nm = n->name.s;
        if (strcmp(nm, "profile") && strcmp(nm, "frontend") && strcmp(nm, "backend") &&
            strcmp(nm, "respond") && strcmp(nm, "cpu_map") && lb_conf_once(e, top, i) < 0)
            goto out;
        if (!strcmp(nm, "profile") || !strcmp(nm, "transport")) {
            continue;
        } else if (!strcmp(nm, "frontend")) {
            if (parse_frontend(c, e, n, &fref[c->nfrontends], &bnames[c->nfrontends]) < 0)
                goto out;
        } else if (!strcmp(nm, "backend")) {
            if (parse_backend(c, e, n, &bref[c->nbackends]) < 0)
                goto out;
        } else if (!strcmp(nm, "respond")) {
            if (parse_respond(c, e, n) < 0)
                goto out;
        } else if (!strcmp(nm, "admin")) {
            if (lb_conf_admin(c, e, n) < 0)
                goto out;
        } else if (!strcmp(nm, "log")) {
            if (lb_conf_parse_log(c, e, n) < 0)
                goto out;
        } else if (!strcmp(nm, "log_format")) {
            if (lb_conf_parse_log_format(c, e, n) < 0)
                goto out;
        } else if (!strcmp(nm, "announce")) {
            if (lb_conf_announce(c, e, n) < 0)
                goto out;
        } else if (!strcmp(nm, "drain_timeout")) {
            if (lb_conf_want_args(e, n, 1, 1) < 0 ||
                lb_conf_arg_duration(e, &n->args[0], 0, &c->drain_timeout_ms) < 0)
                goto out;
        } else if (!strcmp(nm, "threads")) {
            if (parse_threads(c, e, n) < 0)
                goto out;
        } else if (!strcmp(nm, "cpu_map")) {
            if (lb_conf_cpu_map(c, e, n) < 0)
                goto out;
        } else {
            lb_conf_unknown(e, n, NULL);
            goto out;
        }
    }
    if (c->nfrontends == 0 && c->nresponds == 0) {
        lb_conf_fail(e, 1, 1, "nothing to run: no frontend and no respond");
        goto out;
    }
    for (size_t i = 0; i < c->nfrontends; i++) {
        size_t j;
        for (j = 0; j < c->nbackends; j++)
            if (!strcmp(c->backends[j].name, bnames[i]->s))
                break;
        if (j == c->nbackends) {
            lb_conf_fail_at(e, bnames[i], "unknown backend '%s'", bnames[i]->s);
            goto out;
        }
        c->frontends[i].backend = j;
        if (lb_conf_http_check(c, e, i, bnames[i]) < 0)
            goto out;
        if (resolve_profile(c, e, &fref[i], &c->frontends[i].profile) < 0)
            goto out;
    }
    for (size_t i = 0; i < c->nbackends; i++)
        if (resolve_profile(c, e, &bref[i], &c->backends[i].profile) < 0)
            goto out;
    if (lb_conf_check(c, e) < 0 || check_stack_addresses(c, e, top, ntop) < 0 ||
        lb_conf_announce_check(c, e) < 0 || lb_conf_cpu_map_check(c, e) < 0)
        goto out;
    rc = 0;
out:
    free(fref);
    free(bref);
    free(bnames);
    return rc;
}

void lb_config_free(struct lb_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nbackends; i++)
        free(c->backends[i].servers);
    for (size_t i = 0; i < c->nresponds; i++)
        free(c->responds[i].body);
    free(c->backends);
    free(c->frontends);
    free(c->profiles);
    free(c->responds);
    free(c);
}

struct lb_config *lb_config_parse(const char *text, size_t len, struct lb_config_error *err)
{
    memset(err, 0, sizeof *err);
    for (size_t i = 0; i < len; i++)
        if (text[i] == 0) {
            lb_conf_fail(err, 0, 0, "the file contains a NUL byte");
            return NULL;
        }
    struct node *top;
    size_t ntop;
    struct lb_config *c = NULL;
    if (lb_conf_parse_tree(text, len, err, &top, &ntop) == 0) {
        c = calloc(1, sizeof *c);
        if (!c)
            lb_conf_fail(err, 0, 0, "out of memory");
        else if (interpret(c, err, top, ntop) < 0) {
            lb_config_free(c);
            c = NULL;
        }
    }
    lb_conf_free_nodes(top, ntop);
    return c;
}

const char *lb_balance_name(int b)
{
    static const char *const names[] = {"roundrobin", "leastconn", "source", "maglev"};
    return b >= 0 && b < 4 ? names[b] : "?";
}
