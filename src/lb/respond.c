/* The built-in responder (`respond ADDRESS "text";`): a tiny HTTP server answering every
 * connection with a fixed 200 response and closing it, so the default config has backends
 * without anything else installed. It runs on the same transport as sessions. */
#include "lb/lb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define REQ_MAX                      8192
#define RESPOND_TIMEOUT              (10 * SF_NSEC_PER_SEC)

struct rconn {
    struct lb_aux aux;
    struct lb_respond *r;
    struct sf_loop_timer timer;
    char req[REQ_MAX];
    size_t reqlen;
    size_t sent;
    int answering;
};

static void rconn_free(struct rconn *rc, int abort)
{
    struct lb *lb = rc->r->lb;
    sf_loop_timer_cancel(lb->loop, &rc->timer);
    if (abort)
        lb_conn_abort(rc->aux.conn);
    else
        lb_conn_close(rc->aux.conn);
    lb_aux_del(lb, &rc->aux);
    struct lb_respond *r = rc->r;
    free(rc);
    lb_respond_put(r);
}

void lb_respond_put(struct lb_respond *r)
{
    if (--r->refs == 0) {
        free(r->response);
        free(r->conf.body);
        free(r);
    }
}

static void kill_rconn(struct lb_aux *a)
{
    rconn_free(CONTAINER(a, struct rconn, aux), 1);
}

static void on_timeout(struct sf_loop_timer *t)
{
    rconn_free(CONTAINER(t, struct rconn, timer), 1);
}

static int request_complete(const struct rconn *rc)
{
    /* An HTTP request head ends with an empty line; a client that sends nothing but its FIN
     * gets the response too (nc -N, raw TCP checks). */
    for (size_t i = 0; i + 1 < rc->reqlen; i++) {
        if (rc->req[i] == '\n' && rc->req[i + 1] == '\n')
            return 1;
        if (i + 3 < rc->reqlen && !memcmp(rc->req + i, "\r\n\r\n", 4))
            return 1;
    }
    return 0;
}

static void on_conn(void *ctx, struct lb_conn *c, unsigned ev)
{
    struct rconn *rc = ctx;
    (void)ev;
    while (!rc->answering) {
        if (rc->reqlen == REQ_MAX) {
            rc->answering = 1; /* too long a head: answer anyway, then close */
            break;
        }
        ssize_t n = lb_conn_read(c, rc->req + rc->reqlen, REQ_MAX - rc->reqlen);
        if (n == -EAGAIN)
            return;
        if (n < 0) {
            rconn_free(rc, 1);
            return;
        }
        if (n == 0) {
            rc->answering = 1;
            break;
        }
        rc->reqlen += (size_t)n;
        if (request_complete(rc))
            rc->answering = 1;
    }
    struct lb_respond *r = rc->r;
    while (rc->sent < r->response_len) {
        /* The close follows the last byte: its FIN can ride in the same segment. */
        ssize_t n =
            lb_conn_send(c, r->response + rc->sent, r->response_len - rc->sent, LB_WRITE_FIN_NEXT);
        if (n == -EAGAIN)
            return;
        if (n < 0) {
            rconn_free(rc, 1);
            return;
        }
        rc->sent += (size_t)n;
    }
    r->served++;
    rconn_free(rc, 0);
}

/* Accepts while the transport has room for it beyond what health checks need; otherwise
 * pauses (its clients wait in the backlog) until room.c resumes it. */
void lb_respond_accept(struct lb_respond *r)
{
    struct lb *lb = r->lb;
    r->fd_paused = 0;
    while (r->listener) {
        if (!lb_respond_room(lb)) {
            char who[LB_ADDR_STRLEN + 16], a[LB_ADDR_STRLEN];
            r->fd_paused = 1;
            snprintf(who, sizeof who, "respond=%s", lb_addr_format(&r->conf.listen, a, sizeof a));
            lb_fd_short(lb, who);
            return;
        }
        struct lb_conn *c;
        int rc = lb_accept(r->listener, 0, NULL, NULL, &c);
        if (rc == -EAGAIN)
            return;
        if (rc < 0) {
            if (rc == -ECONNABORTED || rc == -EINTR)
                continue;
            if (rc == -EMFILE || rc == -ENFILE) {
                r->fd_paused = 1; /* retried after each batch while the episode lasts */
                lb_fd_short(lb, "respond=yes");
                return;
            }
            lb_logf(lb, "event=accept_error respond=yes error=%s", strerror(-rc));
            return;
        }
        struct rconn *k = calloc(1, sizeof *k);
        if (!k) {
            lb_conn_abort(c);
            continue;
        }
        k->r = r;
        r->refs++;
        k->timer.fn = on_timeout;
        k->aux.kill = kill_rconn;
        lb_aux_add(lb, &k->aux, c);
        lb_conn_set_handler(c, on_conn, k);
        if (sf_loop_timer_set(lb->loop, &k->timer, sf_loop_now(lb->loop) + RESPOND_TIMEOUT) < 0) {
            rconn_free(k, 1);
            continue;
        }
    }
}

static void on_listener(void *ctx, struct lb_listener *l)
{
    (void)l;
    lb_respond_accept(ctx);
}

int lb_respond_set_body(struct lb_respond *r, const char *body)
{
    size_t bl = strlen(body);
    size_t cap = bl + 160;
    char *resp = malloc(cap);
    if (!resp)
        return -1;
    int n = snprintf(resp, cap,
                     "HTTP/1.1 200 OK\r\nServer: synfin\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     bl);
    memcpy(resp + n, body, bl);
    free(r->response);
    r->response = resp;
    r->response_len = (size_t)n + bl;
    return 0;
}

int lb_respond_listen(struct lb_respond *r, char *err, size_t errlen)
{
    struct lb_listen_opts o;
    memset(&o, 0, sizeof o);
    o.addr = r->conf.listen;
    o.backlog = 511;
    o.sock.nodelay = 1;
    int rc = lb_listen(r->lb->tp, &o, on_listener, r, &r->listener);
    if (rc < 0) {
        char a[LB_ADDR_STRLEN];
        snprintf(err, errlen, "respond: cannot listen on %s: %s",
                 lb_addr_format(&r->conf.listen, a, sizeof a), strerror(-rc));
        r->listener = NULL;
        return -1;
    }
    return 0;
}

void lb_respond_adopt(struct lb_respond *r, struct lb_listener *l)
{
    r->listener = l;
    lb_listener_set_handler(l, on_listener, r);
}
