/* Removing one TIME_WAIT entry of the host kernel by its exact 4-tuple, through sock_diag
 * netlink (SOCK_DESTROY, what `ss -K` sends).
 *
 * The kernel transport uses it for the one TIME_WAIT that `server_close rst` cannot avoid on
 * kernel sockets: the client's FIN was passed on to the server before the server's own FIN
 * came in, so the kernel made synfin's side the active closer. Removing the entry is what a
 * reset from the server would have done to it (RFC 1337 aside, which Linux does not apply by
 * default). The kernel allows it with CAP_NET_ADMIN and CONFIG_INET_DIAG_DESTROY, for
 * TIME_WAIT entries since Linux 6.0 (tcp_abort); elsewhere the request fails (EPERM,
 * EOPNOTSUPP) and the entry stays. */
#ifndef SYNFIN_LB_TW_DESTROY_H
#define SYNFIN_LB_TW_DESTROY_H

#include "lb/addr.h"

#include <stdint.h>

/* The netlink socket, kept between requests (one per event loop). */
struct lb_twd {
    int fd; /* -1 until the first request */
    uint32_t seq;
};

static inline void lb_twd_init(struct lb_twd *d)
{
    d->fd = -1;
    d->seq = 0;
}
void lb_twd_close(struct lb_twd *d);

/* Asks the kernel to drop the TIME_WAIT entry local <-> peer whose socket cookie (SO_COOKIE
 * of the socket it came from, taken before the transition) is cookie. The cookie is what
 * makes this safe: without it the kernel's lookup falls back to a listener on local when the
 * entry is gone, and would destroy that. Returns 0 when removed, -ENOENT or -ESTALE when
 * there was no such entry, or another -errno: -EPERM (no CAP_NET_ADMIN), -EOPNOTSUPP (the
 * kernel cannot destroy TIME_WAIT entries), ... */
int lb_tw_destroy(struct lb_twd *d, const struct lb_addr *local, const struct lb_addr *peer,
                  uint64_t cookie);

#endif
