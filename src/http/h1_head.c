/* A message head, line by line (RFC 9112 2-5): the start line, then field lines, to the empty
 * line. Parsed in place, spans as offsets; nothing is kept between calls, so a head that
 * arrived in pieces is parsed again whole (http_head_ready tells the caller when that is worth
 * it). The framing decisions that need every field are in h1_frame.c.
 *
 * Strictness: whatever two parsers could read two ways is refused, never repaired. Each rule
 * is quoted beside the code that enforces it, with the error it answers. */
#include <string.h>

#include "http/h1_int.h"

/*
 * RFC 9112 2.2: "Although the line terminator for the start-line and fields is the sequence
 * CRLF, a recipient MAY recognize a single LF as a line terminator and ignore any preceding
 * CR." We do (as nginx and HAProxy do): a head's lines end at LF, a CR just before it is part
 * of the terminator. Safe here because a head is never forwarded as received: http_head_write
 * writes every line again with CRLF, so the next hop sees one framing whatever it accepts.
 * (Bodies are forwarded as received, so the chunked framing in h1_body.c demands CRLF.)
 *
 * "A recipient that receives whitespace between the start-line and the first header field
 * MUST either reject the message as invalid or ..." and "A sender MUST NOT generate a bare CR
 * (a CR character not immediately followed by LF) within any protocol elements other than the
 * content. A recipient of such a bare CR MUST consider that element to be invalid or replace
 * each bare CR with SP": we reject both (HTTP_E_OBS_FOLD, HTTP_E_BARE_CR).
 */

/* The error for the byte at p that broke a rule: a CR inside a line (the line's own CR
 * terminator is outside [start, end)) is a bare CR whatever the element; else e. */
static int bad(const char *p, int e)
{
    return *p == '\r' ? -HTTP_E_BARE_CR : -e;
}

static size_t skip_empty_lines(const char *buf, size_t len)
{
    size_t i = 0;
    for (;;) {
        if (i < len && buf[i] == '\n')
            i++;
        else if (i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n')
            i += 2;
        else
            return i;
    }
}

int http_head_ready(const char *buf, size_t len, size_t seen, const struct http_limits *l)
{
    size_t max = l ? l->max_head : HTTP_DEFAULT_MAX_HEAD;
    if (len >= max)
        return 1;
    /* The end is an LF followed by LF or CRLF, past any empty lines the head starts with (a
     * request's are skipped; a response's are an error http_parse_head will find). The two
     * bytes after that LF may have been the last ones seen: look 3 bytes back. */
    size_t start = skip_empty_lines(buf, len);
    size_t i = seen > start + 3 ? seen - 3 : start;
    while (i < len) {
        const char *lf = memchr(buf + i, '\n', len - i);
        if (!lf)
            return 0;
        i = (size_t)(lf - buf) + 1;
        if (i < len && buf[i] == '\n')
            return 1;
        if (i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n')
            return 1;
    }
    return 0;
}

/* "HTTP/1.1" at p, exactly n bytes: 0 and *minor, or -enum http_error.
 * RFC 9112 2.3: HTTP-version = HTTP-name "/" DIGIT "." DIGIT, HTTP-name = %s"HTTP" (case-
 * sensitive). Only 1.0 and 1.1 are spoken here: a well-formed other version (HTTP/2.0,
 * HTTP/1.2, HTTP/0.9, even HTTP/11.1) is HTTP_E_VERSION; anything else HTTP_E_START_LINE. */
static int parse_version(const char *p, size_t n, int *minor)
{
    if (n == 8 && !memcmp(p, "HTTP/1.", 7) && (p[7] == '0' || p[7] == '1')) {
        *minor = p[7] - '0';
        return 0;
    }
    if (n < 6 || memcmp(p, "HTTP/", 5) != 0)
        return -HTTP_E_START_LINE;
    size_t i = 5, digits = 0, dots = 0;
    for (; i < n; i++) {
        if (p[i] >= '0' && p[i] <= '9')
            digits++;
        else if (p[i] == '.' && digits && !dots && i + 1 < n)
            dots++;
        else
            return -HTTP_E_START_LINE;
    }
    return -HTTP_E_VERSION;
}

static const struct {
    const char *name;
    size_t len;
    int method;
} methods[] = {
    {"GET", 3, HTTP_M_GET},         {"HEAD", 4, HTTP_M_HEAD},     {"POST", 4, HTTP_M_POST},
    {"PUT", 3, HTTP_M_PUT},         {"DELETE", 6, HTTP_M_DELETE}, {"CONNECT", 7, HTTP_M_CONNECT},
    {"OPTIONS", 7, HTTP_M_OPTIONS}, {"TRACE", 5, HTTP_M_TRACE},   {"PATCH", 5, HTTP_M_PATCH},
};

/* RFC 9110 9.1: "The method token is case-sensitive". */
static int method_of(const char *p, size_t n)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (methods[i].len == n && !memcmp(methods[i].name, p, n))
            return methods[i].method;
    return HTTP_M_OTHER;
}

/* RFC 9112 3: request-line = method SP request-target SP HTTP-version; method = token.
 * "recipients MAY instead parse on whitespace-delimited word boundaries": we do not, one SP
 * exactly. RFC 9112 3.2: a request-target holds no whitespace or CTL ("A recipient SHOULD
 * NOT attempt to autocorrect and then process the request without a redirect, since the
 * invalid request-line might be deliberately crafted to bypass security filters"); its form
 * (origin, absolute, authority, asterisk) is the balancer's business, not framing. obs-text
 * is let through: raw UTF-8 paths are common and change no framing. */
static int request_line(const char *buf, const char *p, const char *end, struct http_head *h)
{
    const char *m = p;
    while (p < end && hc_is(*p, HC_TCHAR))
        p++;
    if (p == m || p == end || *p != ' ')
        return p == end ? -HTTP_E_START_LINE : bad(p, HTTP_E_START_LINE);
    h->method_s = (struct http_span){(uint32_t)(m - buf), (uint32_t)(p - m)};
    h->method = method_of(m, (size_t)(p - m));
    const char *t = ++p;
    while (p < end && hc_is(*p, HC_VCHAR))
        p++;
    if (p == t || p == end || *p != ' ')
        return p == end ? -HTTP_E_START_LINE : bad(p, HTTP_E_START_LINE);
    h->target = (struct http_span){(uint32_t)(t - buf), (uint32_t)(p - t)};
    p++;
    for (const char *q = p; q < end; q++)
        if (*q == '\r')
            return -HTTP_E_BARE_CR;
    return parse_version(p, (size_t)(end - p), &h->minor);
}

/* RFC 9112 4: status-line = HTTP-version SP status-code SP [ reason-phrase ], status-code =
 * 3DIGIT, reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ). RFC 9110 15: "Values outside
 * the range 100..599 are invalid." Accepted beyond the grammar: a status line that ends right
 * after the code (`HTTP/1.1 200` CRLF, no SP). Servers send it, clients (curl, browsers) and
 * proxies (HAProxy, nginx) take it, RFC 9112 4 says "A client SHOULD ignore the reason-phrase
 * content", and it cannot be read two ways: the code ends at the line's end. */
static int status_line(const char *buf, const char *p, const char *end, struct http_head *h)
{
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    for (const char *q = p; q < (sp ? sp : end); q++)
        if (*q == '\r')
            return -HTTP_E_BARE_CR;
    int rc = parse_version(p, (size_t)((sp ? sp : end) - p), &h->minor);
    if (rc < 0)
        return rc;
    if (!sp || end - sp < 4)
        return -HTTP_E_START_LINE;
    p = sp + 1;
    int code = 0;
    for (int i = 0; i < 3; i++) {
        if (p[i] < '0' || p[i] > '9')
            return bad(p + i, HTTP_E_START_LINE);
        code = code * 10 + (p[i] - '0');
    }
    if (code < 100 || code > 599)
        return -HTTP_E_START_LINE;
    h->status = code;
    p += 3;
    h->reason = (struct http_span){(uint32_t)(end - buf), 0};
    if (p == end)
        return 0;
    if (*p != ' ')
        return bad(p, HTTP_E_START_LINE);
    const char *r = ++p;
    while (p < end && hc_is(*p, HC_VCHAR | HC_WS))
        p++;
    if (p != end)
        return bad(p, HTTP_E_START_LINE);
    h->reason = (struct http_span){(uint32_t)(r - buf), (uint32_t)(end - r)};
    return 0;
}

/* RFC 9112 5: field-line = field-name ":" OWS field-value OWS; RFC 9110 5.1: field-name =
 * token; 5.5: field-value = *field-content, field-vchar = VCHAR / obs-text, with SP and HTAB
 * inside. The rules, each with its error:
 *  - RFC 9112 5.1: "No whitespace is allowed between the field name and colon. ... A server
 *    MUST reject, with a response status code of 400 (Bad Request), any received request
 *    message that contains whitespace between a header field name and colon. A proxy MUST
 *    remove any such whitespace from a response message before forwarding": we refuse both
 *    (HTTP_E_SPACE_COLON; a response's is a 502, not repaired).
 *  - RFC 9112 5.2: obs-fold (a line starting with SP or HTAB): "A server that receives an
 *    obs-fold in a request message ... MUST either reject the message by sending a 400 ... or
 *    replace each received obs-fold with one or more SP": we refuse (HTTP_E_OBS_FOLD), also
 *    the whitespace line right after the start line (RFC 9112 2.2, quoted above).
 *  - RFC 9110 5.5: "Field values containing CR, LF, or NUL characters are invalid and
 *    dangerous"; other CTLs are not field-vchar either: HTTP_E_FIELD_VALUE (HTAB allowed,
 *    obs-text 0x80-0xFF allowed). */
static int field_line(const char *buf, const char *p, const char *end, struct http_field *f)
{
    if (hc_is(*p, HC_WS))
        return -HTTP_E_OBS_FOLD;
    const char *n = p;
    while (p < end && hc_is(*p, HC_TCHAR))
        p++;
    if (p == end)
        return -HTTP_E_FIELD_NAME; /* no colon */
    if (*p != ':') {
        if (p == n || !hc_is(*p, HC_WS))
            return bad(p, HTTP_E_FIELD_NAME);
        const char *q = p;
        while (q < end && hc_is(*q, HC_WS))
            q++;
        return q < end && *q == ':' ? -HTTP_E_SPACE_COLON : -HTTP_E_FIELD_NAME;
    }
    if (p == n)
        return -HTTP_E_FIELD_NAME;
    f->name = (struct http_span){(uint32_t)(n - buf), (uint32_t)(p - n)};
    p++;
    while (p < end && hc_is(*p, HC_WS))
        p++;
    const char *v = p;
    while (p < end && hc_is(*p, HC_VCHAR | HC_WS))
        p++;
    if (p != end)
        return bad(p, HTTP_E_FIELD_VALUE);
    while (p > v && hc_is(p[-1], HC_WS))
        p--;
    f->value = (struct http_span){(uint32_t)(v - buf), (uint32_t)(p - v)};
    return 0;
}

/* The next line from p within [p, end): its content's end (before the CR of a CRLF) in *ce,
 * the byte after its LF returned; NULL when the window holds no LF yet. */
static const char *next_line(const char *p, const char *end, const char **ce)
{
    const char *lf = memchr(p, '\n', (size_t)(end - p));
    if (!lf)
        return NULL;
    *ce = lf > p && lf[-1] == '\r' ? lf - 1 : lf;
    return lf + 1;
}

/* The lines of buf[0..win): > 0 the head's length, 0 when no empty line ends it in the
 * window, or -enum http_error for the first line that breaks a rule. */
static int parse_lines(const char *buf, size_t win, uint32_t max_fields, struct http_head *h)
{
    const char *p = buf, *end = buf + win, *ce, *next;
    /* RFC 9112 2.2: "a server that is expecting to receive and parse a request-line SHOULD
     * ignore at least one empty line (CRLF) received prior to the request-line." Only a
     * request's: a response starting with an empty line is refused (HTTP_E_START_LINE). */
    if (h->kind == HTTP_REQUEST)
        p += skip_empty_lines(buf, win);
    if (!(next = next_line(p, end, &ce)))
        return 0;
    if (ce == p)
        return -HTTP_E_START_LINE;
    int rc = h->kind == HTTP_REQUEST ? request_line(buf, p, ce, h) : status_line(buf, p, ce, h);
    if (rc < 0)
        return rc;
    for (p = next; (next = next_line(p, end, &ce)); p = next) {
        if (ce == p) {
            h->len = (uint32_t)(next - buf);
            return (int)h->len;
        }
        if (h->nfields == max_fields)
            return -HTTP_E_TOO_MANY;
        if ((rc = field_line(buf, p, ce, &h->fields[h->nfields])) < 0)
            return rc;
        h->nfields++;
    }
    return 0;
}

int http_parse_head(const char *buf, size_t len, int kind, int method, const struct http_limits *l,
                    struct http_head *h)
{
    struct http_limits dl;
    if (!l) {
        http_limits_default(&dl);
        l = &dl;
    }
    size_t max = l->max_head < (uint32_t)INT32_MAX ? l->max_head : (size_t)INT32_MAX;
    uint32_t max_fields =
        l->max_fields < HTTP_MAX_FIELDS_LIMIT ? l->max_fields : HTTP_MAX_FIELDS_LIMIT;
    size_t win = len < max ? len : max;
    /* Cheap first: while no empty line can have arrived, there is nothing to decide. */
    if (len < max && !http_head_ready(buf, len, 0, l))
        return 0;
    /* Not the fields: 4 KiB a parse would clear for nothing. */
    memset(h, 0, offsetof(struct http_head, fields));
    memset(&h->body, 0, sizeof *h - offsetof(struct http_head, body));
    h->kind = kind;
    h->method = kind == HTTP_RESPONSE ? method : HTTP_M_OTHER;
    int rc = parse_lines(buf, win, max_fields, h);
    if (rc == 0)
        /* RFC 9112 2.3 leaves the limit to us; RFC 6585 5 names its answer (431). The head
         * must end within max_head bytes; at max_head without its end it never will. */
        return len >= max ? -HTTP_E_TOO_LARGE : 0;
    if (rc < 0)
        return rc;
    rc = http_frame_decide(buf, h);
    return rc < 0 ? rc : (int)h->len;
}
