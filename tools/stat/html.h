/* --html FILE: a one-off report of the host's sockets in one self-contained HTML file (no
 * script, nothing fetched), for attaching to a ticket: the histogram as numbers and bars,
 * who holds TIME_WAIT and CLOSE_WAIT, the advisor's findings and the sysctls it read. */
#ifndef SYNFIN_STAT_HTML_H
#define SYNFIN_STAT_HTML_H

#include <stdio.h>

#include "advise.h"
#include "args.h"
#include "collect.h"

/* Writes the report of a collection pass (with peers) to f. */
void st_html_write(FILE *f, const struct st_opts *o, const struct st_collect *c,
                   const struct st_sysctls *s, const struct st_finding *fs, size_t n);

/* --html: read, advise, write o->html. Returns 0, or 2 (error, said on stderr). */
int st_html_run(const struct st_opts *o, const struct sf_sockdiag_query *q);

#endif
