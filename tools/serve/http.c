#include "http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *find_head_end(const char *buf, size_t len)
{
    for (size_t i = 3; i < len; i++)
        if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r')
            return buf + i + 1;
    return NULL;
}

/* Whether a Connection header value lists token (comma-separated, any case). */
static int has_token(const char *v, size_t n, const char *token)
{
    size_t tl = strlen(token);
    for (size_t i = 0; i < n;) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t j = i;
        while (j < n && v[j] != ',' && v[j] != ' ' && v[j] != '\t')
            j++;
        if (j - i == tl && strncasecmp(v + i, token, tl) == 0)
            return 1;
        i = j;
    }
    return 0;
}

size_t http_parse(const char *buf, size_t len, struct http_req *r)
{
    const char *end = find_head_end(buf, len);
    if (!end)
        return 0;
    memset(r, 0, sizeof *r);
    /* Request line: METHOD SP PATH SP HTTP/1.x CRLF */
    const char *eol = memchr(buf, '\r', (size_t)(end - buf));
    const char *sp1 = memchr(buf, ' ', (size_t)(eol - buf));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (!sp1 || !sp2 || sp1 == buf || eol - sp2 != 9 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
        (sp2[8] != '0' && sp2[8] != '1')) {
        r->bad = 1;
        return (size_t)(end - buf);
    }
    size_t plen = (size_t)(sp2 - sp1 - 1);
    if (plen >= sizeof r->path)
        plen = sizeof r->path - 1;
    memcpy(r->path, sp1 + 1, plen);
    int http11 = sp2[8] == '1';
    r->http10 = !http11;

    int conn_close = 0, conn_keep = 0;
    for (const char *line = eol + 2; line < end - 2;) {
        const char *le = memchr(line, '\r', (size_t)(end - line));
        const char *colon = memchr(line, ':', (size_t)(le - line));
        if (!colon) {
            r->bad = 1;
            break;
        }
        const char *v = colon + 1;
        while (v < le && (*v == ' ' || *v == '\t'))
            v++;
        size_t name = (size_t)(colon - line), vn = (size_t)(le - v);
        if (name == 10 && strncasecmp(line, "connection", 10) == 0) {
            conn_close |= has_token(v, vn, "close");
            conn_keep |= has_token(v, vn, "keep-alive");
        } else if (name == 14 && strncasecmp(line, "content-length", 14) == 0) {
            char num[24];
            if (vn == 0 || vn >= sizeof num) {
                r->bad = 1;
                break;
            }
            memcpy(num, v, vn);
            num[vn] = 0;
            char *e;
            unsigned long long n = strtoull(num, &e, 10);
            if (*e || num[0] == '-') {
                r->bad = 1;
                break;
            }
            r->body = (size_t)n;
        }
        line = le + 2;
    }
    r->keep_alive = !r->bad && (http11 ? !conn_close : conn_keep);
    return (size_t)(end - buf);
}
