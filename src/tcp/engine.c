/* The engine: creation, the packet and timer entry points, event delivery, object pools, and
 * the end of a connection's life.
 *
 * Run to completion: every entry point (a packet, a timer advance, an owner's call) runs to
 * its last effect, and only then are events handed to owners, in the order they arose. A
 * connection that ends is freed at that point too, never while code below may still hold it.
 * Owners' handlers may call back into the API; those nested calls do their work at once and
 * leave delivery and freeing to the outermost call. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcp/internal.h"
#include "tcp/seq.h"
#include "tcp/tw_input.h"

#define SLAB_OBJS 64
/* Free buffers kept for reuse, all classes together; more go back to malloc. Enough for a
 * burst of a few hundred busy connections without holding much once they go idle. */
#define BUF_CACHE_BYTES (32u << 20)
#define TXCAP           65536

struct sf_slab {
    struct sf_slab *next;
    struct sf_conn objs[SLAB_OBJS];
};

/* ---- pools ---------------------------------------------------------------------------- */

struct sf_conn *conn_alloc(struct sf_engine *e)
{
    struct sf_pool *p = &e->conn_pool;
    if (!p->free) {
        struct sf_slab *s = malloc(sizeof *s);
        if (!s)
            return NULL;
        memset(s, 0, sizeof *s);
        s->next = p->slabs;
        p->slabs = s;
        for (int i = SLAB_OBJS - 1; i >= 0; i--) {
            s->objs[i].hnext = p->free;
            p->free = &s->objs[i];
        }
    }
    struct sf_conn *c = p->free;
    p->free = c->hnext;
    memset(c, 0, sizeof *c);
    p->live++;

    c->e = e;
    c->id = e->next_id++;
    c->state = SF_CLOSED;
    e->st.states[SF_CLOSED]++;
    c->linger = -1;
    c->rcv.seen_mss = 536;
    c->snd.mss = 536;
    c->created = e->now;
    conn_use_profile(c, &e->def);
    return c;
}

void conn_use_profile(struct sf_conn *c, struct sf_profile *p)
{
    const struct sf_tcp_config *cfg = &p->cfg;
    p->refs++;
    if (c->prof)
        profile_put(c->prof);
    c->prof = p;
    c->keepidle_s = cfg->keepalive_time;
    c->keepintvl_s = cfg->keepalive_intvl;
    c->keepcnt = cfg->keepalive_probes;
    c->user_timeout_ms = cfg->user_timeout_ms;
    c->time_wait_ms = cfg->time_wait_ms;
    c->rcvbuf_size = cfg->rcvbuf;
    c->sndbuf_size = cfg->sndbuf;
    c->rcv.mss = (uint16_t)cfg->mss;
    c->rcv.wscale = offered_wscale(cfg, cfg->rcvbuf);
    c->snd.rto = cfg->rto_initial_ms * 1000u;
    c->flags &= ~(uint32_t)(F_NODELAY | F_KEEPALIVE);
    if (cfg->nodelay)
        c->flags |= F_NODELAY;
    if (cfg->keepalive)
        c->flags |= F_KEEPALIVE;
}

void profile_put(struct sf_profile *p)
{
    if (--p->refs == 0 && !p->engine_default)
        free(p);
}

struct sf_profile *sf_profile_new(struct sf_engine *e, const struct sf_tcp_config *cfg, char *err,
                                  size_t errlen)
{
    if (sf_tcp_config_check(cfg, err, errlen) < 0)
        return NULL;
    struct sf_profile *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->cfg = *cfg;
    p->e = e;
    p->refs = 1;
    return p;
}

void sf_profile_release(struct sf_profile *p)
{
    if (p)
        profile_put(p);
}

const struct sf_tcp_config *sf_profile_config(const struct sf_profile *p)
{
    return &p->cfg;
}

/* The window scale we offer for a receive buffer: the configured shift, but none whose unit
 * exceeds half the buffer. The window field counts whole units, so a buffer under one unit
 * could offer nothing but zero once the peer had filled the window to its edge, and the
 * window never opened again (wscale 14 with buffers under 16 KB). Linux derives its shift
 * from the buffer likewise; the default (7, 128-byte units) fits every buffer allowed. */
uint8_t offered_wscale(const struct sf_tcp_config *cfg, uint32_t rcvbuf)
{
    if (!cfg->window_scaling)
        return 0;
    uint8_t s = (uint8_t)cfg->wscale;
    while (s > 0 && (1u << s) > rcvbuf / 2)
        s--;
    return s;
}

static void conn_free_memory(struct sf_engine *e, struct sf_conn *c)
{
    e->st.states[c->state]--;
    profile_put(c->prof);
    c->prof = NULL;
    c->e = NULL;
    c->hnext = e->conn_pool.free;
    e->conn_pool.free = c;
    e->conn_pool.live--;
}

int pool_any(struct sf_engine *e, int (*pred)(const struct sf_conn *, const void *),
             const void *arg)
{
    for (struct sf_slab *s = e->conn_pool.slabs; s; s = s->next)
        for (int i = 0; i < SLAB_OBJS; i++)
            if (s->objs[i].e == e && pred(&s->objs[i], arg))
                return 1; /* free objects have no engine */
    return 0;
}

/* Buffers of one size come from a free list of that size: connections of one engine mostly
 * share their buffer sizes, so a handful of classes covers them. */
void *buf_alloc(struct sf_engine *e, uint32_t size)
{
    for (int i = 0; i < SF_BUFCLASSES; i++) {
        if (e->bufclass[i].size == size && e->bufclass[i].free) {
            void *p = e->bufclass[i].free;
            memcpy(&e->bufclass[i].free, p, sizeof(void *));
            e->bufclass[i].nfree--;
            e->buf_cached -= size;
            e->st.bufs_live++;
            return p;
        }
    }
    void *p = malloc(size);
    if (p)
        e->st.bufs_live++;
    return p;
}

void buf_free(struct sf_engine *e, void *p, uint32_t size)
{
    if (!p)
        return;
    e->st.bufs_live--;
    int slot = -1;
    for (int i = 0; i < SF_BUFCLASSES; i++) {
        if (e->bufclass[i].size == size) {
            slot = i;
            break;
        }
        if (slot < 0 && e->bufclass[i].size == 0)
            slot = i;
    }
    if (slot < 0 || e->buf_cached + size > BUF_CACHE_BYTES) {
        free(p);
        return;
    }
    e->buf_cached += size;
    e->bufclass[slot].size = size;
    memcpy(p, &e->bufclass[slot].free, sizeof(void *));
    e->bufclass[slot].free = p;
    e->bufclass[slot].nfree++;
}

int conn_ensure_sndbuf(struct sf_conn *c)
{
    if (c->snd.buf)
        return 0;
    uint32_t size = (uint32_t)sizeof(struct sf_sndbuf) + c->sndbuf_size;
    struct sf_sndbuf *b = buf_alloc(c->e, size);
    if (!b) {
        c->e->st.alloc_fails++;
        return -ENOMEM;
    }
    b->cap = c->sndbuf_size;
    b->head = b->len = 0;
    c->snd.buf = b;
    return 0;
}

int conn_ensure_rcvbuf(struct sf_conn *c)
{
    if (c->rcv.buf)
        return 0;
    uint32_t size = (uint32_t)sizeof(struct sf_rcvbuf) + c->rcvbuf_size;
    struct sf_rcvbuf *b = buf_alloc(c->e, size);
    if (!b) {
        c->e->st.alloc_fails++;
        return -ENOMEM;
    }
    memset(b, 0, sizeof *b);
    b->cap = c->rcvbuf_size;
    c->rcv.buf = b;
    return 0;
}

/* An idle connection holds no buffer: one whose bytes are all acknowledged (send) or all
 * read (receive, no out-of-order data) goes back to the pool, and comes again with the next
 * byte. What a connection costs while nothing moves is its struct alone. */
void conn_trim_buffers(struct sf_conn *c)
{
    if (c->snd.buf && c->snd.buf->len == 0) {
        buf_free(c->e, c->snd.buf, (uint32_t)sizeof(struct sf_sndbuf) + c->snd.buf->cap);
        c->snd.buf = NULL;
    }
    if (c->rcv.buf && c->rcv.buf->len == 0 && c->rcv.buf->nblk == 0) {
        buf_free(c->e, c->rcv.buf, (uint32_t)sizeof(struct sf_rcvbuf) + c->rcv.buf->cap);
        c->rcv.buf = NULL;
    }
}

static void free_sndbuf(struct sf_conn *c)
{
    if (c->snd.buf) {
        buf_free(c->e, c->snd.buf, (uint32_t)sizeof(struct sf_sndbuf) + c->snd.buf->cap);
        c->snd.buf = NULL;
    }
}

static void free_rcvbuf(struct sf_conn *c)
{
    if (c->rcv.buf) {
        buf_free(c->e, c->rcv.buf, (uint32_t)sizeof(struct sf_rcvbuf) + c->rcv.buf->cap);
        c->rcv.buf = NULL;
    }
}

uint32_t port_ref(struct sf_engine *e, uint16_t port, int delta)
{
    e->port_refs[port] = (uint32_t)((int64_t)e->port_refs[port] + delta);
    return e->port_refs[port];
}

void engine_output(struct sf_engine *e, const void *pkt, size_t len)
{
    e->ops.output(e->ctx, pkt, len);
}

/* ---- events and deferred frees ----------------------------------------------------------- */

void conn_event(struct sf_conn *c, unsigned ev)
{
    if (!(c->flags & F_OWNED) || !c->handler)
        return;
    struct sf_engine *e = c->e;
    if (!c->ev_pending) {
        c->ev_next = NULL;
        if (e->ev_tail)
            e->ev_tail->ev_next = c;
        else
            e->ev_head = c;
        e->ev_tail = c;
    }
    c->ev_pending |= ev;
}

void engine_enter(struct sf_engine *e, sf_time_t now)
{
    if (e->depth++ == 0 && now > e->now)
        e->now = now; /* the clock never goes back */
}

void engine_leave(struct sf_engine *e)
{
    if (e->depth > 1) {
        e->depth--;
        return;
    }
    /* Handlers run with depth still 1, so their calls into the engine do not recurse here;
     * the events they cause join the end of the list. */
    while (e->ev_head) {
        struct sf_conn *c = e->ev_head;
        e->ev_head = c->ev_next;
        if (!e->ev_head)
            e->ev_tail = NULL;
        unsigned ev = c->ev_pending;
        c->ev_pending = 0;
        if ((c->flags & F_OWNED) && c->handler && ev)
            c->handler(c, ev, c->user);
    }
    while (e->dead) {
        struct sf_conn *c = e->dead;
        e->dead = c->ev_next;
        conn_free_memory(e, c);
    }
    e->depth = 0;
}

/* ---- the end of a connection ----------------------------------------------------------- */

void conn_destroy(struct sf_conn *c)
{
    struct sf_engine *e = c->e;
    /* Over before it was accepted (reset, or timed out): as Linux, it stays on the accept
     * queue, CLOSED with its error and what it received, so that accept() still hands the
     * application the data the peer was told had arrived (a Fast Open child's SYN data, or
     * data after the handshake), then the error. The listener's close frees it. */
    int queued = (c->flags & F_IN_ACCEPTQ) && c->parent && c->parent->state == SF_LISTEN;
    table_remove(e, c);
    listener_remove(e, c);
    timers_clear_all(c);
    if (queued)
        fastopen_settle(c, 1); /* no longer pending for the listener's Fast Open queue */
    else
        listen_unlink(c);
    if (c->listen) {
        free(c->listen);
        c->listen = NULL;
    }
    if (c->flags & F_BOUND) {
        port_ref(e, c->t.lport, -1);
        c->flags &= ~(uint32_t)F_BOUND;
    }
    free_sndbuf(c);
    /* An owner still holding the handle (or to be handed it) may read what arrived. */
    int held = (c->flags & F_OWNED) || queued;
    if (!held || !c->rcv.buf || c->rcv.buf->len == 0)
        free_rcvbuf(c);
    if (!held && !(c->flags & F_DEAD)) {
        c->flags |= F_DEAD;
        c->ev_pending = 0; /* a queued event is skipped: F_OWNED is off */
        c->ev_next = e->dead;
        e->dead = c;
    }
}

void conn_set_error(struct sf_conn *c, int err)
{
    c->err = err;
}

void conn_closed(struct sf_conn *c, enum sf_cause cause)
{
    set_state(c, SF_CLOSED, cause);
    conn_event(c, SF_EV_CLOSED);
    conn_destroy(c);
}

void conn_abort(struct sf_conn *c, int err, enum sf_cause cause, int send_rst)
{
    if (send_rst && c->state != SF_SYN_SENT && c->state != SF_LISTEN && c->state != SF_CLOSED)
        send_rst_conn(c);
    if (err)
        c->err = err;
    conn_event(c, SF_EV_RESET | SF_EV_READABLE);
    conn_closed(c, cause);
}

void enter_time_wait(struct sf_conn *c, enum sf_cause cause)
{
    struct sf_engine *e = c->e;
    set_state(c, SF_TIME_WAIT, cause);
    if (c->time_wait_ms == 0 || tw_enter(c) < 0) {
        /* No TIME-WAIT at all (time_wait_ms 0, max_tw 0) or no memory for the entry. */
        if (c->time_wait_ms)
            e->st.tw_overflow++;
        report_transition(e, c->id, c, &c->t, SF_TIME_WAIT, SF_CLOSED,
                          c->time_wait_ms ? SF_CAUSE_TW_OVERFLOW : SF_CAUSE_TIME_WAIT_TIMEOUT);
    }
    /* The entry carries on; the handle, if still held, reads CLOSED from now on, as a Linux
     * socket does once its TIME-WAIT is a separate object. */
    c->flags |= F_TW_HANDOFF;
    c->state = SF_CLOSED;
    e->st.states[SF_CLOSED]++;
    conn_event(c, SF_EV_CLOSED);
    conn_destroy(c);
}

/* ---- the engine ----------------------------------------------------------------------- */

static struct sf_sipkey key_from(const uint8_t *k)
{
    struct sf_sipkey s = {0, 0};
    for (int i = 7; i >= 0; i--) {
        s.k0 = (s.k0 << 8) | k[i];
        s.k1 = (s.k1 << 8) | k[8 + i];
    }
    return s;
}

static struct sf_sipkey derive(const struct sf_sipkey *base, const char *label)
{
    struct sf_sipkey k;
    k.k0 = sf_siphash(base, label, strlen(label));
    k.k1 = sf_siphash(base, &k.k0, sizeof k.k0);
    return k;
}

struct sf_engine *sf_engine_new(const struct sf_engine_params *p)
{
    struct sf_tcp_config cfg;
    if (p->config)
        cfg = *p->config;
    else
        sf_tcp_config_defaults(&cfg);
    char err[128];
    if (sf_tcp_config_check(&cfg, err, sizeof err) < 0 || !p->ops.output)
        return NULL;

    struct sf_engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->cfg = cfg;
    e->def.cfg = cfg;
    e->def.e = e;
    e->def.engine_default = 1;
    e->ops = p->ops;
    e->ctx = p->ctx;
    e->local_addr = p->local_addr;
    e->local_addr6 = p->local_addr6;
    e->tx_csum_partial = p->tx_csum_partial;
    e->now = e->epoch = p->now;
    e->key_table = key_from(p->key);
    e->key_isn = key_from(p->key + 16);
    e->key_cookie = derive(&e->key_isn, "synfin syncookie");
    e->key_ts = derive(&e->key_table, "synfin timestamps");
    e->key_tfo = derive(&e->key_isn, "synfin fastopen");
    if (cfg.fastopen_key_set) {
        uint8_t k[16];
        for (int i = 0; i < 16; i++) /* each word little-endian, as Linux stores it */
            k[i] = (uint8_t)(cfg.fastopen_key[i / 4] >> (8 * (i % 4)));
        sf_engine_set_fastopen_key(e, k);
    }
    e->next_id = 1;
    e->next_ephemeral = (uint32_t)sf_siphash(&e->key_table, "ports", 5);
    e->steer_n = p->port_steer_n > 1 ? p->port_steer_n : 1;
    e->steer_index = p->port_steer_index % e->steer_n;
    sf_wheel_init(&e->wheel, p->now / 1000u);
    e->txcap = TXCAP;
    e->txbuf = malloc(TXCAP);
    e->port_refs = calloc(65536, sizeof *e->port_refs);
    if (!e->txbuf || !e->port_refs || table_init(&e->table, 256) < 0 ||
        tw_init(&e->tw, &e->key_table) < 0) {
        free(e->txbuf);
        free(e->port_refs);
        table_free(&e->table);
        tw_destroy(&e->tw);
        free(e);
        return NULL;
    }
    return e;
}

void sf_engine_free(struct sf_engine *e)
{
    if (!e)
        return;
    for (struct sf_slab *s = e->conn_pool.slabs; s;) {
        for (int i = 0; i < SLAB_OBJS; i++) {
            struct sf_conn *c = &s->objs[i];
            if (c->e) {
                profile_put(c->prof); /* a profile its owner released goes with the last */
                free(c->listen);
                if (c->snd.buf)
                    free(c->snd.buf);
                if (c->rcv.buf)
                    free(c->rcv.buf);
            }
        }
        struct sf_slab *next = s->next;
        free(s);
        s = next;
    }
    for (int i = 0; i < SF_BUFCLASSES; i++) {
        void *p = e->bufclass[i].free;
        while (p) {
            void *next;
            memcpy(&next, p, sizeof next);
            free(p);
            p = next;
        }
    }
    tw_destroy(&e->tw);
    table_free(&e->table);
    fastopen_cache_free(e);
    free(e->port_refs);
    free(e->txbuf);
    free(e);
}

const struct sf_tcp_config *sf_engine_config(const struct sf_engine *e)
{
    return &e->cfg;
}

static void run_timers(struct sf_engine *e)
{
    sf_wheel_advance(&e->wheel, e->now / 1000u, timer_fire, e);
    tw_expire(e);
}

int sf_engine_input(struct sf_engine *e, const void *pkt, size_t len, sf_time_t now)
{
    return sf_engine_input_flags(e, pkt, len, now, 0);
}

int sf_engine_input_flags(struct sf_engine *e, const void *pkt, size_t len, sf_time_t now,
                          unsigned flags)
{
    engine_enter(e, now);
    run_timers(e);
    struct sf_seg s;
    int rc = 0;
    switch (sf_seg_parse_flags(pkt, len, &s, flags)) {
    case SEG_OK:
        e->st.segs_in++;
        input_segment(e, &s);
        break;
    case SEG_MALFORMED:
        e->st.in_malformed++;
        rc = -EINVAL;
        break;
    case SEG_BAD_CSUM:
        e->st.in_bad_csum++;
        rc = -EBADMSG;
        break;
    case SEG_NOT_TCP:
        rc = icmp_input(e, pkt, len);
        if (rc == -EPROTONOSUPPORT || rc == -EINVAL)
            e->st.in_not_tcp++;
        break;
    case SEG_FRAGMENT:
        e->st.in_fragments++;
        rc = -EINVAL;
        break;
    }
    engine_leave(e);
    return rc;
}

void sf_engine_advance(struct sf_engine *e, sf_time_t now)
{
    engine_enter(e, now);
    run_timers(e);
    engine_leave(e);
}

sf_time_t sf_engine_next_deadline(const struct sf_engine *e)
{
    sf_time_t best = SF_TIME_NEVER;
    uint64_t tick = sf_wheel_next(&e->wheel);
    if (tick != UINT64_MAX)
        best = tick * 1000u;
    uint32_t first = tw_first(&e->tw);
    if (first) {
        uint64_t now_ms = (e->now - e->epoch) / 1000u;
        int32_t left = (int32_t)(tw_get(&e->tw, first)->expire_ms - (uint32_t)now_ms);
        sf_time_t t = e->epoch + (now_ms + (uint64_t)(left > 0 ? left : 0)) * 1000u;
        if (t < best)
            best = t;
    }
    return best;
}

void sf_engine_stats(const struct sf_engine *e, struct sf_engine_stats *out)
{
    *out = e->st;
    out->conns_live = e->conn_pool.live;
    out->tw_live = e->tw.count;
    out->tw_memory = tw_memory(&e->tw);

    uint64_t buffered = 0;
    for (const struct sf_slab *s = e->conn_pool.slabs; s; s = s->next)
        for (int i = 0; i < SLAB_OBJS; i++) {
            const struct sf_conn *c = &s->objs[i];
            if (!c->e)
                continue;
            buffered += c->snd.buf ? c->snd.buf->len : 0;
            buffered += c->rcv.buf ? c->rcv.buf->len : 0;
        }
    out->bytes_buffered = buffered;
}

size_t sf_conn_size(void)
{
    return sizeof(struct sf_conn);
}

size_t sf_tw_entry_size(void)
{
    return sizeof(struct sf_tw);
}
