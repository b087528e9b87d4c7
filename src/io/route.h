/* Host routes in a chosen kernel routing table, through rtnetlink: what a routing daemon
 * (BIRD's `kernel` protocol with `learn`, FRR's `table` import) reads to know which
 * addresses this node announces. SIOCADDRT cannot name a table; netlink can. */
#ifndef SYNFIN_IO_ROUTE_H
#define SYNFIN_IO_ROUTE_H

#include <stddef.h>
#include <stdint.h>

/* Adds (add=1) or removes the host route to addr (family AF_INET: 4 bytes, AF_INET6: 16)
 * through interface ifindex in table `table`, with protocol "static" so that daemons that
 * skip the kernel's own routes take it. Adding one that exists and removing one that does
 * not both succeed (the wanted state holds). Returns 0 or -errno with a message in err. */
int sf_route_host(int family, const uint8_t *addr, int ifindex, uint32_t table, int add, char *err,
                  size_t errlen);

/* Brings interface `name` up (no address needed); *ifindex gets its index. 0 or -errno. */
int sf_link_up(const char *name, int *ifindex, char *err, size_t errlen);

#endif
