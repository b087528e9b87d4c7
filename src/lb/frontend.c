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

/* Accepts until none is waiting (edge-triggered), maxconn is reached, or descriptors run
 * out. A paused frontend leaves connections in the kernel's backlog: that is the
 * back-pressure toward clients. */
void lb_frontend_accept(struct lb_frontend *f)
{
    struct lb *lb = f->lb;
    if (!f->listener || lb->draining || lb->stopping)
        return;
    while (f->active < f->conf.maxconn) {
        struct lb_conn *c;
        int rc = lb_accept(f->listener, NULL, NULL, &c);
        if (rc == -EAGAIN) {
            f->paused = 0;
            return;
        }
        if (rc == -ECONNABORTED || rc == -EINTR || rc == -EPROTO)
            continue;
        if (rc < 0) {
            /* Out of descriptors or memory: retry shortly instead of spinning. */
            f->accept_errors++;
            lb_logf(lb, "event=accept_error frontend=%s error=%s", f->conf.name, strerror(-rc));
            f->paused = 1;
            if (sf_loop_timer_set(lb->loop, &f->retry,
                                  sf_loop_now(lb->loop) + 100 * SF_NSEC_PER_MS) < 0)
                f->paused = 0;
            return;
        }
        lb_session_start(f, c);
    }
    f->paused = 1;
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
