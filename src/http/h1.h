/* HTTP/1.x framing, sans I/O: a message head parsed from bytes, the extent of a body found
 * while it streams past, a head written again for the other side. Nothing here owns a
 * socket or keeps a message: the balancer's http sessions (src/lb) feed it bytes and forward
 * them. RFC 9112 framing, with the strict rules that close request smuggling: whatever two
 * parsers could read two ways is refused (docs/http.md lists each rule and its reason).
 *
 * Offsets, not pointers: a head is parsed in place in the caller's buffer and every span
 * is an offset into it, so the caller may move the buffer. */
#ifndef SYNFIN_HTTP_H1_H
#define SYNFIN_HTTP_H1_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/strbuf.h"

#define HTTP_MAX_FIELDS_LIMIT   256   /* the most fields a head may hold, whatever the limits */
#define HTTP_DEFAULT_MAX_HEAD   16384 /* bytes of a head (HAProxy's tune.bufsize role) */
#define HTTP_DEFAULT_MAX_FIELDS 100
#define HTTP_MAX_CHUNK_LINE     4096 /* a chunk-size line, extensions and CRLF in */

enum http_kind { HTTP_REQUEST, HTTP_RESPONSE };

enum http_method {
    HTTP_M_OTHER, /* a valid token we have no use for: passed on */
    HTTP_M_GET,
    HTTP_M_HEAD,
    HTTP_M_POST,
    HTTP_M_PUT,
    HTTP_M_DELETE,
    HTTP_M_CONNECT,
    HTTP_M_OPTIONS,
    HTTP_M_TRACE,
    HTTP_M_PATCH,
};

/* How the body after a head is delimited (RFC 9112 6.3, in its order). */
enum http_body_kind {
    HTTP_BODY_NONE,    /* no body: the next message starts right after the head */
    HTTP_BODY_LENGTH,  /* content_length bytes */
    HTTP_BODY_CHUNKED, /* chunked transfer coding, through its trailer section */
    HTTP_BODY_EOF,     /* a response without length: until the server closes */
    HTTP_BODY_TUNNEL,  /* 101 or a 2xx to CONNECT: from here on, bytes both ways, no HTTP */
};

/* Why a message was refused. Each is answered 400 (a request) or 502 (a response) and the
 * connection closed; nothing of the message is forwarded. */
enum http_error {
    HTTP_E_NONE,
    HTTP_E_START_LINE,   /* request line or status line malformed */
    HTTP_E_VERSION,      /* not HTTP/1.0 or HTTP/1.1 */
    HTTP_E_FIELD_NAME,   /* empty or not a token */
    HTTP_E_SPACE_COLON,  /* whitespace between field name and colon */
    HTTP_E_OBS_FOLD,     /* a line folded onto the one before */
    HTTP_E_BARE_CR,      /* CR not followed by LF */
    HTTP_E_FIELD_VALUE,  /* a control character (other than HTAB) in a value */
    HTTP_E_TOO_LARGE,    /* the head is longer than max_head */
    HTTP_E_TOO_MANY,     /* more fields than max_fields */
    HTTP_E_CL_AND_TE,    /* both Content-Length and Transfer-Encoding */
    HTTP_E_CL_INVALID,   /* Content-Length not a decimal number, or too large */
    HTTP_E_CL_DIFFERENT, /* several Content-Length values that differ */
    HTTP_E_TE,           /* Transfer-Encoding other than a final `chunked`, or in HTTP/1.0 */
    HTTP_E_HOST,         /* HTTP/1.1 request without exactly one Host */
    HTTP_E_CHUNK_SIZE,   /* chunk size line malformed or the size too large */
    HTTP_E_CHUNK_CRLF,   /* chunk data not followed by CRLF */
    HTTP_E_TRAILER,      /* a trailer field breaking the field rules, or too large */
    HTTP_E_COUNT
};

struct http_limits {
    uint32_t max_head;   /* bytes, start line to the empty line included */
    uint32_t max_fields; /* <= HTTP_MAX_FIELDS_LIMIT */
};

struct http_span {
    uint32_t off, len;
};

struct http_field {
    struct http_span name, value; /* value without leading and trailing whitespace */
};

/* About 4 KiB with its fields: parse into a scratch head and keep what the session needs. */
struct http_head {
    int kind;   /* enum http_kind */
    int minor;  /* HTTP/1.minor: 0 or 1 */
    int method; /* enum http_method: of a request; of the request answered, for a response */
    int status; /* a response's */
    struct http_span method_s, target, reason;
    uint32_t len; /* bytes of the head, the empty line included */
    uint32_t nfields;
    struct http_field fields[HTTP_MAX_FIELDS_LIMIT];
    /* Decided from the above. */
    int body;                     /* enum http_body_kind */
    uint64_t content_length;      /* HTTP_BODY_LENGTH */
    unsigned keep_alive : 1;      /* the sender allows another message after this one: 1.1
                                   * without `close`, or 1.0 with `keep-alive` (Connection) */
    unsigned expect_continue : 1; /* a request with Expect: 100-continue */
    unsigned upgrade : 1;         /* a request asking Upgrade (Connection: upgrade + Upgrade) */
    unsigned interim : 1;         /* a 1xx response other than 101: the final one follows */
};

void http_limits_default(struct http_limits *l);

/* Parses a head at the start of buf[0..len). For a response, method is the method of the
 * request it answers (a HEAD's response has no body, a CONNECT's 2xx is a tunnel); for a
 * request it is ignored. Returns the head's length (> 0) when it is complete and valid, 0
 * when more bytes are needed (len < max_head), or -enum http_error. Empty lines before a
 * request line are skipped (RFC 9112 2.2) and counted in the length. */
int http_parse_head(const char *buf, size_t len, int kind, int method, const struct http_limits *l,
                    struct http_head *h);
/* (Added.) l may be NULL: the defaults. On 0 or an error, h holds nothing to rely on. Nothing
 * is decided before the head's end (or max_head bytes) is in; then refusals come in the order
 * of the bytes (the first bad line's first bad byte), then the framing checks (h1_frame.c).
 * Every line must end in LF; a CR is allowed only just before it (RFC 9112 2.2: a bare LF ends
 * a line in a head, which http_head_write writes again with CRLF). A response's keep_alive is
 * 0 when its body runs to EOF or becomes a tunnel: nothing can follow it. content_length is
 * set whenever a valid Content-Length is present (a HEAD's or a 304's too), even when the body
 * kind is not HTTP_BODY_LENGTH. */

/* (Added.) A cheap test for callers receiving a head in pieces: 1 when buf[0..len) holds the
 * empty line that ends a head, or len >= max_head (then http_parse_head answers for sure), 0
 * while more bytes are needed. seen is the len of the previous call for the same head (0 the
 * first time): only the bytes from seen-3 on are searched, so a head that arrives one byte at
 * a time costs O(its length) in all instead of a full parse per byte. Optional: http_parse_head
 * does the same test itself before parsing. */
int http_head_ready(const char *buf, size_t len, size_t seen, const struct http_limits *l);

/* A body streaming past: where it ends. */
struct http_body {
    int kind;          /* enum http_body_kind */
    uint64_t left;     /* bytes of content or of the current chunk still to come */
    int state;         /* the chunked decoder's place (h1_body.c) */
    uint32_t line;     /* bytes of the current chunk-size or trailer line, for the limit */
    uint32_t trailers; /* bytes of the trailer section so far */
    uint32_t max_trailers;
};

void http_body_init(struct http_body *b, const struct http_head *h, const struct http_limits *l);

/* Of the len bytes at buf (what came after the head, or after the previous call), how many
 * belong to this body: >= 0, every one of them to be forwarded as it is, with *done set to 1
 * once the body (and so the message) is complete; what follows belongs to the next message.
 * A chunked body is checked, not decoded: its bytes pass unchanged. HTTP_BODY_EOF and
 * HTTP_BODY_TUNNEL take everything and are never done. -enum http_error on a framing error. */
ssize_t http_body_scan(struct http_body *b, const char *buf, size_t len, int *done);

/* What the writer of a head changes, besides dropping hop-by-hop fields (Connection, the
 * fields it names, Keep-Alive, Proxy-Connection). NULL strings add nothing. */
struct http_rewrite {
    int keep_alive;        /* Connection to send: 1 persistent, 0 `close` */
    int upgrade;           /* keep Upgrade and send `Connection: upgrade` (the tunnel asked) */
    const char *xff;       /* appended to X-Forwarded-For (a field added if none) */
    const char *proto;     /* X-Forwarded-Proto, replacing any */
    const char *forwarded; /* one RFC 7239 element appended to Forwarded, e.g. for=1.2.3.4 */
    const char *via;       /* appended to Via, e.g. "1.1 synfin" */
};

/* Writes head h of buf again, for the other side, into out: the start line as received (an
 * HTTP/1.0 message keeps its version), the fields in order less the hop-by-hop ones, then
 * what rw adds, lines ending in CRLF. Framing fields (Content-Length, Transfer-Encoding)
 * stay: bodies pass unchanged. 0, or -1 when out failed to grow.
 * (Added.) Content-Length is written once, as the single decimal value the parser decided
 * (`5, 5` or two equal fields become one `Content-Length: 5`), so the next hop cannot read
 * the list another way. Content-Length, Transfer-Encoding and Host are never dropped, even
 * when Connection names them (a hop-by-hop trick that would change the framing downstream);
 * only the first 64 Connection options are honoured (the rest stay: the safe direction).
 * Upgrade is dropped unless rw->upgrade (a server must not switch protocols behind us).
 * Appended values go to the last field of that name; fields are written `Name: value`. */
int http_head_write(const char *buf, const struct http_head *h, const struct http_rewrite *rw,
                    struct sf_strbuf *out);

/* A field's name equals name (case-insensitive). */
int http_field_is(const char *buf, const struct http_field *f, const char *name);
/* The first field named name, or NULL. */
const struct http_field *http_field_find(const char *buf, const struct http_head *h,
                                         const char *name);

/* Safe to send again after a failure (RFC 9110 9.2.2): GET HEAD PUT DELETE OPTIONS TRACE. */
int http_method_idempotent(int method);
const char *http_error_name(int e); /* identifiers for logs and metric labels */
/* (Added.) The status synfin answers a refused message with: a request's head too large or
 * with too many fields 431 (RFC 6585 5), any other request error 400, a response's 502. e may
 * be given as returned (negative) or as the enum value; so may it to http_error_name. */
int http_error_status(int e, int kind);

/* A complete response synfin answers itself (400, 408, 413, 431, 501, 502, 503, 504), with
 * `Connection: close` and a short body. Static; *len gets its length. (Added: also 417, 500;
 * NULL and *len 0 for any other status.) */
const char *http_canned(int status, size_t *len);

#endif
