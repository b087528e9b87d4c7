/* Each connection reads what the peer sends and answers according to the mode:
 *   echo     every byte back, as it arrives; closes after the peer's FIN (passive close)
 *   discard  reads and drops; closes after the peer's FIN
 *   sink     counts and hashes; on the peer's FIN answers "<bytes> <sha256>\n" and closes
 *   http     HTTP/1.1: one response per request, keep-alive unless the request says
 *            Connection: close (then we close first and hold TIME-WAIT); "GET /reset" is
 *            answered with RST
 * What the send buffer does not take waits in a per-connection output queue, and reading
 * stops while it is not empty: a slow reader slows its writer, no buffer grows unbounded. */
#include "app.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "util/sha256.h"

#define REQ_MAX 16384
#define OUT_MAX (256 * 1024)

struct aconn {
    struct app *app;
    struct sf_conn *c;
    struct aconn *prev, *next;
    char *out; /* owed to the peer, not yet in the send buffer */
    size_t out_len, out_off;
    int close_after_out; /* our FIN (or RST) once the queue is empty */
    int reset_after_out;
    int peer_fin;
    struct sf_sha256 sha;
    uint64_t bytes;
    char *req;
    size_t req_len;
    size_t body_left;
};

int app_mode_parse(const char *s)
{
    static const char *const names[] = {"echo", "discard", "sink", "http"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static void conn_free(struct aconn *ac)
{
    struct app *a = ac->app;
    if (ac->prev)
        ac->prev->next = ac->next;
    else
        a->conns = ac->next;
    if (ac->next)
        ac->next->prev = ac->prev;
    a->open--;
    free(ac->out);
    free(ac->req);
    free(ac);
}

static void finish(struct aconn *ac, int reset)
{
    if (reset) {
        ac->app->resets_sent++;
        sf_abort(ac->c);
    } else {
        sf_close(ac->c);
    }
    conn_free(ac);
}

/* Queues bytes for the peer; returns -1 when the queue would exceed its bound (the peer is
 * not reading: the connection is reset). */
static int queue(struct aconn *ac, const void *p, size_t n)
{
    if (ac->out_len - ac->out_off + n > OUT_MAX)
        return -1;
    if (ac->out_off) {
        memmove(ac->out, ac->out + ac->out_off, ac->out_len - ac->out_off);
        ac->out_len -= ac->out_off;
        ac->out_off = 0;
    }
    char *o = realloc(ac->out, ac->out_len + n);
    if (!o)
        return -1;
    ac->out = o;
    memcpy(ac->out + ac->out_len, p, n);
    ac->out_len += n;
    return 0;
}

/* Sends what waits, then whatever else; returns 1 while something is still waiting. */
static int send_or_queue(struct aconn *ac, const void *p, size_t n)
{
    while (ac->out_off < ac->out_len) {
        ssize_t w = sf_send(ac->c, ac->out + ac->out_off, ac->out_len - ac->out_off);
        if (w <= 0)
            break;
        ac->out_off += (size_t)w;
    }
    if (ac->out_off == ac->out_len)
        ac->out_off = ac->out_len = 0;
    if (n && ac->out_len == 0) {
        ssize_t w = sf_send(ac->c, p, n);
        size_t sent = w > 0 ? (size_t)w : 0;
        p = (const char *)p + sent;
        n -= sent;
    }
    if (n && queue(ac, p, n) < 0)
        return -1;
    return ac->out_len > ac->out_off;
}

static int http_respond(struct aconn *ac, const struct http_req *r)
{
    struct app *a = ac->app;
    a->requests++;
    if (!r->bad && strcmp(r->path, "/reset") == 0) {
        ac->close_after_out = ac->reset_after_out = 1;
        return 0;
    }
    /* Head and body leave in one send: as two, the body would be a second small segment
     * that Nagle holds until the head is acknowledged, and the client delays that ACK
     * (40 ms on Linux) waiting for more. */
    char head[4096];
    int n;
    if (r->bad)
        n = snprintf(head, sizeof head,
                     "HTTP/1.1 400 Bad Request\r\nServer: synfin-serve\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n");
    else
        n = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nServer: synfin-serve\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\n%s\r\n",
                     a->body_len,
                     !r->keep_alive ? "Connection: close\r\n"
                     : r->http10    ? "Connection: keep-alive\r\n"
                                    : "");

    /* Connection: close: we close first, and the FIN rides on the last byte of the reply.
     * Sent apart, a client that closes as soon as it has the body (curl does) can beat our
     * FIN to the wire, and both sides end in TIME-WAIT instead of ours alone. */
    if (!r->keep_alive)
        sf_setopt(ac->c, SF_OPT_CORK, 1);
    size_t body_len = r->bad ? 0 : a->body_len;
    if ((size_t)n + body_len <= sizeof head) {
        memcpy(head + n, a->body, body_len);
        n += (int)body_len;
        body_len = 0;
    }
    if (send_or_queue(ac, head, (size_t)n) < 0)
        return -1;
    if (body_len && send_or_queue(ac, a->body, body_len) < 0)
        return -1;

    if (!r->keep_alive)
        ac->close_after_out = 1;
    return 0;
}

/* http: every complete request in the buffer is answered in order (pipelining). */
static int http_input(struct aconn *ac, const char *p, size_t n)
{
    while (n) {
        if (ac->body_left) {
            size_t k = n < ac->body_left ? n : ac->body_left;
            ac->body_left -= k;
            p += k;
            n -= k;
            continue;
        }
        if (ac->close_after_out)
            return 0; /* after Connection: close, the rest is ignored */
        size_t room = REQ_MAX - ac->req_len;
        size_t take = n < room ? n : room;
        memcpy(ac->req + ac->req_len, p, take);
        ac->req_len += take;
        p += take;
        n -= take;
        struct http_req r;
        size_t used;
        while (!ac->close_after_out && (used = http_parse(ac->req, ac->req_len, &r)) > 0) {
            memmove(ac->req, ac->req + used, ac->req_len - used);
            ac->req_len -= used;
            if (http_respond(ac, &r) < 0)
                return -1;
            size_t skip = r.body < ac->req_len ? r.body : ac->req_len;
            memmove(ac->req, ac->req + skip, ac->req_len - skip);
            ac->req_len -= skip;
            ac->body_left = r.body - skip;
        }
        if (ac->req_len == REQ_MAX) { /* a head longer than we accept */
            struct http_req bad = {.bad = 1};
            ac->req_len = 0;
            return http_respond(ac, &bad);
        }
    }
    return 0;
}

static int consume(struct aconn *ac, const char *buf, size_t n)
{
    switch (ac->app->mode) {
    case MODE_ECHO: return send_or_queue(ac, buf, n) < 0 ? -1 : 0;
    case MODE_DISCARD: return 0;
    case MODE_SINK:
        sf_sha256_update(&ac->sha, buf, n);
        ac->bytes += n;
        return 0;
    case MODE_HTTP: return http_input(ac, buf, n);
    }
    return 0;
}

static void on_peer_fin(struct aconn *ac)
{
    ac->peer_fin = 1;
    if (ac->app->mode == MODE_SINK) {
        uint8_t d[32];
        char hex[65], line[128];
        sf_sha256_final(&ac->sha, d);
        sf_sha256_hex(d, hex);
        int n = snprintf(line, sizeof line, "%llu %s\n", (unsigned long long)ac->bytes, hex);
        send_or_queue(ac, line, (size_t)n);
    }
    ac->close_after_out = 1;
}

static void on_conn(struct sf_conn *c, unsigned ev, void *user)
{
    struct aconn *ac = user;
    (void)c;
    if (ev & SF_EV_RESET) {
        finish(ac, 0); /* the peer reset it: only our handle is left to release */
        return;
    }
    char buf[16384];
    /* Flush first; read only while nothing waits (back-pressure). */
    int waiting = send_or_queue(ac, NULL, 0);
    while (waiting == 0 && !ac->peer_fin) {
        ssize_t r = sf_recv(ac->c, buf, sizeof buf);
        if (r == -EAGAIN)
            break;
        if (r == 0) {
            on_peer_fin(ac);
            break;
        }
        if (r < 0 || consume(ac, buf, (size_t)r) < 0) {
            finish(ac, 1);
            return;
        }
        waiting = send_or_queue(ac, NULL, 0);
    }
    if (waiting < 0) {
        finish(ac, 1);
        return;
    }
    if (ac->close_after_out && ac->out_len == 0) {
        finish(ac, ac->reset_after_out);
        return;
    }
    if (sf_conn_state(ac->c) == SF_CLOSED)
        finish(ac, 0);
}

void app_on_listener(struct sf_conn *l, unsigned ev, void *user)
{
    struct app *a = user;
    (void)ev;
    int err;
    struct sf_conn *c;
    while ((c = sf_accept(l, &err)) != NULL) {
        struct aconn *ac = calloc(1, sizeof *ac);
        if (ac && a->mode == MODE_HTTP && !(ac->req = malloc(REQ_MAX))) {
            free(ac);
            ac = NULL;
        }
        if (!ac) {
            sf_abort(c); /* no memory: refuse it cleanly */
            continue;
        }
        ac->app = a;
        ac->c = c;
        sf_sha256_init(&ac->sha);
        ac->next = a->conns;
        if (a->conns)
            a->conns->prev = ac;
        a->conns = ac;
        a->accepted++;
        a->open++;
        sf_set_handler(c, on_conn, ac);
    }
}

void app_drain(struct app *a)
{
    a->draining = 1;
    if (a->listener) {
        sf_close(a->listener);
        a->listener = NULL;
    }
    for (struct aconn *ac = a->conns, *next; ac; ac = next) {
        next = ac->next;
        ac->close_after_out = 1;
        if (ac->out_len == 0)
            finish(ac, 0);
    }
}
