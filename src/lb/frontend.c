/* Frontends: a listener that turns accepted connections into sessions, within maxconn. */
#include "lb/lb.h"
#include "lb/counter.h"
#include "lb/session.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static void on_listener(void *ctx, struct lb_listener *l)
{
    (void)l;
    lb_frontend_accept(ctx);
}

static void on_retry(struct sf_loop_timer *t)
{
    struct lb_frontend *f = CONTAINER(t, struct lb_frontend, retry);
    LB_COUNT_SET(f->paused, 0);
    lb_frontend_accept(f);
}

static void pause_for_room(struct lb_frontend *f)
{
    char who[LB_NAME_MAX + 16];
    LB_COUNT_SET(f->paused, 1);
    if (!f->fd_paused) {
        LB_COUNT_SET(f->fd_paused, 1);
        LB_COUNT_INC(f->fd_pauses);
    }
    snprintf(who, sizeof who, "frontend=%s", f->conf.name);
    lb_fd_short(f->lb, who);
}

static void accept_failed(struct lb_frontend *f, int rc)
{
    struct lb *lb = f->lb;
    LB_COUNT_INC(f->accept_errors);
    if (rc == -EMFILE || rc == -ENFILE)
        pause_for_room(f); /* held outside the count (or system-wide): the episode says it */
    else
        lb_logf(lb, "event=accept_error frontend=%s error=%s", f->conf.name, strerror(-rc));
    /* The count said there was room, so only time tells when there is: retry shortly
     * instead of spinning. */
    LB_COUNT_SET(f->paused, 1);
    if (sf_loop_timer_set(lb->loop, &f->retry, sf_loop_now(lb->loop) + 100 * SF_NSEC_PER_MS) < 0)
        LB_COUNT_SET(f->paused, 0);
}

/* Accepts from listener i until none is waiting (edge-triggered): 0, or 1 when maxconn or
 * a shortage stopped it (the frontend is paused then). */
static int accept_from(struct lb_frontend *f, uint32_t i)
{
    struct lb *lb = f->lb;
    while (f->active < f->conf.maxconn) {
        if (!lb_session_room(lb)) {
            pause_for_room(f);
            return 1;
        }
        /* With threads maxconn counts every thread's sessions: a slot first, exactly. */
        if (f->sh && !lb_shared_claim(&f->sh->active, f->conf.maxconn))
            break;
        struct lb_conn *c;
        int rc = lb_accept(f->listener[i], LB_ACCEPT_REFUSE_OWN, NULL, NULL, &c);
        if (rc < 0 && f->sh)
            lb_shared_release(&f->sh->active);
        if (rc == -EAGAIN)
            return 0;
        if (rc == -ECONNABORTED || rc == -EINTR || rc == -EPROTO)
            continue;
        if (rc == -ELOOP) {
            lb_loop_refused(f, i);
            continue;
        }
        if (rc < 0) {
            accept_failed(f, rc);
            return 1;
        }
        LB_COUNT_INC(f->listen_sessions[i]);
        lb_session_start(f, c);
    }
    LB_COUNT_SET(f->paused, 1);
    LB_COUNT_SET(f->fd_paused, 0); /* maxconn holds it now */
    return 1;
}

/* Accepts on every listener of f until none has a connection waiting, maxconn is reached,
 * or a session's two connections cannot be had. A paused frontend leaves connections in
 * the kernel's backlogs: that is the back-pressure toward clients. fd_paused stays set from
 * the first refusal for room until the backlogs are empty, so a frontend that takes one
 * client per session that ends is one pause, not one per client. Each round starts at the
 * listener after the one that stopped the last, so that no listen address starves. */
void lb_frontend_accept(struct lb_frontend *f)
{
    struct lb *lb = f->lb;
    if (lb->draining || lb->stopping)
        return;
    uint32_t n = f->conf.nlisten;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = (f->next_listener + k) % n;
        if (f->listener[i] && accept_from(f, i)) {
            f->next_listener = (i + 1) % n;
            return;
        }
    }
    LB_COUNT_SET(f->paused, 0);
    LB_COUNT_SET(f->fd_paused, 0);
}

void lb_frontend_adopt(struct lb_frontend *f, uint32_t i, struct lb_listener *l)
{
    f->retry.fn = on_retry;
    f->listener[i] = l;
    lb_listener_set_handler(l, on_listener, f);
}

void lb_frontend_close(struct lb_frontend *f)
{
    for (uint32_t i = 0; i < LB_LISTEN_MAX; i++) {
        if (f->listener[i])
            lb_listener_close(f->listener[i]);
        f->listener[i] = NULL;
    }
}
