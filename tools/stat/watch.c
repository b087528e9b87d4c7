#include "watch.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collect.h"
#include "from.h"
#include "report.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void utc_stamp(char *buf, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    if (!gmtime_r(&now, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, size, "?");
}

struct frame {
    const struct st_opts *o;
    const char *source;
    const char *transport;
    const struct st_collect *c;
    const struct st_hist *prev; /* NULL on the first sample */
    double dt;                  /* seconds since the previous sample */
    const char *error;          /* a failed refresh: the last good counts are shown */
};

static double rate(const struct frame *fr, int s)
{
    return ((double)fr->c->hist.n[s] - (double)fr->prev->n[s]) / fr->dt;
}

static void render_json(FILE *f, const struct frame *fr)
{
    char stamp[32];
    utc_stamp(stamp, sizeof stamp);
    struct st_json j;
    st_json_init(&j, f);
    st_json_object(&j, NULL);
    st_json_header(&j, fr->o, fr->source);
    if (fr->transport)
        st_json_string(&j, "transport", fr->transport);
    st_json_string(&j, "time", stamp);
    st_json_double(&j, "interval", fr->o->watch);
    if (fr->error)
        st_json_string(&j, "error", fr->error);
    st_json_hist(&j, "tcp_states", &fr->c->hist);
    st_json_u64(&j, "total", st_hist_total(&fr->c->hist));
    if (fr->prev && !fr->error) {
        st_json_object(&j, "rates");
        for (int s = 0; s < ST_NSTATES; s++)
            st_json_double(&j, st_state_name(s), rate(fr, s));
        st_json_end(&j, '}');
    } else {
        st_json_string(&j, "rates", NULL);
    }
    if (fr->c->peers)
        st_json_peers(&j, fr->c, fr->o->top);
    st_json_end(&j, '}');
}

/* Not a terminal: one line per refresh, "STATE=COUNT" fields then the states that moved. */
static void render_line(FILE *f, const struct frame *fr)
{
    char stamp[32];
    utc_stamp(stamp, sizeof stamp);
    fputs(stamp, f);
    for (int s = 0; s < ST_NSTATES; s++)
        fprintf(f, " %s=%" PRIu64, st_state_name(s), fr->c->hist.n[s]);
    if (fr->error) {
        fprintf(f, " | refresh failed: %s", fr->error);
    } else if (fr->prev) {
        fputs(" | per second:", f);
        int moved = 0;
        for (int s = 0; s < ST_NSTATES; s++) {
            if (fr->c->hist.n[s] == fr->prev->n[s])
                continue;
            fprintf(f, " %s=%+.1f", st_state_name(s), rate(fr, s));
            moved = 1;
        }
        if (!moved)
            fputs(" no change", f);
    }
    fputc('\n', f);
    if (fr->c->peers) {
        st_print_peers(f, fr->c, fr->o->top);
        fputc('\n', f);
    }
}

/* A terminal: the whole screen redrawn in place; every line clears what the last frame left
 * to its right, and the end clears the rest of the screen. */
static void render_screen(FILE *f, const struct frame *fr)
{
    char stamp[32];
    utc_stamp(stamp, sizeof stamp);
    fputs("\033[H", f);
    fprintf(f, "synfin-stat  %s%s%s  every %gs  %s\033[K\n", fr->source,
            fr->o->netns ? "  netns " : "", fr->o->netns ? fr->o->netns : "", fr->o->watch, stamp);
    if (fr->error)
        fprintf(f, "refresh failed: %s (showing the last counts)\033[K\n", fr->error);
    else
        fputs("\033[K\n", f);
    fprintf(f, "%-12s %12s %12s\033[K\n", "STATE", "COUNT", "PER SECOND");
    for (int s = 0; s < ST_NSTATES; s++) {
        fprintf(f, "%-12s %12" PRIu64, st_state_name(s), fr->c->hist.n[s]);
        if (fr->prev && !fr->error)
            fprintf(f, " %+12.1f", rate(fr, s));
        else
            fprintf(f, " %12s", "-");
        fputs("\033[K\n", f);
    }
    if (fr->c->peers) {
        fputs("\033[K\n", f);
        st_print_peers(f, fr->c, fr->o->top);
    }
    fputs("\033[J", f);
}

static int sample(const struct st_opts *o, const struct sf_sockdiag_query *q, struct st_collect *c,
                  char *transport, size_t tlen, char *err, size_t errlen)
{
    if (q) {
        int rc = st_collect(q, c);
        if (rc)
            st_dump_error_text(rc, o->netns, err, errlen);
        return rc ? -1 : 0;
    }
    struct st_from_stats st;
    if (st_from_fetch(o->from, &st, err, errlen))
        return -1;
    c->hist = st.hist;
    snprintf(transport, tlen, "%s", st.transport);
    return 0;
}

int st_watch(const struct st_opts *o, const struct sf_sockdiag_query *q)
{
    struct st_collect *c = calloc(1, sizeof *c);
    if (!c || (o->by_peer && !(c->peers = st_peers_new(ST_PEER_CAPACITY)))) {
        fprintf(stderr, "synfin-stat: out of memory\n");
        if (c)
            st_peers_free(c->peers);
        free(c);
        return 2;
    }
    /* No SA_RESTART: the sleep must end at once on ^C. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int tty = !o->json && isatty(STDOUT_FILENO);
    const char *source = q ? "kernel" : o->from;
    char transport[32] = "", err[512];
    struct st_hist prev;
    double prev_t = 0;
    int have_prev = 0, status = 0;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    if (tty)
        fputs("\033[?25l\033[H\033[2J", stdout); /* hide the cursor, clear */

    for (unsigned long i = 1; !stop_requested; i++) {
        int rc = sample(o, q, c, transport, sizeof transport, err, sizeof err);
        double t = mono_now();
        if (rc && !have_prev) {
            /* Nothing to show yet: the source is wrong, not momentarily away. */
            if (tty)
                fputs("\033[?25h", stdout);
            fprintf(stderr, "synfin-stat: %s\n", err);
            status = 2;
            break;
        }
        struct frame fr = {.o = o,
                           .source = source,
                           .transport = q ? NULL : transport,
                           .c = c,
                           .prev = have_prev ? &prev : NULL,
                           .dt = t - prev_t,
                           .error = rc ? err : NULL};
        if (rc)
            c->hist = prev; /* keep showing the last good counts */
        if (o->json)
            render_json(stdout, &fr);
        else if (tty)
            render_screen(stdout, &fr);
        else
            render_line(stdout, &fr);
        if (fflush(stdout) || ferror(stdout)) {
            status = 2;
            break;
        }
        if (!rc) {
            prev = c->hist;
            prev_t = t;
            have_prev = 1;
        }
        if (o->count && i >= o->count)
            break;

        /* Absolute deadlines: a slow sample delays one refresh, never all later ones; a
         * sample slower than the interval skips the missed ticks. */
        double secs = o->watch;
        next.tv_sec += (time_t)secs;
        next.tv_nsec += (long)((secs - (double)(time_t)secs) * 1e9);
        if (next.tv_nsec >= 1000000000L) {
            next.tv_sec++;
            next.tv_nsec -= 1000000000L;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > next.tv_sec || (now.tv_sec == next.tv_sec && now.tv_nsec > next.tv_nsec))
            next = now;
        while (!stop_requested &&
               clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
            ;
    }
    if (tty && status == 0)
        fputs("\033[?25h\n", stdout);
    st_peers_free(c->peers);
    free(c);
    return status;
}
