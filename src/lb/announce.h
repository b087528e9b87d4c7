/* Announcing this node's virtual addresses to its routing daemon (docs/scale-out.md).
 *
 * An address is announced while at least one frontend listening on it can serve: its
 * listener is open and its backend has a usable server. It is withdrawn when none can, on
 * SIGTERM before the drain, and at exit. The routes go through an anchor TUN device that
 * the process holds open: whatever ends the process, even SIGKILL, the kernel deletes the
 * device and its routes with it, and the daemon withdraws them from its peers. */
#ifndef SYNFIN_LB_ANNOUNCE_H
#define SYNFIN_LB_ANNOUNCE_H

#include <stddef.h>

struct lb;
struct lb_announce_conf;
struct lb_announce;

/* Creates the anchor device and starts watching the frontends. NULL with err on failure
 * (no CAP_NET_ADMIN, a table the kernel refuses). */
struct lb_announce *lb_announce_new(struct lb *lb, const struct lb_announce_conf *c, char *err,
                                    size_t errlen);
/* Withdraws every address now and keeps them withdrawn (SIGTERM, before the drain). */
void lb_announce_withdraw(struct lb_announce *a);
/* Withdraws what is announced and removes the anchor. NULL is fine. */
void lb_announce_free(struct lb_announce *a);
/* Addresses announced now. */
size_t lb_announce_count(const struct lb_announce *a);

#endif
