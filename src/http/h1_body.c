/* A body streaming past (RFC 9112 6, 7): how many of the bytes offered belong to it, and when
 * it ends. Nothing is buffered and nothing decoded: the chunked framing is checked byte by
 * byte in a small state machine (its place in b->state), chunk data is skipped in one step,
 * so the answer is the same whatever the split points of the stream.
 *
 * RFC 9112 7.1:
 *   chunked-body   = *chunk last-chunk trailer-section CRLF
 *   chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   chunk-size     = 1*HEXDIG
 *   last-chunk     = 1*("0") [ chunk-ext ] CRLF
 *   chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
 * A chunked body is forwarded as received, so every line of it must end in CRLF exactly
 * (no bare LF, unlike a head, which is written again): a bare LF or CR where a CRLF belongs is
 * a framing error, never a line end. */
#include "http/h1_int.h"

/* b->state: where the decoder is. A refusal is kept as -enum http_error: every later call
 * answers it again. */
enum {
    CH_SIZE0,    /* the first HEXDIG of a chunk-size */
    CH_SIZE,     /* more HEXDIG, or what ends the size */
    CH_BWS,      /* BWS after the size: only ";" may follow */
    CH_EXT,      /* chunk-ext bytes, to the CR */
    CH_SIZE_LF,  /* the LF of the size line */
    CH_DATA,     /* chunk-data: b->left bytes */
    CH_DATA_CR,  /* the CRLF after chunk-data */
    CH_DATA_LF,  /* its LF */
    CH_TR_START, /* a trailer field line, or the CRLF that ends the body */
    CH_TR_NAME,  /* a trailer field's name, to the colon */
    CH_TR_VALUE, /* its value, to the CR */
    CH_TR_LF,    /* the LF of a trailer line */
    CH_END_LF,   /* the LF of the final CRLF */
    CH_DONE,
};

/* 16 hex digits hold 64 bits; past that only leading zeros could keep a size valid, and
 * nobody needs them. The size must also fit an off_t: below 2^63. */
#define CH_MAX_DIGITS 16

void http_body_init(struct http_body *b, const struct http_head *h, const struct http_limits *l)
{
    b->kind = h->body;
    b->left = h->body == HTTP_BODY_LENGTH ? h->content_length : 0;
    b->state = CH_SIZE0;
    b->line = 0;
    b->trailers = 0;
    /* The trailer section is a head's fields again: the head's limit bounds it. */
    b->max_trailers = l ? l->max_head : HTTP_DEFAULT_MAX_HEAD;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    return hc_lower(c) - 'a' + 10;
}

/* One byte of a chunk-size line; the next state or -enum http_error. RFC 9112 7.1.1: chunk-ext
 * is not interpreted ("A recipient MUST ignore unrecognized chunk extensions"), but its bytes
 * must be a field value's (no CTL but HTAB: a CR or LF inside could end the line early for
 * another parser), and the line is bounded (HTTP_MAX_CHUNK_LINE): "A server ought to limit the
 * total length of chunk extensions received in a request to an amount reasonable for the
 * services provided". */
static int size_byte(struct http_body *b, char c)
{
    if (++b->line > HTTP_MAX_CHUNK_LINE)
        return -HTTP_E_CHUNK_SIZE;
    switch (b->state) {
    case CH_SIZE0:
    case CH_SIZE:
        if (hc_is(c, HC_HEX)) {
            /* RFC 9112 7.1: "Recipients MUST anticipate potentially large hexadecimal
             * numerals and prevent parsing errors due to integer conversion overflows". */
            if (b->line > CH_MAX_DIGITS || b->left >> 59)
                return -HTTP_E_CHUNK_SIZE;
            b->left = b->left << 4 | (uint64_t)hexval(c);
            return CH_SIZE;
        }
        if (b->state == CH_SIZE0)
            return -HTTP_E_CHUNK_SIZE;
        return c == '\r'         ? CH_SIZE_LF
               : c == ';'        ? CH_EXT
               : hc_is(c, HC_WS) ? CH_BWS
                                 : -HTTP_E_CHUNK_SIZE;
    case CH_BWS: return c == ';' ? CH_EXT : hc_is(c, HC_WS) ? CH_BWS : -HTTP_E_CHUNK_SIZE;
    case CH_EXT:
        return c == '\r' ? CH_SIZE_LF : hc_is(c, HC_VCHAR | HC_WS) ? CH_EXT : -HTTP_E_CHUNK_SIZE;
    default: /* CH_SIZE_LF */
        if (c != '\n')
            return -HTTP_E_CHUNK_SIZE;
        b->line = 0;
        return b->left ? CH_DATA : CH_TR_START;
    }
}

/* One byte of the trailer section; the next state or -enum http_error. RFC 9112 7.1.2:
 * trailer-section = *( field-line CRLF ), the field rules of a head (h1_head.c) with CRLF
 * line ends: a name of tchar, no whitespace before the colon, no obs-fold, a value of
 * field-vchar, SP and HTAB (HTTP_E_TRAILER for any of them), the whole section within
 * max_trailers bytes. The trailer fields pass on unchanged, like the rest of the body. */
static int trailer_byte(struct http_body *b, char c)
{
    if (++b->trailers > b->max_trailers)
        return -HTTP_E_TRAILER;
    switch (b->state) {
    case CH_TR_START:
        if (c == '\r')
            return CH_END_LF;
        if (c == '\n')
            return -HTTP_E_CHUNK_CRLF;
        return hc_is(c, HC_TCHAR) ? CH_TR_NAME : -HTTP_E_TRAILER;
    case CH_TR_NAME:
        return c == ':' ? CH_TR_VALUE : hc_is(c, HC_TCHAR) ? CH_TR_NAME : -HTTP_E_TRAILER;
    case CH_TR_VALUE:
        return c == '\r' ? CH_TR_LF : hc_is(c, HC_VCHAR | HC_WS) ? CH_TR_VALUE : -HTTP_E_TRAILER;
    case CH_TR_LF: return c == '\n' ? CH_TR_START : -HTTP_E_TRAILER;
    default: /* CH_END_LF */ return c == '\n' ? CH_DONE : -HTTP_E_CHUNK_CRLF;
    }
}

/* The chunked body from buf[0..len): bytes that belong to it, or -enum http_error. */
static ssize_t scan_chunked(struct http_body *b, const char *buf, size_t len)
{
    size_t i = 0;
    while (i < len && b->state != CH_DONE) {
        int st;
        switch (b->state) {
        case CH_DATA: {
            size_t n = len - i < b->left ? len - i : (size_t)b->left;
            i += n;
            b->left -= n;
            if (!b->left)
                b->state = CH_DATA_CR;
            continue;
        }
        case CH_DATA_CR:
        case CH_DATA_LF:
            /* RFC 9112 7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF: exactly
             * chunk-size bytes of data, then CRLF; anything else means the sender and we
             * disagree on the size (HTTP_E_CHUNK_CRLF). */
            if (buf[i] != (b->state == CH_DATA_CR ? '\r' : '\n'))
                st = -HTTP_E_CHUNK_CRLF;
            else
                st = b->state == CH_DATA_CR ? CH_DATA_LF : CH_SIZE0;
            break;
        case CH_SIZE0:
        case CH_SIZE:
        case CH_BWS:
        case CH_EXT:
        case CH_SIZE_LF: st = size_byte(b, buf[i]); break;
        default: st = trailer_byte(b, buf[i]); break;
        }
        if (st < 0) {
            b->state = st;
            return st;
        }
        b->state = st;
        i++;
    }
    return (ssize_t)i;
}

ssize_t http_body_scan(struct http_body *b, const char *buf, size_t len, int *done)
{
    *done = 0;
    switch (b->kind) {
    case HTTP_BODY_NONE: *done = 1; return 0;
    case HTTP_BODY_LENGTH: {
        /* RFC 9112 6.2: "the number of octets ... is the content-length"; what follows is
         * the next message. */
        size_t n = len < b->left ? len : (size_t)b->left;
        b->left -= n;
        *done = b->left == 0;
        return (ssize_t)n;
    }
    case HTTP_BODY_CHUNKED: {
        if (b->state < 0)
            return b->state;
        ssize_t n = scan_chunked(b, buf, len);
        *done = b->state == CH_DONE;
        return n;
    }
    default: return (ssize_t)len; /* EOF, TUNNEL: everything, never done */
    }
}
