/* Fuzz target: synfin-stat's JSON reader (tools/stat/json_read.c).
 *
 * Invariants: a rejected document has a "line L, column C: ..." message; an accepted one is
 * written back in a canonical form (strings decoded and escaped again, numbers as they are)
 * that the reader accepts and visits identically: the same values, at the same depths, under
 * the same keys. Decoded strings are well-formed UTF-8 no longer than their escaped form, a
 * key compares equal to its own decoding, and a number read as an integer prints back as its
 * literal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "stat/json_read.h"
#include "stat/utf8.h"

/* A growable text: the canonical document, or the record of the visits. */
struct text {
    char *p;
    size_t len, cap;
};

static void add(struct text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->len + n + 1) * 2;
        char *np = realloc(t->p, cap);
        FZ_CHECK(np != NULL, "out of memory");
        t->p = np;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = 0;
}

static void adds(struct text *t, const char *s)
{
    add(t, s, strlen(s));
}

/* Decodes a raw string; returns its length, or -1 when it holds \u0000 (kept raw then). */
static long decode(const char *raw, size_t len, char **out)
{
    *out = malloc(len + 1);
    FZ_CHECK(*out != NULL, "out of memory");
    long n = st_json_unescape(raw, len, *out, len + 1);
    if (n < 0)
        return -1;
    FZ_CHECK((size_t)n <= len, "%zu escaped bytes decode to %ld", len, n);
    const unsigned char *p = (const unsigned char *)*out, *end = p + n;
    while (p < end) {
        size_t k = st_utf8_seq(p, end);
        FZ_CHECK(k > 0, "decoded string is not UTF-8 at byte %zu",
                 (size_t)(p - (const unsigned char *)*out));
        p += k;
    }
    FZ_CHECK(memchr(*out, 0, (size_t)n) == NULL, "decoded string holds a NUL");
    FZ_CHECK(st_json_key_is(raw, len, *out), "a string differs from its own decoding");
    return n;
}

/* The string in canonical form: decoded, then escaped with the fewest escapes. */
static void put_string(struct text *t, const char *raw, size_t len)
{
    char *d;
    long n = decode(raw, len, &d);
    adds(t, "\"");
    if (n < 0) {
        add(t, raw, len);
    } else {
        for (long i = 0; i < n; i++) {
            unsigned char c = (unsigned char)d[i];
            char esc[8];
            if (c == '"' || c == '\\') {
                snprintf(esc, sizeof esc, "\\%c", c);
                adds(t, esc);
            } else if (c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                adds(t, esc);
            } else {
                add(t, (const char *)&c, 1);
            }
        }
    }
    adds(t, "\"");
    free(d);
}

struct walk {
    struct text doc, log;
    enum st_jtype open[ST_JREAD_MAX_DEPTH + 1]; /* containers open at each depth */
    size_t members[ST_JREAD_MAX_DEPTH + 1];
    int depth; /* containers open */
};

static void close_to(struct walk *w, int depth)
{
    while (w->depth > depth) {
        w->depth--;
        adds(&w->doc, w->open[w->depth] == ST_J_OBJECT ? "}" : "]");
    }
}

static void check_number(const struct st_jval *v)
{
    uint64_t u;
    if (st_json_uint(v, &u) < 0)
        return;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%llu", (unsigned long long)u);
    FZ_CHECK((size_t)n == v->len && !memcmp(buf, v->raw, v->len) && u <= (1ull << 53),
             "number '%.*s' read as %s", (int)v->len, v->raw, buf);
}

static int on_value(const struct st_jstep *path, int depth, const struct st_jval *v, void *arg)
{
    struct walk *w = arg;
    FZ_CHECK(depth >= 0 && depth <= w->depth && depth <= ST_JREAD_MAX_DEPTH, "depth %d after %d",
             depth, w->depth);
    close_to(w, depth);
    char rec[64];
    snprintf(rec, sizeof rec, "%d %d ", depth, (int)v->type);
    adds(&w->log, rec);
    if (depth > 0) {
        const struct st_jstep *st = &path[depth - 1];
        FZ_CHECK((st->key != NULL) == (w->open[depth - 1] == ST_J_OBJECT), "key in an array");
        FZ_CHECK(st->key || st->index == w->members[depth - 1], "element %zu visited as %zu",
                 w->members[depth - 1], st->index);
        if (w->members[depth - 1]++)
            adds(&w->doc, ",");
        if (st->key) {
            put_string(&w->doc, st->key, st->key_len);
            adds(&w->doc, ":");
            put_string(&w->log, st->key, st->key_len);
        }
    }
    switch (v->type) {
    case ST_J_NULL: adds(&w->doc, "null"); break;
    case ST_J_FALSE: adds(&w->doc, "false"); break;
    case ST_J_TRUE: adds(&w->doc, "true"); break;
    case ST_J_NUMBER:
        check_number(v);
        add(&w->doc, v->raw, v->len);
        add(&w->log, v->raw, v->len);
        break;
    case ST_J_STRING:
        put_string(&w->doc, v->raw, v->len);
        put_string(&w->log, v->raw, v->len);
        break;
    default:
        adds(&w->doc, v->type == ST_J_OBJECT ? "{" : "[");
        w->open[w->depth] = v->type;
        w->members[w->depth] = 0;
        w->depth++;
        break;
    }
    adds(&w->log, "\n");
    return 0;
}

static int walk(const char *text, size_t len, struct walk *w, char *err, size_t errlen)
{
    memset(w, 0, sizeof *w);
    adds(&w->doc, "");
    adds(&w->log, "");
    int rc = st_json_parse(text, len, on_value, w, err, errlen);
    close_to(w, 0);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct walk a, b;
    char err[256];
    int rc = walk((const char *)data, size, &a, err, sizeof err);
    if (rc != 0) {
        FZ_CHECK(rc == -1 && !strncmp(err, "line ", 5), "rejected with %d: '%s'", rc, err);
    } else {
        char *doc = a.doc.p;
        rc = walk(doc, a.doc.len, &b, err, sizeof err);
        FZ_CHECK(rc == 0, "the canonical form is rejected: %s\n%s", err, doc);
        FZ_CHECK(a.log.len == b.log.len && !memcmp(a.log.p, b.log.p, a.log.len),
                 "the canonical form reads differently:\n%s\n---- then ----\n%s", a.log.p, b.log.p);
        free(b.doc.p);
        free(b.log.p);
    }
    free(a.doc.p);
    free(a.log.p);
    return 0;
}
