/* The TCP state census behind /metrics and /stats, taken in the background.
 *
 * On kernel sockets a census costs a system call per socket plus sock_diag dumps: thousands
 * of sessions made each scrape hold the loop for tens of milliseconds. So the census is taken
 * in slices (the transport's census op, a budget per loop iteration; the dumps on a thread
 * of the transport's, which the loop only polls), at most once per
 * CENSUS_PERIOD and only while scrapes keep coming; scrapes are answered from the last
 * complete census, with its age. Only a scrape finding none younger than CENSUS_MAX_AGE
 * (the first after start, or after a quiet spell) waits for the next one, without holding
 * the loop: its body says WAIT until the census completes. A transport whose census is
 * counters it keeps (the stack's engine) is asked anew for every scrape. */
#include "ctl/render.h"

#include <string.h>

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define CENSUS_PERIOD  SF_NSEC_PER_SEC
#define CENSUS_MAX_AGE (2 * SF_NSEC_PER_SEC)
/* How long after a scrape the census keeps being refreshed: scrapers that come back within
 * it are answered at once. */
#define CENSUS_LINGER (10 * SF_NSEC_PER_SEC)
/* Units per loop iteration (transport.h: about one system call each): 128 TCP_INFO looks,
 * measured 0.2-0.35 ms (docs/lb.md, "Admin scrapes against proxied traffic"). */
#define CENSUS_BUDGET 128
/* How often the loop looks whether the part of a census on the transport's thread is done. */
#define CENSUS_POLL SF_NSEC_PER_MS

static void complete(struct ctl *ctl, uint64_t now)
{
    struct ctl_census *k = &ctl->census;
    /* The admin listener's own sockets (at most 65) are host sockets whatever transport
     * carries sessions. */
    if (ctl->admin)
        ctl_admin_census(ctl->admin, &k->work);
    k->last = k->work;
    k->have_last = 1;
    k->done_ns = now;
    k->running = 0;
    if (ctl->admin)
        ctl_admin_wake(ctl->admin);
}

/* After each batch: a slice of the census in progress, or a new one when due. */
static void step(struct sf_hook *h)
{
    struct ctl *ctl = CONTAINER(h, struct ctl, census.hook);
    struct ctl_census *k = &ctl->census;
    uint64_t now = sf_loop_now(ctl->lb->loop);
    uint64_t due = k->started_ns ? k->started_ns + CENSUS_PERIOD : now;
    if (!k->running && now < k->wanted_until && now >= due) {
        memset(&k->work, 0, sizeof k->work);
        k->running = 1;
        k->started_ns = now;
        due = now + CENSUS_PERIOD;
    }
    int rc = LB_CENSUS_MORE;
    if (k->running) {
        struct sf_loop_mark t0 = sf_loop_mark();
        rc = lb_census_step(ctl->lb, &k->work, CENSUS_BUDGET);
        if (rc == LB_CENSUS_DONE)
            complete(ctl, now);
        sf_loop_work_add(ctl->lb->loop, k->work_id, t0);
    }
    /* While one runs, the timer keeps epoll_wait from blocking when the next slice is owed
     * in the next iteration, or looks again shortly while the rest runs on the transport's
     * thread; otherwise it brings the loop back when one is due. */
    if (k->running)
        sf_loop_timer_set(ctl->lb->loop, &k->timer, rc == LB_CENSUS_WAIT ? now + CENSUS_POLL : now);
    else if (due < k->wanted_until)
        sf_loop_timer_set(ctl->lb->loop, &k->timer, due);
    else
        sf_loop_timer_cancel(ctl->lb->loop, &k->timer);
}

static void woken(struct sf_loop_timer *t)
{
    (void)t; /* the work is done in the hook, after this iteration's events */
}

const struct lb_census *ctl_census_get(struct ctl *ctl, uint64_t *age_ns)
{
    struct ctl_census *k = &ctl->census;
    uint64_t now = sf_loop_now(ctl->lb->loop);
    lb_threads_want_figures(ctl->lb);
    if (ctl->lb->tp->census_instant) {
        /* Counters the transport keeps (the engine's): as fresh as the scrape. */
        memset(&k->work, 0, sizeof k->work);
        lb_census_step(ctl->lb, &k->work, 0);
        complete(ctl, now);
        *age_ns = 0;
        return &k->last;
    }
    k->wanted_until = now + CENSUS_LINGER;
    if (k->have_last && now - k->done_ns <= CENSUS_MAX_AGE) {
        *age_ns = now - k->done_ns;
        return &k->last;
    }
    /* Older than CENSUS_MAX_AGE: the last one started more than a period ago, so the hook
     * starts the next one at once if none runs. */
    sf_loop_timer_set(ctl->lb->loop, &k->timer, now);
    return NULL;
}

/* Another thread answered a call of ours (a session page, a kill): the bodies waiting on it
 * look again. */
static void replied(void *ctx)
{
    struct ctl *ctl = ctx;
    if (ctl->admin)
        ctl_admin_wake(ctl->admin);
}

void ctl_init(struct ctl *ctl, struct lb *lb)
{
    memset(ctl, 0, sizeof *ctl);
    ctl->lb = lb;
    lb->on_reply = replied;
    lb->reply_ctx = ctl;
    ctl->census.hook.fn = step;
    ctl->census.timer.fn = woken;
    ctl->census.work_id = sf_loop_work_id(lb->loop, "census");
    sf_loop_add_hook(lb->loop, &ctl->census.hook);
}

void ctl_fini(struct ctl *ctl)
{
    if (!ctl->lb)
        return;
    ctl->lb->on_reply = NULL;
    sf_loop_del_hook(ctl->lb->loop, &ctl->census.hook);
    sf_loop_timer_cancel(ctl->lb->loop, &ctl->census.timer);
    ctl->lb = NULL;
}
