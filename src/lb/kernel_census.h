/* The kernel transport's census (transport.h, struct lb_census): the state of each socket it
 * holds through TCP_INFO, and the entries no descriptor holds any more (TIME_WAIT on the
 * balancer's addresses, SYN_RECEIVED on its listening ports) through sock_diag netlink,
 * filtered by port in the kernel. */
#ifndef SYNFIN_LB_KERNEL_CENSUS_H
#define SYNFIN_LB_KERNEL_CENSUS_H

#include "lb/transport.h"

/* Counts one socket by its TCP_INFO state. */
void lb_kernel_census_fd(int fd, struct lb_census *c);
/* Counts TIME_WAIT and SYN_RECEIVED entries on the scope's addresses. */
void lb_kernel_census_diag(const struct lb_census_scope *s, struct lb_census *c);

#endif
