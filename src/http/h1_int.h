/* Inside the HTTP/1 layer: the character classes of RFC 9110 / 9112 and helpers the head
 * parser, the body scanner and the writer share. Not for the balancer: h1.h is its contract. */
#ifndef SYNFIN_HTTP_H1_INT_H
#define SYNFIN_HTTP_H1_INT_H

#include <stddef.h>
#include <stdint.h>

#include "http/h1.h"

/* Bits of http_ctype[] (h1.c). */
#define HC_TCHAR 0x01 /* tchar (RFC 9110 5.6.2): a token's bytes */
#define HC_VCHAR 0x02 /* field-vchar (RFC 9110 5.5): VCHAR / obs-text, 0x21-0x7E, 0x80-0xFF */
#define HC_WS    0x04 /* SP / HTAB: OWS, BWS, RWS (RFC 9110 5.6.3) */
#define HC_HEX   0x08 /* HEXDIG */
#define HC_HOST                                                                                    \
    0x10 /* uri-host [ ":" port ] bytes (RFC 3986 3.2.2): unreserved, pct-encoded,                 \
          * sub-delims, ":", "[", "]" */

extern const uint8_t http_ctype[256];

static inline int hc_is(char c, uint8_t cls)
{
    return http_ctype[(unsigned char)c] & cls;
}

static inline char hc_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/* s[0..n) equals the lower-case literal lit (of length litlen), ASCII case-insensitively. */
int http_eq_lower(const char *s, size_t n, const char *lit, size_t litlen);

#define HTTP_EQ(s, n, lit) http_eq_lower((s), (n), lit, sizeof(lit) - 1)

/* One element of a comma-separated list (RFC 9110 5.6.1 `#rule`) from *p to end: its first
 * byte and length, OWS trimmed. Returns 0 at the end of the list; *p moves past the comma (NULL
 * after the last element). An empty element (`a,,b`, a trailing comma, an empty value) is
 * returned as one of length 0: callers decide. */
int http_list_next(const char **p, const char *end, const char **elem, size_t *len);

static inline const char *span_p(const char *buf, struct http_span s)
{
    return buf + s.off;
}

/* The framing decisions once the fields are parsed (h1_frame.c): 0 or -enum http_error. */
int http_frame_decide(const char *buf, struct http_head *h);

#endif
