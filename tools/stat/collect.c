#include "collect.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sysctl.h"

struct st_peers *st_peers_new(uint32_t capacity)
{
    struct st_peers *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    int ok = 1;
    for (int h = 0; h < ST_HELD_N; h++) {
        ok &= (p->remote[h] = st_topk_new(capacity)) != NULL;
        ok &= (p->local[h] = st_topk_new(65536)) != NULL; /* every port fits: always exact */
    }
    ok &= (p->tw_tuple = st_topk_new(capacity)) != NULL;
    if (!ok) {
        st_peers_free(p);
        return NULL;
    }
    return p;
}

void st_peers_free(struct st_peers *p)
{
    if (!p)
        return;
    free(p->listen);
    for (int h = 0; h < ST_HELD_N; h++) {
        st_topk_free(p->remote[h]);
        st_topk_free(p->local[h]);
    }
    st_topk_free(p->tw_tuple);
    free(p);
}

static void endpoint_of(struct st_endpoint *ep, int family, const uint8_t *addr, uint16_t port)
{
    static const uint8_t v4mapped[12] = {[10] = 0xff, [11] = 0xff};
    memset(ep, 0, sizeof *ep);
    ep->port = port;
    if (family == AF_INET6 && !memcmp(addr, v4mapped, 12)) {
        ep->family = AF_INET;
        memcpy(ep->addr, addr + 12, 4);
    } else {
        ep->family = (uint8_t)family;
        memcpy(ep->addr, addr, family == AF_INET6 ? 16 : 4);
    }
}

static int is_wildcard(const struct st_endpoint *ep)
{
    static const uint8_t zero[16];
    return !memcmp(ep->addr, zero, sizeof zero);
}

static int listening_on(const struct st_peers *p, const struct st_endpoint *local)
{
    /* First listener with this port (binary search), then each one with it. */
    size_t lo = 0, hi = p->nlisten;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (p->listen[mid].port < local->port)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < p->nlisten && p->listen[i].port == local->port; i++) {
        const struct st_endpoint *l = &p->listen[i];
        if (is_wildcard(l))
            return 1; /* 0.0.0.0 or :: (which takes IPv4 too, mapped) */
        if (l->family == local->family && !memcmp(l->addr, local->addr, 16))
            return 1;
    }
    return 0;
}

static int listened(const struct st_collect *c, int family, const uint8_t *addr, uint16_t port)
{
    if (!c->peers || !(c->listening[port / 8] & (1u << (port % 8))))
        return 0;
    struct st_endpoint ep;
    endpoint_of(&ep, family, addr, port);
    return listening_on(c->peers, &ep);
}

enum st_dir st_direction(const struct st_collect *c, const struct sf_sockdiag_entry *e)
{
    if (listened(c, e->family, e->src, e->sport))
        return ST_IN;
    /* The other end is a service of this very host (loopback, or another local address). */
    if (listened(c, e->family, e->dst, e->dport))
        return ST_OUT;
    int l_eph = e->sport >= c->eph_lo && e->sport <= c->eph_hi;
    int r_eph = e->dport >= c->eph_lo && e->dport <= c->eph_hi;
    return !l_eph && r_eph ? ST_IN : ST_OUT;
}

static size_t addr_len(int family)
{
    return family == AF_INET6 ? 16 : 4;
}

static void count_held(struct st_collect *c, enum st_held h, const struct sf_sockdiag_entry *e)
{
    enum st_dir dir = st_direction(c, e);
    struct st_key k;
    memset(&k, 0, sizeof k);
    k.family = (uint8_t)e->family;
    k.kind = (uint8_t)dir;
    memcpy(k.addr, e->dst, addr_len(e->family));
    if (dir == ST_OUT)
        k.port = e->dport;
    st_topk_add(c->peers->remote[h], &k);

    memset(&k, 0, sizeof k);
    k.kind = (uint8_t)dir;
    if (dir == ST_IN)
        k.port = e->sport;
    st_topk_add(c->peers->local[h], &k);

    uint64_t *in = h == ST_HELD_TW ? &c->tw_in : &c->cw_in;
    uint64_t *out = h == ST_HELD_TW ? &c->tw_out : &c->cw_out;
    ++*(dir == ST_IN ? in : out);

    if (h == ST_HELD_TW && dir == ST_OUT) {
        memset(&k, 0, sizeof k);
        k.family = (uint8_t)e->family;
        k.kind = ST_OUT;
        k.port = e->dport;
        memcpy(k.addr, e->dst, addr_len(e->family));
        memcpy(k.laddr, e->src, addr_len(e->family));
        st_topk_add(c->peers->tw_tuple, &k);
    }
}

static void note_listener(struct st_collect *c, const struct sf_sockdiag_entry *e)
{
    c->listeners++;
    /* Compare fill ratios queued/backlog without division: a/b > c/d <=> a*d > c*b. */
    struct st_listener *f = &c->fullest;
    uint64_t lhs = (uint64_t)e->rqueue * (f->backlog ? f->backlog : 1);
    uint64_t rhs = (uint64_t)f->queued * (e->wqueue ? e->wqueue : 1);
    if (c->listeners == 1 || lhs > rhs) {
        f->family = e->family;
        memcpy(f->addr, e->src, sizeof f->addr);
        f->port = e->sport;
        f->queued = e->rqueue;
        f->backlog = e->wqueue;
    }
}

int st_collect_count(const struct sf_sockdiag_entry *e, void *arg)
{
    struct st_collect *c = arg;
    int s = st_state_from_kernel(e->state);
    if (s < 0)
        return 0; /* a state newer than this tool: not one of the eleven */
    c->hist.n[s]++;
    if (!c->peers)
        return 0;
    if (s == ST_TIME_WAIT)
        count_held(c, ST_HELD_TW, e);
    else if (s == ST_CLOSE_WAIT)
        count_held(c, ST_HELD_CW, e);
    else if (s == ST_LISTEN)
        note_listener(c, e);
    return 0;
}

static int mark_listener(const struct sf_sockdiag_entry *e, void *arg)
{
    struct st_collect *c = arg;
    struct st_peers *p = c->peers;
    c->listening[e->sport / 8] |= (uint8_t)(1u << (e->sport % 8));
    if (p->nlisten == p->listen_cap) {
        size_t cap = p->listen_cap ? p->listen_cap * 2 : 64;
        struct st_endpoint *n = realloc(p->listen, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        p->listen = n;
        p->listen_cap = cap;
    }
    endpoint_of(&p->listen[p->nlisten++], e->family, e->src, e->sport);
    return 0;
}

static int by_port(const void *a, const void *b)
{
    const struct st_endpoint *x = a, *y = b;
    return (int)x->port - (int)y->port;
}

int st_collect_begin(struct st_collect *c)
{
    memset(&c->hist, 0, sizeof c->hist);
    if (!c->peers)
        return 0;

    for (int h = 0; h < ST_HELD_N; h++) {
        st_topk_clear(c->peers->remote[h]);
        st_topk_clear(c->peers->local[h]);
    }
    st_topk_clear(c->peers->tw_tuple);
    c->tw_in = c->tw_out = c->cw_in = c->cw_out = 0;
    c->listeners = 0;
    memset(&c->fullest, 0, sizeof c->fullest);
    memset(c->listening, 0, sizeof c->listening);
    long lo, hi;
    if (st_sysctl_port_range(&lo, &hi)) {
        lo = 32768; /* the kernel's default, when the range cannot be read */
        hi = 60999;
    }
    c->eph_lo = (uint16_t)lo;
    c->eph_hi = (uint16_t)hi;

    /* Listeners first, unfiltered: they tell which local ports are services. There are few,
     * so this pass costs little next to the main one. */
    struct sf_sockdiag_query lq = {.family = AF_UNSPEC, .states = SF_KSTATE_BIT(SF_KS_LISTEN)};
    c->peers->nlisten = 0;
    int rc = sf_sockdiag_dump(&lq, mark_listener, c);
    if (rc)
        return rc;
    if (c->peers->nlisten > 1) /* none at all leaves the array unallocated (NULL) */
        qsort(c->peers->listen, c->peers->nlisten, sizeof *c->peers->listen, by_port);
    return 0;
}

int st_collect(const struct sf_sockdiag_query *q, struct st_collect *c)
{
    int rc = st_collect_begin(c);
    return rc ? rc : sf_sockdiag_dump(q, st_collect_count, c);
}
