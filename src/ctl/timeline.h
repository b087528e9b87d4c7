/* A session's timeline, for GET /sessions/ID: what the balancer stamped on its way (accept,
 * queue, connect, server established), each of its connections' TCP transitions with their
 * causes when the transport keeps a trace of them (the stack), and its end or its state now,
 * in time order. */
#ifndef SYNFIN_CTL_TIMELINE_H
#define SYNFIN_CTL_TIMELINE_H

#include "lb/transport.h"
#include "util/strbuf.h"

#define CTL_TL_MAX 64

struct ctl_tl_event {
    uint64_t t;        /* the loop's clock */
    unsigned seq;      /* order of addition, for events at the same time */
    const char *event; /* "accepted", "client_tcp", "ended", ... */
    char detail[112];
};

struct ctl_timeline {
    uint64_t t0; /* the accept: at_ms counts from it */
    size_t n;
    struct ctl_tl_event ev[CTL_TL_MAX];
};

void ctl_tl_init(struct ctl_timeline *tl, uint64_t t_start);
/* Adds an event at t (0: never happened, nothing added); the detail is formatted. */
void ctl_tl_add(struct ctl_timeline *tl, uint64_t t, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The balancer's stamps: the accept, then queue, connect, server established (0 for those
 * that did not happen). Events at the same time keep the order they were added in: add the
 * trace first, so that a stamp follows the transition it notes (the loop's clock is one
 * value per iteration). */
void ctl_tl_stamps(struct ctl_timeline *tl, uint64_t queued, uint64_t connect,
                   uint64_t established);
/* The transitions of connections ids[0] (the client's) and ids[1] (the server's) still in
 * the trace (NULL: none kept). */
void ctl_tl_trace(struct ctl_timeline *tl, const struct lb_trace *trace, const uint64_t ids[2]);
/* ,"timeline":[{"at_ms":..,"event":..,"detail":..},...] in time order. */
void ctl_tl_render(struct ctl_timeline *tl, struct sf_strbuf *b);

#endif
