/* Sessions: joining a client connection to a server connection; see session.h. */
#include "lb/session.h"
#include "lb/counter.h"
#include "lb/http_session.h"
#include "lb/log.h"
#include "lb/proxy_proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

enum how { HOW_CLOSE, HOW_ABORT };

static void client_ev(void *ctx, struct lb_conn *c, unsigned ev);
static void server_ev(void *ctx, struct lb_conn *c, unsigned ev);
static void on_timer(struct sf_loop_timer *t);

static const struct lb_profile *fprof(const struct lb_session *s)
{
    return &s->fe->conf.profile;
}

static const struct lb_profile *bprof(const struct lb_session *s)
{
    return &s->be->conf.profile;
}

void lb_session_dequeue(struct lb_session *s)
{
    struct lb_backend *b = s->be;
    if (s->qprev)
        s->qprev->qnext = s->qnext;
    else
        b->qhead = s->qnext;
    if (s->qnext)
        s->qnext->qprev = s->qprev;
    else
        b->qtail = s->qprev;
    s->qprev = s->qnext = NULL;
    LB_COUNT_DEC(b->queued);
    s->lb->npending--;
}

static void leave_wait(struct lb_session *s)
{
    s->waiting = 0;
    s->lb->npending--;
    s->lb->nwaiting--;
}

/* Gives back the server slot; the backend queue may move. */
void lb_session_release_server(struct lb_session *s)
{
    struct lb_server *srv = s->srv;
    if (!srv)
        return;
    s->srv = NULL;
    lb_server_slot_release(srv);
    s->lb->released |= srv->sh != NULL;
    /* http: the pipes are per connection, the request's bytes are the server's */
    LB_COUNT_ADD(srv->bytes_in, s->http ? s->http->req_bytes : s->up.bytes);
    LB_COUNT_ADD(srv->bytes_out, s->http ? s->http->resp_bytes : s->down.bytes);
    lb_backend_kick(s->lb, s->be);
    lb_server_put(srv);
}

void lb_session_note_conn(struct lb_session *s, int side, struct lb_conn *c)
{
    struct lb_conn_info in;
    if (s->lb->tp->trace && !s->conn_id[side] && c && lb_conn_info(c, &in) == 0)
        s->conn_id[side] = in.id;
}

static void keep_ended(const struct lb_session *s, int cause)
{
    struct lb *lb = s->lb;
    struct lb_ended *e = &lb->ended[lb->nended++ % LB_ENDED_MAX];
    e->id = s->id;
    e->t_start = s->t_start;
    e->t_queued = s->t_queued;
    e->t_connect = s->t_connect;
    e->t_established = s->t_established;
    e->t_end = sf_loop_now(lb->loop);
    e->bytes_up = s->up.bytes;
    e->bytes_down = s->down.bytes;
    e->cause = cause;
    e->first_fin = s->first_fin;
    e->conn_id[0] = s->conn_id[0];
    e->conn_id[1] = s->conn_id[1];
    e->client = s->client;
    snprintf(e->frontend, sizeof e->frontend, "%s", s->fe->conf.name);
    snprintf(e->backend, sizeof e->backend, "%s", s->be->conf.name);
    snprintf(e->server, sizeof e->server, "%s", s->srv ? s->srv->name : "");
}

void lb_session_finish(struct lb_session *s, int cause)
{
    keep_ended(s, cause);
    struct lb *lb = s->lb;
    struct lb_frontend *fe = s->fe;
    sf_loop_timer_cancel(lb->loop, &s->timer);
    if (s->state == LB_S_QUEUED && (s->qprev || s->qnext || s->be->qhead == s))
        lb_session_dequeue(s);
    if (s->waiting)
        leave_wait(s);
    fe->active--;
    if (fe->sh) {
        lb_shared_release(&fe->sh->active);
        lb->released = 1;
    }
    LB_COUNT_INC(fe->causes[cause]);
    LB_COUNT_ADD(fe->bytes_in, s->up.bytes);
    LB_COUNT_ADD(fe->bytes_out, s->down.bytes);
    LB_COUNT_INC(lb->causes[cause]);
    lb_session_release_server(s);
    lb_cursors_skip(lb, s);
    if (s->prev)
        s->prev->next = s->next;
    else
        lb->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    lb->nsessions--;
    lb_pipe_release(&s->up, &lb->pool);
    lb_pipe_release(&s->down, &lb->pool);
    if (fe->paused)
        lb->kick_accept = 1;
    LB_COUNT_DEC(s->be->active);
    lb_histo_add(&s->be->duration_hist, &lb_histo_duration, sf_loop_now(lb->loop) - s->t_start);
    lb_backend_put(s->be);
    lb_frontend_put(fe);
    free(s);
    if (lb->draining && lb->nsessions == 0 && lb->on_idle)
        lb->on_idle(lb);
}

static void end(struct lb_session *s, int cause, int client_how, int server_how)
{
    if (s->cc) {
        if (client_how == HOW_ABORT)
            lb_conn_abort(s->cc);
        else
            lb_conn_close(s->cc);
    }
    if (s->sc) {
        if (server_how == HOW_CLOSE && bprof(s)->server_close == LB_CLOSE_RST) {
            /* RST leaves no TIME_WAIT here, but would discard bytes the server has not
             * acknowledged yet: only when nothing is in flight. */
            if (lb_conn_unacked(s->sc) == 0)
                server_how = HOW_ABORT;
        }
        if (server_how == HOW_ABORT)
            lb_conn_abort(s->sc);
        else
            lb_conn_close(s->sc);
    }
    lb_log_session(s->lb, s, cause, client_how == HOW_ABORT, server_how == HOW_ABORT);
    lb_session_finish(s, cause);
}

/* The next deadline and the cause it would carry. */
static uint64_t deadline(const struct lb_session *s, int *cause)
{
    const uint64_t ms = SF_NSEC_PER_MS;
    uint64_t d;
    if (s->proxy_wait) {
        *cause = LB_CAUSE_BAD_PROXY;
        return s->t_start + s->fe->conf.accept_proxy_timeout_ms * ms;
    }
    switch (s->state) {
    case LB_S_QUEUED:
        if (s->waiting) {
            *cause = LB_CAUSE_ERROR; /* on_timer decides: retry, or give up */
            return s->t_retry;
        }
        *cause = LB_CAUSE_QUEUE_TIMEOUT;
        return s->t_queued + s->be->conf.queue_timeout_ms * ms;
    case LB_S_CONNECTING:
        *cause = LB_CAUSE_CONNECT_TIMEOUT;
        return s->t_connect + bprof(s)->connect_timeout_ms * ms;
    default: break;
    }
    *cause = LB_CAUSE_IDLE_TIMEOUT;
    d = s->last_c + fprof(s)->idle_timeout_ms * ms;
    uint64_t d2 = s->last_s + bprof(s)->idle_timeout_ms * ms;
    if (d2 < d)
        d = d2;
    uint64_t last = s->last_c > s->last_s ? s->last_c : s->last_s;
    if (s->up.eof) {
        uint64_t f = last + fprof(s)->client_fin_timeout_ms * ms;
        if (f < d) {
            d = f;
            *cause = LB_CAUSE_CLIENT_FIN_TIMEOUT;
        }
    }
    if (s->down.eof) {
        uint64_t f = last + bprof(s)->server_fin_timeout_ms * ms;
        if (f < d) {
            d = f;
            *cause = LB_CAUSE_SERVER_FIN_TIMEOUT;
        }
    }
    return d;
}

/* Arms the timer if the deadline moved earlier (later deadlines are found when it fires). */
static int arm(struct lb_session *s)
{
    int cause;
    uint64_t d = deadline(s, &cause);
    if (sf_loop_timer_armed(&s->timer) && s->timer.when <= d)
        return 0;
    return sf_loop_timer_set(s->lb->loop, &s->timer, d);
}

static void bad_proxy(struct lb_session *s, const char *why)
{
    char a[LB_ADDR_STRLEN];
    lb_logf(s->lb, "event=bad_proxy frontend=%s peer=%s session=%llu error=\"%s\"",
            s->fe->conf.name, lb_addr_format(&s->client, a, sizeof a), (unsigned long long)s->id,
            why);
    end(s, LB_CAUSE_BAD_PROXY, HOW_ABORT, HOW_ABORT);
}

static void timeout(struct lb_session *s, int cause)
{
    if (cause == LB_CAUSE_BAD_PROXY) {
        char why[64];
        snprintf(why, sizeof why, "no whole PROXY header within accept_proxy_timeout (%llu ms)",
                 (unsigned long long)s->fe->conf.accept_proxy_timeout_ms);
        bad_proxy(s, why);
        return;
    }
    int c = fprof(s)->reset_on_timeout ? HOW_ABORT : HOW_CLOSE;
    int v = bprof(s)->reset_on_timeout ? HOW_ABORT : HOW_CLOSE;
    end(s, cause, c, v);
}

static void room_retry(struct lb_session *s);
static int connect_failed(struct lb_session *s, int err);

static void on_timer(struct sf_loop_timer *t)
{
    struct lb_session *s = CONTAINER(t, struct lb_session, timer);
    if (s->waiting) {
        room_retry(s);
        return;
    }
    int cause;
    uint64_t d = deadline(s, &cause);
    if (d <= sf_loop_now(s->lb->loop)) {
        /* A connect timeout is a failed attempt like a refusal: `retries` covers both. */
        if (cause == LB_CAUSE_CONNECT_TIMEOUT)
            connect_failed(s, 0);
        else
            timeout(s, cause);
        return;
    }
    if (sf_loop_timer_set(s->lb->loop, t, d) < 0)
        end(s, LB_CAUSE_ERROR, HOW_ABORT, HOW_ABORT);
}

void lb_session_enqueue(struct lb_session *s)
{
    struct lb_backend *b = s->be;
    s->state = LB_S_QUEUED;
    s->t_queued = sf_loop_now(s->lb->loop);
    s->qnext = NULL;
    s->qprev = b->qtail;
    if (b->qtail)
        b->qtail->qnext = s;
    else
        b->qhead = s;
    b->qtail = s;
    LB_COUNT_INC(b->queued);
    s->lb->npending++;
}

struct lb_source *lb_session_source(struct lb_session *s)
{
    struct lb_profile *p = &s->be->conf.profile;
    if (!p->nsources)
        return NULL;
    /* Round robin over source addresses: each has its own ephemeral port space. */
    return &p->sources[(s->id + s->retries) % p->nsources];
}

static int connect_next(struct lb_session *s, struct lb_server *chosen);

int lb_session_connect_failed(struct lb_session *s, int err)
{
    struct lb_server *srv = s->srv;
    if (s->sc) {
        lb_conn_abort(s->sc);
        s->sc = NULL;
    }
    memset(&s->ss, 0, sizeof s->ss);
    if (srv) {
        LB_COUNT_INC(srv->connect_failures);
        lb_server_connect_failed(s->lb, srv);
        s->failed = srv;
        lb_session_release_server(s);
    }
    s->looped = err == ELOOP;
    if (s->retries < s->be->conf.retries) {
        s->retries++;
        return 1;
    }
    return 0;
}

int lb_session_connect_cause(const struct lb_session *s, int err)
{
    return s->looped ? LB_CAUSE_LOOP : err ? LB_CAUSE_CONNECT_FAIL : LB_CAUSE_CONNECT_TIMEOUT;
}

/* A connect failed (err is errno, or 0 for the connect timeout). Retries on another server
 * while the budget lasts: nothing has reached the client yet. Returns -1 if s ended. */
static int connect_failed(struct lb_session *s, int err)
{
    if (lb_session_connect_failed(s, err))
        return connect_next(s, NULL);
    end(s, lb_session_connect_cause(s, err), HOW_ABORT, HOW_ABORT);
    return -1;
}

/* The connect interval: short enough that a client barely notices, long enough that a
 * session waiting for a descriptor costs nothing while it waits. */
#define ROOM_RETRY_NS (50 * SF_NSEC_PER_MS)

void lb_session_wait_room(struct lb_session *s, int err)
{
    struct lb *lb = s->lb;
    uint64_t now = sf_loop_now(lb->loop);
    int again = s->rewait; /* the same shortage still: its wait and log line go on */
    s->rewait = 0;
    if (!s->waiting && !again) {
        s->t_wait = now;
        char who[LB_NAME_MAX + 16];
        snprintf(who, sizeof who, "backend=%s", s->be->conf.name);
        if (err == EMFILE || err == ENFILE)
            lb_fd_short(lb, who);
        else
            lb_logf(lb, "event=connect_error %s error=\"%s\" session=%llu", who, strerror(err),
                    (unsigned long long)s->id);
    }
    if (!s->waiting) {
        s->waiting = 1;
        if (!s->t_queued)
            s->t_queued = now;
        lb->npending++;
        lb->nwaiting++;
    }
    s->state = LB_S_QUEUED;
    s->t_retry = now + ROOM_RETRY_NS;
}

/* The connect ran short of synfin's own resources: wait, holding the client connection
 * (and whatever it sends, within the buffer bound), and retry on the timer. */
static int wait_for_room(struct lb_session *s, int err)
{
    lb_session_wait_room(s, err);
    if (arm(s) < 0) {
        end(s, LB_CAUSE_ERROR, HOW_ABORT, HOW_ABORT);
        return -1;
    }
    return 0;
}

/* Waiting for room: connect again, or, once the backend's queue_timeout has passed, give
 * up with a FIN (the shortage is synfin's: the client is not reset for it). */
static void room_retry(struct lb_session *s)
{
    struct lb *lb = s->lb;
    uint64_t now = sf_loop_now(lb->loop);
    if (now >= s->t_wait + s->be->conf.queue_timeout_ms * SF_NSEC_PER_MS) {
        end(s, LB_CAUSE_ERROR, HOW_CLOSE, HOW_ABORT);
        return;
    }
    if (!lb_transport_room(lb->tp, 1, 0)) {
        s->t_retry = now + ROOM_RETRY_NS;
        if (sf_loop_timer_set(lb->loop, &s->timer, s->t_retry) < 0)
            end(s, LB_CAUSE_ERROR, HOW_ABORT, HOW_ABORT);
        return;
    }
    leave_wait(s);
    s->rewait = 1;
    if (connect_next(s, NULL) == 0)
        s->rewait = 0;
}

/* Descriptors, memory and the ports of a `source` range (EADDRINUSE: all busy) come back
 * as soon as connections close: worth waiting for. EADDRNOTAVAIL is not among them: a
 * source address not on the host stays so. */
static int local_shortage(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM || err == EADDRINUSE;
}

/* Connects to `chosen`, or to a server the balancer picks. Returns -1 if s ended. */
static int connect_next(struct lb_session *s, struct lb_server *chosen)
{
    struct lb *lb = s->lb;
    struct lb_backend *b = s->be;
    struct lb_server *srv = chosen;
    if (!srv) {
        int r = lb_balance_pick(b, &s->client, s->failed, sf_loop_now(lb->loop), &srv);
        if (r == LB_PICK_FULL) {
            lb_session_enqueue(s);
            if (arm(s) < 0) {
                end(s, LB_CAUSE_ERROR, HOW_ABORT, HOW_ABORT);
                return -1;
            }
            return 0;
        }
        if (r == LB_PICK_NONE) {
            LB_COUNT_INC(b->no_server_total);
            end(s,
                s->looped    ? LB_CAUSE_LOOP
                : s->retries ? LB_CAUSE_CONNECT_FAIL
                             : LB_CAUSE_NO_SERVER,
                HOW_ABORT, HOW_ABORT);
            return -1;
        }
    }
    s->srv = srv;
    srv->refs++;
    srv->conns++;
    struct lb_connect_opts o;
    o.dst = srv->addr;
    o.src = lb_session_source(s);
    lb_profile_sockopts(bprof(s), &o.sock);
    s->state = LB_S_CONNECTING;
    s->t_connect = sf_loop_now(lb->loop);
    int rc = lb_connect(lb->tp, &o, server_ev, s, &s->sc);
    if (rc >= 0)
        lb_session_note_conn(s, 1, s->sc);
    if (rc < 0 && local_shortage(-rc)) {
        /* Our own shortage: not counted against the server (no passive ejection). */
        s->sc = NULL;
        lb_session_release_server(s);
        return wait_for_room(s, -rc);
    }
    if (rc == -EADDRNOTAVAIL) {
        /* Ours too (no port or source address left), not the server's fault. */
        lb_logf(lb, "event=connect_error server=%s error=\"%s\"", srv->name, strerror(-rc));
        s->sc = NULL;
        lb_session_release_server(s);
        end(s, LB_CAUSE_ERROR, HOW_ABORT, HOW_ABORT);
        return -1;
    }
    LB_COUNT_INC(srv->sessions_total);
    if (srv->sh)
        atomic_fetch_add_explicit(&srv->sh->sessions_total, 1, memory_order_relaxed);
    if (!s->counted) {
        s->counted = 1;
        LB_COUNT_INC(b->sessions_total);
    }
    if (rc < 0) {
        s->sc = NULL;
        return connect_failed(s, -rc);
    }
    if (arm(s) < 0) {
        end(s, LB_CAUSE_ERROR, HOW_ABORT, HOW_ABORT);
        return -1;
    }
    return 0;
}

/* A pipe failed: its source or destination was reset (or memory ran out). err -ELOOP: the
 * server connection turned out to lead back into synfin after its connect had completed;
 * the server counts it as a failed connect, which it was. */
static void pipe_failed(struct lb_session *s, int rc, int err, int src_cause, int dst_cause)
{
    int cause = rc == LB_PIPE_SRC_ERR   ? src_cause
                : rc == LB_PIPE_DST_ERR ? dst_cause
                                        : LB_CAUSE_ERROR;
    if (err == ELOOP && rc != LB_PIPE_NOMEM && s->srv) {
        cause = LB_CAUSE_LOOP;
        LB_COUNT_INC(s->srv->connect_failures);
        lb_server_connect_failed(s->lb, s->srv);
    }
    end(s, cause, HOW_ABORT, HOW_ABORT);
}

/* Server to client. Returns -1 if s ended. */
static int pump_down(struct lb_session *s, int *moved)
{
    int err = 0;
    int rc = lb_pipe_pump(&s->down, s->sc, &s->ss, s->cc, &s->cs, &s->lb->pool, moved, &err);
    if (rc < 0) {
        pipe_failed(s, rc, err, LB_CAUSE_SERVER_RST, LB_CAUSE_CLIENT_RST);
        return -1;
    }
    if (s->down.eof) {
        if (!s->first_fin)
            s->first_fin = LB_CAUSE_SERVER_FIN;
        /* The server is done sending: with server_close rst its side ends with RST, so
         * the client's FIN need not be passed on as a FIN first. */
        if (bprof(s)->server_close == LB_CLOSE_RST)
            s->up.nofin = 1;
    }
    return 0;
}

/* server_close rst, the client's FIN is due to the server and the server's is not seen:
 * passed on now, it would make synfin's side the active closer, and the server's FIN would
 * then leave TIME_WAIT on synfin's port. That FIN is often in already, its event later in
 * this batch: ask the transport, and if so take the server's last bytes and FIN first. Asked
 * only once the server has sent something: one still waiting for the client's FIN (nc -N
 * style) cannot have finished. Returns -1 if s ended. */
static int server_fin_first(struct lb_session *s, int *moved)
{
    if (s->down.bytes == 0 && s->down.len == 0)
        return 0;
    if (lb_conn_peer_fin(s->sc) <= 0)
        return 0; /* not finished, or failed: the pipes find out */
    s->ss.rd = s->ss.hup = 1;
    return pump_down(s, moved);
}

/* accept_proxy: the header is read into the up pipe's buffer, which then holds what the
 * client sent after it. Once whole, the session takes the addresses it carries and
 * connects. Returns -1 while it waits or if s ended. */
static int proxy_read(struct lb_session *s)
{
    int moved = 0, err = 0;
    int rc = lb_pipe_pump(&s->up, s->cc, &s->cs, NULL, &s->ss, &s->lb->pool, &moved, &err);
    if (rc < 0) {
        end(s, rc == LB_PIPE_NOMEM ? LB_CAUSE_ERROR : LB_CAUSE_CLIENT_RST, HOW_ABORT, HOW_ABORT);
        return -1;
    }
    struct lb_proxy_hdr h;
    const char *why = "the client closed before its PROXY header was whole";
    int r = LB_PROXY_MORE;
    if (s->up.len)
        r = lb_proxy_parse((const uint8_t *)s->up.buf->data + s->up.off, s->up.len, &h, &why);
    if (r == LB_PROXY_MORE && !s->up.eof && s->up.len < s->up.cap)
        return -1; /* more to come, within the timer */
    if (r <= 0) {
        bad_proxy(s, why);
        return -1;
    }
    s->up.off += (uint32_t)r;
    s->up.len -= (uint32_t)r;
    if (!h.local) {
        s->client = h.src;
        s->client_dst = h.dst;
        s->have_dst = 1;
    }
    s->proxy_wait = 0;
    s->last_c = sf_loop_now(s->lb->loop);
    if (s->fe->conf.mode == LB_MODE_HTTP) {
        /* The http session takes over with what followed the header in s->up. */
        sf_loop_timer_cancel(s->lb->loop, &s->timer);
        s->cs.rd = 1;
        lb_http_start(s);
        return -1;
    }
    if (connect_next(s, NULL) < 0)
        return -1;
    return 0;
}

/* send_proxy: the header goes first on a new server connection, whose send buffer is empty
 * and takes it whole. 0, or -1 if it could not be written. */
int lb_session_proxy_send(struct lb_session *s)
{
    if (!s->have_dst) {
        struct lb_conn_info in;
        if (lb_conn_info(s->cc, &in) < 0)
            return -1;
        s->client_dst = in.local;
        s->have_dst = 1;
    }
    uint8_t h[LB_PROXY_HEADER_MAX];
    size_t n =
        lb_proxy_write(s->srv->send_proxy == LB_PROXY_V1 ? 1 : 2, &s->client, &s->client_dst, h);
    return lb_conn_write(s->sc, h, n) == (ssize_t)n ? 0 : -1;
}

static void run(struct lb_session *s)
{
    struct lb *lb = s->lb;
    if (s->proxy_wait && proxy_read(s) < 0)
        return;
    int established = s->state == LB_S_ESTABLISHED;
    int moved = 0, err = 0, rc;
    int was_eof = s->up.eof + s->down.eof;
    if (established && pump_down(s, &moved) < 0)
        return;
    s->up.hold = established && bprof(s)->server_close == LB_CLOSE_RST && !s->down.eof;
    rc = lb_pipe_pump(&s->up, s->cc, &s->cs, established ? s->sc : NULL, &s->ss, &lb->pool, &moved,
                      &err);
    if (rc < 0) {
        pipe_failed(s, rc, err, LB_CAUSE_CLIENT_RST, LB_CAUSE_SERVER_RST);
        return;
    }
    if (s->up.eof && !s->first_fin)
        s->first_fin = LB_CAUSE_CLIENT_FIN;
    if (s->up.hold && lb_pipe_fin_due(&s->up)) {
        if (server_fin_first(s, &moved) < 0)
            return;
        if (lb_pipe_shut(&s->up, s->sc, &err) < 0) {
            pipe_failed(s, LB_PIPE_DST_ERR, err, LB_CAUSE_CLIENT_RST, LB_CAUSE_SERVER_RST);
            return;
        }
    }
    if (moved) {
        uint64_t now = sf_loop_now(lb->loop);
        s->last_c = s->last_s = now;
    }
    if (s->up.shut && s->down.shut) {
        end(s, s->first_fin ? s->first_fin : LB_CAUSE_CLIENT_FIN, HOW_CLOSE, HOW_CLOSE);
        return;
    }
    if (s->up.eof + s->down.eof != was_eof && arm(s) < 0)
        end(s, LB_CAUSE_ERROR, HOW_ABORT, HOW_ABORT);
}

static void client_ev(void *ctx, struct lb_conn *c, unsigned ev)
{
    struct lb_session *s = ctx;
    (void)c;
    lb_side_note(&s->cs, ev);
    run(s);
}

static void server_ev(void *ctx, struct lb_conn *c, unsigned ev)
{
    struct lb_session *s = ctx;
    lb_side_note(&s->ss, ev);
    if (s->state == LB_S_CONNECTING) {
        int r = lb_conn_connect_result(c);
        if (r == -EINPROGRESS)
            return;
        if (r < 0) {
            connect_failed(s, -r);
            return;
        }
        s->state = LB_S_ESTABLISHED;
        s->t_established = sf_loop_now(s->lb->loop);
        s->last_c = s->last_s = s->t_established;
        lb_histo_add(&s->be->connect_hist, &lb_histo_connect, s->t_established - s->t_connect);
        lb_server_connect_ok(s->srv);
        if (s->srv->send_proxy && lb_session_proxy_send(s) < 0) {
            end(s, LB_CAUSE_ERROR, HOW_ABORT, HOW_ABORT);
            return;
        }
        /* From the connect deadline to the idle one: re-armed only if that is earlier. */
        if (arm(s) < 0) {
            end(s, LB_CAUSE_ERROR, HOW_ABORT, HOW_ABORT);
            return;
        }
    }
    run(s);
}

void lb_session_start(struct lb_frontend *fe, struct lb_conn *client)
{
    struct lb *lb = fe->lb;
    if (fe->conf.naccept_proxy &&
        !lb_cidr_match_any(fe->conf.accept_proxy, fe->conf.naccept_proxy, lb_conn_peer(client))) {
        /* Only a trusted front load balancer may say who the client is. */
        lb_conn_abort(client);
        LB_COUNT_INC(fe->proxy_untrusted);
        if (fe->sh)
            lb_shared_release(&fe->sh->active);
        return;
    }
    struct lb_session *s = calloc(1, sizeof *s);
    if (!s) {
        lb_conn_abort(client);
        LB_COUNT_INC(fe->causes[LB_CAUSE_ERROR]);
        LB_COUNT_INC(lb->causes[LB_CAUSE_ERROR]);
        if (fe->sh)
            lb_shared_release(&fe->sh->active);
        return;
    }
    uint64_t now = sf_loop_now(lb->loop);
    s->lb = lb;
    s->id = ++lb->next_id;
    s->fe = fe;
    fe->refs++;
    s->be = fe->backend;
    s->be->refs++;
    LB_COUNT_INC(s->be->active);
    s->cc = client;
    s->client = *lb_conn_peer(client);
    s->cs.wr = 1;
    s->cs.rd = fe->conf.profile.defer_accept; /* data is most likely there already */
    s->up.cap = fe->conf.profile.buffer_size;
    s->down.cap = s->be->conf.profile.buffer_size;
    s->t_start = s->last_c = s->last_s = now;
    lb_session_note_conn(s, 0, client);
    s->timer.fn = on_timer;
    s->next = lb->sessions;
    if (lb->sessions)
        lb->sessions->prev = s;
    lb->sessions = s;
    lb->nsessions++;
    LB_COUNT_INC(lb->sessions_total);
    fe->active++;
    LB_COUNT_INC(fe->sessions_total);
    if (fe->sh)
        atomic_fetch_add_explicit(&fe->sh->sessions_total, 1, memory_order_relaxed);
    lb_conn_set_handler(client, client_ev, s);
    if (fe->conf.mode == LB_MODE_HTTP && !fe->conf.naccept_proxy) {
        lb_http_start(s);
        return;
    }
    if (fe->conf.naccept_proxy) {
        s->proxy_wait = 1;
        if (arm(s) < 0) {
            end(s, LB_CAUSE_ERROR, HOW_ABORT, HOW_ABORT);
            return;
        }
        if (s->cs.rd)
            run(s);
        return;
    }
    if (connect_next(s, NULL) < 0)
        return;
    if (s->cs.rd)
        run(s);
}

void lb_session_kill(struct lb_session *s, int cause)
{
    if (s->http) {
        lb_http_kill(s, cause);
        return;
    }
    if (cause == LB_CAUSE_STOP) {
        end(s, cause, HOW_CLOSE, HOW_CLOSE);
        return;
    }
    if (cause == LB_CAUSE_DRAIN) {
        timeout(s, cause);
        return;
    }
    end(s, cause, HOW_ABORT, HOW_ABORT);
}

void lb_backend_kick(struct lb *lb, struct lb_backend *b)
{
    if (b->queued) {
        b->kick = 1;
        lb->kick_queues = 1;
    }
}

void lb_backend_run_queue(struct lb *lb, struct lb_backend *b)
{
    uint64_t now = sf_loop_now(lb->loop);
    int hashing = b->conf.balance == LB_BAL_SOURCE || b->conf.balance == LB_BAL_MAGLEV;
    struct lb_session *s = b->qhead;
    while (s) {
        struct lb_session *next = s->qnext;
        struct lb_server *srv;
        int r = lb_balance_pick(b, &s->client, s->failed, now, &srv);
        if (r == LB_PICK_OK) {
            lb_session_dequeue(s);
            if (s->http)
                lb_http_dequeued(s, srv);
            else
                connect_next(s, srv);
        } else if (r == LB_PICK_NONE) {
            lb_session_dequeue(s);
            LB_COUNT_INC(b->no_server_total);
            if (s->http)
                lb_http_dequeued(s, NULL);
            else
                end(s, LB_CAUSE_NO_SERVER, HOW_ABORT, HOW_ABORT);
        } else if (!hashing) {
            break; /* every server is full: nobody else can go either */
        }
        s = next;
    }
}

void lb_session_tunnel(struct lb_session *s)
{
    struct lb *lb = s->lb;
    uint64_t now = sf_loop_now(lb->loop);
    sf_loop_timer_cancel(lb->loop, &s->timer);
    s->timer.fn = on_timer;
    s->state = LB_S_ESTABLISHED;
    if (!s->t_established)
        s->t_established = now;
    s->last_c = s->last_s = now;
    if (s->up.eof && !s->first_fin)
        s->first_fin = LB_CAUSE_CLIENT_FIN;
    lb_conn_set_handler(s->cc, client_ev, s);
    lb_conn_set_handler(s->sc, server_ev, s);
    if (arm(s) < 0) {
        end(s, LB_CAUSE_ERROR, HOW_ABORT, HOW_ABORT);
        return;
    }
    run(s);
}
