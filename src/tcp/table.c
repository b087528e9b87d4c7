/* The 4-tuple table: connections, keyed by SipHash of the 4-tuple under the engine's secret
 * key, so that nobody can choose tuples that pile into one bucket. Listeners have a small
 * table of their own keyed by port: only the owner creates them. */
#include <stdlib.h>
#include <string.h>

#include "tcp/internal.h"

int table_init(struct sf_table *t, uint32_t buckets)
{
    t->mask = buckets - 1;
    t->count = 0;
    t->buckets = calloc(buckets, sizeof *t->buckets);
    return t->buckets ? 0 : -1;
}

void table_free(struct sf_table *t)
{
    free(t->buckets);
    t->buckets = NULL;
}

uint32_t tuple_hash(const struct sf_engine *e, const struct sf_tuple *t)
{
    uint8_t k[40];
    return (uint32_t)sf_siphash13(&e->key_table, k, tuple_key(t, k));
}

/* Doubles the buckets when connections outnumber them. Failure is harmless: chains grow. */
static void maybe_grow(struct sf_engine *e)
{
    struct sf_table *t = &e->table;
    if (t->count <= t->mask || t->mask >= (1u << 28))
        return;
    uint32_t nmask = t->mask * 2 + 1;
    struct sf_conn **nb = calloc((size_t)nmask + 1, sizeof *nb);
    if (!nb)
        return;
    for (uint32_t b = 0; b <= t->mask; b++) {
        struct sf_conn *c = t->buckets[b];
        while (c) {
            struct sf_conn *next = c->hnext;
            struct sf_conn **head = &nb[tuple_hash(e, &c->t) & nmask];
            c->hnext = *head;
            *head = c;
            c = next;
        }
    }
    free(t->buckets);
    t->buckets = nb;
    t->mask = nmask;
}

int table_insert(struct sf_engine *e, struct sf_conn *c)
{
    struct sf_conn **head = &e->table.buckets[tuple_hash(e, &c->t) & e->table.mask];
    c->hnext = *head;
    *head = c;
    c->flags |= F_HASHED;
    e->table.count++;
    maybe_grow(e);
    return 0;
}

void table_remove(struct sf_engine *e, struct sf_conn *c)
{
    if (!(c->flags & F_HASHED))
        return;
    struct sf_conn **pp = &e->table.buckets[tuple_hash(e, &c->t) & e->table.mask];
    while (*pp && *pp != c)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = c->hnext;
    c->hnext = NULL;
    c->flags &= ~(uint32_t)F_HASHED;
    e->table.count--;
}

struct sf_conn *table_lookup_h(struct sf_engine *e, const struct sf_tuple *t, uint32_t hash)
{
    for (struct sf_conn *c = e->table.buckets[hash & e->table.mask]; c; c = c->hnext)
        if (tuple_eq(&c->t, t))
            return c;
    return NULL;
}

struct sf_conn *table_lookup(struct sf_engine *e, const struct sf_tuple *t)
{
    return table_lookup_h(e, t, tuple_hash(e, t));
}

static struct sf_conn **listener_bucket(struct sf_engine *e, uint16_t lport)
{
    return &e->listeners[(lport * 0x9e37u >> 4) & (SF_LISTEN_BUCKETS - 1)];
}

struct sf_conn *listener_bucket_head(struct sf_engine *e, uint16_t lport)
{
    return *listener_bucket(e, lport);
}

void listener_insert(struct sf_engine *e, struct sf_conn *l)
{
    struct sf_conn **head = listener_bucket(e, l->t.lport);
    l->hnext = *head;
    *head = l;
    l->flags |= F_LISTENING;
}

void listener_remove(struct sf_engine *e, struct sf_conn *l)
{
    if (!(l->flags & F_LISTENING))
        return;
    struct sf_conn **pp = listener_bucket(e, l->t.lport);
    while (*pp && *pp != l)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = l->hnext;
    l->hnext = NULL;
    l->flags &= ~(uint32_t)F_LISTENING;
}

/* The listener for (laddr, lport): one bound to that address, else one bound to any address
 * of its family. With exact = 1, only one bound to exactly laddr (any meaning any). */
struct sf_conn *listener_find(struct sf_engine *e, const struct sf_addr *laddr, uint16_t lport,
                              int exact)
{
    struct sf_conn *any = NULL;
    for (struct sf_conn *l = *listener_bucket(e, lport); l; l = l->hnext) {
        if (l->t.lport != lport || l->t.laddr.family != laddr->family)
            continue;
        if (addr_eq(&l->t.laddr, laddr))
            return l;
        if (addr_is_any(&l->t.laddr))
            any = l;
    }
    return exact ? NULL : any;
}

struct sf_conn *table_lookup_listener(struct sf_engine *e, const struct sf_addr *laddr,
                                      uint16_t lport)
{
    return listener_find(e, laddr, lport, 0);
}
