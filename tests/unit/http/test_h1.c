/* HTTP/1 framing (src/http): exact bytes in, exact results out. One test per rule, each
 * smuggling case refused with its own error, every body kind, chunked bodies at every split
 * point, pipelined messages, and the head writer's exact output. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/h1.h"

static struct http_head H; /* 4 KiB: not on every test's stack */

static int parse_n(const char *s, size_t n, int kind, int method)
{
    return http_parse_head(s, n, kind, method, NULL, &H);
}

static int req(const char *s)
{
    return parse_n(s, strlen(s), HTTP_REQUEST, 0);
}

static int resp(const char *s, int method)
{
    return parse_n(s, strlen(s), HTTP_RESPONSE, method);
}

static int span_is(const char *buf, struct http_span sp, const char *want)
{
    return sp.len == strlen(want) && !memcmp(buf + sp.off, want, sp.len);
}

/* A table of heads and the answer each must get. */
struct want {
    const char *in;
    int rc; /* -enum http_error, or 0 for "the whole input, accepted" */
};

static void check_table(const struct want *t, size_t n, int kind, int method)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(t[i].in);
        int rc = parse_n(t[i].in, len, kind, method);
        int want = t[i].rc ? t[i].rc : (int)len;
        if (rc != want)
            fail_msg("case %zu '%s': got %d (%s), want %d (%s)", i, t[i].in, rc,
                     http_error_name(rc), want, http_error_name(want));
    }
}

#define CHECK_TABLE(t, kind, method) check_table(t, sizeof t / sizeof t[0], kind, method)

/* ---- character classes ---------------------------------------------------------------- */

static void tchar_and_vchar_classes(void **state)
{
    (void)state;
    /* RFC 9110 5.6.2: tchar; every other byte refused in a field name. */
    const char *tchar = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for (int c = 0; c < 256; c++) {
        char head[64];
        int n = snprintf(head, sizeof head, "GET / HTTP/1.1\r\nHost: a\r\nX%cY: v\r\n\r\n", 'Q');
        head[26] = (char)c; /* the Q */
        int rc = parse_n(head, (size_t)n, HTTP_REQUEST, 0);
        int is_t = c != 0 && strchr(tchar, c) != NULL;
        if (is_t)
            assert_int_equal(rc, n);
        else if (c == ':' || c == '\n')
            assert_true(rc < 0 || rc == n); /* a shorter name, or a line without colon */
        else
            assert_true(rc < 0);
        /* RFC 9110 5.5: field-vchar, SP, HTAB in a value; every other CTL refused. */
        n = snprintf(head, sizeof head, "GET / HTTP/1.1\r\nHost: a\r\nX: a%cb\r\n\r\n", 'Q');
        head[29] = (char)c;
        rc = parse_n(head, (size_t)n, HTTP_REQUEST, 0);
        int ok = (c >= 0x20 && c != 0x7f) || c == '\t';
        if (c == '\n')
            assert_int_equal(rc, -HTTP_E_FIELD_NAME); /* "b" on a line of its own */
        else if (c == '\r')
            assert_int_equal(rc, -HTTP_E_BARE_CR);
        else
            assert_int_equal(rc, ok ? n : -HTTP_E_FIELD_VALUE);
    }
}

/* ---- request line --------------------------------------------------------------------- */

static void request_minimal(void **state)
{
    (void)state;
    const char *s = "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n";
    assert_int_equal(req(s), (int)strlen(s));
    assert_int_equal(H.kind, HTTP_REQUEST);
    assert_int_equal(H.method, HTTP_M_GET);
    assert_int_equal(H.minor, 1);
    assert_true(span_is(s, H.method_s, "GET"));
    assert_true(span_is(s, H.target, "/index.html?q=1"));
    assert_int_equal(H.len, strlen(s));
    assert_int_equal(H.nfields, 1);
    assert_true(span_is(s, H.fields[0].name, "Host"));
    assert_true(span_is(s, H.fields[0].value, "example.com"));
    assert_int_equal(H.body, HTTP_BODY_NONE);
    assert_int_equal(H.keep_alive, 1);
    assert_int_equal(H.expect_continue, 0);
    assert_int_equal(H.upgrade, 0);
    assert_int_equal(H.interim, 0);
}

static void request_incomplete_prefixes(void **state)
{
    (void)state;
    const char *s = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(parse_n(s, i, HTTP_REQUEST, 0), 0);
    assert_int_equal(parse_n(s, n, HTTP_REQUEST, 0), (int)n);
    /* Bytes after the head (its body, the next message) are not the head's. */
    char more[128];
    snprintf(more, sizeof more, "%sabcGET", s);
    assert_int_equal(parse_n(more, strlen(more), HTTP_REQUEST, 0), (int)n);
}

static void request_leading_empty_lines(void **state)
{
    (void)state;
    /* RFC 9112 2.2: empty lines before a request line are skipped, and counted. */
    const char *s = "\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(req(s), (int)strlen(s));
    assert_int_equal(H.method_s.off, 3);
    assert_int_equal(H.len, strlen(s));
    assert_int_equal(req("\r\n\r\n"), 0);
    assert_int_equal(req("\r\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), -HTTP_E_BARE_CR);
}

static void request_line_errors(void **state)
{
    (void)state;
    static const struct want t[] = {
        {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", -HTTP_E_START_LINE}, /* two SP */
        {"GET /  HTTP/1.1\r\nHost: a\r\n\r\n", -HTTP_E_START_LINE},
        {"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", -HTTP_E_START_LINE}, /* HTAB for SP */
        {" GET / HTTP/1.1\r\nHost: a\r\n\r\n", -HTTP_E_START_LINE},
        {"G@T / HTTP/1.1\r\nHost: a\r\n\r\n", -HTTP_E_START_LINE},  /* method not a token */
        {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", -HTTP_E_START_LINE}, /* trailing SP */
        {"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", -HTTP_E_START_LINE},
        {"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", -HTTP_E_START_LINE}, /* CTL in target */
        {"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", -HTTP_E_START_LINE},
        {"GET /\r\nHost: a\r\n\r\n", -HTTP_E_START_LINE},          /* HTTP/0.9 */
        {"GET / http/1.1\r\nHost: a\r\n\r\n", -HTTP_E_START_LINE}, /* HTTP is case-sensitive */
        {"GET / HTTP/1.\r\nHost: a\r\n\r\n", -HTTP_E_START_LINE},
        {"GET / HTTP/1.1x\r\nHost: a\r\n\r\n", -HTTP_E_START_LINE},
        {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", -HTTP_E_VERSION},
        {"GET / HTTP/1.2\r\nHost: a\r\n\r\n", -HTTP_E_VERSION},
        {"GET / HTTP/0.9\r\nHost: a\r\n\r\n", -HTTP_E_VERSION},
        {"GET / HTTP/1.10\r\nHost: a\r\n\r\n", -HTTP_E_VERSION},
        {"GET / HTTP/3\r\nHost: a\r\n\r\n", -HTTP_E_VERSION},
        {"GET /\rx HTTP/1.1\r\nHost: a\r\n\r\n", -HTTP_E_BARE_CR},
        {"GET / HTTP/1.1\rx\r\nHost: a\r\n\r\n", -HTTP_E_BARE_CR},
        {"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 0}, /* obs-text: passed */
        {"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0},
        {"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", 0},
        {"GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n", 0},
    };
    CHECK_TABLE(t, HTTP_REQUEST, 0);
}

static void request_methods(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int method, idem;
    } t[] = {
        {"GET", HTTP_M_GET, 1},         {"HEAD", HTTP_M_HEAD, 1},
        {"POST", HTTP_M_POST, 0},       {"PUT", HTTP_M_PUT, 1},
        {"DELETE", HTTP_M_DELETE, 1},   {"CONNECT", HTTP_M_CONNECT, 0},
        {"OPTIONS", HTTP_M_OPTIONS, 1}, {"TRACE", HTTP_M_TRACE, 1},
        {"PATCH", HTTP_M_PATCH, 0},     {"get", HTTP_M_OTHER, 0},
        {"PROPFIND", HTTP_M_OTHER, 0},  {"GETS", HTTP_M_OTHER, 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char s[128];
        int n = snprintf(s, sizeof s, "%s / HTTP/1.1\r\nHost: a\r\n\r\n", t[i].name);
        assert_int_equal(parse_n(s, (size_t)n, HTTP_REQUEST, 0), n);
        assert_int_equal(H.method, t[i].method);
        assert_true(span_is(s, H.method_s, t[i].name));
        assert_int_equal(http_method_idempotent(t[i].method), t[i].idem);
    }
}

/* ---- status line ---------------------------------------------------------------------- */

static void status_line_ok(void **state)
{
    (void)state;
    const char *s = "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(resp(s, HTTP_M_GET), (int)strlen(s));
    assert_int_equal(H.kind, HTTP_RESPONSE);
    assert_int_equal(H.status, 404);
    assert_int_equal(H.minor, 0);
    assert_int_equal(H.method, HTTP_M_GET);
    assert_true(span_is(s, H.reason, "Not Found"));
    static const struct want t[] = {
        {"HTTP/1.1 200 OK\r\n\r\n", 0},
        {"HTTP/1.1 204 \r\n\r\n", 0},                /* empty reason */
        {"HTTP/1.1 200\r\n\r\n", 0},                 /* no SP: accepted (h1_head.c) */
        {"HTTP/1.1 200 \xe9t\xe9\t ok \r\n\r\n", 0}, /* obs-text, HTAB */
        {"HTTP/1.1 599 x\r\n\r\n", 0},
        {"HTTP/1.1 100 Continue\n\n", 0},
    };
    CHECK_TABLE(t, HTTP_RESPONSE, HTTP_M_GET);
    assert_int_equal(resp("HTTP/1.1 200\r\n\r\n", HTTP_M_GET), 16);
    assert_int_equal(H.reason.len, 0);
}

static void status_line_errors(void **state)
{
    (void)state;
    static const struct want t[] = {
        {"HTTP/1.1 20 OK\r\n\r\n", -HTTP_E_START_LINE},
        {"HTTP/1.1 2000 OK\r\n\r\n", -HTTP_E_START_LINE},
        {"HTTP/1.1 099 X\r\n\r\n", -HTTP_E_START_LINE},
        {"HTTP/1.1 600 X\r\n\r\n", -HTTP_E_START_LINE},
        {"HTTP/1.1 2x0 X\r\n\r\n", -HTTP_E_START_LINE},
        {"HTTP/1.1  200 OK\r\n\r\n", -HTTP_E_START_LINE},
        {"HTTP/1.1\r\n\r\n", -HTTP_E_START_LINE},
        {"HTTP/1.1 200 O\x01K\r\n\r\n", -HTTP_E_START_LINE},
        {"HTTP/1.1 200 OK\rX\r\n\r\n", -HTTP_E_BARE_CR},
        {"\r\nHTTP/1.1 200 OK\r\n\r\n", -HTTP_E_START_LINE}, /* only a request's are skipped */
        {"HTTP/2 200 OK\r\n\r\n", -HTTP_E_VERSION},
        {"HTTP/1.2 200 OK\r\n\r\n", -HTTP_E_VERSION},
        {"http/1.1 200 OK\r\n\r\n", -HTTP_E_START_LINE},
        {"ICY 200 OK\r\n\r\n", -HTTP_E_START_LINE},
    };
    CHECK_TABLE(t, HTTP_RESPONSE, HTTP_M_GET);
}

/* ---- field lines ---------------------------------------------------------------------- */

static void field_rules(void **state)
{
    (void)state;
    static const struct want t[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\nFo@o: x\r\n\r\n", -HTTP_E_FIELD_NAME},
        {"GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", -HTTP_E_FIELD_NAME}, /* empty name */
        {"GET / HTTP/1.1\r\nHost: a\r\nFoo\r\n\r\n", -HTTP_E_FIELD_NAME}, /* no colon */
        {"GET / HTTP/1.1\r\nHost: a\r\nFoo bar: x\r\n\r\n", -HTTP_E_FIELD_NAME},
        {"GET / HTTP/1.1\r\nHost: a\r\n\"Foo\": x\r\n\r\n", -HTTP_E_FIELD_NAME},
        {"GET / HTTP/1.1\r\nHost: a\r\nFoo : x\r\n\r\n", -HTTP_E_SPACE_COLON},
        {"GET / HTTP/1.1\r\nHost: a\r\nFoo\t: x\r\n\r\n", -HTTP_E_SPACE_COLON},
        {"GET / HTTP/1.1\r\nTransfer-Encoding : chunked\r\nHost: a\r\n\r\n", -HTTP_E_SPACE_COLON},
        {"GET / HTTP/1.1\r\nHost: a\r\nFoo: a\r\n b\r\n\r\n", -HTTP_E_OBS_FOLD},
        {"GET / HTTP/1.1\r\nHost: a\r\nFoo: a\r\n\tb\r\n\r\n", -HTTP_E_OBS_FOLD},
        {"GET / HTTP/1.1\r\n Host: a\r\n\r\n", -HTTP_E_OBS_FOLD}, /* after the start line */
        {"GET / HTTP/1.1\r\nHost: a\r\nFoo: a\rb\r\n\r\n", -HTTP_E_BARE_CR},
        {"GET / HTTP/1.1\r\nHost: a\r\nFo\ro: a\r\n\r\n", -HTTP_E_BARE_CR},
        {"GET / HTTP/1.1\r\nHost: a\r\nFoo: a\r\r\n\r\n", -HTTP_E_BARE_CR},
        {"GET / HTTP/1.1\r\nHost: a\r\n\rFoo: a\r\n\r\n", -HTTP_E_BARE_CR},
        /* Refusals come once the head's end is in (or max_head bytes): a line that is only
         * a bare CR, then the real end. */
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\r\nX: y\r\n\r\n", -HTTP_E_BARE_CR},
        {"GET / HTTP/1.1\r\nHost: a\r\nFoo: a\x01\r\n\r\n", -HTTP_E_FIELD_VALUE},
        {"GET / HTTP/1.1\r\nHost: a\r\nFoo: a\x7f\r\n\r\n", -HTTP_E_FIELD_VALUE},
        {"GET / HTTP/1.1\r\nHost: a\r\nFoo: a\x1b[0m\r\n\r\n", -HTTP_E_FIELD_VALUE},
        {"GET / HTTP/1.1\r\nHost: a\r\nFoo: a\tb \xff\x80\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: a\r\nFoo:\r\n\r\n", 0}, /* empty value */
        {"GET / HTTP/1.1\r\nHost: a\r\n!#$%&'*+-.^_`|~09az:x\r\n\r\n", 0},
    };
    CHECK_TABLE(t, HTTP_REQUEST, 0);
    /* NUL is a CTL like the others. */
    const char nul[] = "GET / HTTP/1.1\r\nHost: a\r\nFoo: a\0b\r\n\r\n";
    assert_int_equal(parse_n(nul, sizeof nul - 1, HTTP_REQUEST, 0), -HTTP_E_FIELD_VALUE);
    const char nul2[] = "GET / HTTP/1.1\r\nHost: a\r\nF\0o: ab\r\n\r\n";
    assert_int_equal(parse_n(nul2, sizeof nul2 - 1, HTTP_REQUEST, 0), -HTTP_E_FIELD_NAME);
}

static void field_value_trimmed(void **state)
{
    (void)state;
    const char *s = "GET / HTTP/1.1\r\nHost:a\r\nX-A: \t a  b \t \r\nX-B:   \r\n\r\n";
    assert_int_equal(req(s), (int)strlen(s));
    assert_int_equal(H.nfields, 3);
    assert_true(span_is(s, H.fields[0].value, "a"));
    assert_true(span_is(s, H.fields[1].name, "X-A"));
    assert_true(span_is(s, H.fields[1].value, "a  b"));
    assert_int_equal(H.fields[2].value.len, 0);
    assert_ptr_equal(http_field_find(s, &H, "x-a"), &H.fields[1]);
    assert_ptr_equal(http_field_find(s, &H, "HOST"), &H.fields[0]);
    assert_null(http_field_find(s, &H, "X-C"));
    assert_null(http_field_find(s, &H, "X-"));
    assert_true(http_field_is(s, &H.fields[2], "x-b"));
    assert_false(http_field_is(s, &H.fields[2], "x-a"));
}

static void bare_lf_line_ends(void **state)
{
    (void)state;
    /* RFC 9112 2.2: a bare LF may end a head's lines; we accept it (docs/http.md). */
    const char *s = "GET / HTTP/1.1\nHost: a\r\nX: 1\n\n";
    assert_int_equal(req(s), (int)strlen(s));
    assert_int_equal(H.nfields, 2);
    assert_true(span_is(s, H.fields[1].value, "1"));
    const char *r = "HTTP/1.1 200 OK\nContent-Length: 2\n\r\nok";
    assert_int_equal(resp(r, HTTP_M_GET), (int)strlen(r) - 2);
    assert_int_equal(H.body, HTTP_BODY_LENGTH);
}

/* ---- limits --------------------------------------------------------------------------- */

static void too_large(void **state)
{
    (void)state;
    struct http_limits l = {.max_head = 40, .max_fields = 10};
    const char *s40 = "GET / HTTP/1.1\r\nHost: a\r\nX: 12345678\r\n\r\n";
    assert_int_equal(strlen(s40), 40);
    assert_int_equal(http_parse_head(s40, 40, HTTP_REQUEST, 0, &l, &H), 40);
    const char *s41 = "GET / HTTP/1.1\r\nHost: a\r\nX: 123456789\r\n\r\n";
    assert_int_equal(strlen(s41), 41);
    assert_int_equal(http_parse_head(s41, 41, HTTP_REQUEST, 0, &l, &H), -HTTP_E_TOO_LARGE);
    /* As soon as max_head bytes are in without the head's end: no need to wait for more. */
    assert_int_equal(http_parse_head(s41, 40, HTTP_REQUEST, 0, &l, &H), -HTTP_E_TOO_LARGE);
    assert_int_equal(http_parse_head(s41, 39, HTTP_REQUEST, 0, &l, &H), 0);
    /* An error in a complete line within the window is named rather than the size. */
    const char *bad = "GET / HTTP/1.1\r\nHost : a\r\nX: 1234567890123\r\n";
    assert_int_equal(http_parse_head(bad, strlen(bad), HTTP_REQUEST, 0, &l, &H),
                     -HTTP_E_SPACE_COLON);
    /* The default is HTTP_DEFAULT_MAX_HEAD. */
    size_t n = HTTP_DEFAULT_MAX_HEAD + 100;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, 'a', n);
    memcpy(big, "GET / HTTP/1.1\r\nHost: a\r\nX: ", 28);
    assert_int_equal(parse_n(big, HTTP_DEFAULT_MAX_HEAD - 1, HTTP_REQUEST, 0), 0);
    assert_int_equal(parse_n(big, HTTP_DEFAULT_MAX_HEAD, HTTP_REQUEST, 0), -HTTP_E_TOO_LARGE);
    memcpy(big + HTTP_DEFAULT_MAX_HEAD - 4, "\r\n\r\n", 4);
    assert_int_equal(parse_n(big, n, HTTP_REQUEST, 0), HTTP_DEFAULT_MAX_HEAD);
    free(big);
}

static void too_many_fields(void **state)
{
    (void)state;
    struct http_limits l = {.max_head = 1000, .max_fields = 3};
    const char *s3 = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
    assert_int_equal(http_parse_head(s3, strlen(s3), HTTP_REQUEST, 0, &l, &H), (int)strlen(s3));
    const char *s4 = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_int_equal(http_parse_head(s4, strlen(s4), HTTP_REQUEST, 0, &l, &H), -HTTP_E_TOO_MANY);
    /* max_fields is bounded by HTTP_MAX_FIELDS_LIMIT whatever the limits say. */
    l.max_fields = 100000;
    l.max_head = 100000;
    char *s = malloc(l.max_head);
    assert_non_null(s);
    int n = sprintf(s, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 1; i < HTTP_MAX_FIELDS_LIMIT; i++)
        n += sprintf(s + n, "F%d: %d\r\n", i, i);
    n += sprintf(s + n, "\r\n");
    assert_int_equal(http_parse_head(s, (size_t)n, HTTP_REQUEST, 0, &l, &H), n);
    assert_int_equal(H.nfields, HTTP_MAX_FIELDS_LIMIT);
    n -= 2;
    n += sprintf(s + n, "G: 1\r\n\r\n");
    assert_int_equal(http_parse_head(s, (size_t)n, HTTP_REQUEST, 0, &l, &H), -HTTP_E_TOO_MANY);
    free(s);
}

static void head_ready(void **state)
{
    (void)state;
    const char *s = "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\nnext";
    size_t end = strlen(s) - 4;
    for (size_t len = 0; len <= strlen(s); len++) {
        assert_int_equal(http_head_ready(s, len, 0, NULL), len >= end);
        /* Resumed from any earlier length that was not ready: the same answer. */
        for (size_t seen = 0; seen <= len && seen < end; seen++)
            assert_int_equal(http_head_ready(s, len, seen, NULL), len >= end);
    }
    const char *lf = "GET / HTTP/1.1\nHost: a\n\n";
    assert_int_equal(http_head_ready(lf, strlen(lf), 0, NULL), 1);
    assert_int_equal(http_head_ready(lf, strlen(lf) - 1, 0, NULL), 0);
    struct http_limits l = {.max_head = 10, .max_fields = 10};
    assert_int_equal(http_head_ready(s, 9, 0, &l), 0);
    assert_int_equal(http_head_ready(s, 10, 0, &l), 1);
}

/* ---- framing: Content-Length, Transfer-Encoding, Host ---------------------------------- */

static void cl_and_te(void **state)
{
    (void)state;
    static const struct want rq[] = {
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
         -HTTP_E_CL_AND_TE},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
         -HTTP_E_CL_AND_TE},
        /* Whatever the values: the pair is refused before either is looked at. */
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: x\r\nContent-Length: y\r\n\r\n",
         -HTTP_E_CL_AND_TE},
    };
    CHECK_TABLE(rq, HTTP_REQUEST, 0);
    static const struct want rs[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
         -HTTP_E_CL_AND_TE},
    };
    CHECK_TABLE(rs, HTTP_RESPONSE, HTTP_M_GET);
}

static void cl_values(void **state)
{
    (void)state;
    static const struct want t[] = {
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", -HTTP_E_CL_DIFFERENT},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
         -HTTP_E_CL_DIFFERENT},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", -HTTP_E_CL_INVALID},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", -HTTP_E_CL_INVALID},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n", -HTTP_E_CL_INVALID},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ,5\r\n\r\n", -HTTP_E_CL_INVALID},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,,5\r\n\r\n", -HTTP_E_CL_INVALID},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", -HTTP_E_CL_INVALID},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", -HTTP_E_CL_INVALID},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n", -HTTP_E_CL_INVALID},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", -HTTP_E_CL_INVALID},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5.0\r\n\r\n", -HTTP_E_CL_INVALID},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
         -HTTP_E_CL_INVALID},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n",
         -HTTP_E_CL_INVALID},
        /* A bad value in a later field is still seen. */
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: x\r\n\r\n",
         -HTTP_E_CL_INVALID},
    };
    CHECK_TABLE(t, HTTP_REQUEST, 0);
    static const struct {
        const char *in;
        uint64_t cl;
    } ok[] = {
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 5},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", 5},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 05,5 ,\t5\r\n\r\n", 5},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 0},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n",
         9223372036854775807ull},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_int_equal(req(ok[i].in), (int)strlen(ok[i].in));
        assert_int_equal(H.body, HTTP_BODY_LENGTH);
        assert_true(H.content_length == ok[i].cl);
    }
}

static void te_values(void **state)
{
    (void)state;
    static const struct want t[] = {
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", -HTTP_E_TE},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", -HTTP_E_TE},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", -HTTP_E_TE},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
         "chunked\r\n\r\n",
         -HTTP_E_TE},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", -HTTP_E_TE},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", -HTTP_E_TE},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", -HTTP_E_TE},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", -HTTP_E_TE},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", -HTTP_E_TE},
        /* RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing. */
        {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", -HTTP_E_TE},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 0},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED \r\n\r\n", 0},
    };
    CHECK_TABLE(t, HTTP_REQUEST, 0);
    assert_int_equal(resp("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_M_GET),
                     -HTTP_E_TE);
    assert_int_equal(
        resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", HTTP_M_GET),
        -HTTP_E_TE);
}

static void host_rules(void **state)
{
    (void)state;
    static const struct want t[] = {
        {"GET / HTTP/1.1\r\n\r\n", -HTTP_E_HOST},
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", -HTTP_E_HOST},
        {"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", -HTTP_E_HOST}, /* any version */
        {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", -HTTP_E_HOST},
        {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", -HTTP_E_HOST},
        {"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", -HTTP_E_HOST},
        {"GET / HTTP/1.1\r\nHost: caf\xc3\xa9\r\n\r\n", -HTTP_E_HOST},
        {"GET / HTTP/1.0\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost:\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHOST: [::1]:8080\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: xn--caf-dma.example:80\r\n\r\n", 0},
    };
    CHECK_TABLE(t, HTTP_REQUEST, 0);
    /* Responses have no Host rule. */
    const char *r = "HTTP/1.1 204 No Content\r\nHost: a\r\nHost: b\r\n\r\n";
    assert_int_equal(resp(r, HTTP_M_GET), (int)strlen(r));
}

/* ---- body kinds, persistence, expectations -------------------------------------------- */

static void request_body_kinds(void **state)
{
    (void)state;
    assert_true(req("GET / HTTP/1.1\r\nHost: a\r\n\r\n") > 0);
    assert_int_equal(H.body, HTTP_BODY_NONE);
    assert_true(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n") > 0);
    assert_int_equal(H.body, HTTP_BODY_LENGTH);
    assert_int_equal(H.content_length, 12);
    assert_true(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n") > 0);
    assert_int_equal(H.body, HTTP_BODY_CHUNKED);
    /* A request never runs to EOF or becomes a tunnel by itself: CONNECT waits for its 2xx. */
    assert_true(req("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n") > 0);
    assert_int_equal(H.body, HTTP_BODY_NONE);
    assert_int_equal(H.method, HTTP_M_CONNECT);
}

static void response_body_kinds(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int method, body, interim, keep_alive;
    } t[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n", HTTP_M_HEAD, HTTP_BODY_NONE, 0, 1},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_M_HEAD, HTTP_BODY_NONE, 0,
         1},
        {"HTTP/1.1 100 Continue\r\n\r\n", HTTP_M_POST, HTTP_BODY_NONE, 1, 1},
        {"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", HTTP_M_GET, HTTP_BODY_NONE, 1, 1},
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
         HTTP_M_GET, HTTP_BODY_TUNNEL, 0, 0},
        {"HTTP/1.1 204 No Content\r\n\r\n", HTTP_M_GET, HTTP_BODY_NONE, 0, 1},
        {"HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n", HTTP_M_GET, HTTP_BODY_NONE, 0,
         1},
        {"HTTP/1.1 200 Connection Established\r\n\r\n", HTTP_M_CONNECT, HTTP_BODY_TUNNEL, 0, 0},
        {"HTTP/1.1 407 Auth\r\nContent-Length: 2\r\n\r\n", HTTP_M_CONNECT, HTTP_BODY_LENGTH, 0, 1},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_M_GET, HTTP_BODY_CHUNKED, 0,
         1},
        {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", HTTP_M_POST, HTTP_BODY_LENGTH, 0, 1},
        {"HTTP/1.1 200 OK\r\n\r\n", HTTP_M_GET, HTTP_BODY_EOF, 0, 0},
        {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", HTTP_M_GET, HTTP_BODY_EOF, 0, 0},
        {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", HTTP_M_GET,
         HTTP_BODY_LENGTH, 0, 1},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (resp(t[i].in, t[i].method) != (int)strlen(t[i].in))
            fail_msg("case %zu: %s", i, http_error_name(resp(t[i].in, t[i].method)));
        assert_int_equal(H.body, t[i].body);
        assert_int_equal(H.interim, t[i].interim);
        assert_int_equal(H.keep_alive, t[i].keep_alive);
    }
    /* A HEAD's Content-Length is still read (what a GET would have had). */
    assert_true(resp("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n", HTTP_M_HEAD) > 0);
    assert_int_equal(H.content_length, 7);
}

static void keep_alive_rules(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int ka;
    } t[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: x\r\nConnection: Close\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", 1},
        {"GET / HTTP/1.0\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1},
        {"GET / HTTP/1.0\r\nConnection: foo ,Keep-Alive\r\n\r\n", 1},
        {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\nKeep-Alive: timeout=5\r\n\r\n", 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        assert_int_equal(req(t[i].in), (int)strlen(t[i].in));
        if (H.keep_alive != t[i].ka)
            fail_msg("case %zu: keep_alive %d", i, H.keep_alive);
    }
}

static void expect_and_upgrade(void **state)
{
    (void)state;
    assert_true(req("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
                    "Content-Length: 1\r\n\r\n") > 0);
    assert_int_equal(H.expect_continue, 1);
    assert_true(req("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n") > 0);
    assert_int_equal(H.expect_continue, 0); /* RFC 9110 10.1.1: ignored in HTTP/1.0 */
    assert_true(req("POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n") > 0);
    assert_int_equal(H.expect_continue, 0);
    assert_true(req("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
                    "Upgrade: websocket\r\n\r\n") > 0);
    assert_int_equal(H.upgrade, 1);
    assert_int_equal(H.keep_alive, 1);
    assert_true(req("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n") > 0);
    assert_int_equal(H.upgrade, 0);
    assert_true(req("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n") > 0);
    assert_int_equal(H.upgrade, 0);
    assert_true(req("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n") > 0);
    assert_int_equal(H.upgrade, 0); /* RFC 9110 7.8: ignored in HTTP/1.0 */
}

/* ---- bodies --------------------------------------------------------------------------- */

/* The body after head s (parsed as kind) scanned from buf in one call: bytes, done. */
static ssize_t scan_once(const struct http_head *h, const char *buf, size_t len, int *done)
{
    struct http_body b;
    http_body_init(&b, h, NULL);
    return http_body_scan(&b, buf, len, done);
}

/* The same body fed in pieces: cuts[] are the piece lengths (the rest in a last piece). The
 * answer is the one a one-shot scan gives: the total when done, the error when refused.
 * Pieces after done are not offered (the caller would parse the next message). */
static ssize_t scan_pieces(const struct http_head *h, const char *buf, size_t len,
                           const size_t *cuts, size_t ncuts, int *done)
{
    struct http_body b;
    http_body_init(&b, h, NULL);
    size_t off = 0, k = 0;
    *done = 0;
    while (off < len || k == 0) {
        size_t n = k < ncuts ? cuts[k] : len - off;
        if (n > len - off)
            n = len - off;
        k++;
        ssize_t r = http_body_scan(&b, buf + off, n, done);
        if (r < 0)
            return r;
        assert_true((size_t)r <= n);
        off += (size_t)r;
        if (*done)
            return (ssize_t)off;
        assert_int_equal((size_t)r, n); /* not done: everything offered was taken */
        if (off == len)
            break;
    }
    return (ssize_t)off;
}

static struct http_head chunked_head(void)
{
    struct http_head h;
    const char *s = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_int_equal(http_parse_head(s, strlen(s), HTTP_REQUEST, 0, NULL, &h), (int)strlen(s));
    return h;
}

static void body_length_and_pipelining(void **state)
{
    (void)state;
    const char *s = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                    "GET /b HTTP/1.1\r\nHost: a\r\n\r\n"
                    "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "3\r\nabc\r\n0\r\n\r\n"
                    "GET /d HTTP/1.1\r\nHost: a\r\n\r\n";
    size_t len = strlen(s), off = 0;
    const char *targets[] = {"/a", "/b", "/c", "/d"};
    for (int i = 0; i < 4; i++) {
        int hl = req(s + off);
        assert_true(hl > 0);
        assert_true(span_is(s + off, H.target, targets[i]));
        off += (size_t)hl;
        int done;
        ssize_t n = scan_once(&H, s + off, len - off, &done);
        assert_int_equal(done, 1);
        assert_int_equal(n, i == 0 ? 5 : i == 2 ? 13 : 0);
        off += (size_t)n;
    }
    assert_int_equal(off, len);
    /* LENGTH in pieces: never past its end. */
    assert_true(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n") > 0);
    struct http_body b;
    int done;
    http_body_init(&b, &H, NULL);
    assert_int_equal(http_body_scan(&b, "he", 2, &done), 2);
    assert_int_equal(done, 0);
    assert_int_equal(http_body_scan(&b, "lloGET", 6, &done), 3);
    assert_int_equal(done, 1);
    assert_int_equal(http_body_scan(&b, "GET", 3, &done), 0);
    assert_int_equal(done, 1);
    /* Content-Length: 0 is done at once. */
    assert_true(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n") > 0);
    assert_int_equal(scan_once(&H, "GET", 3, &done), 0);
    assert_int_equal(done, 1);
}

static void body_eof_and_tunnel(void **state)
{
    (void)state;
    int done;
    assert_true(resp("HTTP/1.1 200 OK\r\n\r\n", HTTP_M_GET) > 0);
    assert_int_equal(scan_once(&H, "abc\r\n0\r\n\r\n", 10, &done), 10);
    assert_int_equal(done, 0);
    assert_true(resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", HTTP_M_GET) > 0);
    assert_int_equal(scan_once(&H, "\x81\x00", 2, &done), 2);
    assert_int_equal(done, 0);
    assert_true(resp("HTTP/1.1 204 No Content\r\n\r\n", HTTP_M_GET) > 0);
    assert_int_equal(scan_once(&H, "HTTP/1.1", 8, &done), 0);
    assert_int_equal(done, 1);
}

/* A chunked body with everything: sizes in both cases, leading zeros, extensions with BWS and
 * quoted strings, an empty chunk line's neighbours, trailers; then the next message. */
static const char CHUNKED[] = "5\r\nhello\r\n"
                              "1A;name=value;q=\"a;b\"\r\nabcdefghijklmnopqrstuvwxyz\r\n"
                              "00a ; ext\r\n0123456789\r\n"
                              "1\r\n\n\r\n"
                              "0;last\r\n"
                              "Expires: never\r\nX-Sum: \t1 2 \r\n"
                              "\r\n";

static void chunked_one_shot(void **state)
{
    (void)state;
    struct http_head h = chunked_head();
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%sGET / HTTP/1.1\r\n", CHUNKED);
    int done;
    assert_int_equal(scan_once(&h, buf, (size_t)n, &done), (ssize_t)strlen(CHUNKED));
    assert_int_equal(done, 1);
    /* Everything but the last byte: not done, all taken. */
    assert_int_equal(scan_once(&h, buf, strlen(CHUNKED) - 1, &done), strlen(CHUNKED) - 1);
    assert_int_equal(done, 0);
    /* The smallest body. */
    assert_int_equal(scan_once(&h, "0\r\n\r\nX", 6, &done), 5);
    assert_int_equal(done, 1);
}

static void chunked_every_split(void **state)
{
    (void)state;
    struct http_head h = chunked_head();
    size_t len = strlen(CHUNKED);
    int done;
    /* One byte at a time. */
    size_t ones[sizeof CHUNKED];
    for (size_t i = 0; i < sizeof ones / sizeof ones[0]; i++)
        ones[i] = 1;
    assert_int_equal(scan_pieces(&h, CHUNKED, len, ones, len, &done), (ssize_t)len);
    assert_int_equal(done, 1);
    /* Every split in two and in three. */
    for (size_t a = 0; a <= len; a++) {
        size_t cut[1] = {a};
        assert_int_equal(scan_pieces(&h, CHUNKED, len, cut, 1, &done), (ssize_t)len);
        assert_int_equal(done, 1);
        for (size_t b = 0; a + b <= len; b += 7) {
            size_t cut2[2] = {a, b};
            assert_int_equal(scan_pieces(&h, CHUNKED, len, cut2, 2, &done), (ssize_t)len);
            assert_int_equal(done, 1);
        }
    }
    /* Random splits, a fixed seed. */
    srand(1234);
    for (int round = 0; round < 2000; round++) {
        size_t cuts[64];
        for (size_t i = 0; i < 64; i++)
            cuts[i] = (size_t)(rand() % 9);
        assert_int_equal(scan_pieces(&h, CHUNKED, len, cuts, 64, &done), (ssize_t)len);
        assert_int_equal(done, 1);
    }
}

static void chunked_errors(void **state)
{
    (void)state;
    struct http_head h = chunked_head();
    static const struct {
        const char *in;
        int err;
    } t[] = {
        {"\r\n", HTTP_E_CHUNK_SIZE}, /* no size */
        {"g\r\n", HTTP_E_CHUNK_SIZE},
        {"-5\r\n", HTTP_E_CHUNK_SIZE},
        {"+5\r\n", HTTP_E_CHUNK_SIZE},
        {"0x5\r\n", HTTP_E_CHUNK_SIZE},
        {" 5\r\n", HTTP_E_CHUNK_SIZE},
        {"5 \r\nhello\r\n", HTTP_E_CHUNK_SIZE}, /* BWS only before ";" */
        {"5\nhello\r\n", HTTP_E_CHUNK_SIZE},    /* bare LF */
        {"5\r\rhello\r\n", HTTP_E_CHUNK_SIZE},  /* bare CR */
        {"5;a\nhello\r\n", HTTP_E_CHUNK_SIZE},  /* LF inside an extension */
        {"5;a\rb\r\nhello\r\n", HTTP_E_CHUNK_SIZE},
        {"5;a\x01\r\nhello\r\n", HTTP_E_CHUNK_SIZE},
        {"5;\x7f\r\nhello\r\n", HTTP_E_CHUNK_SIZE},
        {"00000000000000005\r\nhello\r\n", HTTP_E_CHUNK_SIZE}, /* 17 digits */
        {"10000000000000000\r\n", HTTP_E_CHUNK_SIZE},
        {"8000000000000000\r\n", HTTP_E_CHUNK_SIZE}, /* 2^63 */
        {"ffffffffffffffff\r\n", HTTP_E_CHUNK_SIZE},
        {"5\r\nhelloX\r\n", HTTP_E_CHUNK_CRLF},
        {"5\r\nhello\n0\r\n\r\n", HTTP_E_CHUNK_CRLF},
        {"5\r\nhello\rX", HTTP_E_CHUNK_CRLF},
        {"5\r\nhello world\r\n", HTTP_E_CHUNK_CRLF}, /* more data than the size */
        {"0\r\n\n", HTTP_E_CHUNK_CRLF},
        {"0\r\n\rX", HTTP_E_CHUNK_CRLF},
        {"0\r\nFoo : bar\r\n\r\n", HTTP_E_TRAILER},
        {"0\r\n bar\r\n\r\n", HTTP_E_TRAILER},
        {"0\r\nFoo: a\r\n b\r\n\r\n", HTTP_E_TRAILER}, /* obs-fold */
        {"0\r\n:x\r\n\r\n", HTTP_E_TRAILER},
        {"0\r\nF@o: x\r\n\r\n", HTTP_E_TRAILER},
        {"0\r\nFoo\r\n\r\n", HTTP_E_TRAILER},
        {"0\r\nFoo: a\x01\r\n\r\n", HTTP_E_TRAILER},
        {"0\r\nFoo: a\nX: b\r\n\r\n", HTTP_E_TRAILER}, /* bare LF */
        {"0\r\nFoo: a\rX\r\n\r\n", HTTP_E_TRAILER},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        size_t len = strlen(t[i].in);
        int done;
        ssize_t rc = scan_once(&h, t[i].in, len, &done);
        if (rc != -t[i].err)
            fail_msg("case %zu '%s': got %zd (%s), want %s", i, t[i].in, rc,
                     http_error_name((int)rc), http_error_name(t[i].err));
        assert_int_equal(done, 0);
        size_t ones[64];
        for (size_t k = 0; k < 64; k++)
            ones[k] = 1;
        assert_int_equal(scan_pieces(&h, t[i].in, len, ones, 64, &done), -t[i].err);
    }
    /* The largest size accepted, 2^63-1: waits for its data. */
    int done;
    assert_int_equal(scan_once(&h, "7fffffffffffffff\r\nab", 20, &done), 20);
    assert_int_equal(done, 0);
    assert_int_equal(scan_once(&h, "000000000000000A\r\n", 18, &done), 18);
    /* A refusal is kept: the next call answers it again. */
    struct http_body b;
    http_body_init(&b, &h, NULL);
    assert_int_equal(http_body_scan(&b, "z", 1, &done), -HTTP_E_CHUNK_SIZE);
    assert_int_equal(http_body_scan(&b, "0\r\n\r\n", 5, &done), -HTTP_E_CHUNK_SIZE);
    assert_int_equal(done, 0);
}

static void chunked_limits(void **state)
{
    (void)state;
    struct http_head h = chunked_head();
    int done;
    /* The size line, extensions and CRLF included, is bounded by HTTP_MAX_CHUNK_LINE. */
    char *line = malloc(HTTP_MAX_CHUNK_LINE + 16);
    assert_non_null(line);
    memset(line, 'a', HTTP_MAX_CHUNK_LINE + 16);
    memcpy(line, "1;", 2);
    memcpy(line + HTTP_MAX_CHUNK_LINE - 2, "\r\nX\r\n", 5);
    assert_int_equal(scan_once(&h, line, HTTP_MAX_CHUNK_LINE + 3, &done), HTTP_MAX_CHUNK_LINE + 3);
    assert_int_equal(done, 0);
    memcpy(line + HTTP_MAX_CHUNK_LINE - 2, "a\r\nX\r\n", 6);
    assert_int_equal(scan_once(&h, line, HTTP_MAX_CHUNK_LINE + 4, &done), -HTTP_E_CHUNK_SIZE);
    free(line);
    /* The trailer section (with its final CRLF) is bounded by max_head. */
    struct http_limits l = {.max_head = 20, .max_fields = 10};
    struct http_body b;
    const char *tr18 = "0\r\nX-A: 123456789\r\n\r\n"; /* 16 + 2: 18 bytes of trailers */
    http_body_init(&b, &h, &l);
    assert_int_equal(http_body_scan(&b, tr18, strlen(tr18), &done), (ssize_t)strlen(tr18));
    assert_int_equal(done, 1);
    const char *tr21 = "0\r\nX-A: 123456789012\r\n\r\n"; /* 21 bytes */
    http_body_init(&b, &h, &l);
    assert_int_equal(http_body_scan(&b, tr21, strlen(tr21), &done), -HTTP_E_TRAILER);
}

/* ---- head writer ---------------------------------------------------------------------- */

static char *written(const char *in, int kind, int method, const struct http_rewrite *rw)
{
    static struct sf_strbuf out;
    sf_sb_free(&out);
    sf_sb_init(&out);
    int rc = parse_n(in, strlen(in), kind, method);
    if (rc <= 0)
        fail_msg("'%s' does not parse: %s", in, http_error_name(rc));
    assert_int_equal(http_head_write(in, &H, rw, &out), 0);
    return out.p;
}

static void write_http10_keep_alive(void **state)
{
    (void)state;
    struct http_rewrite rw = {.keep_alive = 1};
    assert_string_equal(written("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nKeep-Alive: "
                                "timeout=5\r\nAccept: */*\r\n\r\n",
                                HTTP_REQUEST, 0, &rw),
                        "GET / HTTP/1.0\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n");
    rw.keep_alive = 0;
    assert_string_equal(written("GET / HTTP/1.0\r\n\r\n", HTTP_REQUEST, 0, &rw),
                        "GET / HTTP/1.0\r\nConnection: close\r\n\r\n");
}

static void write_http11_close(void **state)
{
    (void)state;
    struct http_rewrite rw = {.keep_alive = 0};
    assert_string_equal(written("GET /a?b HTTP/1.1\r\nHost: h\r\nConnection: close, X-Secret\r\n"
                                "X-Secret: s\r\nProxy-Connection: keep-alive\r\nAccept: */*\r\n"
                                "Upgrade: h2c\r\nTE: trailers\r\n\r\n",
                                HTTP_REQUEST, 0, &rw),
                        "GET /a?b HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nTE: trailers\r\n"
                        "Connection: close\r\n\r\n");
    /* Persistent HTTP/1.1 says nothing. Bare LFs and "Name:value" come out in one form. */
    rw.keep_alive = 1;
    assert_string_equal(written("GET / HTTP/1.1\nHost:h\nX-A:  1 \n\n", HTTP_REQUEST, 0, &rw),
                        "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n");
}

static void write_forwarding_fields(void **state)
{
    (void)state;
    struct http_rewrite rw = {.keep_alive = 1,
                              .xff = "10.0.0.9",
                              .proto = "https",
                              .forwarded = "for=10.0.0.9;proto=https",
                              .via = "1.1 synfin"};
    /* Appended to the last of each, X-Forwarded-Proto replaced. */
    assert_string_equal(
        written("GET / HTTP/1.1\r\nX-Forwarded-For: 1.1.1.1\r\nHost: h\r\n"
                "x-forwarded-for: 2.2.2.2, 3.3.3.3\r\nX-Forwarded-Proto: http\r\n"
                "Forwarded: for=1.1.1.1\r\nVia: 1.0 fred\r\n\r\n",
                HTTP_REQUEST, 0, &rw),
        "GET / HTTP/1.1\r\nX-Forwarded-For: 1.1.1.1\r\nHost: h\r\n"
        "x-forwarded-for: 2.2.2.2, 3.3.3.3, 10.0.0.9\r\n"
        "Forwarded: for=1.1.1.1, for=10.0.0.9;proto=https\r\nVia: 1.0 fred, 1.1 synfin\r\n"
        "X-Forwarded-Proto: https\r\n\r\n");
    /* Added when absent (or empty: no leading comma). */
    assert_string_equal(
        written("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For:\r\n\r\n", HTTP_REQUEST, 0, &rw),
        "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.9\r\n"
        "X-Forwarded-Proto: https\r\nForwarded: for=10.0.0.9;proto=https\r\n"
        "Via: 1.1 synfin\r\n\r\n");
    /* Only XFF asked. */
    struct http_rewrite x = {.keep_alive = 1, .xff = "::1"};
    assert_string_equal(written("GET / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP_REQUEST, 0, &x),
                        "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: ::1\r\n\r\n");
    /* A Via on a response. */
    struct http_rewrite v = {.keep_alive = 0, .via = "1.1 synfin"};
    assert_string_equal(
        written("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", HTTP_RESPONSE, HTTP_M_GET, &v),
        "HTTP/1.1 200 \r\nContent-Length: 0\r\nVia: 1.1 synfin\r\n"
        "Connection: close\r\n\r\n");
}

static void write_upgrade(void **state)
{
    (void)state;
    const char *ws = "GET /chat HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\n"
                     "Upgrade: websocket\r\nSec-WebSocket-Key: k==\r\n\r\n";
    struct http_rewrite rw = {.keep_alive = 1, .upgrade = 1};
    assert_string_equal(written(ws, HTTP_REQUEST, 0, &rw),
                        "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
                        "Sec-WebSocket-Key: k==\r\nConnection: upgrade\r\n\r\n");
    rw.upgrade = 0;
    assert_string_equal(written(ws, HTTP_REQUEST, 0, &rw),
                        "GET /chat HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Key: k==\r\n\r\n");
    /* The 101 going back. */
    rw.upgrade = 1;
    assert_string_equal(written("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\nSec-WebSocket-Accept: a=\r\n\r\n",
                                HTTP_RESPONSE, HTTP_M_GET, &rw),
                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        "Sec-WebSocket-Accept: a=\r\nConnection: upgrade\r\n\r\n");
}

static void write_framing_fields_stay(void **state)
{
    (void)state;
    struct http_rewrite rw = {.keep_alive = 1};
    /* Connection naming the framing fields or Host does not remove them. */
    assert_string_equal(written("POST / HTTP/1.1\r\nHost: h\r\nConnection: Content-Length, Host,"
                                " X-A\r\nContent-Length: 3\r\nX-A: 1\r\n\r\n",
                                HTTP_REQUEST, 0, &rw),
                        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n");
    assert_string_equal(written("POST / HTTP/1.1\r\nHost: h\r\nConnection: transfer-encoding\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n",
                                HTTP_REQUEST, 0, &rw),
                        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
    /* Content-Length once, as decided. */
    assert_string_equal(written("POST / HTTP/1.1\r\ncontent-length: 05, 5\r\nHost: h\r\n"
                                "Content-Length: 5\r\n\r\n",
                                HTTP_REQUEST, 0, &rw),
                        "POST / HTTP/1.1\r\ncontent-length: 5\r\nHost: h\r\n\r\n");
}

/* What the writer writes parses again to the same message. */
static void write_reparses(void **state)
{
    (void)state;
    static const char *const in[] = {
        "GET /x HTTP/1.0\r\nConnection: keep-alive\r\nUser-Agent: ab\r\n\r\n",
        "POST /y HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\nConnection: close\r\n\r\n",
        "PUT /z HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
    };
    struct http_rewrite rw = {.keep_alive = 1, .xff = "1.2.3.4", .via = "1.1 synfin"};
    static struct http_head h2;
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        struct sf_strbuf out;
        sf_sb_init(&out);
        assert_true(req(in[i]) > 0);
        rw.keep_alive = H.keep_alive;
        assert_int_equal(http_head_write(in[i], &H, &rw, &out), 0);
        assert_int_equal(http_parse_head(out.p, out.len, HTTP_REQUEST, 0, NULL, &h2), (int)out.len);
        assert_int_equal(h2.method, H.method);
        assert_int_equal(h2.minor, H.minor);
        assert_int_equal(h2.body, H.body);
        assert_true(h2.content_length == H.content_length);
        assert_int_equal(h2.keep_alive, H.keep_alive);
        assert_int_equal(h2.expect_continue, H.expect_continue);
        assert_int_equal(h2.target.len, H.target.len);
        assert_memory_equal(out.p + h2.target.off, in[i] + H.target.off, H.target.len);
        sf_sb_free(&out);
    }
}

/* ---- errors and canned responses ------------------------------------------------------ */

static void errors_named(void **state)
{
    (void)state;
    assert_string_equal(http_error_name(HTTP_E_NONE), "none");
    assert_string_equal(http_error_name(-HTTP_E_CL_AND_TE), "cl_and_te");
    assert_string_equal(http_error_name(HTTP_E_TRAILER), "trailer");
    assert_string_equal(http_error_name(HTTP_E_COUNT), "unknown");
    for (int e = 1; e < HTTP_E_COUNT; e++) {
        assert_string_not_equal(http_error_name(e), "unknown");
        assert_int_equal(http_error_status(-e, HTTP_RESPONSE), 502);
        int want = e == HTTP_E_TOO_LARGE || e == HTTP_E_TOO_MANY ? 431 : 400;
        assert_int_equal(http_error_status(-e, HTTP_REQUEST), want);
    }
}

static void canned_responses(void **state)
{
    (void)state;
    static const int codes[] = {400, 408, 413, 417, 431, 500, 501, 502, 503, 504};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        size_t len;
        const char *r = http_canned(codes[i], &len);
        assert_non_null(r);
        assert_int_equal(len, strlen(r));
        int hl = resp(r, HTTP_M_GET);
        assert_true(hl > 0);
        assert_int_equal(H.status, codes[i]);
        assert_int_equal(H.body, HTTP_BODY_LENGTH);
        assert_int_equal(H.keep_alive, 0);
        assert_true(H.content_length == len - (size_t)hl);
        /* The body names the status. */
        char code[8];
        snprintf(code, sizeof code, "%d ", codes[i]);
        assert_memory_equal(r + hl, code, 4);
    }
    size_t len = 99;
    assert_null(http_canned(200, &len));
    assert_int_equal(len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tchar_and_vchar_classes),
        cmocka_unit_test(request_minimal),
        cmocka_unit_test(request_incomplete_prefixes),
        cmocka_unit_test(request_leading_empty_lines),
        cmocka_unit_test(request_line_errors),
        cmocka_unit_test(request_methods),
        cmocka_unit_test(status_line_ok),
        cmocka_unit_test(status_line_errors),
        cmocka_unit_test(field_rules),
        cmocka_unit_test(field_value_trimmed),
        cmocka_unit_test(bare_lf_line_ends),
        cmocka_unit_test(too_large),
        cmocka_unit_test(too_many_fields),
        cmocka_unit_test(head_ready),
        cmocka_unit_test(cl_and_te),
        cmocka_unit_test(cl_values),
        cmocka_unit_test(te_values),
        cmocka_unit_test(host_rules),
        cmocka_unit_test(request_body_kinds),
        cmocka_unit_test(response_body_kinds),
        cmocka_unit_test(keep_alive_rules),
        cmocka_unit_test(expect_and_upgrade),
        cmocka_unit_test(body_length_and_pipelining),
        cmocka_unit_test(body_eof_and_tunnel),
        cmocka_unit_test(chunked_one_shot),
        cmocka_unit_test(chunked_every_split),
        cmocka_unit_test(chunked_errors),
        cmocka_unit_test(chunked_limits),
        cmocka_unit_test(write_http10_keep_alive),
        cmocka_unit_test(write_http11_close),
        cmocka_unit_test(write_forwarding_fields),
        cmocka_unit_test(write_upgrade),
        cmocka_unit_test(write_framing_fields_stay),
        cmocka_unit_test(write_reparses),
        cmocka_unit_test(errors_named),
        cmocka_unit_test(canned_responses),
    };
    return cmocka_run_group_tests_name("http_h1", tests, NULL, NULL);
}
