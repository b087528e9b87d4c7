/* Frontends: a listener that turns accepted connections into sessions, within maxconn. */
#include "lb/lb.h"
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
    f->paused = 0;
    lb_frontend_accept(f);
}

static void pause_for_room(struct lb_frontend *f)
{
    char who[LB_NAME_MAX + 16];
    f->paused = 1;
    if (!f->fd_paused) {
        f->fd_paused = 1;
        f->fd_pauses++;
    }
    snprintf(who, sizeof who, "frontend=%s", f->conf.name);
    lb_fd_short(f->lb, who);
}

static void accept_failed(struct lb_frontend *f, int rc)
{
    struct lb *lb = f->lb;
    f->accept_errors++;
    if (rc == -EMFILE || rc == -ENFILE)
        pause_for_room(f); /* held outside the count (or system-wide): the episode says it */
    else
        lb_logf(lb, "event=accept_error frontend=%s error=%s", f->conf.name, strerror(-rc));
    /* The count said there was room, so only time tells when there is: retry shortly
     * instead of spinning. */
    f->paused = 1;
    if (sf_loop_timer_set(lb->loop, &f->retry, sf_loop_now(lb->loop) + 100 * SF_NSEC_PER_MS) < 0)
        f->paused = 0;
}

/* Accepts until none is waiting (edge-triggered), maxconn is reached, or a session's two
 * connections cannot be had. A paused frontend leaves connections in the kernel's backlog:
 * that is the back-pressure toward clients. fd_paused stays set from the first refusal for
 * room until the backlog is empty, so a frontend that takes one client per session that
 * ends is one pause, not one per client. */
void lb_frontend_accept(struct lb_frontend *f)
{
    struct lb *lb = f->lb;
    if (!f->listener || lb->draining || lb->stopping)
        return;
    while (f->active < f->conf.maxconn) {
        if (!lb_session_room(lb)) {
            pause_for_room(f);
            return;
        }
        struct lb_conn *c;
        int rc = lb_accept(f->listener, LB_ACCEPT_REFUSE_OWN, NULL, NULL, &c);
        if (rc == -EAGAIN) {
            f->paused = f->fd_paused = 0;
            return;
        }
        if (rc == -ECONNABORTED || rc == -EINTR || rc == -EPROTO)
            continue;
        if (rc == -ELOOP) {
            lb_loop_refused(f);
            continue;
        }
        if (rc < 0) {
            accept_failed(f, rc);
            return;
        }
        lb_session_start(f, c);
    }
    f->paused = 1;
    f->fd_paused = 0; /* maxconn holds it now */
}

int lb_frontend_listen(struct lb_frontend *f, char *err, size_t errlen)
{
    struct lb_listen_opts o;
    memset(&o, 0, sizeof o);
    o.addr = f->conf.listen;
    o.backlog = f->conf.backlog;
    o.reuseport = f->conf.reuseport;
    o.defer_accept_s = f->conf.profile.defer_accept ? 1 : 0;
    lb_profile_sockopts(&f->conf.profile, &o.sock);
    f->retry.fn = on_retry;
    int rc = lb_listen(f->lb->tp, &o, on_listener, f, &f->listener);
    if (rc < 0) {
        char a[LB_ADDR_STRLEN];
        snprintf(err, errlen, "frontend %s: cannot listen on %s: %s", f->conf.name,
                 lb_addr_format(&f->conf.listen, a, sizeof a), strerror(-rc));
        f->listener = NULL;
        return -1;
    }
    return 0;
}

void lb_frontend_adopt(struct lb_frontend *f, struct lb_listener *l)
{
    f->retry.fn = on_retry;
    f->listener = l;
    lb_listener_set_handler(l, on_listener, f);
}
