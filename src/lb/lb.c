/* The runtime: applying a configuration (first start and reload), the per-batch hook,
 * drain and stop, and the lifetime of objects a reload removes. */
#include "lb/lb.h"
#include "lb/http_session.h"
#include "lb/log.h"
#include "lb/session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Free buffers kept for reuse: enough for a few thousand busy pipes at 16 KiB. */
#define POOL_KEEP (64u << 20)

static void after_batch(struct sf_hook *h)
{
    struct lb *lb = CONTAINER(h, struct lb, hook);
    while (lb->kick_queues) {
        lb->kick_queues = 0;
        for (size_t i = 0; i < lb->nbe; i++) {
            struct lb_backend *b = lb->be[i];
            if (b->kick) {
                b->kick = 0;
                lb_backend_run_queue(lb, b);
            }
        }
    }
    if (lb->kick_accept) {
        lb->kick_accept = 0;
        for (size_t i = 0; i < lb->nfe; i++)
            if (lb->fe[i]->paused && !sf_loop_timer_armed(&lb->fe[i]->retry))
                lb_frontend_accept(lb->fe[i]);
    }
    if (lb->fd_short)
        lb_fd_resume(lb);
    if (lb->shared)
        lb_thread_after_batch(lb);
    if (lb->log)
        fflush(lb->log);
}

struct lb *lb_new(struct sf_loop *loop, struct lb_transport *tp)
{
    struct lb *lb = calloc(1, sizeof *lb);
    if (!lb)
        return NULL;
    lb->loop = loop;
    lb->tp = tp;
    lb_bufpool_init(&lb->pool, POOL_KEEP);
    lb->hook.fn = after_batch;
    sf_loop_add_hook(loop, &lb->hook);
    lb->started_ns = sf_loop_now(loop);
    return lb;
}

void lb_aux_add(struct lb *lb, struct lb_aux *a, struct lb_conn *c)
{
    a->conn = c;
    a->prev = NULL;
    a->next = lb->aux;
    if (lb->aux)
        lb->aux->prev = a;
    lb->aux = a;
}

void lb_aux_del(struct lb *lb, struct lb_aux *a)
{
    if (a->prev)
        a->prev->next = a->next;
    else
        lb->aux = a->next;
    if (a->next)
        a->next->prev = a->prev;
    a->prev = a->next = NULL;
}

void lb_frontend_put(struct lb_frontend *f)
{
    if (--f->refs == 0) {
        sf_loop_timer_cancel(f->lb->loop, &f->retry);
        lb_shared_fe_put(f->sh);
        free(f);
    }
}

void lb_server_put(struct lb_server *s)
{
    if (--s->refs == 0) {
        lb_shared_srv_put(s->sh);
        free(s);
    }
}

void lb_backend_put(struct lb_backend *b)
{
    if (--b->refs == 0) {
        free(b->servers);
        free(b->maglev);
        free(b->maglev_srv);
        free(b);
    }
}

/* ---- applying a configuration ---- */

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
    b->conf = *bc;
    b->conf.servers = NULL;
    b->conf.nservers = 0;
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

static void backend_remove(struct lb *lb, struct lb_backend *b)
{
    for (size_t j = 0; j < b->nservers; j++)
        server_remove(lb, b->servers[j]);
    b->nservers = 0;
    b->removed = 1;
    b->health_gen++;
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

int lb_apply(struct lb *lb, const struct lb_config *c, char *err, size_t errlen)
{
    struct plan p;
    p.log = (struct lb_log_dest){NULL, 0};
    size_t nf = c->nfrontends ? c->nfrontends : 1, nb = c->nbackends ? c->nbackends : 1;
    size_t nr = c->nresponds ? c->nresponds : 1;
    p.fe = calloc(nf, sizeof *p.fe);
    p.be = calloc(nb, sizeof *p.be);
    p.rs = calloc(nr, sizeof *p.rs);
    p.fl = calloc(nf * LB_LISTEN_MAX, sizeof *p.fl);
    p.rl = calloc(nr, sizeof *p.rl);
    p.fl_new = calloc(nf * LB_LISTEN_MAX, sizeof *p.fl_new);
    p.rl_new = calloc(nr, sizeof *p.rl_new);
    p.be_new = calloc(nb, sizeof *p.be_new);
    if (!p.fe || !p.be || !p.rs || !p.fl || !p.rl || !p.fl_new || !p.rl_new || !p.be_new) {
        snprintf(err, errlen, "out of memory");
        plan_free(&p);
        return -1;
    }
    if (plan_listeners(lb, c, &p, err, errlen) < 0)
        goto fail;
    int lrc = lb_log_prepare(c, &p.log);
    if (lrc < 0) {
        snprintf(err, errlen, "cannot open log %s: %s", c->log_path, strerror(-lrc));
        goto fail;
    }
    /* New objects are allocated before anything running is changed. */
    for (size_t i = 0; i < c->nbackends; i++) {
        for (size_t k = 0; k < lb->nbe; k++)
            if (!strcmp(lb->be[k]->conf.name, c->backends[i].name))
                p.be[i] = lb->be[k];
        if (!p.be[i]) {
            p.be[i] = calloc(1, sizeof *p.be[i]);
            if (!p.be[i])
                goto oom;
            p.be[i]->refs = 1;
            p.be[i]->health_gen = 1;
            p.be_new[i] = 1;
        }
    }
    for (size_t i = 0; i < c->nfrontends; i++) {
        for (size_t k = 0; k < lb->nfe; k++)
            if (!strcmp(lb->fe[k]->conf.name, c->frontends[i].name))
                p.fe[i] = lb->fe[k];
        if (!p.fe[i]) {
            p.fe[i] = calloc(1, sizeof *p.fe[i]);
            if (!p.fe[i])
                goto oom;
            p.fe[i]->refs = 1;
            p.fe[i]->lb = lb;
        }
    }
    for (size_t i = 0; i < c->nresponds; i++) {
        for (size_t k = 0; k < lb->nrs; k++)
            if (lb_addr_equal(&lb->rs[k]->conf.listen, &c->responds[i].listen))
                p.rs[i] = lb->rs[k];
        if (!p.rs[i]) {
            p.rs[i] = calloc(1, sizeof *p.rs[i]);
            if (!p.rs[i])
                goto oom;
            p.rs[i]->refs = 1;
            p.rs[i]->lb = lb;
            p.rs[i]->conf.listen = c->responds[i].listen;
            if (!(p.rs[i]->conf.body = strdup(c->responds[i].body)) ||
                lb_respond_set_body(p.rs[i], p.rs[i]->conf.body) < 0)
                goto oom;
        }
    }
    /* New backends get their server objects before the commit point too. */
    for (size_t i = 0; i < c->nbackends; i++)
        if (p.be_new[i] && backend_update(lb, p.be[i], &c->backends[i]) < 0)
            goto oom;

    /* ---- commit: from here on nothing fails (memory shortages keep the old values) ---- */
    for (size_t i = 0; i < c->nresponds; i++) {
        struct lb_respond *r = p.rs[i];
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
        if (!p.be_new[i])
            if (backend_update(lb, p.be[i], &c->backends[i]) < 0)
                lb_logf(lb,
                        "event=reload_warning backend=%s error=\"out of memory; servers "
                        "unchanged\"",
                        c->backends[i].name);
    for (size_t k = 0; k < lb->nbe; k++) {
        int kept = 0;
        for (size_t i = 0; i < c->nbackends; i++)
            kept |= p.be[i] == lb->be[k];
        if (!kept)
            backend_remove(lb, lb->be[k]);
    }
    /* Every listening socket kept is taken from its old owner first, then the old owners
     * close what nobody took: an address may move between frontends and responders, or
     * swap. */
    for (size_t i = 0; i < c->nfrontends; i++)
        for (uint32_t k = 0; k < c->frontends[i].nlisten; k++) {
            size_t at = i * LB_LISTEN_MAX + k;
            if (!p.fl[at])
                p.fl[at] = take_listener(lb, &c->frontends[i].listen[k]);
        }
    for (size_t i = 0; i < c->nresponds; i++)
        if (!p.rl[i] && !p.rs[i]->listener)
            p.rl[i] = take_listener(lb, &c->responds[i].listen);
    for (size_t i = 0; i < c->nfrontends; i++) {
        struct lb_frontend *f = p.fe[i];
        uint64_t counts[LB_LISTEN_MAX] = {0}; /* an address kept keeps its count */
        for (uint32_t k = 0; k < c->frontends[i].nlisten; k++)
            for (uint32_t j = 0; j < f->conf.nlisten; j++)
                if (lb_addr_equal(&f->conf.listen[j], &c->frontends[i].listen[k]))
                    counts[k] = f->listen_sessions[j];
        memcpy(f->listen_sessions, counts, sizeof counts);
        lb_frontend_close(f);
        f->conf = c->frontends[i];
        f->backend = p.be[c->frontends[i].backend];
        if (lb->shared && !f->sh)
            f->sh = lb_shared_fe_get(lb->shared, f->conf.name); /* NULL: counted here alone */
        f->next_listener = 0;
        for (uint32_t k = 0; k < f->conf.nlisten; k++) {
            size_t at = i * LB_LISTEN_MAX + k;
            if (p.fl[at])
                lb_frontend_adopt(f, k, p.fl[at]);
            p.fl[at] = NULL; /* f owns it now */
            p.fl_new[at] = 0;
        }
    }
    for (size_t i = 0; i < c->nresponds; i++) {
        if (p.rl[i])
            lb_respond_adopt(p.rs[i], p.rl[i]);
        p.rl[i] = NULL; /* the responder owns it now */
        p.rl_new[i] = 0;
    }
    for (size_t k = 0; k < lb->nfe; k++) {
        int kept = 0;
        for (size_t i = 0; i < c->nfrontends; i++)
            kept |= p.fe[i] == lb->fe[k];
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
            kept |= p.rs[i] == lb->rs[k];
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
    lb->fe = p.fe;
    lb->nfe = c->nfrontends;
    lb->be = p.be;
    lb->nbe = c->nbackends;
    lb->rs = p.rs;
    lb->nrs = c->nresponds;
    p.fe = NULL;
    p.be = NULL;
    p.rs = NULL;
    lb->drain_timeout_ms = c->drain_timeout_ms;
    lb_room_plan(lb);
    lb_log_set(lb, &p.log);
    p.log.f = NULL;
    p.log.owned = 0;
    lb->kick_accept = 1;
    for (size_t i = 0; i < lb->nfe; i++)
        lb->fe[i]->paused = 1; /* accept whatever waits, after this batch */
    if (lb->shared)
        lb_thread_applied(lb);
    plan_free(&p);
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    plan_abort(c, &p);
    /* Objects created for this plan and not yet reachable from lb. */
    for (size_t i = 0; i < c->nbackends; i++) {
        if (p.be[i] && p.be_new[i]) {
            for (size_t j = 0; j < p.be[i]->nservers; j++) {
                lb_health_stop(lb, p.be[i]->servers[j]);
                lb_server_put(p.be[i]->servers[j]);
            }
            lb_backend_put(p.be[i]);
        }
    }
    for (size_t i = 0; i < c->nfrontends; i++) {
        int old = 0;
        for (size_t k = 0; k < lb->nfe; k++)
            old |= p.fe[i] == lb->fe[k];
        if (p.fe[i] && !old)
            free(p.fe[i]);
    }
    for (size_t i = 0; i < c->nresponds; i++) {
        int old = 0;
        for (size_t k = 0; k < lb->nrs; k++)
            old |= p.rs[i] == lb->rs[k];
        if (p.rs[i] && !old)
            lb_respond_put(p.rs[i]);
    }
    plan_free(&p);
    return -1;
}

/* ---- census ---- */

int lb_census_step(struct lb *lb, struct lb_census *c, unsigned budget)
{
    size_t nsrv = 0;
    for (size_t i = 0; i < lb->nbe; i++)
        nsrv += lb->be[i]->nservers;
    /* The scope is built for each slice: a reload between two slices may free the
     * addresses the previous one pointed to. */
    size_t nfl = 0;
    for (size_t i = 0; i < lb->nfe; i++)
        nfl += lb->fe[i]->conf.nlisten;
    const struct lb_addr **fe = calloc(nfl + 1, sizeof *fe);
    const struct lb_addr **rs = calloc(lb->nrs + 1, sizeof *rs);
    struct lb_census_server *sv = calloc(nsrv + 1, sizeof *sv);
    int done = 1;
    if (!fe || !rs || !sv) {
        c->diag_error = -ENOMEM;
    } else {
        size_t nf = 0;
        for (size_t i = 0; i < lb->nfe; i++)
            for (uint32_t k = 0; k < lb->fe[i]->conf.nlisten; k++)
                fe[nf++] = &lb->fe[i]->conf.listen[k];
        for (size_t i = 0; i < lb->nrs; i++)
            rs[i] = &lb->rs[i]->conf.listen;
        size_t n = 0;
        for (size_t i = 0; i < lb->nbe; i++) {
            const struct lb_profile *p = &lb->be[i]->conf.profile;
            for (size_t j = 0; j < lb->be[i]->nservers; j++)
                sv[n++] = (struct lb_census_server){&lb->be[i]->servers[j]->addr, p->sources,
                                                    p->nsources};
        }
        struct lb_census_scope scope = {fe, rs, nf, lb->nrs, sv, n};
        done = lb_transport_census(lb->tp, &scope, c, budget);
    }
    free(fe);
    free(rs);
    free(sv);
    return done;
}

/* ---- session cursors ---- */

void lb_cursor_open(struct lb *lb, struct lb_session_cursor *k)
{
    k->at = lb->sessions;
    k->prev = NULL;
    k->next = lb->cursors;
    if (lb->cursors)
        lb->cursors->prev = k;
    lb->cursors = k;
}

void lb_cursor_close(struct lb *lb, struct lb_session_cursor *k)
{
    if (k->prev)
        k->prev->next = k->next;
    else
        lb->cursors = k->next;
    if (k->next)
        k->next->prev = k->prev;
    k->prev = k->next = NULL;
    k->at = NULL;
}

void lb_cursors_skip(struct lb *lb, const struct lb_session *s)
{
    for (struct lb_session_cursor *k = lb->cursors; k; k = k->next)
        if (k->at == s)
            k->at = s->next;
}

/* ---- drain, stop, free ---- */

static void drain_deadline(struct sf_loop_timer *t)
{
    struct lb *lb = CONTAINER(t, struct lb, drain_timer);
    lb_logf(lb, "event=drain_deadline sessions=%u", lb->nsessions);
    while (lb->sessions)
        lb_session_kill(lb->sessions, LB_CAUSE_DRAIN);
}

void lb_drain(struct lb *lb)
{
    if (lb->draining)
        return;
    lb->draining = 1;
    for (size_t i = 0; i < lb->nfe; i++) {
        lb_frontend_close(lb->fe[i]);
        lb->fe[i]->fd_paused = 0; /* nobody waits in a closed listener's backlog */
    }
    lb_logf(lb, "event=drain sessions=%u deadline_ms=%llu", lb->nsessions,
            (unsigned long long)lb->drain_timeout_ms);
    /* http mode: idle server connections close now, idle client connections too, and the
     * others after the response in flight. */
    for (size_t i = 0; i < lb->nbe; i++)
        for (size_t j = 0; j < lb->be[i]->nservers; j++)
            lb_pool_purge(&lb->be[i]->servers[j]->pool, LB_PC_SERVER_GONE);
    if (lb->nsessions == 0) {
        if (lb->on_idle)
            lb->on_idle(lb);
        return;
    }
    for (struct lb_session *s = lb->sessions, *next; s; s = next) {
        next = s->next;
        if (s->http)
            lb_http_drain(s); /* the last one to end calls on_idle */
    }
    if (lb->nsessions == 0)
        return;
    lb->drain_timer.fn = drain_deadline;
    if (sf_loop_timer_set(lb->loop, &lb->drain_timer,
                          sf_loop_now(lb->loop) + lb->drain_timeout_ms * SF_NSEC_PER_MS) < 0)
        drain_deadline(&lb->drain_timer);
}

void lb_stop(struct lb *lb)
{
    lb->stopping = 1;
    while (lb->sessions)
        lb_session_kill(lb->sessions, LB_CAUSE_STOP);
}

int lb_kill_session(struct lb *lb, uint64_t id)
{
    for (struct lb_session *s = lb->sessions; s; s = s->next)
        if (s->id == id) {
            lb_session_kill(s, LB_CAUSE_ADMIN_KILL);
            return 0;
        }
    return -1;
}

void lb_free(struct lb *lb)
{
    if (!lb)
        return;
    lb->draining = 0; /* no on_idle callbacks while tearing down */
    lb_stop(lb);
    sf_loop_timer_cancel(lb->loop, &lb->drain_timer);
    sf_loop_timer_cancel(lb->loop, &lb->sync);
    if (lb->shared && lb->wake.fd >= 0)
        close(lb->wake.fd); /* closing removes it from the loop */
    for (size_t i = 0; i < lb->nbe; i++)
        for (size_t j = 0; j < lb->be[i]->nservers; j++)
            lb_health_stop(lb, lb->be[i]->servers[j]);
    while (lb->aux) {
        struct lb_aux *a = lb->aux;
        if (a->kill) {
            a->kill(a);
        } else {
            lb_conn_abort(a->conn);
            lb_aux_del(lb, a);
        }
    }
    for (size_t i = 0; i < lb->nfe; i++) {
        lb_frontend_close(lb->fe[i]);
        lb_frontend_put(lb->fe[i]);
    }
    for (size_t i = 0; i < lb->nbe; i++)
        backend_remove(lb, lb->be[i]);
    for (size_t i = 0; i < lb->nrs; i++) {
        if (lb->rs[i]->listener)
            lb_listener_close(lb->rs[i]->listener);
        lb->rs[i]->listener = NULL;
        lb_respond_put(lb->rs[i]);
    }
    free(lb->fe);
    free(lb->be);
    free(lb->rs);
    lb_log_close(lb);
    lb_bufpool_clear(&lb->pool);
    /* The loop outlives lb (the transport's teardown still walks its hooks). */
    sf_loop_del_hook(lb->loop, &lb->hook);
    free(lb);
}
