/* Applying a configuration: the first start, and a reload that keeps every live session.
 * A plan is made first (listeners opened, the log opened, new objects allocated); only when
 * all of it succeeded is the running state changed, by steps that cannot fail. */
#include "lb/lb.h"
#include "lb/counter.h"
#include "lb/log.h"
#include "lb/session.h"
#include "lb/source_ports.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct lb_listener *take_listener(struct lb *lb, const struct lb_addr *a)
{
    for (size_t i = 0; i < lb->nfe; i++) {
        struct lb_frontend *f = lb->fe[i];
        for (uint32_t k = 0; k < f->conf.nlisten; k++)
            if (f->listener[k] && lb_addr_equal(&f->conf.listen[k], a)) {
                struct lb_listener *l = f->listener[k];
                f->listener[k] = NULL;
                return l;
            }
    }
    for (size_t i = 0; i < lb->nrs; i++) {
        struct lb_respond *r = lb->rs[i];
        if (r->listener && lb_addr_equal(&r->conf.listen, a)) {
            struct lb_listener *l = r->listener;
            r->listener = NULL;
            return l;
        }
    }
    return NULL;
}

static struct lb_server *server_new(struct lb *lb, struct lb_backend *b,
                                    const struct lb_backend_conf *bc,
                                    const struct lb_server_conf *sc)
{
    struct lb_server *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    lb_pool_init(&s->pool, lb->loop);
    memcpy(s->name, sc->name, sizeof s->name);
    s->addr = sc->addr;
    s->weight = s->weight_conf = sc->weight;
    s->send_proxy = sc->send_proxy;
    s->maxconn = sc->maxconn;
    s->backup = sc->backup;
    s->backend = b;
    s->up = 1; /* up until checks say otherwise, as HAProxy starts */
    s->refs = 1;
    if (lb->shared) {
        /* Another thread may have made it already: its state is the process's. */
        s->sh = lb_shared_srv_get(lb->shared, bc->name, sc->name, &sc->addr, sc->weight);
        if (!s->sh) {
            free(s);
            return NULL;
        }
        s->up = atomic_load(&s->sh->up);
        s->admin_state = atomic_load(&s->sh->admin_state);
        s->weight = atomic_load(&s->sh->weight);
        s->sh_weight_gen = atomic_load(&s->sh->weight_gen);
    }
    return s;
}

/* A server leaves: its checks stop, its idle connections close (nothing would take them any
 * more), and those in use close when their request ends (lb_pool_put sees it removed). */
static void server_remove(struct lb *lb, struct lb_server *s)
{
    lb_health_stop(lb, s);
    lb_pool_purge(&s->pool, LB_PC_SERVER_GONE);
    s->removed = 1;
    lb_server_put(s);
}

/* Builds the new server list of b from bc, reusing servers with the same name and address
 * (their load, health and counters carry over). Nothing changes if memory runs out. */
static int backend_update(struct lb *lb, struct lb_backend *b, const struct lb_backend_conf *bc)
{
    struct lb_server **ns = calloc(bc->nservers, sizeof *ns);
    int *reuse = calloc(bc->nservers, sizeof *reuse);
    if (!ns || !reuse) {
        free(ns);
        free(reuse);
        return -1;
    }
    for (size_t i = 0; i < bc->nservers; i++) {
        const struct lb_server_conf *sc = &bc->servers[i];
        reuse[i] = -1;
        for (size_t j = 0; j < b->nservers; j++) {
            const struct lb_server *o = b->servers[j];
            if (!strcmp(o->name, sc->name) && lb_addr_equal(&o->addr, &sc->addr))
                reuse[i] = (int)j;
        }
        if (reuse[i] < 0 && !(ns[i] = server_new(lb, b, bc, sc))) {
            for (size_t k = 0; k < i; k++)
                if (reuse[k] < 0)
                    lb_server_put(ns[k]);
            free(ns);
            free(reuse);
            return -1;
        }
    }
    for (size_t i = 0; i < bc->nservers; i++) {
        if (reuse[i] < 0)
            continue;
        struct lb_server *o = b->servers[reuse[i]];
        b->servers[reuse[i]] = NULL;
        lb_server_reload_runtime(lb, o, &bc->servers[i]);
        o->send_proxy = bc->servers[i].send_proxy;
        o->maxconn = bc->servers[i].maxconn;
        o->backup = bc->servers[i].backup;
        ns[i] = o;
    }
    free(reuse);
    for (size_t j = 0; j < b->nservers; j++)
        if (b->servers[j])
            server_remove(lb, b->servers[j]);
    free(b->servers);
    b->servers = ns;
    b->nservers = bc->nservers;
    uint32_t old_size = b->conf.maglev_size;
    struct lb_source old_src[LB_SOURCES_MAX];
    uint32_t nold_src = b->conf.profile.nsources;
    memcpy(old_src, b->conf.profile.sources, sizeof old_src);
    b->conf = *bc;
    b->conf.servers = NULL;
    b->conf.nservers = 0;
    lb_source_ports_plan(lb, b, old_src, nold_src);
    if (b->maglev && old_size != bc->maglev_size) {
        free(b->maglev);
        b->maglev = NULL;
    }
    b->health_gen++;
    for (size_t i = 0; i < b->nservers; i++) {
        lb_pool_configure(&b->servers[i]->pool, &bc->http, &bc->profile);
        lb_health_stop(lb, b->servers[i]);
        lb_health_start(lb, b->servers[i]);
    }
    if (b->queued) {
        b->kick = 1;
        lb->kick_queues = 1;
    }
    return 0;
}

void lb_backend_remove(struct lb *lb, struct lb_backend *b)
{
    for (size_t j = 0; j < b->nservers; j++)
        server_remove(lb, b->servers[j]);
    b->nservers = 0;
    b->removed = 1;
    b->health_gen++;
    sf_loop_timer_cancel(lb->loop, &b->uneject);
    if (b->queued) {
        /* Queued sessions find no server any more: they end on the next queue run. */
        lb_backend_run_queue(lb, b);
    }
    lb_backend_put(b);
}

struct plan {
    struct lb_frontend **fe;
    struct lb_backend **be;
    struct lb_respond **rs;
    /* listeners for the new frontends (LB_LISTEN_MAX each, by listen line) / responders */
    struct lb_listener **fl, **rl;
    int *fl_new, *rl_new;   /* opened for this plan (closed if it fails) */
    int *be_new;            /* created for this plan */
    struct lb_log_dest log; /* the log destination, opened before the commit */
};

static void plan_free(struct plan *p)
{
    lb_log_discard(&p->log);
    free(p->fe);
    free(p->be);
    free(p->rs);
    free(p->fl);
    free(p->rl);
    free(p->fl_new);
    free(p->rl_new);
    free(p->be_new);
}

static int open_listener(struct lb *lb, const struct lb_listen_opts *o, struct lb_listener **out,
                         char *err, size_t errlen, const char *what)
{
    /* The handler is set when the owner adopts it. */
    int rc = lb_listen(lb->tp, o, NULL, NULL, out);
    if (rc < 0) {
        char a[LB_ADDR_STRLEN];
        snprintf(err, errlen, "%s: cannot listen on %s: %s", what,
                 lb_addr_format(&o->addr, a, sizeof a), strerror(-rc));
        return -1;
    }
    return 0;
}

static void frontend_listen_opts(const struct lb *lb, const struct lb_frontend_conf *fc, uint32_t k,
                                 struct lb_listen_opts *o)
{
    memset(o, 0, sizeof *o);
    o->addr = fc->listen[k];
    o->backlog = fc->backlog;
    /* With threads every thread listens on the address itself (docs/architecture.md). */
    o->reuseport = fc->reuseport || lb->shared;
    o->defer_accept_s = fc->profile.defer_accept ? 1 : 0;
    lb_profile_sockopts(&fc->profile, &o->sock);
}

/* A running frontend or responder already listens on a: the reload keeps its socket. */
static int address_held(const struct lb *lb, const struct lb_addr *a)
{
    for (size_t k = 0; k < lb->nfe; k++)
        for (uint32_t j = 0; j < lb->fe[k]->conf.nlisten; j++)
            if (lb->fe[k]->listener[j] && lb_addr_equal(&lb->fe[k]->conf.listen[j], a))
                return 1;
    for (size_t k = 0; k < lb->nrs; k++)
        if (lb->rs[k]->listener && lb_addr_equal(&lb->rs[k]->conf.listen, a))
            return 1;
    return 0;
}

/* Step 1 of a reload, which may fail: every listening socket the new config needs, taken
 * over from the running config where the address is unchanged, opened otherwise. */
static int plan_listeners(struct lb *lb, const struct lb_config *c, struct plan *p, char *err,
                          size_t errlen)
{
    /* Find reusable ones without taking them yet: a failure must leave lb untouched. */
    for (size_t i = 0; i < c->nfrontends; i++) {
        for (uint32_t k = 0; k < c->frontends[i].nlisten; k++) {
            struct lb_listen_opts o;
            frontend_listen_opts(lb, &c->frontends[i], k, &o);
            if (address_held(lb, &o.addr))
                continue;
            char what[LB_NAME_MAX + 16];
            snprintf(what, sizeof what, "frontend %s", c->frontends[i].name);
            size_t at = i * LB_LISTEN_MAX + k;
            if (open_listener(lb, &o, &p->fl[at], err, errlen, what) < 0)
                return -1;
            p->fl_new[at] = 1;
        }
    }
    for (size_t i = 0; i < c->nresponds; i++) {
        struct lb_listen_opts o;
        memset(&o, 0, sizeof o);
        o.addr = c->responds[i].listen;
        o.backlog = 511;
        o.sock.nodelay = 1;
        o.reuseport = lb->shared != NULL;
        if (address_held(lb, &o.addr))
            continue;
        if (open_listener(lb, &o, &p->rl[i], err, errlen, "respond") < 0)
            return -1;
        p->rl_new[i] = 1;
    }
    return 0;
}

static void plan_abort(const struct lb_config *c, struct plan *p)
{
    for (size_t i = 0; i < c->nfrontends * LB_LISTEN_MAX; i++)
        if (p->fl_new[i] && p->fl[i])
            lb_listener_close(p->fl[i]);
    for (size_t i = 0; i < c->nresponds; i++)
        if (p->rl_new[i] && p->rl[i])
            lb_listener_close(p->rl[i]);
}

static int plan_alloc(const struct lb_config *c, struct plan *p)
{
    memset(p, 0, sizeof *p);
    size_t nf = c->nfrontends ? c->nfrontends : 1, nb = c->nbackends ? c->nbackends : 1;
    size_t nr = c->nresponds ? c->nresponds : 1;
    p->fe = calloc(nf, sizeof *p->fe);
    p->be = calloc(nb, sizeof *p->be);
    p->rs = calloc(nr, sizeof *p->rs);
    p->fl = calloc(nf * LB_LISTEN_MAX, sizeof *p->fl);
    p->rl = calloc(nr, sizeof *p->rl);
    p->fl_new = calloc(nf * LB_LISTEN_MAX, sizeof *p->fl_new);
    p->rl_new = calloc(nr, sizeof *p->rl_new);
    p->be_new = calloc(nb, sizeof *p->be_new);
    return p->fe && p->be && p->rs && p->fl && p->rl && p->fl_new && p->rl_new && p->be_new ? 0
                                                                                            : -1;
}

/* The objects the new configuration names: the running ones kept by name (frontends,
 * backends) or address (responders), new ones allocated, before anything running changes. */
static int plan_objects(struct lb *lb, const struct lb_config *c, struct plan *p)
{
    for (size_t i = 0; i < c->nbackends; i++) {
        for (size_t k = 0; k < lb->nbe; k++)
            if (!strcmp(lb->be[k]->conf.name, c->backends[i].name))
                p->be[i] = lb->be[k];
        if (!p->be[i]) {
            p->be[i] = calloc(1, sizeof *p->be[i]);
            if (!p->be[i])
                return -1;
            p->be[i]->refs = 1;
            p->be[i]->health_gen = 1;
            p->be[i]->lb = lb;
            p->be[i]->uneject.fn = lb_backend_unejected;
            p->be_new[i] = 1;
        }
    }
    for (size_t i = 0; i < c->nfrontends; i++) {
        for (size_t k = 0; k < lb->nfe; k++)
            if (!strcmp(lb->fe[k]->conf.name, c->frontends[i].name))
                p->fe[i] = lb->fe[k];
        if (!p->fe[i]) {
            p->fe[i] = calloc(1, sizeof *p->fe[i]);
            if (!p->fe[i])
                return -1;
            p->fe[i]->refs = 1;
            p->fe[i]->lb = lb;
        }
    }
    for (size_t i = 0; i < c->nresponds; i++) {
        for (size_t k = 0; k < lb->nrs; k++)
            if (lb_addr_equal(&lb->rs[k]->conf.listen, &c->responds[i].listen))
                p->rs[i] = lb->rs[k];
        if (!p->rs[i]) {
            p->rs[i] = calloc(1, sizeof *p->rs[i]);
            if (!p->rs[i])
                return -1;
            p->rs[i]->refs = 1;
            p->rs[i]->lb = lb;
            p->rs[i]->conf.listen = c->responds[i].listen;
            if (!(p->rs[i]->conf.body = strdup(c->responds[i].body)) ||
                lb_respond_set_body(p->rs[i], p->rs[i]->conf.body) < 0)
                return -1;
        }
    }
    /* New backends get their server objects before the commit point too. */
    for (size_t i = 0; i < c->nbackends; i++)
        if (p->be_new[i] && backend_update(lb, p->be[i], &c->backends[i]) < 0)
            return -1;
    return 0;
}

/* Commit: responders' bodies and kept backends' servers take the new values (a memory
 * shortage keeps the old ones), backends no longer named go. */
static void commit_backends(struct lb *lb, const struct lb_config *c, struct plan *p)
{
    for (size_t i = 0; i < c->nresponds; i++) {
        struct lb_respond *r = p->rs[i];
        if (strcmp(r->conf.body, c->responds[i].body) != 0) {
            char *body = strdup(c->responds[i].body);
            if (body && lb_respond_set_body(r, body) == 0) {
                free(r->conf.body);
                r->conf.body = body;
            } else {
                free(body);
            }
        }
    }
    for (size_t i = 0; i < c->nbackends; i++)
        if (!p->be_new[i])
            if (backend_update(lb, p->be[i], &c->backends[i]) < 0)
                lb_logf(lb,
                        "event=reload_warning backend=%s error=\"out of memory; servers "
                        "unchanged\"",
                        c->backends[i].name);
    for (size_t k = 0; k < lb->nbe; k++) {
        int kept = 0;
        for (size_t i = 0; i < c->nbackends; i++)
            kept |= p->be[i] == lb->be[k];
        if (!kept)
            lb_backend_remove(lb, lb->be[k]);
    }
}

/* Commit: every listening socket kept is taken from its old owner first, then the old
 * owners close what nobody took: an address may move between frontends and responders, or
 * swap. */
static void commit_listeners(struct lb *lb, const struct lb_config *c, struct plan *p)
{
    for (size_t i = 0; i < c->nfrontends; i++)
        for (uint32_t k = 0; k < c->frontends[i].nlisten; k++) {
            size_t at = i * LB_LISTEN_MAX + k;
            if (!p->fl[at])
                p->fl[at] = take_listener(lb, &c->frontends[i].listen[k]);
        }
    for (size_t i = 0; i < c->nresponds; i++)
        if (!p->rl[i] && !p->rs[i]->listener)
            p->rl[i] = take_listener(lb, &c->responds[i].listen);
    for (size_t i = 0; i < c->nfrontends; i++) {
        struct lb_frontend *f = p->fe[i];
        uint64_t counts[LB_LISTEN_MAX] = {0}; /* an address kept keeps its count */
        for (uint32_t k = 0; k < c->frontends[i].nlisten; k++)
            for (uint32_t j = 0; j < f->conf.nlisten; j++)
                if (lb_addr_equal(&f->conf.listen[j], &c->frontends[i].listen[k]))
                    counts[k] = f->listen_sessions[j];
        memcpy(f->listen_sessions, counts, sizeof counts);
        lb_frontend_close(f);
        f->conf = c->frontends[i];
        f->backend = p->be[c->frontends[i].backend];
        if (lb->shared && !f->sh)
            f->sh = lb_shared_fe_get(lb->shared, f->conf.name); /* NULL: counted here alone */
        f->next_listener = 0;
        for (uint32_t k = 0; k < f->conf.nlisten; k++) {
            size_t at = i * LB_LISTEN_MAX + k;
            if (p->fl[at])
                lb_frontend_adopt(f, k, p->fl[at]);
            p->fl[at] = NULL; /* f owns it now */
            p->fl_new[at] = 0;
        }
    }
    for (size_t i = 0; i < c->nresponds; i++) {
        if (p->rl[i])
            lb_respond_adopt(p->rs[i], p->rl[i]);
        p->rl[i] = NULL; /* the responder owns it now */
        p->rl_new[i] = 0;
    }
}

/* Commit: frontends and responders no longer named go; lb takes the plan's arrays. */
static void commit_objects(struct lb *lb, const struct lb_config *c, struct plan *p)
{
    for (size_t k = 0; k < lb->nfe; k++) {
        int kept = 0;
        for (size_t i = 0; i < c->nfrontends; i++)
            kept |= p->fe[i] == lb->fe[k];
        if (!kept) {
            struct lb_frontend *f = lb->fe[k];
            lb_frontend_close(f);
            f->removed = 1;
            lb_frontend_put(f);
        }
    }
    for (size_t k = 0; k < lb->nrs; k++) {
        int kept = 0;
        for (size_t i = 0; i < c->nresponds; i++)
            kept |= p->rs[i] == lb->rs[k];
        if (!kept) {
            struct lb_respond *r = lb->rs[k];
            if (r->listener)
                lb_listener_close(r->listener);
            r->listener = NULL;
            r->removed = 1;
            lb_respond_put(r);
        }
    }
    free(lb->fe);
    free(lb->be);
    free(lb->rs);
    lb->fe = p->fe;
    lb->nfe = c->nfrontends;
    lb->be = p->be;
    lb->nbe = c->nbackends;
    lb->rs = p->rs;
    lb->nrs = c->nresponds;
    p->fe = NULL;
    p->be = NULL;
    p->rs = NULL;
}

/* A plan that failed: what it opened is closed (plan_abort), what it created and lb cannot
 * reach is freed. */
static void plan_unwind(struct lb *lb, const struct lb_config *c, struct plan *p)
{
    plan_abort(c, p);
    for (size_t i = 0; i < c->nbackends; i++) {
        if (p->be[i] && p->be_new[i]) {
            for (size_t j = 0; j < p->be[i]->nservers; j++) {
                lb_health_stop(lb, p->be[i]->servers[j]);
                lb_server_put(p->be[i]->servers[j]);
            }
            lb_backend_put(p->be[i]);
        }
    }
    for (size_t i = 0; i < c->nfrontends; i++) {
        int old = 0;
        for (size_t k = 0; k < lb->nfe; k++)
            old |= p->fe[i] == lb->fe[k];
        if (p->fe[i] && !old)
            free(p->fe[i]);
    }
    for (size_t i = 0; i < c->nresponds; i++) {
        int old = 0;
        for (size_t k = 0; k < lb->nrs; k++)
            old |= p->rs[i] == lb->rs[k];
        if (p->rs[i] && !old)
            lb_respond_put(p->rs[i]);
    }
    plan_free(p);
}

int lb_apply(struct lb *lb, const struct lb_config *c, char *err, size_t errlen)
{
    struct plan p;
    if (plan_alloc(c, &p) < 0) {
        snprintf(err, errlen, "out of memory");
        plan_free(&p);
        return -1;
    }
    if (plan_listeners(lb, c, &p, err, errlen) < 0) {
        plan_unwind(lb, c, &p);
        return -1;
    }
    int lrc = lb_log_prepare(c, &p.log);
    if (lrc < 0) {
        snprintf(err, errlen, "cannot open log %s: %s", c->log_path, strerror(-lrc));
        plan_unwind(lb, c, &p);
        return -1;
    }
    if (plan_objects(lb, c, &p) < 0) {
        snprintf(err, errlen, "out of memory");
        plan_unwind(lb, c, &p);
        return -1;
    }
    /* ---- commit: from here on nothing fails ---- */
    commit_backends(lb, c, &p);
    commit_listeners(lb, c, &p);
    commit_objects(lb, c, &p);
    lb->drain_timeout_ms = c->drain_timeout_ms;
    lb_room_plan(lb);
    lb_log_set(lb, &p.log);
    p.log.f = NULL;
    p.log.owned = 0;
    lb_source_ports_log(lb);
    lb->kick_accept = 1;
    for (size_t i = 0; i < lb->nfe; i++)
        LB_COUNT_SET(lb->fe[i]->paused, 1); /* accept whatever waits, after this batch */
    if (lb->shared)
        lb_thread_applied(lb);
    plan_free(&p);
    return 0;
}
