/* The kernel transport's census (transport.h, struct lb_census): the state of each socket it
 * holds through TCP_INFO, and the entries no descriptor holds any more (TIME_WAIT on the
 * balancer's addresses, SYN_RECEIVED on its listening ports) through sock_diag netlink,
 * filtered by port in the kernel. */
#ifndef SYNFIN_LB_KERNEL_CENSUS_H
#define SYNFIN_LB_KERNEL_CENSUS_H

#include "diag/sockdiag.h"
#include "lb/transport.h"

/* One socket's state, local address and unacknowledged bytes (TCP_INFO, getsockname,
 * SIOCOUTQ): 0, or -errno. */
int lb_kernel_fd_info(int fd, struct lb_conn_info *i);
/* Counts one socket by its TCP_INFO state. */
void lb_kernel_census_fd(int fd, struct lb_census *c);
/* The sock_diag part of a census: one dump per watched port. A dump cannot be bounded in
 * time: with few entries for a port, one read walks the kernel's whole established hash
 * (every TCP socket of the host: with 12,000 of them, 4-5 ms of CPU in a single recv). So
 * a census in slices reads it on a thread of its own, over a copy of the scope taken when
 * the part begins, while the loop counts its sockets; the loop only looks whether the
 * thread is done. */
struct lb_kernel_diag_job;
struct lb_kernel_diag {
    int started;
    struct lb_kernel_diag_job *job; /* the thread's, until it is joined */
};

/* Counts TIME_WAIT and SYN_RECEIVED entries on the scope's addresses into c. background 0:
 * all of it in this call (LB_CENSUS_DONE). Otherwise the first call starts the thread and
 * each call returns LB_CENSUS_WAIT until it has finished, then adds what it counted and
 * returns LB_CENSUS_DONE (d is then reset for the next census). Without a thread (none
 * could be made) it is read in the call, as with background 0. */
int lb_kernel_census_diag_step(struct lb_kernel_diag *d, const struct lb_census_scope *s,
                               struct lb_census *c, int background);
/* Drops a part in progress, waiting for its thread (the transport is freed). */
void lb_kernel_census_diag_reset(struct lb_kernel_diag *d);

/* With threads, a thread other than 0 counts its own sockets (TCP_INFO) in slices at its
 * sync tick while scrapes come (the transport's publish op), and stores each complete pass
 * here for thread 0's census to add (census_published). The sock_diag part is not in it:
 * thread 0's dumps see every socket of the host on the balancer's addresses, every
 * thread's alike. */
struct lb_kernel_pub {
    _Atomic uint64_t states[SF_STATE_COUNT]; /* the last complete pass; relaxed */
    struct lb_census work;                   /* the pass in progress (its thread's) */
    int running;
    uint64_t last_ns; /* the last slice: a pass resumed after a quiet spell starts over */
};
/* A pass is complete: its counts become the published ones. */
void lb_kernel_pub_store(struct lb_kernel_pub *p);
/* The last complete pass's counts added to c (any thread). */
void lb_kernel_pub_add(const struct lb_kernel_pub *p, struct lb_census *c);

#endif
