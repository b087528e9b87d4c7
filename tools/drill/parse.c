#include "parse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse_int.h"
#include "prep.h"

int dp_fail(struct parser *p, struct dr_pos at, const char *fmt, ...)
{
    p->err->pos = at;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->msg, sizeof p->err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* How a token reads in an error message. */
const char *dp_describe(const struct dr_token *t, char *buf, size_t len)
{
    if (t->kind == DR_T_EOF)
        return "end of file";
    snprintf(buf, len, "'%.*s'", (int)(t->len > 40 ? 40 : t->len), t->text);
    return buf;
}

int dp_expect_punct(struct parser *p, char c, const char *where)
{
    if (is_punct(tok(p), c)) {
        p->i++;
        return 0;
    }
    char b[64];
    return dp_fail(p, tok(p)->pos, "expected '%c' %s, got %s", c, where,
                   dp_describe(tok(p), b, sizeof b));
}

void *dp_alloc(struct parser *p, size_t n)
{
    void *m = dr_arena_alloc(&p->s->arena, n);
    if (!m)
        dp_fail(p, tok(p)->pos, "out of memory");
    return m;
}

char *dp_copy(struct parser *p, const char *s, size_t n)
{
    char *m = dr_arena_strndup(&p->s->arena, s, n);
    if (!m)
        dp_fail(p, tok(p)->pos, "out of memory");
    return m;
}

/* An integer token in [lo, hi]. */
int dp_integer(struct parser *p, int64_t lo, int64_t hi, const char *what, int64_t *out)
{
    const struct dr_token *t = tok(p);
    char b[64];
    if (t->kind != DR_T_INT)
        return dp_fail(p, t->pos, "expected %s, got %s", what, dp_describe(t, b, sizeof b));
    if (t->num < lo || t->num > hi)
        return dp_fail(p, t->pos, "%s %lld out of range [%lld, %lld]", what, (long long)t->num,
                       (long long)lo, (long long)hi);
    *out = t->num;
    p->i++;
    return 0;
}

int dp_u32(struct parser *p, const char *what, uint32_t *out)
{
    int64_t v;
    if (dp_integer(p, 0, UINT32_MAX, what, &v) < 0)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int dp_hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
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

int dp_time_value(struct parser *p, int64_t *us)
{
    const struct dr_token *t = tok(p);
    char b[64];
    if (t->kind != DR_T_INT && t->kind != DR_T_FLOAT)
        return dp_fail(p, t->pos, "expected a time in seconds, got %s",
                       dp_describe(t, b, sizeof b));
    if (t->text[0] == '-')
        return dp_fail(p, t->pos, "negative time");
    if (dr_parse_seconds(t->text, t->len, us) < 0)
        return dp_fail(p, t->pos, "time %.*s is out of range", (int)t->len, t->text);
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
        if (dp_time_value(p, &out->start) < 0)
            return -1;
        out->kind = DR_TIME_REL;
        if (is_punct(tok(p), '~')) {
            p->i++;
            if (dp_expect_punct(p, '+', "in a relative time range (+a~+b)") < 0 ||
                dp_time_value(p, &out->end) < 0)
                return -1;
            out->kind = DR_TIME_REL_RANGE;
        }
        return 0;
    }
    const struct dr_token *t = tok(p);
    if (t->kind != DR_T_INT && t->kind != DR_T_FLOAT) {
        char b[64];
        return dp_fail(p, t->pos, "expected an event time (0.1, +0.1, * or a~b), got %s",
                       dp_describe(t, b, sizeof b));
    }
    if (dp_time_value(p, &out->start) < 0)
        return -1;
    out->kind = DR_TIME_ABS;
    if (is_punct(tok(p), '~')) {
        p->i++;
        if (dp_time_value(p, &out->end) < 0)
            return -1;
        out->kind = DR_TIME_ABS_RANGE;
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
            dp_fail(p, tok(p)->pos, "out of memory");
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
        return dp_fail(p, t->pos, "option lines must come before the first event");
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
        return dp_fail(p, ev->pos, "event time * can only be used with outbound packets");
    if ((t->kind == DR_TIME_ABS_RANGE || t->kind == DR_TIME_REL_RANGE) && !is_outbound_packet(ev))
        return dp_fail(p, ev->pos, "event time range can only be used with outbound packets");
    if ((t->kind == DR_TIME_ABS_RANGE || t->kind == DR_TIME_REL_RANGE) && t->end < t->start)
        return dp_fail(p, ev->pos, "time range is backwards");
    if (p->s->nevents == 1 && t->kind == DR_TIME_ABS && t->start != 0)
        return dp_fail(p, ev->pos, "first event should be at time 0");
    if (prev_abs && (t->kind == DR_TIME_ABS || t->kind == DR_TIME_ABS_RANGE) &&
        t->start < *prev_abs)
        return dp_fail(p, ev->pos, "time goes backward in script from %.6f to %.6f",
                       *prev_abs / 1e6, t->start / 1e6);
    if (ev->kind == DR_EV_SYSCALL && ev->call.has_end && t->kind == DR_TIME_ABS &&
        ev->call.end < t->start)
        return dp_fail(p, ev->pos, "the call ends (%.6f) before it starts (%.6f)",
                       ev->call.end / 1e6, t->start / 1e6);
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
        rc = dp_packet(p, ev);
    } else if (t->kind == DR_T_COMMAND || t->kind == DR_T_CODE) {
        ev->kind = t->kind == DR_T_COMMAND ? DR_EV_SHELL : DR_EV_CODE;
        ev->text = dp_copy(p, t->text, t->len);
        rc = ev->text ? 0 : -1;
        p->i++;
    } else if (t->kind == DR_T_ELLIPSIS || t->kind == DR_T_WORD) {
        rc = dp_syscall(p, ev);
        if (rc == 0)
            p->err->call[0] = 0;
    } else {
        char b[64];
        rc = dp_fail(p, t->pos, "expected a packet ('<' or '>') or a system call, got %s",
                     dp_describe(t, b, sizeof b));
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
            return dp_fail(p, tok(p)->pos, "out of memory");
        s->opts = v;
        p->opts_cap = cap;
    }
    struct dr_option *o = &s->opts[s->nopts];
    memset(o, 0, sizeof *o);
    o->pos = tok(p)->pos;
    if (!(o->name = dp_copy(p, tok(p)->text, tok(p)->len)))
        return -1;
    p->i++;
    if (is_punct(tok(p), '=')) {
        p->i++;
        const struct dr_token *v = tok(p);
        if (v->kind != DR_T_INT && v->kind != DR_T_FLOAT && v->kind != DR_T_IPV4 &&
            v->kind != DR_T_WORD && v->kind != DR_T_STRING) {
            char b[64];
            return dp_fail(p, v->pos, "expected a value after --%s=, got %s", o->name,
                           dp_describe(v, b, sizeof b));
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
        if (!(o->value = dp_copy(p, v->text, len)))
            return -1;
    }
    s->nopts++;
    return 0;
}

/* packetdrill's --define=NAME=VALUE in the script: a word NAME reads as VALUE, a string when
 * VALUE is quoted ("..."), a shell command when back-quoted, a number when it is one (strtol,
 * any base), else a word. The token keeps its place for messages. */
static void substitute(struct dr_tokens *toks, const char *const *defines, size_t ndefines)
{
    for (size_t i = 0; i < toks->n; i++) {
        struct dr_token *t = &toks->v[i];
        for (size_t k = 0; t->kind == DR_T_WORD && k < ndefines; k++) {
            const char *eq = strchr(defines[k], '=');
            if (!eq || (size_t)(eq - defines[k]) != t->len || memcmp(defines[k], t->text, t->len))
                continue;
            const char *v = eq + 1;
            size_t n = strlen(v);
            char *end;
            errno = 0;
            long long num = strtoll(v, &end, 0);
            if (n >= 2 && (v[0] == '"' || v[0] == '`') && v[n - 1] == v[0]) {
                t->kind = v[0] == '"' ? DR_T_STRING : DR_T_COMMAND;
                t->text = v + 1;
                t->len = n - 2;
            } else if (n && !*end && !errno) {
                t->kind = DR_T_INT;
                t->num = num;
                t->text = v;
                t->len = n;
            } else {
                t->text = v;
                t->len = n;
            }
            break;
        }
    }
}

static struct dr_script *parse_defs(const char *path, const char *src, size_t len,
                                    const char *const *defines, size_t ndefines,
                                    struct dr_error *err);

struct dr_script *dr_parse(const char *path, const char *src, size_t len, struct dr_error *err)
{
    return parse_defs(path, src, len, NULL, 0, err);
}

static struct dr_script *parse_defs(const char *path, const char *src, size_t len,
                                    const char *const *defines, size_t ndefines,
                                    struct dr_error *err)
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
    substitute(&toks, defines, ndefines);
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
            ev->text = dp_copy(&p, tok(&p)->text, tok(&p)->len);
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
        rc = dp_fail(&p, tok(&p)->pos, "the script has no events");
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
    struct dr_script *s = dr_preprocess(buf, len, defines, ndefines, err) < 0
                              ? NULL
                              : parse_defs(path, buf, len, defines, ndefines, err);
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
