/* Running one sweep world and judging it: every byte once and in order, every connection
 * ended the way its path says and CLOSED, the engines empty; and for a connection that never
 * ended, both ends' figures, so the failure explains itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sweep_world.h"

/* A world that processes this many deliveries and timer runs is in a storm (an ACK loop, a
 * timer that re-arms at once); the largest legitimate worlds stay far below it. */
#define EVENT_CAP 30000000ull
/* Long enough for every legitimate ending: retransmissions back off to 120 s, keepalive
 * needs 45 s, stalls last 3 s (or one of 20 minutes at most). A deadlocked world has no
 * events, so waiting costs nothing. */
#define RUN_LIMIT SF_SEC(7200)

static int stop_pred(void *ctx)
{
    const struct sw_world *w = ctx;
    return sw_all_ended(ctx) || w->events > EVENT_CAP;
}

static const char *reader_name(const struct sw_side *s)
{
    static const char *const names[] = {"eager", "stall", "trickle"};
    return names[s->mode];
}

static void describe_side(FILE *log, const struct sw_side *s)
{
    const char *name = s->server ? "server" : "client";
    if (!s->active) {
        fprintf(log, "%s %s", name, s->server ? "never accepted" : "never started");
        return;
    }
    fprintf(log, "%s tx %zu/%zu rx %zu/%zu eof %d reset %d reader %s rcvbuf %u sndbuf %u mss %u",
            name, s->tx_done, s->tx_len, s->rx_got, s->rx_len, s->rx_eof, s->reset, reader_name(s),
            s->rcvbuf, s->sndbuf, s->mss);
    const struct sw_host *h = s->host;
    uint64_t id = s->id < SW_MAX_IDS ? s->id : 0;
    const struct sf_conn *c = s->closed ? h->obj[id] : s->c;
    if (s->closed)
        fprintf(log, " released,");
    if (!c) {
        fprintf(log, " engine %s by %s", sf_state_name(h->last_state[id]),
                sf_cause_name((enum sf_cause)h->last_cause[id]));
        return;
    }
    struct sf_conn_info in;
    sf_info(c, &in);
    fprintf(log,
            " %s snd.wnd %u unacked %u in_flight %u cwnd %u snd.mss %u rto %u ms backoff %u"
            " rcv.wnd %u readable %zu%s",
            sf_state_name(in.state), in.snd_wnd, in.unacked, in.in_flight, in.cwnd, in.snd_mss,
            in.rto_us / 1000, in.rto_backoffs, in.rcv_wnd, sf_readable(c),
            s->paused_until ? " (reader stalled)" : "");
}

static void describe_conn(FILE *log, const struct sw_world *w, const struct sw_conn *k,
                          const char *what)
{
    fprintf(log, "# %s seed %llu conn %d 10.0.0.%d:%u > 10.0.0.100:%d (%s, acting %s): ", what,
            (unsigned long long)w->seed, k->idx, k->chost, k->cport, SW_PORT_BASE + k->listener,
            sweep_path_name(k->path), k->who ? "server" : "client");
    describe_side(log, &k->s[0]);
    fprintf(log, "; ");
    describe_side(log, &k->s[1]);
    fprintf(log, "\n");
}

static int conn_ended(const struct sw_conn *k)
{
    for (int d = 0; d < 2; d++)
        if (k->s[d].active && !k->s[d].closed)
            return 0;
    return k->s[0].active;
}

static void report_stuck(struct sw_world *w, FILE *log)
{
    struct sweep_result *r = w->r;
    for (int i = 0; i < w->nconns; i++) {
        const struct sw_conn *k = &w->conns[i];
        if (conn_ended(k))
            continue;
        r->stuck++;
        describe_conn(log, w, k, "STUCK");
        if (r->nstuck_listed < SWEEP_MAX_STUCK) {
            struct sweep_stuck *st = &r->stuck_list[r->nstuck_listed++];
            st->conn = k->idx;
            st->path = k->path;
            /* The direction whose bytes did not all arrive: its receiver's buffer is the one
             * the issue is about. */
            st->dir = -1;
            for (int d = 1; d >= 0; d--)
                if (k->s[!d].rx_got < k->len[d])
                    st->dir = d;
            for (int d = 0; d < 2; d++) {
                st->rcvbuf[d] = k->s[d].rcvbuf;
                st->sndbuf[d] = k->s[d].sndbuf;
                st->mss[d] = k->s[d].mss;
            }
        }
    }
}

/* ---- judging ------------------------------------------------------------------------- */

#define TW_BIT (1u << SF_TIME_WAIT)
#define LA_BIT (1u << SF_LAST_ACK)

static uint16_t visited(const struct sw_side *s)
{
    return s->id < SW_MAX_IDS ? s->host->visited[s->id] : 0;
}

static enum sf_cause cause_of(const struct sw_side *s)
{
    return s->id < SW_MAX_IDS ? (enum sf_cause)s->host->last_cause[s->id] : SF_CAUSE_NONE;
}

/* How an end that sent the first FIN may finish: through TIME-WAIT; by an RST when the
 * peer's short TIME-WAIT ended before our retransmitted FIN or ACK got through; or by its own
 * orphan FIN-WAIT-2 timeout when the peer's FIN never came (the peer then ends by our RST). */
static int first_closer_ok(const struct sw_side *s, const struct sw_side *peer)
{
    if (visited(s) & TW_BIT)
        return 1;
    if (cause_of(s) == SF_CAUSE_RST)
        return 1;
    return cause_of(s) == SF_CAUSE_FIN_WAIT2_TIMEOUT && cause_of(peer) == SF_CAUSE_RST;
}

/* Returns a reason when the graceful close went wrong, else NULL. */
static const char *judge_graceful(const struct sw_conn *k)
{
    const struct sw_side *c = &k->s[0], *s = &k->s[1];
    if (!s->active)
        return "the server never accepted";
    if (c->reset || s->reset)
        return "reset on a graceful path";
    if (c->rx_got != k->len[1] || s->rx_got != k->len[0])
        return "bytes missing";
    const struct sw_side *first = NULL;
    switch (k->path) {
    case SW_CLIENT_FIRST: first = c; break;
    case SW_SERVER_FIRST: first = s; break;
    case SW_HALF_CLOSE: first = &k->s[k->who]; break;
    default:
        if (!first_closer_ok(c, s) || !first_closer_ok(s, c))
            return "a simultaneous close ended badly";
        return NULL;
    }
    const struct sw_side *second = &k->s[!first->server];
    if (!first_closer_ok(first, second))
        return "the first closer ended without TIME-WAIT";
    if (visited(second) & TW_BIT)
        return "TIME-WAIT on the end that closed second";
    if (!(visited(second) & LA_BIT))
        return "the end that closed second never was in LAST-ACK";
    return NULL;
}

static const char *judge_bytes(const struct sw_conn *k)
{
    for (int d = 0; d < 2; d++) {
        const struct sw_side *s = &k->s[d];
        if (s->bad)
            return "a byte differs from what was sent (order, duplicate or corruption)";
        if (s->rx_got > s->rx_len)
            return "more bytes arrived than were sent";
    }
    return NULL;
}

static const char *judge_conn(const struct sw_conn *k)
{
    for (int d = 0; d < 2; d++) {
        const struct sw_side *s = &k->s[d];
        if (s->active && s->host->last_state[s->id < SW_MAX_IDS ? s->id : 0] != SF_CLOSED)
            return "an end is not CLOSED after the run";
    }
    if (k->path == SW_ABORT || k->path == SW_UNREAD_CLOSE) {
        if ((visited(&k->s[0]) | visited(&k->s[1])) & TW_BIT)
            return "TIME-WAIT on an aborted connection";
        return NULL;
    }
    return judge_graceful(k);
}

static void judge_engines(struct sw_world *w, FILE *log)
{
    for (int i = 0; i <= SW_CLIENT_HOSTS; i++) {
        const struct sw_host *h = &w->hosts[i];
        struct sf_engine_stats st;
        sf_engine_stats(h->e, &st);
        int open_ids = 0;
        for (int id = 1; id < SW_MAX_IDS; id++)
            if (h->visited[id] && h->last_state[id] != SF_CLOSED)
                open_ids++;
        if (st.conns_live || st.tw_live || st.bufs_live || st.bytes_buffered || open_ids ||
            h->bad_ids) {
            w->r->leaks++;
            fprintf(log,
                    "# LEAK seed %llu host %d: conns_live %llu tw_live %llu bufs_live %llu "
                    "bytes_buffered %llu, %d ids not CLOSED, %llu ids untracked\n",
                    (unsigned long long)w->seed, i, (unsigned long long)st.conns_live,
                    (unsigned long long)st.tw_live, (unsigned long long)st.bufs_live,
                    (unsigned long long)st.bytes_buffered, open_ids,
                    (unsigned long long)h->bad_ids);
        }
    }
}

static void judge(struct sw_world *w, FILE *log)
{
    struct sweep_result *r = w->r;
    for (int i = 0; i < w->nconns; i++) {
        const struct sw_conn *k = &w->conns[i];
        const char *why = judge_bytes(k);
        if (why) {
            r->byte_errors++;
        } else if ((why = judge_conn(k)) != NULL) {
            r->close_errors++;
        }
        if (why) {
            const struct sw_side *s = k->s[0].bad ? &k->s[0] : &k->s[1];
            describe_conn(log, w, k, "FAIL");
            fprintf(log, "#   %s", why);
            if (s->bad)
                fprintf(log, " (%zu bad bytes from offset %zu)", s->bad, s->first_bad);
            fprintf(log, "; causes: client %s, server %s\n", sf_cause_name(cause_of(&k->s[0])),
                    sf_cause_name(cause_of(&k->s[1])));
        }
    }
    if (w->stray_accepts) {
        r->close_errors += w->stray_accepts;
        fprintf(log, "# FAIL seed %llu: %d accepted connections no client opened\n",
                (unsigned long long)w->seed, w->stray_accepts);
    }
    judge_engines(w, log);
}

/* ---- tracing one connection ---------------------------------------------------------- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void trace_side(const struct sw_side *s)
{
    const struct sf_conn *c = s->closed ? s->host->obj[s->id < SW_MAX_IDS ? s->id : 0] : s->c;
    if (!c) {
        fprintf(stderr, " %s -", s->server ? "S" : "C");
        return;
    }
    struct sf_conn_info in;
    sf_info(c, &in);
    fprintf(stderr, " %s %s wnd %u unacked %u inflight %u rcv.wnd %u readable %zu backoff %u",
            s->server ? "S" : "C", sf_state_name(in.state), in.snd_wnd, in.unacked, in.in_flight,
            in.rcv_wnd, sf_readable(c), in.rto_backoffs);
}

void sw_trace(const struct sw_host *h, const uint8_t *pkt, size_t len, const char *dir)
{
    size_t ihl = len ? (size_t)(pkt[0] & 0xf) * 4 : 0;
    if (ihl < 20 || len < ihl + 20)
        return;
    const uint8_t *t = pkt + ihl;
    unsigned sport = t[0] << 8 | t[1], dport = t[2] << 8 | t[3];
    unsigned port = h->w->opts->trace_port;
    int chost = pkt[15] == 100 ? pkt[19] : pkt[15]; /* the end that is not the server */
    const struct sw_world *w = h->w;
    for (int i = 0; i < w->nconns; i++) {
        const struct sw_conn *k = &w->conns[i];
        if (k->cport != port || k->chost != chost || (sport != port && dport != port))
            continue;
        size_t thl = (size_t)(t[12] >> 4) * 4;
        fprintf(stderr, "%10.4f %s %s seq %u ack %u len %zu win %u flags %02x |",
                (double)sf_sim_now(w->sim) / 1e6, dir, h->index ? "C" : "S", be32(t + 4),
                be32(t + 8), len - ihl - thl, (unsigned)(t[14] << 8 | t[15]), t[13]);
        trace_side(&k->s[0]);
        trace_side(&k->s[1]);
        fprintf(stderr, "\n");
    }
}

/* ---- the world in one line ----------------------------------------------------------- */

static void describe_world(const struct sw_world *w, char *out, size_t len)
{
    double lo = 1, hi = 0, dup = 0, reo = 0;
    sf_time_t dmin = SF_TIME_NEVER, dmax = 0;
    int rated = 0;
    for (int i = 1; i <= SW_CLIENT_HOSTS; i++) {
        const struct sf_sim_link_params *ps[2] = {&w->up[i], &w->down[i]};
        for (int j = 0; j < 2; j++) {
            const struct sf_sim_link_params *p = ps[j];
            lo = p->loss < lo ? p->loss : lo;
            hi = p->loss > hi ? p->loss : hi;
            dup = p->duplicate > dup ? p->duplicate : dup;
            reo = p->reorder > reo ? p->reorder : reo;
            dmin = p->delay < dmin ? p->delay : dmin;
            dmax = p->delay > dmax ? p->delay : dmax;
            rated += p->rate != 0;
        }
    }
    snprintf(out, len,
             "conns %d listeners %d loss %.1f-%.1f%% dup<=%.1f%% reorder<=%.0f%% delay "
             "%llu-%llu ms rated %d ts %u sack %u ws %u/%u tw %u ms%s",
             w->nconns, w->nlisteners, lo * 100, hi * 100, dup * 100, reo * 100,
             (unsigned long long)(dmin / 1000), (unsigned long long)(dmax / 1000), rated,
             w->cfg.timestamps, w->cfg.sack, w->cfg.window_scaling, w->cfg.wscale,
             w->cfg.time_wait_ms, w->long_stalls ? " long stalls" : "");
}

/* ---- one seed ------------------------------------------------------------------------- */

static int world_ok(const struct sw_world *w)
{
    if (!w->sim)
        return 0;
    for (int i = 0; i <= SW_CLIENT_HOSTS; i++)
        if (!w->hosts[i].e || !w->hosts[i].h)
            return 0;
    for (int i = 0; i < w->nlisteners; i++)
        if (!w->listeners[i] || sf_conn_state(w->listeners[i]) != SF_LISTEN)
            return 0;
    return 1;
}

static void finish_world(struct sw_world *w, FILE *log)
{
    /* Every TIME-WAIT runs out, late retransmissions land, and a connection the server
     * accepts only now (its client gave up during the handshake) is ended by its
     * application like any other. */
    for (int i = 0; i < w->nlisteners; i++)
        sf_close(w->listeners[i]);
    sf_sim_run_until_idle(w->sim, sf_sim_now(w->sim) + SF_SEC(600));
    if (w->nclosed != w->nactive) {
        report_stuck(w, log);
        return;
    }
    judge(w, log);
}

void sweep_run(uint64_t seed, const struct sweep_opts *opts, FILE *log, struct sweep_result *r)
{
    memset(r, 0, sizeof *r);
    r->seed = seed;
    struct sw_world *w = malloc(sizeof *w);
    if (!w) {
        r->leaks = 1;
        return;
    }
    sw_world_build(w, seed, opts);
    w->r = r;
    r->nconns = w->nconns;
    describe_world(w, r->params, sizeof r->params);
    if (!world_ok(w)) {
        fprintf(log, "# FAIL seed %llu: the world could not be built\n", (unsigned long long)seed);
        r->leaks = 1;
    } else {
        int ended = sf_sim_run_until_pred(w->sim, RUN_LIMIT, stop_pred, w);
        if (w->events > EVENT_CAP) {
            r->runaway = 1;
            fprintf(log, "# RUNAWAY seed %llu: %llu events by %.1f s of simulated time\n",
                    (unsigned long long)seed, (unsigned long long)w->events,
                    (double)sf_sim_now(w->sim) / 1e6);
            report_stuck(w, log);
        } else if (!ended) {
            report_stuck(w, log);
        } else {
            finish_world(w, log);
        }
    }
    for (int i = 0; i < w->nconns; i++)
        r->bytes += w->conns[i].s[0].rx_got + w->conns[i].s[1].rx_got;
    r->events = w->events;
    r->sim_seconds = w->sim ? (double)sf_sim_now(w->sim) / 1e6 : 0;
    sw_world_free(w);
    free(w);
}
