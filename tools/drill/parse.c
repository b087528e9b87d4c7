#include "parse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lexer.h"
#include "prep.h"

struct parser {
    const struct dr_token *t; /* tokens, ending with DR_T_EOF */
    size_t i;
    struct dr_script *s;
    size_t events_cap, opts_cap;
    struct dr_error *err;
};

__attribute__((format(printf, 3, 4))) static int fail(struct parser *p, struct dr_pos at,
                                                      const char *fmt, ...)
{
    p->err->pos = at;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->msg, sizeof p->err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

static const struct dr_token *tok(const struct parser *p)
{
    return &p->t[p->i];
}

static const struct dr_token *ahead(const struct parser *p, size_t n)
{
    size_t i = p->i;
    while (n-- && p->t[i].kind != DR_T_EOF)
        i++;
    return &p->t[i];
}

static int is_punct(const struct dr_token *t, char c)
{
    return t->kind == DR_T_PUNCT && t->punct == c;
}

static int is_word(const struct dr_token *t, const char *w)
{
    return t->kind == DR_T_WORD && strlen(w) == t->len && memcmp(t->text, w, t->len) == 0;
}

/* How a token reads in an error message. */
static const char *describe(const struct dr_token *t, char *buf, size_t len)
{
    if (t->kind == DR_T_EOF)
        return "end of file";
    snprintf(buf, len, "'%.*s'", (int)(t->len > 40 ? 40 : t->len), t->text);
    return buf;
}

static int expect_punct(struct parser *p, char c, const char *where)
{
    if (is_punct(tok(p), c)) {
        p->i++;
        return 0;
    }
    char b[64];
    return fail(p, tok(p)->pos, "expected '%c' %s, got %s", c, where,
                describe(tok(p), b, sizeof b));
}

static void *alloc(struct parser *p, size_t n)
{
    void *m = dr_arena_alloc(&p->s->arena, n);
    if (!m)
        fail(p, tok(p)->pos, "out of memory");
    return m;
}

static char *copy(struct parser *p, const char *s, size_t n)
{
    char *m = dr_arena_strndup(&p->s->arena, s, n);
    if (!m)
        fail(p, tok(p)->pos, "out of memory");
    return m;
}

/* An integer token in [lo, hi]. */
static int integer(struct parser *p, int64_t lo, int64_t hi, const char *what, int64_t *out)
{
    const struct dr_token *t = tok(p);
    char b[64];
    if (t->kind != DR_T_INT)
        return fail(p, t->pos, "expected %s, got %s", what, describe(t, b, sizeof b));
    if (t->num < lo || t->num > hi)
        return fail(p, t->pos, "%s %lld out of range [%lld, %lld]", what, (long long)t->num,
                    (long long)lo, (long long)hi);
    *out = t->num;
    p->i++;
    return 0;
}

static int u32(struct parser *p, const char *what, uint32_t *out)
{
    int64_t v;
    if (integer(p, 0, UINT32_MAX, what, &v) < 0)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* ---- times ------------------------------------------------------------------------------ */

int dr_parse_seconds(const char *text, size_t len, int64_t *us)
{
    size_t i = 0;
    int64_t sec = 0;
    if (!len)
        return -1;
    while (i < len && text[i] >= '0' && text[i] <= '9') {
        sec = sec * 10 + (text[i++] - '0');
        if (sec > 1000000000)
            return -1;
    }
    int64_t frac = 0;
    int digits = 0, round_up = 0;
    if (i < len && text[i] == '.') {
        i++;
        if (i == len)
            return -1;
        while (i < len && text[i] >= '0' && text[i] <= '9') {
            if (digits < 6)
                frac = frac * 10 + (text[i] - '0');
            else if (digits == 6)
                round_up = text[i] >= '5';
            digits++;
            i++;
        }
    }
    if (i != len || (i == 0))
        return -1;
    for (; digits < 6; digits++)
        frac *= 10;
    *us = sec * 1000000 + frac + round_up;
    return 0;
}

static int time_value(struct parser *p, int64_t *us)
{
    const struct dr_token *t = tok(p);
    char b[64];
    if (t->kind != DR_T_INT && t->kind != DR_T_FLOAT)
        return fail(p, t->pos, "expected a time in seconds, got %s", describe(t, b, sizeof b));
    if (t->text[0] == '-')
        return fail(p, t->pos, "negative time");
    if (dr_parse_seconds(t->text, t->len, us) < 0)
        return fail(p, t->pos, "time %.*s is out of range", (int)t->len, t->text);
    p->i++;
    return 0;
}

static int event_time(struct parser *p, struct dr_time *out)
{
    memset(out, 0, sizeof *out);
    if (is_punct(tok(p), '*')) {
        p->i++;
        out->kind = DR_TIME_ANY;
        return 0;
    }
    if (is_punct(tok(p), '+')) {
        p->i++;
        if (time_value(p, &out->start) < 0)
            return -1;
        out->kind = DR_TIME_REL;
        if (is_punct(tok(p), '~')) {
            p->i++;
            if (expect_punct(p, '+', "in a relative time range (+a~+b)") < 0 ||
                time_value(p, &out->end) < 0)
                return -1;
            out->kind = DR_TIME_REL_RANGE;
        }
        return 0;
    }
    const struct dr_token *t = tok(p);
    if (t->kind != DR_T_INT && t->kind != DR_T_FLOAT) {
        char b[64];
        return fail(p, t->pos, "expected an event time (0.1, +0.1, * or a~b), got %s",
                    describe(t, b, sizeof b));
    }
    if (time_value(p, &out->start) < 0)
        return -1;
    out->kind = DR_TIME_ABS;
    if (is_punct(tok(p), '~')) {
        p->i++;
        if (time_value(p, &out->end) < 0)
            return -1;
        out->kind = DR_TIME_ABS_RANGE;
    }
    return 0;
}

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
            return fail(p, pos, "unknown TCP flag '%c' (flags are F S R P . U E W)", t->text[k]);
        uint8_t bit = bits[at - letters];
        if (*out & bit)
            return fail(p, pos, "TCP flag '%c' given twice", t->text[k]);
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
        return fail(p, t->pos, "expected TCP flags (S, S., ., P., F., R, R., ...), got %s",
                    describe(t, b, sizeof b));
    }
    return 0;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* After FO/FOEXP: nothing (a cookie request), a hex string (`FO 00abaaabe8e954c2`: 4 to 16
 * bytes, as packetdrill takes it) or a name (packetdrill's TFO_COOKIE). */
static int fo_cookie(struct parser *p, struct dr_tcp_opt *o)
{
    const struct dr_token *t = tok(p);
    if (t->kind != DR_T_WORD && t->kind != DR_T_INT)
        return 0;
    int hex = t->len % 2 == 0 && t->len >= 8 && t->len <= 32;
    for (size_t k = 0; hex && k < t->len; k++)
        hex = hex_digit(t->text[k]) >= 0;
    if (!hex && t->kind == DR_T_INT)
        return fail(p, t->pos, "a Fast Open cookie is 8 to 32 hex digits, an even number");
    p->i++;
    if (!hex) {
        o->fo_named = 1;
        o->a = 8;
        return 0;
    }
    o->a = (uint32_t)(t->len / 2);
    for (size_t k = 0; k < o->a; k++)
        o->fo[k] = (uint8_t)(hex_digit(t->text[2 * k]) << 4 | hex_digit(t->text[2 * k + 1]));
    return 0;
}

static int tcp_option(struct parser *p, struct dr_packet *pk)
{
    const struct dr_token *t = tok(p);
    if (pk->nopts == DR_MAX_OPTS)
        return fail(p, t->pos, "too many TCP options");
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
        if (integer(p, 0, 65535, "mss value", &v) < 0)
            return -1;
        o->kind = DR_OPT_MSS;
        o->a = (uint32_t)v;
    } else if (is_word(t, "wscale")) {
        p->i++;
        if (integer(p, 0, 255, "window scale shift", &v) < 0)
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
                return fail(p, tok(p)->pos, "at most %d SACK blocks fit in a segment", DR_MAX_SACK);
            if (u32(p, "SACK block start", &o->sack[o->nsack][0]) < 0 ||
                expect_punct(p, ':', "in a SACK block (start:end)") < 0 ||
                u32(p, "SACK block end", &o->sack[o->nsack][1]) < 0)
                return -1;
            o->nsack++;
        } while (tok(p)->kind == DR_T_INT);
    } else if (is_word(t, "TS")) {
        p->i++;
        if (!is_word(tok(p), "val"))
            return fail(p, tok(p)->pos, "expected 'val' after TS");
        p->i++;
        if (u32(p, "TS val", &o->a) < 0)
            return -1;
        if (!is_word(tok(p), "ecr"))
            return fail(p, tok(p)->pos, "expected 'ecr' after TS val");
        p->i++;
        if (u32(p, "TS ecr", &o->b) < 0)
            return -1;
        o->kind = DR_OPT_TS;
    } else if (is_word(t, "FO") || is_word(t, "FOEXP")) {
        p->i++;
        o->kind = is_word(t, "FO") ? DR_OPT_FO : DR_OPT_FOEXP;
        if (fo_cookie(p, o) < 0)
            return -1;
    } else {
        char b[64];
        /* packetdrill's other options: MD5, MPTCP, ... */
        p->err->unsupported = t->kind == DR_T_WORD;
        return fail(p, t->pos,
                    "unknown TCP option %s (synfin-drill knows nop, eol, mss, wscale, "
                    "sackOK, sack, TS, FO, FOEXP)",
                    describe(t, b, sizeof b));
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
            return fail(p, pk->opts_pos,
                        "<...> for TCP options can only be used with "
                        "outbound packets");
        return expect_punct(p, '>', "after <...");
    }
    pk->opts_mode = DR_OPTS_LIST;
    for (;;) {
        if (tcp_option(p, pk) < 0)
            return -1;
        if (is_punct(tok(p), ',')) {
            p->i++;
            continue;
        }
        return expect_punct(p, '>', "or ',' in the TCP option list");
    }
}

static int packet(struct parser *p, struct dr_event *ev)
{
    struct dr_packet *pk = &ev->pkt;
    ev->kind = DR_EV_PACKET;
    pk->dir = tok(p)->punct;
    p->i++;
    p->err->unsupported = is_punct(tok(p), '(') || is_punct(tok(p), '[');
    if (p->err->unsupported)
        return fail(p, tok(p)->pos,
                    "IP-level packet attributes (tos, ecn, ttl) are not "
                    "supported");
    if (tok(p)->kind == DR_T_INT && is_punct(ahead(p, 1), '>')) {
        int64_t a, b;
        if (integer(p, 0, 65535, "source port", &a) < 0)
            return -1;
        p->i++;
        if (integer(p, 0, 65535, "destination port", &b) < 0)
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
    if (u32(p, "start sequence number", &pk->seq) < 0 ||
        expect_punct(p, ':', "in seq:end(len)") < 0 || u32(p, "end sequence number", &end) < 0 ||
        expect_punct(p, '(', "in seq:end(len)") < 0 ||
        integer(p, 0, 65535, "payload length", &len) < 0 ||
        expect_punct(p, ')', "in seq:end(len)") < 0)
        return -1;
    pk->len = (uint32_t)len;
    if ((uint32_t)(pk->seq + pk->len) != end)
        return fail(p, seq_tok->pos, "inconsistent sequence numbers: %u:%u is %u bytes, not %u",
                    pk->seq, end, end - pk->seq, pk->len);
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
            return fail(p, t->pos, "'%.*s' given twice", (int)t->len, t->text);
        p->i++;
        int64_t v;
        if (integer(p, 0, hi,
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
        return fail(p, ev->pos, "window must be specified for inbound packets (win N)");
    return 0;
}

/* ---- expressions ---------------------------------------------------------------------------- */

static struct dr_expr *expr_or(struct parser *p);

static struct dr_expr *new_expr(struct parser *p, enum dr_expr_kind kind, struct dr_pos pos)
{
    struct dr_expr *e = alloc(p, sizeof *e);
    if (e) {
        e->kind = kind;
        e->pos = pos;
    }
    return e;
}

/* Items up to the closing character, separated by commas. */
static int expr_items(struct parser *p, char close, struct dr_expr *e)
{
    size_t cap = 0;
    if (is_punct(tok(p), close)) {
        p->i++;
        return 0;
    }
    for (;;) {
        struct dr_expr *item = expr_or(p);
        if (!item)
            return -1;
        if (e->n == cap) {
            cap = cap ? cap * 2 : 4;
            struct dr_expr **v = alloc(p, cap * sizeof *v);
            if (!v)
                return -1;
            if (e->n)
                memcpy(v, e->items, e->n * sizeof *v);
            e->items = v;
        }
        e->items[e->n++] = item;
        if (is_punct(tok(p), ',')) {
            p->i++;
            continue;
        }
        char where[32];
        snprintf(where, sizeof where, "or ',' in the list");
        return expect_punct(p, close, where);
    }
}

/* Undoes backslash escapes of a string token, appending to buf. */
static size_t unescape(const char *s, size_t n, char *buf)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n) {
            c = s[++i];
            switch (c) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case '0': c = '\0'; break;
            case 'x': { /* \xHH, as C: binary keys (TCP_FASTOPEN_KEY) are written so */
                int v = 0, k = 0;
                while (k < 2 && i + 1 < n && hex_digit(s[i + 1]) >= 0)
                    v = v * 16 + hex_digit(s[++i]), k++;
                c = k ? (char)v : 'x';
                break;
            }
            default: break;
            }
        }
        buf[o++] = c;
    }
    return o;
}

static struct dr_expr *expr_string(struct parser *p)
{
    struct dr_expr *e = new_expr(p, DR_X_STRING, tok(p)->pos);
    if (!e)
        return NULL;
    size_t total = 0;
    for (size_t k = p->i; p->t[k].kind == DR_T_STRING; k++)
        total += p->t[k].len;
    char *buf = alloc(p, total + 1);
    if (!buf)
        return NULL;
    size_t o = 0;
    while (tok(p)->kind == DR_T_STRING) {
        o += unescape(tok(p)->text, tok(p)->len, buf + o);
        p->i++;
    }
    buf[o] = 0;
    e->text = buf;
    if (tok(p)->kind == DR_T_ELLIPSIS) {
        e->string_ellipsis = 1;
        p->i++;
    }
    return e;
}

static struct dr_expr *expr_primary(struct parser *p)
{
    const struct dr_token *t = tok(p);
    struct dr_expr *e;
    switch (t->kind) {
    case DR_T_ELLIPSIS: p->i++; return new_expr(p, DR_X_ELLIPSIS, t->pos);
    case DR_T_INT:
        p->i++;
        e = new_expr(p, DR_X_INT, t->pos);
        if (e)
            e->num = t->num;
        return e;
    case DR_T_STRING: return expr_string(p);
    case DR_T_WORD:
        p->i++;
        if (is_punct(tok(p), '(')) {
            p->i++;
            e = new_expr(p, DR_X_CALL, t->pos);
            if (!e || !(e->text = copy(p, t->text, t->len)) || expr_items(p, ')', e) < 0)
                return NULL;
            return e;
        }
        if (is_punct(tok(p), '=')) {
            p->i++;
            e = new_expr(p, DR_X_ASSIGN, t->pos);
            if (!e || !(e->text = copy(p, t->text, t->len)) || !(e->rhs = expr_or(p)))
                return NULL;
            return e;
        }
        e = new_expr(p, DR_X_WORD, t->pos);
        if (!e || !(e->text = copy(p, t->text, t->len)))
            return NULL;
        return e;
    case DR_T_PUNCT:
        if (t->punct == '[' || t->punct == '{') {
            p->i++;
            e = new_expr(p, t->punct == '[' ? DR_X_LIST : DR_X_STRUCT, t->pos);
            if (!e || expr_items(p, t->punct == '[' ? ']' : '}', e) < 0)
                return NULL;
            return e;
        }
        break;
    default: break;
    }
    char b[64];
    fail(p, t->pos, "expected an expression, got %s", describe(t, b, sizeof b));
    return NULL;
}

static struct dr_expr *expr_or(struct parser *p)
{
    struct dr_expr *lhs = expr_primary(p);
    while (lhs && is_punct(tok(p), '|')) {
        struct dr_expr *e = new_expr(p, DR_X_OR, tok(p)->pos);
        p->i++;
        if (!e)
            return NULL;
        e->lhs = lhs;
        if (!(e->rhs = expr_primary(p)))
            return NULL;
        lhs = e;
    }
    return lhs;
}

/* ---- system calls ------------------------------------------------------------------------- */

static int syscall(struct parser *p, struct dr_event *ev)
{
    struct dr_syscall *c = &ev->call;
    ev->kind = DR_EV_SYSCALL;
    if (tok(p)->kind == DR_T_ELLIPSIS) {
        p->i++;
        if (time_value(p, &c->end) < 0)
            return -1;
        c->has_end = 1;
    }
    const struct dr_token *name = tok(p);
    char b[64];
    if (name->kind != DR_T_WORD || !is_punct(ahead(p, 1), '('))
        return fail(p, name->pos, "expected a system call name and '(', got %s",
                    describe(name, b, sizeof b));
    c->name = copy(p, name->text, name->len);
    c->name_pos = name->pos;
    snprintf(p->err->call, sizeof p->err->call, "%.*s", (int)name->len, name->text);
    p->i += 2;
    struct dr_expr args = {0};
    if (!c->name || expr_items(p, ')', &args) < 0)
        return -1;
    c->args = args.items;
    c->nargs = args.n;
    if (expect_punct(p, '=', "before the result of the call") < 0)
        return -1;
    if (!(c->result = expr_or(p)))
        return -1;
    if (tok(p)->kind == DR_T_WORD) {
        if (!(c->err = copy(p, tok(p)->text, tok(p)->len)))
            return -1;
        c->err_pos = tok(p)->pos;
        p->i++;
    }
    if (is_punct(tok(p), '(')) {
        /* "(Operation now in progress)": a note for the reader, kept for messages */
        const struct dr_token *open = tok(p);
        while (!is_punct(tok(p), ')') && tok(p)->kind != DR_T_EOF)
            p->i++;
        if (tok(p)->kind == DR_T_EOF)
            return fail(p, open->pos, "unterminated note after the result");
        c->note = copy(p, open->text + 1, (size_t)(tok(p)->text - open->text) - 1);
        if (!c->note)
            return -1;
        p->i++;
    }
    return 0;
}

/* ---- events and options ------------------------------------------------------------------ */

static struct dr_event *new_event(struct parser *p)
{
    struct dr_script *s = p->s;
    if (s->nevents == p->events_cap) {
        size_t cap = p->events_cap ? p->events_cap * 2 : 32;
        struct dr_event *v = realloc(s->events, cap * sizeof *v);
        if (!v) {
            fail(p, tok(p)->pos, "out of memory");
            return NULL;
        }
        s->events = v;
        p->events_cap = cap;
    }
    struct dr_event *ev = &s->events[s->nevents++];
    memset(ev, 0, sizeof *ev);
    return ev;
}

static int unsupported(struct parser *p, const struct dr_token *t)
{
    if (t->kind == DR_T_OPTION)
        return fail(p, t->pos, "option lines must come before the first event");
    return 0;
}

static int is_outbound_packet(const struct dr_event *ev)
{
    return ev->kind == DR_EV_PACKET && ev->pkt.dir == '>';
}

/* The checks packetdrill makes once an event is parsed. */
static int check_event(struct parser *p, const struct dr_event *ev, const int64_t *prev_abs)
{
    const struct dr_time *t = &ev->time;
    if (t->kind == DR_TIME_ANY && !is_outbound_packet(ev))
        return fail(p, ev->pos, "event time * can only be used with outbound packets");
    if ((t->kind == DR_TIME_ABS_RANGE || t->kind == DR_TIME_REL_RANGE) && !is_outbound_packet(ev))
        return fail(p, ev->pos, "event time range can only be used with outbound packets");
    if ((t->kind == DR_TIME_ABS_RANGE || t->kind == DR_TIME_REL_RANGE) && t->end < t->start)
        return fail(p, ev->pos, "time range is backwards");
    if (p->s->nevents == 1 && t->kind == DR_TIME_ABS && t->start != 0)
        return fail(p, ev->pos, "first event should be at time 0");
    if (prev_abs && (t->kind == DR_TIME_ABS || t->kind == DR_TIME_ABS_RANGE) &&
        t->start < *prev_abs)
        return fail(p, ev->pos, "time goes backward in script from %.6f to %.6f", *prev_abs / 1e6,
                    t->start / 1e6);
    if (ev->kind == DR_EV_SYSCALL && ev->call.has_end && t->kind == DR_TIME_ABS &&
        ev->call.end < t->start)
        return fail(p, ev->pos, "the call ends (%.6f) before it starts (%.6f)", ev->call.end / 1e6,
                    t->start / 1e6);
    return 0;
}

/* prev_abs: the time of the last event with an absolute time, NULL before the first. */
static int event(struct parser *p, int64_t **prev_abs, int64_t *store)
{
    if (unsupported(p, tok(p)) < 0)
        return -1;
    struct dr_event *ev = new_event(p);
    if (!ev)
        return -1;
    ev->pos = tok(p)->pos;
    if (event_time(p, &ev->time) < 0)
        return -1;
    const struct dr_token *t = tok(p);
    if (unsupported(p, t) < 0)
        return -1;
    int rc;
    if (is_punct(t, '<') || is_punct(t, '>')) {
        rc = packet(p, ev);
    } else if (t->kind == DR_T_COMMAND || t->kind == DR_T_CODE) {
        ev->kind = t->kind == DR_T_COMMAND ? DR_EV_SHELL : DR_EV_CODE;
        ev->text = copy(p, t->text, t->len);
        rc = ev->text ? 0 : -1;
        p->i++;
    } else if (t->kind == DR_T_ELLIPSIS || t->kind == DR_T_WORD) {
        rc = syscall(p, ev);
        if (rc == 0)
            p->err->call[0] = 0;
    } else {
        char b[64];
        rc = fail(p, t->pos, "expected a packet ('<' or '>') or a system call, got %s",
                  describe(t, b, sizeof b));
    }
    if (rc < 0 || check_event(p, ev, *prev_abs) < 0)
        return -1;
    if (ev->time.kind == DR_TIME_ABS || ev->time.kind == DR_TIME_ABS_RANGE) {
        *store = ev->time.start;
        *prev_abs = store;
    }
    return 0;
}

static int option(struct parser *p)
{
    struct dr_script *s = p->s;
    if (s->nopts == p->opts_cap) {
        size_t cap = p->opts_cap ? p->opts_cap * 2 : 8;
        struct dr_option *v = realloc(s->opts, cap * sizeof *v);
        if (!v)
            return fail(p, tok(p)->pos, "out of memory");
        s->opts = v;
        p->opts_cap = cap;
    }
    struct dr_option *o = &s->opts[s->nopts];
    memset(o, 0, sizeof *o);
    o->pos = tok(p)->pos;
    if (!(o->name = copy(p, tok(p)->text, tok(p)->len)))
        return -1;
    p->i++;
    if (is_punct(tok(p), '=')) {
        p->i++;
        const struct dr_token *v = tok(p);
        if (v->kind != DR_T_INT && v->kind != DR_T_FLOAT && v->kind != DR_T_IPV4 &&
            v->kind != DR_T_WORD && v->kind != DR_T_STRING) {
            char b[64];
            return fail(p, v->pos, "expected a value after --%s=, got %s", o->name,
                        describe(v, b, sizeof b));
        }
        o->value_pos = v->pos;
        /* a value runs on while tokens touch (ipv4-mapped-ipv6, 2001:db8::1) */
        size_t len = v->len;
        p->i++;
        while (tok(p)->kind != DR_T_EOF && tok(p)->kind != DR_T_OPTION &&
               tok(p)->text == v->text + len) {
            len += tok(p)->len;
            p->i++;
        }
        if (!(o->value = copy(p, v->text, len)))
            return -1;
    }
    s->nopts++;
    return 0;
}

struct dr_script *dr_parse(const char *path, const char *src, size_t len, struct dr_error *err)
{
    memset(err, 0, sizeof *err);
    struct dr_script *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return NULL;
    }
    s->path = path;
    struct dr_tokens toks = {0};
    if (dr_lex(src, len, &toks, &err->pos, err->msg, sizeof err->msg) < 0) {
        dr_tokens_free(&toks);
        dr_script_free(s);
        return NULL;
    }
    struct parser p = {.t = toks.v, .s = s, .err = err};
    int rc = 0;
    while (rc == 0 && tok(&p)->kind == DR_T_OPTION)
        rc = option(&p);
    int64_t last_abs = 0, *prev_abs = NULL;
    /* packetdrill's grammar: an untimed `command` before the events (init) runs first, one
     * after them (cleanup) runs at the end; the init one becomes a shell event at 0, the
     * cleanup one is dropped (each script starts with a fresh engine: nothing to undo). */
    if (rc == 0 && tok(&p)->kind == DR_T_COMMAND) {
        struct dr_event *ev = new_event(&p);
        if (!ev)
            rc = -1;
        else {
            ev->pos = tok(&p)->pos;
            ev->time.kind = DR_TIME_ABS;
            ev->kind = DR_EV_SHELL;
            ev->text = copy(&p, tok(&p)->text, tok(&p)->len);
            rc = ev->text ? 0 : -1;
            p.i++;
        }
    }
    while (rc == 0 && tok(&p)->kind != DR_T_EOF) {
        if (tok(&p)->kind == DR_T_COMMAND && p.t[p.i + 1].kind == DR_T_EOF && s->nevents) {
            p.i++;
            break;
        }
        rc = event(&p, &prev_abs, &last_abs);
    }
    if (rc == 0 && s->nevents == 0)
        rc = fail(&p, tok(&p)->pos, "the script has no events");
    dr_tokens_free(&toks);
    if (rc < 0) {
        dr_script_free(s);
        return NULL;
    }
    return s;
}

struct dr_script *dr_parse_file(const char *path, struct dr_error *err)
{
    return dr_parse_file_defs(path, NULL, 0, err);
}

struct dr_script *dr_parse_file_defs(const char *path, const char *const *defines, size_t ndefines,
                                     struct dr_error *err)
{
    memset(err, 0, sizeof *err);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err->msg, sizeof err->msg, "cannot open: %s", strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            char *n = realloc(buf, cap);
            if (!n) {
                free(buf);
                fclose(f);
                snprintf(err->msg, sizeof err->msg, "out of memory");
                return NULL;
            }
            buf = n;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        snprintf(err->msg, sizeof err->msg, "read error");
        return NULL;
    }
    struct dr_script *s =
        dr_preprocess(buf, len, defines, ndefines, err) < 0 ? NULL : dr_parse(path, buf, len, err);
    free(buf);
    return s;
}

void dr_script_free(struct dr_script *s)
{
    if (!s)
        return;
    dr_arena_free(&s->arena);
    free(s->events);
    free(s->opts);
    free(s);
}
