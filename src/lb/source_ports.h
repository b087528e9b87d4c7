/* Where the ports of a backend's `source` ranges come from (source_ports.c). */
#ifndef SYNFIN_LB_SOURCE_PORTS_H
#define SYNFIN_LB_SOURCE_PORTS_H

#include "lb/lb.h"

/* After b->conf took a configuration (start, reload): each source's cursor starts at this
 * thread's share of its range, and on kernel sockets its `walk` says whether the kernel may
 * choose within the range (to be logged by thread 0 when new or changed since `old`, the
 * previous sources). Reads the system's ip_local_port_range. */
void lb_source_ports_plan(struct lb *lb, struct lb_backend *b, const struct lb_source *old,
                          uint32_t nold);
/* Logs those choices (event=source_ports), once the configuration's log is in place. */
void lb_source_ports_log(struct lb *lb);

#endif
