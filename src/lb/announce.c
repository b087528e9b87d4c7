/* Route announcement for a node behind ECMP; see announce.h. */
#include "lb/announce.h"
#include "io/loop.h"
#include "io/route.h"
#include "io/tun.h"
#include "lb/backend.h"
#include "lb/lb.h"

#include <stdlib.h>
#include <string.h>

/* How often the frontends' readiness is looked at. A health check's verdict, a runtime
 * state change or a reload reaches the routing daemon within this, far below any BGP or BFD
 * detection time, and a look that changes nothing costs no system call. */
#define WATCH_NS (200 * SF_NSEC_PER_MS)

struct route {
    struct lb_addr host; /* port 0 */
};

struct lb_announce {
    struct lb *lb;
    struct sf_tun anchor;
    int ifindex;
    uint32_t table;
    int withdrawn; /* SIGTERM: nothing goes out again */
    struct route *routes;
    size_t nroutes, cap;
    struct sf_loop_timer watch;
};

static const uint8_t *addr_bytes(const struct lb_addr *a, int *family)
{
    *family = a->u.sa.sa_family;
    return *family == AF_INET6 ? a->u.in6.sin6_addr.s6_addr : (const uint8_t *)&a->u.in4.sin_addr;
}

static int route_set(struct lb_announce *a, const struct lb_addr *host, int add, const char *why)
{
    char err[256], text[LB_ADDR_STRLEN];
    int family;
    const uint8_t *bytes = addr_bytes(host, &family);
    lb_addr_host(host, text, sizeof text);
    if (sf_route_host(family, bytes, a->ifindex, a->table, add, err, sizeof err) < 0) {
        lb_logf(a->lb, "event=announce_error address=%s error=\"%s\"", text, err);
        return -1;
    }
    lb_logf(a->lb, "event=%s address=%s table=%u reason=%s", add ? "announce" : "withdraw", text,
            a->table, why);
    return 0;
}

/* Listener i of f is open and its backend has a server that takes new sessions (up by its
 * checks and not drained or in maintenance through the runtime API). */
static int frontend_ready(const struct lb_frontend *f, uint32_t i, uint64_t now)
{
    if (!f->listener[i] || !f->backend)
        return 0;
    for (size_t k = 0; k < f->backend->nservers; k++)
        if (lb_server_takes_new(f->backend->servers[k], now))
            return 1;
    return 0;
}

/* An address is wanted while any frontend on it can serve: the nodes usually share their
 * servers, so withdrawing a whole address for one port's empty backend would take it from
 * every node at once. */
static int wanted(const struct lb_announce *a, const struct lb_addr *host, uint64_t now)
{
    if (a->withdrawn || a->lb->draining || a->lb->stopping)
        return 0;
    for (size_t i = 0; i < a->lb->nfe; i++) {
        const struct lb_frontend *f = a->lb->fe[i];
        for (uint32_t k = 0; k < f->conf.nlisten; k++)
            if (lb_addr_same_host(&f->conf.listen[k], host) && frontend_ready(f, k, now))
                return 1;
    }
    return 0;
}

static int announced(const struct lb_announce *a, const struct lb_addr *host)
{
    for (size_t i = 0; i < a->nroutes; i++)
        if (lb_addr_same_host(&a->routes[i].host, host))
            return 1;
    return 0;
}

/* listen's address, announced if it is wanted and not yet. */
static void add_route(struct lb_announce *a, const struct lb_addr *listen, uint64_t now)
{
    struct lb_addr host = *listen;
    lb_addr_set_port(&host, 0);
    if (announced(a, &host) || !wanted(a, &host, now))
        return;
    if (a->nroutes == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 8;
        struct route *r = realloc(a->routes, cap * sizeof *r);
        if (!r)
            return; /* tried again at the next look */
        a->routes = r;
        a->cap = cap;
    }
    if (route_set(a, &host, 1, "ready") == 0)
        a->routes[a->nroutes++].host = host;
}

static void reconcile(struct lb_announce *a)
{
    uint64_t now = sf_loop_now(a->lb->loop);
    for (size_t i = 0; i < a->nroutes;) {
        if (wanted(a, &a->routes[i].host, now)) {
            i++;
            continue;
        }
        const char *why = a->withdrawn || a->lb->draining ? "drain"
                          : a->lb->stopping               ? "stop"
                                                          : "not_ready";
        if (route_set(a, &a->routes[i].host, 0, why) < 0) {
            i++; /* tried again at the next look */
            continue;
        }
        a->routes[i] = a->routes[--a->nroutes];
    }
    for (size_t i = 0; i < a->lb->nfe; i++)
        for (uint32_t k = 0; k < a->lb->fe[i]->conf.nlisten; k++)
            add_route(a, &a->lb->fe[i]->conf.listen[k], now);
}

static void on_watch(struct sf_loop_timer *t)
{
    struct lb_announce *a =
        (struct lb_announce *)(void *)((char *)t - offsetof(struct lb_announce, watch));
    reconcile(a);
    if (!a->withdrawn)
        sf_loop_timer_set(a->lb->loop, &a->watch, sf_loop_now(a->lb->loop) + WATCH_NS);
}

struct lb_announce *lb_announce_new(struct lb *lb, const struct lb_announce_conf *c, char *err,
                                    size_t errlen)
{
    struct lb_announce *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "announce: out of memory");
        return NULL;
    }
    a->lb = lb;
    a->table = c->table;
    a->anchor.fd = -1;
    char why[256];
    if (sf_tun_open(&a->anchor, c->device, 0, why, sizeof why) < 0 ||
        sf_link_up(c->device, &a->ifindex, why, sizeof why) < 0) {
        snprintf(err, errlen, "announce: the anchor device %s: %s", c->device, why);
        lb_announce_free(a);
        return NULL;
    }
    if (!a->anchor.created) {
        /* A device someone else made outlives us and would keep our routes announced. */
        snprintf(err, errlen,
                 "announce: device %s exists already (another synfin, or made by hand): give "
                 "announce another 'device'",
                 c->device);
        lb_announce_free(a);
        return NULL;
    }
    a->watch.fn = on_watch;
    reconcile(a);
    sf_loop_timer_set(lb->loop, &a->watch, sf_loop_now(lb->loop) + WATCH_NS);
    return a;
}

void lb_announce_withdraw(struct lb_announce *a)
{
    if (!a || a->withdrawn)
        return;
    a->withdrawn = 1;
    sf_loop_timer_cancel(a->lb->loop, &a->watch);
    reconcile(a);
}

size_t lb_announce_count(const struct lb_announce *a)
{
    return a ? a->nroutes : 0;
}

void lb_announce_free(struct lb_announce *a)
{
    if (!a)
        return;
    a->withdrawn = 1;
    sf_loop_timer_cancel(a->lb->loop, &a->watch);
    reconcile(a);
    if (a->anchor.fd >= 0)
        sf_tun_close(&a->anchor); /* the device goes, and any route reconcile could not remove */
    free(a->routes);
    free(a);
}
