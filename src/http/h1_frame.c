/* Framing decisions once a head's fields are parsed: where its body ends (RFC 9112 6.3, in
 * the RFC's order), whether the connection persists (RFC 9112 9.3), and the checks that close
 * request smuggling: a message two parsers could delimit two ways is refused. The order of
 * the refusals, when a head breaks several rules: both Content-Length and Transfer-Encoding,
 * then Transfer-Encoding's own rules, then Content-Length's, then Host. */
#include <string.h>

#include "http/h1_int.h"

/* What the fields said, before any decision. */
struct seen {
    uint32_t cl_fields, cl_values, te_fields, hosts;
    uint64_t cl;
    int cl_err;  /* the first Content-Length error, 0 if none */
    int te_ok;   /* the single Transfer-Encoding is exactly `chunked` */
    int host_ok; /* every Host value is a valid uri-host [ ":" port ] */
    unsigned close : 1, keep_alive : 1, upgrade_opt : 1, upgrade_field : 1, expect_100 : 1;
};

/* RFC 9110 8.6: Content-Length = 1*DIGIT. "a recipient of a Content-Length header field value
 * consisting of the same decimal value repeated as a comma-separated list (e.g,
 * "Content-Length: 42, 42") MAY either reject the message as invalid or replace that invalid
 * field value with a single instance of the decimal value". We take the same value repeated,
 * in one field or several (http_head_write sends it once); an empty element, a non-digit or
 * a value past 2^63-1 (an off_t) is HTTP_E_CL_INVALID, two values that differ
 * HTTP_E_CL_DIFFERENT (RFC 9112 6.3, item 5: "multiple Content-Length header fields having
 * differing field-values ... the message framing is invalid"). */
static int content_length(const char *v, size_t n, struct seen *s)
{
    const char *p = v, *end = v + n, *e;
    size_t el;
    while (http_list_next(&p, end, &e, &el)) {
        if (el == 0)
            return -HTTP_E_CL_INVALID;
        uint64_t x = 0;
        for (size_t i = 0; i < el; i++) {
            unsigned d = (unsigned)(e[i] - '0');
            if (d > 9 || x > ((uint64_t)INT64_MAX - d) / 10)
                return -HTTP_E_CL_INVALID;
            x = x * 10 + d;
        }
        if (s->cl_values++ && x != s->cl)
            return -HTTP_E_CL_DIFFERENT;
        s->cl = x;
    }
    return 0;
}

/* RFC 9112 3.2: Host = uri-host [ ":" port ]; "A server MUST respond with a 400 (Bad Request)
 * status code to any HTTP/1.1 request message that lacks a Host header field and to any
 * request message that contains more than one Host header field line or a Host header field
 * with an invalid field value." Valid here: the bytes RFC 3986 3.2.2 allows in a host and a
 * port (no whitespace, no "/", "?", "#", "@", no obs-text). Empty is valid (RFC 9112 3.2:
 * "If the target URI lacks an authority component, a client MUST send a Host header field
 * with an empty field value"). */
static int host_valid(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!hc_is(v[i], HC_HOST))
            return 0;
    return 1;
}

/* RFC 9110 7.6.1: Connection = #connection-option, connection-option = token, "Connection
 * options are case-insensitive". Elements that are not tokens match nothing. */
static void connection(const char *v, size_t n, struct seen *s)
{
    const char *p = v, *end = v + n, *e;
    size_t el;
    while (http_list_next(&p, end, &e, &el)) {
        if (HTTP_EQ(e, el, "close"))
            s->close = 1;
        else if (HTTP_EQ(e, el, "keep-alive"))
            s->keep_alive = 1;
        else if (HTTP_EQ(e, el, "upgrade"))
            s->upgrade_opt = 1;
    }
}

/* RFC 9110 10.1.1: Expect = #expectation; "The expectation token is case-insensitive"; the
 * one defined is 100-continue. */
static void expect(const char *v, size_t n, struct seen *s)
{
    const char *p = v, *end = v + n, *e;
    size_t el;
    while (http_list_next(&p, end, &e, &el))
        if (HTTP_EQ(e, el, "100-continue"))
            s->expect_100 = 1;
}

static void one_field(const char *buf, const struct http_field *f, struct seen *s)
{
    const char *n = span_p(buf, f->name), *v = span_p(buf, f->value);
    size_t nl = f->name.len, vl = f->value.len;
    int rc;
    if (HTTP_EQ(n, nl, "content-length")) {
        s->cl_fields++;
        if (!s->cl_err && (rc = content_length(v, vl, s)) < 0)
            s->cl_err = rc;
    } else if (HTTP_EQ(n, nl, "transfer-encoding")) {
        /* Strict (RFC 9112 6.1 allows other codings before a final chunked): exactly one
         * Transfer-Encoding, exactly `chunked`, case-insensitive (RFC 9112 7: "All transfer-
         * coding names are case-insensitive"). Anything else could be delimited another way
         * by the next hop (`chunked, identity`, `chunked` twice, `xchunked`, `gzip, chunked`
         * with a server that undoes only gzip); nobody in practice sends other codings. */
        s->te_ok = ++s->te_fields == 1 && HTTP_EQ(v, vl, "chunked");
    } else if (HTTP_EQ(n, nl, "host")) {
        s->hosts++;
        s->host_ok = (s->hosts == 1 || s->host_ok) && host_valid(v, vl);
    } else if (HTTP_EQ(n, nl, "connection")) {
        connection(v, vl, s);
    } else if (HTTP_EQ(n, nl, "expect")) {
        expect(v, vl, s);
    } else if (HTTP_EQ(n, nl, "upgrade")) {
        s->upgrade_field = s->upgrade_field || vl > 0;
    }
}

/* The refusals, in the order given at the top. */
static int check(const struct http_head *h, const struct seen *s)
{
    /* RFC 9112 6.3, item 3: "If a message is received with both a Transfer-Encoding and a
     * Content-Length header field, the Transfer-Encoding overrides the Content-Length. Such a
     * message might indicate an attempt to perform request smuggling ... and ought to be
     * handled as an error." 6.1: "A server MAY reject a request that contains both ... A
     * proxy ... MUST close the connection after responding": refused, request or response. */
    if (s->cl_fields && s->te_fields)
        return -HTTP_E_CL_AND_TE;
    /* RFC 9112 6.1: "A server or client that receives an HTTP/1.0 message containing a
     * Transfer-Encoding header field MUST treat the message as if the framing is faulty";
     * 6.3, item 4: "If a Transfer-Encoding header field is present in a request and the
     * chunked transfer coding is not the final encoding, ... the server MUST respond with the
     * 400 (Bad Request) status code and then close the connection." */
    if (s->te_fields && (h->minor == 0 || !s->te_ok))
        return -HTTP_E_TE;
    if (s->cl_err)
        return s->cl_err;
    if (h->kind == HTTP_REQUEST &&
        (s->hosts > 1 || (h->minor == 1 && s->hosts == 0) || (s->hosts == 1 && !s->host_ok)))
        return -HTTP_E_HOST;
    return 0;
}

/* RFC 9112 6.3, in its order, for a response: "1. Any response to a HEAD request and any
 * response with a 1xx (Informational), 204 (No Content), or 304 (Not Modified) status code is
 * always terminated by the first empty line after the header fields ... 2. Any 2xx
 * (Successful) response to a CONNECT request implies that the connection will become a tunnel
 * immediately after the empty line ... 4/5. chunked, Content-Length ... 8. Otherwise, this is
 * a response message without a declared message body length, so the message body length is
 * determined by the number of octets received prior to the server closing the connection."
 * RFC 9110 15.2.2: after a 101 "the server will switch to the protocols defined by the
 * response's Upgrade header field immediately after the empty line": a tunnel too. */
static int response_body(const struct http_head *h, const struct seen *s)
{
    if (h->status == 101)
        return HTTP_BODY_TUNNEL;
    if (h->status < 200 || h->status == 204 || h->status == 304 || h->method == HTTP_M_HEAD)
        return HTTP_BODY_NONE;
    if (h->method == HTTP_M_CONNECT && h->status < 300)
        return HTTP_BODY_TUNNEL;
    if (s->te_fields)
        return HTTP_BODY_CHUNKED;
    return s->cl_fields ? HTTP_BODY_LENGTH : HTTP_BODY_EOF;
}

int http_frame_decide(const char *buf, struct http_head *h)
{
    struct seen s;
    memset(&s, 0, sizeof s);
    for (uint32_t i = 0; i < h->nfields; i++)
        one_field(buf, &h->fields[i], &s);
    int rc = check(h, &s);
    if (rc < 0)
        return rc;
    if (s.cl_fields)
        h->content_length = s.cl;
    /* RFC 9112 6.3, item 6: "If this is a request message and none of the above are true,
     * then the message body length is zero (no message body is present)." */
    if (h->kind == HTTP_REQUEST)
        h->body = s.te_fields ? HTTP_BODY_CHUNKED : s.cl_fields ? HTTP_BODY_LENGTH : HTTP_BODY_NONE;
    else
        h->body = response_body(h, &s);
    /* RFC 9112 9.3: close wins; else HTTP/1.1 persists; else HTTP/1.0 with "keep-alive"
     * persists. (9.3 leaves an HTTP/1.0 request's keep-alive to a recipient that is not a
     * proxy: synfin is the origin server its clients see, a gateway, and honours it as
     * HAProxy and nginx do; ab without -k speaks HTTP/1.0 keep-alive.) Nothing follows a body
     * that runs to EOF or a tunnel. */
    h->keep_alive = !s.close && (h->minor == 1 || s.keep_alive) && h->body != HTTP_BODY_EOF &&
                    h->body != HTTP_BODY_TUNNEL;
    /* RFC 9110 10.1.1: "A server that receives a 100-continue expectation in an HTTP/1.0
     * request MUST ignore that expectation." RFC 9110 7.8: "A server MUST ignore an Upgrade
     * header field that is received in an HTTP/1.0 request", and "A sender of Upgrade MUST
     * also send an "upgrade" connection option". */
    if (h->kind == HTTP_REQUEST && h->minor == 1) {
        h->expect_continue = s.expect_100;
        h->upgrade = s.upgrade_opt && s.upgrade_field;
    }
    h->interim = h->kind == HTTP_RESPONSE && h->status < 200 && h->status != 101;
    return 0;
}
