/* `cpu_map` at run time (docs/config.md): each event-loop thread pinned to its CPUs. */
#ifndef SYNFIN_TOOLS_PIN_H
#define SYNFIN_TOOLS_PIN_H

#include <sched.h>

#include "lb/config.h"
#include "workers.h"

/* Sets every thread's CPUs from c (pthread_setaffinity_np, from thread 0): those its
 * cpu_map lines give, or `all` (the process's CPUs at start) for a thread no line names,
 * so a reload that removes a line unpins. Nothing is done while no configuration has had
 * a cpu_map (*pinned stays 0). Returns 0, or the thread that failed + 1 with errno. */
int pin_threads(const struct lb_config *c, struct workers *w, const cpu_set_t *all, int *pinned);

#endif
