/* The HTTP/1.1 request reader of synfin-serve's http mode: request heads one at a time,
 * bodies skipped by Content-Length, keep-alive per version and Connection header. */
#ifndef SYNFIN_SERVE_HTTP_H
#define SYNFIN_SERVE_HTTP_H

#include <stddef.h>

struct http_req {
    int keep_alive; /* the connection stays open after the response */
    int http10;     /* HTTP/1.0: keep-alive must then be said in the response */
    int bad;        /* not a request we understand: answer 400 and close */
    size_t body;    /* bytes of request body to skip (Content-Length) */
    char path[256];
};

/* Looks for one complete request head at the start of buf. Returns its length (the head
 * ends with an empty line) and fills r, or 0 if the head is not complete yet. */
size_t http_parse(const char *buf, size_t len, struct http_req *r);

#endif
