/* The admin listener: a minimal HTTP/1.x server on the event loop (loopback by default).
 * One request per connection; malformed requests get 400, unknown paths 404, and nothing a
 * client sends can crash it or make it hold more than a bounded request. */
#ifndef SYNFIN_CTL_ADMIN_H
#define SYNFIN_CTL_ADMIN_H

#include "ctl/strbuf.h"
#include "lb/addr.h"
#include "lb/loop.h"

struct sf_admin;

struct sf_admin_req {
    const char *method;
    const char *path;  /* without the query */
    const char *query; /* after '?', or "" */
};

/* Fills body and *ctype, returns the HTTP status. */
typedef int (*sf_admin_fn)(void *ctx, const struct sf_admin_req *r, struct sf_strbuf *body,
                           const char **ctype);

/* Listens on addr. Returns NULL with a message in err. */
struct sf_admin *sf_admin_new(struct sf_loop *loop, const struct sf_addr *addr, sf_admin_fn fn,
                              void *ctx, char *err, size_t errlen);
void sf_admin_free(struct sf_admin *a);
const struct sf_addr *sf_admin_addr(const struct sf_admin *a);
/* Each open admin socket (listener first), for the socket census. */
void sf_admin_each_fd(const struct sf_admin *a, void (*fn)(int fd, void *arg), void *arg);
const char *sf_http_reason(int status);

/* The request parsing, apart from the sockets (and fuzzed on its own, tests/fuzz).
 * Whether buf[0..len) holds a whole request head, up to its empty line. */
int sf_admin_head_complete(const char *buf, size_t len);
/* Parses the request line of a whole head in req[0..len) (NUL at req[len]), in place: r's
 * method and query point into req, its path into path (pathlen bytes, the query cut off).
 * Returns 0, or the status to answer with: 400 malformed, 404 a path too long. */
int sf_admin_parse_request(char *req, size_t len, struct sf_admin_req *r, char *path,
                           size_t pathlen);

#endif
