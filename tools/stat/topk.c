#include "topk.h"

#include <stdlib.h>
#include <string.h>

struct entry {
    struct st_key key;
    uint64_t count, error;
    uint32_t hash;
    uint32_t heap_pos;
};

struct st_topk {
    struct entry *ent; /* ent[0..used) */
    uint32_t *slot;    /* open addressing, linear probing: entry index + 1, 0 = empty */
    uint32_t *heap;    /* entry indices, min-heap on count: heap[0] is the eviction victim */
    uint32_t cap, used, mask;
    uint64_t total;
    int evicted;
};

static uint32_t key_hash(const struct st_key *k)
{
    /* FNV-1a: plenty for addresses and ports, and it never sees attacker-chosen collisions
     * worse than linear probing can absorb in a table half empty. */
    const uint8_t *p = (const uint8_t *)k;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < sizeof *k; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

struct st_topk *st_topk_new(uint32_t capacity)
{
    if (capacity < 1 || capacity > (1u << 24))
        return NULL;
    struct st_topk *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    uint32_t slots = 2;
    while (slots < 2 * capacity)
        slots <<= 1;
    t->cap = capacity;
    t->mask = slots - 1;
    t->ent = calloc(capacity, sizeof *t->ent);
    t->slot = calloc(slots, sizeof *t->slot);
    t->heap = calloc(capacity, sizeof *t->heap);
    if (!t->ent || !t->slot || !t->heap) {
        st_topk_free(t);
        return NULL;
    }
    return t;
}

void st_topk_free(struct st_topk *t)
{
    if (!t)
        return;
    free(t->ent);
    free(t->slot);
    free(t->heap);
    free(t);
}

void st_topk_clear(struct st_topk *t)
{
    /* An empty table's slots are already zero: leave their pages untouched (not resident). */
    if (t->used)
        memset(t->slot, 0, ((size_t)t->mask + 1) * sizeof *t->slot);
    t->used = 0;
    t->total = 0;
    t->evicted = 0;
}

static void heap_swap(struct st_topk *t, uint32_t a, uint32_t b)
{
    uint32_t ea = t->heap[a], eb = t->heap[b];
    t->heap[a] = eb;
    t->heap[b] = ea;
    t->ent[eb].heap_pos = a;
    t->ent[ea].heap_pos = b;
}

static void sift_up(struct st_topk *t, uint32_t i)
{
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (t->ent[t->heap[parent]].count <= t->ent[t->heap[i]].count)
            break;
        heap_swap(t, i, parent);
        i = parent;
    }
}

static void sift_down(struct st_topk *t, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->used && t->ent[t->heap[l]].count < t->ent[t->heap[m]].count)
            m = l;
        if (r < t->used && t->ent[t->heap[r]].count < t->ent[t->heap[m]].count)
            m = r;
        if (m == i)
            return;
        heap_swap(t, i, m);
        i = m;
    }
}

/* The slot holding k, or the empty slot where it would go. */
static uint32_t find_slot(const struct st_topk *t, const struct st_key *k, uint32_t h)
{
    uint32_t i = h & t->mask;
    while (t->slot[i]) {
        const struct entry *e = &t->ent[t->slot[i] - 1];
        if (e->hash == h && !memcmp(&e->key, k, sizeof *k))
            return i;
        i = (i + 1) & t->mask;
    }
    return i;
}

/* Removes slot i, shifting back later entries of the same probe run (no tombstones). */
static void slot_delete(struct st_topk *t, uint32_t i)
{
    uint32_t j = i;
    t->slot[i] = 0;
    for (;;) {
        j = (j + 1) & t->mask;
        if (!t->slot[j])
            return;
        uint32_t home = t->ent[t->slot[j] - 1].hash & t->mask;
        /* Entry at j may move to the hole at i unless its home lies cyclically in (i, j]. */
        int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays)
            continue;
        t->slot[i] = t->slot[j];
        t->slot[j] = 0;
        i = j;
    }
}

void st_topk_add(struct st_topk *t, const struct st_key *k)
{
    uint32_t h = key_hash(k);
    uint32_t s = find_slot(t, k, h);
    t->total++;
    if (t->slot[s]) {
        struct entry *e = &t->ent[t->slot[s] - 1];
        e->count++;
        sift_down(t, e->heap_pos);
        return;
    }
    if (t->used < t->cap) {
        uint32_t idx = t->used++;
        struct entry *e = &t->ent[idx];
        e->key = *k;
        e->count = 1;
        e->error = 0;
        e->hash = h;
        e->heap_pos = idx;
        t->heap[idx] = idx;
        t->slot[s] = idx + 1;
        sift_up(t, idx);
        return;
    }
    /* Full: the smallest counter gives its place (and its count, as the error) to k. */
    uint32_t idx = t->heap[0];
    struct entry *e = &t->ent[idx];
    slot_delete(t, find_slot(t, &e->key, e->hash));
    e->key = *k;
    e->error = e->count;
    e->count++;
    e->hash = h;
    t->slot[find_slot(t, k, h)] = idx + 1;
    t->evicted = 1;
    sift_down(t, 0);
}

static int row_cmp(const void *a, const void *b)
{
    const struct st_topk_row *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return memcmp(&x->key, &y->key, sizeof x->key);
}

size_t st_topk_top(const struct st_topk *t, struct st_topk_row *rows, size_t n)
{
    if (!n || !t->used)
        return 0;
    /* Keep the n largest with a bounded insertion pass: n is small (a screenful). */
    size_t have = 0;
    for (uint32_t i = 0; i < t->used; i++) {
        struct st_topk_row r = {t->ent[i].key, t->ent[i].count, t->ent[i].error};
        if (have == n && row_cmp(&r, &rows[n - 1]) >= 0)
            continue;
        size_t j = have < n ? have++ : n - 1;
        while (j > 0 && row_cmp(&r, &rows[j - 1]) < 0) {
            rows[j] = rows[j - 1];
            j--;
        }
        rows[j] = r;
    }
    return have;
}

uint64_t st_topk_total(const struct st_topk *t)
{
    return t->total;
}

uint32_t st_topk_distinct(const struct st_topk *t)
{
    return t->used;
}

int st_topk_exact(const struct st_topk *t)
{
    return !t->evicted;
}
