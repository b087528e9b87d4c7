/* Calls between threads (lb.h, struct lb_call): a mailbox per thread under a mutex, its wake
 * eventfd to say a call waits, and the poster's eventfd to say it is done. The admin
 * listener on thread 0 uses it for what only the owner of a session may touch (docs/
 * architecture.md, "Admin and figures"); nothing on the per-read path does. */
#include "lb/lb.h"

#include <unistd.h>

static void wake(struct lb *lb, uint32_t t)
{
    uint64_t one = 1;
    int fd = lb->shared->stat[t].wake_fd;
    if (fd >= 0 && write(fd, &one, sizeof one) < 0) {
        /* the counter is full: a wake is pending already */
    }
}

int lb_call_post(struct lb *lb, uint32_t to, struct lb_call *c)
{
    struct lb *o = lb_thread_lb(lb, to);
    if (!o)
        return -1;
    c->from = lb->thread;
    atomic_store_explicit(&c->state, LB_CALL_PENDING, memory_order_relaxed);
    pthread_mutex_lock(&o->call_mu);
    int closed = o->calls_closed;
    if (!closed) {
        c->next = o->calls;
        o->calls = c;
    }
    pthread_mutex_unlock(&o->call_mu);
    if (closed) {
        atomic_store_explicit(&c->state, LB_CALL_IDLE, memory_order_relaxed);
        return -1;
    }
    wake(lb, to);
    return 0;
}

int lb_call_done(struct lb_call *c)
{
    return atomic_load_explicit(&c->state, memory_order_acquire) == LB_CALL_DONE;
}

int lb_call_abandon(struct lb_call *c)
{
    int old = atomic_exchange_explicit(&c->state, LB_CALL_ABANDONED, memory_order_acq_rel);
    return old != LB_CALL_PENDING;
}

static void run(struct lb *lb, struct lb_call *c)
{
    /* Oldest first (the list is newest first): a cursor's close follows its last page. */
    struct lb_call *rev = NULL;
    while (c) {
        struct lb_call *n = c->next;
        c->next = rev;
        rev = c;
        c = n;
    }
    for (c = rev; c;) {
        struct lb_call *n = c->next;
        uint32_t from = c->from;
        if (c->oneway) {
            c->fn(lb, c);
        } else {
            c->fn(lb, c);
            if (atomic_exchange_explicit(&c->state, LB_CALL_DONE, memory_order_acq_rel) ==
                LB_CALL_ABANDONED)
                c->release(lb, c);
            else
                wake(lb, from);
        }
        c = n;
    }
}

void lb_calls_run(struct lb *lb)
{
    pthread_mutex_lock(&lb->call_mu);
    struct lb_call *c = lb->calls;
    lb->calls = NULL;
    pthread_mutex_unlock(&lb->call_mu);
    run(lb, c);
}

void lb_calls_close(struct lb *lb)
{
    if (!lb->shared)
        return;
    /* Under the mutex to the end: a poster that finds the box closed may then do the work
     * on this struct lb itself (a cursor's close), this thread having left it for good. */
    pthread_mutex_lock(&lb->call_mu);
    lb->calls_closed = 1;
    struct lb_call *c = lb->calls;
    lb->calls = NULL;
    run(lb, c);
    pthread_mutex_unlock(&lb->call_mu);
}
