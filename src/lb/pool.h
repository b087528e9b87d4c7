/* Server connections of http sessions, and each server's pool of idle ones (F5 OneConnect,
 * HAProxy http-reuse, nginx upstream keepalive).
 *
 * Every server connection an http session makes is a pconn for its whole life: in use by
 * one request at a time, idle in its server's pool between requests, or private to one
 * client connection (http_reuse never). The pool keeps the idle ones most recently used
 * first, closes any that its server closes or resets (an idle connection is still read: its
 * FIN or RST is an event), and closes those idle longer than pool_idle_timeout. Which idle
 * connection a request may take is HAProxy's http-reuse rule (lb_pool_eligible).
 *
 * The pool does not know sessions: a session takes a pconn out (lb_pool_take), uses its
 * connection with handlers of its own, and gives it back (lb_pool_put) or closes it
 * (lb_pconn_close) with the reason, which the server's counters keep for /metrics. */
#ifndef SYNFIN_LB_POOL_H
#define SYNFIN_LB_POOL_H

#include <stdint.h>

#include "io/loop.h"
#include "lb/pipe.h"

struct lb_server;
struct lb_http_be_conf;
struct lb_profile;

/* Why a server connection of an http session was closed. */
enum lb_pconn_cause {
    LB_PC_SERVER_CLOSE, /* the server closed it: its FIN while idle, or a response that
                         * said `Connection: close` or ran to the connection's end */
    LB_PC_SERVER_RST,   /* reset or failed */
    LB_PC_IDLE_TIMEOUT, /* idle in the pool for pool_idle_timeout */
    LB_PC_MAX_REQUESTS, /* it carried pool_max_requests */
    LB_PC_POOL_FULL,    /* the pool held pool_max_idle already */
    LB_PC_ABORTED,      /* an exchange cut short (client gone, a timeout, a malformed
                         * response, a request body not sent whole): its state is unknown */
    LB_PC_PRIVATE,      /* private to a client connection (http_reuse never) that ended,
                         * or whose next request went to another server */
    LB_PC_TUNNEL,       /* became a tunnel (Upgrade, CONNECT): no longer http's */
    LB_PC_SERVER_GONE,  /* its server left (reload, down, ejected) or synfin stops */
    LB_PC_N
};
const char *lb_pconn_cause_name(int c);

struct lb_pool;

struct lb_pconn {
    struct lb_conn *c;
    struct lb_server *srv; /* holds a reference */
    struct lb_pool *pool;  /* srv's */
    uint32_t requests;     /* requests sent on it so far */
    uint64_t t_open, t_idle;
    struct lb_side side; /* readiness while idle in the pool */
    struct sf_loop_timer timer;
    struct lb_pconn *prev, *next; /* in the pool's idle or closing list */
    int cause;                    /* closing: the reason it will be closed for */
    unsigned idle : 1;
    unsigned closing : 1;
    unsigned proxied : 1; /* a PROXY header went first: its client's alone, never pooled */
};

/* A server's pool; its settings are copied from the backend at every configuration. */
struct lb_pool {
    struct sf_loop *loop;
    struct lb_pconn *head, *tail; /* idle, most recently used first */
    struct lb_pconn *closing;     /* waiting for their server's FIN (lb_pconn_retire) */
    uint32_t idle, nclosing;
    uint32_t max_idle, max_requests; /* 0 max_requests: no limit */
    uint64_t idle_timeout_ms;
    uint64_t fin_wait_ms; /* the backend's server_fin_timeout */
    int close_rst; /* the backend's server_close rst: close with RST when all is acknowledged */
    uint64_t opened, reused, closed[LB_PC_N];
};

void lb_pool_init(struct lb_pool *p, struct sf_loop *loop);
/* The backend's settings (a reload may change them): idle connections beyond a smaller
 * pool_max_idle are closed (pool_full). */
void lb_pool_configure(struct lb_pool *p, const struct lb_http_be_conf *h,
                       const struct lb_profile *server_side);

/* Whether an idle pconn may carry a request under http_reuse `reuse` (HAProxy's rules):
 * never: none; safe: not the first request of a client connection; aggressive: the first
 * only on a connection already reused once (it carried two requests), later ones any;
 * always: any. */
int lb_pool_eligible(const struct lb_pconn *pc, int reuse, int first);

/* A new connection c to srv, in use (counted in `opened`); NULL when memory runs out (the
 * caller still owns c). */
struct lb_pconn *lb_pconn_new(struct lb_server *srv, struct lb_pool *p, struct lb_conn *c,
                              uint64_t now);
/* The idle pconn a request may take (most recently used first), out of the pool and
 * counted in `reused`; NULL if none. With check_fin, a candidate whose server's FIN has
 * arrived though its event has not yet been seen is closed and passed over (for a request
 * that could not be retried). The caller sets its own handler on pc->c. */
struct lb_pconn *lb_pool_take(struct lb_pool *p, int reuse, int first, int check_fin);
/* Back to the pool after a complete exchange, with the connection's readiness as the
 * session knew it. Closes it instead when it carried max_requests (max_requests), the pool
 * is full (pool_full), or a look at it finds its FIN, an error or stray bytes. Returns 1
 * if pooled. */
int lb_pool_put(struct lb_pconn *pc, const struct lb_side *side, uint64_t now);
/* Closes pc (idle or in use) for cause: RST for a reset, an aborted exchange or a close
 * that server_close rst asks (when nothing is unacknowledged), FIN otherwise. Frees it. */
void lb_pconn_close(struct lb_pconn *pc, int cause);
/* The server has said it closes the connection (`Connection: close`) and its FIN is not in
 * yet: closing first would leave TIME_WAIT on synfin's side. Waits for that FIN (reading and
 * dropping anything before it), at most the backend's server_fin_timeout, then closes for
 * cause. With server_close rst, or the FIN already in, closes at once. */
void lb_pconn_retire(struct lb_pconn *pc, int cause);
/* pc's connection leaves http (a tunnel): counted as closed for `tunnel`, pc freed, the
 * connection returned to the caller, who now owns it. */
struct lb_conn *lb_pconn_detach(struct lb_pconn *pc);
/* Closes every idle (and retiring) connection of the pool for cause. */
void lb_pool_purge(struct lb_pool *p, int cause);

#endif
