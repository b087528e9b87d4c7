/* The kernel transport's census; see kernel_census.h. */
#include "lb/kernel_census.h"
#include "diag/sockdiag.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
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

/* The whole part for s into c, in the calling thread. */
static void diag_all(const struct lb_census_scope *s, struct lb_census *c)
{
    uint16_t *ports = NULL;
    size_t nports = 0;
    int rc = scope_ports(s, &ports, &nports);
    for (size_t i = 0; rc == 0 && i < nports; i++) {
        struct sf_sockdiag_query q = {
            .family = AF_UNSPEC,
            .states = SF_KSTATE_BIT(SF_KS_TIME_WAIT) | SF_KSTATE_BIT(SF_KS_SYN_RECV) |
                      SF_KSTATE_BIT(SF_KS_NEW_SYN_RECV),
            .port = ports[i],
        };
        struct diag_ctx dc = {s, c, ports[i], ports, nports};
        rc = sf_sockdiag_dump(&q, on_entry, &dc);
    }
    if (rc < 0)
        c->diag_error = rc;
    free(ports);
    c->states[SF_TIME_WAIT] += c->tw_frontend + c->tw_backend + c->tw_respond;
}

/* A copy of the scope that the thread owns: the loop's may be freed by a reload meanwhile. */
struct lb_kernel_diag_job {
    pthread_t thread;
    _Atomic int done;
    struct lb_census_scope scope;
    const struct lb_addr **fe, **rs;
    struct lb_census_server *sv;
    struct lb_addr *addrs;
    struct lb_source *sources;
    struct lb_census found;
};

static void job_free(struct lb_kernel_diag_job *j)
{
    free(j->fe);
    free(j->rs);
    free(j->sv);
    free(j->addrs);
    free(j->sources);
    free(j);
}

static struct lb_kernel_diag_job *job_new(const struct lb_census_scope *s)
{
    struct lb_kernel_diag_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    size_t nsrc = 0;
    for (size_t i = 0; i < s->nservers; i++)
        nsrc += s->servers[i].nsources;
    j->fe = calloc(s->nfrontends + 1, sizeof *j->fe);
    j->rs = calloc(s->nresponds + 1, sizeof *j->rs);
    j->sv = calloc(s->nservers + 1, sizeof *j->sv);
    j->addrs = calloc(s->nfrontends + s->nresponds + s->nservers + 1, sizeof *j->addrs);
    j->sources = calloc(nsrc + 1, sizeof *j->sources);
    if (!j->fe || !j->rs || !j->sv || !j->addrs || !j->sources) {
        job_free(j);
        return NULL;
    }
    struct lb_addr *a = j->addrs;
    struct lb_source *src = j->sources;
    for (size_t i = 0; i < s->nfrontends; i++) {
        *a = *s->frontends[i];
        j->fe[i] = a++;
    }
    for (size_t i = 0; i < s->nresponds; i++) {
        *a = *s->responds[i];
        j->rs[i] = a++;
    }
    for (size_t i = 0; i < s->nservers; i++) {
        const struct lb_census_server *sv = &s->servers[i];
        *a = *sv->addr;
        if (sv->nsources)
            memcpy(src, sv->sources, sv->nsources * sizeof *src);
        j->sv[i] = (struct lb_census_server){a++, src, sv->nsources};
        src += sv->nsources;
    }
    j->scope =
        (struct lb_census_scope){j->fe, j->rs, s->nfrontends, s->nresponds, j->sv, s->nservers};
    return j;
}

static void *job_run(void *arg)
{
    struct lb_kernel_diag_job *j = arg;
    diag_all(&j->scope, &j->found);
    atomic_store_explicit(&j->done, 1, memory_order_release);
    return NULL;
}

/* The thread's counts into c once it has finished. */
static void job_join(struct lb_kernel_diag *d, struct lb_census *c)
{
    struct lb_kernel_diag_job *j = d->job;
    pthread_join(j->thread, NULL);
    if (c) {
        const struct lb_census *f = &j->found;
        c->tw_frontend += f->tw_frontend;
        c->tw_backend += f->tw_backend;
        c->tw_respond += f->tw_respond;
        c->states[SF_TIME_WAIT] += f->states[SF_TIME_WAIT];
        c->states[SF_SYN_RECEIVED] += f->states[SF_SYN_RECEIVED];
        if (f->diag_error)
            c->diag_error = f->diag_error;
    }
    job_free(j);
    d->job = NULL;
}

void lb_kernel_census_diag_reset(struct lb_kernel_diag *d)
{
    if (d->job)
        job_join(d, NULL);
    d->started = 0;
}

int lb_kernel_census_diag_step(struct lb_kernel_diag *d, const struct lb_census_scope *s,
                               struct lb_census *c, int background)
{
    if (!d->started) {
        d->started = 1;
        if (background && (s->nfrontends || s->nresponds || s->nservers))
            d->job = job_new(s);
        if (d->job) {
            /* Signals stay blocked in the thread: it inherits the loop's mask. */
            if (pthread_create(&d->job->thread, NULL, job_run, d->job) == 0) {
                pthread_setname_np(d->job->thread, "synfin-census");
                return LB_CENSUS_WAIT;
            }
            job_free(d->job);
            d->job = NULL;
        }
        diag_all(s, c);
        d->started = 0;
        return LB_CENSUS_DONE;
    }
    if (!atomic_load_explicit(&d->job->done, memory_order_acquire))
        return LB_CENSUS_WAIT;
    job_join(d, c);
    d->started = 0;
    return LB_CENSUS_DONE;
}

void lb_kernel_pub_store(struct lb_kernel_pub *p)
{
    for (int i = 0; i < SF_STATE_COUNT; i++)
        atomic_store_explicit(&p->states[i], p->work.states[i], memory_order_relaxed);
    p->running = 0;
}

void lb_kernel_pub_add(const struct lb_kernel_pub *p, struct lb_census *c)
{
    for (int i = 0; i < SF_STATE_COUNT; i++)
        c->states[i] += atomic_load_explicit(&p->states[i], memory_order_relaxed);
}
