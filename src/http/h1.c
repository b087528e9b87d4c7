/* HTTP/1 framing: the pieces every part shares (character classes, lists, names) and the
 * small public helpers: limits, field lookup, method and error properties, canned responses.
 * The head parser is h1_head.c (lines) and h1_frame.c (framing decisions), the body scanner
 * h1_body.c, the head writer h1_write.c. */
#include <string.h>

#include "http/h1_int.h"

/* Bit sets of HC_* for each byte (h1_int.h). tchar (RFC 9110 5.6.2):
 *   "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
 *   / DIGIT / ALPHA
 * field-vchar (RFC 9110 5.5): VCHAR (0x21-0x7E) / obs-text (0x80-0xFF). Every CTL (0x00-0x1F,
 * 0x7F) is in no class but HTAB's HC_WS. tests/unit/http checks the table against these
 * definitions. */
const uint8_t http_ctype[256] = {
    0,  0,  0,  0,  0,  0,  0,  0,  0,  4,  0,  0,  0,  0,  0,  0,  /* 00 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 10 */
    4,  19, 2,  3,  19, 19, 19, 19, 18, 18, 19, 19, 18, 19, 19, 2,  /* 20 */
    27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 18, 18, 2,  18, 2,  2,  /* 30 */
    2,  27, 27, 27, 27, 27, 27, 19, 19, 19, 19, 19, 19, 19, 19, 19, /* 40 */
    19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 18, 2,  18, 3,  19, /* 50 */
    3,  27, 27, 27, 27, 27, 27, 19, 19, 19, 19, 19, 19, 19, 19, 19, /* 60 */
    19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 2,  3,  2,  19, 0,  /* 70 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* 80 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* 90 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* a0 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* b0 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* c0 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* d0 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* e0 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* f0 */
};

void http_limits_default(struct http_limits *l)
{
    l->max_head = HTTP_DEFAULT_MAX_HEAD;
    l->max_fields = HTTP_DEFAULT_MAX_FIELDS;
}

int http_eq_lower(const char *s, size_t n, const char *lit, size_t litlen)
{
    if (n != litlen)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (hc_lower(s[i]) != lit[i])
            return 0;
    return 1;
}

int http_list_next(const char **p, const char *end, const char **elem, size_t *len)
{
    const char *s = *p;
    if (!s)
        return 0;
    const char *comma = memchr(s, ',', (size_t)(end - s));
    const char *e = comma ? comma : end;
    *p = comma ? comma + 1 : NULL; /* NULL: the next call says "no more" */
    while (s < e && hc_is(*s, HC_WS))
        s++;
    while (e > s && hc_is(e[-1], HC_WS))
        e--;
    *elem = s;
    *len = (size_t)(e - s);
    return 1;
}

int http_field_is(const char *buf, const struct http_field *f, const char *name)
{
    size_t n = strlen(name);
    if (f->name.len != n)
        return 0;
    const char *s = span_p(buf, f->name);
    for (size_t i = 0; i < n; i++)
        if (hc_lower(s[i]) != hc_lower(name[i]))
            return 0;
    return 1;
}

const struct http_field *http_field_find(const char *buf, const struct http_head *h,
                                         const char *name)
{
    for (uint32_t i = 0; i < h->nfields; i++)
        if (http_field_is(buf, &h->fields[i], name))
            return &h->fields[i];
    return NULL;
}

int http_method_idempotent(int method)
{
    /* RFC 9110 9.2.2: "the request methods defined by this specification [that are]
     * idempotent: PUT, DELETE, and safe request methods" (GET, HEAD, OPTIONS, TRACE). */
    switch (method) {
    case HTTP_M_GET:
    case HTTP_M_HEAD:
    case HTTP_M_PUT:
    case HTTP_M_DELETE:
    case HTTP_M_OPTIONS:
    case HTTP_M_TRACE: return 1;
    default: return 0;
    }
}

static const char *const error_names[HTTP_E_COUNT] = {
    [HTTP_E_NONE] = "none",
    [HTTP_E_START_LINE] = "start_line",
    [HTTP_E_VERSION] = "version",
    [HTTP_E_FIELD_NAME] = "field_name",
    [HTTP_E_SPACE_COLON] = "space_colon",
    [HTTP_E_OBS_FOLD] = "obs_fold",
    [HTTP_E_BARE_CR] = "bare_cr",
    [HTTP_E_FIELD_VALUE] = "field_value",
    [HTTP_E_TOO_LARGE] = "too_large",
    [HTTP_E_TOO_MANY] = "too_many",
    [HTTP_E_CL_AND_TE] = "cl_and_te",
    [HTTP_E_CL_INVALID] = "cl_invalid",
    [HTTP_E_CL_DIFFERENT] = "cl_different",
    [HTTP_E_TE] = "te",
    [HTTP_E_HOST] = "host",
    [HTTP_E_CHUNK_SIZE] = "chunk_size",
    [HTTP_E_CHUNK_CRLF] = "chunk_crlf",
    [HTTP_E_TRAILER] = "trailer",
};

const char *http_error_name(int e)
{
    if (e < 0)
        e = -e;
    return e < HTTP_E_COUNT && error_names[e] ? error_names[e] : "unknown";
}

int http_error_status(int e, int kind)
{
    if (e < 0)
        e = -e;
    if (kind == HTTP_RESPONSE)
        return 502;
    /* RFC 6585 5: 431 "the server is unwilling to process the request because its header
     * fields are too large" (one field, or all of them together). */
    return e == HTTP_E_TOO_LARGE || e == HTTP_E_TOO_MANY ? 431 : 400;
}

/* Content-Length counts the body after the empty line; tests/unit/http parses each one with
 * our own parser and checks it. */
static const struct canned {
    int status;
    const char *text;
} canned[] = {
    {400, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n"
          "Connection: close\r\n\r\n400 Bad Request\n"},
    {408, "HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n"
          "Connection: close\r\n\r\n408 Request Timeout\n"},
    {413, "HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain\r\nContent-Length: 22\r\n"
          "Connection: close\r\n\r\n413 Content Too Large\n"},
    {417, "HTTP/1.1 417 Expectation Failed\r\nContent-Type: text/plain\r\nContent-Length: 23\r\n"
          "Connection: close\r\n\r\n417 Expectation Failed\n"},
    {431, "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\n"
          "Content-Length: 36\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large\n"},
    {500, "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
          "Content-Length: 26\r\nConnection: close\r\n\r\n500 Internal Server Error\n"},
    {501, "HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n"
          "Connection: close\r\n\r\n501 Not Implemented\n"},
    {502, "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n"
          "Connection: close\r\n\r\n502 Bad Gateway\n"},
    {503, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 24\r\n"
          "Connection: close\r\n\r\n503 Service Unavailable\n"},
    {504, "HTTP/1.1 504 Gateway Timeout\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n"
          "Connection: close\r\n\r\n504 Gateway Timeout\n"},
};

const char *http_canned(int status, size_t *len)
{
    for (size_t i = 0; i < sizeof canned / sizeof canned[0]; i++)
        if (canned[i].status == status) {
            *len = strlen(canned[i].text);
            return canned[i].text;
        }
    *len = 0;
    return NULL;
}
