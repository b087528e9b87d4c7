/* Hierarchical timer wheel (Varghese & Lauck), driven by a clock passed in.
 *
 * Six levels of 64 slots; a tick is one millisecond. A timer lives at the level of the
 * highest 6-bit digit in which its expiry differs from the current tick, in the slot named by
 * that digit of its expiry. Arming and cancelling are O(1) list operations; advancing visits
 * only occupied slots that the clock has passed (bitmaps), so a million idle timers cost
 * nothing until they are due, and the clock may jump any distance in one call. A timer
 * cascades to a lower level at most five times before it fires. Timers never fire early; they
 * fire at the first advance whose tick is at or past their expiry. */
#ifndef SYNFIN_TCP_WHEEL_H
#define SYNFIN_TCP_WHEEL_H

#include <stddef.h>
#include <stdint.h>

#define SF_WHEEL_BITS   6
#define SF_WHEEL_SLOTS  (1u << SF_WHEEL_BITS)
#define SF_WHEEL_LEVELS 6
/* Expiries further than this many ticks (about 397 days) are brought in to it. */
#define SF_WHEEL_MAX_DELTA (1ULL << 35)

struct sf_timer {
    struct sf_timer *next, **pprev; /* pprev == NULL: not armed */
    uint64_t expires;               /* tick */
};

struct sf_wheel {
    uint64_t now; /* current tick */
    size_t count;
    uint64_t occupied[SF_WHEEL_LEVELS];
    struct sf_timer *slot[SF_WHEEL_LEVELS][SF_WHEEL_SLOTS];
};

typedef void (*sf_timer_fn)(struct sf_timer *t, void *arg);

void sf_wheel_init(struct sf_wheel *w, uint64_t now);
/* Arms (or re-arms) t to expire at tick expires; an expiry in the past fires at the next
 * tick. */
void sf_wheel_add(struct sf_wheel *w, struct sf_timer *t, uint64_t expires);
void sf_wheel_del(struct sf_wheel *w, struct sf_timer *t);
static inline int sf_timer_armed(const struct sf_timer *t)
{
    return t->pprev != NULL;
}
/* Moves the clock to now and calls fire for every timer due, each unlinked before its call
 * (fire may re-arm it, or arm and cancel others). */
void sf_wheel_advance(struct sf_wheel *w, uint64_t now, sf_timer_fn fire, void *arg);
/* A tick at or before the earliest expiry: exact when that timer sits in the first level,
 * otherwise the tick at which its slot cascades. UINT64_MAX when empty. */
uint64_t sf_wheel_next(const struct sf_wheel *w);

#endif
