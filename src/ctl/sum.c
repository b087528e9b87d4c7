/* Summing each thread's counters for the admin listener (sum.h). */
#include "ctl/sum.h"
#include "lb/counter.h"

#include <string.h>

static uint64_t load(const void *base, size_t off, size_t size)
{
    const char *p = (const char *)base + off;
    if (size == 8)
        return LB_COUNT_LOAD(*(const uint64_t *)(const void *)p);
    return LB_COUNT_LOAD(*(const uint32_t *)(const void *)p);
}

static uint32_t nthreads(const struct lb *lb)
{
    return lb->shared ? lb->shared->nthreads : 1;
}

static const struct lb *on(const struct lb *lb, uint32_t t)
{
    return lb->shared ? lb->shared->lb[t] : lb;
}

static const struct lb_frontend *fe_on(const struct lb *o, const struct lb_frontend *f, size_t i)
{
    if (i < o->nfe && !strcmp(o->fe[i]->conf.name, f->conf.name))
        return o->fe[i];
    for (size_t k = 0; k < o->nfe; k++)
        if (!strcmp(o->fe[k]->conf.name, f->conf.name))
            return o->fe[k];
    return NULL;
}

static const struct lb_backend *be_on(const struct lb *o, const struct lb_backend *b, size_t i)
{
    if (i < o->nbe && !strcmp(o->be[i]->conf.name, b->conf.name))
        return o->be[i];
    for (size_t k = 0; k < o->nbe; k++)
        if (!strcmp(o->be[k]->conf.name, b->conf.name))
            return o->be[k];
    return NULL;
}

static const struct lb_server *srv_on(const struct lb_backend *b, const struct lb_server *s,
                                      size_t j)
{
    if (j < b->nservers && !strcmp(b->servers[j]->name, s->name))
        return b->servers[j];
    for (size_t k = 0; k < b->nservers; k++)
        if (!strcmp(b->servers[k]->name, s->name))
            return b->servers[k];
    return NULL;
}

uint64_t ctl_sum_fe(const struct lb *lb, size_t i, size_t off, size_t size, int max)
{
    uint64_t n = 0;
    for (uint32_t t = 0; t < nthreads(lb); t++) {
        const struct lb_frontend *f = fe_on(on(lb, t), lb->fe[i], i);
        uint64_t v = f ? load(f, off, size) : 0;
        n = max ? (v > n ? v : n) : n + v;
    }
    return n;
}

uint64_t ctl_sum_be(const struct lb *lb, size_t i, size_t off, size_t size)
{
    uint64_t n = 0;
    for (uint32_t t = 0; t < nthreads(lb); t++) {
        const struct lb_backend *b = be_on(on(lb, t), lb->be[i], i);
        n += b ? load(b, off, size) : 0;
    }
    return n;
}

uint64_t ctl_sum_srv(const struct lb *lb, size_t i, size_t j, size_t off, size_t size)
{
    uint64_t n = 0;
    for (uint32_t t = 0; t < nthreads(lb); t++) {
        const struct lb_backend *b = be_on(on(lb, t), lb->be[i], i);
        const struct lb_server *s = b ? srv_on(b, lb->be[i]->servers[j], j) : NULL;
        n += s ? load(s, off, size) : 0;
    }
    return n;
}

uint64_t ctl_sum_lb(const struct lb *lb, size_t off, size_t size)
{
    uint64_t n = 0;
    for (uint32_t t = 0; t < nthreads(lb); t++)
        n += load(on(lb, t), off, size);
    return n;
}

uint64_t ctl_sum_tp(const struct lb *lb, size_t off, size_t size)
{
    uint64_t n = 0;
    for (uint32_t t = 0; t < nthreads(lb); t++)
        n += load(on(lb, t)->tp, off, size);
    return n;
}

void ctl_sum_histo(const struct lb *lb, size_t i, size_t off, struct lb_histo *out)
{
    memset(out, 0, sizeof *out);
    for (uint32_t t = 0; t < nthreads(lb); t++) {
        const struct lb_backend *b = be_on(on(lb, t), lb->be[i], i);
        if (!b)
            continue;
        const struct lb_histo *h = (const struct lb_histo *)(const void *)((const char *)b + off);
        for (int k = 0; k <= LB_HISTO_BUCKETS; k++)
            out->bucket[k] += LB_COUNT_LOAD(h->bucket[k]);
        out->sum_ns += LB_COUNT_LOAD(h->sum_ns);
        out->count += LB_COUNT_LOAD(h->count);
    }
}
