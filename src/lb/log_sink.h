/* Log lines reshaped on their way out (docs/lb.md, "Log"): JSON instead of key=value, the
 * time stamp left to the journal, or one syslog datagram per line. */
#ifndef SYNFIN_LB_LOG_SINK_H
#define SYNFIN_LB_LOG_SINK_H

#include "lb/config.h"

#include <stdio.h>

/* Whether stderr is the journal's stream (systemd sets JOURNAL_STREAM to its dev:inode). */
int lb_log_stderr_is_journal(void);
/* A stream the log writers use as they would `out`: each line it gets is reshaped as c says
 * (log_format, log syslog) and goes to out, or to syslog when c->log_target is
 * LB_LOG_SYSLOG (out NULL). no_time drops each line's leading time stamp. The stream owns
 * out when out_owned. NULL with errno when it cannot be made. */
FILE *lb_log_sink_open(const struct lb_config *c, FILE *out, int out_owned, int no_time);
/* One line reshaped as kv-to-JSON does, for the unit test: returns its length, or -1 when
 * it does not fit in cap. */
int lb_log_line_to_json(const char *line, size_t len, int no_time, char *dst, size_t cap);

#endif
