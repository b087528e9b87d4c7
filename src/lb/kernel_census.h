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
/* The sock_diag part of a census in progress: one dump per watched port, read in batches. */
struct lb_kernel_diag {
    int started;
    uint16_t *ports;     /* the scope's ports when the part began, sorted, each once */
    size_t nports, next; /* ports[next] is the one being dumped */
    int open;            /* st holds its dump */
    struct sf_sockdiag_stream st;
};

/* A sock_diag batch costs this many census units (transport.h: a unit is one socket looked
 * at with TCP_INFO, ~1 us): besides up to 32 KiB of entries, a batch may walk the kernel's
 * whole established hash looking for matches (262,144 buckets on a 2 GiB machine: most of a
 * millisecond for a port with few entries), so a batch is worth a whole slice. */
#define LB_KERNEL_DIAG_BATCH_UNITS 256

/* Counts TIME_WAIT and SYN_RECEIVED entries on the scope's addresses, taking from *budget
 * (at least one batch per call). Returns 1 when that part of the census is complete (d is
 * then reset for the next census), 0 when it needs another call. */
int lb_kernel_census_diag_step(struct lb_kernel_diag *d, const struct lb_census_scope *s,
                               struct lb_census *c, unsigned *budget);
/* Drops a part in progress (the transport is freed). */
void lb_kernel_census_diag_reset(struct lb_kernel_diag *d);

#endif
