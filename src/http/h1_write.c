/* A parsed head written again for the next hop (RFC 9110 7.6, RFC 9112): the start line, the
 * end-to-end fields in order, what the balancer adds, its own Connection, CRLF everywhere.
 * Writing (rather than forwarding the bytes received) is what makes the lenient parts of the
 * parser safe: a bare LF line end or `Content-Length: 5, 5` reaches the server in one form. */
#include <string.h>

#include "http/h1_int.h"

/* Only so many Connection options are honoured: a head of 16 KiB could name thousands, and
 * each is compared with every field. The ones past the limit stay (nothing is removed that
 * should not be). */
#define CONN_OPTS_MAX 64

/* What happens to each field. */
enum { F_DROP, F_KEEP, F_APPEND, F_CL };

struct plan {
    uint8_t what[HTTP_MAX_FIELDS_LIMIT];
    struct http_span opts[CONN_OPTS_MAX]; /* the Connection options, as named */
    int nopts;
};

static void add(struct sf_strbuf *out, const char *s)
{
    sf_sb_append(out, s, strlen(s));
}

static void add_span(struct sf_strbuf *out, const char *buf, struct http_span s)
{
    sf_sb_append(out, buf + s.off, s.len);
}

/* Digits by hand: these run for every message, and a printf is a tenth of a keep-alive
 * request's user time (it formats twice into a strbuf). */
static void add_u64(struct sf_strbuf *out, uint64_t v)
{
    char d[20];
    size_t i = sizeof d;
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    sf_sb_append(out, d + i, sizeof d - i);
}

static void start_line(const char *buf, const struct http_head *h, struct sf_strbuf *out)
{
    const char *version = h->minor ? "HTTP/1.1" : "HTTP/1.0"; /* the parser admits no other */
    if (h->kind == HTTP_REQUEST) {
        add_span(out, buf, h->method_s);
        add(out, " ");
        add_span(out, buf, h->target);
        add(out, " ");
        add(out, version);
        add(out, "\r\n");
    } else {
        /* The SP before an empty reason is written, as RFC 9112 4's grammar wants it. */
        char st[5] = {' ', (char)('0' + h->status / 100 % 10), (char)('0' + h->status / 10 % 10),
                      (char)('0' + h->status % 10), ' '};
        add(out, version);
        sf_sb_append(out, st, sizeof st);
        add_span(out, buf, h->reason);
        add(out, "\r\n");
    }
}

static void collect_options(const char *buf, const struct http_head *h, struct plan *pl)
{
    pl->nopts = 0;
    for (uint32_t i = 0; i < h->nfields; i++) {
        const struct http_field *f = &h->fields[i];
        if (!http_field_is(buf, f, "connection"))
            continue;
        const char *p = span_p(buf, f->value), *end = p + f->value.len, *e;
        size_t el;
        while (pl->nopts < CONN_OPTS_MAX && http_list_next(&p, end, &e, &el))
            if (el)
                pl->opts[pl->nopts++] = (struct http_span){(uint32_t)(e - buf), (uint32_t)el};
    }
}

static int named_in_connection(const char *buf, const struct http_field *f, const struct plan *pl)
{
    const char *name = span_p(buf, f->name);
    for (int i = 0; i < pl->nopts; i++) {
        const char *opt = span_p(buf, pl->opts[i]);
        size_t k = 0;
        if (pl->opts[i].len != f->name.len)
            continue;
        while (k < f->name.len && hc_lower(opt[k]) == hc_lower(name[k]))
            k++;
        if (k == f->name.len)
            return 1;
    }
    return 0;
}

/* F_DROP or F_KEEP for field f, before any appending is decided. RFC 9110 7.6.1: "Intermediaries
 * SHOULD remove or replace fields that are known to require removal before forwarding, whether
 * or not they appear as a connection-option, after applying those fields' semantics. This
 * includes but is not limited to: Proxy-Connection (Appendix C.2.2 of [HTTP/1.1]),
 * Keep-Alive (Section 19.7.1 of [RFC2068]), TE (Section 10.1.4), Transfer-Encoding (Section
 * 6.1 of [HTTP/1.1]), Upgrade (Section 7.8)", and "a proxy or gateway MUST parse a received
 * Connection header field before a message is forwarded and, for each connection-option in
 * this field, remove any header or trailer field(s) from the message with the same name as
 * the connection-option, and then remove the Connection header field itself". Transfer-
 * Encoding stays (the chunked body passes unchanged), and so do Content-Length and Host
 * whatever Connection names: removing them would change the framing the next hop sees. */
static int keep(const char *buf, const struct http_field *f, const struct http_rewrite *rw,
                const struct plan *pl)
{
    if (http_field_is(buf, f, "connection") || http_field_is(buf, f, "keep-alive") ||
        http_field_is(buf, f, "proxy-connection"))
        return F_DROP;
    if (http_field_is(buf, f, "upgrade"))
        return rw->upgrade ? F_KEEP : F_DROP;
    if (http_field_is(buf, f, "content-length") || http_field_is(buf, f, "transfer-encoding") ||
        http_field_is(buf, f, "host"))
        return F_KEEP;
    if (named_in_connection(buf, f, pl))
        return F_DROP;
    if (rw->proto && http_field_is(buf, f, "x-forwarded-proto"))
        return F_DROP; /* replaced */
    return F_KEEP;
}

/* The last kept field named name is marked F_APPEND; 1 if there is one. */
static int mark_last(const char *buf, const struct http_head *h, struct plan *pl, const char *name)
{
    for (uint32_t i = h->nfields; i-- > 0;)
        if (pl->what[i] == F_KEEP && http_field_is(buf, &h->fields[i], name)) {
            pl->what[i] = F_APPEND;
            return 1;
        }
    return 0;
}

/* A field with what the rewrite appends to it, if it is one of those appended to. */
static void write_field(const char *buf, const struct http_field *f, int what,
                        const struct http_head *h, const struct http_rewrite *rw,
                        struct sf_strbuf *out)
{
    add_span(out, buf, f->name);
    add(out, ": ");
    if (what == F_CL) {
        add_u64(out, h->content_length);
        add(out, "\r\n");
        return;
    }
    add_span(out, buf, f->value);
    if (what == F_APPEND) {
        const char *more = http_field_is(buf, f, "x-forwarded-for") ? rw->xff
                           : http_field_is(buf, f, "forwarded")     ? rw->forwarded
                                                                    : rw->via;
        if (f->value.len)
            add(out, ", ");
        add(out, more);
    }
    add(out, "\r\n");
}

static void added_field(struct sf_strbuf *out, const char *name, const char *value)
{
    add(out, name);
    add(out, ": ");
    add(out, value);
    add(out, "\r\n");
}

/* RFC 9112 9.3 and 9.6: HTTP/1.1 persists unless `close`, so a persistent 1.1 needs nothing;
 * HTTP/1.0 persists only with `keep-alive` (RFC 9112 C.2.2). `close` is always said, whatever
 * the version: RFC 9112 9.6 "A client that does not support persistent connections MUST send
 * the "close" connection option in every request message", and it costs one line. RFC 9110
 * 7.8: "A sender of Upgrade MUST also send an "upgrade" connection option". */
static void connection_field(const struct http_head *h, const struct http_rewrite *rw,
                             struct sf_strbuf *out)
{
    if (rw->upgrade)
        add(out, "Connection: upgrade\r\n");
    else if (!rw->keep_alive)
        add(out, "Connection: close\r\n");
    else if (h->minor == 0)
        add(out, "Connection: keep-alive\r\n");
}

int http_head_write(const char *buf, const struct http_head *h, const struct http_rewrite *rw,
                    struct sf_strbuf *out)
{
    struct plan pl;
    collect_options(buf, h, &pl);
    int cl_written = 0;
    for (uint32_t i = 0; i < h->nfields; i++) {
        const struct http_field *f = &h->fields[i];
        pl.what[i] = (uint8_t)keep(buf, f, rw, &pl);
        if (pl.what[i] == F_KEEP && http_field_is(buf, f, "content-length"))
            pl.what[i] = cl_written++ ? F_DROP : F_CL;
    }
    int has_xff = rw->xff && mark_last(buf, h, &pl, "x-forwarded-for");
    int has_fwd = rw->forwarded && mark_last(buf, h, &pl, "forwarded");
    int has_via = rw->via && mark_last(buf, h, &pl, "via");
    start_line(buf, h, out);
    for (uint32_t i = 0; i < h->nfields; i++)
        if (pl.what[i] != F_DROP)
            write_field(buf, &h->fields[i], pl.what[i], h, rw, out);
    if (rw->xff && !has_xff)
        added_field(out, "X-Forwarded-For", rw->xff);
    if (rw->proto)
        added_field(out, "X-Forwarded-Proto", rw->proto);
    if (rw->forwarded && !has_fwd)
        added_field(out, "Forwarded", rw->forwarded);
    if (rw->via && !has_via)
        added_field(out, "Via", rw->via);
    connection_field(h, rw, out);
    add(out, "\r\n");
    return out->failed ? -1 : 0;
}
