#include "http_get.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include "errmsg.h"

static int valid_port(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > 5)
        return 0;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        v = v * 10 + (p[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

int st_url_parse(const char *target, struct st_url *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    const char *p = target;
    int scheme = 0;
    if (!strncmp(p, "http://", 7)) {
        p += 7;
        scheme = 1;
    } else if (strstr(p, "://")) {
        return st_errf(err, errlen,
                       "'%s': only http:// is supported (the admin listener speaks plain HTTP)",
                       target);
    }
    size_t hostport_len = strcspn(p, "/?#");
    const char *rest = p + hostport_len;
    if (memchr(p, '@', hostport_len))
        return st_errf(err, errlen, "'%s': user names in the URL are not supported", target);

    const char *host = p, *port = NULL;
    size_t host_len;
    if (*p == '[') {
        const char *close = memchr(p, ']', hostport_len);
        if (!close)
            return st_errf(err, errlen, "'%s': missing ']' after the IPv6 address", target);
        host = p + 1;
        host_len = (size_t)(close - host);
        if (close + 1 < rest) {
            if (close[1] != ':')
                return st_errf(err, errlen, "'%s': expected ':PORT' after ']'", target);
            port = close + 2;
        }
    } else {
        const char *colon = memchr(p, ':', hostport_len);
        host_len = colon ? (size_t)(colon - p) : hostport_len;
        if (colon)
            port = colon + 1;
    }
    if (host_len == 0)
        return st_errf(err, errlen, "'%s': no host", target);
    if (host_len >= sizeof u->host)
        return st_errf(err, errlen, "'%s': host name too long", target);
    memcpy(u->host, host, host_len);
    for (size_t i = 0; i < host_len; i++)
        if ((unsigned char)u->host[i] <= 0x20 || (unsigned char)u->host[i] >= 0x7f)
            return st_errf(err, errlen, "'%s': bad character in the host", target);

    if (port) {
        size_t plen = (size_t)(rest - port);
        if (plen >= sizeof u->port)
            plen = sizeof u->port - 1; /* too long: rejected below */
        memcpy(u->port, port, plen);
        if (!valid_port(u->port) || (size_t)(rest - port) >= sizeof u->port)
            return st_errf(err, errlen, "'%s': bad port (1-65535)", target);
    } else if (scheme) {
        strcpy(u->port, "80");
    } else {
        return st_errf(err, errlen, "'%s': give http://HOST:PORT/stats or HOST:PORT", target);
    }

    /* The path, query included; a fragment never goes to the server. */
    size_t path_len = strcspn(rest, "#");
    if (path_len == 0) {
        strcpy(u->path, "/stats");
    } else {
        if (rest[0] != '/')
            return st_errf(err, errlen, "'%s': the path must start with '/'", target);
        if (path_len >= sizeof u->path)
            return st_errf(err, errlen, "'%s': path too long", target);
        memcpy(u->path, rest, path_len);
        for (size_t i = 0; i < path_len; i++)
            if ((unsigned char)u->path[i] <= 0x20 || (unsigned char)u->path[i] >= 0x7f)
                return st_errf(err, errlen, "'%s': bad character in the path", target);
    }
    return 0;
}

/* Finds the end of the header block; returns the offset of the body, or 0 if incomplete. A
 * bare LF is accepted as a line end, as RFC 9112 allows a recipient to. */
static size_t header_end(const char *buf, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (buf[i + 1] == '\n')
            return i + 2;
        if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

struct headers {
    int have_length, chunked;
    size_t length;
};

static int ieq(const char *a, size_t alen, const char *b)
{
    size_t n = strlen(b);
    if (alen != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != b[i])
            return 0;
    }
    return 1;
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t' || (*s)[*n - 1] == '\r'))
        (*n)--;
}

/* Parses the status line and the headers in buf[0..hend). */
static int parse_head(const char *buf, size_t hend, struct st_http_response *r, struct headers *h,
                      char *err, size_t errlen)
{
    memset(h, 0, sizeof *h);
    const char *line = buf, *end = buf + hend;
    const char *nl = memchr(line, '\n', (size_t)(end - line));
    size_t n = (size_t)(nl - line);
    if (n && line[n - 1] == '\r')
        n--;
    if (n < 12 || memcmp(line, "HTTP/1.", 7) || (line[7] != '0' && line[7] != '1') ||
        line[8] != ' ' || line[9] < '1' || line[9] > '5' || line[10] < '0' || line[10] > '9' ||
        line[11] < '0' || line[11] > '9' || (n > 12 && line[12] != ' '))
        return st_errf(err, errlen, "not an HTTP/1.x response (status line '%.*s')",
                       (int)(n > 60 ? 60 : n), line);
    r->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    size_t rl = n > 13 ? n - 13 : 0;
    if (rl >= sizeof r->reason)
        rl = sizeof r->reason - 1;
    memcpy(r->reason, line + 13, rl);
    r->reason[rl] = '\0';
    for (size_t i = 0; i < rl; i++)
        if ((unsigned char)r->reason[i] < 0x20 || (unsigned char)r->reason[i] >= 0x7f)
            r->reason[i] = '?';

    for (line = nl + 1; line < end; line = nl + 1) {
        nl = memchr(line, '\n', (size_t)(end - line));
        n = (size_t)(nl - line);
        if (n && line[n - 1] == '\r')
            n--;
        if (n == 0)
            break; /* the blank line */
        const char *colon = memchr(line, ':', n);
        if (!colon || colon == line || line[0] == ' ' || line[0] == '\t')
            return st_errf(err, errlen, "malformed header line '%.*s'", (int)(n > 60 ? 60 : n),
                           line);
        size_t name_len = (size_t)(colon - line);
        const char *val = colon + 1;
        size_t vlen = n - name_len - 1;
        trim(&val, &vlen);
        if (ieq(line, name_len, "content-length")) {
            size_t v = 0;
            if (vlen == 0 || vlen > 12)
                return st_errf(err, errlen, "bad Content-Length");
            for (size_t i = 0; i < vlen; i++) {
                if (val[i] < '0' || val[i] > '9')
                    return st_errf(err, errlen, "bad Content-Length");
                v = v * 10 + (size_t)(val[i] - '0');
            }
            if (h->have_length && h->length != v)
                return st_errf(err, errlen, "conflicting Content-Length headers");
            h->have_length = 1;
            h->length = v;
        } else if (ieq(line, name_len, "transfer-encoding")) {
            /* Only the last coding matters for framing; chunked must be it if present. */
            const char *last = val;
            size_t llen = vlen;
            const char *comma = NULL;
            for (size_t i = 0; i < vlen; i++)
                if (val[i] == ',')
                    comma = val + i;
            if (comma) {
                last = comma + 1;
                llen = (size_t)(val + vlen - last);
                trim(&last, &llen);
            }
            if (!ieq(last, llen, "chunked"))
                return st_errf(err, errlen, "unsupported Transfer-Encoding '%.*s'", (int)vlen, val);
            h->chunked = 1;
        }
    }
    if (h->chunked && h->have_length)
        return st_errf(err, errlen, "both Content-Length and chunked Transfer-Encoding");
    return 0;
}

/* Undoes chunked coding in place over body[0..len); returns the decoded length or -1. */
static long dechunk(char *body, size_t len, char *err, size_t errlen)
{
    size_t in = 0, out = 0;
    for (;;) {
        size_t size = 0, digits = 0;
        while (in < len) {
            char c = body[in];
            int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
            if (d < 0)
                break;
            if (++digits > 8)
                return st_errf(err, errlen, "chunk size too large");
            size = size * 16 + (size_t)d;
            in++;
        }
        if (!digits)
            return st_errf(err, errlen, "bad chunk size line");
        /* Skip chunk extensions to the end of the line. */
        const char *nl = memchr(body + in, '\n', len - in);
        if (!nl)
            return st_errf(err, errlen, "response cut short inside the chunked body");
        in = (size_t)(nl - body) + 1;
        if (size == 0)
            return (long)out; /* trailers, if any, are ignored */
        if (len - in < size + 1)
            return st_errf(err, errlen, "response cut short inside a chunk");
        memmove(body + out, body + in, size);
        out += size;
        in += size;
        if (body[in] == '\r')
            in++;
        if (in >= len || body[in] != '\n')
            return st_errf(err, errlen, "chunk not followed by CRLF");
        in++;
    }
}

int st_http_parse_response(char *buf, size_t len, struct st_http_response *r, char *err,
                           size_t errlen)
{
    memset(r, 0, sizeof *r);
    if (len == 0)
        return st_errf(err, errlen, "empty response (the server closed the connection)");
    size_t hend = header_end(buf, len);
    if (!hend)
        return st_errf(err, errlen, "response cut short inside its headers");
    struct headers h;
    if (parse_head(buf, hend, r, &h, err, errlen))
        return -1;
    r->body = buf + hend;
    size_t avail = len - hend;
    if (h.chunked) {
        long n = dechunk(r->body, avail, err, errlen);
        if (n < 0)
            return -1;
        r->body_len = (size_t)n;
    } else if (h.have_length) {
        if (avail < h.length)
            return st_errf(err, errlen, "response cut short: %zu of %zu body bytes", avail,
                           h.length);
        r->body_len = h.length;
    } else {
        r->body_len = avail; /* delimited by the end of the connection */
    }
    return 0;
}

int st_http_response_complete(const char *buf, size_t len)
{
    size_t hend = header_end(buf, len);
    if (!hend)
        return 0;
    struct st_http_response r;
    struct headers h;
    char err[8];
    if (parse_head(buf, hend, &r, &h, err, sizeof err))
        return 1; /* stop: it is an error */
    return h.have_length && len - hend >= h.length;
}

static long ms_left(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms =
        (long)(deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
    return ms > 0 ? ms : 0;
}

/* Waits for events on fd until the deadline. 1 ready, 0 timed out, -1 error (errno). */
static int wait_fd(int fd, short events, const struct timespec *deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)ms_left(deadline));
        if (n < 0 && errno == EINTR)
            continue;
        return n;
    }
}

static int connect_one(const struct addrinfo *ai, const struct timespec *deadline, int *err_no)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        *err_no = errno;
        return -1;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    if (errno != EINPROGRESS) {
        *err_no = errno;
        close(fd);
        return -1;
    }
    int n = wait_fd(fd, POLLOUT, deadline);
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (n <= 0) {
        *err_no = n == 0 ? ETIMEDOUT : errno;
    } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) || soerr) {
        *err_no = soerr ? soerr : errno;
    } else {
        return fd;
    }
    close(fd);
    return -1;
}

int st_http_get(const struct st_url *u, int timeout_ms, size_t max, char **out, size_t *outlen,
                char *err, size_t errlen)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    char where[300];
    if (strchr(u->host, ':'))
        snprintf(where, sizeof where, "[%s]:%s", u->host, u->port);
    else
        snprintf(where, sizeof where, "%s:%s", u->host, u->port);

    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int g = getaddrinfo(u->host, u->port, &hints, &ai);
    if (g)
        return st_errf(err, errlen, "cannot resolve '%s': %s", u->host,
                       g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
    int fd = -1, err_no = 0;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next)
        fd = connect_one(a, &deadline, &err_no);
    freeaddrinfo(ai);
    if (fd < 0)
        return st_errf(err, errlen,
                       "cannot connect to %s: %s (is synfin running with its admin listener "
                       "there?)",
                       where, strerror(err_no));

    char req[1400];
    int rn = snprintf(req, sizeof req,
                      "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: synfin-stat\r\n"
                      "Accept: application/json\r\nConnection: close\r\n\r\n",
                      u->path, where);
    if (rn < 0 || (size_t)rn >= sizeof req) {
        close(fd);
        return st_errf(err, errlen, "request too long");
    }
    for (size_t sent = 0; sent < (size_t)rn;) {
        ssize_t n = send(fd, req + sent, (size_t)rn - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN && wait_fd(fd, POLLOUT, &deadline) > 0)
            continue;
        int e = n < 0 && errno != EAGAIN ? errno : ETIMEDOUT;
        close(fd);
        return st_errf(err, errlen, "sending the request to %s failed: %s", where, strerror(e));
    }

    size_t cap = 16384, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return st_errf(err, errlen, "out of memory");
    }
    for (;;) {
        if (len == cap) {
            if (cap >= max) {
                free(buf);
                close(fd);
                return st_errf(err, errlen, "response from %s larger than %zu bytes", where, max);
            }
            size_t ncap = cap * 2 > max ? max : cap * 2;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                close(fd);
                return st_errf(err, errlen, "out of memory");
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t n = recv(fd, buf + len, cap - len, 0);
        if (n > 0) {
            len += (size_t)n;
            if (st_http_response_complete(buf, len))
                break;
            continue;
        }
        if (n == 0)
            break;
        if (errno == EINTR)
            continue;
        int w = errno == EAGAIN ? wait_fd(fd, POLLIN, &deadline) : -1;
        if (w > 0)
            continue;
        int e = w == 0 ? ETIMEDOUT : errno;
        free(buf);
        close(fd);
        return st_errf(err, errlen, "reading the response from %s failed: %s", where, strerror(e));
    }
    close(fd);
    *out = buf;
    *outlen = len;
    return 0;
}
