/* Packet lines: direction, ports, flags, sequence numbers, ack/win/urg and TCP options. */
#include "parse_int.h"

#include <stdio.h>
#include <string.h>

/* ---- packets -------------------------------------------------------------------------------- */

/* Adds the flag letters of a word token. */
static int flag_letters(struct parser *p, const struct dr_token *t, uint8_t *out)
{
    static const char letters[] = "FSRPUEW";
    static const uint8_t bits[] = {DR_FIN, DR_SYN, DR_RST, DR_PSH, DR_URG, DR_ECE, DR_CWR};
    for (size_t k = 0; k < t->len; k++) {
        const char *at = strchr(letters, t->text[k]);
        struct dr_pos pos = {t->pos.line, t->pos.col + (int)k};
        if (!at)
            return dp_fail(p, pos, "unknown TCP flag '%c' (flags are F S R P . U E W)", t->text[k]);
        uint8_t bit = bits[at - letters];
        if (*out & bit)
            return dp_fail(p, pos, "TCP flag '%c' given twice", t->text[k]);
        *out |= bit;
    }
    p->i++;
    return 0;
}

/* "S", "S.", ".", "-", and the way they are printed: "FSRP.UEW" (letters after the dot are
 * taken when they touch it). */
static int flags(struct parser *p, uint8_t *out)
{
    const struct dr_token *t = tok(p);
    *out = 0;
    if (is_punct(t, '-')) {
        p->i++;
        return 0;
    }
    if (t->kind == DR_T_WORD && flag_letters(p, t, out) < 0)
        return -1;
    const struct dr_token *dot = tok(p);
    if (is_punct(dot, '.')) {
        p->i++;
        *out |= DR_ACK;
        const struct dr_token *w = tok(p);
        if (w->kind == DR_T_WORD && w->pos.line == dot->pos.line &&
            w->pos.col == dot->pos.col + 1 && flag_letters(p, w, out) < 0)
            return -1;
    }
    if (!*out && t->kind != DR_T_WORD) {
        char b[64];
        return dp_fail(p, t->pos, "expected TCP flags (S, S., ., P., F., R, R., ...), got %s",
                       dp_describe(t, b, sizeof b));
    }
    return 0;
}

/* After FO/FOEXP: nothing (a cookie request), a hex string (`FO 00abaaabe8e954c2`: up to 16
 * bytes, as packetdrill takes it) or a name (packetdrill's TFO_COOKIE). */
static int fo_cookie(struct parser *p, struct dr_tcp_opt *o)
{
    const struct dr_token *t = tok(p);
    if (t->kind != DR_T_WORD && t->kind != DR_T_INT)
        return 0;
    /* packetdrill takes any even number of hex digits up to 16 bytes, "since we want to
     * allow test cases that supply invalid cookies" (RFC 7413 §4.1.1 says 4 to 16 bytes) */
    int hex = t->len <= 32;
    for (size_t k = 0; hex && k < t->len; k++)
        hex = dp_hex_digit(t->text[k]) >= 0;
    if (hex && t->len % 2)
        return dp_fail(p, t->pos, "TCP fast open cookie has an odd number of digits");
    if (!hex && t->kind == DR_T_INT)
        return dp_fail(p, t->pos, "a Fast Open cookie is at most 32 hex digits");
    p->i++;
    if (!hex) {
        o->fo_named = 1;
        o->a = 8;
        return 0;
    }
    o->a = (uint32_t)(t->len / 2);
    for (size_t k = 0; k < o->a; k++)
        o->fo[k] = (uint8_t)(dp_hex_digit(t->text[2 * k]) << 4 | dp_hex_digit(t->text[2 * k + 1]));
    return 0;
}

/* packetdrill's `md5 HEX`: an RFC 2385 signature of up to 16 bytes. Read as packetdrill
 * reads it (a bad digest is the script's error), then the script is unsupported: the engine
 * neither signs nor checks segments. */
static int md5_option(struct parser *p)
{
    const struct dr_token *t = tok(p);
    p->i++;
    const struct dr_token *d = tok(p);
    if (d->kind != DR_T_WORD && d->kind != DR_T_INT)
        return dp_fail(p, d->pos, "expected the MD5 digest (hex) after md5");
    if (d->len > 32)
        return dp_fail(p, d->pos, "TCP MD5 digest longer than 16 bytes");
    for (size_t k = 0; k < d->len; k++)
        if (dp_hex_digit(d->text[k]) < 0)
            return dp_fail(p, d->pos, "TCP MD5 digest is not a valid hex string");
    p->i++;
    p->err->unsupported = 1;
    return dp_fail(p, t->pos, "TCP MD5 signatures (RFC 2385): the md5 option");
}

static int tcp_option(struct parser *p, struct dr_packet *pk)
{
    const struct dr_token *t = tok(p);
    if (pk->nopts == DR_MAX_OPTS)
        return dp_fail(p, t->pos, "too many TCP options");
    struct dr_tcp_opt *o = &pk->opts[pk->nopts];
    memset(o, 0, sizeof *o);
    int64_t v;
    if (is_word(t, "nop")) {
        o->kind = DR_OPT_NOP;
        p->i++;
    } else if (is_word(t, "eol")) {
        o->kind = DR_OPT_EOL;
        p->i++;
    } else if (is_word(t, "mss")) {
        p->i++;
        if (dp_integer(p, 0, 65535, "mss value", &v) < 0)
            return -1;
        o->kind = DR_OPT_MSS;
        o->a = (uint32_t)v;
    } else if (is_word(t, "wscale")) {
        p->i++;
        if (dp_integer(p, 0, 255, "window scale shift", &v) < 0)
            return -1;
        o->kind = DR_OPT_WSCALE;
        o->a = (uint32_t)v;
    } else if (is_word(t, "sackOK")) {
        o->kind = DR_OPT_SACKOK;
        p->i++;
    } else if (is_word(t, "sack")) {
        p->i++;
        o->kind = DR_OPT_SACK;
        do {
            if (o->nsack == DR_MAX_SACK)
                return dp_fail(p, tok(p)->pos, "at most %d SACK blocks fit in a segment",
                               DR_MAX_SACK);
            if (dp_u32(p, "SACK block start", &o->sack[o->nsack][0]) < 0 ||
                dp_expect_punct(p, ':', "in a SACK block (start:end)") < 0 ||
                dp_u32(p, "SACK block end", &o->sack[o->nsack][1]) < 0)
                return -1;
            o->nsack++;
        } while (tok(p)->kind == DR_T_INT);
    } else if (is_word(t, "TS")) {
        p->i++;
        if (!is_word(tok(p), "val"))
            return dp_fail(p, tok(p)->pos, "expected 'val' after TS");
        p->i++;
        if (dp_u32(p, "TS val", &o->a) < 0)
            return -1;
        if (!is_word(tok(p), "ecr"))
            return dp_fail(p, tok(p)->pos, "expected 'ecr' after TS val");
        p->i++;
        if (dp_u32(p, "TS ecr", &o->b) < 0)
            return -1;
        if (is_punct(tok(p), '!')) { /* nplab packetdrill's absolute ecr */
            o->ecr_abs = 1;
            p->i++;
        }
        o->kind = DR_OPT_TS;
    } else if (is_word(t, "FO") || is_word(t, "FOEXP")) {
        p->i++;
        o->kind = is_word(t, "FO") ? DR_OPT_FO : DR_OPT_FOEXP;
        if (fo_cookie(p, o) < 0)
            return -1;
    } else if (is_word(t, "md5")) {
        return md5_option(p);
    } else {
        char b[64];
        /* packetdrill's other options: MPTCP, ... */
        p->err->unsupported = t->kind == DR_T_WORD;
        return dp_fail(p, t->pos,
                       "unknown TCP option %s (synfin-drill knows nop, eol, mss, wscale, "
                       "sackOK, sack, TS, FO, FOEXP)",
                       dp_describe(t, b, sizeof b));
    }
    pk->nopts++;
    return 0;
}

static int tcp_options(struct parser *p, struct dr_packet *pk)
{
    pk->opts_pos = tok(p)->pos;
    p->i++; /* '<' */
    if (tok(p)->kind == DR_T_ELLIPSIS) {
        p->i++;
        pk->opts_mode = DR_OPTS_ANY;
        if (pk->dir == '<')
            return dp_fail(p, pk->opts_pos,
                           "<...> for TCP options can only be used with "
                           "outbound packets");
        return dp_expect_punct(p, '>', "after <...");
    }
    pk->opts_mode = DR_OPTS_LIST;
    for (;;) {
        if (tcp_option(p, pk) < 0)
            return -1;
        if (is_punct(tok(p), ',')) {
            p->i++;
            continue;
        }
        return dp_expect_punct(p, '>', "or ',' in the TCP option list");
    }
}

/* A hex number token in [0, max] (packetdrill wants 0x for tos and flowlabel). */
static int hex_value(struct parser *p, int64_t max, const char *what, int64_t *out)
{
    const struct dr_token *t = tok(p);
    if (t->kind != DR_T_INT || t->len < 3 || t->text[0] != '0' || (t->text[1] | 0x20) != 'x')
        return dp_fail(p, t->pos, "expected %s as a hex number (0x...)", what);
    return dp_integer(p, 0, max, what, out);
}

/* One of packetdrill's ip_info items. */
static int ip_item(struct parser *p, struct dr_packet *pk)
{
    static const char *const ecn[] = {"noecn", "ect1", "ect0", "ce"};
    const struct dr_token *t = tok(p);
    int64_t v;
    for (int k = 0; k < 4; k++)
        if (is_word(t, ecn[k])) {
            pk->tos_check = DR_TOS_ECN, pk->tos = (uint8_t)k;
            p->i++;
            return 0;
        }
    if (is_word(t, "ect01")) {
        if (pk->dir == '<')
            return dp_fail(p, t->pos, "[ect01] can only be used with outbound packets");
        pk->tos_check = DR_TOS_ECT01;
        p->i++;
        return 0;
    }
    if (is_word(t, "tos")) {
        p->i++;
        if (hex_value(p, 255, "tos", &v) < 0)
            return -1;
        pk->tos_check = DR_TOS_BYTE, pk->tos = (uint8_t)v;
        return 0;
    }
    if (is_word(t, "flowlabel")) {
        p->i++;
        if (hex_value(p, 0xfffff, "flowlabel", &v) < 0)
            return -1;
        pk->flowlabel = (uint32_t)v;
        return 0;
    }
    if (is_word(t, "ttl")) {
        p->i++;
        if (dp_integer(p, 1, 255, "ttl", &v) < 0)
            return -1;
        pk->ttl = (uint8_t)v;
        return 0;
    }
    char b[64];
    return dp_fail(p, t->pos,
                   "expected an IP attribute (noecn, ect0, ect1, ce, ect01, tos 0x.., "
                   "flowlabel 0x.., ttl N), got %s",
                   dp_describe(t, b, sizeof b));
}

/* packetdrill's ip_info, between ( ) or [ ]: items separated by commas. */
static int ip_info(struct parser *p, struct dr_packet *pk)
{
    char close = tok(p)->punct == '(' ? ')' : ']';
    p->i++;
    for (;;) {
        if (ip_item(p, pk) < 0)
            return -1;
        if (!is_punct(tok(p), ','))
            return dp_expect_punct(p, close, "after the IP attributes");
        p->i++;
    }
}

/* "icmp TYPE [CODE] [mtu N] [[seq:end(len)]]" after the direction. */
static int icmp_packet(struct parser *p, struct dr_packet *pk)
{
    p->i++; /* icmp */
    const struct dr_token *t = tok(p);
    int64_t v;
    pk->icmp = 1;
    pk->icmp_mtu = -1;
    if (t->kind != DR_T_WORD)
        return dp_fail(p, t->pos, "expected an ICMP type (unreachable, packet_too_big, ...)");
    if (!(pk->icmp_type = dp_copy(p, t->text, t->len)))
        return -1;
    p->i++;
    t = tok(p);
    if (t->kind == DR_T_WORD && !is_word(t, "mtu") && !is_word(t, "id")) {
        if (!(pk->icmp_code = dp_copy(p, t->text, t->len)))
            return -1;
        p->i++;
    }
    if (is_word(tok(p), "mtu")) {
        p->i++;
        if (dp_integer(p, 0, 65535, "ICMP mtu", &v) < 0)
            return -1;
        pk->icmp_mtu = v;
    }
    if (is_word(tok(p), "id")) {
        p->err->unsupported = 1;
        return dp_fail(p, tok(p)->pos, "ICMP echo (id): only errors about TCP segments");
    }
    if (!is_punct(tok(p), '['))
        return 0;
    p->i++;
    if (tok(p)->kind == DR_T_WORD) { /* [udp (N)], [raw (N)] */
        p->err->unsupported = 1;
        return dp_fail(p, tok(p)->pos, "ICMP quoting a non-TCP packet");
    }
    const struct dr_token *seq_tok = tok(p);
    uint32_t end;
    if (dp_u32(p, "start sequence number", &pk->seq) < 0 ||
        dp_expect_punct(p, ':', "in seq:end(len)") < 0 ||
        dp_u32(p, "end sequence number", &end) < 0 ||
        dp_expect_punct(p, '(', "in seq:end(len)") < 0 ||
        dp_integer(p, 0, 65535, "payload length", &v) < 0 ||
        dp_expect_punct(p, ')', "in seq:end(len)") < 0)
        return -1;
    pk->len = (uint32_t)v;
    if ((uint32_t)(pk->seq + pk->len) != end)
        return dp_fail(p, seq_tok->pos, "inconsistent TCP sequence numbers and payload size");
    return dp_expect_punct(p, ']', "after the quoted segment");
}

int dp_packet(struct parser *p, struct dr_event *ev)
{
    struct dr_packet *pk = &ev->pkt;
    ev->kind = DR_EV_PACKET;
    pk->dir = tok(p)->punct;
    p->i++;
    if ((is_punct(tok(p), '(') || is_punct(tok(p), '[')) && ip_info(p, pk) < 0)
        return -1;
    if (is_word(tok(p), "icmp"))
        return icmp_packet(p, pk);
    if (is_word(tok(p), "udp") || is_word(tok(p), "gre") || is_word(tok(p), "mpls") ||
        is_word(tok(p), "ipv4") || is_word(tok(p), "ipv6")) {
        p->err->unsupported = 1;
        return dp_fail(p, tok(p)->pos, "%.*s packets: synfin-drill speaks TCP and ICMP",
                       (int)tok(p)->len, tok(p)->text);
    }
    if (tok(p)->kind == DR_T_INT && is_punct(ahead(p, 1), '>')) {
        int64_t a, b;
        if (dp_integer(p, 0, 65535, "source port", &a) < 0)
            return -1;
        p->i++;
        if (dp_integer(p, 0, 65535, "destination port", &b) < 0)
            return -1;
        pk->has_ports = 1;
        pk->sport = (uint16_t)a;
        pk->dport = (uint16_t)b;
    }
    if (flags(p, &pk->flags) < 0)
        return -1;
    const struct dr_token *seq_tok = tok(p);
    uint32_t end;
    int64_t len;
    if (dp_u32(p, "start sequence number", &pk->seq) < 0 ||
        dp_expect_punct(p, ':', "in seq:end(len)") < 0 ||
        dp_u32(p, "end sequence number", &end) < 0 ||
        dp_expect_punct(p, '(', "in seq:end(len)") < 0 ||
        dp_integer(p, 0, 65535, "payload length", &len) < 0 ||
        dp_expect_punct(p, ')', "in seq:end(len)") < 0)
        return -1;
    pk->len = (uint32_t)len;
    if ((uint32_t)(pk->seq + pk->len) != end)
        return dp_fail(p, seq_tok->pos, "inconsistent sequence numbers: %u:%u is %u bytes, not %u",
                       pk->seq, end, end - pk->seq, pk->len);
    if (is_punct(tok(p), '!')) { /* nplab packetdrill's absolute sequence number */
        pk->seq_abs = 1;
        p->i++;
    }
    for (;;) {
        const struct dr_token *t = tok(p);
        int *has;
        uint32_t *val;
        int64_t hi;
        if (is_word(t, "ack")) {
            has = &pk->has_ack, val = &pk->ack, hi = UINT32_MAX;
        } else if (is_word(t, "win")) {
            has = &pk->has_win, val = &pk->win, hi = 65535;
        } else if (is_word(t, "urg")) {
            has = &pk->has_urg, val = &pk->urg, hi = 65535;
        } else {
            break;
        }
        if (*has)
            return dp_fail(p, t->pos, "'%.*s' given twice", (int)t->len, t->text);
        p->i++;
        int64_t v;
        if (dp_integer(p, 0, hi,
                       t->text[0] == 'a'   ? "ack number"
                       : t->text[0] == 'w' ? "window"
                                           : "urgent pointer",
                       &v) < 0)
            return -1;
        *has = 1;
        *val = (uint32_t)v;
    }
    if (is_punct(tok(p), '<') && tcp_options(p, pk) < 0)
        return -1;
    if (pk->dir == '<' && !pk->has_win)
        return dp_fail(p, ev->pos, "window must be specified for inbound packets (win N)");
    return 0;
}
