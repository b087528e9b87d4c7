/* The life of an http client connection: requests read one at a time, answers synfin makes
 * itself, keep-alive between requests, timers, and the close in the order the frontend's
 * profile asks (client_close_first). See http_session.h. */
#include "lb/http_session.h"
#include "lb/counter.h"
#include "lb/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static const struct lb_profile *fprof(const struct lb_session *s)
{
    return &s->fe->conf.profile;
}

static const struct lb_profile *bprof(const struct lb_session *s)
{
    return &s->be->conf.profile;
}

struct http_head *lb_http_scratch(void)
{
    static _Thread_local struct http_head scratch;
    return &scratch;
}

/* How long the close waits for the client's FIN after the last response. */
static uint64_t linger_ns(const struct lb_session *s)
{
    uint64_t ms = s->fe->conf.http.keepalive_timeout_ms;
    return (ms ? ms : 1000) * SF_NSEC_PER_MS;
}

static void reset_request(struct lb_http *h)
{
    h->head_len = h->u_sent = h->u_scan = h->d_scan = 0;
    h->req_ka = h->req_upgrade = h->req_done = h->req_sent = h->replay_lost = 0;
    h->close_after = h->resp_started = h->resp_head = h->resp_done = 0;
    h->keep_client = h->server_ka = h->tunnel = h->server_eof = 0;
    h->reused = h->retried = 0;
    h->server_err = 0;
    h->status = 0;
    h->req_bytes = h->resp_bytes = 0;
    h->req_out.len = h->resp_out.len = 0;
    h->req_out_sent = h->resp_out_sent = 0;
    h->canned = NULL;
    h->t_first = h->t_head = h->t_queue = h->t_conn = h->t_conn_done = h->t_sent = h->t_resp = 0;
}

/* ---- the end ---- */

static void free_http(struct lb_session *s)
{
    struct lb_http *h = s->http;
    sf_sb_free(&h->req_out);
    sf_sb_free(&h->resp_out);
    free(h);
    s->http = NULL;
}

/* A request cut short (its client or server gone, a timeout, a kill): counted by the status
 * its client was sent, if any, and logged. */
static void request_abandoned(struct lb_session *s)
{
    struct lb_http *h = s->http;
    if (h->phase != LB_H_SERVER && h->phase != LB_H_EXCHANGE)
        return;
    if (!h->resp_head)
        h->status = 0;
    LB_COUNT_INC(s->fe->http_status[h->status / 100]);
    LB_COUNT_INC(s->be->http_status[h->status / 100]);
    lb_log_request(s->lb, s);
}

void lb_http_end(struct lb_session *s, int cause, int abort_client, int pc_cause)
{
    struct lb_http *h = s->http;
    request_abandoned(s);
    lb_http_server_release(s, 0, pc_cause);
    if (h->own) {
        lb_pconn_close(h->own, LB_PC_PRIVATE);
        h->own = NULL;
    }
    if (abort_client)
        lb_conn_abort(s->cc);
    else
        lb_conn_close(s->cc);
    lb_log_session(s->lb, s, cause, abort_client, 0);
    free_http(s);
    lb_session_finish(s, cause);
}

void lb_http_kill(struct lb_session *s, int cause)
{
    int abort =
        cause == LB_CAUSE_ADMIN_KILL || (cause == LB_CAUSE_DRAIN && fprof(s)->reset_on_timeout);
    lb_http_end(s, cause, abort, cause == LB_CAUSE_STOP ? LB_PC_SERVER_GONE : LB_PC_ABORTED);
}

void lb_http_drain(struct lb_session *s)
{
    struct lb_http *h = s->http;
    h->draining = 1;
    if (h->phase == LB_H_IDLE && !s->up.len)
        lb_http_end(s, LB_CAUSE_DRAIN, 0, LB_PC_SERVER_GONE);
}

/* ---- closing toward the client ---- */

/* The last response is out: synfin's FIN first (then what the client still sends is read
 * and dropped until its own FIN), or the client's first. Either way the close waits for the
 * client's FIN, at most linger_ns: a close with unread bytes in would send an RST that can
 * destroy the response in the client's buffers. */
static int enter_linger(struct lb_session *s)
{
    struct lb_http *h = s->http;
    struct lb *lb = s->lb;
    lb_pipe_release(&s->up, &lb->pool);
    h->phase = LB_H_LINGER;
    h->t_linger = sf_loop_now(lb->loop) + linger_ns(s);
    if (h->client_eof) {
        lb_http_end(s, h->end_cause, 0, LB_PC_ABORTED);
        return -1;
    }
    if (fprof(s)->client_close_first == LB_FIRST_SYNFIN) {
        int r = lb_conn_shutdown_write(s->cc);
        if (r < 0 && r != -ENOTCONN) {
            lb_http_end(s, LB_CAUSE_CLIENT_RST, 1, LB_PC_ABORTED);
            return -1;
        }
    }
    return 0;
}

static int linger(struct lb_session *s, int *moved)
{
    struct lb_http *h = s->http;
    char b[4096];
    while (s->cs.rd) {
        ssize_t n = lb_conn_read(s->cc, b, sizeof b);
        if (n == -EAGAIN) {
            s->cs.rd = 0;
            break;
        }
        if (n < 0) {
            lb_http_end(s, h->end_cause, 1, LB_PC_ABORTED);
            return -1;
        }
        if (n == 0) {
            lb_http_end(s, h->end_cause, 0, LB_PC_ABORTED);
            return -1;
        }
        *moved = 1;
    }
    return 0;
}

static int answer_write(struct lb_session *s, int *moved)
{
    struct lb_http *h = s->http;
    while (h->canned_sent < h->canned_len && s->cs.wr) {
        ssize_t n =
            lb_conn_write(s->cc, h->canned + h->canned_sent, h->canned_len - h->canned_sent);
        if (n == -EAGAIN) {
            s->cs.wr = 0;
            break;
        }
        if (n < 0) {
            lb_http_end(s, LB_CAUSE_CLIENT_RST, 1, LB_PC_ABORTED);
            return -1;
        }
        h->canned_sent += (size_t)n;
        s->down.bytes += (uint64_t)n;
        *moved = 1;
    }
    if (h->canned_sent < h->canned_len)
        return 0;
    return enter_linger(s);
}

int lb_http_fail(struct lb_session *s, int status, int cause, int pc_cause)
{
    struct lb_http *h = s->http;
    h->status = status;
    LB_COUNT_INC(s->fe->http_status[status / 100]);
    LB_COUNT_INC(s->be->http_status[status / 100]);
    h->canned = http_canned(status, &h->canned_len);
    h->canned_sent = 0;
    h->resp_bytes = h->canned_len; /* for the log line: written unless the client leaves */
    lb_log_request(s->lb, s);
    lb_http_server_release(s, 0, pc_cause);
    h->end_cause = cause;
    h->phase = LB_H_ANSWER;
    lb_pipe_release(&s->down, &s->lb->pool);
    return 0;
}

/* ---- requests ---- */

int lb_http_request_done(struct lb_session *s)
{
    struct lb_http *h = s->http;
    struct lb *lb = s->lb;
    int cls = h->status / 100;
    LB_COUNT_INC(s->fe->http_status[cls]);
    LB_COUNT_INC(s->be->http_status[cls]);
    lb_log_request(lb, s);
    int keep = h->server_ka && h->req_sent && !s->down.len;
    lb_http_server_release(s, keep, h->server_ka ? LB_PC_ABORTED : LB_PC_SERVER_CLOSE);
    /* What the request left in s->up: body bytes kept for a retry, or not sent at all (a
     * server that answered before it read them). */
    if (s->up.buf) {
        uint32_t rest = h->u_sent + h->u_scan;
        s->up.off += rest;
        s->up.len -= rest;
    }
    if (!s->up.len)
        lb_pipe_release(&s->up, &lb->pool);
    lb_pipe_release(&s->down, &lb->pool);
    int close = !h->keep_client || h->draining;
    reset_request(h);
    if (close) {
        h->end_cause = LB_CAUSE_HTTP_CLOSE;
        return enter_linger(s);
    }
    h->phase = LB_H_IDLE;
    h->t_idle = sf_loop_now(lb->loop);
    return 0;
}

/* A complete head at the start of s->up: the request begins. */
static int request_begin(struct lb_session *s, const struct http_head *hd, uint32_t len)
{
    struct lb_http *h = s->http;
    const struct lb_http_fe_conf *c = &s->fe->conf.http;
    h->nreq++;
    h->t_head = sf_loop_now(s->lb->loop);
    h->method = hd->method;
    h->minor = hd->minor;
    h->head_len = len;
    h->req_ka = hd->keep_alive;
    h->req_upgrade = hd->upgrade || hd->method == HTTP_M_CONNECT;
    http_body_init(&h->rb, hd, &h->lim);
    h->req_done = hd->body == HTTP_BODY_NONE;
    h->close_after = !h->req_ka || !c->keepalive_timeout_ms ||
                     (c->keepalive_requests && h->nreq >= c->keepalive_requests) || h->draining ||
                     h->client_eof;
    /* The body bytes already here are checked before anything goes out: a request whose
     * framing breaks within them is refused whole, and no server sees any of it. */
    struct lb_pipe *p = &s->up;
    if (!h->req_done && p->len > len) {
        int done = 0;
        ssize_t n = http_body_scan(&h->rb, p->buf->data + p->off + len, p->len - len, &done);
        if (n < 0) {
            LB_COUNT_INC(s->fe->http_errors[-n < HTTP_E_COUNT ? -n : 0]);
            h->close_after = 1;
            return lb_http_fail(s, 400, LB_CAUSE_BAD_REQUEST, LB_PC_ABORTED);
        }
        h->u_scan = (uint32_t)n;
        h->req_done = done != 0;
    }
    s->retries = 0;
    s->failed = NULL;
    s->looped = 0;
    h->phase = LB_H_SERVER;
    return lb_http_server_start(s, NULL);
}

static int request_head(struct lb_session *s, int *moved)
{
    struct lb_http *h = s->http;
    struct lb_pipe *p = &s->up;
    if (!p->len) {
        if (h->client_eof) {
            lb_http_end(s, LB_CAUSE_CLIENT_FIN, 0, LB_PC_ABORTED);
            return -1;
        }
        return 0;
    }
    if (h->phase == LB_H_IDLE) {
        h->phase = LB_H_HEAD;
        h->t_first = sf_loop_now(s->lb->loop);
    }
    struct http_head *hd = lb_http_scratch();
    int r = http_parse_head(p->buf->data + p->off, p->len, HTTP_REQUEST, 0, &h->lim, hd);
    if (r == 0) {
        if (h->client_eof) { /* a head cut short: nobody to answer */
            lb_http_end(s, LB_CAUSE_CLIENT_FIN, 0, LB_PC_ABORTED);
            return -1;
        }
        return 0;
    }
    *moved = 1;
    if (r < 0) {
        /* Refused: never forwarded, answered 400, and the connection closed (what follows
         * cannot be told apart from the refused request). */
        LB_COUNT_INC(s->fe->http_errors[-r < HTTP_E_COUNT ? -r : 0]);
        h->nreq++;
        h->method = HTTP_M_OTHER;
        h->t_head = sf_loop_now(s->lb->loop);
        h->close_after = 1;
        return lb_http_fail(s, 400, LB_CAUSE_BAD_REQUEST, LB_PC_ABORTED);
    }
    return request_begin(s, hd, (uint32_t)r);
}

/* Reads what the client sends, within the buffer's bound. Bytes of the request body already
 * sent (kept for a retry) give their room up when nothing else can be read. */
static int client_read(struct lb_session *s, int *moved)
{
    struct lb_http *h = s->http;
    struct lb_pipe *p = &s->up;
    struct lb *lb = s->lb;
    while (s->cs.rd && !h->client_eof) {
        if (!p->buf) {
            p->buf = lb_buf_get(&lb->pool, p->cap);
            if (!p->buf) {
                lb_http_end(s, LB_CAUSE_ERROR, 1, LB_PC_ABORTED);
                return -1;
            }
            p->off = p->len = 0;
        }
        if (p->off + p->len == p->cap && p->off == 0 && h->u_sent && !h->req_done) {
            p->off = h->u_sent; /* the retry gives way to the body */
            p->len -= h->u_sent;
            h->u_sent = 0;
            h->replay_lost = 1;
        }
        if (p->off + p->len == p->cap && p->off > 0) {
            memmove(p->buf->data, p->buf->data + p->off, p->len);
            p->off = 0;
        }
        uint32_t room = p->cap - p->off - p->len;
        if (!room)
            break; /* full: back-pressure on the client */
        ssize_t n = lb_conn_read(s->cc, p->buf->data + p->off + p->len, room);
        if (n > 0) {
            p->len += (uint32_t)n;
            *moved = 1;
            s->last_c = sf_loop_now(lb->loop);
            if ((uint32_t)n < room && !s->cs.err) {
                s->cs.rd = 0;
                h->client_eof = s->cs.hup;
            }
        } else if (n == 0) {
            h->client_eof = 1;
            s->cs.rd = 0;
        } else if (n == -EAGAIN) {
            s->cs.rd = 0;
        } else {
            lb_http_end(s, LB_CAUSE_CLIENT_RST, 1, LB_PC_ABORTED);
            return -1;
        }
    }
    if (!p->len)
        lb_pipe_release(p, &lb->pool);
    return 0;
}

/* ---- events and timers ---- */

static int step(struct lb_session *s, int *moved)
{
    struct lb_http *h = s->http;
    switch (h->phase) {
    case LB_H_IDLE:
    case LB_H_HEAD:
        if (client_read(s, moved) < 0)
            return -1;
        return request_head(s, moved);
    case LB_H_SERVER: return client_read(s, moved);
    case LB_H_EXCHANGE:
        if (client_read(s, moved) < 0)
            return -1;
        return lb_http_exchange(s, moved);
    case LB_H_ANSWER: return answer_write(s, moved);
    default: return linger(s, moved);
    }
}

/* The next deadline and the cause it would carry. */
static uint64_t deadline(const struct lb_session *s, int *cause)
{
    const struct lb_http *h = s->http;
    const uint64_t ms = SF_NSEC_PER_MS;
    *cause = LB_CAUSE_IDLE_TIMEOUT;
    switch (h->phase) {
    case LB_H_IDLE:
        if (h->nreq) {
            *cause = LB_CAUSE_KEEPALIVE_TIMEOUT;
            return h->t_idle + s->fe->conf.http.keepalive_timeout_ms * ms;
        }
        return h->t_idle + fprof(s)->idle_timeout_ms * ms;
    case LB_H_HEAD:
    case LB_H_ANSWER: return s->last_c + fprof(s)->idle_timeout_ms * ms;
    case LB_H_SERVER:
        if (s->waiting) {
            *cause = LB_CAUSE_ERROR;
            return s->t_retry;
        }
        if (s->state == LB_S_QUEUED) {
            *cause = LB_CAUSE_QUEUE_TIMEOUT;
            return s->t_queued + s->be->conf.queue_timeout_ms * ms;
        }
        *cause = LB_CAUSE_CONNECT_TIMEOUT;
        return s->t_connect + bprof(s)->connect_timeout_ms * ms;
    case LB_H_EXCHANGE: {
        uint64_t d = s->last_c + fprof(s)->idle_timeout_ms * ms;
        uint64_t d2 = s->last_s + bprof(s)->idle_timeout_ms * ms;
        return d < d2 ? d : d2;
    }
    default: *cause = h->end_cause; return h->t_linger;
    }
}

static int arm(struct lb_session *s)
{
    int cause;
    uint64_t d = deadline(s, &cause);
    if (sf_loop_timer_armed(&s->timer) && s->timer.when <= d)
        return 0;
    return sf_loop_timer_set(s->lb->loop, &s->timer, d);
}

/* A deadline passed in phase h->phase. */
static void expired(struct lb_session *s, int cause)
{
    struct lb_http *h = s->http;
    int rst = fprof(s)->reset_on_timeout;
    switch (h->phase) {
    case LB_H_IDLE: /* keep-alive ends with a FIN: the client sees EOF, not an error */
        lb_http_end(s, cause, cause == LB_CAUSE_IDLE_TIMEOUT && rst, LB_PC_ABORTED);
        return;
    case LB_H_HEAD: lb_http_fail(s, 408, cause, LB_PC_ABORTED); break;
    case LB_H_SERVER:
        if (s->waiting) {
            if (lb_http_server_room_retry(s) < 0)
                return;
        } else if (s->state == LB_S_QUEUED) {
            LB_COUNT_INC(s->be->queue_timeouts);
            lb_http_fail(s, 503, cause, LB_PC_ABORTED);
        } else if (lb_http_server_connect_timeout(s) < 0) {
            return;
        }
        break;
    case LB_H_EXCHANGE:
        if (!h->resp_started) {
            lb_http_fail(s, 504, cause, LB_PC_ABORTED);
            break;
        }
        lb_http_end(s, cause, rst, LB_PC_ABORTED);
        return;
    case LB_H_ANSWER: lb_http_end(s, cause, rst, LB_PC_ABORTED); return;
    default: lb_http_end(s, h->end_cause, 0, LB_PC_ABORTED); return;
    }
    lb_http_run(s);
}

static void on_timer(struct sf_loop_timer *t)
{
    struct lb_session *s = CONTAINER(t, struct lb_session, timer);
    int cause;
    uint64_t d = deadline(s, &cause);
    if (d <= sf_loop_now(s->lb->loop)) {
        expired(s, cause);
        return;
    }
    if (sf_loop_timer_set(s->lb->loop, t, d) < 0)
        lb_http_end(s, LB_CAUSE_ERROR, 1, LB_PC_ABORTED);
}

void lb_http_run(struct lb_session *s)
{
    for (int i = 0; i < 64; i++) {
        int moved = 0, phase = s->http->phase;
        if (step(s, &moved) < 0)
            return;
        if (!moved && phase == s->http->phase)
            break;
    }
    if (arm(s) < 0)
        lb_http_end(s, LB_CAUSE_ERROR, 1, LB_PC_ABORTED);
}

static void client_ev(void *ctx, struct lb_conn *c, unsigned ev)
{
    struct lb_session *s = ctx;
    (void)c;
    lb_side_note(&s->cs, ev);
    lb_http_run(s);
}

void lb_http_start(struct lb_session *s)
{
    struct lb *lb = s->lb;
    struct lb_http *h = calloc(1, sizeof *h);
    if (!h) {
        lb_conn_abort(s->cc);
        lb_log_session(lb, s, LB_CAUSE_ERROR, 1, 0);
        lb_session_finish(s, LB_CAUSE_ERROR);
        return;
    }
    s->http = h;
    http_limits_default(&h->lim);
    h->lim.max_head = s->fe->conf.http.max_header_size;
    if (s->up.cap < h->lim.max_head)
        s->up.cap = h->lim.max_head;
    if (s->down.cap < h->lim.max_head)
        s->down.cap = h->lim.max_head;
    sf_sb_init(&h->req_out);
    sf_sb_init(&h->resp_out);
    h->phase = LB_H_IDLE;
    h->t_idle = sf_loop_now(lb->loop);
    s->state = LB_S_ESTABLISHED;
    s->timer.fn = on_timer;
    lb_conn_set_handler(s->cc, client_ev, s);
    if (s->cs.rd)
        lb_http_run(s);
    else if (arm(s) < 0)
        lb_http_end(s, LB_CAUSE_ERROR, 1, LB_PC_ABORTED);
}

void lb_http_dequeued(struct lb_session *s, struct lb_server *srv)
{
    if (!srv) {
        lb_http_fail(s, 503, LB_CAUSE_NO_SERVER, LB_PC_ABORTED);
    } else if (lb_http_server_start(s, srv) < 0) {
        return;
    }
    lb_http_run(s);
}
