/* The event loop: one per thread, in the spirit of Redis's ae.c.
 *
 * Readiness comes from one edge-triggered epoll set; deadlines from a binary min-heap of
 * timers. Everything a loop touches (its sockets, sessions, timers) belongs to it alone, so a
 * second thread would run a second loop over its own sessions without locks.
 *
 * Time is the monotonic clock in nanoseconds, read once per iteration (sf_loop_now), so all
 * code run for one batch of events sees the same "now". */
#ifndef SYNFIN_IO_LOOP_H
#define SYNFIN_IO_LOOP_H

#include <stddef.h>
#include <stdint.h>

#define SF_NSEC_PER_MS  1000000ull /* nanoseconds in a millisecond */
#define SF_NSEC_PER_SEC 1000000000ull

struct sf_loop;

/* A file descriptor watched by the loop. fn gets the epoll event mask. Embed it in the owner
 * and recover the owner with container_of-style arithmetic. */
struct sf_io {
    int fd;
    void (*fn)(struct sf_io *io, uint32_t events);
};

struct sf_loop_timer {
    uint64_t when; /* monotonic ns */
    size_t slot;   /* index in the heap + 1; 0 when not armed */
    void (*fn)(struct sf_loop_timer *t);
};

/* Runs after each batch of events, before the next wait (deferred frees, log flushes). */
struct sf_hook {
    void (*fn)(struct sf_hook *h);
    struct sf_hook *next;
};

struct sf_loop *sf_loop_new(void);
void sf_loop_free(struct sf_loop *l);

/* Watches io->fd for events (EPOLLIN | EPOLLOUT | ...; EPOLLET is added). -errno on failure. */
int sf_loop_add(struct sf_loop *l, struct sf_io *io, uint32_t events);
/* Changes the watched events (level-triggered users such as listeners pausing accept). */
int sf_loop_mod(struct sf_loop *l, struct sf_io *io, uint32_t events);
void sf_loop_del(struct sf_loop *l, struct sf_io *io);

/* Arms (or re-arms) t to fire at `when`. Returns -ENOMEM if the heap cannot grow. */
int sf_loop_timer_set(struct sf_loop *l, struct sf_loop_timer *t, uint64_t when);
void sf_loop_timer_cancel(struct sf_loop *l, struct sf_loop_timer *t);
static inline int sf_loop_timer_armed(const struct sf_loop_timer *t)
{
    return t->slot != 0;
}

void sf_loop_add_hook(struct sf_loop *l, struct sf_hook *h);
void sf_loop_del_hook(struct sf_loop *l, struct sf_hook *h);
/* Runs at each wakeup, after the clock is read and before any event or timer is handled:
 * for a clock that must follow the loop's before anyone acts (the host glue's engine). */
void sf_loop_add_wake_hook(struct sf_loop *l, struct sf_hook *h);
void sf_loop_del_wake_hook(struct sf_loop *l, struct sf_hook *h);

uint64_t sf_loop_now(const struct sf_loop *l);
/* Re-reads the clock (after a blocking step outside the loop). */
uint64_t sf_loop_update_time(struct sf_loop *l);
/* Wall-clock time of the current iteration, for log lines. */
uint64_t sf_loop_wall_ns(const struct sf_loop *l);

/* How long iterations hold the loop, and what ran in them (docs/architecture.md, "Loop
 * iterations"): an iteration is busy from its wakeup after epoll_wait to the end of its
 * hooks. Four clock reads per iteration; kinds of work that want their own account (the
 * admin listener, the census) time themselves with sf_loop_work_add. */
#define SF_LOOP_BUCKETS  12 /* histogram buckets, the last one without bound */
#define SF_LOOP_WORKS    6  /* named kinds of work per loop */
#define SF_LOOP_SLOW_NS  SF_NSEC_PER_MS
#define SF_LOOP_SLOW_MAX 32 /* the slow iterations kept, the most recent */
/* Upper bounds of the buckets (ns), increasing; the last is UINT64_MAX. */
extern const uint64_t sf_loop_bucket_ns[SF_LOOP_BUCKETS];

/* One iteration: where its busy time went. */
struct sf_loop_iter {
    uint64_t start_ns; /* monotonic, at its wakeup */
    uint64_t busy_ns;  /* wakeup to the end of its hooks */
    uint64_t events_ns, timers_ns, hooks_ns;
    uint64_t work_ns[SF_LOOP_WORKS];     /* inside those, each named kind of work */
    uint64_t work_cpu_ns[SF_LOOP_WORKS]; /* the thread's CPU time in it: less when preempted */
    uint32_t events, timers;             /* handled */
};

struct sf_loop_stats {
    uint64_t iterations, busy_ns, max_ns;
    uint64_t buckets[SF_LOOP_BUCKETS]; /* iterations by busy time, not cumulative */
    uint64_t work_ns[SF_LOOP_WORKS];   /* totals */
    uint64_t work_cpu_ns[SF_LOOP_WORKS];
    const char *work_names[SF_LOOP_WORKS];
    int nworks;
    /* Iterations busy more than SF_LOOP_SLOW_NS (the bucket above it): a ring of the last
     * SF_LOOP_SLOW_MAX, slow[(nslow - 1) % SF_LOOP_SLOW_MAX] the latest; nslow counts them all. */
    struct sf_loop_iter slow[SF_LOOP_SLOW_MAX];
    uint64_t nslow;
};

/* The id of a kind of work named name (a string that outlives the loop), registered on
 * first use: 0 to SF_LOOP_WORKS - 1, or -1 when all are taken. */
int sf_loop_work_id(struct sf_loop *l, const char *name);
/* The start of a piece of work: the monotonic clock and the thread's CPU time (a system
 * call: for admin and census slices, not per session event). */
struct sf_loop_mark {
    uint64_t wall_ns, cpu_ns;
};
struct sf_loop_mark sf_loop_mark(void);
/* Counts the time since a mark to work id in the current iteration (id < 0: nothing). */
void sf_loop_work_add(struct sf_loop *l, int id, struct sf_loop_mark since);
const struct sf_loop_stats *sf_loop_stats(const struct sf_loop *l);

/* Runs until sf_loop_stop; returns 0, or -errno if epoll_wait fails. */
int sf_loop_run(struct sf_loop *l);
void sf_loop_stop(struct sf_loop *l);
/* One iteration waiting at most max_wait_ms (tests and shutdown paths). */
int sf_loop_once(struct sf_loop *l, int max_wait_ms);

#endif
