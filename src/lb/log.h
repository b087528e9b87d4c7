/* The session log: one line per session when it ends (format in docs/lb.md). */
#ifndef SYNFIN_LB_LOG_H
#define SYNFIN_LB_LOG_H

#include "lb/lb.h"

struct lb_session;

void lb_log_session(struct lb *lb, const struct lb_session *s, int cause, int client_rst,
                    int server_rst);
/* Opens the configured destination; returns 0 or -errno (file destinations). */
int lb_log_open(struct lb *lb, const struct lb_config *c);
void lb_log_close(struct lb *lb);

#endif
