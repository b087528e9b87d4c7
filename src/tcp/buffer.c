#include "tcp/buffer.h"

#include <string.h>

uint32_t sndbuf_write(struct sf_sndbuf *b, const void *p, uint32_t n)
{
    uint32_t room = b->cap - b->len;
    if (n > room)
        n = room;
    uint32_t tail = (b->head + b->len) % b->cap;
    uint32_t first = b->cap - tail < n ? b->cap - tail : n;
    memcpy(b->data + tail, p, first);
    memcpy(b->data, (const uint8_t *)p + first, n - first);
    b->len += n;
    return n;
}

void sndbuf_peek(const struct sf_sndbuf *b, uint32_t off, uint32_t n, const uint8_t **p1,
                 uint32_t *l1, const uint8_t **p2, uint32_t *l2)
{
    uint32_t pos = (b->head + off) % b->cap;
    uint32_t first = b->cap - pos < n ? b->cap - pos : n;
    *p1 = b->data + pos;
    *l1 = first;
    *p2 = b->data;
    *l2 = n - first;
}

void sndbuf_drop(struct sf_sndbuf *b, uint32_t n)
{
    if (n > b->len)
        n = b->len;
    b->head = (b->head + n) % b->cap;
    b->len -= n;
    if (b->len == 0)
        b->head = 0; /* keep future writes contiguous */
}

static void ring_put(struct sf_rcvbuf *b, uint32_t off, const uint8_t *p, uint32_t n)
{
    uint32_t pos = (b->head + b->len + off) % b->cap;
    uint32_t first = b->cap - pos < n ? b->cap - pos : n;
    memcpy(b->data + pos, p, first);
    memcpy(b->data, p + first, n - first);
}

/* Adds [lo, hi) to the sorted, disjoint, non-adjacent range list. Returns 0 when the list is
 * full and the range touches none of it. */
static int add_range(struct sf_rcvbuf *b, uint32_t lo, uint32_t hi)
{
    unsigned i = 0;
    while (i < b->nblk && b->blk[i].hi < lo)
        i++;
    /* ranges i.. that overlap or touch [lo, hi) merge into one */
    unsigned j = i;
    while (j < b->nblk && b->blk[j].lo <= hi)
        j++;
    if (j == i) { /* touches nothing: insert at i */
        if (b->nblk == SF_OOO_MAX)
            return 0;
        memmove(&b->blk[i + 1], &b->blk[i], (b->nblk - i) * sizeof b->blk[0]);
        b->blk[i].lo = lo;
        b->blk[i].hi = hi;
        b->nblk++;
    } else {
        if (b->blk[i].lo < lo)
            lo = b->blk[i].lo;
        if (b->blk[j - 1].hi > hi)
            hi = b->blk[j - 1].hi;
        b->blk[i].lo = lo;
        b->blk[i].hi = hi;
        memmove(&b->blk[i + 1], &b->blk[j], (b->nblk - j) * sizeof b->blk[0]);
        b->nblk = (uint8_t)(b->nblk - (j - i - 1));
    }
    b->blk[i].stamp = ++b->clock;
    return 1;
}

uint32_t rcvbuf_store(struct sf_rcvbuf *b, uint32_t off, const uint8_t *p, uint32_t n, int *stored)
{
    *stored = 1;
    if (n == 0)
        return 0;
    if (!add_range(b, off, off + n)) {
        *stored = 0;
        return 0;
    }
    ring_put(b, off, p, n);
    if (b->blk[0].lo != 0)
        return 0;
    /* The first range now starts at the in-order edge: it all becomes readable. */
    uint32_t adv = b->blk[0].hi;
    b->len += adv;
    memmove(&b->blk[0], &b->blk[1], (b->nblk - 1u) * sizeof b->blk[0]);
    b->nblk--;
    for (unsigned i = 0; i < b->nblk; i++) {
        b->blk[i].lo -= adv;
        b->blk[i].hi -= adv;
    }
    return adv;
}

uint32_t rcvbuf_peek(const struct sf_rcvbuf *b, void *out, uint32_t n)
{
    if (n > b->len)
        n = b->len;
    uint32_t first = b->cap - b->head < n ? b->cap - b->head : n;
    memcpy(out, b->data + b->head, first);
    memcpy((uint8_t *)out + first, b->data, n - first);
    return n;
}

uint32_t rcvbuf_read(struct sf_rcvbuf *b, void *out, uint32_t n)
{
    n = rcvbuf_peek(b, out, n);
    b->head = (b->head + n) % b->cap;
    b->len -= n;
    return n;
}
