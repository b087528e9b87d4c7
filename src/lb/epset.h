/* A hash index of TCP endpoints (address and port), each mapped to a pointer: the kernel
 * transport's index of its outgoing connections by their local end, so that an accepted
 * connection coming from one of them (a server address that leads back into synfin) is
 * found in O(1).
 *
 * A key may be there more than once: Linux gives one local port to several connections
 * toward different destinations. IPv4 and IPv4-mapped IPv6 addresses are one key, as a
 * dual-stack listener reports an IPv4 peer in the mapped form. */
#ifndef SYNFIN_LB_EPSET_H
#define SYNFIN_LB_EPSET_H

#include <stddef.h>
#include <stdint.h>

#include "lb/addr.h"

struct lb_epset_slot {
    uint8_t addr[16]; /* IPv6, or IPv4-mapped */
    uint16_t port;
    uint8_t used;
    void *val;
};

struct lb_epset {
    struct lb_epset_slot *slot;
    size_t cap; /* a power of two, 0 before the first add */
    size_t n;
};

static inline void lb_epset_init(struct lb_epset *s)
{
    s->slot = NULL;
    s->cap = s->n = 0;
}
void lb_epset_free(struct lb_epset *s);
/* Adds (a, val); 0, or -ENOMEM (then the index is unchanged). */
int lb_epset_add(struct lb_epset *s, const struct lb_addr *a, void *val);
/* Removes (a, val); 0, or -ENOENT. */
int lb_epset_del(struct lb_epset *s, const struct lb_addr *a, void *val);
/* The values stored under a, one per call: *it starts at 0; NULL when there are no more.
 * No add or del between the calls of one walk. */
void *lb_epset_next(const struct lb_epset *s, const struct lb_addr *a, size_t *it);

#endif
