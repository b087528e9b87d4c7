/* --watch: the histogram again every interval, with per-state rates of change, until
 * interrupted (or --count refreshes): in place like top(1) on a terminal, one line per
 * refresh otherwise, one JSON document per line with --json. */
#ifndef SYNFIN_STAT_WATCH_H
#define SYNFIN_STAT_WATCH_H

#include "args.h"

/* Samples the kernel through q, or the admin listener o->from when q is NULL. Returns the
 * exit status: 0 when interrupted or done, 2 when the first sample fails or output does. */
int st_watch(const struct st_opts *o, const struct sf_sockdiag_query *q);

#endif
