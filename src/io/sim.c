#include "io/sim.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "io/pcap.h"

#define SMALL_BUF 2048u  /* an MTU-sized packet with room to spare */
#define LARGE_BUF 65535u /* the largest IPv4 packet */

struct sim_pkt {
    struct sim_pkt *next_free;
    struct sf_sim_link *link;
    uint32_t len, cap;
    uint8_t data[];
};

struct sf_sim_link {
    struct sf_sim_host *src, *dst;
    struct sf_sim_link_params p;
    int own_params; /* set by sf_sim_link_set, so the default no longer applies */
    uint64_t rng[4];
    sf_time_t wire_free_at; /* rate limiter: when the last queued packet finishes sending */
    struct sf_sim_link_stats st;
};

struct sf_sim_host {
    uint32_t index;
    uint8_t addr[4];
    int has_addr6;
    uint8_t addr6[16]; /* an IPv6 address as well (sf_sim_host_add_addr6) */
    struct sf_sim_host_ops ops;
    void *ctx;
    sf_time_t timer_at; /* time of the timer event queued for it, SF_TIME_NEVER if none */
};

/* A delivery (pkt set) or a host's timer run (pkt NULL). */
struct sim_ev {
    sf_time_t t;
    uint64_t seq;
    struct sf_sim_host *host;
    struct sim_pkt *pkt;
};

struct sf_sim {
    uint64_t seed;
    sf_time_t now;
    uint64_t seq;
    struct sim_ev *heap;
    size_t nev, ev_cap;
    struct sf_sim_host **hosts;
    size_t nhosts, hosts_cap;
    struct sf_sim_host **by_addr; /* open addressing on the address, power-of-two size */
    size_t by_addr_cap;
    struct sf_sim_link **links; /* open addressing on (src, dst), power-of-two size */
    size_t links_cap, nlinks;
    struct sf_sim_link_params def;
    struct sim_pkt *free_small, *free_large;
    uint64_t bufs, in_flight, peak_in_flight, events, unroutable, malformed;
    struct sf_pcap *cap_delivered, *cap_dropped;
    sf_sim_observer_fn observer;
    void *observer_ctx;
};

/* ---- randomness: splitmix64 seeds xoshiro256** ------------------------------------------ */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(uint64_t s[4])
{
    uint64_t r = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* True with probability p. */
static int rng_chance(uint64_t s[4], double p)
{
    return (double)(rng_next(s) >> 11) * 0x1.0p-53 < p;
}

/* Uniform in [0, n]. */
static uint64_t rng_upto(uint64_t s[4], uint64_t n)
{
    if (n == UINT64_MAX)
        return rng_next(s);
    return (uint64_t)(((unsigned __int128)rng_next(s) * (n + 1)) >> 64);
}

static uint32_t addr_u32(const uint8_t a[4])
{
    return (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
}

static uint64_t mix(uint64_t x)
{
    return splitmix64(&x);
}

/* ---- event queue: binary heap on (time, sequence) ------------------------------------- */

static int ev_before(const struct sim_ev *a, const struct sim_ev *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static int ev_push(struct sf_sim *s, sf_time_t t, struct sf_sim_host *h, struct sim_pkt *pkt)
{
    if (s->nev == s->ev_cap) {
        size_t cap = s->ev_cap ? s->ev_cap * 2 : 256;
        struct sim_ev *n = realloc(s->heap, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        s->heap = n;
        s->ev_cap = cap;
    }
    struct sim_ev ev = {t, s->seq++, h, pkt};
    size_t i = s->nev++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ev_before(&ev, &s->heap[parent]))
            break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = ev;
    return 0;
}

static struct sim_ev ev_pop(struct sf_sim *s)
{
    struct sim_ev top = s->heap[0];
    struct sim_ev last = s->heap[--s->nev];
    size_t i = 0, n = s->nev;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && ev_before(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!ev_before(&s->heap[c], &last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n)
        s->heap[i] = last;
    return top;
}

/* ---- packet buffers ------------------------------------------------------------------- */

static struct sim_pkt *pkt_get(struct sf_sim *s, size_t len)
{
    struct sim_pkt **list = len <= SMALL_BUF ? &s->free_small : &s->free_large;
    struct sim_pkt *p = *list;
    if (p) {
        *list = p->next_free;
    } else {
        uint32_t cap = len <= SMALL_BUF ? SMALL_BUF : LARGE_BUF;
        p = malloc(sizeof *p + cap);
        if (!p)
            return NULL;
        p->cap = cap;
        s->bufs++;
    }
    p->len = (uint32_t)len;
    p->next_free = NULL;
    return p;
}

static void pkt_put(struct sf_sim *s, struct sim_pkt *p)
{
    struct sim_pkt **list = p->cap == SMALL_BUF ? &s->free_small : &s->free_large;
    p->next_free = *list;
    *list = p;
}

static void free_list(struct sim_pkt *p)
{
    while (p) {
        struct sim_pkt *next = p->next_free;
        free(p);
        p = next;
    }
}

/* ---- hosts ------------------------------------------------------------------------------ */

static size_t addr_slot(const struct sf_sim *s, uint32_t a)
{
    size_t mask = s->by_addr_cap - 1;
    size_t i = (size_t)mix(a) & mask;
    while (s->by_addr[i] && addr_u32(s->by_addr[i]->addr) != a)
        i = (i + 1) & mask;
    return i;
}

static struct sf_sim_host *host_find(const struct sf_sim *s, const uint8_t addr[4])
{
    if (!s->by_addr_cap)
        return NULL;
    return s->by_addr[addr_slot(s, addr_u32(addr))];
}

static int addr_table_grow(struct sf_sim *s)
{
    size_t cap = s->by_addr_cap ? s->by_addr_cap * 2 : 64;
    struct sf_sim_host **old = s->by_addr;
    size_t old_cap = s->by_addr_cap;
    s->by_addr = calloc(cap, sizeof *s->by_addr);
    if (!s->by_addr) {
        s->by_addr = old;
        return -ENOMEM;
    }
    s->by_addr_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i])
            s->by_addr[addr_slot(s, addr_u32(old[i]->addr))] = old[i];
    free(old);
    return 0;
}

struct sf_sim_host *sf_sim_host_add(struct sf_sim *s, const uint8_t addr[4],
                                    const struct sf_sim_host_ops *ops, void *ctx)
{
    if (!ops || !ops->deliver) {
        errno = EINVAL;
        return NULL;
    }
    if (host_find(s, addr)) {
        errno = EEXIST;
        return NULL;
    }
    if ((s->nhosts + 1) * 2 > s->by_addr_cap && addr_table_grow(s) < 0) {
        errno = ENOMEM;
        return NULL;
    }
    if (s->nhosts == s->hosts_cap) {
        size_t cap = s->hosts_cap ? s->hosts_cap * 2 : 16;
        struct sf_sim_host **n = realloc(s->hosts, cap * sizeof *n);
        if (!n) {
            errno = ENOMEM;
            return NULL;
        }
        s->hosts = n;
        s->hosts_cap = cap;
    }
    struct sf_sim_host *h = calloc(1, sizeof *h);
    if (!h) {
        errno = ENOMEM;
        return NULL;
    }
    h->index = (uint32_t)s->nhosts;
    memcpy(h->addr, addr, 4);
    h->ops = *ops;
    h->ctx = ctx;
    h->timer_at = SF_TIME_NEVER;
    s->hosts[s->nhosts++] = h;
    s->by_addr[addr_slot(s, addr_u32(addr))] = h;
    return h;
}

/* IPv6 addresses are few (a test's hosts): a scan finds them. */
static struct sf_sim_host *host_find6(const struct sf_sim *s, const uint8_t addr[16])
{
    for (size_t i = 0; i < s->nhosts; i++)
        if (s->hosts[i]->has_addr6 && !memcmp(s->hosts[i]->addr6, addr, 16))
            return s->hosts[i];
    return NULL;
}

int sf_sim_host_add_addr6(struct sf_sim *s, struct sf_sim_host *h, const uint8_t addr[16])
{
    if (host_find6(s, addr))
        return -EEXIST;
    memcpy(h->addr6, addr, 16);
    h->has_addr6 = 1;
    return 0;
}

const uint8_t *sf_sim_host_addr(const struct sf_sim_host *h)
{
    return h->addr;
}

void *sf_sim_host_ctx(const struct sf_sim_host *h)
{
    return h->ctx;
}

/* Asks the host for its deadline and queues a timer event if it is earlier than the one
 * already queued. A deadline that is still due right after the host ran its timers would
 * make the loop spin at one instant; it is pushed to the next microsecond instead. */
static void host_requery(struct sf_sim *s, struct sf_sim_host *h, int just_advanced)
{
    if (!h->ops.next_deadline)
        return;
    sf_time_t d = h->ops.next_deadline(h->ctx);
    if (d == SF_TIME_NEVER)
        return;
    if (d < s->now)
        d = s->now;
    if (just_advanced && d <= s->now)
        d = s->now + 1;
    if (d < h->timer_at && ev_push(s, d, h, NULL) == 0)
        h->timer_at = d;
}

void sf_sim_host_touch(struct sf_sim *s, struct sf_sim_host *h)
{
    host_requery(s, h, 0);
}

static void requery_all(struct sf_sim *s)
{
    for (size_t i = 0; i < s->nhosts; i++)
        host_requery(s, s->hosts[i], 0);
}

/* ---- links ------------------------------------------------------------------------------ */

static int params_valid(const struct sf_sim_link_params *p)
{
    const double probs[] = {p->loss, p->duplicate, p->corrupt, p->reorder};
    for (size_t i = 0; i < sizeof probs / sizeof probs[0]; i++)
        if (!(probs[i] >= 0.0 && probs[i] <= 1.0))
            return 0;
    return 1;
}

static size_t link_slot(const struct sf_sim *s, uint32_t src, uint32_t dst)
{
    size_t mask = s->links_cap - 1;
    size_t i = (size_t)mix((uint64_t)src << 32 | dst) & mask;
    while (s->links[i] && (s->links[i]->src->index != src || s->links[i]->dst->index != dst))
        i = (i + 1) & mask;
    return i;
}

static struct sf_sim_link *link_find(const struct sf_sim *s, const struct sf_sim_host *src,
                                     const struct sf_sim_host *dst)
{
    if (!s->links_cap)
        return NULL;
    return s->links[link_slot(s, src->index, dst->index)];
}

static int link_table_grow(struct sf_sim *s)
{
    size_t cap = s->links_cap ? s->links_cap * 2 : 64;
    struct sf_sim_link **old = s->links;
    size_t old_cap = s->links_cap;
    s->links = calloc(cap, sizeof *s->links);
    if (!s->links) {
        s->links = old;
        return -ENOMEM;
    }
    s->links_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i])
            s->links[link_slot(s, old[i]->src->index, old[i]->dst->index)] = old[i];
    free(old);
    return 0;
}

/* The link from src to dst, created with the default parameters on first use. Its random
 * stream depends on the seed and the two addresses only, not on the order links appear. */
static struct sf_sim_link *link_get(struct sf_sim *s, struct sf_sim_host *src,
                                    struct sf_sim_host *dst)
{
    struct sf_sim_link *l = link_find(s, src, dst);
    if (l)
        return l;
    if ((s->nlinks + 1) * 2 > s->links_cap && link_table_grow(s) < 0)
        return NULL;
    l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->src = src;
    l->dst = dst;
    l->p = s->def;
    uint64_t x = s->seed ^ mix((uint64_t)addr_u32(src->addr) << 32 | addr_u32(dst->addr));
    for (int i = 0; i < 4; i++)
        l->rng[i] = splitmix64(&x);
    s->links[link_slot(s, src->index, dst->index)] = l;
    s->nlinks++;
    return l;
}

int sf_sim_link_default(struct sf_sim *s, const struct sf_sim_link_params *p)
{
    if (!params_valid(p))
        return -EINVAL;
    s->def = *p;
    for (size_t i = 0; i < s->links_cap; i++)
        if (s->links[i] && !s->links[i]->own_params)
            s->links[i]->p = *p;
    return 0;
}

int sf_sim_link_set(struct sf_sim *s, const struct sf_sim_host *src, const struct sf_sim_host *dst,
                    const struct sf_sim_link_params *p)
{
    if (!params_valid(p))
        return -EINVAL;
    /* The sim owns its hosts; the const in the API only says this call does not use them. */
    struct sf_sim_link *l = link_get(s, s->hosts[src->index], s->hosts[dst->index]);
    if (!l)
        return -ENOMEM;
    l->p = *p;
    l->own_params = 1;
    return 0;
}

int sf_sim_link_stats(const struct sf_sim *s, const struct sf_sim_host *src,
                      const struct sf_sim_host *dst, struct sf_sim_link_stats *out)
{
    const struct sf_sim_link *l = link_find(s, src, dst);
    if (!l)
        return -ENOENT;
    *out = l->st;
    return 0;
}

void sf_sim_link_totals(const struct sf_sim *s, struct sf_sim_link_stats *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < s->links_cap; i++) {
        const struct sf_sim_link *l = s->links[i];
        if (!l)
            continue;
        out->sent += l->st.sent;
        out->delivered += l->st.delivered;
        out->lost += l->st.lost;
        out->queue_drops += l->st.queue_drops;
        out->duplicated += l->st.duplicated;
        out->reordered += l->st.reordered;
        out->corrupted += l->st.corrupted;
        out->bytes_delivered += l->st.bytes_delivered;
    }
}

/* ---- the sim ---------------------------------------------------------------------------- */

struct sf_sim *sf_sim_new(uint64_t seed)
{
    struct sf_sim *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->seed = seed;
    return s;
}

void sf_sim_free(struct sf_sim *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nev; i++)
        free(s->heap[i].pkt);
    free(s->heap);
    for (size_t i = 0; i < s->links_cap; i++)
        free(s->links[i]);
    free(s->links);
    for (size_t i = 0; i < s->nhosts; i++)
        free(s->hosts[i]);
    free(s->hosts);
    free(s->by_addr);
    free_list(s->free_small);
    free_list(s->free_large);
    free(s);
}

void sf_sim_stats(const struct sf_sim *s, struct sf_sim_stats *out)
{
    memset(out, 0, sizeof *out);
    out->events = s->events;
    out->unroutable = s->unroutable;
    out->malformed = s->malformed;
    out->in_flight = s->in_flight;
    out->peak_in_flight = s->peak_in_flight;
    out->bufs = s->bufs;
    out->hosts = s->nhosts;
    out->links = s->nlinks;
}

void sf_sim_set_capture(struct sf_sim *s, struct sf_pcap *delivered, struct sf_pcap *dropped)
{
    s->cap_delivered = delivered;
    s->cap_dropped = dropped;
}

void sf_sim_set_observer(struct sf_sim *s, sf_sim_observer_fn fn, void *ctx)
{
    s->observer = fn;
    s->observer_ctx = ctx;
}

sf_time_t sf_sim_now(const struct sf_sim *s)
{
    return s->now;
}

static void observe(struct sf_sim *s, enum sf_sim_what what, const struct sf_sim_host *src,
                    const struct sf_sim_host *dst, const void *pkt, size_t len)
{
    if (s->observer)
        s->observer(s->observer_ctx, what, src, dst, pkt, len, s->now);
}

static void dropped(struct sf_sim *s, enum sf_sim_what what, const struct sf_sim_host *src,
                    const struct sf_sim_host *dst, const void *pkt, size_t len)
{
    if (s->cap_dropped)
        sf_pcap_write(s->cap_dropped, s->now, pkt, len);
    observe(s, what, src, dst, pkt, len);
}

/* Flips one bit of the transport part (past the IP header), where the TCP or UDP checksum
 * must catch it; the whole packet if the header length makes no sense. */
static void corrupt(struct sim_pkt *p, uint64_t rng[4])
{
    size_t from = (p->data[0] >> 4) == 6 ? 40 : (size_t)(p->data[0] & 0x0f) * 4;
    if (from < 20 || from >= p->len)
        from = 0;
    uint64_t bit = rng_upto(rng, (uint64_t)(p->len - from) * 8 - 1);
    p->data[from + bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

/* Queues one copy for delivery at t plus jitter and, maybe, a reordering hold-back. */
static int schedule(struct sf_sim *s, struct sf_sim_link *l, struct sim_pkt *p, sf_time_t t)
{
    if (l->p.jitter)
        t += rng_upto(l->rng, l->p.jitter);
    if (l->p.reorder > 0 && rng_chance(l->rng, l->p.reorder)) {
        sf_time_t span = l->p.reorder_us ? l->p.reorder_us : 1000;
        t += 1 + rng_upto(l->rng, span - 1);
        l->st.reordered++;
        observe(s, SF_SIM_REORDERED, l->src, l->dst, p->data, p->len);
    }
    if (ev_push(s, t, l->dst, p) < 0)
        return -ENOMEM;
    if (++s->in_flight > s->peak_in_flight)
        s->peak_in_flight = s->in_flight;
    return 0;
}

int sf_sim_send(struct sf_sim *s, struct sf_sim_host *src, const void *pkt, size_t len)
{
    const uint8_t *b = pkt;
    if (len > LARGE_BUF)
        return -EMSGSIZE;
    int v6 = len >= 40 && (b[0] >> 4) == 6;
    if (!v6 && (len < 20 || (b[0] >> 4) != 4)) {
        s->malformed++;
        return -EINVAL;
    }
    struct sf_sim_host *dst = v6 ? host_find6(s, b + 24) : host_find(s, b + 16);
    if (!dst) {
        s->unroutable++;
        dropped(s, SF_SIM_UNROUTABLE, src, NULL, pkt, len);
        return -EHOSTUNREACH;
    }
    struct sf_sim_link *l = link_get(s, src, dst);
    if (!l)
        return -ENOMEM;
    l->st.sent++;
    observe(s, SF_SIM_SENT, src, dst, pkt, len);
    if (l->p.loss > 0 && rng_chance(l->rng, l->p.loss)) {
        l->st.lost++;
        dropped(s, SF_SIM_LOST, src, dst, pkt, len);
        return 0;
    }
    sf_time_t depart = s->now;
    if (l->p.rate) {
        sf_time_t start = l->wire_free_at > s->now ? l->wire_free_at : s->now;
        unsigned __int128 backlog = (unsigned __int128)(start - s->now) * l->p.rate / 1000000u;
        if (l->p.queue_limit && backlog + len > l->p.queue_limit) {
            l->st.queue_drops++;
            dropped(s, SF_SIM_QUEUE_DROP, src, dst, pkt, len);
            return 0;
        }
        depart = start + ((sf_time_t)len * 1000000u + l->p.rate - 1) / l->p.rate;
        l->wire_free_at = depart;
    }
    struct sim_pkt *p = pkt_get(s, len);
    if (!p)
        return -ENOMEM;
    memcpy(p->data, pkt, len);
    p->link = l;
    if (l->p.corrupt > 0 && rng_chance(l->rng, l->p.corrupt)) {
        corrupt(p, l->rng);
        l->st.corrupted++;
        observe(s, SF_SIM_CORRUPTED, src, dst, p->data, p->len);
    }
    struct sim_pkt *dup = NULL;
    if (l->p.duplicate > 0 && rng_chance(l->rng, l->p.duplicate)) {
        dup = pkt_get(s, len);
        if (dup) {
            memcpy(dup->data, p->data, len);
            dup->link = l;
            l->st.duplicated++;
            observe(s, SF_SIM_DUPLICATED, src, dst, p->data, p->len);
        }
    }
    sf_time_t arrive = depart + l->p.delay;
    if (schedule(s, l, p, arrive) < 0) {
        pkt_put(s, p);
        if (dup)
            pkt_put(s, dup);
        return -ENOMEM;
    }
    if (dup && schedule(s, l, dup, arrive) < 0)
        pkt_put(s, dup);
    return 0;
}

/* Processes the earliest event if it is due at or before limit. Returns 0 when there is
 * none. */
static int step(struct sf_sim *s, sf_time_t limit)
{
    if (!s->nev || s->heap[0].t > limit)
        return 0;
    struct sim_ev ev = ev_pop(s);
    if (ev.t > s->now)
        s->now = ev.t;
    struct sf_sim_host *h = ev.host;
    if (ev.pkt) {
        struct sim_pkt *p = ev.pkt;
        s->events++;
        p->link->st.delivered++;
        p->link->st.bytes_delivered += p->len;
        if (s->cap_delivered)
            sf_pcap_write(s->cap_delivered, s->now, p->data, p->len);
        observe(s, SF_SIM_DELIVERED, p->link->src, h, p->data, p->len);
        h->ops.deliver(h->ctx, p->data, p->len, s->now);
        /* counted in flight until here, so that buffers in use never exceed the peak */
        s->in_flight--;
        pkt_put(s, p);
        host_requery(s, h, 0);
    } else if (ev.t == h->timer_at) {
        s->events++;
        h->timer_at = SF_TIME_NEVER;
        if (h->ops.advance)
            h->ops.advance(h->ctx, s->now);
        host_requery(s, h, 1);
    }
    /* else: a timer event superseded by an earlier one, already run */
    return 1;
}

void sf_sim_run_until(struct sf_sim *s, sf_time_t t)
{
    requery_all(s);
    while (step(s, t))
        ;
    if (t != SF_TIME_NEVER && t > s->now)
        s->now = t;
}

int sf_sim_run_until_pred(struct sf_sim *s, sf_time_t deadline, int (*pred)(void *ctx), void *ctx)
{
    requery_all(s);
    if (pred(ctx))
        return 1;
    while (step(s, deadline))
        if (pred(ctx))
            return 1;
    if (deadline != SF_TIME_NEVER && deadline > s->now)
        s->now = deadline;
    return 0;
}

int sf_sim_run_until_idle(struct sf_sim *s, sf_time_t limit)
{
    requery_all(s);
    while (step(s, limit))
        ;
    if (!s->in_flight)
        return 0;
    if (limit > s->now)
        s->now = limit;
    return -ETIMEDOUT;
}
