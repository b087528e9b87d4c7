/* Worker threads: thread 0's orders (reload, drain, stop) reach them through an eventfd and
 * a mailbox under a mutex; nothing else crosses between threads but shared.h's atomics. */
#include "workers.h"

#include "io/loop.h"
#include "lb/lb.h"
#include "lb/config_stack.h"
#include "lb/transport.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

enum { CMD_RELOAD = 1, CMD_DRAIN = 2, CMD_STOP = 4 };

struct worker {
    uint32_t index;
    struct sf_loop_timer settle; /* after a drain: the stack's closes still finishing */
    uint64_t settle_until;
    struct sf_loop *loop;
    struct lb_transport *tp;
    struct lb *lb;
    struct sf_io ev; /* eventfd: an order is in the mailbox */
    pthread_t tid;
    int running;
    /* the mailbox */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int cmd;
    const struct lb_config *conf; /* CMD_RELOAD: read until reload_done */
    int reload_done, reload_rc;
    int exited; /* its loop has ended (a drain finished): no order is read any more */
};

struct workers {
    uint32_t n; /* workers: threads 1 to n */
    struct worker *w;
};

/* As thread 0 does (main.c): after a drain, connections the balancer closed on the stack
 * may still be finishing their FIN exchange in this thread's engine, which goes with the
 * thread; wait for them a little (bounded). The kernel finishes its own. */
#define SETTLE_NS      (2 * SF_NSEC_PER_SEC)
#define SETTLE_POLL_NS (10 * SF_NSEC_PER_MS)

static void on_settle(struct sf_loop_timer *t)
{
    struct worker *k = CONTAINER(t, struct worker, settle);
    uint64_t now = sf_loop_now(k->loop);
    if (lb_transport_finishing(k->tp) == 0 || now >= k->settle_until) {
        sf_loop_stop(k->loop);
        return;
    }
    sf_loop_timer_set(k->loop, t, now + SETTLE_POLL_NS);
}

static _Thread_local struct worker *self; /* on_idle's way back to its worker */

static void on_idle(struct lb *lb)
{
    struct worker *k = self;
    if (!k || lb_transport_finishing(k->tp) == 0) {
        sf_loop_stop(lb->loop);
        return;
    }
    k->settle.fn = on_settle;
    k->settle_until = sf_loop_now(k->loop) + SETTLE_NS;
    sf_loop_timer_set(k->loop, &k->settle, sf_loop_now(k->loop) + SETTLE_POLL_NS);
}

static void on_order(struct sf_io *io, uint32_t events)
{
    struct worker *k = CONTAINER(io, struct worker, ev);
    (void)events;
    uint64_t v;
    while (read(io->fd, &v, sizeof v) == (ssize_t)sizeof v) {
    }
    pthread_mutex_lock(&k->mu);
    int cmd = k->cmd;
    k->cmd = 0;
    const struct lb_config *c = k->conf;
    pthread_mutex_unlock(&k->mu);
    if (cmd & CMD_RELOAD) {
        char err[512];
        int rc = lb_apply(k->lb, c, err, sizeof err);
        if (rc < 0) {
            k->lb->reload_failures++;
            lb_logf(k->lb, "event=reload_rejected thread=%u error=\"%s\"", k->index, err);
        } else {
            k->lb->reloads++;
        }
        pthread_mutex_lock(&k->mu);
        k->conf = NULL;
        k->reload_done = 1;
        k->reload_rc = rc;
        pthread_cond_broadcast(&k->cv);
        pthread_mutex_unlock(&k->mu);
    }
    if (cmd & CMD_STOP) {
        lb_stop(k->lb);
        sf_loop_stop(k->loop);
    } else if (cmd & CMD_DRAIN) {
        lb_drain(k->lb); /* on_idle stops the loop when its last session ends */
    }
}

static void *worker_main(void *arg)
{
    struct worker *k = arg;
    self = k;
    char name[16]; /* "synfin/N" in top -H, ps -L and /proc/PID/task/TID/comm */
    snprintf(name, sizeof name, "synfin/%u", k->index);
    pthread_setname_np(pthread_self(), name);
    if (sf_loop_run(k->loop) < 0)
        fprintf(stderr, "synfin: thread %u: event loop: %s\n", k->index, strerror(errno));
    lb_calls_close(k->lb); /* the admin listener's calls: answered now, none after */
    pthread_mutex_lock(&k->mu);
    k->exited = 1; /* a reload waiting for this thread waits no more */
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

static void post(struct worker *k, int cmd, const struct lb_config *c)
{
    pthread_mutex_lock(&k->mu);
    k->cmd |= cmd;
    if (cmd & CMD_RELOAD) {
        k->conf = c;
        k->reload_done = 0;
    }
    pthread_mutex_unlock(&k->mu);
    uint64_t one = 1;
    if (write(k->ev.fd, &one, sizeof one) < 0) {
        /* the counter is at its maximum: an order is pending already, it reads the box */
    }
}

static void worker_fini(struct worker *k)
{
    if (k->loop)
        sf_loop_timer_cancel(k->loop, &k->settle);
    if (k->lb)
        lb_free(k->lb);
    if (k->ev.fd >= 0) {
        if (k->loop)
            sf_loop_del(k->loop, &k->ev);
        close(k->ev.fd);
    }
    lb_transport_free(k->tp);
    sf_loop_free(k->loop);
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cv);
}

static int worker_init(struct worker *k, struct lb_shared *sh, uint32_t n,
                       const struct lb_config *c, struct lb_transport *tp0, unsigned fds_outside,
                       char *err, size_t errlen)
{
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    k->ev.fd = -1;
    k->loop = sf_loop_new();
    if (k->loop && c->transport.kind == LB_TRANSPORT_STACK) {
        /* Queue k->index of the device, which thread 0 opened with all its queues. */
        char why[400];
        k->tp =
            lb_transport_stack_new_queue(k->loop, &c->transport, k->index, n, tp0, why, sizeof why);
        if (!k->tp) {
            snprintf(err, errlen, "thread %u: transport stack: %s", k->index, why);
            return -1;
        }
    } else {
        k->tp = k->loop ? lb_transport_kernel_new(k->loop, fds_outside) : NULL;
    }
    if (k->tp && k->tp->conn_limit != UINT64_MAX)
        k->tp->conn_limit /= n; /* one descriptor table for every thread */
    if (k->tp)
        lb_transport_kernel_share_loops(k->tp, sh->loops); /* a loop, whoever accepts it */
    k->lb = k->tp ? lb_new(k->loop, k->tp) : NULL;
    k->ev.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    k->ev.fn = on_order;
    if (!k->lb || k->ev.fd < 0 || sf_loop_add(k->loop, &k->ev, EPOLLIN) < 0) {
        snprintf(err, errlen, "thread %u: cannot start: %s", k->index, strerror(errno));
        return -1;
    }
    if (lb_set_thread(k->lb, sh, k->index) < 0) {
        snprintf(err, errlen, "thread %u: cannot start: %s", k->index, strerror(errno));
        return -1;
    }
    k->lb->on_idle = on_idle;
    char why[400];
    if (lb_apply(k->lb, c, why, sizeof why) < 0) {
        snprintf(err, errlen, "thread %u: %s", k->index, why);
        return -1;
    }
    return 0;
}

struct workers *workers_start(struct lb_shared *sh, uint32_t n, const struct lb_config *c,
                              struct lb_transport *tp0, unsigned fds_outside, char *err,
                              size_t errlen)
{
    struct workers *w = calloc(1, sizeof *w);
    if (!w || !(w->w = calloc(n, sizeof *w->w))) {
        free(w);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->n = n - 1;
    for (uint32_t i = 0; i < w->n; i++) {
        struct worker *k = &w->w[i];
        k->index = i + 1;
        if (worker_init(k, sh, n, c, tp0, fds_outside, err, errlen) < 0) {
            w->n = i + 1;
            workers_stop(w);
            workers_free(w);
            return NULL;
        }
    }
    for (uint32_t i = 0; i < w->n; i++) {
        struct worker *k = &w->w[i];
        int rc = pthread_create(&k->tid, NULL, worker_main, k);
        if (rc != 0) {
            snprintf(err, errlen, "thread %u: %s", k->index, strerror(rc));
            workers_stop(w);
            workers_free(w);
            return NULL;
        }
        k->running = 1;
    }
    return w;
}

int workers_reload(struct workers *w, const struct lb_config *c)
{
    int failed = 0;
    if (!w)
        return 0;
    for (uint32_t i = 0; i < w->n; i++)
        if (w->w[i].running)
            post(&w->w[i], CMD_RELOAD, c);
    for (uint32_t i = 0; i < w->n; i++) {
        struct worker *k = &w->w[i];
        if (!k->running)
            continue;
        pthread_mutex_lock(&k->mu);
        while (!k->reload_done && !k->exited)
            pthread_cond_wait(&k->cv, &k->mu);
        failed += k->reload_done && k->reload_rc < 0;
        k->conf = NULL; /* an exited thread must not read it later */
        pthread_mutex_unlock(&k->mu);
    }
    return failed;
}

void workers_drain(struct workers *w)
{
    for (uint32_t i = 0; w && i < w->n; i++)
        post(&w->w[i], CMD_DRAIN, NULL);
}

void workers_stop(struct workers *w)
{
    for (uint32_t i = 0; w && i < w->n; i++)
        if (w->w[i].ev.fd >= 0)
            post(&w->w[i], CMD_STOP, NULL);
}

int workers_thread(struct workers *w, uint32_t t, pthread_t *tid)
{
    if (!w || t == 0 || t > w->n || !w->w[t - 1].running)
        return -1;
    *tid = w->w[t - 1].tid;
    return 0;
}

void workers_free(struct workers *w)
{
    if (!w)
        return;
    for (uint32_t i = 0; i < w->n; i++)
        if (w->w[i].running)
            pthread_join(w->w[i].tid, NULL);
    for (uint32_t i = 0; i < w->n; i++)
        worker_fini(&w->w[i]);
    free(w->w);
    free(w);
}
