/* The admin listener: a minimal HTTP/1.x server on the event loop (loopback by default).
 * One request per connection; malformed requests get 400, unknown paths 404, and nothing a
 * client sends can crash it or make it hold more than a bounded request. */
#ifndef SYNFIN_CTL_ADMIN_H
#define SYNFIN_CTL_ADMIN_H

#include "util/strbuf.h"
#include "lb/addr.h"
#include "lb/transport.h"
#include "io/loop.h"

struct ctl_admin;

struct ctl_admin_req {
    const char *method;
    const char *path;  /* without the query */
    const char *query; /* after '?', or "" */
};

/* Fills body and *ctype, returns the HTTP status. */
typedef int (*ctl_admin_fn)(void *ctx, const struct ctl_admin_req *r, struct sf_strbuf *body,
                            const char **ctype);

/* Listens on addr. Returns NULL with a message in err. */
struct ctl_admin *ctl_admin_new(struct sf_loop *loop, const struct lb_addr *addr, ctl_admin_fn fn,
                                void *ctx, char *err, size_t errlen);
void ctl_admin_free(struct ctl_admin *a);
const struct lb_addr *ctl_admin_addr(const struct ctl_admin *a);
/* Adds the admin listener's own sockets to a census: they are host kernel sockets whatever
 * transport carries sessions, counted as the kernel transport counts its own. */
void ctl_admin_census(const struct ctl_admin *a, struct lb_census *c);
const char *ctl_http_reason(int status);

#endif
