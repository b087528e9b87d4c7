/* The process's figures with threads: thread 0 (the admin listener's) sums what each thread
 * counted in its own objects (lb/counter.h; docs/architecture.md, "Admin and figures").
 *
 * An object of thread 0 (frontend i, backend i, server j of backend i) is found on each
 * other thread by index when the names agree (every thread applies the same configuration),
 * by name otherwise (a worker that could not apply a reload). Other threads' objects change
 * only while they apply a configuration, which thread 0 waits for: reading them between two
 * reloads is safe. With one thread each sum is the field itself. */
#ifndef SYNFIN_CTL_SUM_H
#define SYNFIN_CTL_SUM_H

#include <stddef.h>
#include <stdint.h>

#include "lb/lb.h"

/* A field (by offset and size: 4 or 8 bytes) summed over every thread, or the largest. */
uint64_t ctl_sum_fe(const struct lb *lb, size_t i, size_t off, size_t size, int max);
uint64_t ctl_sum_be(const struct lb *lb, size_t i, size_t off, size_t size);
uint64_t ctl_sum_srv(const struct lb *lb, size_t i, size_t j, size_t off, size_t size);
uint64_t ctl_sum_lb(const struct lb *lb, size_t off, size_t size);

#define CTL_FSIZE(type, field) sizeof(((type *)0)->field)
#define CTL_FE(lb, i, field)                                                                       \
    ctl_sum_fe(lb, i, offsetof(struct lb_frontend, field), CTL_FSIZE(struct lb_frontend, field), 0)
/* A flag: 1 when it is on any thread. */
#define CTL_FE_ANY(lb, i, field)                                                                   \
    ctl_sum_fe(lb, i, offsetof(struct lb_frontend, field), CTL_FSIZE(struct lb_frontend, field), 1)
#define CTL_BE(lb, i, field)                                                                       \
    ctl_sum_be(lb, i, offsetof(struct lb_backend, field), CTL_FSIZE(struct lb_backend, field))
#define CTL_SRV(lb, i, j, field)                                                                   \
    ctl_sum_srv(lb, i, j, offsetof(struct lb_server, field), CTL_FSIZE(struct lb_server, field))
/* struct lb's own, its transport's and its buffer pool's. */
#define CTL_LB(lb, field) ctl_sum_lb(lb, offsetof(struct lb, field), CTL_FSIZE(struct lb, field))
#define CTL_TP(lb, field)                                                                          \
    (ctl_sum_tp(lb, offsetof(struct lb_transport, field), CTL_FSIZE(struct lb_transport, field)))
uint64_t ctl_sum_tp(const struct lb *lb, size_t off, size_t size);

/* A histogram of backend i (at off in struct lb_backend), summed bucket by bucket. */
void ctl_sum_histo(const struct lb *lb, size_t i, size_t off, struct lb_histo *out);

#endif
