/* The session log: one line per session when it ends (format in docs/lb.md). */
#ifndef SYNFIN_LB_LOG_H
#define SYNFIN_LB_LOG_H

#include "lb/lb.h"

struct lb_session;

void lb_log_session(struct lb *lb, const struct lb_session *s, int cause, int client_rst,
                    int server_rst);
/* One line per request of an http session (docs/lb.md, "HTTP mode"), when it ends. */
void lb_log_request(struct lb *lb, const struct lb_session *s);
/* A log destination opened but not yet in use: a reload opens the new one before it
 * commits, so that a file it cannot open rejects the reload instead of losing every line. */
struct lb_log_dest {
    FILE *f;
    int owned;
};
/* Opens the configured destination; returns 0 or -errno (file destinations). */
int lb_log_prepare(const struct lb_config *c, struct lb_log_dest *d);
/* Puts it in use (closing the one in use). */
void lb_log_set(struct lb *lb, const struct lb_log_dest *d);
void lb_log_discard(struct lb_log_dest *d);
void lb_log_close(struct lb *lb);

#endif
