/* A session: a client connection, a server connection, a pipe each way.
 *
 * Life: accepted -> (queued ->) connecting -> established -> ended with a cause. The
 * session reacts to transport events (edges), moves bytes with its pipes, and keeps one
 * timer armed at its next deadline (connect, queue, idle, half-closed). A connect that
 * runs short of synfin's own resources (descriptors, memory, ports) is no fault of the
 * server's nor the client's: the session waits (state queued) and retries on its timer. */
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
    unsigned waiting : 1;     /* for room to connect (lb->nwaiting), retried at t_retry */
    unsigned counted : 1;     /* in its backend's sessions_total */
    unsigned looped : 1;      /* the last connect led back into synfin */
    uint64_t t_start, t_queued, t_connect, t_established, last_c, last_s, t_wait, t_retry;
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
