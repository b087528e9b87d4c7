/* Edge-triggered epoll plus a min-heap of timers; see loop.h. */
#include "io/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>

#define BATCH 256

struct sf_loop {
    int epfd;
    int stop;
    uint64_t now;
    uint64_t wall_base; /* wall - monotonic at start, to derive wall time cheaply */
    struct sf_loop_timer **heap;
    size_t nheap, cap;
    struct sf_hook *hooks, *wake_hooks;
    struct sf_loop_iter cur; /* the iteration under way */
    struct sf_loop_stats stats;
};

const uint64_t sf_loop_bucket_ns[SF_LOOP_BUCKETS] = {
    50000,   100000,   250000,   500000,   1000000,   2500000,
    5000000, 10000000, 25000000, 50000000, 100000000, UINT64_MAX,
};

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * SF_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

struct sf_loop *sf_loop_new(void)
{
    struct sf_loop *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        free(l);
        return NULL;
    }
    l->now = clock_ns(CLOCK_MONOTONIC);
    l->wall_base = clock_ns(CLOCK_REALTIME) - l->now;
    return l;
}

void sf_loop_free(struct sf_loop *l)
{
    if (!l)
        return;
    close(l->epfd);
    free(l->heap);
    free(l);
}

int sf_loop_add(struct sf_loop *l, struct sf_io *io, uint32_t events)
{
    struct epoll_event ev = {.events = events | EPOLLET, .data.ptr = io};
    return epoll_ctl(l->epfd, EPOLL_CTL_ADD, io->fd, &ev) < 0 ? -errno : 0;
}

int sf_loop_mod(struct sf_loop *l, struct sf_io *io, uint32_t events)
{
    struct epoll_event ev = {.events = events | EPOLLET, .data.ptr = io};
    return epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0 ? -errno : 0;
}

void sf_loop_del(struct sf_loop *l, struct sf_io *io)
{
    /* Closing the fd removes it too; explicit removal is for fds that stay open. */
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

/* Heap of timer pointers ordered by `when`; slot is the 1-based position. */
static void heap_put(struct sf_loop *l, size_t i, struct sf_loop_timer *t)
{
    l->heap[i] = t;
    t->slot = i + 1;
}

static void sift_up(struct sf_loop *l, size_t i)
{
    struct sf_loop_timer *t = l->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (l->heap[p]->when <= t->when)
            break;
        heap_put(l, i, l->heap[p]);
        i = p;
    }
    heap_put(l, i, t);
}

static void sift_down(struct sf_loop *l, size_t i)
{
    struct sf_loop_timer *t = l->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= l->nheap)
            break;
        if (c + 1 < l->nheap && l->heap[c + 1]->when < l->heap[c]->when)
            c++;
        if (l->heap[c]->when >= t->when)
            break;
        heap_put(l, i, l->heap[c]);
        i = c;
    }
    heap_put(l, i, t);
}

int sf_loop_timer_set(struct sf_loop *l, struct sf_loop_timer *t, uint64_t when)
{
    if (t->slot) {
        size_t i = t->slot - 1;
        uint64_t old = t->when;
        t->when = when;
        if (when < old)
            sift_up(l, i);
        else
            sift_down(l, i);
        return 0;
    }
    if (l->nheap == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct sf_loop_timer **h = realloc(l->heap, cap * sizeof *h);
        if (!h)
            return -ENOMEM;
        l->heap = h;
        l->cap = cap;
    }
    t->when = when;
    l->heap[l->nheap] = t;
    sift_up(l, l->nheap++);
    return 0;
}

void sf_loop_timer_cancel(struct sf_loop *l, struct sf_loop_timer *t)
{
    if (!t->slot)
        return;
    size_t i = t->slot - 1;
    t->slot = 0;
    struct sf_loop_timer *last = l->heap[--l->nheap];
    if (i == l->nheap)
        return;
    l->heap[i] = last;
    last->slot = i + 1;
    if (i > 0 && l->heap[(i - 1) / 2]->when > last->when)
        sift_up(l, i);
    else
        sift_down(l, i);
}

static void hook_add(struct sf_hook **list, struct sf_hook *h)
{
    h->next = *list;
    *list = h;
}

static void hook_del(struct sf_hook **list, struct sf_hook *h)
{
    for (struct sf_hook **p = list; *p; p = &(*p)->next)
        if (*p == h) {
            *p = h->next;
            return;
        }
}

static void hooks_run(struct sf_hook *h)
{
    for (struct sf_hook *next; h; h = next) {
        next = h->next; /* a hook may unlink itself */
        h->fn(h);
    }
}

void sf_loop_add_hook(struct sf_loop *l, struct sf_hook *h)
{
    hook_add(&l->hooks, h);
}

void sf_loop_del_hook(struct sf_loop *l, struct sf_hook *h)
{
    hook_del(&l->hooks, h);
}

void sf_loop_add_wake_hook(struct sf_loop *l, struct sf_hook *h)
{
    hook_add(&l->wake_hooks, h);
}

void sf_loop_del_wake_hook(struct sf_loop *l, struct sf_hook *h)
{
    hook_del(&l->wake_hooks, h);
}

uint64_t sf_loop_now(const struct sf_loop *l)
{
    return l->now;
}

uint64_t sf_loop_update_time(struct sf_loop *l)
{
    l->now = clock_ns(CLOCK_MONOTONIC);
    return l->now;
}

uint64_t sf_loop_wall_ns(const struct sf_loop *l)
{
    return l->wall_base + l->now;
}

void sf_loop_stop(struct sf_loop *l)
{
    l->stop = 1;
}

static void run_timers(struct sf_loop *l)
{
    while (l->nheap > 0 && l->heap[0]->when <= l->now) {
        struct sf_loop_timer *t = l->heap[0];
        sf_loop_timer_cancel(l, t);
        t->fn(t);
        l->cur.timers++;
    }
}

int sf_loop_work_id(struct sf_loop *l, const char *name)
{
    struct sf_loop_stats *st = &l->stats;
    for (int i = 0; i < st->nworks; i++)
        if (!strcmp(st->work_names[i], name))
            return i;
    if (st->nworks == SF_LOOP_WORKS)
        return -1;
    st->work_names[st->nworks] = name;
    return st->nworks++;
}

struct sf_loop_mark sf_loop_mark(void)
{
    return (struct sf_loop_mark){clock_ns(CLOCK_MONOTONIC), clock_ns(CLOCK_THREAD_CPUTIME_ID)};
}

void sf_loop_work_add(struct sf_loop *l, int id, struct sf_loop_mark since)
{
    if (id < 0 || id >= SF_LOOP_WORKS)
        return;
    struct sf_loop_mark t = sf_loop_mark();
    if (t.wall_ns > since.wall_ns)
        l->cur.work_ns[id] += t.wall_ns - since.wall_ns;
    if (t.cpu_ns > since.cpu_ns)
        l->cur.work_cpu_ns[id] += t.cpu_ns - since.cpu_ns;
}

const struct sf_loop_stats *sf_loop_stats(const struct sf_loop *l)
{
    return &l->stats;
}

/* The end of an iteration: its busy time into the histogram, and into the ring if slow. */
static void iteration_done(struct sf_loop *l, uint64_t end_ns)
{
    struct sf_loop_stats *st = &l->stats;
    struct sf_loop_iter *it = &l->cur;
    it->busy_ns = end_ns - it->start_ns;
    st->iterations++;
    st->busy_ns += it->busy_ns;
    if (it->busy_ns > st->max_ns)
        st->max_ns = it->busy_ns;
    int b = 0;
    while (it->busy_ns > sf_loop_bucket_ns[b])
        b++;
    st->buckets[b]++;
    for (int i = 0; i < st->nworks; i++) {
        st->work_ns[i] += it->work_ns[i];
        st->work_cpu_ns[i] += it->work_cpu_ns[i];
    }
    if (it->busy_ns > SF_LOOP_SLOW_NS)
        st->slow[st->nslow++ % SF_LOOP_SLOW_MAX] = *it;
}

int sf_loop_once(struct sf_loop *l, int max_wait_ms)
{
    struct epoll_event evs[BATCH];
    int timeout = max_wait_ms;
    if (l->nheap > 0) {
        uint64_t when = l->heap[0]->when;
        int until =
            when <= l->now ? 0 : (int)((when - l->now + SF_NSEC_PER_MS - 1) / SF_NSEC_PER_MS);
        if (timeout < 0 || until < timeout)
            timeout = until;
    }
    int n = epoll_wait(l->epfd, evs, BATCH, timeout);
    if (n < 0 && errno != EINTR)
        return -errno;
    sf_loop_update_time(l);
    memset(&l->cur, 0, sizeof l->cur);
    l->cur.start_ns = l->now;
    l->cur.events = n > 0 ? (uint32_t)n : 0;
    hooks_run(l->wake_hooks);
    for (int i = 0; i < n; i++) {
        struct sf_io *io = evs[i].data.ptr;
        if (io->fn)
            io->fn(io, evs[i].events);
    }
    uint64_t t_events = clock_ns(CLOCK_MONOTONIC);
    run_timers(l);
    uint64_t t_timers = clock_ns(CLOCK_MONOTONIC);
    hooks_run(l->hooks);
    uint64_t t_end = clock_ns(CLOCK_MONOTONIC);
    l->cur.events_ns = t_events - l->cur.start_ns;
    l->cur.timers_ns = t_timers - t_events;
    l->cur.hooks_ns = t_end - t_timers;
    iteration_done(l, t_end);
    return 0;
}

int sf_loop_run(struct sf_loop *l)
{
    l->stop = 0;
    while (!l->stop) {
        int rc = sf_loop_once(l, -1);
        if (rc < 0)
            return rc;
    }
    return 0;
}
