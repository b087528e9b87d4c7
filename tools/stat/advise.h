/* The tuning advisor: TCP sysctls weighed against the live socket table. Each finding carries
 * the numbers it read, the risk, a suggested change and the reason for it. It never changes a
 * sysctl: it tells the operator what to change and why. */
#ifndef SYNFIN_STAT_ADVISE_H
#define SYNFIN_STAT_ADVISE_H

#include <stddef.h>
#include <stdint.h>

#include "args.h"
#include "collect.h"
#include "sysctl.h"
#include "tcpstates.h"

/* What the advisor reads from the socket table. */
struct st_live {
    struct st_hist hist;
    uint64_t tw_out, tw_in, cw_in, cw_out;
    /* The outgoing TIME_WAIT of the busiest (source address, destination address:port). */
    int top_family;
    uint8_t top_laddr[16], top_raddr[16];
    uint16_t top_rport;
    uint64_t top_tw;
    /* Where CLOSE_WAIT piles up: the busiest local port (0: outgoing) and remote endpoint. */
    uint16_t cw_port;
    uint64_t cw_port_count;
    char cw_remote[64];
    uint64_t cw_remote_count;
    /* Incoming TIME_WAIT on the busiest listening port. */
    uint16_t tw_in_port;
    uint64_t tw_in_port_count;
    struct st_listener fullest;
    uint32_t listeners;
};

/* Where a sysctl that no longer exists is still set ("/etc/sysctl.conf:12"); "" if nowhere. */
struct st_conf_notes {
    char tw_recycle[300];
};

struct st_finding {
    const char *id; /* stable name for scripts, e.g. "port-exhaustion" */
    int attention;  /* 1: needs attention (exit status 1); 0: a note */
    int ignored;    /* named by --ignore: shown, not counted */
    char title[200];
    char evidence[700];
    char risk[700];
    char change[500];
    char reason[1200];
};

#define ST_MAX_FINDINGS 16

/* Applies every rule; fills out[] and returns how many findings there are. Pure: the same
 * inputs give the same findings. */
size_t st_advise(const struct st_sysctls *s, const struct st_live *l,
                 const struct st_conf_notes *notes, struct st_finding *out, size_t max);

/* Checks a comma-separated list of finding ids (--ignore); 0, or -1 with a message. */
int st_check_finding_ids(const char *list, char *err, size_t errlen);

/* Whether id is in the comma-separated list. */
int st_finding_listed(const char *list, const char *id);

/* Summarizes a collection pass (with peers) into what the advisor reads. */
void st_live_from(const struct st_collect *c, struct st_live *l);

/* The advice for a collection pass (with peers) already made: reads the sysctls into s (none
 * present: /proc unreadable, the findings then mean little), fills l, returns how many
 * findings fs holds. */
size_t st_advise_collected(const struct st_collect *c, struct st_sysctls *s, struct st_live *l,
                           struct st_finding *fs, size_t max);

/* The "findings" member of a JSON document (as --advise --json writes it). */
struct st_json;
void st_json_findings(struct st_json *j, const struct st_finding *fs, size_t n);

/* A collection pass with peers and its advice, as --advise and --html make them. */
struct st_advised {
    struct st_collect *c;
    struct st_finding *fs;
    size_t n;
    struct st_sysctls s;
    struct st_live l;
};
/* Collects (q) and advises into a: 0, or 2 with the reason printed (a is freed either way
 * by st_advised_free). */
int st_advise_gather(const struct st_opts *o, const struct sf_sockdiag_query *q,
                     struct st_advised *a);
void st_advised_free(struct st_advised *a);

/* --advise: read, advise, print. Returns 0 (nothing needs attention), 1, or 2 (error). */
int st_advise_run(const struct st_opts *o, const struct sf_sockdiag_query *q);

#endif
