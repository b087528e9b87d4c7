/* Runs a parsed script against a fresh engine on the simulated network (docs/drill.md). */
#ifndef SYNFIN_DRILL_RUN_H
#define SYNFIN_DRILL_RUN_H

#include <stddef.h>
#include <stdio.h>

#include "script.h"

struct sf_pcap;

struct dr_settings {
    int verbose;                  /* every packet, call and state transition to log */
    FILE *log;                    /* verbose output */
    struct sf_pcap *pcap;         /* NULL, or where every packet goes */
    const struct dr_option *opts; /* command-line --name=value, applied before the script's */
    size_t nopts;
};

/* Returns 0 when the script passes; -1 with "FILE:LINE: what was expected / what happened"
 * in msg when it fails; 1 with "FILE:LINE: unsupported: what" when it needs a feature the
 * runner or the engine does not have (skipped, not failed). */
int dr_run(const struct dr_script *s, const struct dr_settings *set, char *msg, size_t msglen);

/* Whether synfin-drill makes this system call (a script failing to parse inside another
 * call's arguments is unsupported, not wrong). */
int dr_call_known(const char *name);

#endif
