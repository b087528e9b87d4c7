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

/* Runs until sf_loop_stop; returns 0, or -errno if epoll_wait fails. */
int sf_loop_run(struct sf_loop *l);
void sf_loop_stop(struct sf_loop *l);
/* One iteration waiting at most max_wait_ms (tests and shutdown paths). */
int sf_loop_once(struct sf_loop *l, int max_wait_ms);

#endif
