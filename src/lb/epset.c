/* Endpoint index; see epset.h. Linear probing with backward-shift deletion: no tombstones,
 * so a long-lived index that sees millions of connections come and go keeps short probes. */
#include "lb/epset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MIN_CAP 64

static void key_of(const struct lb_addr *a, uint8_t addr[16], uint16_t *port)
{
    memset(addr, 0, 16);
    if (a->u.sa.sa_family == AF_INET6) {
        memcpy(addr, a->u.in6.sin6_addr.s6_addr, 16);
    } else {
        addr[10] = addr[11] = 0xff;
        memcpy(addr + 12, &a->u.in4.sin_addr.s_addr, 4);
    }
    *port = lb_addr_port(a);
}

static size_t hash(const uint8_t addr[16], uint16_t port)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a, then a final mix for the low bits */
    for (int i = 0; i < 16; i++)
        h = (h ^ addr[i]) * 1099511628211ull;
    h = (h ^ port) * 1099511628211ull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return (size_t)h;
}

static void place(struct lb_epset_slot *slot, size_t cap, const struct lb_epset_slot *e)
{
    size_t i = hash(e->addr, e->port) & (cap - 1);
    while (slot[i].used)
        i = (i + 1) & (cap - 1);
    slot[i] = *e;
}

static int resize(struct lb_epset *s, size_t cap)
{
    struct lb_epset_slot *ns = calloc(cap, sizeof *ns);
    if (!ns)
        return -ENOMEM;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slot[i].used)
            place(ns, cap, &s->slot[i]);
    free(s->slot);
    s->slot = ns;
    s->cap = cap;
    return 0;
}

void lb_epset_free(struct lb_epset *s)
{
    free(s->slot);
    lb_epset_init(s);
}

int lb_epset_add(struct lb_epset *s, const struct lb_addr *a, void *val)
{
    if ((s->n + 1) * 2 > s->cap && resize(s, s->cap ? s->cap * 2 : MIN_CAP) < 0)
        return -ENOMEM;
    struct lb_epset_slot e;
    key_of(a, e.addr, &e.port);
    e.used = 1;
    e.val = val;
    place(s->slot, s->cap, &e);
    s->n++;
    return 0;
}

/* Slot i was emptied: pull later members of its probe run back so none sits behind a gap. */
static void close_gap(struct lb_epset *s, size_t i)
{
    size_t mask = s->cap - 1;
    for (size_t j = (i + 1) & mask; s->slot[j].used; j = (j + 1) & mask) {
        size_t home = hash(s->slot[j].addr, s->slot[j].port) & mask;
        /* It may move to i only if i lies on its way from home to j (cyclically). */
        int movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            s->slot[i] = s->slot[j];
            s->slot[j].used = 0;
            i = j;
        }
    }
}

int lb_epset_del(struct lb_epset *s, const struct lb_addr *a, void *val)
{
    if (!s->n)
        return -ENOENT;
    uint8_t addr[16];
    uint16_t port;
    key_of(a, addr, &port);
    size_t mask = s->cap - 1;
    for (size_t i = hash(addr, port) & mask; s->slot[i].used; i = (i + 1) & mask) {
        struct lb_epset_slot *e = &s->slot[i];
        if (e->val != val || e->port != port || memcmp(e->addr, addr, 16) != 0)
            continue;
        e->used = 0;
        s->n--;
        close_gap(s, i);
        /* Shrinking is best effort: a failed one leaves a valid, larger index. */
        if (s->cap > MIN_CAP && s->n * 8 < s->cap)
            resize(s, s->cap / 2);
        return 0;
    }
    return -ENOENT;
}

void *lb_epset_next(const struct lb_epset *s, const struct lb_addr *a, size_t *it)
{
    if (!s->n)
        return NULL;
    uint8_t addr[16];
    uint16_t port;
    key_of(a, addr, &port);
    size_t mask = s->cap - 1;
    /* *it is 0 at the start, then the number of slots already looked at, plus one. */
    size_t steps = *it ? *it - 1 : 0;
    for (size_t i = (hash(addr, port) + steps) & mask; s->slot[i].used && steps < s->cap;
         i = (i + 1) & mask) {
        steps++;
        const struct lb_epset_slot *e = &s->slot[i];
        if (e->port == port && !memcmp(e->addr, addr, 16)) {
            *it = steps + 1;
            return e->val;
        }
    }
    *it = steps + 1;
    return NULL;
}
