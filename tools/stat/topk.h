/* Counting keys in bounded memory, for "who holds TIME_WAIT" over a million sockets.
 *
 * Counts are exact while the distinct keys fit the capacity. Past it, the table becomes a
 * Space-Saving summary (Metwally, Agrawal, El Abbadi, 2005): a new key takes the place of
 * the smallest counter and inherits its count as an error bound. Every key seen more than
 * total/capacity times is then still present, its count overstated by at most its error. The
 * memory is fixed when the table is made; adding a key never allocates. */
#ifndef SYNFIN_STAT_TOPK_H
#define SYNFIN_STAT_TOPK_H

#include <stddef.h>
#include <stdint.h>

/* What is counted: one end or both ends of a connection. Unused fields stay zero. */
struct st_key {
    uint8_t family; /* AF_INET, AF_INET6, or 0 */
    uint8_t kind;   /* caller-defined tag (e.g. incoming/outgoing) */
    uint16_t port;
    uint8_t addr[16];
    uint8_t laddr[16];
};

struct st_topk_row {
    struct st_key key;
    uint64_t count; /* upper bound when error > 0 */
    uint64_t error; /* how much count may overstate (0: exact) */
};

struct st_topk;

/* A table for up to capacity distinct keys (1 to 1<<24), or NULL when out of memory. */
struct st_topk *st_topk_new(uint32_t capacity);
void st_topk_free(struct st_topk *t);

/* Counts one more of k. */
void st_topk_add(struct st_topk *t, const struct st_key *k);

/* Forgets every key, keeping the memory. */
void st_topk_clear(struct st_topk *t);

/* The n largest counts, largest first (ties in key order); returns how many were written. */
size_t st_topk_top(const struct st_topk *t, struct st_topk_row *rows, size_t n);

uint64_t st_topk_total(const struct st_topk *t);    /* everything added */
uint32_t st_topk_distinct(const struct st_topk *t); /* keys held now */
int st_topk_exact(const struct st_topk *t);         /* 1 while nothing was ever evicted */

#endif
