#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "tcp/segment.h"

static void on_output(void *ctx, const void *pkt, size_t len)
{
    struct fx *f = ctx;
    if (f->nout >= FX_MAX_OUT)
        fail_msg("more than %d segments emitted", FX_MAX_OUT);
    struct fx_pkt *p = &f->out[f->nout];
    assert_true(len <= sizeof p->raw);
    memcpy(p->raw, pkt, len);
    p->len = len;
    p->at = f->now;
    assert_int_equal(sf_seg_parse(p->raw, len, &p->seg), SEG_OK);
    /* Learn the engine's ISN from its first SYN. */
    if ((p->seg.flags & TH_SYN) && !f->iss_known) {
        f->iss = p->seg.seq;
        f->iss_known = 1;
    }
    f->nout++;
}

static void on_transition(void *ctx, const struct sf_transition *t)
{
    struct fx *f = ctx;
    if (f->ntrans < FX_MAX_TRANS)
        f->trans[f->ntrans++] = *t;
}

static void on_event(struct sf_conn *c, unsigned ev, void *user)
{
    struct fx *f = user;
    (void)c;
    f->events |= ev;
}

struct fx *fx_new(void (*apply)(struct sf_tcp_config *cfg))
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->out = calloc(FX_MAX_OUT, sizeof *f->out);
    assert_non_null(f->out);
    sf_tcp_config_defaults(&f->cfg);
    if (apply)
        apply(&f->cfg);
    f->now = SF_SEC(1000);
    f->peer_port = 40000;
    f->local_port = 8080;
    struct sf_engine_params p;
    memset(&p, 0, sizeof p);
    p.config = &f->cfg;
    p.ops.output = on_output;
    p.ops.transition = on_transition;
    p.ctx = f;
    for (int i = 0; i < 32; i++)
        p.key[i] = (uint8_t)(i * 13 + 7);
    p.local_addr = sf_addr_v4(192, 168, 0, 1);
    p.now = f->now;
    f->e = sf_engine_new(&p);
    assert_non_null(f->e);
    return f;
}

void fx_free(struct fx *f)
{
    sf_engine_free(f->e);
    free(f->out);
    free(f);
}

void fx_advance(struct fx *f, uint32_t ms)
{
    sf_time_t end = f->now + SF_MS(ms);
    /* Step through deadlines so every timer fires at its own time. */
    for (;;) {
        sf_time_t d = sf_engine_next_deadline(f->e);
        if (d > end)
            break;
        if (d > f->now)
            f->now = d;
        sf_engine_advance(f->e, f->now);
    }
    f->now = end;
    sf_engine_advance(f->e, f->now);
}

void fx_in_abs(struct fx *f, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t win,
               const struct sf_tcp_opts *opts, const void *data, uint32_t len)
{
    struct sf_seg_out o;
    memset(&o, 0, sizeof o);
    /* From the peer's side: its local is 192.0.2.1:40000. */
    o.t.laddr = sf_addr_v4(192, 0, 2, 1);
    o.t.raddr = sf_addr_v4(192, 168, 0, 1);
    o.t.lport = f->peer_port;
    o.t.rport = f->local_port;
    o.seq = seq;
    o.ack = ack;
    o.flags = flags;
    o.wnd = win;
    if (opts)
        o.opt = *opts;
    uint8_t pkt[16384]; /* segments larger than an MSS arrive too (receive offload) */
    size_t n = sf_seg_build(pkt, sizeof pkt, &o, data, len, NULL, 0);
    assert_true(n > 0);
    sf_engine_input(f->e, pkt, n, f->now);
}

void fx_in(struct fx *f, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t win,
           const struct sf_tcp_opts *opts, const void *data, uint32_t len)
{
    fx_in_abs(f, flags, FX_PEER_ISN + seq, (flags & TH_ACK) ? f->iss + ack : ack, win, opts, data,
              len);
}

static void describe(const struct sf_seg *s, uint32_t iss, char *buf, size_t n)
{
    char fl[8];
    int k = 0;
    if (s->flags & TH_SYN)
        fl[k++] = 'S';
    if (s->flags & TH_FIN)
        fl[k++] = 'F';
    if (s->flags & TH_RST)
        fl[k++] = 'R';
    if (s->flags & TH_PSH)
        fl[k++] = 'P';
    if (s->flags & TH_ACK)
        fl[k++] = '.';
    fl[k] = 0;
    snprintf(buf, n, "%s %u:%u(%u) ack %u win %u", fl, s->seq - iss, s->seq - iss + s->len, s->len,
             s->ack - FX_PEER_ISN, s->wnd);
}

const struct sf_seg *fx_out(struct fx *f, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len)
{
    if (f->next >= f->nout)
        fail_msg("expected a segment with flags 0x%x seq %u, none was sent", flags, seq);
    const struct fx_pkt *p = &f->out[f->next++];
    const struct sf_seg *s = &p->seg;
    char got[128];
    describe(s, f->iss, got, sizeof got);
    if (s->flags != flags || s->seq - f->iss != seq || s->len != len ||
        ((flags & TH_ACK) && s->ack - FX_PEER_ISN != ack))
        fail_msg("expected flags 0x%x %u:%u(%u) ack %u; got %s (flags 0x%x)", flags, seq, seq + len,
                 len, ack, got, s->flags);
    return s;
}

void fx_none(struct fx *f)
{
    if (f->next < f->nout) {
        char got[128];
        describe(&f->out[f->next].seg, f->iss, got, sizeof got);
        fail_msg("expected no segment, got %s", got);
    }
}

unsigned fx_pending(const struct fx *f)
{
    return f->nout - f->next;
}

void fx_listen(struct fx *f)
{
    f->listener = sf_socket(f->e);
    assert_non_null(f->listener);
    struct sf_endpoint ep;
    memset(&ep, 0, sizeof ep);
    ep.addr.family = SF_AF_INET;
    ep.port = f->local_port;
    assert_int_equal(sf_bind(f->listener, &ep), 0);
    assert_int_equal(sf_listen(f->listener, 16), 0);
}

void fx_passive_open(struct fx *f)
{
    fx_listen(f);
    struct sf_tcp_opts o = {.has = OPT_MSS, .mss = 1460};
    fx_in(f, TH_SYN, 0, 0, 65535, &o, NULL, 0);
    fx_out(f, TH_SYN | TH_ACK, 0, 1, 0);
    fx_in(f, TH_ACK, 1, 1, 65535, NULL, NULL, 0);
    fx_none(f);
    int err;
    f->conn = sf_accept(f->listener, &err);
    assert_non_null(f->conn);
    sf_set_handler(f->conn, on_event, f);
    assert_int_equal(sf_conn_state(f->conn), SF_ESTABLISHED);
}

void fx_active_open(struct fx *f)
{
    f->conn = sf_socket(f->e);
    assert_non_null(f->conn);
    sf_set_handler(f->conn, on_event, f);
    struct sf_endpoint ep;
    memset(&ep, 0, sizeof ep);
    ep.addr = sf_addr_v4(192, 0, 2, 1);
    ep.port = 40000;
    f->local_port = 0;
    assert_int_equal(sf_connect(f->conn, &ep), -EINPROGRESS);
    const struct sf_seg *syn = fx_out(f, TH_SYN, 0, 0, 0);
    /* From now on the peer talks to the engine's ephemeral port. */
    f->local_port = syn->t.rport;
    struct sf_tcp_opts o = {.has = OPT_MSS, .mss = 1460};
    fx_in(f, TH_SYN | TH_ACK, 0, 1, 65535, &o, NULL, 0);
    fx_out(f, TH_ACK, 1, 1, 0);
    assert_int_equal(sf_conn_state(f->conn), SF_ESTABLISHED);
    assert_true(f->events & SF_EV_CONNECTED);
}

enum sf_state fx_state(struct fx *f)
{
    return sf_conn_state(f->conn);
}

const struct sf_transition *fx_last_transition(const struct fx *f)
{
    return f->ntrans ? &f->trans[f->ntrans - 1] : NULL;
}
