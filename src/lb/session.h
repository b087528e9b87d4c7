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

/* A transport event's edges (transport.h: LB_EV_*) noted on the side they came from. */
static inline void lb_side_note(struct lb_side *sd, unsigned ev)
{
    if (ev & LB_EV_READ)
        sd->rd = 1;
    if (ev & LB_EV_WRITE)
        sd->wr = 1;
    if (ev & LB_EV_HUP)
        sd->hup = 1;
    if (ev & LB_EV_ERROR)
        sd->err = 1;
}

struct lb_http;

struct lb_session {
    struct lb *lb;
    struct lb_http *http; /* mode http: the message state (http_session.c); NULL in tcp mode
                           * and once an http session has become a tunnel */
    uint64_t id;
    struct lb_frontend *fe;
    struct lb_backend *be;
    struct lb_server *srv;
    struct lb_conn *cc, *sc;
    struct lb_side cs, ss;
    struct lb_pipe up, down;   /* client -> server, server -> client */
    struct lb_addr client;     /* the client: the peer, or what its PROXY header said */
    struct lb_addr client_dst; /* where it connected (send_proxy), once have_dst */
    int state;
    int first_fin; /* LB_CAUSE_CLIENT_FIN or LB_CAUSE_SERVER_FIN, once known */
    uint32_t retries;
    struct lb_server *failed; /* the server whose connect failed last */
    unsigned waiting : 1;     /* for room to connect (lb->nwaiting), retried at t_retry */
    unsigned rewait : 1;      /* ... in a retry: a new wait goes on from t_wait, unlogged */
    unsigned counted : 1;     /* in its backend's sessions_total */
    unsigned looped : 1;      /* the last connect led back into synfin */
    unsigned proxy_wait : 1;  /* accept_proxy: reading the PROXY header, no server yet */
    unsigned have_dst : 1;    /* client_dst is known */
    uint64_t t_start, t_queued, t_connect, t_established, last_c, last_s, t_wait, t_retry;
    /* The client's and the (first) server connection's numbers in lb_transport.trace, 0
     * when the transport keeps none: the dashboard's timeline. */
    uint64_t conn_id[2];
    struct sf_loop_timer timer;
    struct lb_session *prev, *next;   /* lb->sessions */
    struct lb_session *qprev, *qnext; /* backend queue */
};

/* Notes the number of connection c (side 0 client, 1 server) in the transport's trace,
 * when it keeps one (the stack): once per side. */
void lb_session_note_conn(struct lb_session *s, int side, struct lb_conn *c);
/* Takes over an accepted client connection. */
void lb_session_start(struct lb_frontend *fe, struct lb_conn *client);
/* Ends it now with cause (drain, stop, admin kill): RST when reset_on_timeout says so. */
void lb_session_kill(struct lb_session *s, int cause);
/* The backend queue may move: try to start queued sessions. */
void lb_backend_run_queue(struct lb *lb, struct lb_backend *b);
/* A slot freed, or the servers that take new sessions changed (a server up, down, drained,
 * in maint, reweighted): b's queue runs again after this batch, so a queued session goes to
 * a server that can take it now, or ends with no_server when none is left, instead of
 * waiting out queue_timeout for a server that will not take it. */
void lb_backend_kick(struct lb *lb, struct lb_backend *b);

/* Shared with the http sessions (http_session.c), which choose a server per request. */
void lb_session_enqueue(struct lb_session *s);        /* into its backend's queue (state queued) */
void lb_session_dequeue(struct lb_session *s);        /* out of it */
void lb_session_release_server(struct lb_session *s); /* s->srv's slot back; queue may move */
/* A connect failed (err: errno, 0 for the timeout): the server connection goes, its server
 * counts the failure and gets its slot back. 1 when a retry is within the backend's budget
 * (counted in s->retries), 0 when the session ends with lb_session_connect_cause's cause. */
int lb_session_connect_failed(struct lb_session *s, int err);
int lb_session_connect_cause(const struct lb_session *s, int err);
/* A connect ran short of synfin's own resources (err: its errno): s waits in state queued,
 * counted and logged once, for a retry at s->t_retry. The caller arms its timer. */
void lb_session_wait_room(struct lb_session *s, int err);
struct lb_source *lb_session_source(struct lb_session *s); /* the next source address */
/* send_proxy: writes the PROXY header on the new server connection s->sc (the client's
 * address, or the one its own header carried). 0, or -1 if it could not be written whole. */
int lb_session_proxy_send(struct lb_session *s);
/* The end's bookkeeping, once both connections are closed and the session logged: counters,
 * the session list, buffers, references; frees s. */
void lb_session_finish(struct lb_session *s, int cause);
/* An http session whose request asked for a tunnel (Upgrade answered 101, CONNECT answered
 * 2xx) becomes a layer-4 session: s->http is gone, s->cc and s->sc are joined by the two
 * pipes, whose buffers hold what is still to be written each way. */
void lb_session_tunnel(struct lb_session *s);

#endif
