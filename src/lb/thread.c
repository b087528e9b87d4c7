/* One balancer thread among several (shared.h; docs/architecture.md, "Threads"): applying
 * the server state thread 0 published, retrying what waits on a limit that counts every
 * thread, and storing this thread's figures for the admin listener. */
#include "lb/lb.h"
#include "lb/session.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

void lb_server_publish(struct lb *lb, struct lb_server *s)
{
    if (!s->sh)
        return;
    atomic_store(&s->sh->up, s->up);
    atomic_store(&s->sh->admin_state, s->admin_state);
    atomic_store(&s->sh->weight, s->weight);
    atomic_fetch_add(&lb->shared->gen, 1);
    /* The others apply it after their next batch: one comes now (a rare event). */
    uint64_t one = 1;
    for (uint32_t i = 0; i < lb->shared->nthreads; i++)
        if (i != lb->thread && lb->shared->stat[i].wake_fd >= 0 &&
            write(lb->shared->stat[i].wake_fd, &one, sizeof one) < 0) {
            /* the counter is full: a wake is pending already */
        }
}

/* What thread 0 changed, applied to this thread's copy of each server. */
static void sync_servers(struct lb *lb)
{
    for (size_t i = 0; i < lb->nbe; i++) {
        struct lb_backend *b = lb->be[i];
        for (size_t j = 0; j < b->nservers; j++) {
            struct lb_server *s = b->servers[j];
            if (!s->sh)
                continue;
            int up = atomic_load(&s->sh->up);
            if (up != s->up) {
                s->up = up;
                b->health_gen++;
                if (!up)
                    lb_pool_purge(&s->pool, LB_PC_SERVER_GONE);
                else if (b->queued) {
                    b->kick = 1;
                    lb->kick_queues = 1;
                }
            }
            int st = atomic_load(&s->sh->admin_state);
            if (st != s->admin_state)
                lb_server_apply_state(lb, s, st);
            uint32_t wg = atomic_load(&s->sh->weight_gen);
            if (wg != s->sh_weight_gen) {
                s->sh_weight_gen = wg;
                lb_server_apply_weight(lb, s, atomic_load(&s->sh->weight));
            }
        }
    }
}

/* Something here waits for a slot another thread may free: a frontend at its maxconn, a
 * backend queue. Its own sessions ending kick it as before; another thread's do not. */
static int waits_on_shared(const struct lb *lb)
{
    if (lb->draining || lb->stopping)
        return 0;
    for (size_t i = 0; i < lb->nfe; i++)
        if (lb->fe[i]->paused && lb->fe[i]->sh)
            return 1;
    for (size_t i = 0; i < lb->nbe; i++)
        if (lb->be[i]->queued)
            return 1;
    return 0;
}

static void store_stat(struct lb *lb, int with_cpu)
{
    struct lb_thread_stat *t = &lb->shared->stat[lb->thread];
    atomic_store_explicit(&t->sessions_total, lb->sessions_total, memory_order_relaxed);
    atomic_store_explicit(&t->sessions, lb->nsessions, memory_order_relaxed);
    atomic_fetch_add_explicit(&t->batches, 1, memory_order_relaxed);
    if (with_cpu) {
        struct timespec ts;
        if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
            atomic_store_explicit(&t->cpu_ns,
                                  (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec,
                                  memory_order_relaxed);
        const struct sf_loop_stats *ls = sf_loop_stats(lb->loop);
        atomic_store_explicit(&t->loop_iterations, ls->iterations, memory_order_relaxed);
        atomic_store_explicit(&t->loop_busy_ns, ls->busy_ns, memory_order_relaxed);
        atomic_store_explicit(&t->loop_max_ns, ls->max_ns, memory_order_relaxed);
        atomic_store_explicit(&t->loop_slow, ls->nslow, memory_order_relaxed);
    }
}

static void arm(struct lb *lb, uint64_t ms)
{
    uint64_t when = sf_loop_now(lb->loop) + ms * SF_NSEC_PER_MS;
    if (!sf_loop_timer_armed(&lb->sync) || lb->sync.when > when)
        sf_loop_timer_set(lb->loop, &lb->sync, when);
}

static void kick_waiters(struct lb *lb)
{
    if (waits_on_shared(lb)) {
        lb->kick_accept = 1;
        for (size_t i = 0; i < lb->nbe; i++)
            if (lb->be[i]->queued) {
                lb->be[i]->kick = 1;
                lb->kick_queues = 1;
            }
    }
}

static void on_sync(struct sf_loop_timer *t)
{
    struct lb *lb = CONTAINER(t, struct lb, sync);
    kick_waiters(lb);
    store_stat(lb, 1);
    /* The engine's counters cost a walk of its connections to copy: only while scrapes
     * come, at this tick (every LB_SYNC_MS), not after every batch. Thread 0 reads its own. */
    if (lb->thread != 0 &&
        sf_loop_now(lb->loop) <
            atomic_load_explicit(&lb->shared->figures_until_ns, memory_order_relaxed))
        lb_transport_publish(lb->tp);
    /* after_batch follows this timer: it syncs and arms again */
}

static void on_wake(struct sf_io *io, uint32_t events)
{
    struct lb *lb = CONTAINER(io, struct lb, wake);
    uint64_t v;
    (void)events;
    while (read(io->fd, &v, sizeof v) == (ssize_t)sizeof v) {
    }
    lb_calls_run(lb);
    if (lb->on_reply)
        lb->on_reply(lb->reply_ctx); /* a call it posted may be done */
    kick_waiters(lb);                /* after_batch runs the accepts and queues */
}

/* Whether this thread waits on a shared limit, published; and, if it gave back a slot in
 * this batch, a wake for each thread that waits. Both sides then do a read-modify-write on
 * lb_shared.order, which orders them (a fence ThreadSanitizer understands): either the
 * freeing thread sees the flag, or the waiter (which tries once more right after setting
 * it) sees the freed slot. */
static void wake_exchange(struct lb *lb)
{
    struct lb_shared *sh = lb->shared;
    int w = waits_on_shared(lb);
    if (w != lb->waiting) {
        lb->waiting = w;
        atomic_store_explicit(&sh->stat[lb->thread].waiting, w, memory_order_relaxed);
        if (w) {
            atomic_fetch_add(&sh->order, 1);
            arm(lb, 0); /* the one more try */
        }
    }
    if (!lb->released)
        return;
    lb->released = 0;
    atomic_fetch_add(&sh->order, 1);
    uint64_t one = 1;
    for (uint32_t i = 0; i < sh->nthreads; i++)
        if (i != lb->thread && sh->stat[i].wake_fd >= 0 &&
            atomic_load_explicit(&sh->stat[i].waiting, memory_order_relaxed) &&
            write(sh->stat[i].wake_fd, &one, sizeof one) < 0) {
            /* the counter is full: a wake is pending already */
        }
}

int lb_set_thread(struct lb *lb, struct lb_shared *sh, uint32_t thread)
{
    lb->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    lb->wake.fn = on_wake;
    if (lb->wake.fd < 0)
        return -1;
    if (sf_loop_add(lb->loop, &lb->wake, EPOLLIN) < 0) {
        int e = errno;
        close(lb->wake.fd);
        lb->wake.fd = -1;
        errno = e;
        return -1;
    }
    sh->stat[thread].wake_fd = lb->wake.fd;
    sh->lb[thread] = lb;
    pthread_mutex_init(&lb->call_mu, NULL);
    lb->shared = sh;
    lb->thread = thread;
    lb->sync.fn = on_sync;
    /* Session ids stay unique in the process: the thread above bit 40 (2^40 sessions per
     * thread; with at most 256 threads an id stays below 2^53, exact as a JSON number in
     * the dashboard's JavaScript). */
    lb->next_id = (uint64_t)thread << LB_THREAD_ID_SHIFT;
    return 0;
}

void lb_thread_after_batch(struct lb *lb)
{
    uint64_t gen = atomic_load(&lb->shared->gen);
    if (lb->thread != 0 && gen != lb->shared_gen) {
        lb->shared_gen = gen;
        sync_servers(lb);
        /* The queues it kicked move at the next batch: the timer below comes at once. */
    }
    store_stat(lb, 0);
    wake_exchange(lb);
    arm(lb, LB_SYNC_MS);
}

void lb_threads_want_figures(struct lb *lb)
{
    if (!lb->shared)
        return;
    uint64_t until = sf_loop_now(lb->loop) + LB_FIGURES_LINGER_S * SF_NSEC_PER_SEC;
    atomic_store_explicit(&lb->shared->figures_until_ns, until, memory_order_relaxed);
}

void lb_thread_applied(struct lb *lb)
{
    if (lb->thread == 0) {
        /* A reload may have changed a weight here: the others take what thread 0 has. */
        for (size_t i = 0; i < lb->nbe; i++)
            for (size_t j = 0; j < lb->be[i]->nservers; j++)
                lb_server_publish(lb, lb->be[i]->servers[j]);
    } else {
        lb->shared_gen = 0; /* look again after this batch */
    }
}
