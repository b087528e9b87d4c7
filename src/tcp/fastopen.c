/* TCP Fast Open, server side (RFC 7413): data in a SYN is accepted, and delivered before the
 * handshake completes, when the SYN carries a cookie the server gave this client earlier.
 *
 * The cookie (§4.1.2) is a MAC of the client's IP address under a server secret. We take
 * Linux's: SipHash-2-4 keyed by a 128-bit key over the client's address then the server's,
 * the 64-bit result's bytes little-endian, 8 bytes long. The same key gives the same
 * cookies as Linux (so do packetdrill scripts that hard-code them), and SipHash is the
 * engine's keyed hash already. Without a configured key the engine derives one from its
 * secret: cookies then change with the secret, as they do with Linux's random key at boot.
 *
 * The defence of §5.1 against SYN floods that carry valid cookies (a cookie is bound to an
 * address, not to a connection): a limit per listener on Fast Open children that have not
 * completed their handshake (TCP_FASTOPEN's queue length) and one engine-wide
 * (fastopen_max_pending). Beyond either, the SYN is handled as a plain SYN: its data is not
 * acknowledged and the client sends it again after the handshake (§4.2.2). */
#include <errno.h>
#include <string.h>

#include "tcp/internal.h"

static void cookie_gen(const struct sf_sipkey *key, const struct sf_tuple *t, uint8_t out[8])
{
    uint8_t in[32];
    size_t alen = t->laddr.family == SF_AF_INET6 ? 16 : 4;
    memcpy(in, t->raddr.u.v6, alen); /* the client: the SYN's source */
    memcpy(in + alen, t->laddr.u.v6, alen);
    uint64_t h = sf_siphash(key, in, 2 * alen);
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(h >> (8 * i));
}

static struct sf_sipkey key_of(const uint8_t key[16])
{
    struct sf_sipkey k = {0, 0};
    for (int i = 7; i >= 0; i--) {
        k.k0 = k.k0 << 8 | key[i];
        k.k1 = k.k1 << 8 | key[8 + i];
    }
    return k;
}

void sf_engine_set_fastopen_key(struct sf_engine *e, const uint8_t key[16])
{
    e->key_tfo = key_of(key);
}

int sf_set_fastopen_key(struct sf_conn *c, const uint8_t key[16])
{
    if (!key)
        return -EINVAL;
    c->tfo_key = key_of(key);
    c->flags |= F_TFO_KEY;
    return 0;
}

void sf_fastopen_cookie(const struct sf_engine *e, const struct sf_addr *client,
                        const struct sf_addr *server, uint8_t out[8])
{
    struct sf_tuple t;
    memset(&t, 0, sizeof t);
    t.laddr = *server;
    t.raddr = *client;
    cookie_gen(&e->key_tfo, &t, out);
}

/* The listener's Fast Open queue length: TCP_FASTOPEN's, or with the 0x400 bit its listen
 * backlog; 0 when it takes no Fast Open. */
static uint32_t queue_len(const struct sf_conn *l)
{
    uint32_t bits = ccfg(l)->fastopen;
    if (!(bits & SF_TFO_SERVER))
        return 0;
    if (l->tfo_qlen)
        return l->tfo_qlen;
    return (bits & SF_TFO_SERVER_ALWAYS) ? l->listen->backlog : 0;
}

int fastopen_syn(struct sf_conn *l, struct sf_conn *c, const struct sf_seg *s)
{
    struct sf_engine *e = l->e;
    uint32_t bits = ccfg(l)->fastopen;
    c->tfo_out_len = 0;
    uint32_t qlen = queue_len(l);
    int has_fo = !!(s->opt.has & OPT_FO);
    int no_cookie = s->len && (bits & SF_TFO_SERVER_NO_COOKIE);
    if (!qlen || (!has_fo && !no_cookie))
        return 0;
    /* §5.1: with the queue full nothing of Fast Open happens, not even a cookie (Linux) */
    if (l->listen->tfo_pending >= qlen || e->st.tfo_pending >= e->cfg.fastopen_max_pending) {
        e->st.tfo_overflow++;
        return 0;
    }
    const struct sf_sipkey *key = (l->flags & F_TFO_KEY) ? &l->tfo_key : &e->key_tfo;
    uint8_t valid[8];
    cookie_gen(key, &s->t, valid);
    int accept = no_cookie;
    if (!accept && s->opt.fo_len) {
        /* §4.2.2: "If the cookie is not valid, the server MUST discard the initial data" */
        accept = s->opt.fo_len == 8 && memcmp(s->opt.fo_cookie, valid, 8) == 0;
        if (!accept)
            e->st.tfo_refused++;
    }
    if (!accept) {
        /* A request (empty option) or a bad cookie: the SYN-ACK carries a valid one (§4.1.3
         * "the server ... SHOULD send a new cookie"), in the form the client used. */
        memcpy(c->tfo_out, valid, 8);
        c->tfo_out_len = 8;
        c->tfo_out_exp = s->opt.fo_exp;
        e->st.tfo_cookies_sent++;
        return 0;
    }
    c->flags |= F_TFO | F_TFO_PENDING | F_TFO_LQ;
    l->listen->tfo_pending++;
    e->st.tfo_pending++;
    e->st.tfo_accepted++;
    return 1;
}

void fastopen_settle(struct sf_conn *c, int leaving_listener)
{
    if ((c->flags & F_TFO_LQ) && c->parent && c->parent->listen) {
        c->parent->listen->tfo_pending--;
        c->flags &= ~(uint32_t)F_TFO_LQ;
    }
    if (!leaving_listener && (c->flags & F_TFO_PENDING)) {
        c->e->st.tfo_pending--;
        c->flags &= ~(uint32_t)F_TFO_PENDING;
    }
}
