/* Room for connections: a frontend accepts a client only when the transport can still give
 * the session its two connections (client and server), and leaves enough for what must not
 * starve: health checks, the built-in responders, a reload's new listeners, and sessions
 * that already hold their client connection and will need a server one. What does not fit
 * waits in the kernel's backlog, and resumes here when sessions end.
 *
 * Running short is an episode: one fd_exhausted line when it starts, one fd_recovered when
 * nothing waits for room any more, however many clients it touched. */
#include "lb/lb.h"
#include "lb/counter.h"

#include <stdio.h>

/* A responder answers and closes at once: a few connections keep it answering, and more
 * clients wait in its backlog. */
#define RESPOND_ROOM 8u

/* How long a frontend that refused a loop stays quiet about the next ones. */
#define LOOP_LOG_QUIET_NS (10 * SF_NSEC_PER_SEC)

void lb_room_plan(struct lb *lb)
{
    uint32_t checks = 0;
    for (size_t i = 0; i < lb->nbe; i++)
        if (lb->be[i]->conf.check.type != LB_CHECK_NONE)
            checks += (uint32_t)lb->be[i]->nservers; /* one check in flight per server */
    uint32_t listeners = (uint32_t)lb->nrs;          /* a reload opens before it closes */
    for (size_t i = 0; i < lb->nfe; i++)
        listeners += lb->fe[i]->conf.nlisten;
    lb->spare_respond = checks + listeners;
    lb->spare_sessions = lb->spare_respond + RESPOND_ROOM * (uint32_t)lb->nrs;
}

int lb_session_room(struct lb *lb)
{
    return lb_transport_room(lb->tp, 2, lb->spare_sessions + lb->npending);
}

int lb_respond_room(struct lb *lb)
{
    return lb_transport_room(lb->tp, 1, lb->spare_respond);
}

void lb_fd_short(struct lb *lb, const char *who)
{
    if (lb->fd_short)
        return;
    lb->fd_short = 1;
    lb->fd_short_since = sf_loop_now(lb->loop);
    lb_logf(lb, "event=fd_exhausted %s sessions=%u open=%llu limit=%llu", who, lb->nsessions,
            (unsigned long long)lb->tp->conn_open, (unsigned long long)lb->tp->conn_limit);
}

void lb_fd_resume(struct lb *lb)
{
    int waiting = lb->nwaiting > 0;
    for (size_t i = 0; i < lb->nfe; i++) {
        struct lb_frontend *f = lb->fe[i];
        if (f->fd_paused && !sf_loop_timer_armed(&f->retry) && lb_session_room(lb))
            lb_frontend_accept(f);
        waiting |= f->fd_paused;
    }
    for (size_t i = 0; i < lb->nrs; i++) {
        struct lb_respond *r = lb->rs[i];
        if (r->fd_paused && lb_respond_room(lb))
            lb_respond_accept(r);
        waiting |= r->fd_paused;
    }
    if (waiting)
        return;
    lb->fd_short = 0;
    lb_logf(lb, "event=fd_recovered after_ms=%.3f sessions=%u open=%llu limit=%llu",
            (double)(sf_loop_now(lb->loop) - lb->fd_short_since) / 1e6, lb->nsessions,
            (unsigned long long)lb->tp->conn_open, (unsigned long long)lb->tp->conn_limit);
}

void lb_loop_refused(struct lb_frontend *f, uint32_t listen_index)
{
    struct lb *lb = f->lb;
    uint64_t now = sf_loop_now(lb->loop);
    int quiet = f->loop_logged && now - f->loop_logged < LOOP_LOG_QUIET_NS;
    LB_COUNT_INC(f->loops);
    f->loop_logged = now;
    if (quiet)
        return;
    char a[LB_ADDR_STRLEN];
    lb_logf(lb,
            "event=loop_detected frontend=%s listen=%s refused=%llu reason=\"a connection from "
            "synfin's own server side came back to this frontend: a server address leads here\"",
            f->conf.name, lb_addr_format(&f->conf.listen[listen_index], a, sizeof a),
            (unsigned long long)f->loops);
}
