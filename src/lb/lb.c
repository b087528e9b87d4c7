/* The runtime: the per-batch hook, drain and stop, and the lifetime of objects a reload
 * removes (applying a configuration is apply.c). */
#include "lb/lb.h"
#include "lb/counter.h"
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
        if (sf_loop_timer_armed(&b->uneject))
            sf_loop_timer_cancel(b->lb->loop, &b->uneject);
        free(b->servers);
        free(b->maglev);
        free(b->maglev_srv);
        free(b);
    }
}

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
        /* Other threads' transports: what they published (the stack's engine counters, the
         * kernel's last pass over that thread's sockets), in the same census. */
        if (done == LB_CENSUS_DONE && lb->shared && lb->tp->ops->census_published)
            for (uint32_t t = 0; t < lb->shared->nthreads; t++)
                if (lb->shared->lb[t] != lb)
                    lb->tp->ops->census_published(lb->shared->lb[t]->tp, &scope, c);
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
        LB_COUNT_SET(lb->fe[i]->fd_paused, 0); /* nobody waits in a closed listener's backlog */
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
    if (lb->shared)
        pthread_mutex_destroy(&lb->call_mu);
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
        lb_backend_remove(lb, lb->be[i]);
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
