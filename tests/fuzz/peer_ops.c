/* The fuzzed steps: the peer's segments, raw packets, ICMP errors, the clock and the owner's
 * calls; and the per-step checks. See peer.h. */
#include <errno.h>
#include <string.h>

#include "net/checksum.h"
#include "peer.h"
#include "tcp/seq.h"
#include "tcp/siphash.h"

/* What the engine's receiver expects next: from the handle while the owner holds one, else
 * from the last ACK the engine sent. */
static uint32_t engine_rcv_nxt(const struct fp_slot *s)
{
    if (s->h) {
        struct sf_conn_info info;
        sf_info(s->h, &info);
        if (info.established)
            return info.rcv_nxt;
    }
    return s->e_ack ? s->e_ack : s->p_nxt;
}

static uint32_t engine_una(const struct fp_slot *s)
{
    if (s->h) {
        struct sf_conn_info info;
        sf_info(s->h, &info);
        if (info.established)
            return info.snd_una;
    }
    return s->p_ack;
}

static uint32_t pick_seq(const struct fp_slot *s, struct fz_in *in, uint8_t mode)
{
    int8_t d = (int8_t)fz_u8(in);
    uint32_t rn = engine_rcv_nxt(s);
    switch (mode & 7) {
    case 0:
    case 1: return s->p_nxt;
    case 2: return rn;
    case 3: return rn + (uint32_t)(int32_t)d;
    case 4: return rn + (uint32_t)((int32_t)d * 256);
    case 5: return rn - 1u - (uint8_t)d;
    case 6: return s->p_isn + (uint32_t)(int32_t)d;
    default: return fz_u32(in);
    }
}

static uint32_t pick_ack(const struct fp_slot *s, struct fz_in *in, uint8_t mode)
{
    int8_t d = (int8_t)fz_u8(in);
    switch (mode & 7) {
    case 0:
    case 1: return s->e_max;
    case 2: return s->p_ack;
    case 3: return engine_una(s) + (uint32_t)(int32_t)d;
    case 4: return s->e_max + (uint32_t)(int32_t)d;
    case 5: return s->e_max - (uint32_t)((uint8_t)d * 64u);
    case 6: return s->e_iss + (uint32_t)(int32_t)d;
    default: return fz_u32(in);
    }
}

static void seg_opts(const struct fp *f, const struct fp_slot *s, struct fz_in *in,
                     struct sf_tcp_opts *o)
{
    uint8_t b = fz_u8(in);
    memset(o, 0, sizeof *o);
    if (b & 1) {
        o->has |= OPT_TS;
        o->tsval = s->p_ts + (uint32_t)((f->now - f->start) / 1000u);
        o->tsecr = s->e_tsval;
        if (b & 2) /* an old or a future timestamp: PAWS */
            o->tsval += (uint32_t)(int32_t)(int8_t)fz_u8(in) * 1000u;
    }
    if (b & 4) {
        o->has |= OPT_MSS | OPT_WSCALE | OPT_SACK_OK;
        o->mss = fz_u16(in);
        o->wscale = (uint8_t)(b >> 4);
    }
    if (b & 8) {
        /* SACK blocks above the engine's SND.UNA, in MSS-ish steps */
        uint32_t base = engine_una(s);
        o->has |= OPT_SACK;
        o->nsack = (uint8_t)(1 + ((b >> 4) & 3));
        for (unsigned k = 0; k < o->nsack; k++) {
            uint32_t a = base + (uint32_t)fz_u8(in) * 97u, len = (uint32_t)fz_u8(in) * 53u;
            o->sack[k].start = a;
            o->sack[k].end = a + len;
        }
    }
}

void fp_segment(struct fp *f, struct fz_in *in, int i)
{
    struct fp_slot *s = &f->s[i];
    if (!s->used)
        return;
    uint8_t modes = fz_u8(in), fl = fz_u8(in);
    /* Mostly an ACK with at most FIN or PSH beside it; a quarter of the time any flags. */
    uint8_t flags = (fl & 0xc0) == 0xc0 ? (uint8_t)(fl << 2) : (uint8_t)(TH_ACK | (fl & 0x09));
    uint32_t seq = pick_seq(s, in, modes);
    uint32_t ack = pick_ack(s, in, modes >> 3);
    uint16_t wnd = fz_u16(in);
    uint8_t lb = fz_u8(in);
    uint32_t len = lb < 128 ? lb : (uint32_t)(lb - 127) * 24u;
    struct sf_tcp_opts o;
    memset(&o, 0, sizeof o);
    if (modes & 0x40)
        seg_opts(f, s, in, &o);
    else if (modes & 0x80)
        o.has = 0;
    else if (s->e_tsval || s->p_ts) {
        o.has = OPT_TS;
        o.tsval = s->p_ts + (uint32_t)((f->now - f->start) / 1000u);
        o.tsecr = s->e_tsval;
    }
    fp_send(f, i, flags, seq, ack, wnd, &o, len);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* The checksum field (zero while summed) from the running sum: sf_csum_add sums native
 * 16-bit words, so the folded value goes in as it lies in memory, not in network order. */
static void put_csum(uint8_t *field, uint32_t sum)
{
    uint16_t c = sf_csum_fold(sum);
    memcpy(field, &c, 2);
}

static void ip_header(uint8_t *p, size_t total, uint8_t proto, uint32_t src, uint32_t dst)
{
    memset(p, 0, 20);
    p[0] = 0x45;
    put16(p + 2, (uint16_t)total);
    p[6] = 0x40; /* DF */
    p[8] = 64;
    p[9] = proto;
    memcpy(p + 12, &src, 4);
    memcpy(p + 16, &dst, 4);
    put_csum(p + 10, sf_csum_add(0, p, 20));
}

static void note_raw(struct fp *f, const uint8_t *pkt, size_t n);

static void ip6_header(uint8_t *p, size_t payload, uint8_t nh, const uint8_t *src,
                       const uint8_t *dst)
{
    memset(p, 0, 40);
    p[0] = 0x60;
    put16(p + 4, (uint16_t)payload);
    p[6] = nh;
    p[7] = 64;
    memcpy(p + 8, src, 16);
    memcpy(p + 24, dst, 16);
}

/* The checksum of an upper-layer message of n bytes at msg, with the IPv6 pseudo-header (RFC
 * 8200 §8.1), into msg + at. */
static void csum6(uint8_t *msg, size_t n, size_t at, uint8_t nh, const uint8_t *src,
                  const uint8_t *dst)
{
    uint8_t pseudo[40];
    memcpy(pseudo, src, 16);
    memcpy(pseudo + 16, dst, 16);
    memset(pseudo + 32, 0, 8);
    put16(pseudo + 34, (uint16_t)n);
    pseudo[39] = nh;
    msg[at] = msg[at + 1] = 0;
    put_csum(msg + at, sf_csum_add(sf_csum_add(0, pseudo, 40), msg, n));
}

/* fp_raw for an IPv6 slot: the raw bytes as TCP behind an IPv6 header. */
static void raw6(struct fp *f, const struct fp_slot *s, uint8_t mode, const uint8_t *raw, size_t n)
{
    static uint8_t pkt[40 + 255 * 6];
    memcpy(pkt + 40, raw, n);
    if (n >= 4 && (mode & 2)) {
        put16(pkt + 40, s->pport);
        put16(pkt + 42, s->eport);
    }
    ip6_header(pkt, n, 6, f->paddr6, f->laddr6);
    if (n >= 18 && !(mode & 4))
        csum6(pkt + 40, n, 16, 6, f->paddr6, f->laddr6);
    note_raw(f, pkt, 40 + n);
    int rc = sf_engine_input(f->e, pkt, 40 + n, f->now);
    if (f->trace)
        fprintf(stderr, "         peer6   raw TCP of %zu bytes: %d\n", n, rc);
}

void fp_raw(struct fp *f, struct fz_in *in, int i)
{
    static uint8_t pkt[20 + 255 * 6]; /* the IP header, then up to 255 * 6 raw bytes */
    uint8_t mode = fz_u8(in);
    const uint8_t *raw;
    size_t n = fz_bytes(in, &raw, fz_u8(in) * 6u);
    if (!(mode & 1)) { /* the bytes are the whole packet */
        memcpy(pkt, raw, n);
        note_raw(f, pkt, n);
        sf_engine_input(f->e, pkt, n, f->now);
        return;
    }
    const struct fp_slot *s = &f->s[i];
    if (s->v6) {
        raw6(f, s, mode, raw, n);
        return;
    }
    memcpy(pkt + 20, raw, n);
    if (n >= 4 && (mode & 2)) { /* aimed at the slot's connection */
        put16(pkt + 20, s->pport);
        put16(pkt + 22, s->eport);
    }
    ip_header(pkt, 20 + n, 6, f->paddr, f->laddr);
    if (n >= 18 && !(mode & 4)) {
        uint8_t pseudo[12];
        memcpy(pseudo, &f->paddr, 4);
        memcpy(pseudo + 4, &f->laddr, 4);
        pseudo[8] = 0;
        pseudo[9] = 6;
        put16(pseudo + 10, (uint16_t)n);
        pkt[36] = pkt[37] = 0;
        uint32_t sum = sf_csum_add(sf_csum_add(0, pseudo, 12), pkt + 20, n);
        put_csum(pkt + 36, sum);
    }
    note_raw(f, pkt, 20 + n);
    int rc = sf_engine_input(f->e, pkt, 20 + n, f->now);
    if (f->trace)
        fprintf(stderr, "         peer    raw TCP of %zu bytes: %d\n", n, rc);
}

/* ICMPv6 (RFC 4443): port and address unreachable, Packet Too Big, time exceeded, and a
 * parameter problem and an echo reply that TCP ignores. */
static void icmp6(struct fp *f, struct fz_in *in, const struct fp_slot *s, uint8_t b)
{
    static const uint8_t kinds[][2] = {{1, 4}, {1, 3}, {2, 0},   {1, 1},
                                       {1, 0}, {3, 0}, {129, 0}, {4, 0}};
    uint8_t pkt[40 + 8 + 40 + 8];
    uint8_t *icmp = pkt + 40, *q = pkt + 48;
    memset(icmp, 0, 8);
    icmp[0] = kinds[b & 7][0];
    icmp[1] = kinds[b & 7][1];
    put16(icmp + 6, fz_u16(in)); /* Packet Too Big: the MTU's low half */
    if (b & 0x10)
        icmp[5] = 1; /* an MTU of 64 KiB and more */
    ip6_header(q, 20, 6, f->laddr6, f->paddr6);
    memset(q + 40, 0, 8);
    put16(q + 40, s->eport);
    put16(q + 42, s->pport);
    uint32_t seq = (b & 8) ? fz_u32(in) : engine_una(s);
    uint8_t *sp = q + 44;
    sp[0] = (uint8_t)(seq >> 24);
    sp[1] = (uint8_t)(seq >> 16);
    sp[2] = (uint8_t)(seq >> 8);
    sp[3] = (uint8_t)seq;
    ip6_header(pkt, sizeof pkt - 40, 58, f->paddr6, f->laddr6);
    csum6(icmp, sizeof pkt - 40, 2, 58, f->paddr6, f->laddr6);
    int rc = sf_engine_input(f->e, pkt, sizeof pkt, f->now);
    if (f->trace)
        fprintf(stderr, "         peer6   ICMPv6 %u/%u seq %u: %d\n", icmp[0], icmp[1], seq, rc);
}

void fp_icmp(struct fp *f, struct fz_in *in, int i)
{
    static const uint8_t kinds[][2] = {{3, 4}, {3, 3},  {3, 2}, {3, 1},
                                       {3, 0}, {11, 0}, {0, 0}, {3, 13}};
    const struct fp_slot *s = &f->s[i];
    uint8_t b = fz_u8(in);
    if (s->v6) {
        icmp6(f, in, s, b);
        return;
    }
    uint8_t pkt[20 + 8 + 20 + 8];
    uint8_t *icmp = pkt + 20, *q = pkt + 28;
    memset(icmp, 0, 8);
    icmp[0] = kinds[b & 7][0];
    icmp[1] = kinds[b & 7][1];
    put16(icmp + 6, fz_u16(in)); /* next-hop MTU */
    ip_header(q, 40, 6, f->laddr, f->paddr);
    put16(q + 20, s->eport);
    put16(q + 22, s->pport);
    uint32_t seq = (b & 8) ? fz_u32(in) : engine_una(s);
    uint8_t *sp = q + 24;
    sp[0] = (uint8_t)(seq >> 24);
    sp[1] = (uint8_t)(seq >> 16);
    sp[2] = (uint8_t)(seq >> 8);
    sp[3] = (uint8_t)seq;
    put_csum(icmp + 2, sf_csum_add(0, icmp, 36));
    ip_header(pkt, sizeof pkt, 1, f->paddr, f->laddr);
    int rc = sf_engine_input(f->e, pkt, sizeof pkt, f->now);
    if (f->trace)
        fprintf(stderr, "         peer    ICMP %u/%u seq %u: %d\n", icmp[0], icmp[1], seq, rc);
}

void fp_clock(struct fp *f, struct fz_in *in)
{
    uint8_t b = fz_u8(in);
    sf_time_t to;
    switch (b >> 6) {
    case 0: to = f->now + SF_MS(b & 63); break;
    case 1: {
        sf_time_t d = sf_engine_next_deadline(f->e);
        to = d == SF_TIME_NEVER ? f->now : d;
        break;
    }
    case 2: to = f->now + SF_SEC(b & 63); break;
    default: to = f->now + SF_SEC((sf_time_t)(b & 63) * 60u); break;
    }
    /* Timers fire at their own times on the way, as an event loop would see them. */
    unsigned steps = 0;
    for (sf_time_t d; (d = sf_engine_next_deadline(f->e)) < to;) {
        if (d > f->now)
            f->now = d;
        sf_engine_advance(f->e, f->now);
        FZ_CHECK(++steps < 1000000, "the next deadline stays at %llu", (unsigned long long)d);
    }
    f->now = to;
    sf_engine_advance(f->e, f->now);
}

/* ---- the owner ------------------------------------------------------------------------------- */

static void owner_send(struct fp_slot *s, uint32_t n)
{
    static uint8_t buf[1 << 16];
    if (n > sizeof buf)
        n = sizeof buf;
    if (s->wr + n > FP_MAX_WRITE)
        return;
    for (uint32_t k = 0; k < n; k++)
        buf[k] = fp_owner_byte(s->wr + k);
    s->wr_pending = n;
    ssize_t r = sf_send(s->h, buf, n);
    s->wr_pending = 0;
    FZ_CHECK(r < 0 || (r > 0 && (size_t)r <= n) || n == 0, "send of %u took %zd", n, r);
    if (r > 0)
        s->wr += (uint64_t)r;
}

static void owner_recv(struct fp_slot *s, uint32_t n)
{
    static uint8_t buf[1 << 16];
    if (n > sizeof buf)
        n = sizeof buf;
    size_t readable = sf_readable(s->h);
    ssize_t r = sf_recv(s->h, buf, n);
    FZ_CHECK(r < 0 || (size_t)r <= n, "recv of %u returned %zd", n, r);
    if (r > 0) {
        FZ_CHECK((size_t)r <= readable, "recv returned %zd, readable said %zu", r, readable);
        struct sf_conn_info info;
        sf_info(s->h, &info);
        for (ssize_t k = 0; k < r; k++) {
            uint32_t seq = info.irs + 1u + (uint32_t)(s->rd + (uint64_t)k);
            FZ_CHECK(buf[k] == fp_peer_byte(seq),
                     "byte %llu read is 0x%02x, the peer sent 0x%02x at that sequence number",
                     (unsigned long long)(s->rd + (uint64_t)k), buf[k], fp_peer_byte(seq));
        }
        s->rd += (uint64_t)r;
    }
}

static void owner_misc(struct fp_slot *s, uint8_t b, uint8_t v)
{
    static const long vals[] = {0, 1, 2, 100, 1000, 60000, -1, 0x7fffffff};
    long got;
    switch (b & 3) {
    case 0: sf_setopt(s->h, (enum sf_opt)((b >> 2) % SF_OPT_COUNT), vals[v & 7]); break;
    case 1: sf_getopt(s->h, (enum sf_opt)((b >> 2) % SF_OPT_COUNT), &got); break;
    case 2: sf_take_error(s->h); break;
    default: sf_poll(s->h); break;
    }
}

void fp_owner(struct fp *f, struct fz_in *in, int i, int kind)
{
    struct fp_slot *s = &f->s[i];
    uint8_t b = fz_u8(in);
    if (!s->h)
        return;
    switch (kind) {
    case 0: owner_send(s, b < 200 ? b * 16u : (b - 199u) * 1024u); break;
    case 1: owner_recv(s, b < 200 ? b * 16u : 65536u); break;
    case 2: sf_shutdown(s->h, 1 + b % 3); break;
    case 3:
        sf_close(s->h);
        s->h = NULL;
        break;
    case 4:
        sf_abort(s->h);
        s->h = NULL;
        break;
    default: owner_misc(s, b, fz_u8(in)); break;
    }
    (void)f;
}

/* ---- checks ---------------------------------------------------------------------------------- */

static void check_slot(struct fp_slot *s)
{
    struct sf_conn_info info;
    sf_info(s->h, &info);
    if (!info.established)
        return;
    FZ_CHECK(info.in_flight == info.snd_max - info.snd_una, "in_flight %u, SND.MAX - SND.UNA %u",
             info.in_flight, info.snd_max - info.snd_una);
    FZ_CHECK(seq_le(info.snd_una, info.snd_max), "SND.UNA %u beyond SND.MAX %u", info.snd_una,
             info.snd_max);
    if (s->info_valid && s->info_id == info.id) {
        FZ_CHECK(seq_ge(info.snd_una, s->una), "SND.UNA moved back from %u to %u", s->una,
                 info.snd_una);
        FZ_CHECK(seq_ge(info.snd_max, s->max), "SND.MAX moved back from %u to %u", s->max,
                 info.snd_max);
        FZ_CHECK(seq_ge(info.rcv_nxt, s->rcv_nxt), "RCV.NXT moved back from %u to %u", s->rcv_nxt,
                 info.rcv_nxt);
        FZ_CHECK(info.bytes_received >= s->bytes_received && info.bytes_acked >= s->bytes_acked,
                 "byte counters went down");
    }
    s->info_valid = 1;
    s->info_id = info.id;
    s->una = info.snd_una;
    s->max = info.snd_max;
    s->rcv_nxt = info.rcv_nxt;
    s->bytes_received = info.bytes_received;
    s->bytes_acked = info.bytes_acked;
}

void fp_check(struct fp *f)
{
    for (int i = 0; i < FP_SLOTS; i++)
        if (f->s[i].h)
            check_slot(&f->s[i]);
}

/* ---- Fast Open ------------------------------------------------------------------------------- */

/* The valid cookie for slot s's peer (RFC 7413 §4.1.2): under the listeners' own key when the
 * input gave them one, computed here as docs/engine.md states the function (SipHash-2-4 of
 * the client's then the server's address, little-endian), else the engine's. */
static void valid_cookie(const struct fp *f, const struct fp_slot *s, uint8_t out[8])
{
    struct sf_addr peer, eng;
    fp_addrs(f, s, &peer, &eng);
    if (!f->lkey_set) {
        sf_fastopen_cookie(f->e, &peer, &eng, out);
        return;
    }
    struct sf_sipkey k = {0, 0};
    for (int b = 7; b >= 0; b--) {
        k.k0 = k.k0 << 8 | f->lkey[b];
        k.k1 = k.k1 << 8 | f->lkey[8 + b];
    }
    uint8_t m[32];
    size_t alen = s->v6 ? 16 : 4;
    memcpy(m, peer.u.v6, alen);
    memcpy(m + alen, eng.u.v6, alen);
    uint64_t h = sf_siphash(&k, m, 2 * alen);
    for (int b = 0; b < 8; b++)
        out[b] = (uint8_t)(h >> (8 * b));
}

static uint32_t syn_data_len(uint8_t b)
{
    return b < 200 ? b : (b - 199u) * 64u; /* up to 3.5 KiB, beyond any MSS the engine takes */
}

void fp_tfo_passive(struct fp *f, struct fz_in *in, int i)
{
    struct fp_slot *s = &f->s[i];
    uint8_t ob = fz_u8(in), mb = fz_u8(in), fb = fz_u8(in), lb = fz_u8(in);
    fp_slot_reset(s);
    fp_listen(f, 1 + (ob >> 5));
    s->used = 1;
    s->eport = FP_LPORT;
    fp_new_tuple(f, in, i);
    fp_evict(f, i);
    s->p_isn = s->p_nxt = fz_u32(in);
    s->p_ts = fz_u32(in);
    struct sf_tcp_opts o;
    fp_syn_opts(f, s, ob, mb, &o);
    uint32_t len = syn_data_len(lb);
    uint8_t valid[8];
    valid_cookie(f, s, valid);
    int kind =
        fb & 3; /* 0 no option (data alone), 1 a request, 2 the valid cookie, 3 a wrong one */
    if (kind) {
        o.has |= OPT_FO;
        o.fo_exp = (fb >> 2) & 1;
    }
    if (kind == 2) {
        o.fo_len = 8;
        memcpy(o.fo_cookie, valid, 8);
    } else if (kind == 3) {
        static const uint8_t lens[] = {8, 8, 4, 16};
        o.fo_len = lens[(fb >> 4) & 3];
        memset(o.fo_cookie, 0, sizeof o.fo_cookie);
        memcpy(o.fo_cookie, valid, 8);
        o.fo_cookie[(fb >> 5) & 7] ^= (uint8_t)(1u << (fb >> 5 & 7)); /* one bit off */
        if (o.fo_len == 8 && !memcmp(o.fo_cookie, valid, 8))
            o.fo_cookie[0] ^= 1;
    }
    s->fo_seen = s->synack_seen = 0;
    unsigned embryos = f->embryos;
    fp_send(f, i, TH_SYN, s->p_isn, 0, 65535, &o, len);
    /* What a SYN-ACK of a connection this SYN made says (not an older connection's answer
     * on reused ports, or a full queue's silence) */
    uint32_t taken = 0;
    if (s->synack_seen && f->embryos != embryos) {
        taken = s->synack_ack - (s->p_isn + 1u);
        if (taken > len)
            taken = 0;
        /* RFC 7413 §4.2.2: "If the cookie is not valid, the server MUST discard the initial
         * data"; a request carries none the server may take */
        FZ_CHECK(!taken || kind == 2 || (f->cfg.fastopen & SF_TFO_SERVER_NO_COOKIE),
                 "SYN data acknowledged with %s",
                 kind == 1 ? "a cookie request" : "a wrong cookie");
        /* the SYN-ACK's cookie: this client's, under the key in force (the SYN-ACK is the
         * new connection's first, made now) */
        if (s->fo_seen && s->fo_len)
            FZ_CHECK(s->fo_len == 8 && !memcmp(s->fo, valid, 8),
                     "the SYN-ACK's cookie (%u bytes) is not the client's", s->fo_len);
    }
    if (!s->e_iss_known)
        return; /* dropped, or its SYN-ACK still to come (a full queue) */
    if (!(fb & 8))
        return; /* the rest is the fuzzer's: retransmissions, resets, a late ACK */
    /* The client's ACK, with what the SYN-ACK did not take sent again (§4.2.1) */
    s->p_nxt = s->p_isn + 1u + taken;
    memset(&o, 0, sizeof o);
    if (s->p_tsopt)
        fp_peer_ts(f, s, &o);
    fp_send(f, i, TH_ACK, s->p_nxt, s->e_max, (uint16_t)(65535u >> s->p_wscale), &o, len - taken);
    fp_accept(f);
}

/* The peer as a server answers the engine's Fast Open SYN on slot i: ab picks the ACK (all,
 * none, part of the SYN's data, or beyond it) and the cookie option. */
static void tfo_synack(struct fp *f, struct fz_in *in, int i, uint8_t ob, uint8_t mb, uint8_t ab,
                       uint32_t dlen)
{
    struct fp_slot *s = &f->s[i];
    uint32_t sent = s->e_max - s->e_iss - 1u, ack;
    uint8_t d = fz_u8(in);
    switch (ab & 3) {
    case 0: ack = s->e_max; break;
    case 1: ack = s->e_iss + 1u; break;
    case 2: ack = s->e_iss + 1u + (uint32_t)(((uint64_t)sent * d) >> 8); break;
    default: ack = s->e_max + 1u + (d & 3); break; /* more than was sent */
    }
    struct sf_tcp_opts o;
    fp_syn_opts(f, s, ob, mb, &o);
    if (ab & 4) {
        static const uint8_t lens[] = {8, 4, 16, 5}; /* 5: odd, not usable */
        o.has |= OPT_FO;
        o.fo_exp = (ab >> 3) & 1;
        o.fo_len = (ab & 0x10) ? lens[(ab >> 5) & 3] : 8;
        for (unsigned k = 0; k < o.fo_len; k++)
            o.fo_cookie[k] = fp_peer_byte(d + k * 77u); /* d picks one of a few cookies */
        fp_note_cookie(f, s->v6, &o);
    }
    fp_send(f, i, TH_SYN | TH_ACK, s->p_isn, ack, 65535, &o, dlen);
}

void fp_tfo_active(struct fp *f, struct fz_in *in, int i)
{
    struct fp_slot *s = &f->s[i];
    uint8_t ob = fz_u8(in), mb = fz_u8(in), cb = fz_u8(in), lb = fz_u8(in), ab = fz_u8(in);
    fp_slot_reset(s);
    struct sf_conn *c = sf_socket(f->e);
    if (!c)
        return;
    s->used = 1;
    s->h = c;
    fp_new_tuple(f, in, i);
    s->p_isn = s->p_nxt = fz_u32(in);
    s->p_ts = fz_u32(in);
    struct sf_endpoint to, me;
    struct sf_addr engine_addr;
    memset(&to, 0, sizeof to);
    memset(&me, 0, sizeof me);
    fp_addrs(f, s, &to.addr, &engine_addr);
    to.port = s->pport;
    me.addr.family = to.addr.family;
    if (sf_bind(c, &me) < 0)
        return;
    struct sf_conn_info info;
    sf_info(c, &info);
    s->eport = info.local.port;
    fp_evict(f, i);
    uint32_t n = lb < 200 ? lb * 8u : (lb - 199u) * 1024u;
    int rc;
    if (cb & 1) { /* sendto(MSG_FASTOPEN) */
        static uint8_t buf[1 << 16];
        for (uint32_t k = 0; k < n; k++)
            buf[k] = fp_owner_byte(k);
        s->wr_pending = n;
        ssize_t r = sf_connect_data(c, &to, buf, n);
        s->wr_pending = 0;
        FZ_CHECK(r < 0 || (size_t)r <= n, "sf_connect_data of %u took %zd", n, r);
        if (r > 0)
            s->wr = (uint64_t)r;
        rc = r < 0 ? (int)r : 0;
    } else {
        if (!(cb & 2)) /* else a plain connect, which never uses Fast Open */
            sf_setopt(c, SF_OPT_FASTOPEN_CONNECT, 1);
        rc = sf_connect(c, &to);
        if ((rc == 0 || rc == -EINPROGRESS) && (cb & 4)) /* the first write sends the SYN */
            owner_send(s, n);
    }
    if (cb & 8)
        sf_shutdown(c, SF_SHUT_WR); /* a FIN queued behind the SYN's data */
    if ((rc != 0 && rc != -EINPROGRESS) || !s->e_iss_known || (ab & 0x80))
        return; /* no SYN yet, or its answer left to the fuzzer */
    static const uint32_t dl[] = {0, 0, 10, 300};
    tfo_synack(f, in, i, ob, mb, ab, dl[(cb >> 4) & 3]);
}

void fp_note_cookie(struct fp *f, int v6, const struct sf_tcp_opts *o)
{
    if (!(o->has & OPT_FO) || !o->fo_len || o->fo_len > SF_FO_COOKIE_MAX)
        return;
    unsigned n = f->nfo[v6];
    for (unsigned k = 0; k < n && k < FP_FO_KEEP; k++)
        if (f->fo_len[v6][k] == o->fo_len && !memcmp(f->fo[v6][k], o->fo_cookie, o->fo_len))
            return;
    f->nfo[v6]++;
    if (n < FP_FO_KEEP) {
        f->fo_len[v6][n] = o->fo_len;
        memcpy(f->fo[v6][n], o->fo_cookie, o->fo_len);
    }
}

/* Raw bytes that parse as a segment may carry a cookie the engine then caches. */
static void note_raw(struct fp *f, const uint8_t *pkt, size_t n)
{
    struct sf_seg g;
    if (sf_seg_parse(pkt, n, &g) == SEG_OK && (g.flags & TH_SYN) && (g.flags & TH_ACK))
        fp_note_cookie(f, g.t.laddr.family == SF_AF_INET6, &g.opt);
}

void fp_tfo_misc(struct fp *f, struct fz_in *in)
{
    static const uint8_t qlens[] = {0, 1, 2, 16};
    uint8_t m = fz_u8(in);
    struct sf_conn *ls[2] = {f->listener, f->listener6};
    switch (m & 7) {
    case 2:   /* the listeners' own key (TCP_FASTOPEN_KEY) */
    case 3: { /* the engine's key (tcp_fastopen_key) */
        uint8_t key[16];
        for (int k = 0; k < 16; k++)
            key[k] = (uint8_t)((m >> 3) * 31u + (unsigned)k * 7u);
        if ((m & 7) == 3) { /* the listeners' own key, if any, stays theirs */
            sf_engine_set_fastopen_key(f->e, key);
            break;
        }
        memcpy(f->lkey, key, 16);
        f->lkey_set = 1;
        for (int k = 0; k < 2; k++)
            if (ls[k])
                sf_set_fastopen_key(ls[k], f->lkey);
        break;
    }
    case 4:
        /* The cookies given stay known: a connect waiting for its first write holds its
         * cookie already */
        sf_fastopen_cache_flush(f->e);
        break;
    case 5: /* read-only: the queue length, the room of each waiting Fast Open connect */
        for (int k = 0; k < 2; k++) {
            long v;
            if (ls[k])
                sf_getopt(ls[k], SF_OPT_FASTOPEN, &v);
        }
        for (int k = 0; k < FP_SLOTS; k++)
            if (f->s[k].h)
                FZ_CHECK(sf_fastopen_room(f->s[k].h) < 65536, "Fast Open room beyond 64 KiB");
        break;
    default: /* the listeners' queue length (TCP_FASTOPEN) */
        f->tfo_qlen = qlens[(m >> 3) & 3];
        if (!ls[0] && !ls[1])
            fp_listen(f, 1 + (m >> 5));
        for (int k = 0; k < 2; k++)
            if (ls[k])
                sf_setopt(ls[k], SF_OPT_FASTOPEN, f->tfo_qlen);
        break;
    }
}
