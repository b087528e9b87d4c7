/* Growable text buffer; see strbuf.h. */
#include "util/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sf_sb_init(struct sf_strbuf *b)
{
    memset(b, 0, sizeof *b);
}

void sf_sb_free(struct sf_strbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static int reserve(struct sf_strbuf *b, size_t more)
{
    if (b->failed)
        return -1;
    if (b->len + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void sf_sb_append(struct sf_strbuf *b, const char *s, size_t n)
{
    if (reserve(b, n) < 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void sf_sb_printf(struct sf_strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n) < 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sf_sb_json_str(struct sf_strbuf *b, const char *s)
{
    sf_sb_append(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sf_sb_append(b, e, 2);
        } else if (c < 0x20) {
            sf_sb_printf(b, "\\u%04x", c);
        } else {
            sf_sb_append(b, s, 1);
        }
    }
    sf_sb_append(b, "\"", 1);
}
