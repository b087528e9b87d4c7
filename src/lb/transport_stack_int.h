/* The stack transport's inside, shared by its files: transport_stack.c (connections,
 * listeners, events) and transport_stack_stats.c (transitions, census, metrics). Nothing
 * outside src/lb/transport_stack*.c includes this; the rest of the balancer sees transport.h. */
#ifndef LB_TRANSPORT_STACK_INT_H
#define LB_TRANSPORT_STACK_INT_H

#include "lb/epset.h"
#include "lb/transport.h"

#include "io/host.h"

struct sprofile {
    struct sf_tcp_config cfg;
    struct sf_profile *p;
    struct sprofile *next;
};

/* A connection or listener with events waiting for delivery: entries of the ready list. */
struct sready {
    struct sready *prev, *next;
    unsigned pending; /* LB_EV_* for a connection; 1 for a listener */
    unsigned queued : 1;
    unsigned listener : 1;
};

struct stransport {
    struct lb_transport base;
    struct sf_host *host;
    struct sf_engine *e;
    struct sprofile *profiles;
    struct sready *ready_head, *ready_tail; /* events waiting, in the order they arose */
    struct sf_loop_timer deliver;
    unsigned queue, queues; /* this transport's TUN queue of how many (threads: io/steer.h) */
    int in_call; /* one of our operations, or a batch of packets, is running: events wait */
    /* TIME_WAIT entries by local port, for the census's side split (frontend, respond).
     * This and the transition counts are written by this thread alone, with LB_COUNT_*
     * (lb/counter.h), so that thread 0 can sum them over the threads. */
    uint32_t *tw_port;
    uint64_t transitions[SF_CAUSE_COUNT];
    uint64_t to_state[SF_STATE_COUNT]; /* transitions into each state */
    uint64_t *arrows;                  /* LB_ARROWS_LEN: base.arrows (the dashboard) */
    /* The engine's and the device's counters, plain fields of the engine's: a copy stored
     * field by field with relaxed atomics (lb_stack_publish) for another thread's scrape. */
    struct sf_engine_stats pub;
    uint64_t pub_tx_drops;
    struct lb_trace trace; /* base.trace: ring of LB_TRACE_LEN */
    struct lb_epset out;   /* outgoing connections by local end */
};

struct sconn {
    struct lb_conn base;
    struct sready r;
    struct stransport *tp;
    struct sf_conn *c;
    lb_conn_fn fn;
    void *ctx;
    struct lb_addr peer;
    struct lb_addr local; /* outgoing ones, for loop detection */
    int connect_err;      /* -errno of a failed connect; -ELOOP: it led back to us */
    unsigned indexed : 1; /* in tp->out */
    unsigned connecting : 1;
    unsigned outgoing : 1;
    unsigned corked : 1;
    unsigned fin_sent : 1;
};

struct slistener {
    struct lb_listener base;
    struct sready r;
    struct stransport *tp;
    struct sf_conn *c;
    struct lb_addr addr;
    lb_listener_fn fn;
    void *ctx;
};

/* transport_stack_stats.c */
void lb_stack_on_transition(void *ctx, const struct sf_transition *t);
int lb_stack_census(struct lb_transport *t, const struct lb_census_scope *sc, struct lb_census *c,
                    unsigned budget);
void lb_stack_census_published(struct lb_transport *t, const struct lb_census_scope *sc,
                               struct lb_census *c);
void lb_stack_metrics(struct lb_transport *const *t, size_t n, struct sf_strbuf *b);
void lb_stack_publish(struct lb_transport *t);
uint64_t lb_stack_finishing(struct lb_transport *t);

#endif
