/* Server health: active checks (TCP connect, or an HTTP request with an expected status)
 * with rise/fall hysteresis, and passive ejection on connect failures. Checks run on the
 * session transport and end with RST, so they leave no TIME_WAIT behind. */
#include "lb/lb.h"
#include "lb/proxy_proto.h"
#include "lb/session.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

struct lb_health {
    struct lb *lb;
    struct lb_server *srv;
    struct sf_loop_timer timer;
    struct lb_aux aux;
    struct lb_conn *conn;
    uint64_t started;
    char req[LB_PROXY_HEADER_MAX + 512];
    size_t reqlen, sent;
    char resp[16];
    size_t resplen;
};

static void set_up(struct lb *lb, struct lb_server *s, int up, const char *why)
{
    if (s->up == up)
        return;
    s->up = up;
    lb_server_publish(lb, s);
    s->backend->health_gen++;
    if (!up)
        lb_pool_purge(&s->pool, LB_PC_SERVER_GONE); /* no request will take them */
    lb_logf(lb, "event=server_%s backend=%s server=%s reason=\"%s\"", up ? "up" : "down",
            s->backend->conf.name, s->name, why);
    /* Up: a queued session may take it. Down: one queued for it (a hash that chose it, or
     * the last server) goes elsewhere or ends no_server now. */
    lb_backend_kick(lb, s->backend);
}

/* ok: 1 passed, 0 failed, -1 not judged (synfin itself ran short: no verdict on the
 * server, the next interval tries again). */
static void finish(struct lb_health *h, int ok, const char *why)
{
    struct lb *lb = h->lb;
    struct lb_server *s = h->srv;
    const struct lb_check_conf *k = &s->backend->conf.check;
    if (h->conn) {
        lb_conn_abort(h->conn);
        lb_aux_del(lb, &h->aux);
        h->conn = NULL;
    }
    snprintf(s->last_check, sizeof s->last_check, "%s", why);
    if (ok < 0) {
        /* no verdict */
    } else if (ok) {
        s->check_fail = 0;
        if (++s->check_ok >= k->rise)
            set_up(lb, s, 1, why);
    } else {
        s->check_ok = 0;
        if (++s->check_fail >= k->fall)
            set_up(lb, s, 0, why);
    }
    uint64_t next = h->started + k->interval_ms * SF_NSEC_PER_MS;
    uint64_t now = sf_loop_now(lb->loop);
    sf_loop_timer_set(lb->loop, &h->timer, next > now ? next : now);
}

static void on_conn(void *ctx, struct lb_conn *c, unsigned ev)
{
    struct lb_health *h = ctx;
    (void)ev;
    int r = lb_conn_connect_result(c);
    if (r == -EINPROGRESS)
        return;
    if (r < 0) {
        finish(h, 0, r == -ELOOP ? "the address leads back into synfin" : strerror(-r));
        return;
    }
    if (h->srv->backend->conf.check.type == LB_CHECK_TCP) {
        finish(h, 1, "connected");
        return;
    }
    while (h->sent < h->reqlen) {
        ssize_t n = lb_conn_write(c, h->req + h->sent, h->reqlen - h->sent);
        if (n == -EAGAIN)
            return;
        if (n < 0) {
            finish(h, 0, strerror((int)-n));
            return;
        }
        h->sent += (size_t)n;
    }
    /* "HTTP/1.x NNN": 12 bytes are enough to judge. */
    while (h->resplen < 12) {
        ssize_t n = lb_conn_read(c, h->resp + h->resplen, 12 - h->resplen);
        if (n == -EAGAIN)
            return;
        if (n < 0) {
            finish(h, 0, strerror((int)-n));
            return;
        }
        if (n == 0)
            break;
        h->resplen += (size_t)n;
    }
    int expect = h->srv->backend->conf.check.expect;
    h->resp[h->resplen] = 0;
    char why[64];
    if (h->resplen < 12 || memcmp(h->resp, "HTTP/1.", 7) != 0 || h->resp[8] != ' ') {
        finish(h, 0, "not an HTTP response");
        return;
    }
    int status = atoi(h->resp + 9);
    snprintf(why, sizeof why, "HTTP status %d", status);
    finish(h, status == expect, why);
}

static void on_timer(struct sf_loop_timer *t)
{
    struct lb_health *h = CONTAINER(t, struct lb_health, timer);
    struct lb *lb = h->lb;
    struct lb_server *s = h->srv;
    const struct lb_check_conf *k = &s->backend->conf.check;
    if (h->conn) {
        finish(h, 0, "check timed out");
        return;
    }
    h->started = sf_loop_now(lb->loop);
    h->sent = h->resplen = 0;
    if (k->type == LB_CHECK_HTTP) {
        char host[LB_ADDR_STRLEN];
        const char *hh = k->host[0] ? k->host : lb_addr_format(&s->addr, host, sizeof host);
        /* A server behind send_proxy expects the header first: a LOCAL (v2) or UNKNOWN (v1)
         * one says "a check, no client", as HAProxy's check-send-proxy does. */
        size_t pre = s->send_proxy ? lb_proxy_write(s->send_proxy == LB_PROXY_V1 ? 1 : 2, NULL,
                                                    NULL, (uint8_t *)h->req)
                                   : 0;
        int n = snprintf(h->req + pre, sizeof h->req - pre,
                         "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: synfin-check\r\n"
                         "Connection: close\r\n\r\n",
                         k->uri, hh);
        h->reqlen = n > 0 && (size_t)n < sizeof h->req - pre ? pre + (size_t)n : 0;
    }
    struct lb_connect_opts o;
    memset(&o, 0, sizeof o);
    o.dst = s->addr;
    lb_profile_sockopts(&s->backend->conf.profile, &o.sock);
    o.sock.fastopen_connect = 0; /* a check must see the handshake, not wait for data */
    struct lb_conn *c;
    int rc = lb_connect(lb->tp, &o, on_conn, h, &c);
    if (rc < 0) {
        char why[64];
        int ours = rc == -EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == -ENOMEM;
        snprintf(why, sizeof why, "%s%s", ours ? "skipped: " : "", strerror(-rc));
        finish(h, ours ? -1 : 0, why);
        return;
    }
    h->conn = c;
    lb_aux_add(lb, &h->aux, c);
    sf_loop_timer_set(lb->loop, &h->timer, h->started + k->timeout_ms * SF_NSEC_PER_MS);
}

void lb_health_start(struct lb *lb, struct lb_server *s)
{
    /* With threads the checks run once, on thread 0, which publishes each verdict. */
    if (s->health || s->backend->conf.check.type == LB_CHECK_NONE || lb->thread != 0)
        return;
    struct lb_health *h = calloc(1, sizeof *h);
    if (!h) {
        lb_logf(lb, "event=check_error server=%s error=\"out of memory\"", s->name);
        return;
    }
    h->lb = lb;
    h->srv = s;
    h->timer.fn = on_timer;
    s->health = h;
    s->check_ok = s->check_fail = 0;
    /* Spread the first checks a little so a large backend does not probe all at once. */
    uint64_t spread = (uint64_t)((uintptr_t)s / sizeof *s % 97) * SF_NSEC_PER_MS;
    sf_loop_timer_set(lb->loop, &h->timer, sf_loop_now(lb->loop) + spread);
}

void lb_health_stop(struct lb *lb, struct lb_server *s)
{
    struct lb_health *h = s->health;
    if (!h)
        return;
    sf_loop_timer_cancel(lb->loop, &h->timer);
    if (h->conn) {
        lb_conn_abort(h->conn);
        lb_aux_del(lb, &h->aux);
    }
    free(h);
    s->health = NULL;
}

void lb_server_connect_failed(struct lb *lb, struct lb_server *s)
{
    struct lb_backend *b = s->backend;
    s->fails++;
    if (!b->conf.max_fails || s->fails < b->conf.max_fails)
        return;
    s->fails = 0;
    if (s->health) {
        /* Checks decide when it comes back (rise successes). */
        s->check_ok = 0;
        set_up(lb, s, 0, "connect failed (passive)");
        return;
    }
    uint64_t until = sf_loop_now(lb->loop) + b->conf.fail_timeout_ms * SF_NSEC_PER_MS;
    s->ejected_until = until;
    lb_pool_purge(&s->pool, LB_PC_SERVER_GONE);
    if (!b->next_unejection || until < b->next_unejection)
        b->next_unejection = until;
    if (!b->removed && (!sf_loop_timer_armed(&b->uneject) || until < b->uneject.when))
        (void)sf_loop_timer_set(lb->loop, &b->uneject, until); /* failing: the queue waits */
    b->health_gen++;
    lb_logf(lb, "event=server_ejected backend=%s server=%s for_ms=%llu", b->conf.name, s->name,
            (unsigned long long)b->conf.fail_timeout_ms);
}

void lb_backend_unejected(struct sf_loop_timer *t)
{
    struct lb_backend *b = CONTAINER(t, struct lb_backend, uneject);
    uint64_t now = sf_loop_now(b->lb->loop);
    uint64_t next = 0;
    for (size_t i = 0; i < b->nservers; i++) {
        uint64_t u = b->servers[i]->ejected_until;
        if (u > now && (!next || u < next))
            next = u;
    }
    /* Every ejection still in force, not only the first, gets its turn. */
    b->next_unejection = next;
    b->health_gen++;
    if (next)
        (void)sf_loop_timer_set(b->lb->loop, t, next);
    lb_backend_kick(b->lb, b);
}

void lb_server_connect_ok(struct lb_server *s)
{
    s->fails = 0;
}
