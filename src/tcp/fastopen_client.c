/* TCP Fast Open, client side (RFC 7413): a connect that asks for it (SF_OPT_FASTOPEN_CONNECT,
 * sf_connect_data) sends an empty option to learn a server's cookie, and once one is cached,
 * sends the cookie and the first data in its SYN.
 *
 * The cookie cache is the engine's, keyed by the pair of addresses (ours and the server's), as
 * Linux keeps cookies in its per-destination TCP metrics: a server's cookie is a MAC of the
 * client's address (§4.1.2), so another local address needs another cookie. It is bounded: a
 * set-associative table of four ways, the least recently used entry of a set replaced.
 *
 * What a SYN-ACK teaches (§4.1.3, §4.2.1, following Linux's tcp_rcv_fastopen_synack):
 * - its cookie replaces the cached one, and its MSS is kept to size the next SYN's data;
 * - data it does not acknowledge is sent again at once, after the handshake;
 * - a SYN-ACK with no cookie that acknowledges none of the data, after our SYN was
 *   retransmitted (the retransmission carries neither option nor data), says the first SYN was
 *   lost: a path that drops SYNs with data or unknown options. §4.1.3.1: "the client ...
 *   SHOULD disable TFO on subsequent connections to this server after a failed attempt": the
 *   destination takes plain SYNs for a minute, doubling with each loss in a row (capped at
 *   about 17 hours); a SYN that is answered ends the streak. A connect that times out with no
 *   answer at all counts as such a loss too.
 * A SYN-ACK without a cookie to a SYN that carried one, without a retransmission, is a server
 * that took the SYN and not the data (its Fast Open queue full, or Fast Open off): Linux keeps
 * the cookie and tries it again next time; so do we, since the path is fine. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcp/internal.h"
#include "tcp/seq.h"

#define TFO_WAYS          4
#define TFO_BLOCK_BASE_MS 60000u
#define TFO_BLOCK_MAX_SH  10u

struct sf_tfo_entry {
    struct sf_addr laddr, raddr;
    uint64_t used;          /* LRU stamp; 0: free */
    sf_time_t blocked_till; /* no Fast Open to this server before then */
    uint16_t mss;           /* the server's MSS in its last Fast Open SYN-ACK, 0 unknown */
    uint8_t cookie_len, cookie_exp, losses;
    uint8_t try_exp; /* 1: the next request in the experimental form; 2: back to kind 34 */
    uint8_t cookie[SF_FO_COOKIE_MAX];
};

static int cache_ready(struct sf_engine *e)
{
    struct sf_tfo_cache *k = &e->tfo_cache;
    if (k->slots)
        return 1;
    uint32_t want = e->cfg.fastopen_cache;
    if (!want)
        return 0;
    uint32_t sets = 1;
    while ((uint64_t)sets * TFO_WAYS < want)
        sets <<= 1;
    k->slots = calloc((size_t)sets * TFO_WAYS, sizeof *k->slots);
    if (!k->slots)
        return 0;
    k->mask = sets - 1;
    return 1;
}

void fastopen_cache_free(struct sf_engine *e)
{
    free(e->tfo_cache.slots);
    memset(&e->tfo_cache, 0, sizeof e->tfo_cache);
}

void sf_fastopen_cache_flush(struct sf_engine *e)
{
    fastopen_cache_free(e); /* allocated again on the next use */
}

/* The entry for the connection's pair of addresses; with create, a new one in place of the
 * least recently used of its set. NULL when there is none (or no cache). */
static struct sf_tfo_entry *cache_get(struct sf_engine *e, const struct sf_tuple *t, int create)
{
    if (!cache_ready(e))
        return NULL;
    struct sf_tfo_cache *k = &e->tfo_cache;
    struct sf_addr pair[2] = {t->laddr, t->raddr};
    uint32_t set = (uint32_t)sf_siphash(&e->key_table, pair, sizeof pair) & k->mask;
    struct sf_tfo_entry *ways = &k->slots[(size_t)set * TFO_WAYS], *victim = &ways[0];
    for (int i = 0; i < TFO_WAYS; i++) {
        struct sf_tfo_entry *w = &ways[i];
        if (w->used && addr_eq(&w->laddr, &t->laddr) && addr_eq(&w->raddr, &t->raddr)) {
            w->used = ++k->tick;
            return w;
        }
        if (w->used < victim->used)
            victim = w;
    }
    if (!create)
        return NULL;
    memset(victim, 0, sizeof *victim);
    victim->laddr = t->laddr;
    victim->raddr = t->raddr;
    victim->used = ++k->tick;
    return victim;
}

int fastopen_connect(struct sf_conn *c)
{
    struct sf_engine *e = c->e;
    uint32_t bits = ccfg(c)->fastopen;
    c->tfo_client &= TFOC_ASKED;
    c->tfo_syn_data = 0;
    c->tfo_fail = SF_TFO_FAIL_NONE;
    if (!(c->tfo_client & TFOC_ASKED) || !(bits & SF_TFO_CLIENT))
        return 0;
    struct sf_tfo_entry *t = cache_get(e, &c->t, 0);
    if (t && t->losses && e->now < t->blocked_till) {
        e->st.tfo_client_blocked++; /* a plain SYN: connect, then write */
        return 0;
    }
    c->tfo_mss = t ? t->mss : 0;
    if (bits & SF_TFO_CLIENT_NO_COOKIE) { /* data without any option (a server with 0x200) */
        c->tfo_client |= TFOC_DATA | TFOC_DEFER;
        return 1;
    }
    if (t && t->cookie_len) {
        memcpy(c->tfo_out, t->cookie, t->cookie_len);
        c->tfo_out_len = t->cookie_len;
        c->tfo_out_exp = t->cookie_exp;
        c->tfo_client |= TFOC_OPT | TFOC_DATA | TFOC_DEFER;
        return 1;
    }
    /* No cookie: the SYN asks for one (an empty option) and carries no data (§4.1.3). */
    c->tfo_out_len = 0;
    c->tfo_out_exp = t && t->try_exp == 1;
    c->tfo_client |= TFOC_OPT;
    c->tfo_fail = SF_TFO_FAIL_NO_COOKIE;
    e->st.tfo_client_requests++;
    return 0;
}

/* The data a SYN carries: one segment's worth, sized by the server's cached MSS (else our
 * own), less 40 bytes for options (Linux reserves MAX_TCP_OPTION_SPACE, so that a middlebox
 * adding options does not push the SYN over the path's MTU). */
uint32_t fastopen_room(const struct sf_conn *c)
{
    uint32_t mss = c->rcv.mss;
    if (c->tfo_mss && c->tfo_mss < mss)
        mss = c->tfo_mss;
    return mss > 40 ? mss - 40 : 0;
}

size_t sf_fastopen_room(const struct sf_conn *c)
{
    return (c->tfo_client & TFOC_DEFER) ? fastopen_room(c) : 0;
}

uint32_t fastopen_syn_data(struct sf_conn *c)
{
    if (!(c->tfo_client & TFOC_DATA))
        return 0;
    uint32_t queued = c->snd.buf ? c->snd.buf->len : 0;
    uint32_t room = fastopen_room(c);
    uint32_t n = queued < room ? queued : room;
    /* a FIN queued behind no data waits for the handshake like the rest */
    c->tfo_syn_data = n;
    c->e->st.tfo_client_syn_data++;
    if (n && !c->snd.una_since)
        c->snd.una_since = c->e->now;
    return n;
}

static int cookie_usable(const struct sf_tcp_opts *o)
{
    return (o->has & OPT_FO) && o->fo_len >= 4 && o->fo_len <= SF_FO_COOKIE_MAX && !(o->fo_len % 2);
}

static void note_loss(struct sf_engine *e, struct sf_tfo_entry *t)
{
    if (t->losses < 255)
        t->losses++;
    uint32_t sh = t->losses - 1u < TFO_BLOCK_MAX_SH ? t->losses - 1u : TFO_BLOCK_MAX_SH;
    t->blocked_till = e->now + SF_MS((uint64_t)TFO_BLOCK_BASE_MS << sh);
}

void fastopen_synack(struct sf_conn *c, const struct sf_seg *s)
{
    struct sf_engine *e = c->e;
    /* a cookie in answer to a SYN that asked for none is ignored (as Linux) */
    if (!(c->tfo_client & (TFOC_OPT | TFOC_DATA)))
        return;
    uint32_t sent = c->tfo_syn_data;
    uint32_t acked = s->ack - (c->snd.iss + 1);
    int cookie = cookie_usable(&s->opt);
    int retried = c->retrans_segs > 0;
    struct sf_tfo_entry *t = cache_get(e, &c->t, 1);
    if (t) {
        if (s->opt.has & OPT_MSS)
            t->mss = s->opt.mss;
        if (cookie) {
            memcpy(t->cookie, s->opt.fo_cookie, s->opt.fo_len);
            t->cookie_len = s->opt.fo_len;
            t->cookie_exp = s->opt.fo_exp;
        }
        if (retried && !cookie && acked < sent)
            note_loss(e, t);
        else
            t->losses = 0;
        /* A request answered without a cookie: a server that may know only the experimental
         * option (kind 254) before RFC 7413. As Linux, ask once in that form, then go back
         * to kind 34 for good. */
        uint8_t exp = c->tfo_out_exp ? 2 : 1;
        if (!(c->tfo_client & TFOC_DATA) && !retried && !cookie && !t->cookie_len &&
            exp > t->try_exp)
            t->try_exp = exp;
    }
    if (acked < sent) {
        /* §4.2.1 (and Linux): what the SYN-ACK did not acknowledge goes again now, after the
         * handshake, as a retransmission */
        c->snd.nxt = c->snd.una;
        c->tfo_fail = retried ? SF_TFO_FAIL_SYN_RETRANSMITTED : SF_TFO_FAIL_DATA_NOT_ACKED;
        e->st.tfo_client_fallbacks++;
    } else if (sent) {
        c->tfo_client |= TFOC_ACKED;
        c->tfo_fail = SF_TFO_FAIL_NONE;
        e->st.tfo_client_data_acked++;
    } else if (cookie) {
        c->tfo_fail = SF_TFO_FAIL_NONE;
    }
}

void fastopen_syn_timeout(struct sf_conn *c)
{
    if (!(c->tfo_client & (TFOC_OPT | TFOC_DATA)))
        return;
    struct sf_tfo_entry *t = cache_get(c->e, &c->t, 1);
    if (t)
        note_loss(c->e, t);
}
