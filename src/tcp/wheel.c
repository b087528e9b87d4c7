#include "tcp/wheel.h"

#include <string.h>

static void link_head(struct sf_timer **head, struct sf_timer *t)
{
    t->next = *head;
    if (t->next)
        t->next->pprev = &t->next;
    *head = t;
    t->pprev = head;
}

static void unlink_timer(struct sf_timer *t)
{
    *t->pprev = t->next;
    if (t->next)
        t->next->pprev = t->pprev;
    t->next = NULL;
    t->pprev = NULL;
}

void sf_wheel_init(struct sf_wheel *w, uint64_t now)
{
    memset(w, 0, sizeof *w);
    w->now = now;
}

/* Puts an unlinked timer in its slot relative to w->now. */
static void place(struct sf_wheel *w, struct sf_timer *t)
{
    if (t->expires <= w->now)
        t->expires = w->now + 1;
    if (t->expires - w->now >= SF_WHEEL_MAX_DELTA)
        t->expires = w->now + SF_WHEEL_MAX_DELTA - 1;
    uint64_t diff = t->expires ^ w->now; /* non-zero: expires > now */
    unsigned level = (unsigned)(63 - __builtin_clzll(diff)) / SF_WHEEL_BITS;
    unsigned s = (unsigned)(t->expires >> (level * SF_WHEEL_BITS)) & (SF_WHEEL_SLOTS - 1);
    link_head(&w->slot[level][s], t);
    w->occupied[level] |= 1ULL << s;
}

void sf_wheel_add(struct sf_wheel *w, struct sf_timer *t, uint64_t expires)
{
    if (sf_timer_armed(t))
        sf_wheel_del(w, t);
    t->expires = expires;
    place(w, t);
    w->count++;
}

void sf_wheel_del(struct sf_wheel *w, struct sf_timer *t)
{
    if (!sf_timer_armed(t))
        return;
    /* Clear the slot's bit when this was its last timer: a slot head's pprev points into the
     * slot array, which tells us which bit. */
    struct sf_timer **head = t->pprev;
    int was_only =
        (t->next == NULL) && ((uintptr_t)head >= (uintptr_t)&w->slot[0][0]) &&
        ((uintptr_t)head <= (uintptr_t)&w->slot[SF_WHEEL_LEVELS - 1][SF_WHEEL_SLOTS - 1]);
    unlink_timer(t);
    if (was_only) {
        size_t idx = (size_t)(head - &w->slot[0][0]);
        w->occupied[idx / SF_WHEEL_SLOTS] &= ~(1ULL << (idx % SF_WHEEL_SLOTS));
    }
    w->count--;
}

/* Bits (od, nd] of a 64-bit slot mask. */
static uint64_t passed_mask(unsigned od, unsigned nd)
{
    uint64_t upto_nd = nd == 63 ? ~0ULL : (2ULL << nd) - 1;
    uint64_t upto_od = od == 63 ? ~0ULL : (2ULL << od) - 1;
    return upto_nd & ~upto_od;
}

void sf_wheel_advance(struct sf_wheel *w, uint64_t now, sf_timer_fn fire, void *arg)
{
    if (now <= w->now)
        return;
    uint64_t old = w->now;
    struct sf_timer *todo = NULL;

    for (unsigned level = 0; level < SF_WHEEL_LEVELS; level++) {
        unsigned shift = level * SF_WHEEL_BITS;
        int higher_same = (now >> (shift + SF_WHEEL_BITS)) == (old >> (shift + SF_WHEEL_BITS));
        uint64_t hit = w->occupied[level];
        if (higher_same)
            hit &= passed_mask((unsigned)(old >> shift) & 63, (unsigned)(now >> shift) & 63);
        /* Occupied slots are always ahead of the current digit, so when a higher digit
         * changed, every one of them has been passed. */
        while (hit) {
            unsigned s = (unsigned)__builtin_ctzll(hit);
            hit &= hit - 1;
            struct sf_timer *t;
            while ((t = w->slot[level][s]) != NULL) {
                unlink_timer(t);
                link_head(&todo, t);
            }
            w->occupied[level] &= ~(1ULL << s);
        }
        if (higher_same)
            break;
    }
    w->now = now;

    /* The todo list is a real list: fire() may cancel or re-arm timers still in it. */
    struct sf_timer *t;
    while ((t = todo) != NULL) {
        unlink_timer(t);
        if (t->expires <= now) {
            w->count--;
            fire(t, arg);
        } else {
            place(w, t);
        }
    }
}

uint64_t sf_wheel_next(const struct sf_wheel *w)
{
    for (unsigned level = 0; level < SF_WHEEL_LEVELS; level++) {
        if (!w->occupied[level])
            continue;
        unsigned shift = level * SF_WHEEL_BITS;
        uint64_t s = (uint64_t)__builtin_ctzll(w->occupied[level]);
        uint64_t base = (w->now >> (shift + SF_WHEEL_BITS)) << (shift + SF_WHEEL_BITS);
        return base + (s << shift);
    }
    return UINT64_MAX;
}
