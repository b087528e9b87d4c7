/* Server connections of http sessions and the per-server pool of idle ones; see pool.h. */
#include "lb/pool.h"
#include "lb/counter.h"
#include "lb/lb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

const char *lb_pconn_cause_name(int c)
{
    static const char *const names[LB_PC_N] = {
        "server_close", "server_rst", "idle_timeout", "max_requests", "pool_full",
        "aborted",      "private",    "tunnel",       "server_gone",
    };
    return c >= 0 && c < LB_PC_N ? names[c] : "?";
}

void lb_pool_init(struct lb_pool *p, struct sf_loop *loop)
{
    memset(p, 0, sizeof *p);
    p->loop = loop;
}

void lb_pool_configure(struct lb_pool *p, const struct lb_http_be_conf *h,
                       const struct lb_profile *server_side)
{
    p->max_idle = h->pool_max_idle;
    p->max_requests = h->pool_max_requests;
    p->idle_timeout_ms = h->pool_idle_timeout_ms;
    p->fin_wait_ms = server_side->server_fin_timeout_ms;
    p->close_rst = server_side->server_close == LB_CLOSE_RST;
    while (p->idle > p->max_idle)
        lb_pconn_close(p->tail, LB_PC_POOL_FULL);
}

int lb_pool_eligible(const struct lb_pconn *pc, int reuse, int first)
{
    switch (reuse) {
    case LB_REUSE_ALWAYS: return 1;
    case LB_REUSE_AGGRESSIVE: return !first || pc->requests >= 2;
    case LB_REUSE_SAFE: return !first;
    default: return 0;
    }
}

static void unlink_idle(struct lb_pconn *pc)
{
    struct lb_pool *p = pc->pool;
    if (pc->prev)
        pc->prev->next = pc->next;
    else
        p->head = pc->next;
    if (pc->next)
        pc->next->prev = pc->prev;
    else
        p->tail = pc->prev;
    pc->prev = pc->next = NULL;
    pc->idle = 0;
    LB_COUNT_DEC(p->idle);
    sf_loop_timer_cancel(p->loop, &pc->timer);
}

static void unlink_closing(struct lb_pconn *pc)
{
    struct lb_pool *p = pc->pool;
    if (pc->prev)
        pc->prev->next = pc->next;
    else
        p->closing = pc->next;
    if (pc->next)
        pc->next->prev = pc->prev;
    pc->prev = pc->next = NULL;
    pc->closing = 0;
    p->nclosing--;
}

static void on_idle_timer(struct sf_loop_timer *t)
{
    struct lb_pconn *pc = CONTAINER(t, struct lb_pconn, timer);
    lb_pconn_close(pc, pc->closing ? pc->cause : LB_PC_IDLE_TIMEOUT);
}

struct lb_pconn *lb_pconn_new(struct lb_server *srv, struct lb_pool *p, struct lb_conn *c,
                              uint64_t now)
{
    struct lb_pconn *pc = calloc(1, sizeof *pc);
    if (!pc)
        return NULL;
    pc->c = c;
    pc->srv = srv;
    srv->refs++;
    pc->pool = p;
    pc->t_open = now;
    pc->timer.fn = on_idle_timer;
    LB_COUNT_INC(p->opened);
    return pc;
}

void lb_pconn_close(struct lb_pconn *pc, int cause)
{
    struct lb_pool *p = pc->pool;
    if (pc->idle)
        unlink_idle(pc);
    if (pc->closing) {
        unlink_closing(pc);
        cause = pc->cause;
    }
    sf_loop_timer_cancel(p->loop, &pc->timer);
    int rst = cause == LB_PC_SERVER_RST || cause == LB_PC_ABORTED;
    /* RST leaves no TIME_WAIT (and ends the server's FIN_WAIT_2 after its own FIN), but
     * would discard what the server has not acknowledged: only when nothing is in flight. */
    if (!rst && p->close_rst && lb_conn_unacked(pc->c) == 0)
        rst = 1;
    if (rst)
        lb_conn_abort(pc->c);
    else
        lb_conn_close(pc->c);
    LB_COUNT_INC(p->closed[cause < LB_PC_N ? cause : LB_PC_ABORTED]);
    lb_server_put(pc->srv);
    free(pc);
}

/* An event on an idle connection: its server closed or reset it, or sent what nobody
 * asked for (a 408 before closing, say). Either way it cannot carry a request. */
static int look(struct lb_pconn *pc)
{
    char b[512];
    ssize_t n = lb_conn_read(pc->c, b, sizeof b);
    if (n == -EAGAIN) {
        pc->side.rd = 0;
        return -1;
    }
    return n < 0 ? LB_PC_SERVER_RST : LB_PC_SERVER_CLOSE; /* stray bytes: it is ending */
}

static void on_idle_event(void *ctx, struct lb_conn *c, unsigned ev)
{
    struct lb_pconn *pc = ctx;
    (void)c;
    if (ev & LB_EV_ERROR) {
        lb_pconn_close(pc, LB_PC_SERVER_RST);
        return;
    }
    if (ev & (LB_EV_READ | LB_EV_HUP)) {
        int cause = look(pc);
        if (cause >= 0)
            lb_pconn_close(pc, cause);
    }
}

struct lb_pconn *lb_pool_take(struct lb_pool *p, int reuse, int first, int check_fin)
{
    struct lb_pconn *pc = p->head;
    while (pc) {
        struct lb_pconn *next = pc->next;
        if (lb_pool_eligible(pc, reuse, first)) {
            if (check_fin && lb_conn_peer_fin(pc->c) != 0) {
                lb_pconn_close(pc, LB_PC_SERVER_CLOSE);
            } else {
                unlink_idle(pc);
                LB_COUNT_INC(p->reused);
                return pc;
            }
        }
        pc = next;
    }
    return NULL;
}

int lb_pool_put(struct lb_pconn *pc, const struct lb_side *side, uint64_t now)
{
    struct lb_pool *p = pc->pool;
    int cause = -1;
    pc->side = *side;
    pc->side.wr = 1;
    if (side->err)
        cause = LB_PC_SERVER_RST;
    else if (side->hup)
        cause = LB_PC_SERVER_CLOSE;
    else if (side->rd)
        cause = look(pc);
    if (cause < 0 && !lb_server_usable(pc->srv, now))
        cause = LB_PC_SERVER_GONE; /* removed by a reload, down, ejected */
    if (cause < 0 && p->max_requests && pc->requests >= p->max_requests)
        cause = LB_PC_MAX_REQUESTS;
    if (cause < 0 && p->idle >= p->max_idle)
        cause = LB_PC_POOL_FULL;
    if (cause < 0 &&
        sf_loop_timer_set(p->loop, &pc->timer, now + p->idle_timeout_ms * SF_NSEC_PER_MS) < 0)
        cause = LB_PC_POOL_FULL;
    if (cause >= 0) {
        lb_pconn_close(pc, cause);
        return 0;
    }
    pc->t_idle = now;
    pc->idle = 1;
    pc->prev = NULL;
    pc->next = p->head;
    if (p->head)
        p->head->prev = pc;
    else
        p->tail = pc;
    p->head = pc;
    LB_COUNT_INC(p->idle);
    lb_conn_set_handler(pc->c, on_idle_event, pc);
    return 1;
}

struct lb_conn *lb_pconn_detach(struct lb_pconn *pc)
{
    struct lb_conn *c = pc->c;
    LB_COUNT_INC(pc->pool->closed[LB_PC_TUNNEL]);
    lb_server_put(pc->srv);
    free(pc);
    return c;
}

/* A retiring connection: drops what comes until the server's FIN (or an error). */
static void on_closing_event(void *ctx, struct lb_conn *c, unsigned ev)
{
    struct lb_pconn *pc = ctx;
    char b[4096];
    (void)ev;
    for (;;) {
        ssize_t n = lb_conn_read(c, b, sizeof b);
        if (n == -EAGAIN)
            return;
        if (n <= 0) {
            lb_pconn_close(pc, n == 0 ? pc->cause : LB_PC_SERVER_RST);
            return;
        }
    }
}

void lb_pconn_retire(struct lb_pconn *pc, int cause)
{
    struct lb_pool *p = pc->pool;
    uint64_t now = sf_loop_now(p->loop);
    if (p->close_rst || lb_conn_peer_fin(pc->c) != 0 ||
        sf_loop_timer_set(p->loop, &pc->timer, now + p->fin_wait_ms * SF_NSEC_PER_MS) < 0) {
        lb_pconn_close(pc, cause);
        return;
    }
    pc->cause = cause;
    pc->closing = 1;
    pc->prev = NULL;
    pc->next = p->closing;
    if (p->closing)
        p->closing->prev = pc;
    p->closing = pc;
    p->nclosing++;
    lb_conn_set_handler(pc->c, on_closing_event, pc);
}

void lb_pool_purge(struct lb_pool *p, int cause)
{
    while (p->head)
        lb_pconn_close(p->head, cause);
    while (p->closing)
        lb_pconn_close(p->closing, p->closing->cause);
}
