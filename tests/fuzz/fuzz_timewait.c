/* Fuzz target: the TIME-WAIT input (src/tcp/tw_input.c, timewait.c).
 *
 * The input decodes to settings, one to four connections taken through an orderly close in
 * which the engine closes first (so that the engine holds the TIME-WAIT entry; the peer's
 * FIN alone, with it, or after, to reach CLOSING too), then steps aimed at those entries:
 * retransmitted FINs, SYNs that may reopen the 4-tuple (newer or older timestamps and
 * sequence numbers), RSTs, data, ACKs, clock steps, connects from the same port
 * (tw_reuse) and anything the engine harness does.
 *
 * Beyond peer.h's invariants: whatever a TIME-WAIT entry sends is a bare ACK of the peer's
 * FIN at our final sequence number; a reopened 4-tuple's ISN lies beyond the old sequence
 * space; with rfc1337 an RST never ends an entry; an entry never expires before
 * time_wait_ms; and there are never more entries than max_tw. */
#include <string.h>

#include "fuzz.h"
#include "peer.h"
#include "tcp/seq.h"

/* A slot's TIME-WAIT entry as seen from outside: what it answered first (every later answer
 * must be the same), and whether it was just reopened. */
struct tw_view {
    int in_tw, known, reopened;
    uint64_t id;
    uint32_t snd_nxt, rcv_nxt, old_snd_nxt;
    sf_time_t since;
    long tw_ms; /* the connection's SF_OPT_TIME_WAIT_MS, as last read through its handle */
};

static struct tw_view views[FP_SLOTS];

static int slot_index(struct fp *f, uint16_t eport, uint16_t pport)
{
    struct fp_slot *s = fp_slot_for(f, eport, pport);
    return s ? (int)(s - f->s) : -1;
}

static void on_trans(struct fp *f, const struct sf_transition *t)
{
    int i = slot_index(f, t->local.port, t->remote.port);
    if (t->to == SF_TIME_WAIT && i >= 0) {
        long tw_ms = views[i].tw_ms;
        memset(&views[i], 0, sizeof views[i]);
        views[i].tw_ms = tw_ms;
        views[i].in_tw = 1;
        views[i].id = t->id;
        views[i].since = t->when;
        views[i].old_snd_nxt = f->s[i].e_max; /* our FIN was sent: nothing lies beyond */
    }
    if (t->from != SF_TIME_WAIT)
        return;
    FZ_CHECK(!(t->cause == SF_CAUSE_RST && f->cfg.rfc1337), "an RST ended TIME-WAIT with rfc1337");
    if (t->cause == SF_CAUSE_TIME_WAIT_TIMEOUT && i >= 0 && views[i].id == t->id)
        FZ_CHECK(t->when + SF_MS(1) >= views[i].since + SF_MS((uint64_t)views[i].tw_ms),
                 "TIME-WAIT of id %llu ended after %llu us, its time_wait_ms is %ld",
                 (unsigned long long)t->id, (unsigned long long)(t->when - views[i].since),
                 views[i].tw_ms);
    if (i >= 0 && views[i].id == t->id) {
        views[i].in_tw = 0;
        views[i].reopened = t->cause == SF_CAUSE_TW_REOPEN;
    }
}

static void on_seg(struct fp *f, const struct sf_seg *g)
{
    int i = slot_index(f, g->t.rport, g->t.lport);
    if (i < 0)
        return;
    struct tw_view *v = &views[i];
    if (v->reopened && (g->flags & TH_SYN)) {
        /* The SYN-ACK of a reopen: above the old connection's sequence space. */
        FZ_CHECK(seq_gt(g->seq, v->old_snd_nxt), "reopened with ISN %u, the old SND.NXT was %u",
                 g->seq, v->old_snd_nxt);
        v->reopened = 0;
    }
    if (!v->in_tw)
        return;
    FZ_CHECK(g->flags == TH_ACK && g->len == 0, "TIME-WAIT sent flags 0x%02x, %u bytes", g->flags,
             g->len);
    FZ_CHECK(g->seq == v->old_snd_nxt, "TIME-WAIT sent seq %u, our FIN ended at %u", g->seq,
             v->old_snd_nxt);
    if (!v->known) {
        v->known = 1;
        v->snd_nxt = g->seq;
        v->rcv_nxt = g->ack;
    }
    FZ_CHECK(g->seq == v->snd_nxt && g->ack == v->rcv_nxt,
             "TIME-WAIT sent seq %u ack %u, earlier seq %u ack %u", g->seq, g->ack, v->snd_nxt,
             v->rcv_nxt);
}

/* The engine closes first; the peer's ACK and FIN follow as the input says. */
static void close_first(struct fp *f, int i, uint8_t how)
{
    struct fp_slot *s = &f->s[i];
    if (!s->h)
        return;
    if (how & 1)
        sf_shutdown(s->h, SF_SHUT_WR);
    else {
        sf_close(s->h);
        s->h = NULL;
    }
    switch ((how >> 1) & 3) {
    case 0: /* FIN acknowledged, then the peer's FIN: FIN-WAIT-2 on the way */
        fp_send_next(f, i, 0, 0);
        fp_send_next(f, i, TH_FIN, 0);
        break;
    case 1: /* the peer's FIN carries the ACK of ours */ fp_send_next(f, i, TH_FIN, 0); break;
    case 2: { /* simultaneous: the peer's FIN before it saw ours, then the ACK: CLOSING */
        uint32_t max = s->e_max;
        s->e_max -= 1;
        fp_send_next(f, i, TH_FIN, 0);
        s->e_max = max;
        fp_send_next(f, i, 0, 0);
        break;
    }
    default: /* data from the peer with its FIN */
        fp_send_next(f, i, TH_FIN | TH_PSH, (how >> 3) * 16u);
        break;
    }
}

/* A segment aimed at slot i's TIME-WAIT entry. */
static void poke(struct fp *f, struct fz_in *in, int i)
{
    struct fp_slot *s = &f->s[i];
    if (!s->used)
        return;
    uint8_t b = fz_u8(in);
    int8_t d = (int8_t)fz_u8(in);
    struct sf_tcp_opts o;
    memset(&o, 0, sizeof o);
    if (s->p_tsopt && !(b & 0x80)) {
        o.has = OPT_TS;
        o.tsval = s->p_ts + (uint32_t)((f->now - f->start) / 1000u) + (uint32_t)(int32_t)d;
        o.tsecr = s->e_tsval;
    }
    uint32_t rn = s->p_nxt, dseq = (b & 0x40) ? (uint32_t)(int32_t)d * 1000u : (uint32_t)(int32_t)d;
    uint16_t wnd = 65535;
    switch (b & 7) {
    case 0: fp_send(f, i, TH_FIN | TH_ACK, rn - 1, s->e_max, wnd, &o, 0); break;
    case 1: /* a new SYN: reopens when newer, by timestamp or sequence number */
        o.has |= OPT_MSS;
        o.mss = 1460;
        fp_send(f, i, TH_SYN, rn + dseq, 0, wnd, &o, 0);
        break;
    case 2: fp_send(f, i, TH_RST, rn + ((b & 8) ? dseq : 0), 0, 0, NULL, 0); break;
    case 3: fp_send(f, i, TH_RST | TH_ACK, rn + dseq, s->e_max, 0, &o, 0); break;
    case 4: fp_send(f, i, TH_ACK | TH_PSH, rn + dseq, s->e_max, wnd, &o, (b >> 3) & 7); break;
    case 5: fp_send(f, i, TH_ACK, rn + dseq, s->e_max + ((b & 8) ? 1u : 0u), wnd, &o, 0); break;
    case 6: fp_send(f, i, TH_SYN | TH_ACK, rn + dseq, s->e_max, wnd, &o, 0); break;
    default: fp_send(f, i, TH_FIN | TH_ACK, rn + dseq, s->e_max, wnd, &o, 0); break;
    }
    if (b & 0x20)
        fp_accept(f); /* a reopened connection reaches the owner */
}

/* The owner may set a connection's own TIME-WAIT duration (SF_OPT_TIME_WAIT_MS) at any step;
 * read outside the engine's callbacks, which may not call into it. */
static void track_tw_ms(struct fp *f)
{
    for (int i = 0; i < FP_SLOTS; i++) {
        long v;
        if (!f->s[i].h || views[i].in_tw)
            continue; /* the handle outlives the connection: a later setopt changes nothing */
        if (sf_getopt(f->s[i].h, SF_OPT_TIME_WAIT_MS, &v) == 0)
            views[i].tw_ms = v;
    }
}

static void step(struct fp *f, struct fz_in *in)
{
    uint8_t op = fz_u8(in);
    int slot = (op >> 4) & (FP_SLOTS - 1);
    switch (op & 7) {
    case 0:
    case 1:
    case 2: poke(f, in, slot); break;
    case 3: fp_clock(f, in); break;
    case 4:
        memset(&views[slot], 0, sizeof views[slot]);
        fp_open(f, in, slot, op >> 6 & 1, 1);
        track_tw_ms(f);
        break;
    case 5: fp_segment(f, in, slot); break;
    case 6: close_first(f, slot, fz_u8(in)); break;
    default: fp_owner(f, in, slot, (op >> 6) + 2 * ((op >> 3) & 1)); break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = {data, size};
    struct sf_tcp_config cfg;
    fp_config(&cfg, &in);
    uint8_t b = fz_u8(&in);
    /* TIME-WAIT is what this target is about: mostly there, mostly for a while. */
    static const uint32_t tw_ms[] = {60000, 2000, 1, 0};
    cfg.time_wait_ms = tw_ms[(b >> 4) & 3];
    cfg.max_tw = (b & 0x0c) ? cfg.max_tw | 1 : cfg.max_tw;
    static struct fp f;
    if (fp_init(&f, &cfg) < 0)
        return 0;
    memset(views, 0, sizeof views);
    f.tap_seg = on_seg;
    f.tap_trans = on_trans;
    int n = 1 + (b & 3);
    for (int i = 0; i < n; i++) {
        fp_open(&f, &in, i, fz_u8(&in) & 1, 1);
        track_tw_ms(&f);
        close_first(&f, i, fz_u8(&in));
    }
    while (in.n) {
        step(&f, &in);
        fp_check(&f);
        track_tw_ms(&f);
        struct sf_engine_stats st;
        sf_engine_stats(f.e, &st);
        FZ_CHECK(st.tw_live <= cfg.max_tw, "%llu TIME-WAIT entries, max_tw %u",
                 (unsigned long long)st.tw_live, cfg.max_tw);
    }
    fp_finish(&f);
    return 0;
}
