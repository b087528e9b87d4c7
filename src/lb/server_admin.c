/* The runtime API's changes to servers: drain, maint, ready, weight (docs/lb.md, "Runtime
 * API"). Each is one log line naming who asked, and shows in /stats and /metrics. */
#include "lb/lb.h"
#include "lb/session.h"

#include <string.h>

struct lb_server *lb_server_find(struct lb *lb, const char *backend, const char *server)
{
    for (size_t i = 0; i < lb->nbe; i++) {
        struct lb_backend *b = lb->be[i];
        if (strcmp(b->conf.name, backend))
            continue;
        for (size_t j = 0; j < b->nservers; j++)
            if (!strcmp(b->servers[j]->name, server))
                return b->servers[j];
    }
    return NULL;
}

/* The set of servers taking new sessions changed: Maglev rebuilds, the queue may move. */
static void changed(struct lb *lb, struct lb_server *s)
{
    struct lb_backend *b = s->backend;
    b->health_gen++;
    lb_backend_kick(lb, b);
}

int lb_server_set_state(struct lb *lb, struct lb_server *s, int state, const char *who)
{
    int old = s->admin_state;
    lb_logf(lb, "event=server_admin backend=%s server=%s what=state old=%s new=%s by=%s",
            s->backend->conf.name, s->name, lb_srv_admin_name(old), lb_srv_admin_name(state), who);
    lb_server_apply_state(lb, s, state);
    lb_server_publish(lb, s);
    return old;
}

void lb_server_apply_state(struct lb *lb, struct lb_server *s, int state)
{
    s->admin_state = state;
    changed(lb, s);
    if (state == LB_SRV_MAINT) {
        /* Out now: idle pooled connections close, and so do the sessions it serves. */
        lb_pool_purge(&s->pool, LB_PC_SERVER_GONE);
        struct lb_session *n;
        for (struct lb_session *x = lb->sessions; x; x = n) {
            n = x->next;
            if (x->srv == s)
                lb_session_kill(x, LB_CAUSE_ADMIN_KILL);
        }
    }
}

uint32_t lb_server_set_weight(struct lb *lb, struct lb_server *s, uint32_t weight, const char *who)
{
    uint32_t old = s->weight;
    lb_logf(lb, "event=server_admin backend=%s server=%s what=weight old=%u new=%u by=%s",
            s->backend->conf.name, s->name, old, weight, who);
    lb_server_apply_weight(lb, s, weight);
    if (s->sh)
        atomic_fetch_add(&s->sh->weight_gen, 1);
    lb_server_publish(lb, s);
    return old;
}

void lb_server_apply_weight(struct lb *lb, struct lb_server *s, uint32_t weight)
{
    s->weight = weight;
    /* The smooth round robin starts over with the new weights. */
    for (size_t i = 0; i < s->backend->nservers; i++)
        s->backend->servers[i]->swrr_current = 0;
    changed(lb, s);
}

void lb_server_reload_runtime(struct lb *lb, struct lb_server *s, const struct lb_server_conf *sc)
{
    if (sc->weight != s->weight_conf || s->weight == s->weight_conf)
        s->weight = sc->weight;
    else
        lb_logf(lb, "event=reload_kept backend=%s server=%s what=weight value=%u config=%u",
                s->backend->conf.name, s->name, s->weight, sc->weight);
    s->weight_conf = sc->weight;
    if (s->admin_state != LB_SRV_READY)
        lb_logf(lb, "event=reload_kept backend=%s server=%s what=state value=%s",
                s->backend->conf.name, s->name, lb_srv_admin_name(s->admin_state));
}
