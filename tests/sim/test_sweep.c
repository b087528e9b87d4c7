/* The seed sweep (issue 11): many small worlds on the simulated network, each drawn from one
 * seed: 24 to 48 connections from four client hosts to up to six listeners, receive and send
 * buffers from 2048 bytes (odd sizes, a few bytes either side of a segment, below one jumbo
 * segment) up to 130 KB, MSS from 536 to 8960, window scales from 0 to 14, per-direction loss
 * up to 10 %, duplication, reordering, corruption, jitter and tail-drop bottlenecks, readers
 * that stall (for seconds, in some worlds for up to 20 minutes) or trickle, and every close
 * path (sweep.h). Each world must deliver every byte once and in order, end every connection
 * the way its path says and CLOSED after TIME-WAIT, and leave its engines empty.
 *
 * `make test` runs a short sweep (seeds 1..N, fewer under the sanitizers) and the issue's own
 * experiment (one buffer size for all, 2 % loss and nothing else, 40 connections, five seeds).
 * `make sweep SEEDS=N [FIRST=S]` runs a long one. Environment: SWEEP_SEEDS (how many),
 * SWEEP_FIRST (the first), SWEEP_SEED (just this one, with SWEEP_PCAP=file for a capture of
 * it and SWEEP_TRACE=port for the connection from that client port, packet by packet). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sweep.h"

/* Seeds in `make test`, measured on the 2-core machine: 300 take about 15 s at -O2; under
 * ASan and UBSan at -O1 a seed costs about 2.5 times as much, so 150 take about 20 s. */
#if defined(__SANITIZE_ADDRESS__)
#define CI_SEEDS 150
#else
#define CI_SEEDS 300
#endif

struct tally {
    int seeds, failed, conns, stuck, byte_errors, close_errors, leaks, runaway;
    uint64_t bytes, events;
    uint64_t failing[16];
    int nfailing;
    /* stuck connections by the receive buffer of the direction that stopped */
    int by_buf[6];
};

static const uint32_t buf_edges[6] = {3000, 4500, 8000, 12000, 20001, 0xffffffffu};

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 10) : dflt;
}

static void add_result(struct tally *t, const struct sweep_result *r)
{
    t->seeds++;
    t->conns += r->nconns;
    t->stuck += r->stuck;
    t->byte_errors += r->byte_errors;
    t->close_errors += r->close_errors;
    t->leaks += r->leaks;
    t->runaway += r->runaway;
    t->bytes += r->bytes;
    t->events += r->events;
    if (sweep_failed(r)) {
        t->failed++;
        if (t->nfailing < 16)
            t->failing[t->nfailing++] = r->seed;
    }
    for (int i = 0; i < r->nstuck_listed; i++) {
        const struct sweep_stuck *st = &r->stuck_list[i];
        uint32_t buf = st->dir < 0 ? 0 : st->rcvbuf[!st->dir];
        int b = 0;
        while (b < 5 && buf >= buf_edges[b])
            b++;
        t->by_buf[b]++;
    }
}

static void print_seed(const struct sweep_result *r)
{
    printf("# seed %llu: %s stuck %d bytes %d close %d leaks %d%s; %s; %.0f s simulated, "
           "%llu events\n",
           (unsigned long long)r->seed, sweep_failed(r) ? "FAIL" : "ok", r->stuck, r->byte_errors,
           r->close_errors, r->leaks, r->runaway ? " RUNAWAY" : "", r->params, r->sim_seconds,
           (unsigned long long)r->events);
}

static void print_tally(const char *what, const struct tally *t, double secs)
{
    printf("# %s: %d seeds, %d connections, %.1f MB delivered: %d failed (%d stuck, %d byte "
           "errors, %d close errors, %d leaks, %d runaway) in %.1f s\n",
           what, t->seeds, t->conns, (double)t->bytes / 1e6, t->failed, t->stuck, t->byte_errors,
           t->close_errors, t->leaks, t->runaway, secs);
    if (t->stuck) {
        static const char *const names[6] = {"<3000",      "3000-4499",   "4500-7999",
                                             "8000-11999", "12000-20000", ">20000"};
        printf("# stuck connections by the stopped direction's receive buffer:");
        for (int b = 0; b < 6; b++)
            if (t->by_buf[b])
                printf(" %s: %d", names[b], t->by_buf[b]);
        printf("\n");
    }
    if (t->nfailing) {
        printf("# failing seeds:");
        for (int i = 0; i < t->nfailing; i++)
            printf(" %llu", (unsigned long long)t->failing[i]);
        printf("%s\n# reproduce one: SWEEP_SEED=%llu %s/test/test_sim_sweep\n",
               t->failed > t->nfailing ? " ..." : "", (unsigned long long)t->failing[0],
               getenv("SYNFIN_BUILD") ? getenv("SYNFIN_BUILD") : "build");
    }
    fflush(stdout);
}

static void run_seeds(const char *what, uint64_t first, uint64_t n, const struct sweep_opts *o,
                      struct tally *t)
{
    double t0 = wall_seconds();
    memset(t, 0, sizeof *t);
    for (uint64_t s = first; s < first + n; s++) {
        struct sweep_result r;
        sweep_run(s, o, stdout, &r);
        add_result(t, &r);
        print_seed(&r);
        fflush(stdout);
    }
    print_tally(what, t, wall_seconds() - t0);
}

/* The random sweep. */
static void sweep(void **unused)
{
    (void)unused;
    struct sweep_opts o = {0};
    uint64_t first = env_u64("SWEEP_FIRST", 1), n = env_u64("SWEEP_SEEDS", CI_SEEDS);
    if (getenv("SWEEP_SEED")) {
        first = env_u64("SWEEP_SEED", 1);
        n = 1;
        o.pcap = getenv("SWEEP_PCAP");
        o.trace_port = (uint16_t)env_u64("SWEEP_TRACE", 0);
    }
    struct tally t;
    run_seeds("sweep", first, n, &o, &t);
    if (t.failed)
        fail_msg("%d of %d seeds failed (%d stuck connections), first seed %llu", t.failed, t.seeds,
                 t.stuck, (unsigned long long)t.failing[0]);
}

/* The issue's experiment: every receive buffer one size, 2 % loss on every link and nothing
 * else, 40 connections, five seeds, buffers from 3,000 to 20,000 bytes as the issue saw them
 * fail. Before the persist timer's override these worlds left 12, 13, 1, 2 and 0 connections
 * stuck (the issue's own run, with other traffic, 41 at 4096 bytes). */
static void issue11_buffers(void **unused)
{
    (void)unused;
    static const uint32_t sizes[] = {3000, 4096, 6001, 12000, 20000};
    int stuck = 0, failed = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        struct sweep_opts o = {.rcvbuf = sizes[i], .nconns = 40, .fixed_loss = 1, .loss = 0.02};
        char what[64];
        snprintf(what, sizeof what, "rcvbuf %u, 2%% loss", sizes[i]);
        struct tally t;
        run_seeds(what, 1, 5, &o, &t);
        stuck += t.stuck;
        failed += t.failed;
    }
    if (failed)
        fail_msg("%d worlds failed, %d connections stuck", failed, stuck);
}

int main(void)
{
    const struct CMUnitTest all[] = {
        cmocka_unit_test(issue11_buffers),
        cmocka_unit_test(sweep),
    };
    const struct CMUnitTest sweep_only[] = {
        cmocka_unit_test(sweep),
    };
    /* A long or single-seed run asked for by name runs the sweep alone. */
    if (getenv("SWEEP_SEEDS") || getenv("SWEEP_SEED"))
        return cmocka_run_group_tests_name("sim_sweep", sweep_only, NULL, NULL);
    return cmocka_run_group_tests_name("sim_sweep", all, NULL, NULL);
}
