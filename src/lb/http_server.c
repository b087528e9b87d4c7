/* The server side of an http request: a server chosen for it (the backend's `balance`, per
 * request), an idle connection taken under its http_reuse rule or a new one made (connect,
 * retries on other servers, waiting for room), the one retry of a request that failed on a
 * reused connection, and the connection given back when the request is over: to its
 * server's pool, to the client's own keeping (http_reuse never), or closed. */
#include "lb/http_session.h"
#include "lb/counter.h"
#include "lb/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* As for layer-4 sessions (session.c): the interval of a connect waiting for room. */
#define ROOM_RETRY_NS (50 * SF_NSEC_PER_MS)

static const struct lb_profile *bprof(const struct lb_session *s)
{
    return &s->be->conf.profile;
}

static void server_ev(void *ctx, struct lb_conn *c, unsigned ev);
static int connect_server(struct lb_session *s);

static void leave_wait(struct lb_session *s)
{
    s->waiting = 0;
    s->lb->npending--;
    s->lb->nwaiting--;
}

/* The connection in hand carries the request from now on. */
static int attach(struct lb_session *s, struct lb_pconn *pc, const struct lb_side *side)
{
    struct lb_http *h = s->http;
    uint64_t now = sf_loop_now(s->lb->loop);
    h->pc = pc;
    s->sc = pc->c;
    lb_session_note_conn(s, 1, s->sc);
    s->ss = *side;
    pc->requests++;
    lb_conn_set_handler(pc->c, server_ev, s);
    h->t_conn_done = now;
    s->state = LB_S_ESTABLISHED;
    s->last_c = s->last_s = now;
    h->phase = LB_H_EXCHANGE;
    if (lb_http_request_out(s) < 0)
        return lb_http_fail(s, 503, LB_CAUSE_ERROR, LB_PC_ABORTED);
    return 0;
}

/* The client's own idle connection (http_reuse never): its server may close it meanwhile. */
static void own_ev(void *ctx, struct lb_conn *c, unsigned ev)
{
    struct lb_session *s = ctx;
    struct lb_http *h = s->http;
    char b[512];
    (void)ev;
    ssize_t n = lb_conn_read(c, b, sizeof b);
    if (n == -EAGAIN)
        return;
    lb_pconn_close(h->own, n < 0 ? LB_PC_SERVER_RST : LB_PC_SERVER_CLOSE);
    h->own = NULL;
}

/* A server behind send_proxy gets connections private to one client (as http_reuse never):
 * the header said who the client is, for the connection's whole life. */
static int reuse_of(const struct lb_session *s)
{
    return s->srv && s->srv->send_proxy ? LB_REUSE_NEVER : s->be->conf.http.reuse;
}

static int take_or_connect(struct lb_session *s)
{
    struct lb_http *h = s->http;
    struct lb_server *srv = s->srv;
    int reuse = reuse_of(s);
    if (h->own) {
        struct lb_pconn *own = h->own;
        h->own = NULL;
        if (own->srv == srv && !h->retried) {
            LB_COUNT_INC(own->pool->reused);
            h->reused = 1;
            return attach(s, own, &own->side);
        }
        lb_pconn_close(own, LB_PC_PRIVATE);
    }
    if (reuse != LB_REUSE_NEVER && !h->retried) {
        /* A request that cannot be sent again should not meet a FIN already in. */
        struct lb_pconn *pc =
            lb_pool_take(&srv->pool, reuse, h->nreq == 1, !http_method_idempotent(h->method));
        if (pc) {
            h->reused = 1;
            return attach(s, pc, &pc->side);
        }
    }
    return connect_server(s);
}

int lb_http_server_start(struct lb_session *s, struct lb_server *chosen)
{
    struct lb *lb = s->lb;
    struct lb_backend *b = s->be;
    struct lb_http *h = s->http;
    struct lb_server *srv = chosen;
    uint64_t now = sf_loop_now(lb->loop);
    if (!srv) {
        int r = lb_balance_pick(b, &s->client, s->failed, now, &srv);
        if (r == LB_PICK_FULL) {
            lb_session_enqueue(s);
            if (!h->t_queue)
                h->t_queue = now;
            return 0;
        }
        if (r == LB_PICK_NONE) {
            LB_COUNT_INC(b->no_server_total);
            return lb_http_fail(s, 503,
                                s->looped    ? LB_CAUSE_LOOP
                                : s->retries ? LB_CAUSE_CONNECT_FAIL
                                             : LB_CAUSE_NO_SERVER,
                                LB_PC_ABORTED);
        }
    }
    s->srv = srv;
    srv->refs++;
    srv->conns++;
    LB_COUNT_INC(srv->sessions_total);
    if (srv->sh)
        atomic_fetch_add_explicit(&srv->sh->sessions_total, 1, memory_order_relaxed);
    if (!s->retries)
        LB_COUNT_INC(b->sessions_total);
    return take_or_connect(s);
}

/* Waiting for a descriptor, as session.c does; the http session's timer is armed by its
 * caller. */
static int wait_for_room(struct lb_session *s, int err)
{
    lb_session_wait_room(s, err);
    return 0;
}

int lb_http_server_room_retry(struct lb_session *s)
{
    struct lb *lb = s->lb;
    uint64_t now = sf_loop_now(lb->loop);
    if (now >= s->t_wait + s->be->conf.queue_timeout_ms * SF_NSEC_PER_MS) {
        leave_wait(s);
        return lb_http_fail(s, 503, LB_CAUSE_ERROR, LB_PC_ABORTED);
    }
    if (!lb_transport_room(lb->tp, 1, 0)) {
        s->t_retry = now + ROOM_RETRY_NS;
        return 0;
    }
    leave_wait(s);
    s->rewait = 1;
    int rc = lb_http_server_start(s, NULL);
    if (rc == 0)
        s->rewait = 0;
    return rc;
}

/* A connect failed (err: errno, 0 for the timeout): the next server while retries last. */
static int connect_failed(struct lb_session *s, int err)
{
    if (lb_session_connect_failed(s, err))
        return lb_http_server_start(s, NULL);
    return lb_http_fail(s, 503, lb_session_connect_cause(s, err), LB_PC_ABORTED);
}

int lb_http_server_connect_timeout(struct lb_session *s)
{
    return connect_failed(s, 0);
}

static int local_shortage(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM || err == EADDRINUSE;
}

static int connect_server(struct lb_session *s)
{
    struct lb *lb = s->lb;
    struct lb_http *h = s->http;
    struct lb_server *srv = s->srv;
    struct lb_connect_opts o;
    o.dst = srv->addr;
    o.src = lb_session_source(s);
    lb_profile_sockopts(bprof(s), &o.sock);
    uint64_t now = sf_loop_now(lb->loop);
    s->state = LB_S_CONNECTING;
    s->t_connect = now;
    if (!h->t_conn)
        h->t_conn = now;
    h->reused = 0;
    h->phase = LB_H_SERVER;
    memset(&s->ss, 0, sizeof s->ss);
    int rc = lb_connect(lb->tp, &o, server_ev, s, &s->sc);
    if (rc >= 0) {
        lb_session_note_conn(s, 1, s->sc);
        return 0;
    }
    s->sc = NULL;
    if (local_shortage(-rc)) { /* ours: not the server's fault, nor a retry */
        lb_session_release_server(s);
        return wait_for_room(s, -rc);
    }
    if (rc == -EADDRNOTAVAIL) {
        lb_logf(lb, "event=connect_error server=%s error=\"%s\"", srv->name, strerror(-rc));
        return lb_http_fail(s, 503, LB_CAUSE_ERROR, LB_PC_ABORTED);
    }
    return connect_failed(s, -rc);
}

static int connected(struct lb_session *s)
{
    uint64_t now = sf_loop_now(s->lb->loop);
    lb_histo_add(&s->be->connect_hist, &lb_histo_connect, now - s->t_connect);
    lb_server_connect_ok(s->srv);
    if (!s->t_established)
        s->t_established = now;
    if (s->srv->send_proxy && lb_session_proxy_send(s) < 0) {
        lb_conn_abort(s->sc);
        s->sc = NULL;
        return lb_http_fail(s, 503, LB_CAUSE_ERROR, LB_PC_ABORTED);
    }
    struct lb_pconn *pc = lb_pconn_new(s->srv, &s->srv->pool, s->sc, now);
    if (!pc) {
        lb_conn_abort(s->sc);
        s->sc = NULL;
        return lb_http_fail(s, 503, LB_CAUSE_ERROR, LB_PC_ABORTED);
    }
    /* Even if a reload turns send_proxy off meanwhile, its header named this client. */
    pc->proxied = s->srv->send_proxy != LB_PROXY_NONE;
    return attach(s, pc, &s->ss);
}

static void server_ev(void *ctx, struct lb_conn *c, unsigned ev)
{
    struct lb_session *s = ctx;
    lb_side_note(&s->ss, ev);
    if (s->state == LB_S_CONNECTING) {
        int r = lb_conn_connect_result(c);
        if (r == -EINPROGRESS)
            return;
        if ((r < 0 ? connect_failed(s, -r) : connected(s)) < 0)
            return;
    }
    lb_http_run(s);
}

int lb_http_server_retry(struct lb_session *s, int pc_cause)
{
    struct lb_http *h = s->http;
    if (!h->reused || h->retried || h->resp_started || h->replay_lost ||
        !http_method_idempotent(h->method))
        return 1;
    h->retried = 1;
    LB_COUNT_INC(s->be->http_retries);
    lb_pconn_close(h->pc, pc_cause);
    h->pc = NULL;
    s->sc = NULL;
    /* Everything of the request again, from its head: its body bytes are still in s->up. */
    h->req_out_sent = 0;
    h->u_scan += h->u_sent;
    h->u_sent = 0;
    h->req_sent = 0;
    h->req_bytes = 0;
    h->server_eof = 0;
    h->server_err = 0;
    lb_pipe_release(&s->down, &s->lb->pool);
    return connect_server(s) < 0 ? -1 : 0;
}

int lb_http_server_keepalive(const struct lb_session *s)
{
    const struct lb_http *h = s->http;
    const struct lb_pool *p = &s->srv->pool;
    if (p->max_requests && h->pc->requests >= p->max_requests)
        return 0; /* its last: the server closes it (and holds the TIME_WAIT) */
    if (reuse_of(s) == LB_REUSE_NEVER || h->pc->proxied)
        return h->req_ka && !h->close_after; /* kept for this client's next request only */
    return p->max_idle > 0;
}

/* Keeps pc for the client's next request (http_reuse never). */
static void keep_own(struct lb_session *s, struct lb_pconn *pc)
{
    struct lb_http *h = s->http;
    pc->side = s->ss;
    pc->side.wr = 1;
    h->own = pc;
    lb_conn_set_handler(pc->c, own_ev, s);
    if (pc->side.rd || pc->side.hup || pc->side.err)
        own_ev(s, pc->c, LB_EV_READ);
}

void lb_http_server_release(struct lb_session *s, int keep, int pc_cause)
{
    struct lb_http *h = s->http;
    struct lb_pconn *pc = h->pc;
    if (pc) {
        h->pc = NULL;
        s->sc = NULL;
        if (keep && (reuse_of(s) == LB_REUSE_NEVER || pc->proxied)) {
            keep_own(s, pc);
        } else if (keep) {
            lb_pool_put(pc, &s->ss, sf_loop_now(s->lb->loop));
        } else if (pc_cause == LB_PC_SERVER_CLOSE) {
            int last = pc->pool->max_requests && pc->requests >= pc->pool->max_requests;
            lb_pconn_retire(pc, last ? LB_PC_MAX_REQUESTS : pc_cause);
        } else {
            lb_pconn_close(pc, pc_cause);
        }
    } else if (s->sc) { /* still connecting */
        lb_conn_abort(s->sc);
        s->sc = NULL;
    }
    memset(&s->ss, 0, sizeof s->ss);
    if (s->state == LB_S_QUEUED && (s->qprev || s->qnext || s->be->qhead == s))
        lb_session_dequeue(s);
    if (s->waiting)
        leave_wait(s);
    lb_session_release_server(s);
    s->state = LB_S_ESTABLISHED;
}
