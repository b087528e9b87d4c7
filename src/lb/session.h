/* A session: a client connection, a server connection, a pipe each way.
 *
 * Life: accepted -> (queued ->) connecting -> established -> ended with a cause. The
 * session reacts to transport events (edges), moves bytes with its pipes, and keeps one
 * timer armed at its next deadline (connect, queue, idle, half-closed). */
#ifndef SYNFIN_LB_SESSION_H
#define SYNFIN_LB_SESSION_H

#include "lb/lb.h"
#include "lb/pipe.h"

enum lb_session_state { LB_S_QUEUED, LB_S_CONNECTING, LB_S_ESTABLISHED };

struct lb_session {
    struct lb *lb;
    uint64_t id;
    struct lb_frontend *fe;
    struct lb_backend *be;
    struct lb_server *srv;
    struct lb_conn *cc, *sc;
    struct lb_side cs, ss;
    struct lb_pipe up, down; /* client -> server, server -> client */
    struct lb_addr client;
    int state;
    int first_fin; /* LB_CAUSE_CLIENT_FIN or LB_CAUSE_SERVER_FIN, once known */
    uint32_t retries;
    struct lb_server *failed; /* the server whose connect failed last */
    uint64_t t_start, t_queued, t_connect, t_established, last_c, last_s;
    struct sf_loop_timer timer;
    struct lb_session *prev, *next;   /* lb->sessions */
    struct lb_session *qprev, *qnext; /* backend queue */
};

/* Takes over an accepted client connection. */
void lb_session_start(struct lb_frontend *fe, struct lb_conn *client);
/* Ends it now with cause (drain, stop, admin kill): RST when reset_on_timeout says so. */
void lb_session_kill(struct lb_session *s, int cause);
/* The backend queue may move: try to start queued sessions. */
void lb_backend_run_queue(struct lb *lb, struct lb_backend *b);

#endif
