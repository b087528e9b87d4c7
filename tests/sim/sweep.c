/* The seed sweep's worlds: what a seed draws, the hosts on the simulated network, and the
 * application on each connection's two ends (writers, stalling and trickling readers, and the
 * close paths). Running and judging a world is sweep_check.c. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/pcap.h"
#include "sweep_world.h"

/* ---- seeded draws ---------------------------------------------------------------------- */

static uint64_t next_rand(struct sw_world *w)
{
    w->rng += 0x9e3779b97f4a7c15ULL;
    uint64_t z = w->rng;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint32_t below(struct sw_world *w, uint32_t n)
{
    return n ? (uint32_t)(next_rand(w) % n) : 0;
}

static double unit(struct sw_world *w)
{
    return (double)(next_rand(w) >> 11) / (double)(1ULL << 53);
}

static int chance(struct sw_world *w, double p)
{
    return unit(w) < p;
}

static size_t log_uniform(struct sw_world *w, size_t max)
{
    return (size_t)(exp(unit(w) * log((double)max + 1.0)) - 1.0);
}

/* Receive and send buffers, weighted towards the small and odd sizes where windows fall
 * below one segment: 2048 is the smallest the engine takes; "around a segment" lands a few
 * bytes either side of a multiple of 1460. */
static uint32_t draw_buf(struct sw_world *w)
{
    uint32_t u = below(w, 100);
    if (u < 40)
        return 2048 + below(w, 4000);
    if (u < 70)
        return 6048 + below(w, 14000);
    if (u < 85) {
        uint32_t b = (1 + below(w, 4)) * 1460 + below(w, 41) - 20;
        return b < 2048 ? 2048 + below(w, 64) : b;
    }
    return 20048 + below(w, 110000);
}

static uint32_t draw_mss(struct sw_world *w)
{
    /* Jumbo sizes put a whole small buffer below one segment. */
    static const uint32_t mss[] = {536, 1000, 1460, 1460, 1460, 1460, 4096, 8960};
    return mss[below(w, sizeof mss / sizeof mss[0])];
}

#define MAX_BYTES (256u * 1024u)

/* ---- the generator ------------------------------------------------------------------- */

static uint8_t byte_at(uint64_t seed, int conn, int from_server, size_t off)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ULL ^ ((uint64_t)conn << 40) ^
                 ((uint64_t)from_server << 39) ^ (off / 8);
    x = (x ^ (x >> 31)) * 0x7fb5d329728ea185ULL;
    x = (x ^ (x >> 27)) * 0x81dadef4bc2dd44dULL;
    x ^= x >> 33;
    return (uint8_t)(x >> (8 * (off % 8)));
}

/* ---- the application ------------------------------------------------------------------- */

static sf_time_t now_of(const struct sw_side *s)
{
    return sf_sim_now(s->host->w->sim);
}

static void set_wake(struct sw_side *s, sf_time_t at)
{
    if (!s->wake_at || at < s->wake_at)
        s->wake_at = at;
}

static void end_side(struct sw_side *s)
{
    if (s->closed || !s->c)
        return;
    s->closed = 1;
    s->host->w->nclosed++;
    struct sw_conn *k = s->k;
    if (k->path == SW_ABORT && k->who == s->server && !s->reset) {
        if (k->abort_linger) {
            sf_setopt(s->c, SF_OPT_LINGER, 0);
            sf_close(s->c);
        } else {
            sf_abort(s->c);
        }
        return;
    }
    sf_close(s->c);
}

static void pump(struct sw_side *s)
{
    uint8_t buf[16384];
    struct sw_world *w = s->host->w;
    while (!s->closed && !s->shut && s->tx_done < s->tx_len) {
        size_t n = s->tx_len - s->tx_done;
        if (n > sizeof buf)
            n = sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = byte_at(w->seed, s->k->idx, s->server, s->tx_done + i);
        ssize_t got = sf_send(s->c, buf, n);
        if (got < 0)
            return; /* -EAGAIN: WRITABLE follows; otherwise a reset event does */
        s->tx_done += (size_t)got;
    }
}

static void take_bytes(struct sw_side *s, const uint8_t *buf, size_t n)
{
    struct sw_world *w = s->host->w;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != byte_at(w->seed, s->k->idx, !s->server, s->rx_got + i)) {
            if (!s->bad)
                s->first_bad = s->rx_got + i;
            s->bad++;
        }
    }
    s->rx_got += n;
}

/* How much the reader takes now; 0 when it takes nothing (stalled, or waiting to trickle). */
static size_t read_allowance(struct sw_side *s, size_t cap)
{
    struct sw_conn *k = s->k;
    sf_time_t now = now_of(s);
    if (s->paused_until)
        return 0;
    if (s->stalls_left && s->rx_got >= s->stall_at) {
        s->stalls_left--;
        s->paused_until = now + SF_MS(s->stall_ms);
        set_wake(s, s->paused_until);
        s->stall_at = s->rx_got + 1 + (s->rx_len - s->rx_got) / 2;
        return 0;
    }
    size_t want = cap;
    if (s->stalls_left && s->stall_at - s->rx_got < want)
        want = s->stall_at - s->rx_got; /* stop exactly where the stall begins */
    if (s->mode == RD_TRICKLE) {
        if (now < s->next_read) {
            set_wake(s, s->next_read);
            return 0;
        }
        if (s->chunk < want)
            want = s->chunk;
    }
    if (k->path == SW_UNREAD_CLOSE && k->who == s->server) {
        /* It stops reading here, for good: what comes next stays unread. */
        size_t left = k->abort_at > s->rx_got ? k->abort_at - s->rx_got : 0;
        if (left < want)
            want = left;
    }
    return want;
}

static void drain(struct sw_side *s)
{
    uint8_t buf[16384];
    while (!s->closed && s->c) {
        size_t want = read_allowance(s, sizeof buf);
        if (want == 0)
            return;
        ssize_t r = sf_recv(s->c, buf, want);
        if (r == -EAGAIN)
            return;
        if (r == 0) {
            s->rx_eof = 1;
            return;
        }
        if (r < 0) {
            s->reset = 1;
            s->err = (int)-r;
            return;
        }
        take_bytes(s, buf, (size_t)r);
        if (s->mode == RD_TRICKLE)
            s->next_read = now_of(s) + SF_MS(s->period_ms);
    }
}

/* Both ends of a simultaneous close: their closes happen at one instant, each in its own
 * host's timer run, so that the two FINs cross on the wire. */
static void schedule_simultaneous(struct sw_side *s, struct sw_side *o)
{
    sf_time_t at = now_of(s) + SF_MS(1);
    s->close_at = o->close_at = at;
    set_wake(s, at);
    set_wake(o, at);
    sf_sim_host_touch(s->host->w->sim, o->host->h);
}

static void decide_half_close(struct sw_side *s, int all_out)
{
    struct sw_conn *k = s->k;
    if (k->who == s->server) {
        if (all_out && !s->shut) {
            s->shut = 1;
            sf_shutdown(s->c, SF_SHUT_WR); /* the request is complete; the reply follows */
        }
        if (s->shut && s->rx_eof)
            end_side(s);
        return;
    }
    if (s->rx_eof && !s->replying) {
        s->replying = 1;
        s->tx_len = k->len[s->server];
        pump(s);
    }
    if (s->replying && s->tx_done >= s->tx_len)
        end_side(s);
}

static void decide(struct sw_side *s)
{
    struct sw_conn *k = s->k;
    struct sw_side *o = &k->s[!s->server];
    if (s->closed || !s->c)
        return;
    if (s->reset) {
        end_side(s);
        return;
    }
    int all_in = s->rx_got >= s->rx_len, all_out = s->tx_done >= s->tx_len;
    int acting = k->who == s->server;
    /* A close in SYN-SENT abandons the connection and what was written (tcp.h): graceful
     * closes wait for the handshake. */
    int opening = sf_conn_state(s->c) == SF_SYN_SENT;
    switch (k->path) {
    case SW_CLIENT_FIRST:
    case SW_SERVER_FIRST: {
        int first = (k->path == SW_SERVER_FIRST) == s->server;
        if (!opening && (first ? (all_in && all_out) : (s->rx_eof && all_out)))
            end_side(s);
        break;
    }
    case SW_SIMULTANEOUS:
        if (all_in && all_out && !s->ready && !opening) {
            s->ready = 1;
            if (o->ready && !o->closed)
                schedule_simultaneous(s, o);
        }
        break;
    case SW_HALF_CLOSE: decide_half_close(s, all_out); break;
    case SW_ABORT:
        if (acting && s->rx_got >= k->abort_at)
            end_side(s);
        break;
    case SW_UNREAD_CLOSE:
        if (acting && s->rx_got >= k->abort_at && sf_readable(s->c) > 0)
            end_side(s); /* data waits unread: the close sends RST */
        break;
    default: break;
    }
}

static void step(struct sw_side *s)
{
    drain(s);
    pump(s);
    decide(s);
}

static void on_event(struct sf_conn *c, unsigned ev, void *user)
{
    struct sw_side *s = user;
    if (ev & SF_EV_RESET) {
        s->reset = 1;
        s->err = sf_take_error(c);
    }
    step(s);
}

/* Options every end gets, whichever side opened it. */
static void side_options(struct sw_side *s)
{
    if (s->nodelay)
        sf_setopt(s->c, SF_OPT_NODELAY, 1);
    /* An end whose peer aborts may never hear the RST (it can be lost): keepalive finds the
     * dead peer. Only on those paths: elsewhere a long loss streak is no reason to reset. */
    if (s->k->path == SW_ABORT || s->k->path == SW_UNREAD_CLOSE)
        sf_setopt(s->c, SF_OPT_KEEPALIVE, 1);
}

static void host_add_side(struct sw_host *h, struct sw_side *s)
{
    if (h->nsides < SW_MAX_CONNS)
        h->sides[h->nsides++] = s;
}

static struct sw_conn *conn_for(struct sw_world *w, const struct sf_endpoint *remote)
{
    for (int i = 0; i < w->nconns; i++) {
        struct sw_conn *k = &w->conns[i];
        if (k->s[0].active && k->cport == remote->port && remote->addr.u.v4[3] == k->chost)
            return k;
    }
    return NULL;
}

static void on_accept(struct sf_conn *l, unsigned ev, void *user)
{
    (void)ev;
    struct sw_world *w = user;
    int err;
    struct sf_conn *c;
    while ((c = sf_accept(l, &err)) != NULL) {
        struct sf_conn_info in;
        sf_info(c, &in);
        struct sw_conn *k = conn_for(w, &in.remote);
        if (!k || k->s[1].active) {
            w->stray_accepts++;
            sf_abort(c);
            continue;
        }
        struct sw_side *s = &k->s[1];
        s->c = c;
        s->id = in.id;
        s->active = 1;
        w->nactive++;
        sf_set_handler(c, on_event, s);
        sf_setopt(c, SF_OPT_SNDBUF, (long)s->sndbuf);
        side_options(s);
        host_add_side(&w->hosts[0], s);
        step(s);
    }
}

static void start_conn(struct sw_world *w, struct sw_conn *k)
{
    struct sw_side *s = &k->s[0];
    struct sw_host *h = s->host;
    s->c = sf_socket(h->e);
    if (!s->c)
        return;
    sf_setopt(s->c, SF_OPT_RCVBUF, (long)s->rcvbuf);
    sf_setopt(s->c, SF_OPT_SNDBUF, (long)s->sndbuf);
    sf_setopt(s->c, SF_OPT_MAXSEG, (long)s->mss);
    sf_set_handler(s->c, on_event, s);
    side_options(s);
    struct sf_endpoint to = {.addr = sf_addr_v4(10, 0, 0, 100),
                             .port = (uint16_t)(SW_PORT_BASE + k->listener)};
    s->active = 1;
    w->nactive++;
    w->nstarted++;
    sf_connect(s->c, &to);
    struct sf_conn_info in;
    sf_info(s->c, &in);
    s->id = in.id;
    k->cport = in.local.port;
    step(s); /* data written before the handshake goes with it */
}

/* The application's timer on one end: a start, the end of a stall, the next trickle read, or
 * a simultaneous close. */
static void side_wake(struct sw_world *w, struct sw_side *s, sf_time_t now)
{
    if (!s->active) {
        if (!s->server && !s->c)
            start_conn(w, s->k);
        return;
    }
    /* One wake serves every timer due; those still ahead are armed again. */
    if (s->paused_until) {
        if (now >= s->paused_until)
            s->paused_until = 0;
        else
            set_wake(s, s->paused_until);
    }
    if (s->close_at && !s->closed) {
        if (now >= s->close_at) {
            drain(s);
            end_side(s);
            return;
        }
        set_wake(s, s->close_at);
    }
    step(s);
}

/* ---- hosts on the sim ----------------------------------------------------------------- */

static void host_deliver(void *ctx, const void *pkt, size_t len, sf_time_t now)
{
    struct sw_host *h = ctx;
    h->w->events++;
    if (h->w->opts->trace_port)
        sw_trace(h, pkt, len, "in ");
    sf_engine_input(h->e, pkt, len, now);
}

static void host_advance(void *ctx, sf_time_t now)
{
    struct sw_host *h = ctx;
    h->w->events++;
    sf_engine_advance(h->e, now);
    for (int i = 0; i < h->nsides; i++) {
        struct sw_side *s = h->sides[i];
        if (s->wake_at && s->wake_at <= now) {
            s->wake_at = 0;
            side_wake(h->w, s, now);
        }
    }
}

static sf_time_t host_deadline(void *ctx)
{
    struct sw_host *h = ctx;
    sf_time_t t = sf_engine_next_deadline(h->e);
    for (int i = 0; i < h->nsides; i++)
        if (h->sides[i]->wake_at && h->sides[i]->wake_at < t)
            t = h->sides[i]->wake_at;
    return t;
}

static void host_output(void *ctx, const void *pkt, size_t len)
{
    struct sw_host *h = ctx;
    if (h->w->opts->trace_port)
        sw_trace(h, pkt, len, "out");
    sf_sim_send(h->w->sim, h->h, pkt, len);
}

static void host_transition(void *ctx, const struct sf_transition *t)
{
    struct sw_host *h = ctx;
    if (t->id >= SW_MAX_IDS) {
        h->bad_ids++;
        return;
    }
    h->visited[t->id] |= (uint16_t)(1u << t->to);
    h->last_state[t->id] = (uint8_t)t->to;
    h->last_cause[t->id] = (uint8_t)t->cause;
    /* Past CLOSED or TIME-WAIT the object is freed (a TIME-WAIT entry carries on alone). */
    h->obj[t->id] = t->to == SF_CLOSED || t->to == SF_TIME_WAIT ? NULL : t->conn;
}

/* ---- drawing a world ------------------------------------------------------------------- */

static void draw_link(struct sw_world *w, struct sf_sim_link_params *p)
{
    memset(p, 0, sizeof *p);
    p->delay = SF_MS(1 + below(w, 50));
    p->jitter = below(w, (uint32_t)(p->delay / 2 + 1));
    if (w->opts->fixed_loss) {
        p->loss = w->opts->loss;
        return;
    }
    p->loss = chance(w, 0.2) ? 0.0 : unit(w) * 0.10;
    p->duplicate = chance(w, 0.5) ? 0.0 : unit(w) * 0.05;
    if (chance(w, 0.5)) {
        p->reorder = unit(w) * 0.20;
        p->reorder_us = SF_MS(1) + below(w, (uint32_t)(2 * p->delay));
    }
    p->corrupt = chance(w, 0.8) ? 0.0 : unit(w) * 0.01;
    if (chance(w, 0.15)) {
        /* A bottleneck with a tail-drop queue: losses come in bursts. The queue holds
         * several jumbo segments, or those could never pass. */
        p->rate = 100000 + below(w, 4900000);
        p->queue_limit = 65536 + below(w, 196608);
    }
}

static void draw_config(struct sw_world *w)
{
    struct sf_tcp_config *cfg = &w->cfg;
    static const uint32_t delack[] = {1, 40, 40, 200};
    static const uint32_t iw[] = {1, 2, 4, 10, 10};
    sf_tcp_config_defaults(cfg);
    cfg->mss = 8960; /* the ceiling for each connection's own MSS (SF_OPT_MAXSEG) */
    cfg->time_wait_ms = 500 + below(w, 4500);
    cfg->timestamps = !chance(w, 0.2);
    cfg->sack = !chance(w, 0.2);
    cfg->window_scaling = !chance(w, 0.15);
    /* Mostly Linux's shift; sometimes one whose unit is near or above a small buffer. */
    static const uint32_t shifts[] = {7, 7, 7, 0, 2, 10, 14};
    cfg->wscale = shifts[below(w, sizeof shifts / sizeof shifts[0])];
    /* Some worlds have readers that pause for minutes: peers probe a closed window all that
     * time (RFC 1122 §4.2.2.17), and ends that closed first wait out the pause in
     * FIN-WAIT-2. */
    w->long_stalls = chance(w, 0.1);
    if (w->opts->fixed_loss) {
        /* The experiment: the engine's defaults, nothing but loss and buffers. */
        cfg->timestamps = cfg->sack = cfg->window_scaling = 1;
        cfg->wscale = 7;
        cfg->delack_ms = 40;
        cfg->initcwnd = 10;
        w->long_stalls = 0;
    }
    if (w->long_stalls)
        cfg->fin_wait2_timeout_ms = 1800000;
    cfg->delack_ms = delack[below(w, 4)];
    cfg->initcwnd = iw[below(w, 5)];
    cfg->keepalive_time = 20;
    cfg->keepalive_intvl = 5;
    cfg->keepalive_probes = 5;
}

static void draw_reader(struct sw_world *w, struct sw_side *s)
{
    uint32_t u = below(w, 4);
    s->mode = u < 2 ? RD_EAGER : u == 2 ? RD_STALL : RD_TRICKLE;
    if (s->mode == RD_STALL || chance(w, 0.2)) {
        s->stalls_left = 1 + (int)below(w, 3);
        s->stall_at = s->rx_len ? below(w, (uint32_t)s->rx_len + 1) : 0;
        s->stall_ms = 20 + below(w, 3000);
        if (w->long_stalls && chance(w, 0.3)) {
            /* Long enough for retries2 probes at the 120 s ceiling; once only. */
            s->stalls_left = 1;
            s->stall_ms = 60000 + below(w, 1140000);
        }
    }
    s->chunk = 100 + below(w, 4000);
    s->period_ms = 1 + below(w, 40);
}

static void draw_conn(struct sw_world *w, struct sw_conn *k)
{
    k->who = (int)below(w, 2);
    k->abort_linger = (int)below(w, 2);
    for (int d = 0; d < 2; d++)
        k->len[d] = chance(w, 0.1) ? 0 : log_uniform(w, MAX_BYTES);
    size_t rx_of_who = k->len[!k->who];
    if (k->path == SW_UNREAD_CLOSE) {
        if (rx_of_who == 0)
            k->len[!k->who] = rx_of_who = 1 + below(w, 5000); /* something must stay unread */
        k->abort_at = below(w, (uint32_t)rx_of_who);
    } else {
        k->abort_at = below(w, (uint32_t)rx_of_who + 1);
    }
    k->listener = (int)below(w, (uint32_t)w->nlisteners);
    k->chost = 1 + (int)below(w, SW_CLIENT_HOSTS);
    k->start = SF_MS(1 + below(w, 2000));
    for (int d = 0; d < 2; d++) {
        struct sw_side *s = &k->s[d];
        s->k = k;
        s->server = d;
        s->host = &w->hosts[d ? 0 : k->chost];
        s->tx_len = k->path == SW_HALF_CLOSE && d != k->who ? 0 : k->len[d];
        s->rx_len = k->len[!d];
        s->sndbuf = draw_buf(w);
        s->nodelay = (int)below(w, 2);
        draw_reader(w, s);
    }
    k->s[0].rcvbuf = w->opts->rcvbuf ? w->opts->rcvbuf : draw_buf(w);
    k->s[0].mss = w->opts->rcvbuf ? 1460 : draw_mss(w);
    k->s[1].rcvbuf = w->l_rcvbuf[k->listener];
    k->s[1].mss = w->l_mss[k->listener];
    k->s[0].wake_at = k->start;
    host_add_side(k->s[0].host, &k->s[0]);
}

/* Paths are dealt, not drawn: every path gets its share of every world. */
static void deal_paths(struct sw_world *w)
{
    for (int i = 0; i < w->nconns; i++)
        w->conns[i].path = (enum sweep_path)(i % SW_PATH_COUNT);
    for (int i = w->nconns - 1; i > 0; i--) {
        int j = (int)below(w, (uint32_t)i + 1);
        enum sweep_path t = w->conns[i].path;
        w->conns[i].path = w->conns[j].path;
        w->conns[j].path = t;
    }
}

static void add_hosts(struct sw_world *w)
{
    static const struct sf_sim_host_ops ops = {host_deliver, host_advance, host_deadline};
    for (int i = 0; i <= SW_CLIENT_HOSTS; i++) {
        struct sw_host *h = &w->hosts[i];
        h->w = w;
        h->index = i;
        h->addr[0] = 10;
        h->addr[3] = (uint8_t)(i ? i : 100);
        struct sf_engine_params p;
        memset(&p, 0, sizeof p);
        p.config = &w->cfg;
        p.ops.output = host_output;
        p.ops.transition = host_transition;
        p.ctx = h;
        for (int b = 0; b < 32; b++)
            p.key[b] = (uint8_t)next_rand(w);
        p.local_addr = sf_addr_v4(10, 0, 0, h->addr[3]);
        h->e = sf_engine_new(&p);
        h->h = h->e ? sf_sim_host_add(w->sim, h->addr, &ops, h) : NULL;
    }
    for (int i = 1; i <= SW_CLIENT_HOSTS; i++) {
        draw_link(w, &w->up[i]);
        draw_link(w, &w->down[i]);
        sf_sim_link_set(w->sim, w->hosts[i].h, w->hosts[0].h, &w->up[i]);
        sf_sim_link_set(w->sim, w->hosts[0].h, w->hosts[i].h, &w->down[i]);
    }
}

static void add_listeners(struct sw_world *w)
{
    /* Accepted connections inherit their listener's receive buffer and MSS (the SYN-ACK
     * promises them), so the server's sizes vary by listener. */
    w->nlisteners = 1 + (int)below(w, SW_MAX_LISTEN);
    for (int i = 0; i < w->nlisteners; i++) {
        w->l_rcvbuf[i] = w->opts->rcvbuf ? w->opts->rcvbuf : draw_buf(w);
        w->l_mss[i] = w->opts->rcvbuf ? 1460 : draw_mss(w);
        struct sf_conn *l = sf_socket(w->hosts[0].e);
        w->listeners[i] = l;
        if (!l)
            continue;
        sf_setopt(l, SF_OPT_RCVBUF, (long)w->l_rcvbuf[i]);
        sf_setopt(l, SF_OPT_MAXSEG, (long)w->l_mss[i]);
        struct sf_endpoint ep = {.addr = sf_addr_v4(10, 0, 0, 100),
                                 .port = (uint16_t)(SW_PORT_BASE + i)};
        sf_bind(l, &ep);
        sf_listen(l, 1024);
        sf_set_handler(l, on_accept, w);
    }
}

void sw_world_build(struct sw_world *w, uint64_t seed, const struct sweep_opts *opts)
{
    memset(w, 0, sizeof *w);
    w->seed = seed;
    w->rng = seed ^ 0x5eed5eed5eed5eedULL;
    w->opts = opts;
    w->sim = sf_sim_new(next_rand(w));
    if (!w->sim)
        return;
    if (opts->pcap) {
        w->pcap = sf_pcap_open(opts->pcap);
        sf_sim_set_capture(w->sim, w->pcap, w->pcap);
    }
    draw_config(w);
    add_hosts(w);
    add_listeners(w);
    w->nconns = opts->nconns ? (int)opts->nconns : 24 + (int)below(w, 25);
    if (w->nconns > SW_MAX_CONNS)
        w->nconns = SW_MAX_CONNS;
    deal_paths(w);
    for (int i = 0; i < w->nconns; i++) {
        w->conns[i].idx = i;
        draw_conn(w, &w->conns[i]);
    }
}

void sw_world_free(struct sw_world *w)
{
    for (int i = 0; i <= SW_CLIENT_HOSTS; i++)
        sf_engine_free(w->hosts[i].e);
    sf_sim_free(w->sim);
    sf_pcap_close(w->pcap);
}

int sw_all_ended(void *ctx)
{
    const struct sw_world *w = ctx;
    return w->nstarted == w->nconns && w->nclosed == w->nactive;
}

const char *sweep_path_name(enum sweep_path p)
{
    static const char *const names[SW_PATH_COUNT] = {
        "client-first", "server-first", "simultaneous", "half-close", "abort", "unread-close",
    };
    return p < SW_PATH_COUNT ? names[p] : "?";
}
