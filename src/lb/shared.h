/* What the event-loop threads of one process share (docs/architecture.md, "Threads"): the
 * state of each server and the counts that a limit applies to in total, once per process.
 *
 * Each thread runs its own struct lb over its own loop and transport and owns its sessions;
 * nothing here is touched on the per-read path. A session's start and end touch two atomic
 * counters (its frontend's and its server's); a pick reads a server's count. Server state
 * is written by thread 0 (health checks, runtime API) and published with a generation that
 * the other threads compare after each batch and on a short timer.
 *
 * With one thread (the default) there is no struct lb_shared and nothing here runs. */
#ifndef SYNFIN_LB_SHARED_H
#define SYNFIN_LB_SHARED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "lb/addr.h"
#include "lb/config.h"

struct lb;
struct lb_loopset;

/* One server (by backend name, server name and address, as a reload keeps a server). */
struct lb_shared_srv {
    char backend[LB_NAME_MAX], name[LB_NAME_MAX];
    struct lb_addr addr;
    _Atomic uint32_t conns;          /* sessions (or requests) holding a slot, every thread */
    _Atomic int up;                  /* thread 0's checks */
    _Atomic int admin_state;         /* enum lb_srv_admin, the runtime API's */
    _Atomic uint32_t weight;         /* in force */
    _Atomic uint32_t weight_gen;     /* bumped on a weight change: round robin starts over */
    _Atomic uint64_t sessions_total; /* sent to it by every thread, for /metrics and /stats */
    uint32_t refs;                   /* under lb_shared.mu */
    struct lb_shared *reg;
    struct lb_shared_srv *next;
};

/* One frontend (by name): live sessions on every thread, against its maxconn. */
struct lb_shared_fe {
    char name[LB_NAME_MAX];
    _Atomic uint32_t active;
    _Atomic uint64_t sessions_total; /* accepted by every thread */
    uint32_t refs;
    struct lb_shared *reg;
    struct lb_shared_fe *next;
};

/* A thread's figures for /metrics and /stats, stored after its batches (relaxed). */
struct lb_thread_stat {
    _Atomic uint64_t sessions_total;
    _Atomic uint32_t sessions;
    _Atomic uint64_t cpu_ns; /* the thread's CPU time (CLOCK_THREAD_CPUTIME_ID) */
    _Atomic uint64_t batches;
    /* The thread's loop (io/loop.h, sf_loop_stats), stored with cpu_ns: iterations, their
     * busy time, the longest, and how many took over SF_LOOP_SLOW_NS. */
    _Atomic uint64_t loop_iterations, loop_busy_ns, loop_max_ns, loop_slow;
    /* Waiting for a slot of a shared limit (a frontend at maxconn, a backend queue): a
     * thread that frees one writes wake_fd (an eventfd in the waiter's loop). */
    _Atomic int waiting;
    int wake_fd; /* set before any thread runs */
};

struct lb_shared {
    pthread_mutex_t mu; /* the lists, taken when a reload makes or drops an object */
    uint32_t nthreads;
    _Atomic uint64_t gen;   /* bumped after each change of a server's state */
    _Atomic uint64_t order; /* orders a waiter's flag against a freed slot (thread.c) */
    /* Until when (CLOCK_MONOTONIC ns) the threads publish their transport's figures for the
     * admin listener's scrapes (lb_threads_want_figures); 0: nobody asked. */
    _Atomic uint64_t figures_until_ns;
    struct lb_shared_srv *srv;
    struct lb_shared_fe *fe;
    struct lb_thread_stat *stat; /* nthreads */
    /* Each thread's balancer, set before any thread runs: the admin listener on thread 0
     * sums their counters (lb/counter.h) and asks them for their sessions (thread.c). */
    struct lb **lb;           /* nthreads */
    struct lb_loopset *loops; /* the kernel transports' outgoing connections (loopset.h) */
};

struct lb_shared *lb_shared_new(uint32_t nthreads);
void lb_shared_free(struct lb_shared *sh);

/* The shared record of a server or frontend, made on first use; NULL if memory ran out.
 * A new server record starts up, ready, at weight. */
struct lb_shared_srv *lb_shared_srv_get(struct lb_shared *sh, const char *backend, const char *name,
                                        const struct lb_addr *addr, uint32_t weight);
void lb_shared_srv_put(struct lb_shared_srv *s);
struct lb_shared_fe *lb_shared_fe_get(struct lb_shared *sh, const char *name);
void lb_shared_fe_put(struct lb_shared_fe *f);

/* One more on *n unless that would pass max (0: no limit): 1 taken, 0 full. Exact across
 * threads: a compare-and-swap, so two threads cannot both take the last slot. */
static inline int lb_shared_claim(_Atomic uint32_t *n, uint32_t max)
{
    uint32_t v = atomic_load_explicit(n, memory_order_relaxed);
    do {
        if (max && v >= max)
            return 0;
    } while (!atomic_compare_exchange_weak_explicit(n, &v, v + 1, memory_order_relaxed,
                                                    memory_order_relaxed));
    return 1;
}

static inline void lb_shared_release(_Atomic uint32_t *n)
{
    atomic_fetch_sub_explicit(n, 1, memory_order_relaxed);
}

static inline uint32_t lb_shared_load(_Atomic uint32_t *n)
{
    return atomic_load_explicit(n, memory_order_relaxed);
}

#endif
