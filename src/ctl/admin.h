/* The admin listener: a minimal HTTP/1.x server on the event loop (loopback by default).
 * One request per connection; malformed requests get 400, unknown paths 404, and nothing a
 * client sends can crash it or make it hold more than a bounded request. */
#ifndef SYNFIN_CTL_ADMIN_H
#define SYNFIN_CTL_ADMIN_H

#include "util/strbuf.h"
#include "lb/addr.h"
#include "lb/cidr.h"
#include "lb/transport.h"
#include "io/loop.h"

struct ctl_admin;

/* Connections served at once; more wait in the listener's backlog. */
#define CTL_ADMIN_CONNS_MAX 64
/* Descriptors the admin side may hold: its listener and its connections. */
#define CTL_ADMIN_FDS (CTL_ADMIN_CONNS_MAX + 1)

struct ctl_admin_req {
    const char *method;
    const char *path;  /* without the query */
    const char *query; /* after '?', or "" */
    const char *who;   /* the client's address, for the log lines of changes */
};

/* Who may use the listener (docs/lb.md, "Runtime API"): loopback peers and those in allow;
 * with a token, every request carries `Authorization: Bearer TOKEN`. Others are answered 403
 * (peer) or 401 (token) and counted. */
struct ctl_admin_access {
    char token[128]; /* "": none */
    struct lb_cidr allow[LB_CIDRS_MAX];
    size_t nallow;
};
void ctl_admin_set_access(struct ctl_admin *a, const struct ctl_admin_access *acc);
/* Requests refused: by peer address, by token. */
void ctl_admin_refused(const struct ctl_admin *a, uint64_t *peer, uint64_t *token);
/* Whether the head's Authorization header is `Bearer TOKEN` for this token, compared in
 * time that does not depend on where they differ. */
int ctl_admin_token_ok(const char *head, size_t len, const char *token);
/* The value of the head's first header named name (case-insensitive), without its
 * surrounding spaces, into out; 1 found, 0 absent or longer than out. */
int ctl_admin_header(const char *head, size_t len, const char *name, char *out, size_t outlen);

/* A response body made in slices, so that no request holds the event loop for long: the
 * listener calls fill at most once per slice, sharing a budget per loop iteration between
 * its connections (a unit is about one system call, ~1 us), and only once the previous slice
 * has been taken by the socket. fill appends to out, takes what it spent from *budget (at
 * least one unit), and returns what follows. free releases it, done or not (the client may
 * go away). */
enum {
    CTL_BODY_DONE, /* the body is complete */
    CTL_BODY_MORE, /* call again with the next slice's budget */
    CTL_BODY_WAIT, /* nothing to add yet: call again after ctl_admin_wake, or in 1 ms */
    CTL_BODY_FAIL, /* no memory: the connection is closed (500 if nothing was sent) */
};
struct ctl_body {
    int (*fill)(struct ctl_body *b, struct sf_strbuf *out, unsigned *budget);
    void (*free)(struct ctl_body *b);
    /* Set by fill before it first returns anything but WAIT, for a status known only then
     * (an answer from another thread): the status and type to answer with; 0 and NULL
     * keep the handler's. */
    int status;
    const char *ctype;
};

/* What a handler answers: a body known at once, or one made in slices (stream). */
struct ctl_admin_resp {
    struct sf_strbuf body;
    const char *ctype;
    struct ctl_body *stream;
};

/* Fills resp (body, or stream; ctype), returns the HTTP status. */
typedef int (*ctl_admin_fn)(void *ctx, const struct ctl_admin_req *r, struct ctl_admin_resp *resp);

/* Listens on addr. Returns NULL with a message in err. */
struct ctl_admin *ctl_admin_new(struct sf_loop *loop, const struct lb_addr *addr, ctl_admin_fn fn,
                                void *ctx, char *err, size_t errlen);
void ctl_admin_free(struct ctl_admin *a);
const struct lb_addr *ctl_admin_addr(const struct ctl_admin *a);
/* Adds the admin listener's own sockets to a census: they are host kernel sockets whatever
 * transport carries sessions, counted as the kernel transport counts its own. */
void ctl_admin_census(const struct ctl_admin *a, struct lb_census *c);
const char *ctl_http_reason(int status);
/* Bodies that said CTL_BODY_WAIT are called again from the next slice on. */
void ctl_admin_wake(struct ctl_admin *a);

/* The request parsing, apart from the sockets (and fuzzed on its own, tests/fuzz).
 * Whether buf[0..len) holds a whole request head, up to its empty line. */
int ctl_admin_head_complete(const char *buf, size_t len);
/* Parses the request line of a whole head in req[0..len) (NUL at req[len]), in place: r's
 * method and query point into req, its path into path (pathlen bytes, the query cut off).
 * Returns 0, or the status to answer with: 400 malformed, 404 a path too long. */
int ctl_admin_parse_request(char *req, size_t len, struct ctl_admin_req *r, char *path,
                            size_t pathlen);

#endif
