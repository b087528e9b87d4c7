/* A small HTTP/1.1 GET client for one request to an admin listener: URL parsing, the
 * exchange over a TCP socket with one deadline, and strict response parsing. */
#ifndef SYNFIN_STAT_HTTP_GET_H
#define SYNFIN_STAT_HTTP_GET_H

#include <stddef.h>

struct st_url {
    char host[256]; /* without brackets */
    char port[6];
    char path[1024];
};

/* "http://HOST[:PORT][/PATH]" (port 80 by default) or "HOST:PORT"; when no path is given,
 * "/stats" is meant. IPv6 hosts go in brackets. Returns 0 or -1 with a reason in err. */
int st_url_parse(const char *target, struct st_url *u, char *err, size_t errlen);

struct st_http_response {
    int status;
    char reason[64];
    char *body;
    size_t body_len;
};

/* Parses a whole response held in buf[0..len). May rewrite buf in place (to undo chunked
 * transfer coding); r->body points into it. Returns 0, or -1 with a reason in err (a
 * response cut short is an error, not a partial success). */
int st_http_parse_response(char *buf, size_t len, struct st_http_response *r, char *err,
                           size_t errlen);

/* Whether buf[0..len) already holds a complete response whose length is known from its
 * headers (Content-Length), so reading can stop before the server closes. */
int st_http_response_complete(const char *buf, size_t len);

/* Sends GET u->path to u->host:u->port and reads the response (at most max bytes) within
 * timeout_ms. On success returns 0 with a malloc'd buffer in *buf (caller frees). */
int st_http_get(const struct st_url *u, int timeout_ms, size_t max, char **buf, size_t *len,
                char *err, size_t errlen);

#endif
