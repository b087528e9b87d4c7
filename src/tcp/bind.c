/* Who may take a local address and port (sf_bind, sf_listen). Two sockets clash on a port
 * only when their addresses overlap: the same address, or either is the wildcard of that
 * family. The engine has no dual-stack sockets, so IPv4 and IPv6 never overlap. Without
 * SO_REUSEADDR any overlapping user of the port clashes (connections, accepted children,
 * sockets only bound, TIME-WAIT entries); with it only a listener does. These are the rules
 * of Linux's bind conflict check for sockets that do not ask for SO_REUSEPORT. */
#include "tcp/internal.h"
#include "tcp/timewait.h"

static int overlap(const struct sf_addr *a, const struct sf_addr *b)
{
    return a->family == b->family && (addr_is_any(a) || addr_is_any(b) || addr_eq(a, b));
}

struct want {
    const struct sf_conn *self;
    const struct sf_addr *laddr;
    uint16_t port;
};

static int clashes(const struct sf_conn *c, const void *arg)
{
    const struct want *w = arg;
    if (c == w->self || !(c->flags & F_BOUND) || c->t.lport != w->port)
        return 0;
    return overlap(&c->t.laddr, w->laddr);
}

/* Walked only when the port is in use and the binder did not ask for SO_REUSEADDR: rare
 * owner calls, so a scan costs less than an index every connection would have to keep. */
static int tw_clashes(const struct sf_engine *e, const struct sf_addr *laddr, uint16_t port)
{
    const struct sf_tw_table *tw = &e->tw;
    for (uint32_t b = 0; b <= tw->mask; b++)
        for (uint32_t i = tw->buckets[b]; i; i = tw_get(tw, i)->hnext) {
            const struct sf_tw *w = tw_get(tw, i);
            if (w->t.lport == port && overlap(&w->t.laddr, laddr))
                return 1;
        }
    return 0;
}

int listener_overlaps(struct sf_engine *e, const struct sf_conn *self, const struct sf_addr *laddr,
                      uint16_t port)
{
    for (struct sf_conn *l = listener_bucket_head(e, port); l; l = l->hnext)
        if (l != self && l->t.lport == port && overlap(&l->t.laddr, laddr))
            return 1;
    return 0;
}

int bind_conflict(struct sf_engine *e, const struct sf_conn *c, const struct sf_addr *laddr,
                  uint16_t port)
{
    if (!e->port_refs[port])
        return 0;
    if (listener_overlaps(e, c, laddr, port))
        return 1;
    if (c->flags & F_REUSEADDR)
        return 0;
    struct want w = {c, laddr, port};
    return pool_any(e, clashes, &w) || tw_clashes(e, laddr, port);
}
