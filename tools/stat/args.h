/* synfin-stat's command line: options, their values, and which ones go together. */
#ifndef SYNFIN_STAT_ARGS_H
#define SYNFIN_STAT_ARGS_H

#include <stddef.h>
#include <stdio.h>

#include "diag/sockdiag.h"

struct st_opts {
    unsigned port;                         /* --port (0: none) */
    struct sf_sockdiag_cond local, remote; /* --local, --remote */
    const char *local_arg, *remote_arg;    /* as given, for reports */
    const char *netns;                     /* --netns NAME */
    int by_peer;                           /* --by-peer */
    unsigned top;                          /* --top N rows per group */
    double watch;                          /* --watch SECONDS (0: once) */
    unsigned long count;                   /* --count N refreshes (0: until interrupted) */
    int json;                              /* --json */
    const char *from;                      /* --from URL */
    int advise;                            /* --advise */
    const char *ignore;                    /* --ignore ID,... findings not to count */
    const char *html;                      /* --html FILE: the report for a ticket */
    int help, version;
};

#define ST_TOP_DEFAULT 10

/* Parses argv into o. Returns 0, or -1 with a one-line message in err (no "synfin-stat: "
 * prefix, no newline). */
int st_parse_args(int argc, char **argv, struct st_opts *o, char *err, size_t errlen);

/* Parses ADDR[/PREFIX][:PORT], [IPV6[/PREFIX]][:PORT], bare IPV6[/PREFIX], or :PORT / *:PORT
 * into a condition. Returns 0 or -1 with a message in err. */
int st_parse_endpoint(const char *s, struct sf_sockdiag_cond *c, char *err, size_t errlen);

/* Strict unsigned decimal in [min, max]: digits only, no sign, no spaces. */
int st_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out);

/* Strict positive decimal seconds ("2", "0.5") in [min, max]. */
int st_parse_seconds(const char *s, double min, double max, double *out);

void st_usage(FILE *f);

#endif
