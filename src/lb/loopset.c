/* The striped index of every thread's outgoing connections (loopset.h). */
#include "lb/loopset.h"

#include <sched.h>
#include <stdlib.h>

static unsigned stripe_of(const struct lb_addr *a)
{
    /* The port alone: IPv4 and IPv4-mapped forms of one endpoint land together. */
    return (unsigned)(lb_addr_port(a) * 2654435761u >> 26) % LB_LOOPSET_STRIPES;
}

struct lb_loopset *lb_loopset_new(void)
{
    struct lb_loopset *ls = calloc(1, sizeof *ls);
    if (!ls)
        return NULL;
    for (int i = 0; i < LB_LOOPSET_STRIPES; i++) {
        pthread_mutex_init(&ls->stripe[i].mu, NULL);
        lb_epset_init(&ls->stripe[i].set);
    }
    return ls;
}

void lb_loopset_free(struct lb_loopset *ls)
{
    if (!ls)
        return;
    for (int i = 0; i < LB_LOOPSET_STRIPES; i++) {
        pthread_mutex_destroy(&ls->stripe[i].mu);
        lb_epset_free(&ls->stripe[i].set);
    }
    free(ls);
}

struct lb_epset *lb_loopset_lock(struct lb_loopset *ls, const struct lb_addr *a)
{
    unsigned i = stripe_of(a);
    pthread_mutex_lock(&ls->stripe[i].mu);
    return &ls->stripe[i].set;
}

void lb_loopset_unlock(struct lb_loopset *ls, const struct lb_addr *a)
{
    pthread_mutex_unlock(&ls->stripe[stripe_of(a)].mu);
}

int lb_loopset_join(struct lb_loopset *ls, _Atomic uint64_t *seq)
{
    if (ls->nseq == LB_LOOPSET_MEMBERS)
        return -1;
    ls->seq[ls->nseq++] = seq;
    return 0;
}

int lb_loopset_settle(struct lb_loopset *ls, const _Atomic uint64_t *self)
{
    int waited = 0;
    for (uint32_t i = 0; i < ls->nseq; i++) {
        if (ls->seq[i] == self)
            continue;
        uint64_t s = atomic_load(ls->seq[i]);
        if (!(s & 1))
            continue;
        waited = 1;
        for (unsigned n = 1; atomic_load(ls->seq[i]) == s; n++)
            if (n % 64 == 0)
                sched_yield(); /* it was descheduled mid-connect */
    }
    return waited;
}
