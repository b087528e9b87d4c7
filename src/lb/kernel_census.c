/* The kernel transport's census; see kernel_census.h. */
#include "lb/kernel_census.h"
#include "diag/sockdiag.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

/* Linux's TCP states (include/net/tcp_states.h) in RFC 9293's names. */
static enum sf_state from_linux(int s)
{
    switch (s) {
    case 1: return SF_ESTABLISHED;
    case 2: return SF_SYN_SENT;
    case 3: return SF_SYN_RECEIVED;
    case 4: return SF_FIN_WAIT_1;
    case 5: return SF_FIN_WAIT_2;
    case 6: return SF_TIME_WAIT;
    case 8: return SF_CLOSE_WAIT;
    case 9: return SF_LAST_ACK;
    case 10: return SF_LISTEN;
    case 11: return SF_CLOSING;
    case 12: return SF_SYN_RECEIVED;
    default: return SF_CLOSED;
    }
}

int lb_kernel_fd_info(int fd, struct lb_conn_info *i)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    memset(&ti, 0, sizeof ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
        return -errno;
    i->state = from_linux(ti.tcpi_state);
    i->rtt_us = ti.tcpi_rtt;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        lb_addr_from_sockaddr(&i->local, (struct sockaddr *)&ss, sl);
    int q = 0;
    if (i->state != SF_LISTEN && ioctl(fd, SIOCOUTQ, &q) == 0 && q > 0)
        i->unacked = (uint32_t)q;
    return 0;
}

void lb_kernel_census_fd(int fd, struct lb_census *c)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
        return;
    c->states[from_linux(ti.tcpi_state)]++;
}

struct diag_ctx {
    const struct lb_census_scope *s;
    struct lb_census *c;
    uint16_t port;
    uint16_t *ports;
    size_t nports;
};

static int in_ports(const struct diag_ctx *d, uint16_t p)
{
    for (size_t i = 0; i < d->nports; i++)
        if (d->ports[i] == p)
            return 1;
    return 0;
}

static void entry_addr(const struct sf_sockdiag_entry *e, int src, struct lb_addr *a)
{
    memset(a, 0, sizeof *a);
    const uint8_t *ip = src ? e->src : e->dst;
    uint16_t port = src ? e->sport : e->dport;
    if (e->family == AF_INET6) {
        a->u.in6.sin6_family = AF_INET6;
        memcpy(&a->u.in6.sin6_addr, ip, 16);
        a->u.in6.sin6_port = htons(port);
        a->len = sizeof a->u.in6;
    } else {
        a->u.in4.sin_family = AF_INET;
        memcpy(&a->u.in4.sin_addr, ip, 4);
        a->u.in4.sin_port = htons(port);
        a->len = sizeof a->u.in4;
    }
}

static int host_matches(const struct lb_addr *bound, const struct lb_addr *a)
{
    static const uint8_t zero[16];
    const uint8_t *k;
    size_t n = lb_addr_key(bound, &k);
    return !memcmp(k, zero, n) || lb_addr_same_host(bound, a);
}

static int on_entry(const struct sf_sockdiag_entry *e, void *arg)
{
    struct diag_ctx *d = arg;
    const struct lb_census_scope *s = d->s;
    /* A socket whose two ports are both watched shows up in two dumps: count it in the one
     * for its smaller port. */
    uint16_t other = e->sport == d->port ? e->dport : e->sport;
    if (other != d->port && other < d->port && in_ports(d, other))
        return 0;
    struct lb_addr src, dst;
    entry_addr(e, 1, &src);
    entry_addr(e, 0, &dst);
    int tw = e->state == SF_KS_TIME_WAIT;
    for (size_t i = 0; i < s->nfrontends; i++) {
        const struct lb_addr *l = s->frontends[i];
        if (e->sport == lb_addr_port(l) && host_matches(l, &src)) {
            if (tw)
                d->c->tw_frontend++;
            else
                d->c->states[SF_SYN_RECEIVED]++;
            return 0;
        }
    }
    for (size_t i = 0; i < s->nresponds; i++) {
        const struct lb_addr *l = s->responds[i];
        if (e->sport == lb_addr_port(l) && host_matches(l, &src)) {
            if (tw)
                d->c->tw_respond++;
            else
                d->c->states[SF_SYN_RECEIVED]++;
            return 0;
        }
    }
    if (!tw)
        return 0;
    for (size_t i = 0; i < s->nservers; i++) {
        const struct lb_census_server *sv = &s->servers[i];
        if (!lb_addr_equal(sv->addr, &dst))
            continue;
        int ok = sv->nsources == 0;
        for (uint32_t k = 0; k < sv->nsources && !ok; k++)
            ok = lb_addr_same_host(&sv->sources[k].addr, &src);
        if (ok) {
            d->c->tw_backend++;
            return 0;
        }
    }
    return 0;
}

static int cmp_u16(const void *a, const void *b)
{
    return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/* The ports of the scope's addresses, sorted, each once. */
static int scope_ports(const struct lb_census_scope *s, uint16_t **out, size_t *count)
{
    size_t cap = s->nfrontends + s->nresponds + s->nservers + 1;
    uint16_t *ports = malloc(cap * sizeof *ports);
    if (!ports)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < s->nfrontends; i++)
        ports[n++] = lb_addr_port(s->frontends[i]);
    for (size_t i = 0; i < s->nresponds; i++)
        ports[n++] = lb_addr_port(s->responds[i]);
    for (size_t i = 0; i < s->nservers; i++)
        ports[n++] = lb_addr_port(s->servers[i].addr);
    qsort(ports, n, sizeof *ports, cmp_u16);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || ports[u - 1] != ports[i])
            ports[u++] = ports[i];
    *out = ports;
    *count = u;
    return 0;
}

void lb_kernel_census_diag_reset(struct lb_kernel_diag *d)
{
    if (d->open)
        sf_sockdiag_close(&d->st);
    free(d->ports);
    memset(d, 0, sizeof *d);
}

static int diag_finish(struct lb_kernel_diag *d, struct lb_census *c)
{
    lb_kernel_census_diag_reset(d);
    c->states[SF_TIME_WAIT] += c->tw_frontend + c->tw_backend + c->tw_respond;
    return 1;
}

int lb_kernel_census_diag_step(struct lb_kernel_diag *d, const struct lb_census_scope *s,
                               struct lb_census *c, unsigned *budget)
{
    if (!d->started) {
        d->started = 1;
        int rc = scope_ports(s, &d->ports, &d->nports);
        if (rc < 0) {
            c->diag_error = rc;
            return diag_finish(d, c);
        }
    }
    unsigned batches = *budget / LB_KERNEL_DIAG_BATCH_UNITS;
    if (batches == 0)
        batches = 1;
    while (d->next < d->nports && batches > 0) {
        if (!d->open) {
            struct sf_sockdiag_query q = {
                .family = AF_UNSPEC,
                .states = SF_KSTATE_BIT(SF_KS_TIME_WAIT) | SF_KSTATE_BIT(SF_KS_SYN_RECV) |
                          SF_KSTATE_BIT(SF_KS_NEW_SYN_RECV),
                .port = d->ports[d->next],
            };
            sf_sockdiag_open(&d->st, &q);
            d->open = 1;
        }
        struct diag_ctx dc = {s, c, d->ports[d->next], d->ports, d->nports};
        unsigned long before = d->st.batches;
        int rc = sf_sockdiag_step(&d->st, batches, on_entry, &dc);
        unsigned long used = d->st.batches - before;
        batches = used < batches ? batches - (unsigned)used : 0;
        unsigned long cost = used * LB_KERNEL_DIAG_BATCH_UNITS;
        *budget = cost < *budget ? *budget - (unsigned)cost : 0;
        if (rc == 1)
            return 0;
        sf_sockdiag_close(&d->st);
        d->open = 0;
        if (rc < 0) {
            c->diag_error = rc;
            return diag_finish(d, c);
        }
        d->next++;
    }
    return d->next < d->nports ? 0 : diag_finish(d, c);
}
