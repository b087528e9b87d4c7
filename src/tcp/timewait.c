#include "tcp/timewait.h"

#include <stdlib.h>
#include <string.h>

/* The same function as the connection table's (table.c), so one hash serves both lookups. */
static uint32_t hash_tuple(const struct sf_tw_table *tw, const struct sf_tuple *t)
{
    uint8_t k[40];
    return (uint32_t)sf_siphash13(tw->key, k, tuple_key(t, k));
}

int tw_init(struct sf_tw_table *tw, const struct sf_sipkey *key)
{
    memset(tw, 0, sizeof *tw);
    tw->key = key;
    tw->hiwater = 1; /* index 0 means "none" */
    tw->mask = 255;
    tw->buckets = calloc(tw->mask + 1, sizeof *tw->buckets);
    return tw->buckets ? 0 : -1;
}

void tw_destroy(struct sf_tw_table *tw)
{
    for (uint32_t i = 0; i < tw->nchunks; i++)
        free(tw->chunks[i]);
    free(tw->chunks);
    free(tw->buckets);
    memset(tw, 0, sizeof *tw);
}

uint32_t tw_lookup_h(const struct sf_tw_table *tw, const struct sf_tuple *t, uint32_t hash)
{
    if (tw->count == 0)
        return 0;
    for (uint32_t i = tw->buckets[hash & tw->mask]; i; i = tw_get(tw, i)->hnext)
        if (tuple_eq(&tw_get(tw, i)->t, t))
            return i;
    return 0;
}

/* Doubles the bucket array when entries outnumber buckets; on allocation failure the table
 * keeps working with longer chains. */
static void maybe_grow(struct sf_tw_table *tw)
{
    if (tw->count <= tw->mask || tw->mask >= (1u << 28))
        return;
    uint32_t nmask = tw->mask * 2 + 1;
    uint32_t *nb = calloc((size_t)nmask + 1, sizeof *nb);
    if (!nb)
        return;
    for (uint32_t b = 0; b <= tw->mask; b++) {
        uint32_t i = tw->buckets[b];
        while (i) {
            struct sf_tw *w = tw_get(tw, i);
            uint32_t next = w->hnext;
            uint32_t *head = &nb[hash_tuple(tw, &w->t) & nmask];
            w->hnext = *head;
            *head = i;
            i = next;
        }
    }
    free(tw->buckets);
    tw->buckets = nb;
    tw->mask = nmask;
}

static uint32_t alloc_index(struct sf_tw_table *tw)
{
    if (tw->free_head) {
        uint32_t i = tw->free_head;
        tw->free_head = tw_get(tw, i)->hnext;
        return i;
    }
    if ((tw->hiwater >> TW_CHUNK_BITS) >= tw->nchunks) {
        struct sf_tw **nc = realloc(tw->chunks, (tw->nchunks + 1) * sizeof *nc);
        if (!nc)
            return 0;
        tw->chunks = nc;
        nc[tw->nchunks] = malloc(TW_CHUNK * sizeof(struct sf_tw));
        if (!nc[tw->nchunks])
            return 0;
        tw->nchunks++;
    }
    return tw->hiwater++;
}

static struct sf_tw_class *class_for(struct sf_tw_table *tw, uint32_t dur_ms, uint8_t *idx)
{
    for (uint32_t c = 0; c < tw->ncls; c++) {
        if (tw->cls[c].dur_ms == dur_ms) {
            *idx = (uint8_t)c;
            return &tw->cls[c];
        }
    }
    if (tw->ncls < TW_CLASSES) {
        *idx = (uint8_t)tw->ncls;
        tw->cls[tw->ncls].dur_ms = dur_ms;
        return &tw->cls[tw->ncls++];
    }
    /* More distinct durations than classes: share the closest shorter-or-equal class... or
     * failing that, the closest one. Expiry stays ordered within each list. */
    uint32_t best = 0;
    for (uint32_t c = 1; c < tw->ncls; c++) {
        uint32_t d_best = tw->cls[best].dur_ms > dur_ms ? tw->cls[best].dur_ms - dur_ms
                                                        : dur_ms - tw->cls[best].dur_ms;
        uint32_t d_c =
            tw->cls[c].dur_ms > dur_ms ? tw->cls[c].dur_ms - dur_ms : dur_ms - tw->cls[c].dur_ms;
        if (d_c < d_best)
            best = c;
    }
    *idx = (uint8_t)best;
    return &tw->cls[best];
}

static void fifo_append(struct sf_tw_table *tw, uint32_t i)
{
    struct sf_tw *w = tw_get(tw, i);
    struct sf_tw_class *k = &tw->cls[w->cls];
    w->fnext = 0;
    w->fprev = k->tail;
    if (k->tail)
        tw_get(tw, k->tail)->fnext = i;
    else
        k->head = i;
    k->tail = i;
}

static void fifo_unlink(struct sf_tw_table *tw, uint32_t i)
{
    struct sf_tw *w = tw_get(tw, i);
    struct sf_tw_class *k = &tw->cls[w->cls];
    if (w->fprev)
        tw_get(tw, w->fprev)->fnext = w->fnext;
    else
        k->head = w->fnext;
    if (w->fnext)
        tw_get(tw, w->fnext)->fprev = w->fprev;
    else
        k->tail = w->fprev;
}

uint32_t tw_lookup(const struct sf_tw_table *tw, const struct sf_tuple *t)
{
    return tw_lookup_h(tw, t, hash_tuple(tw, t));
}

uint32_t tw_insert(struct sf_tw_table *tw, const struct sf_tuple *t, uint32_t dur_ms,
                   uint32_t now_ms)
{
    uint32_t i = alloc_index(tw);
    if (!i)
        return 0;
    struct sf_tw *w = tw_get(tw, i);
    memset(w, 0, sizeof *w);
    w->t = *t;
    class_for(tw, dur_ms, &w->cls);
    w->expire_ms = now_ms + tw->cls[w->cls].dur_ms;
    uint32_t *head = &tw->buckets[hash_tuple(tw, t) & tw->mask];
    w->hnext = *head;
    *head = i;
    fifo_append(tw, i);
    tw->count++;
    maybe_grow(tw);
    return i;
}

void tw_remove(struct sf_tw_table *tw, uint32_t idx)
{
    struct sf_tw *w = tw_get(tw, idx);
    uint32_t *pp = &tw->buckets[hash_tuple(tw, &w->t) & tw->mask];
    while (*pp && *pp != idx)
        pp = &tw_get(tw, *pp)->hnext;
    if (*pp)
        *pp = w->hnext;
    fifo_unlink(tw, idx);
    w->hnext = tw->free_head;
    tw->free_head = idx;
    tw->count--;
}

void tw_restart(struct sf_tw_table *tw, uint32_t idx, uint32_t now_ms)
{
    struct sf_tw *w = tw_get(tw, idx);
    fifo_unlink(tw, idx);
    w->expire_ms = now_ms + tw->cls[w->cls].dur_ms;
    fifo_append(tw, idx);
}

uint32_t tw_first(const struct sf_tw_table *tw)
{
    uint32_t best = 0;
    for (uint32_t c = 0; c < tw->ncls; c++) {
        uint32_t h = tw->cls[c].head;
        if (h && (!best || !tw_ms_le(tw_get(tw, best)->expire_ms, tw_get(tw, h)->expire_ms)))
            best = h;
    }
    return best;
}

uint64_t tw_memory(const struct sf_tw_table *tw)
{
    return (uint64_t)tw->nchunks * TW_CHUNK * sizeof(struct sf_tw) +
           (uint64_t)tw->nchunks * sizeof(struct sf_tw *) +
           ((uint64_t)tw->mask + 1) * sizeof(uint32_t);
}
