/* The registry of what threads share (shared.h). Records are found by name under a mutex:
 * that happens when a configuration is applied, never per session. */
#include "lb/shared.h"
#include "lb/backend.h"
#include "lb/loopset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lb_shared *lb_shared_new(uint32_t nthreads)
{
    struct lb_shared *sh = calloc(1, sizeof *sh);
    if (!sh)
        return NULL;
    sh->stat = calloc(nthreads, sizeof *sh->stat);
    sh->lb = calloc(nthreads, sizeof *sh->lb);
    sh->loops = lb_loopset_new();
    if (!sh->stat || !sh->lb || !sh->loops || pthread_mutex_init(&sh->mu, NULL) != 0) {
        free(sh->stat);
        free(sh->lb);
        lb_loopset_free(sh->loops);
        free(sh);
        return NULL;
    }
    sh->nthreads = nthreads;
    for (uint32_t i = 0; i < nthreads; i++)
        sh->stat[i].wake_fd = -1; /* until its thread is made (lb_set_thread) */
    return sh;
}

void lb_shared_free(struct lb_shared *sh)
{
    if (!sh)
        return;
    /* Every thread's objects are gone by now: what is left was never put back. */
    while (sh->srv) {
        struct lb_shared_srv *n = sh->srv->next;
        free(sh->srv);
        sh->srv = n;
    }
    while (sh->fe) {
        struct lb_shared_fe *n = sh->fe->next;
        free(sh->fe);
        sh->fe = n;
    }
    pthread_mutex_destroy(&sh->mu);
    free(sh->stat);
    free(sh->lb);
    lb_loopset_free(sh->loops);
    free(sh);
}

struct lb_shared_srv *lb_shared_srv_get(struct lb_shared *sh, const char *backend, const char *name,
                                        const struct lb_addr *addr, uint32_t weight)
{
    pthread_mutex_lock(&sh->mu);
    struct lb_shared_srv *s;
    for (s = sh->srv; s; s = s->next)
        if (!strcmp(s->backend, backend) && !strcmp(s->name, name) && lb_addr_equal(&s->addr, addr))
            break;
    if (!s && (s = calloc(1, sizeof *s))) {
        snprintf(s->backend, sizeof s->backend, "%s", backend);
        snprintf(s->name, sizeof s->name, "%s", name);
        s->addr = *addr;
        s->reg = sh;
        atomic_init(&s->up, 1);
        atomic_init(&s->admin_state, LB_SRV_READY);
        atomic_init(&s->weight, weight);
        s->next = sh->srv;
        sh->srv = s;
    }
    if (s)
        s->refs++;
    pthread_mutex_unlock(&sh->mu);
    return s;
}

void lb_shared_srv_put(struct lb_shared_srv *s)
{
    if (!s)
        return;
    struct lb_shared *sh = s->reg;
    pthread_mutex_lock(&sh->mu);
    if (--s->refs == 0) {
        for (struct lb_shared_srv **p = &sh->srv; *p; p = &(*p)->next)
            if (*p == s) {
                *p = s->next;
                break;
            }
        free(s);
    }
    pthread_mutex_unlock(&sh->mu);
}

struct lb_shared_fe *lb_shared_fe_get(struct lb_shared *sh, const char *name)
{
    pthread_mutex_lock(&sh->mu);
    struct lb_shared_fe *f;
    for (f = sh->fe; f; f = f->next)
        if (!strcmp(f->name, name))
            break;
    if (!f && (f = calloc(1, sizeof *f))) {
        snprintf(f->name, sizeof f->name, "%s", name);
        f->reg = sh;
        f->next = sh->fe;
        sh->fe = f;
    }
    if (f)
        f->refs++;
    pthread_mutex_unlock(&sh->mu);
    return f;
}

void lb_shared_fe_put(struct lb_shared_fe *f)
{
    if (!f)
        return;
    struct lb_shared *sh = f->reg;
    pthread_mutex_lock(&sh->mu);
    if (--f->refs == 0) {
        for (struct lb_shared_fe **p = &sh->fe; *p; p = &(*p)->next)
            if (*p == f) {
                *p = f->next;
                break;
            }
        free(f);
    }
    pthread_mutex_unlock(&sh->mu);
}
