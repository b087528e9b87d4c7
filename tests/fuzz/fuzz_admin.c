/* Fuzz target: the admin listener's request parsing (src/ctl/admin.c), fed as the socket code
 * feeds it: bytes accumulate in an 8 KiB buffer until the head is complete, then the request
 * line is parsed in place.
 *
 * Invariants: the Authorization header is read as headers() says; an accepted request has a
 * non-empty token method, a path that starts with '/', holds no '?', no space or control byte and
 * fits its buffer, and a query of visible bytes; the request line written back from those parts
 * parses to the same parts. */
#include <string.h>
#include <strings.h>

#include "ctl/admin.h"
#include "fuzz.h"

#define REQ_MAX 8192 /* as admin.c */

static void check_parts(const struct ctl_admin_req *r, size_t pathcap)
{
    FZ_CHECK(r->method[0] != 0, "empty method");
    for (const char *p = r->method; *p; p++)
        FZ_CHECK(*p > 0x20 && *p < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", *p), "method byte 0x%02x",
                 (unsigned char)*p);
    FZ_CHECK(r->path[0] == '/', "path '%s' does not start with '/'", r->path);
    FZ_CHECK(strlen(r->path) < pathcap, "path of %zu bytes in a %zu-byte buffer", strlen(r->path),
             pathcap);
    FZ_CHECK(!strchr(r->path, '?'), "path '%s' holds the query", r->path);
    for (const char *p = r->path; *p; p++)
        FZ_CHECK((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f, "path byte 0x%02x",
                 (unsigned char)*p);
    for (const char *p = r->query; *p; p++)
        FZ_CHECK((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f, "query byte 0x%02x",
                 (unsigned char)*p);
}

static void round_trip(const struct ctl_admin_req *r, int has_query)
{
    static char line[3 * REQ_MAX];
    int n = snprintf(line, sizeof line, "%s %s%s%s HTTP/1.1\r\n\r\n", r->method, r->path,
                     has_query ? "?" : "", r->query);
    FZ_CHECK(n > 0 && (size_t)n < sizeof line, "request line of %d bytes", n);
    struct ctl_admin_req again;
    char path[1024];
    int status = ctl_admin_parse_request(line, (size_t)n, &again, path, sizeof path);
    FZ_CHECK(status == 0, "the request written back is refused (%d)", status);
    FZ_CHECK(!strcmp(again.method, r->method) && !strcmp(again.path, r->path) &&
                 !strcmp(again.query, r->query),
             "written back, '%s %s ? %s' parses differently", r->method, r->path, r->query);
}

/* The Authorization header, read before the request line is parsed: a value found lies in
 * the head, has no CR, LF or edge space, and a bearer token equal to it is accepted while one
 * byte off is not. */
static void headers(const char *req, size_t len)
{
    char v[256];
    if (!ctl_admin_header(req, len, "authorization", v, sizeof v))
        return;
    size_t n = strlen(v);
    FZ_CHECK(n < sizeof v && !strpbrk(v, "\r\n"), "value '%s'", v);
    FZ_CHECK(!n || (v[0] != ' ' && v[n - 1] != ' '), "value '%s' keeps its spaces", v);
    if (n > 7 && !strncasecmp(v, "bearer ", 7) && !memchr(v, 0, n)) {
        char tok[256];
        memcpy(tok, v + 7, n - 6);
        FZ_CHECK(ctl_admin_token_ok(req, len, tok), "its own token '%s' refused", tok);
        tok[0] ^= 1;
        FZ_CHECK(!ctl_admin_token_ok(req, len, tok), "a token one bit off accepted");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char req[REQ_MAX + 1];
    struct fz_in in = {data, size};
    /* The first byte is the size of each read, as recv would cut the stream. */
    size_t chunk = 1 + fz_u8(&in) * 32u, len = 0;
    int complete = 0;
    while (in.n && !complete && len < REQ_MAX) {
        const uint8_t *p;
        size_t want = chunk < REQ_MAX - len ? chunk : REQ_MAX - len;
        size_t n = fz_bytes(&in, &p, want);
        memcpy(req + len, p, n);
        len += n;
        req[len] = 0;
        complete = ctl_admin_head_complete(req, len);
    }
    if (!complete)
        return 0; /* 431 when full, or 400 at end of stream: nothing is parsed */
    headers(req, len);
    struct ctl_admin_req r;
    static char path[1024];
    int status = ctl_admin_parse_request(req, len, &r, path, sizeof path);
    FZ_CHECK(status == 0 || status == 400 || status == 404, "status %d", status);
    if (status)
        return 0;
    /* A query points into the request; without one it is a constant "". */
    int has_query = r.query >= req && r.query <= req + len;
    FZ_CHECK(r.method == req && (has_query || !r.query[0]), "method or query outside the request");
    check_parts(&r, sizeof path);
    round_trip(&r, has_query);
    return 0;
}
