/* The kernel transport's index of outgoing connections (epset.h) shared by every thread of a
 * process (docs/architecture.md, "Threads"): with SO_REUSEPORT a connection that one thread
 * opened toward a server address leading back into synfin may be accepted by any thread's
 * listener, so the accepting thread must find connections of every thread.
 *
 * Striped: STRIPES mutexes, each over the endpoints whose port falls to it. A server
 * connection's start and end take one stripe (per session, never per read); an accept
 * takes the stripe of its peer's port. Two threads contend only when their ports share a
 * stripe at the same moment. */
#ifndef SYNFIN_LB_LOOPSET_H
#define SYNFIN_LB_LOOPSET_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "lb/epset.h"

#define LB_LOOPSET_STRIPES 64
#define LB_LOOPSET_MEMBERS 256

struct lb_loopset {
    struct {
        pthread_mutex_t mu;
        struct lb_epset set;
    } stripe[LB_LOOPSET_STRIPES];
    /* Each member's connect sequence: odd while it is inside a connect whose local port is
     * not in the index yet (loopback completes the handshake before connect returns, so
     * another thread can accept the connection in that window). */
    _Atomic uint64_t *seq[LB_LOOPSET_MEMBERS];
    uint32_t nseq; /* set before any thread runs */
};

struct lb_loopset *lb_loopset_new(void);
void lb_loopset_free(struct lb_loopset *ls);
/* The set that holds a's port, locked; lb_loopset_unlock(ls, a) after use. Values found in
 * it stay valid until then (their owner removes them under the same lock). */
struct lb_epset *lb_loopset_lock(struct lb_loopset *ls, const struct lb_addr *a);
void lb_loopset_unlock(struct lb_loopset *ls, const struct lb_addr *a);
/* A transport joins with its connect sequence (before any thread runs). 0, or -1: full. */
int lb_loopset_join(struct lb_loopset *ls, _Atomic uint64_t *seq);
/* Waits until no other member is inside a connect it was in when called (microseconds:
 * one connect and a getsockname). Returns 1 when it waited: look in the index again. */
int lb_loopset_settle(struct lb_loopset *ls, const _Atomic uint64_t *self);

#endif
