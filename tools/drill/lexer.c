#include "lexer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lexer {
    const char *p, *end;
    int line;
    const char *line_start;
    struct dr_tokens *out;
    struct dr_pos *where;
    char *err;
    size_t errlen;
};

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_word_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_word(int c)
{
    return is_word_start(c) || is_digit(c);
}

static int is_hex(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static struct dr_pos pos_of(const struct lexer *lx, const char *at)
{
    struct dr_pos p = {lx->line, (int)(at - lx->line_start) + 1};
    return p;
}

static int fail(struct lexer *lx, struct dr_pos at, const char *msg)
{
    *lx->where = at;
    snprintf(lx->err, lx->errlen, "%s", msg);
    return -1;
}

static int peek(const struct lexer *lx, size_t ahead)
{
    return lx->p + ahead < lx->end ? (unsigned char)lx->p[ahead] : -1;
}

/* Moves past n characters, counting lines. */
static void advance(struct lexer *lx, size_t n)
{
    while (n-- && lx->p < lx->end) {
        if (*lx->p == '\n') {
            lx->line++;
            lx->line_start = lx->p + 1;
        }
        lx->p++;
    }
}

static int push(struct lexer *lx, enum dr_tok_kind kind, const char *start, size_t len,
                struct dr_pos pos)
{
    struct dr_tokens *t = lx->out;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        struct dr_token *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return fail(lx, pos, "out of memory");
        t->v = v;
        t->cap = cap;
    }
    struct dr_token *k = &t->v[t->n++];
    memset(k, 0, sizeof *k);
    k->kind = kind;
    k->pos = pos;
    k->text = start;
    k->len = len;
    return 0;
}

/* Skips blanks and comments. */
static int skip_space(struct lexer *lx)
{
    for (;;) {
        int c = peek(lx, 0);
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            advance(lx, 1);
        } else if (c == '/' && peek(lx, 1) == '/') {
            while (lx->p < lx->end && *lx->p != '\n')
                advance(lx, 1);
        } else if (c == '/' && peek(lx, 1) == '*') {
            struct dr_pos at = pos_of(lx, lx->p);
            advance(lx, 2);
            while (lx->p < lx->end && !(peek(lx, 0) == '*' && peek(lx, 1) == '/'))
                advance(lx, 1);
            if (lx->p >= lx->end)
                return fail(lx, at, "unterminated /* comment");
            advance(lx, 2);
        } else {
            return 0;
        }
    }
}

/* Decimal or hex integer, decimal fraction, or dotted IPv4 address. A '.' belongs to the
 * number only when a digit follows it, so "0...0.5" is 0, ..., 0.5. */
static int number(struct lexer *lx)
{
    const char *start = lx->p;
    struct dr_pos pos = pos_of(lx, start);
    size_t i = 0;
    int neg = 0;
    if (peek(lx, 0) == '-') {
        neg = 1;
        i++;
    }
    if (peek(lx, i) == '0' && (peek(lx, i + 1) == 'x' || peek(lx, i + 1) == 'X')) {
        i += 2;
        if (!is_hex(peek(lx, i)))
            return fail(lx, pos, "malformed hex number");
        uint64_t v = 0;
        while (is_hex(peek(lx, i))) {
            int c = peek(lx, i++);
            int d = is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
            if (v > (UINT64_MAX >> 4))
                return fail(lx, pos, "number out of range");
            v = v << 4 | (uint64_t)d;
        }
        if (is_word(peek(lx, i)))
            return fail(lx, pos, "malformed number");
        if (v > INT64_MAX)
            return fail(lx, pos, "number out of range");
        if (push(lx, DR_T_INT, start, i, pos) < 0)
            return -1;
        lx->out->v[lx->out->n - 1].num = neg ? -(int64_t)v : (int64_t)v;
        advance(lx, i);
        return 0;
    }
    int dots = 0;
    size_t digits_start = i;
    while (is_digit(peek(lx, i)) || (peek(lx, i) == '.' && is_digit(peek(lx, i + 1)))) {
        if (peek(lx, i) == '.')
            dots++;
        i++;
    }
    if (is_word(peek(lx, i)) && !neg && !dots) {
        /* a hex string without 0x (packetdrill's Fast Open cookies, "FO 1234abcd"): a word,
         * for the parser to name what it does not know */
        size_t k = i;
        while (is_hex(peek(lx, k)))
            k++;
        if (is_word(peek(lx, k)))
            return fail(lx, pos, "malformed number");
        if (push(lx, DR_T_WORD, start, k, pos) < 0)
            return -1;
        advance(lx, k);
        return 0;
    }
    if (is_word(peek(lx, i)))
        return fail(lx, pos, "malformed number");
    enum dr_tok_kind kind = dots == 0 ? DR_T_INT : dots == 1 ? DR_T_FLOAT : DR_T_IPV4;
    if (dots == 2 || dots > 3 || (dots == 3 && neg))
        return fail(lx, pos, "malformed number");
    if (push(lx, kind, start, i, pos) < 0)
        return -1;
    if (kind == DR_T_INT) {
        uint64_t v = 0;
        for (size_t k = digits_start; k < i; k++) {
            int d = peek(lx, k) - '0';
            if (v > (UINT64_MAX - (uint64_t)d) / 10)
                return fail(lx, pos, "number out of range");
            v = v * 10 + (uint64_t)d;
        }
        if (v > INT64_MAX)
            return fail(lx, pos, "number out of range");
        lx->out->v[lx->out->n - 1].num = neg ? -(int64_t)v : (int64_t)v;
    }
    advance(lx, i);
    return 0;
}

/* "..." with backslash escapes; ``...`` commands; %{ ... }% code. */
static int quoted(struct lexer *lx, char close, enum dr_tok_kind kind, const char *what)
{
    const char *start = lx->p;
    struct dr_pos pos = pos_of(lx, start);
    advance(lx, 1);
    while (lx->p < lx->end && *lx->p != close) {
        if (*lx->p == '\\' && lx->p + 1 < lx->end)
            advance(lx, 1);
        advance(lx, 1);
    }
    if (lx->p >= lx->end) {
        char msg[64];
        snprintf(msg, sizeof msg, "unterminated %s", what);
        return fail(lx, pos, msg);
    }
    advance(lx, 1);
    return push(lx, kind, start + 1, (size_t)(lx->p - start) - 2, pos);
}

static int code(struct lexer *lx)
{
    const char *start = lx->p;
    struct dr_pos pos = pos_of(lx, start);
    advance(lx, 2);
    while (lx->p < lx->end && !(peek(lx, 0) == '}' && peek(lx, 1) == '%'))
        advance(lx, 1);
    if (lx->p >= lx->end)
        return fail(lx, pos, "unterminated %{ code }%");
    advance(lx, 2);
    return push(lx, DR_T_CODE, start, (size_t)(lx->p - start), pos);
}

static int one(struct lexer *lx)
{
    int c = peek(lx, 0);
    const char *start = lx->p;
    struct dr_pos pos = pos_of(lx, start);
    if (is_digit(c) || (c == '-' && is_digit(peek(lx, 1))) || (c == '.' && is_digit(peek(lx, 1))))
        return number(lx);
    if (c == '.' && peek(lx, 1) == '.' && peek(lx, 2) == '.') {
        advance(lx, 3);
        return push(lx, DR_T_ELLIPSIS, start, 3, pos);
    }
    if (c == '-' && peek(lx, 1) == '-' && is_word(peek(lx, 2))) {
        size_t i = 2;
        while (is_word(peek(lx, i)))
            i++;
        advance(lx, i);
        return push(lx, DR_T_OPTION, start + 2, i - 2, pos);
    }
    if (is_word_start(c)) {
        size_t i = 1;
        while (is_word(peek(lx, i)))
            i++;
        advance(lx, i);
        return push(lx, DR_T_WORD, start, i, pos);
    }
    if (c == '"')
        return quoted(lx, '"', DR_T_STRING, "string");
    if (c == '`')
        return quoted(lx, '`', DR_T_COMMAND, "`command`");
    if (c == '%' && peek(lx, 1) == '{')
        return code(lx);
    if (c > 0 && strchr("<>.:()[]{},=|+*~-!", c)) {
        advance(lx, 1);
        if (push(lx, DR_T_PUNCT, start, 1, pos) < 0)
            return -1;
        lx->out->v[lx->out->n - 1].punct = (char)c;
        return 0;
    }
    char msg[64];
    if (c >= 0x21 && c < 0x7f)
        snprintf(msg, sizeof msg, "unexpected character '%c'", c);
    else
        snprintf(msg, sizeof msg, "unexpected byte 0x%02x", (unsigned)c & 0xff);
    return fail(lx, pos, msg);
}

int dr_lex(const char *src, size_t len, struct dr_tokens *out, struct dr_pos *where, char *err,
           size_t errlen)
{
    struct lexer lx = {src, src + len, 1, src, out, where, err, errlen};
    out->n = 0;
    for (;;) {
        if (skip_space(&lx) < 0)
            return -1;
        if (lx.p >= lx.end)
            return push(&lx, DR_T_EOF, lx.p, 0, pos_of(&lx, lx.p));
        if (one(&lx) < 0)
            return -1;
    }
}

void dr_tokens_free(struct dr_tokens *t)
{
    free(t->v);
    t->v = NULL;
    t->n = t->cap = 0;
}
