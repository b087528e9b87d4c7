#include "json_read.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

struct parser {
    const char *s, *end, *p;
    st_json_visit visit;
    void *arg;
    struct st_jstep path[ST_JREAD_MAX_DEPTH];
    char *err;
    size_t errlen;
    int stop; /* the visitor's non-zero return */
};

static int error_at(struct parser *ps, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int error_at(struct parser *ps, const char *at, const char *fmt, ...)
{
    unsigned line = 1, col = 1;
    for (const char *q = ps->s; q < at; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    int n = snprintf(ps->err, ps->errlen, "line %u, column %u: ", line, col);
    if (n < 0 || (size_t)n >= ps->errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* At the opening quote: checks the string, leaves p after the closing quote. */
static int scan_string(struct parser *ps, const char **raw, size_t *len)
{
    const char *start = ++ps->p;
    while (ps->p < ps->end) {
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"') {
            *raw = start;
            *len = (size_t)(ps->p - start);
            ps->p++;
            return 0;
        }
        if (c < 0x20)
            return error_at(ps, ps->p, "control character in a string");
        if (c == '\\') {
            if (ps->end - ps->p < 2)
                break;
            char e = ps->p[1];
            if (e == 'u') {
                unsigned u;
                if (ps->end - ps->p < 6 || hex4(ps->p + 2, &u))
                    return error_at(ps, ps->p, "bad \\u escape");
                ps->p += 6;
                if (u >= 0xdc00 && u <= 0xdfff)
                    return error_at(ps, ps->p - 6, "lone low surrogate");
                if (u >= 0xd800 && u <= 0xdbff) {
                    unsigned lo;
                    if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' ||
                        hex4(ps->p + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
                        return error_at(ps, ps->p - 6, "high surrogate without its low half");
                    ps->p += 6;
                }
                continue;
            }
            if (e == '\0' || !strchr("\"\\/bfnrt", e))
                return error_at(ps, ps->p, "bad escape '\\%c'", e >= 0x20 ? e : '?');
            ps->p += 2;
            continue;
        }
        size_t n = st_utf8_seq((const unsigned char *)ps->p, (const unsigned char *)ps->end);
        if (!n)
            return error_at(ps, ps->p, "invalid UTF-8 in a string");
        ps->p += n;
    }
    return error_at(ps, start - 1, "unterminated string");
}

static int digits(struct parser *ps)
{
    const char *s = ps->p;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
        ps->p++;
    return ps->p > s;
}

static int scan_number(struct parser *ps)
{
    const char *s = ps->p;
    if (*ps->p == '-')
        ps->p++;
    if (ps->p < ps->end && *ps->p == '0') {
        ps->p++;
    } else if (!digits(ps)) {
        return error_at(ps, s, "bad number");
    }
    if (ps->p < ps->end && *ps->p == '.') {
        ps->p++;
        if (!digits(ps))
            return error_at(ps, s, "bad number: digits must follow '.'");
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        if (!digits(ps))
            return error_at(ps, s, "bad number: exponent without digits");
    }
    return 0;
}

static int unexpected(struct parser *ps)
{
    unsigned char c = (unsigned char)*ps->p;
    if (c >= 0x21 && c < 0x7f)
        return error_at(ps, ps->p, "unexpected character '%c'", c);
    return error_at(ps, ps->p, "unexpected byte 0x%02x", c);
}

static int literal(struct parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n))
        return unexpected(ps);
    ps->p += n;
    return 0;
}

static int visit(struct parser *ps, int depth, enum st_jtype type, const char *raw, size_t len)
{
    if (!ps->visit)
        return 0;
    struct st_jval v = {type, raw, len};
    int rc = ps->visit(ps->path, depth, &v, ps->arg);
    if (rc)
        ps->stop = rc;
    return rc;
}

static int value(struct parser *ps, int depth);

static int members(struct parser *ps, int depth, int object)
{
    const char *open = ps->p++;
    skip_ws(ps);
    char closer = object ? '}' : ']';
    if (ps->p < ps->end && *ps->p == closer) {
        ps->p++;
        return 0;
    }
    if (depth >= ST_JREAD_MAX_DEPTH)
        return error_at(ps, open, "nested too deep");
    for (size_t i = 0;; i++) {
        struct st_jstep *step = &ps->path[depth];
        step->key = NULL;
        step->key_len = 0;
        step->index = i;
        if (object) {
            if (ps->p >= ps->end || *ps->p != '"')
                return error_at(ps, ps->p, "expected a member name in quotes");
            if (scan_string(ps, &step->key, &step->key_len))
                return -1;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':')
                return error_at(ps, ps->p, "expected ':' after a member name");
            ps->p++;
        }
        if (value(ps, depth + 1))
            return -1;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            skip_ws(ps);
            continue;
        }
        if (ps->p < ps->end && *ps->p == closer) {
            ps->p++;
            return 0;
        }
        return error_at(ps, ps->p, "expected ',' or '%c'", closer);
    }
}

static int value(struct parser *ps, int depth)
{
    skip_ws(ps);
    if (ps->p >= ps->end)
        return error_at(ps, ps->p, "unexpected end of input");
    const char *start = ps->p;
    switch (*ps->p) {
    case '{':
    case '[': {
        int object = *ps->p == '{';
        if (visit(ps, depth, object ? ST_J_OBJECT : ST_J_ARRAY, start, 1))
            return -1;
        return members(ps, depth, object);
    }
    case '"': {
        const char *raw;
        size_t len;
        if (scan_string(ps, &raw, &len))
            return -1;
        return visit(ps, depth, ST_J_STRING, raw, len) ? -1 : 0;
    }
    case 't':
        if (literal(ps, "true"))
            return -1;
        return visit(ps, depth, ST_J_TRUE, start, 4) ? -1 : 0;
    case 'f':
        if (literal(ps, "false"))
            return -1;
        return visit(ps, depth, ST_J_FALSE, start, 5) ? -1 : 0;
    case 'n':
        if (literal(ps, "null"))
            return -1;
        return visit(ps, depth, ST_J_NULL, start, 4) ? -1 : 0;
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) {
            if (scan_number(ps))
                return -1;
            return visit(ps, depth, ST_J_NUMBER, start, (size_t)(ps->p - start)) ? -1 : 0;
        }
        return unexpected(ps);
    }
}

int st_json_parse(const char *text, size_t len, st_json_visit visitor, void *arg, char *err,
                  size_t errlen)
{
    struct parser ps = {.s = text,
                        .end = text + len,
                        .p = text,
                        .visit = visitor,
                        .arg = arg,
                        .err = err,
                        .errlen = errlen};
    if (err && errlen)
        err[0] = '\0';
    if (value(&ps, 0))
        return ps.stop ? ps.stop : -1;
    skip_ws(&ps);
    if (ps.p != ps.end)
        return error_at(&ps, ps.p, "unexpected text after the JSON value");
    return 0;
}

static size_t put_utf8(char *out, unsigned c)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xc0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xe0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        out[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
    out[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

/* Input was validated by scan_string, so escapes are well formed here. */
long st_json_unescape(const char *raw, size_t len, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        char buf[4];
        size_t n;
        if (raw[i] != '\\') {
            buf[0] = raw[i++];
            n = 1;
        } else {
            char e = raw[i + 1];
            i += 2;
            if (e == 'u') {
                unsigned u = 0, lo = 0;
                if (i + 4 > len || hex4(raw + i, &u))
                    return -1;
                i += 4;
                if (u >= 0xd800 && u <= 0xdbff) {
                    if (i + 6 > len || hex4(raw + i + 2, &lo))
                        return -1;
                    i += 6;
                    u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
                }
                if (u == 0)
                    return -1; /* a NUL would cut the C string short */
                n = put_utf8(buf, u);
            } else {
                static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
                const char *k = strchr(from, e);
                if (!k || !e)
                    return -1;
                buf[0] = to[k - from];
                n = 1;
            }
        }
        if (o + n >= outlen)
            return -1;
        memcpy(out + o, buf, n);
        o += n;
    }
    if (o >= outlen)
        return -1;
    out[o] = '\0';
    return (long)o;
}

int st_json_key_is(const char *raw, size_t len, const char *s)
{
    size_t n = strlen(s);
    if (len == n && !memchr(raw, '\\', len))
        return !memcmp(raw, s, n);
    /* Room for s and its NUL: a decoding that does not fit is longer than s. */
    char small[256], *buf = n < sizeof small ? small : malloc(n + 1);
    if (!buf)
        return 0;
    long m = st_json_unescape(raw, len, buf, n + 1);
    int eq = m >= 0 && (size_t)m == n && !memcmp(buf, s, n);
    if (buf != small)
        free(buf);
    return eq;
}

int st_json_uint(const struct st_jval *v, uint64_t *out)
{
    if (v->type != ST_J_NUMBER || v->len == 0 || v->len > 16)
        return -1;
    uint64_t n = 0;
    for (size_t i = 0; i < v->len; i++) {
        char c = v->raw[i];
        if (c < '0' || c > '9')
            return -1; /* sign, fraction or exponent */
        n = n * 10 + (uint64_t)(c - '0');
    }
    if (n > (1ull << 53))
        return -1;
    *out = n;
    return 0;
}
