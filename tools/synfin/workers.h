/* The event-loop threads beyond thread 0 (docs/architecture.md, "Threads"). Thread 0 is the
 * main thread: signals, the admin listener, health checks, announce. Each worker runs its
 * own loop, transport and struct lb over the same configuration, with listening sockets of
 * its own (SO_REUSEPORT) or a queue of the stack's TUN of its own, and takes thread 0's
 * orders through an eventfd. */
#ifndef SYNFIN_TOOLS_WORKERS_H
#define SYNFIN_TOOLS_WORKERS_H

#include "lb/config.h"
#include "lb/shared.h"
#include "lb/transport.h"

#include <pthread.h>

struct workers;

/* Threads 1 to n-1, each applying c (on the calling thread: an error says which one and
 * why, and nothing runs); they start running at once. On the stack transport each takes its
 * queue of the device from tp0, thread 0's transport. NULL with err. */
struct workers *workers_start(struct lb_shared *sh, uint32_t n, const struct lb_config *c,
                              struct lb_transport *tp0, unsigned fds_outside, char *err,
                              size_t errlen);
/* Orders to every worker. A reload waits until each has applied c (a few milliseconds
 * during which thread 0 does nothing else) so that c can be freed after; a worker that
 * failed logs why in its own log line (reload_rejected thread=N). Returns how many
 * failed. */
int workers_reload(struct workers *w, const struct lb_config *c);
void workers_drain(struct workers *w);
void workers_stop(struct workers *w);
/* Worker t's thread (1 to n-1): 0, or -1 when it is not running. */
int workers_thread(struct workers *w, uint32_t t, pthread_t *tid);
/* Waits for every worker to end (after a drain or a stop), then frees them. */
void workers_free(struct workers *w);

#endif
