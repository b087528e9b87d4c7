/* The peer, the owner and the clock around an engine under fuzzing; see peer.h. */
#include "peer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net/checksum.h"
#include "tcp/internal.h"
#include "tcp/seq.h"

static const uint8_t peer_ip[4] = {10, 9, 0, 2}, engine_ip[4] = {10, 9, 0, 1};
/* 2001:db8::2 and 2001:db8::1 (RFC 3849's documentation prefix) */
static const uint8_t peer_ip6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2},
                     engine_ip6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};

/* ---- settings -------------------------------------------------------------------------------- */

static uint32_t pick(uint8_t bits, const uint32_t *v)
{
    return v[bits & 3];
}

void fp_config(struct sf_tcp_config *c, struct fz_in *in)
{
    static const uint32_t bufs[] = {2048, 4096, 16384, 131072}, mss[] = {88, 536, 1000, 1460},
                          icw[] = {1, 2, 4, 10}, delack[] = {1, 40, 200, 500},
                          tw[] = {0, 1, 2000, 60000}, maxtw[] = {0, 1, 2, 262144},
                          fw2[] = {0, 100, 5000, 60000}, lack[] = {0, 50, 3000, 0},
                          synr[] = {0, 1, 2, 6}, r2[] = {1, 2, 3, 15}, uto[] = {0, 100, 1000, 0},
                          chal[] = {1, 2, 10, 1000}, backlog[] = {1, 2, 16, 1024},
                          probes[] = {1, 2, 3, 9}, rtomin[] = {1, 10, 200, 200};
    sf_tcp_config_defaults(c);
    uint8_t b = fz_u8(in);
    c->timestamps = b & 1;
    c->sack = (b >> 1) & 1;
    c->window_scaling = (b >> 2) & 1;
    c->nodelay = (b >> 3) & 1;
    c->rfc1337 = (b >> 4) & 1;
    c->tw_reuse = (b >> 5) & 1;
    c->syncookies = (b >> 6) == 3 ? 1 : (b >> 6);
    b = fz_u8(in);
    c->rcvbuf = pick(b, bufs);
    c->sndbuf = pick(b >> 2, bufs);
    c->wscale = (b >> 4) % 15;
    b = fz_u8(in);
    c->mss = pick(b, mss);
    c->initcwnd = pick(b >> 2, icw);
    c->delack_ms = pick(b >> 4, delack);
    c->keepalive = (b >> 6) & 1;
    c->keepalive_time = (b >> 7) ? 1 : 7200;
    c->keepalive_intvl = 1;
    b = fz_u8(in);
    c->time_wait_ms = pick(b, tw);
    c->max_tw = pick(b >> 2, maxtw);
    c->fin_wait2_timeout_ms = pick(b >> 4, fw2);
    c->last_ack_timeout_ms = pick(b >> 6, lack);
    b = fz_u8(in);
    c->syn_retries = pick(b, synr);
    c->synack_retries = pick(b >> 2, synr);
    c->retries2 = pick(b >> 4, r2);
    c->user_timeout_ms = pick(b >> 6, uto);
    b = fz_u8(in);
    c->challenge_ack_limit = pick(b, chal);
    c->max_syn_backlog = pick(b >> 2, backlog);
    c->keepalive_probes = pick(b >> 4, probes);
    c->rto_min_ms = pick(b >> 6, rtomin);
}

/* ---- transitions ----------------------------------------------------------------------------- */

static struct fp_id *id_find(struct fp *f, uint64_t id)
{
    for (unsigned i = 0; i < f->nids; i++)
        if (f->ids[i].id == id)
            return &f->ids[i];
    return NULL;
}

static void on_transition(void *ctx, const struct sf_transition *t)
{
    struct fp *f = ctx;
    FZ_CHECK(t->to < SF_STATE_COUNT && t->from < SF_STATE_COUNT && t->cause < SF_CAUSE_COUNT,
             "transition of id %llu out of range", (unsigned long long)t->id);
    FZ_CHECK(t->when == f->now, "transition at %llu, clock at %llu", (unsigned long long)t->when,
             (unsigned long long)f->now);
    if (f->trace)
        fprintf(stderr, "%8.3f id %llu %u->%u %s -> %s (%s)\n", (double)(f->now - f->start) / 1e6,
                (unsigned long long)t->id, t->local.port, t->remote.port, sf_state_name(t->from),
                sf_state_name(t->to), sf_cause_name(t->cause));
    struct fp_id *r = id_find(f, t->id);
    if (!r) {
        if (f->nids == FP_MAX_IDS)
            return; /* beyond what one input is expected to open: not tracked */
        r = &f->ids[f->nids++];
        r->id = t->id;
    } else {
        FZ_CHECK(r->state == t->from, "id %llu: transition from %s after one to %s",
                 (unsigned long long)t->id, sf_state_name(t->from), sf_state_name(r->state));
    }
    r->state = (uint8_t)t->to;
    if (t->from == SF_LISTEN && t->to == SF_SYN_RECEIVED)
        f->embryos++;
    if (f->tap_trans)
        f->tap_trans(f, t);
}

/* ---- what the engine sends ------------------------------------------------------------------- */

void fp_addrs(const struct fp *f, const struct fp_slot *s, struct sf_addr *peer,
              struct sf_addr *engine)
{
    memset(peer, 0, sizeof *peer);
    memset(engine, 0, sizeof *engine);
    if (s->v6) {
        peer->family = engine->family = SF_AF_INET6;
        memcpy(peer->u.v6, f->paddr6, 16);
        memcpy(engine->u.v6, f->laddr6, 16);
    } else {
        peer->family = engine->family = SF_AF_INET;
        memcpy(peer->u.v4, &f->paddr, 4);
        memcpy(engine->u.v4, &f->laddr, 4);
    }
}

struct fp_slot *fp_slot_for(struct fp *f, uint16_t eport, uint16_t pport)
{
    for (int i = 0; i < FP_SLOTS; i++)
        if (f->s[i].used && f->s[i].eport == eport && f->s[i].pport == pport)
            return &f->s[i];
    return NULL;
}

static void check_payload(const struct fp_slot *s, const struct sf_seg *g)
{
    uint32_t first = g->seq + !!(g->flags & TH_SYN);
    for (uint32_t k = 0; k < g->len; k++) {
        uint32_t off = first + k - s->e_iss - 1;
        FZ_CHECK(off < s->wr + s->wr_pending, "engine sent stream offset %u, the owner wrote %llu",
                 off, (unsigned long long)s->wr);
        FZ_CHECK(g->data[k] == fp_owner_byte(off),
                 "engine sent 0x%02x at stream offset %u, the owner wrote 0x%02x there", g->data[k],
                 off, fp_owner_byte(off));
    }
}

/* The Fast Open option of the engine's SYN or SYN-ACK, kept for the harness's steps; a SYN's
 * cookie must be one the peer gave as a server (the engine's cache holds no other). */
static void check_syn_cookie(struct fp *f, struct fp_slot *s, const struct sf_seg *g)
{
    if (g->flags & TH_ACK) {
        s->synack_seen = 1;
        s->synack_ack = g->ack;
    }
    s->fo_seen = !!(g->opt.has & OPT_FO);
    s->fo_len = s->fo_seen ? g->opt.fo_len : 0;
    if (s->fo_len > sizeof s->fo)
        s->fo_len = 0;
    memcpy(s->fo, g->opt.fo_cookie, s->fo_len);
    if ((g->flags & TH_ACK) || !s->fo_len)
        return;
    int v6 = s->v6;
    FZ_CHECK(f->nfo[v6] > 0, "a SYN with a cookie (%u bytes) no server gave", s->fo_len);
    if (f->nfo[v6] > FP_FO_KEEP)
        return;
    int known = 0;
    for (unsigned k = 0; k < f->nfo[v6]; k++)
        known |= f->fo_len[v6][k] == s->fo_len && !memcmp(f->fo[v6][k], s->fo, s->fo_len);
    FZ_CHECK(known, "a SYN with a cookie (%u bytes) no server gave", s->fo_len);
}

static void trace_seg(const struct fp *f, const char *who, const struct sf_seg *g)
{
    fprintf(stderr, "%8.3f %s %u>%u flags 0x%02x seq %u ack %u win %u len %u\n",
            (double)(f->now - f->start) / 1e6, who, g->t.rport, g->t.lport, g->flags, g->seq,
            g->ack, g->wnd, g->len);
}

static void on_output(void *ctx, const void *pkt, size_t len)
{
    struct fp *f = ctx;
    struct sf_seg g;
    int rc = sf_seg_parse(pkt, len, &g);
    FZ_CHECK(rc == SEG_OK, "the engine emitted a packet that does not parse (%d), %zu bytes", rc,
             len);
    int v6 = g.t.laddr.family == SF_AF_INET6;
    FZ_CHECK((g.t.laddr.family == SF_AF_INET && !memcmp(g.t.laddr.u.v4, &f->paddr, 4) &&
              !memcmp(g.t.raddr.u.v4, &f->laddr, 4)) ||
                 (v6 && !memcmp(g.t.laddr.u.v6, f->paddr6, 16) &&
                  !memcmp(g.t.raddr.u.v6, f->laddr6, 16)),
             "packet to an unknown address");
    if (f->trace)
        trace_seg(f, v6 ? "engine6" : "engine ", &g);
    struct fp_slot *s = fp_slot_for(f, g.t.rport, g.t.lport);
    if (!s || s->v6 != v6)
        return; /* an RST for a tuple the peer forgot, or one the raw input invented */
    if (g.flags & TH_SYN) {
        check_syn_cookie(f, s, &g);
        if (!s->e_iss_known || s->e_iss != g.seq)
            s->wr = 0; /* a new incarnation: a new stream from the owner */
        s->e_iss_known = 1;
        s->e_iss = g.seq;
        s->e_max = g.seq + 1;
    }
    if (!s->e_iss_known)
        return;
    if (g.len)
        check_payload(s, &g);
    if (f->tap_seg)
        f->tap_seg(f, &g);
    if (!(g.flags & TH_RST))
        s->e_max = seq_max(s->e_max, g.seq + seg_seqlen(&g));
    if (g.flags & TH_ACK)
        s->e_ack = g.ack;
    if (g.opt.has & OPT_TS)
        s->e_tsval = g.opt.tsval;
}

/* ---- engine life ----------------------------------------------------------------------------- */

int fp_init(struct fp *f, const struct sf_tcp_config *cfg)
{
    memset(f, 0, sizeof *f);
    f->cfg = *cfg;
    f->now = f->start = SF_SEC(100);
    memcpy(&f->laddr, engine_ip, 4);
    memcpy(&f->paddr, peer_ip, 4);
    memcpy(f->laddr6, engine_ip6, 16);
    memcpy(f->paddr6, peer_ip6, 16);
    struct sf_engine_params p;
    memset(&p, 0, sizeof p);
    p.config = &f->cfg;
    p.ops.output = on_output;
    p.ops.transition = on_transition;
    p.ctx = f;
    for (int i = 0; i < 32; i++)
        p.key[i] = (uint8_t)(i * 7 + 1);
    p.local_addr = sf_addr_v4(engine_ip[0], engine_ip[1], engine_ip[2], engine_ip[3]);
    p.local_addr6.family = SF_AF_INET6;
    memcpy(p.local_addr6.u.v6, engine_ip6, 16);
    p.now = f->now;
    f->trace = getenv("FZ_TRACE") != NULL;
    f->e = sf_engine_new(&p);
    return f->e ? 0 : -1;
}

static void advance_to(struct fp *f, sf_time_t t)
{
    if (t > f->now)
        f->now = t;
    sf_engine_advance(f->e, f->now);
}

void fp_finish(struct fp *f)
{
    for (int i = 0; i < FP_SLOTS; i++)
        if (f->s[i].h) {
            sf_close(f->s[i].h);
            f->s[i].h = NULL;
        }
    fp_unlisten(f);
    /* A silent peer: every connection must end by its own timers. The longest chain is a
     * keepalive-less retransmission series (retries2 15, RTO up to 120 s) then TIME-WAIT. */
    sf_time_t limit = f->now + SF_SEC(4 * 3600);
    unsigned steps = 0;
    for (sf_time_t d; (d = sf_engine_next_deadline(f->e)) != SF_TIME_NEVER && d <= limit;) {
        advance_to(f, d);
        FZ_CHECK(++steps < 1000000, "timers keep firing at %llu", (unsigned long long)f->now);
    }
    struct sf_engine_stats st;
    sf_engine_stats(f->e, &st);
    FZ_CHECK(st.conns_live == 0 && st.tw_live == 0,
             "%llu connections and %llu TIME-WAIT entries live after every timer ran (next "
             "deadline %s)",
             (unsigned long long)st.conns_live, (unsigned long long)st.tw_live,
             sf_engine_next_deadline(f->e) == SF_TIME_NEVER ? "never" : "over 4 hours away");
    FZ_CHECK(st.bufs_live == 0 && st.bytes_buffered == 0, "%llu buffers, %llu bytes still held",
             (unsigned long long)st.bufs_live, (unsigned long long)st.bytes_buffered);
    for (unsigned i = 0; i < f->nids; i++)
        FZ_CHECK(f->ids[i].state == SF_CLOSED, "id %llu ended in %s",
                 (unsigned long long)f->ids[i].id, sf_state_name(f->ids[i].state));
    sf_engine_free(f->e);
    f->e = NULL;
}

/* ---- the peer's segments --------------------------------------------------------------------- */

void fp_send(struct fp *f, int i, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t wnd,
             const struct sf_tcp_opts *opts, uint32_t len)
{
    struct fp_slot *s = &f->s[i];
    static uint8_t data[FP_PKT_MAX], pkt[FP_PKT_MAX + 128];
    if (len > FP_PKT_MAX)
        len = FP_PKT_MAX;
    uint32_t first = seq + !!(flags & TH_SYN);
    for (uint32_t k = 0; k < len; k++)
        data[k] = fp_peer_byte(first + k);
    struct sf_seg_out o;
    memset(&o, 0, sizeof o);
    fp_addrs(f, s, &o.t.laddr, &o.t.raddr);
    o.t.lport = s->pport;
    o.t.rport = s->eport;
    o.seq = seq;
    o.ack = ack;
    o.flags = flags;
    o.wnd = wnd;
    if (opts)
        o.opt = *opts;
    /* The header has room for 40 bytes of options: SACK blocks give way first, the Fast Open
     * option last. */
    while (sf_opts_len(&o.opt, !!(flags & TH_SYN)) > 40 && o.opt.nsack > 1)
        o.opt.nsack--;
    if (sf_opts_len(&o.opt, !!(flags & TH_SYN)) > 40)
        o.opt.has &= (uint8_t) ~(OPT_SACK | OPT_MSS | OPT_WSCALE);
    if (sf_opts_len(&o.opt, !!(flags & TH_SYN)) > 40)
        o.opt.has &= (uint8_t)~OPT_SACK_OK;
    if (sf_opts_len(&o.opt, !!(flags & TH_SYN)) > 40)
        o.opt.has &= (uint8_t)~OPT_TS;
    size_t n = sf_seg_build(pkt, sizeof pkt, &o, data, len, NULL, 0);
    FZ_CHECK(n > 0, "segment of %u bytes does not fit", len);
    if (f->trace) {
        struct sf_seg g = {.seq = seq, .ack = ack, .flags = flags, .wnd = wnd, .len = len};
        g.t.rport = s->pport;
        g.t.lport = s->eport;
        trace_seg(f, s->v6 ? "peer6  " : "peer   ", &g);
    }
    if (flags & TH_ACK)
        s->p_ack = ack;
    uint32_t end = seq + len + !!(flags & TH_SYN) + !!(flags & TH_FIN);
    if (!(flags & TH_RST) && seq_gt(end, s->p_nxt))
        s->p_nxt = end;
    sf_engine_input(f->e, pkt, n, f->now);
}

void fp_send_next(struct fp *f, int i, uint8_t flags, uint32_t len)
{
    struct fp_slot *s = &f->s[i];
    struct sf_tcp_opts o;
    memset(&o, 0, sizeof o);
    if (s->p_tsopt)
        fp_peer_ts(f, s, &o);
    unsigned shift = f->cfg.window_scaling ? s->p_wscale : 0; /* the scale in force */
    fp_send(f, i, flags | TH_ACK, s->p_nxt, s->e_max, (uint16_t)(65535u >> shift), &o, len);
}

/* The timestamp option as the peer would send it now. */
void fp_peer_ts(const struct fp *f, const struct fp_slot *s, struct sf_tcp_opts *o)
{
    o->has |= OPT_TS;
    o->tsval = s->p_ts + (uint32_t)((f->now - f->start) / 1000u);
    o->tsecr = s->e_tsval;
}

/* SYN options: MSS, window scale, SACK-permitted and timestamps as the input picks them. */
void fp_syn_opts(const struct fp *f, struct fp_slot *s, uint8_t b, uint8_t mss_b,
                 struct sf_tcp_opts *o)
{
    memset(o, 0, sizeof *o);
    if (b & 1) {
        o->has |= OPT_MSS;
        o->mss = (uint16_t)(mss_b < 8 ? mss_b : 64u + mss_b * 6u);
    }
    s->p_wscale = 0;
    if (b & 2) {
        o->has |= OPT_WSCALE;
        o->wscale = (uint8_t)((b >> 4) % 16);
        s->p_wscale = o->wscale > 14 ? 14 : o->wscale;
    }
    if (b & 4)
        o->has |= OPT_SACK_OK;
    s->p_tsopt = (b & 8) != 0;
    if (b & 8)
        fp_peer_ts(f, s, o);
}

void fp_new_tuple(struct fp *f, struct fz_in *in, int i)
{
    /* Mostly fresh ports; sometimes one used before, to meet its TIME-WAIT entry. With both
     * families in use, bit 0x40 picks IPv6. */
    uint8_t b = fz_u8(in);
    struct fp_slot *s = &f->s[i];
    s->pport = (uint16_t)(40000 + ((b & 0x80) ? (b & 7) : f->opens));
    s->v6 = f->fam == FP_FAM_V6 || (f->fam == FP_FAM_BOTH && (b & 0x40));
    f->opens++;
}

void fp_slot_reset(struct fp_slot *s)
{
    if (s->h)
        sf_close(s->h);
    memset(s, 0, sizeof *s);
}

static struct sf_conn *listen_on(struct fp *f, int v6, int backlog)
{
    struct sf_conn *l = sf_socket(f->e);
    if (!l)
        return NULL;
    struct sf_endpoint ep;
    memset(&ep, 0, sizeof ep);
    ep.port = FP_LPORT;
    if (v6)
        ep.addr.family = SF_AF_INET6; /* :: */
    /* The families never overlap (docs/engine.md, "Who may bind a port"); SO_REUSEADDR lets
     * a reopened IPv6 listener share the port with the connections the last one accepted.
     * With both families only the IPv6 one has it, as when the corpus was recorded: a reopened
     * IPv4 listener is refused while those live. */
    if (v6 && f->fam == FP_FAM_BOTH)
        sf_setopt(l, SF_OPT_REUSEADDR, 1);
    if (sf_bind(l, &ep) < 0 || sf_listen(l, backlog) < 0) {
        sf_close(l);
        return NULL;
    }
    if (f->tfo_qlen)
        sf_setopt(l, SF_OPT_FASTOPEN, f->tfo_qlen);
    if (f->lkey_set)
        sf_set_fastopen_key(l, f->lkey);
    return l;
}

void fp_listen(struct fp *f, int backlog)
{
    if (!f->listener && f->fam != FP_FAM_V6)
        f->listener = listen_on(f, 0, backlog);
    if (!f->listener6 && f->fam != FP_FAM_V4)
        f->listener6 = listen_on(f, 1, backlog);
}

void fp_unlisten(struct fp *f)
{
    if (f->listener)
        sf_close(f->listener);
    if (f->listener6)
        sf_close(f->listener6);
    f->listener = f->listener6 = NULL;
}

/* One slot per pair of ports (whatever the family): an older slot on the same ones is the
 * owner's to let go. */
void fp_evict(struct fp *f, int i)
{
    for (int j = 0; j < FP_SLOTS; j++)
        if (j != i && f->s[j].used && f->s[j].eport == f->s[i].eport &&
            f->s[j].pport == f->s[i].pport)
            fp_slot_reset(&f->s[j]);
}

static void open_passive(struct fp *f, struct fz_in *in, int i, int full)
{
    struct fp_slot *s = &f->s[i];
    uint8_t ob = fz_u8(in), mb = fz_u8(in);
    fp_listen(f, 1 + (ob >> 5));
    s->used = 1;
    s->eport = FP_LPORT;
    fp_new_tuple(f, in, i);
    fp_evict(f, i);
    s->p_isn = s->p_nxt = fz_u32(in);
    s->p_ts = fz_u32(in);
    struct sf_tcp_opts o;
    fp_syn_opts(f, s, ob, mb, &o);
    fp_send(f, i, TH_SYN, s->p_isn, 0, 65535, &o, 0);
    if (!full || !s->e_iss_known)
        return;
    memset(&o, 0, sizeof o);
    if (ob & 8)
        fp_peer_ts(f, s, &o);
    fp_send(f, i, TH_ACK, s->p_isn + 1, s->e_iss + 1, 65535 >> s->p_wscale, &o, 0);
    fp_accept(f);
}

static void open_active(struct fp *f, struct fz_in *in, int i, int full)
{
    struct fp_slot *s = &f->s[i];
    uint8_t ob = fz_u8(in), mb = fz_u8(in);
    struct sf_conn *c = sf_socket(f->e);
    if (!c)
        return;
    s->used = 1;
    s->h = c;
    fp_new_tuple(f, in, i);
    s->p_isn = s->p_nxt = fz_u32(in);
    s->p_ts = fz_u32(in);
    struct sf_endpoint to;
    memset(&to, 0, sizeof to);
    struct sf_addr engine_addr;
    fp_addrs(f, s, &to.addr, &engine_addr);
    to.port = s->pport;
    /* Bound before connect, so that the SYN it sends finds its slot. A fixed port lets a
     * later connect meet the TIME-WAIT entry an earlier one left. */
    struct sf_endpoint me;
    memset(&me, 0, sizeof me);
    if (s->v6)
        me.addr.family = SF_AF_INET6; /* :: */
    if (ob & 0x40) {
        me.port = (uint16_t)(50000 + (ob >> 7));
        sf_setopt(c, SF_OPT_REUSEADDR, 1);
    }
    if (sf_bind(c, &me) < 0 && me.port) {
        me.port = 0;
        sf_bind(c, &me);
    }
    struct sf_conn_info info;
    sf_info(c, &info);
    s->eport = info.local.port;
    fp_evict(f, i);
    int rc = sf_connect(c, &to);
    if (rc != -EINPROGRESS || !full || !s->e_iss_known)
        return;
    struct sf_tcp_opts o;
    fp_syn_opts(f, s, ob, mb, &o);
    fp_send(f, i, TH_SYN | TH_ACK, s->p_isn, s->e_iss + 1, 65535, &o, 0);
}

void fp_open(struct fp *f, struct fz_in *in, int i, int passive, int full)
{
    fp_slot_reset(&f->s[i]);
    if (passive)
        open_passive(f, in, i, full);
    else
        open_active(f, in, i, full);
}

static void accept_from(struct fp *f, struct sf_conn *l);

void fp_accept(struct fp *f)
{
    for (int v6 = 0; v6 < 2; v6++)
        accept_from(f, v6 ? f->listener6 : f->listener);
}

static void accept_from(struct fp *f, struct sf_conn *l)
{
    if (!l)
        return;
    int err;
    struct sf_conn *c;
    while ((c = sf_accept(l, &err)) != NULL) {
        struct sf_conn_info info;
        sf_info(c, &info);
        struct fp_slot *s = fp_slot_for(f, info.local.port, info.remote.port);
        if (!s ||
            s->v6 != (info.remote.addr.family ==
                      SF_AF_INET6)) { /* a connection the raw input opened: the owner refuses it */
            sf_abort(c);
            continue;
        }
        if (s->h)
            sf_close(s->h); /* the previous incarnation's handle, CLOSED by now */
        s->h = c;
        s->rd = 0;
        s->wr = 0;
        s->info_valid = 0;
    }
}
