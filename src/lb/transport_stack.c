/* The stack transport: the balancer's connections on synfin's own TCP engine, over the host
 * glue (io/host.h: a TUN device, the engine, the clock, transmit batching) on the balancer's
 * event loop. No descriptor per connection; every timer and close path is the engine's, set
 * per frontend and per backend through engine profiles (sf_profile), and every transition is
 * seen here with its cause.
 *
 * Events. The engine hands events to a connection's handler at the end of the engine call
 * that caused them. They wait on a ready list (one entry per connection, its events OR-ed, in
 * the order they arose) while a batch of packets from the device goes in, and go to the
 * balancer after the last packet of it: as on kernel sockets, where the kernel has taken a
 * whole batch before epoll reports any of it, a session that asks "has the server's FIN
 * arrived?" (lb_conn_peer_fin) sees every packet of the batch. Events from a timer go at
 * once. Those that arise inside one of our calls (a write, a connect, an accept made by
 * session code) wait for a loop timer set for now: no handler ever runs inside a transport
 * call (the contract of transport.h).
 *
 * Profiles. A frontend's or backend's engine settings come as a struct sf_tcp_config in the
 * socket options; equal settings share one engine profile, made on first use and kept for the
 * transport's life (a reload makes at most a few more).
 *
 * Room and loops (transport.h): a connection costs memory here, which nothing bounds yet
 * (room says yes; a failed allocation is -ENOMEM). Loops are refused as on kernel sockets. */
#include "lb/config_stack.h"
#include "lb/counter.h"
#include "lb/transport_stack_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "io/host.h"
#include "io/loop.h"
#include "util/strbuf.h"

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define PORT_TRIES                   256 /* ports tried in a source's range per connect */

static const struct lb_transport_ops stack_ops;

/* ---- addresses ---- */

static struct sf_endpoint to_endpoint(const struct lb_addr *a)
{
    struct sf_endpoint ep;
    memset(&ep, 0, sizeof ep);
    if (a->u.sa.sa_family == AF_INET6) {
        ep.addr.family = SF_AF_INET6;
        memcpy(ep.addr.u.v6, &a->u.in6.sin6_addr, 16);
        ep.port = ntohs(a->u.in6.sin6_port);
        return ep;
    }
    ep.addr.family = SF_AF_INET;
    memcpy(ep.addr.u.v4, &a->u.in4.sin_addr, 4);
    ep.port = ntohs(a->u.in4.sin_port);
    return ep;
}

static struct lb_addr from_endpoint(const struct sf_endpoint *ep)
{
    struct lb_addr a;
    memset(&a, 0, sizeof a);
    if (ep->addr.family == SF_AF_INET6) {
        a.u.in6.sin6_family = AF_INET6;
        memcpy(&a.u.in6.sin6_addr, ep->addr.u.v6, 16);
        a.u.in6.sin6_port = htons(ep->port);
        a.len = sizeof a.u.in6;
        return a;
    }
    a.u.in4.sin_family = AF_INET;
    memcpy(&a.u.in4.sin_addr, ep->addr.u.v4, 4);
    a.u.in4.sin_port = htons(ep->port);
    a.len = sizeof a.u.in4;
    return a;
}

/* ---- event delivery ---- */

static void ready_unlink(struct stransport *tp, struct sready *r)
{
    if (!r->queued)
        return;
    if (r->prev)
        r->prev->next = r->next;
    else
        tp->ready_head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        tp->ready_tail = r->prev;
    r->prev = r->next = NULL;
    r->queued = 0;
}

/* Queues r's events (OR-ed into pending), for delivery after the batch or our call. */
static void ready_push(struct stransport *tp, struct sready *r, unsigned ev)
{
    r->pending |= ev;
    if (!r->queued) {
        r->queued = 1;
        r->next = NULL;
        r->prev = tp->ready_tail;
        if (tp->ready_tail)
            tp->ready_tail->next = r;
        else
            tp->ready_head = r;
        tp->ready_tail = r;
    }
    if (!sf_loop_timer_armed(&tp->deliver))
        sf_loop_timer_set(tp->base.loop, &tp->deliver, sf_loop_now(tp->base.loop));
}

static void fire(struct sready *r, unsigned ev)
{
    if (r->listener) {
        struct slistener *l = CONTAINER(r, struct slistener, r);
        if (l->fn)
            l->fn(l->ctx, &l->base);
        return;
    }
    struct sconn *s = CONTAINER(r, struct sconn, r);
    if (s->fn)
        s->fn(s->ctx, &s->base, ev); /* s may be gone after this */
}

/* Everything waiting, in order; a handler may close anything (its entry goes with it). */
static void deliver_ready(struct stransport *tp)
{
    while (tp->ready_head) {
        struct sready *r = tp->ready_head;
        ready_unlink(tp, r);
        unsigned ev = r->pending;
        r->pending = 0;
        fire(r, ev);
    }
}

/* Events from the engine: at once when nothing of ours runs (a timer), else queued. */
static void post(struct stransport *tp, struct sready *r, unsigned ev)
{
    if (tp->in_call) {
        ready_push(tp, r, ev);
        return;
    }
    ev |= r->pending; /* what waited goes now, once */
    r->pending = 0;
    ready_unlink(tp, r);
    fire(r, ev);
}

static void on_deliver(struct sf_loop_timer *t)
{
    struct stransport *tp = CONTAINER(t, struct stransport, deliver);
    /* Events the engine holds for a connection just accepted go out at its next call. */
    sf_engine_advance(tp->e, sf_loop_now(tp->base.loop) / 1000u);
    deliver_ready(tp);
}

static void on_batch(void *ctx, int begin)
{
    struct stransport *tp = ctx;
    if (begin) {
        tp->in_call++;
        return;
    }
    if (--tp->in_call == 0)
        deliver_ready(tp); /* the batch is in: the balancer is not running, go now */
}

static unsigned lb_events(struct sconn *s, unsigned ev)
{
    unsigned out = 0;
    if (ev & SF_EV_CONNECTED) {
        s->connecting = 0;
        out |= LB_EV_WRITE;
    }
    if (ev & SF_EV_READABLE)
        out |= LB_EV_READ;
    if (ev & SF_EV_WRITABLE)
        out |= LB_EV_WRITE;
    if (ev & SF_EV_PEER_FIN)
        out |= LB_EV_HUP | LB_EV_READ;
    if (ev & SF_EV_RESET) {
        if (s->connecting) {
            /* A failed connect: its error belongs to connect_result, reads and writes. */
            int err = sf_take_error(s->c);
            if (!s->connect_err) /* -ELOOP says more than the reset that follows it */
                s->connect_err = -(err ? err : ECONNREFUSED);
            s->connecting = 0;
        }
        out |= LB_EV_ERROR | LB_EV_READ | LB_EV_WRITE;
    }
    return out;
}

static void on_conn_event(struct sf_conn *c, unsigned ev, void *user)
{
    struct sconn *s = user;
    (void)c;
    unsigned out = lb_events(s, ev);
    if (out)
        post(s->tp, &s->r, out);
}

static void on_listener_event(struct sf_conn *c, unsigned ev, void *user)
{
    struct slistener *l = user;
    (void)c;
    if (ev & SF_EV_ACCEPT)
        post(l->tp, &l->r, 1);
}

/* ---- profiles ---- */

/* The engine profile for these settings, made on first use. NULL: the engine's own. */
static struct sf_profile *profile_for(struct stransport *tp, const struct sf_tcp_config *want)
{
    if (!want)
        return NULL;
    struct sf_tcp_config cfg = *want;
    const struct sf_tcp_config *eng = sf_host_tcp_config(tp->host);
    if (cfg.mss > eng->mss)
        cfg.mss = eng->mss; /* the device's MTU bounds every profile */
    for (struct sprofile *p = tp->profiles; p; p = p->next)
        if (!memcmp(&p->cfg, &cfg, sizeof cfg))
            return p->p;
    struct sprofile *p = calloc(1, sizeof *p);
    char err[160];
    if (!p || !(p->p = sf_profile_new(tp->e, &cfg, err, sizeof err))) {
        free(p);
        return NULL; /* the config check passed these settings: only memory can fail here */
    }
    p->cfg = cfg;
    p->next = tp->profiles;
    tp->profiles = p;
    return p->p;
}

static void apply_sockopts(struct stransport *tp, struct sf_conn *c, const struct lb_sockopts *o)
{
    struct sf_profile *p = profile_for(tp, o->tcp);
    if (p)
        sf_set_profile(c, p);
    if (o->nodelay)
        sf_setopt(c, SF_OPT_NODELAY, 1);
    if (o->keepalive) {
        if (o->keepalive_idle_s)
            sf_setopt(c, SF_OPT_KEEPIDLE, o->keepalive_idle_s);
        if (o->keepalive_intvl_s)
            sf_setopt(c, SF_OPT_KEEPINTVL, o->keepalive_intvl_s);
        if (o->keepalive_cnt)
            sf_setopt(c, SF_OPT_KEEPCNT, o->keepalive_cnt);
        sf_setopt(c, SF_OPT_KEEPALIVE, 1);
    }
    if (o->user_timeout_ms)
        sf_setopt(c, SF_OPT_USER_TIMEOUT, o->user_timeout_ms);
    if (o->fastopen_connect) /* -EOPNOTSUPP when the profile's fastopen lacks the client bit */
        sf_setopt(c, SF_OPT_FASTOPEN_CONNECT, 1);
}

/* ---- connections ---- */

static struct sconn *sconn_new(struct stransport *tp, struct sf_conn *c, lb_conn_fn fn, void *ctx)
{
    struct sconn *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->base.ops = &stack_ops;
    s->tp = tp;
    s->c = c;
    s->fn = fn;
    s->ctx = ctx;
    sf_set_handler(c, on_conn_event, s);
    LB_COUNT_INC(tp->base.conn_open);
    return s;
}

/* A fresh connection bound to src (a port of its range, or an ephemeral one), connected to
 * dst. -EADDRNOTAVAIL when the 4-tuple is taken: the caller tries another port. */
static int try_connect(struct stransport *tp, const struct lb_connect_opts *o, uint16_t port,
                       struct sf_conn **out)
{
    struct sf_conn *c = sf_socket(tp->e);
    if (!c)
        return -ENOMEM;
    apply_sockopts(tp, c, &o->sock);
    int rc = 0;
    if (o->src) {
        struct sf_endpoint local = to_endpoint(&o->src->addr);
        local.port = port;
        sf_setopt(c, SF_OPT_REUSEADDR, 1); /* many servers share one source port */
        rc = sf_bind(c, &local);
    }
    struct sf_endpoint remote = to_endpoint(&o->dst);
    if (rc == 0)
        rc = sf_connect(c, &remote);
    if (rc != -EINPROGRESS && rc != 0) {
        sf_abort(c);
        return rc;
    }
    *out = c;
    return 0;
}

static int s_connect(struct lb_transport *t, const struct lb_connect_opts *o, lb_conn_fn fn,
                     void *ctx, struct lb_conn **out)
{
    struct stransport *tp = (struct stransport *)t;
    struct sf_conn *c = NULL;
    int rc;
    tp->in_call++;
    if (o->src && (o->src->port_lo || tp->queues > 1)) {
        /* A source's range, or with threads the engine's ephemeral range (a port bound
         * before the connect could not be chosen for the destination): the ports whose flow
         * the steering rule maps to this thread's queue (io/steer.h), so 1 in `queues`. */
        struct lb_source *src = o->src;
        const struct sf_tcp_config *eng = sf_host_tcp_config(tp->host);
        uint32_t lo = src->port_lo ? src->port_lo : eng->port_range_lo;
        uint32_t hi = src->port_lo ? src->port_hi : eng->port_range_hi;
        uint32_t n = hi - lo + 1, dport = lb_addr_port(&o->dst), tried = 0;
        rc = -EADDRNOTAVAIL;
        for (uint32_t i = 0; i < n && tried < PORT_TRIES && rc == -EADDRNOTAVAIL; i++) {
            uint32_t port = lo + (src->next++ % n);
            if (sf_steer_ports(port, dport, tp->queues) != tp->queue)
                continue;
            tried++;
            rc = try_connect(tp, o, (uint16_t)port, &c);
        }
        if (rc == -EADDRNOTAVAIL)
            rc = -EADDRINUSE; /* every port tried is busy: as on kernel sockets, they come back */
    } else {
        rc = try_connect(tp, o, 0, &c);
    }
    struct sconn *s = NULL;
    if (rc == 0 && !(s = sconn_new(tp, c, fn, ctx))) {
        sf_abort(c);
        rc = -ENOMEM;
    }
    tp->in_call--;
    if (rc < 0)
        return rc;
    s->peer = o->dst;
    s->outgoing = 1;
    s->connecting = sf_conn_state(c) == SF_SYN_SENT;
    if (s->connecting && sf_fastopen_room(c)) {
        /* Fast Open with a cookie: connected as far as the session can tell (as Linux's
         * TCP_FASTOPEN_CONNECT), its first write goes in the SYN. A refusal then reaches it
         * as a reset on read or write, not as a failed connect. */
        s->connecting = 0;
        ready_push(tp, &s->r, LB_EV_WRITE);
    }
    struct sf_conn_info in;
    sf_info(c, &in);
    s->local = from_endpoint(&in.local);
    s->indexed = lb_epset_add(&tp->out, &s->local, s) == 0;
    *out = &s->base;
    return 0;
}

static int s_connect_result(struct lb_conn *cc)
{
    struct sconn *s = (struct sconn *)cc;
    if (s->connect_err)
        return s->connect_err;
    return s->connecting ? -EINPROGRESS : 0;
}

static ssize_t s_read(struct lb_conn *cc, void *buf, size_t len)
{
    struct sconn *s = (struct sconn *)cc;
    if (s->connect_err)
        return s->connect_err;
    s->tp->in_call++;
    ssize_t n = sf_recv(s->c, buf, len);
    s->tp->in_call--;
    return n;
}

/* FIN_NEXT: a cork holds the last partial segment so that the FIN the caller promises rides
 * on it (one packet fewer), as MSG_MORE does on the kernel transport; if the write did not
 * take everything, no FIN follows now and the cork goes. */
static ssize_t s_write(struct lb_conn *cc, const void *buf, size_t len, unsigned flags)
{
    struct sconn *s = (struct sconn *)cc;
    if (s->connect_err)
        return s->connect_err;
    struct stransport *tp = s->tp;
    tp->in_call++;
    int cork = (flags & LB_WRITE_FIN_NEXT) != 0;
    if (cork && !s->corked) {
        sf_setopt(s->c, SF_OPT_CORK, 1);
        s->corked = 1;
    }
    ssize_t n = sf_send(s->c, buf, len);
    if (s->corked && (!cork || n < (ssize_t)len)) {
        sf_setopt(s->c, SF_OPT_CORK, 0);
        s->corked = 0;
    }
    tp->in_call--;
    return n;
}

static int s_shutdown_write(struct lb_conn *cc)
{
    struct sconn *s = (struct sconn *)cc;
    struct stransport *tp = s->tp;
    tp->in_call++;
    int rc = sf_shutdown(s->c, SF_SHUT_WR);
    if (s->corked) {
        sf_setopt(s->c, SF_OPT_CORK, 0); /* the FIN took the held tail with it */
        s->corked = 0;
    }
    tp->in_call--;
    if (rc == 0)
        s->fin_sent = 1;
    return rc;
}

static void sconn_free(struct sconn *s)
{
    if (s->indexed)
        lb_epset_del(&s->tp->out, &s->local, s);
    LB_COUNT_DEC(s->tp->base.conn_open);
    ready_unlink(s->tp, &s->r);
    free(s);
}

static void s_close(struct lb_conn *cc)
{
    struct sconn *s = (struct sconn *)cc;
    struct stransport *tp = s->tp;
    tp->in_call++;
    sf_close(s->c);
    tp->in_call--;
    sconn_free(s);
}

/* RST at once. A connection toward a server whose FIN went first and was followed by the
 * server's is already a TIME-WAIT entry: aborting its handle ends the entry too (counted by
 * the transition hook as tw_removed). TIME-WAIT toward clients is not ours to remove: such a
 * handle is only released. */
static void s_abort(struct lb_conn *cc)
{
    struct sconn *s = (struct sconn *)cc;
    struct stransport *tp = s->tp;
    tp->in_call++;
    if (!s->outgoing && sf_conn_state(s->c) == SF_CLOSED)
        sf_close(s->c);
    else
        sf_abort(s->c);
    tp->in_call--;
    sconn_free(s);
}

static int s_info(struct lb_conn *cc, struct lb_conn_info *i)
{
    struct sconn *s = (struct sconn *)cc;
    struct sf_conn_info in;
    sf_info(s->c, &in);
    memset(i, 0, sizeof *i);
    i->state = in.state;
    i->local = from_endpoint(&in.local);
    i->peer = s->peer;
    i->unacked = in.unacked;
    i->rtt_us = in.srtt_us;
    i->cause = sf_cause_name(in.last_cause);
    i->id = in.id;
    return 0;
}

static int s_unacked(struct lb_conn *cc)
{
    struct sconn *s = (struct sconn *)cc;
    struct sf_conn_info in;
    sf_info(s->c, &in);
    return (int)in.unacked;
}

static int s_peer_fin(struct lb_conn *cc)
{
    struct sconn *s = (struct sconn *)cc;
    if (s->connect_err)
        return s->connect_err;
    return (sf_poll(s->c) & SF_POLLRDHUP) != 0;
}

static const struct lb_addr *s_peer(struct lb_conn *cc)
{
    return &((struct sconn *)cc)->peer;
}

static void s_set_handler(struct lb_conn *cc, lb_conn_fn fn, void *ctx)
{
    struct sconn *s = (struct sconn *)cc;
    s->fn = fn;
    s->ctx = ctx;
}

/* ---- listeners ---- */

static int s_listen(struct lb_transport *t, const struct lb_listen_opts *o, lb_listener_fn fn,
                    void *ctx, struct lb_listener **out)
{
    struct stransport *tp = (struct stransport *)t;
    if (o->addr.u.sa.sa_family != AF_INET && o->addr.u.sa.sa_family != AF_INET6)
        return -EAFNOSUPPORT;
    struct slistener *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    tp->in_call++;
    int rc = (l->c = sf_socket(tp->e)) ? 0 : -ENOMEM;
    if (rc == 0) {
        apply_sockopts(tp, l->c, &o->sock);
        struct sf_endpoint ep = to_endpoint(&o->addr);
        rc = sf_bind(l->c, &ep);
    }
    if (rc == 0)
        rc = sf_listen(l->c, o->backlog > 0 ? o->backlog : 511);
    if (rc < 0 && l->c)
        sf_abort(l->c);
    tp->in_call--;
    if (rc < 0) {
        free(l);
        return rc;
    }
    l->base.ops = &stack_ops;
    l->r.listener = 1;
    l->tp = tp;
    l->addr = o->addr;
    l->fn = fn;
    l->ctx = ctx;
    sf_set_handler(l->c, on_listener_event, l);
    LB_COUNT_INC(tp->base.conn_open);
    *out = &l->base;
    return 0;
}

static void s_listener_close(struct lb_listener *ll)
{
    struct slistener *l = (struct slistener *)ll;
    l->tp->in_call++;
    sf_close(l->c);
    l->tp->in_call--;
    ready_unlink(l->tp, &l->r);
    LB_COUNT_DEC(l->tp->base.conn_open);
    free(l);
}

static void s_listener_set_handler(struct lb_listener *ll, lb_listener_fn fn, void *ctx)
{
    struct slistener *l = (struct slistener *)ll;
    l->fn = fn;
    l->ctx = ctx;
}

static int s_listener_info(struct lb_listener *ll, struct lb_conn_info *i)
{
    struct slistener *l = (struct slistener *)ll;
    struct sf_conn_info in;
    sf_info(l->c, &in);
    memset(i, 0, sizeof *i);
    i->state = in.state;
    i->local = from_endpoint(&in.local);
    return 0;
}

/* Our outgoing connection that an accepted one from peer is, or NULL (see the kernel's). */
static struct sconn *own_peer(struct slistener *l, const struct lb_addr *peer)
{
    size_t it = 0;
    struct sconn *o;
    while ((o = lb_epset_next(&l->tp->out, peer, &it)))
        if (lb_addr_port(&o->peer) == lb_addr_port(&l->addr) &&
            (lb_addr_is_any(&o->peer) || lb_addr_is_any(&l->addr) ||
             lb_addr_same_host_unmapped(&o->peer, &l->addr)))
            return o;
    return NULL;
}

static int s_accept(struct lb_listener *ll, unsigned flags, lb_conn_fn fn, void *ctx,
                    struct lb_conn **out)
{
    struct slistener *l = (struct slistener *)ll;
    struct stransport *tp = l->tp;
    int err;
    tp->in_call++;
    struct sf_conn *c = sf_accept(l->c, &err);
    if (c && (flags & LB_ACCEPT_REFUSE_OWN) && tp->out.n) {
        struct sf_conn_info in;
        sf_info(c, &in);
        struct lb_addr peer = from_endpoint(&in.remote);
        struct sconn *o = own_peer(l, &peer);
        if (o) {
            if (!o->connect_err)
                o->connect_err = -ELOOP;
            sf_abort(c);
            tp->in_call--;
            return -ELOOP;
        }
    }
    struct sconn *s = NULL;
    if (c && !(s = sconn_new(tp, c, fn, ctx))) {
        sf_abort(c);
        err = -ENOMEM;
    }
    tp->in_call--;
    if (!s)
        return err;
    struct sf_conn_info in;
    sf_info(c, &in);
    s->peer = from_endpoint(&in.remote);
    *out = &s->base;
    /* What happened before the accept (data, the peer's FIN) is news: the engine delivers it
     * at its next call; make sure there is one soon. */
    if (!sf_loop_timer_armed(&tp->deliver))
        sf_loop_timer_set(tp->base.loop, &tp->deliver, sf_loop_now(tp->base.loop));
    return 0;
}

static int s_room(struct lb_transport *t, unsigned n, unsigned spare)
{
    (void)t, (void)n, (void)spare; /* no bound on the engine's memory yet */
    return 1;
}

static void s_free(struct lb_transport *t)
{
    struct stransport *tp = (struct stransport *)t;
    lb_epset_free(&tp->out);
    sf_loop_timer_cancel(t->loop, &tp->deliver);
    sf_host_free(tp->host);
    while (tp->profiles) {
        struct sprofile *p = tp->profiles;
        tp->profiles = p->next;
        sf_profile_release(p->p);
        free(p);
    }
    free(tp->tw_port);
    free(tp->arrows);
    free(tp->trace.ring);
    free(tp);
}

static const struct lb_transport_ops stack_ops = {
    .name = "stack",
    .listen = s_listen,
    .listener_close = s_listener_close,
    .listener_set_handler = s_listener_set_handler,
    .listener_info = s_listener_info,
    .accept = s_accept,
    .connect = s_connect,
    .connect_result = s_connect_result,
    .read = s_read,
    .write = s_write,
    .shutdown_write = s_shutdown_write,
    .close = s_close,
    .abort = s_abort,
    .info = s_info,
    .unacked = s_unacked,
    .peer_fin = s_peer_fin,
    .peer = s_peer,
    .set_handler = s_set_handler,
    .census = lb_stack_census,
    .census_published = lb_stack_census_published,
    .metrics = lb_stack_metrics,
    .publish = lb_stack_publish,
    .finishing = lb_stack_finishing,
    .room = s_room,
    .free = s_free,
};

struct lb_transport *lb_transport_stack_new(struct sf_loop *loop, const struct lb_transport_conf *c,
                                            char *err, size_t errlen)
{
    return lb_transport_stack_new_queue(loop, c, 0, 1, NULL, err, errlen);
}

struct lb_transport *lb_transport_stack_new_queue(struct sf_loop *loop,
                                                  const struct lb_transport_conf *c, unsigned queue,
                                                  unsigned queues, struct lb_transport *first,
                                                  char *err, size_t errlen)
{
    struct stransport *tp = calloc(1, sizeof *tp);
    if (!tp || !(tp->tw_port = calloc(65536, sizeof *tp->tw_port)) ||
        !(tp->arrows = calloc(LB_ARROWS_LEN, sizeof *tp->arrows)) ||
        !(tp->trace.ring = calloc(LB_TRACE_LEN, sizeof *tp->trace.ring))) {
        if (tp) {
            free(tp->tw_port);
            free(tp->arrows);
        }
        free(tp);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    tp->base.ops = &stack_ops;
    tp->base.loop = loop;
    tp->base.census_instant = 1;
    tp->base.arrows = tp->arrows;
    tp->base.trace = &tp->trace;
    tp->base.conn_limit = UINT64_MAX;
    lb_epset_init(&tp->out);
    tp->deliver.fn = on_deliver;
    struct sf_host_config hc;
    memset(&hc, 0, sizeof hc);
    hc.fd = c->device_fd;
    hc.tun = c->tun;
    hc.queue = queue;
    hc.queues = queues;
    hc.from = first && first->ops == &stack_ops ? ((struct stransport *)first)->host : NULL;
    tp->queue = queue;
    tp->queues = queues > 1 ? queues : 1;
    hc.kernel_cidr = c->kernel_addr[0] ? c->kernel_addr : NULL;
    for (uint32_t i = 0; i < c->naddrs && i < SF_HOST_MAX_ADDRS; i++) {
        struct sf_endpoint ep = to_endpoint(&c->addrs[i]);
        hc.addrs[hc.naddrs++] = ep.addr;
    }
    sf_tcp_config_defaults(&hc.tcp);
    hc.tcp.max_tw = c->max_time_wait;
    hc.offload = c->offload;
    hc.pcap = c->pcap[0] ? c->pcap : NULL;
    hc.impair = c->impair[0] ? c->impair : NULL;
    hc.trace = c->trace ? stdout : NULL;
    hc.on_transition = lb_stack_on_transition;
    hc.on_batch = on_batch;
    hc.ctx = tp;
    tp->host = sf_host_new(loop, &hc, err, errlen);
    if (!tp->host) {
        free(tp->tw_port);
        free(tp->arrows);
        free(tp->trace.ring);
        free(tp);
        return NULL;
    }
    tp->e = sf_host_engine(tp->host);
    return &tp->base;
}
