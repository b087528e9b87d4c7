/* Fuzz target: HTTP/1 framing (src/http: h1_head.c, h1_frame.c, h1_body.c, h1_write.c).
 *
 * Input: a flags byte (the method a response answers, the limits, the rewrite), a seed byte
 * for split points, then the bytes of a message (or of a body). They are parsed as a request
 * head and as a response head, and scanned as a chunked body and as the parsed message's own
 * body. Invariants:
 *  - an accepted head's length is within the input and max_head, every span lies inside the
 *    head, names are tokens, values hold no CTL but HTAB, the decisions agree with the
 *    fields (no chunked in HTTP/1.0, a status in 100..599);
 *  - a head that is not yet complete is 0 only below max_head; an answer once given (a
 *    length or an error) stays the same when more bytes follow;
 *  - http_head_ready resumed at random points answers what a fresh call answers;
 *  - a body scanned in random pieces, and one byte at a time, gives what one call gives: the
 *    same length and end, or the same error; a chunked body that ends, ends in CRLF;
 *  - http_head_write's output parses again to the same start line, framing and flags. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http/h1.h"

static struct http_head H, H2; /* 4 KiB each */

struct rng {
    uint32_t s;
};

static uint32_t next(struct rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 17;
    r->s ^= r->s << 5;
    return r->s;
}

static const int methods[] = {HTTP_M_GET,    HTTP_M_HEAD,    HTTP_M_POST,    HTTP_M_PUT,
                              HTTP_M_DELETE, HTTP_M_CONNECT, HTTP_M_OPTIONS, HTTP_M_TRACE,
                              HTTP_M_PATCH,  HTTP_M_OTHER};

static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void check_span(struct http_span s, uint32_t hl, const char *what)
{
    FZ_CHECK((uint64_t)s.off + s.len <= hl, "%s [%u, +%u) outside the head of %u", what, s.off,
             s.len, hl);
}

/* The invariants of an accepted head. */
static void check_head(const char *buf, size_t len, int rc, const struct http_limits *l,
                       const struct http_head *h)
{
    FZ_CHECK((size_t)rc <= len && (uint32_t)rc <= l->max_head && (uint32_t)rc == h->len,
             "length %d of %zu, max %u, h->len %u", rc, len, l->max_head, h->len);
    FZ_CHECK(buf[rc - 1] == '\n', "the head ends in 0x%02x", (unsigned char)buf[rc - 1]);
    FZ_CHECK(h->nfields <= l->max_fields && h->nfields <= HTTP_MAX_FIELDS_LIMIT, "%u fields",
             h->nfields);
    FZ_CHECK(h->minor == 0 || h->minor == 1, "minor %d", h->minor);
    if (h->kind == HTTP_REQUEST) {
        check_span(h->method_s, h->len, "method");
        check_span(h->target, h->len, "target");
        FZ_CHECK(h->method_s.len > 0 && h->target.len > 0, "empty method or target");
        for (uint32_t i = 0; i < h->target.len; i++) {
            unsigned char c = (unsigned char)buf[h->target.off + i];
            FZ_CHECK(c > 0x20 && c != 0x7f, "target byte 0x%02x", c);
        }
        FZ_CHECK(h->body == HTTP_BODY_NONE || h->body == HTTP_BODY_LENGTH ||
                     h->body == HTTP_BODY_CHUNKED,
                 "request body kind %d", h->body);
    } else {
        check_span(h->reason, h->len, "reason");
        FZ_CHECK(h->status >= 100 && h->status <= 599, "status %d", h->status);
        FZ_CHECK(!h->interim || (h->status < 200 && h->status != 101), "interim %d", h->status);
        FZ_CHECK(h->status != 101 || h->body == HTTP_BODY_TUNNEL, "101 not a tunnel");
    }
    FZ_CHECK(h->body != HTTP_BODY_CHUNKED || h->minor == 1, "chunked in HTTP/1.0");
    for (uint32_t i = 0; i < h->nfields; i++) {
        const struct http_field *f = &h->fields[i];
        check_span(f->name, h->len, "name");
        check_span(f->value, h->len, "value");
        FZ_CHECK(f->name.len > 0, "field %u has no name", i);
        for (uint32_t k = 0; k < f->name.len; k++)
            FZ_CHECK(is_tchar((unsigned char)buf[f->name.off + k]), "name byte 0x%02x",
                     (unsigned char)buf[f->name.off + k]);
        for (uint32_t k = 0; k < f->value.len; k++) {
            unsigned char c = (unsigned char)buf[f->value.off + k];
            FZ_CHECK(c == '\t' || (c >= 0x20 && c != 0x7f), "value byte 0x%02x", c);
        }
        if (f->value.len)
            FZ_CHECK(buf[f->value.off] != ' ' && buf[f->value.off + f->value.len - 1] != ' ',
                     "value not trimmed");
    }
}

/* Parses as kind; checks the head and that the answer stays the same with fewer bytes
 * (0 or the same) and resumable readiness. Returns the answer. */
static int parse(const char *buf, size_t len, int kind, int method, const struct http_limits *l,
                 struct rng *r)
{
    int rc = http_parse_head(buf, len, kind, method, l, &H);
    FZ_CHECK(rc != 0 || len < l->max_head, "0 at %zu bytes, max %u", len, l->max_head);
    /* A shorter input answers 0 or the same. */
    size_t cut = len ? next(r) % len : 0;
    int rc2 = http_parse_head(buf, cut, kind, method, l, &H2);
    FZ_CHECK(rc2 == 0 || rc2 == rc, "%d at %zu bytes but %d at %zu", rc2, cut, rc, len);
    if (rc > 0)
        FZ_CHECK(http_parse_head(buf, (size_t)rc, kind, method, l, &H2) == rc,
                 "the head alone answers differently");
    /* Readiness resumed in steps answers what a fresh call does. */
    size_t seen = 0, at = 0;
    int ready = 0;
    while (at < len && !ready) {
        at += 1 + next(r) % 64;
        if (at > len)
            at = len;
        ready = http_head_ready(buf, at, seen, l);
        FZ_CHECK(ready == http_head_ready(buf, at, 0, l), "resumed readiness differs at %zu", at);
        seen = at;
    }
    if (rc > 0)
        check_head(buf, len, rc, l, &H);
    return rc;
}

/* The body of head h in buf: one call, random pieces, single bytes; the same answer. */
static void scan(const struct http_head *h, const char *buf, size_t len,
                 const struct http_limits *l, struct rng *r)
{
    struct http_body b;
    int done1, done;
    http_body_init(&b, h, l);
    ssize_t one = http_body_scan(&b, buf, len, &done1);
    FZ_CHECK(one < 0 || (size_t)one <= len, "took %zd of %zu", one, len);
    FZ_CHECK(one < 0 || done1 || (size_t)one == len, "took %zd of %zu, not done", one, len);
    if (one > 0 && done1 && h->body == HTTP_BODY_CHUNKED)
        FZ_CHECK(one >= 5 && buf[one - 2] == '\r' && buf[one - 1] == '\n',
                 "a chunked body ends without CRLF");
    for (int pass = 0; pass < 2; pass++) {
        http_body_init(&b, h, l);
        size_t off = 0;
        ssize_t got = 0;
        done = 0;
        while (!done) {
            size_t n = pass ? 1 : next(r) % 24;
            if (n > len - off)
                n = len - off;
            got = http_body_scan(&b, buf + off, n, &done);
            if (got < 0)
                break;
            FZ_CHECK((size_t)got == n || done, "took %zd of %zu, not done", got, n);
            off += (size_t)got;
            if (off == len && !done)
                break;
        }
        if (one < 0)
            FZ_CHECK(got == one, "one call: %s; in pieces (%d): %zd", http_error_name((int)one),
                     pass, got);
        else
            FZ_CHECK(got >= 0 && done == done1 && off == (size_t)one,
                     "one call: %zd done %d; in pieces (%d): %zd, %zu done %d", one, done1, pass,
                     got, off, done);
    }
}

/* The head written again parses to the same message. */
static void rewrite(const char *buf, const struct http_head *h, int flags)
{
    struct http_rewrite rw = {.keep_alive = flags >> 7 & 1, .upgrade = h->upgrade};
    if (flags & 0x40) {
        rw.xff = "192.0.2.1";
        rw.proto = "https";
        rw.forwarded = "for=\"[2001:db8::1]\";proto=https";
        rw.via = "1.1 synfin";
    }
    struct sf_strbuf out;
    sf_sb_init(&out);
    FZ_CHECK(http_head_write(buf, h, &rw, &out) == 0, "write failed");
    struct http_limits big = {1u << 24, HTTP_MAX_FIELDS_LIMIT};
    int rc = http_parse_head(out.p, out.len, h->kind, h->method, &big, &H2);
    FZ_CHECK(rc == (int)out.len, "the written head answers %d (%s) for %zu bytes:\n%.*s", rc,
             http_error_name(rc), out.len, (int)out.len, out.p);
    const struct http_head *g = &H2;
    /* Expect is dropped when Connection names it (hop-by-hop then), never added. */
    FZ_CHECK(g->minor == h->minor && g->body == h->body && g->interim == h->interim &&
                 g->expect_continue <= h->expect_continue && g->upgrade == h->upgrade,
             "written head decides differently");
    FZ_CHECK(h->body != HTTP_BODY_LENGTH || g->content_length == h->content_length,
             "length %llu written as %llu", (unsigned long long)h->content_length,
             (unsigned long long)g->content_length);
    int ka = rw.upgrade ? h->minor == 1 : rw.keep_alive;
    ka = ka && h->body != HTTP_BODY_EOF && h->body != HTTP_BODY_TUNNEL;
    FZ_CHECK(g->keep_alive == ka, "keep_alive %d written, %d read", ka, g->keep_alive);
    if (h->kind == HTTP_REQUEST)
        FZ_CHECK(g->method == h->method && g->target.len == h->target.len &&
                     !memcmp(out.p + g->target.off, buf + h->target.off, h->target.len) &&
                     g->method_s.len == h->method_s.len &&
                     !memcmp(out.p + g->method_s.off, buf + h->method_s.off, h->method_s.len),
                 "request line written differently");
    else
        FZ_CHECK(g->status == h->status && g->reason.len == h->reason.len &&
                     !memcmp(out.p + g->reason.off, buf + h->reason.off, h->reason.len),
                 "status line written differently");
    sf_sb_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = {data, size};
    int flags = fz_u8(&in);
    struct rng r = {0x9e3779b9u ^ fz_u8(&in)};
    const char *buf;
    size_t len = fz_bytes(&in, (const uint8_t **)&buf, in.n);
    static const struct http_limits limits[4] = {
        {HTTP_DEFAULT_MAX_HEAD, HTTP_DEFAULT_MAX_FIELDS}, {256, 10}, {64, 3}, {4096, 200}};
    const struct http_limits *l = &limits[flags >> 4 & 3];
    int method = methods[(flags & 15) % 10];
    /* Writing adds up to five fields: keep room below HTTP_MAX_FIELDS_LIMIT. */
    for (int kind = HTTP_REQUEST; kind <= HTTP_RESPONSE; kind++) {
        int rc = parse(buf, len, kind, method, l, &r);
        if (rc <= 0)
            continue;
        struct http_head h = H;
        rewrite(buf, &h, flags);
        scan(&h, buf + rc, len - (size_t)rc, l, &r);
    }
    /* The whole input as a chunked body, and as a body of its own length less a few. */
    struct http_head h;
    memset(&h, 0, sizeof h);
    h.minor = 1;
    h.body = HTTP_BODY_CHUNKED;
    scan(&h, buf, len, l, &r);
    h.body = HTTP_BODY_LENGTH;
    h.content_length = len > 3 ? len - 3 : len;
    scan(&h, buf, len, l, &r);
    return 0;
}
