/* --from: the histogram of synfin's own stack and sessions, read from the load balancer's
 * admin listener (GET /stats, JSON). */
#ifndef SYNFIN_STAT_FROM_H
#define SYNFIN_STAT_FROM_H

#include <stddef.h>

#include "args.h"
#include "tcpstates.h"

struct st_from_stats {
    struct st_hist hist;
    char transport[32]; /* "kernel" or "stack" */
};

/* The stats document as JSON text to what synfin-stat shows. Returns 0, or -1 with the
 * reason in err. Strict: the whole text must be valid JSON, "version" must be 1, and
 * "tcp_states" must hold all eleven states as non-negative integers. */
int st_from_parse(const char *json, size_t len, struct st_from_stats *out, char *err,
                  size_t errlen);

/* GETs target (http://HOST[:PORT][/PATH], or HOST:PORT meaning /stats) and parses it.
 * Returns 0, or -1 with the reason in err. */
int st_from_fetch(const char *target, struct st_from_stats *out, char *err, size_t errlen);

/* --from without --watch: fetch once, print; returns the exit status. */
int st_from_once(const struct st_opts *o);

#endif
