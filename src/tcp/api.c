/* The owner's calls (RFC 9293 §3.10.1-3.10.6: OPEN, SEND, RECEIVE, CLOSE, ABORT, STATUS) in
 * the shape of the socket API. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcp/internal.h"
#include "tcp/seq.h"
#include "tcp/tw_input.h"

/* The engine's own address of a family (the source of unbound connections). */
static const struct sf_addr *own_addr(const struct sf_engine *e, int family)
{
    return family == SF_AF_INET6 ? &e->local_addr6 : &e->local_addr;
}

struct sf_conn *sf_socket(struct sf_engine *e)
{
    engine_enter(e, e->now);
    struct sf_conn *c = conn_alloc(e);
    if (c)
        c->flags |= F_OWNED;
    else
        e->st.alloc_fails++;
    engine_leave(e);
    return c;
}

void sf_set_handler(struct sf_conn *c, sf_event_fn fn, void *user)
{
    c->handler = fn;
    c->user = user;
}

void *sf_user(const struct sf_conn *c)
{
    return c->user;
}

struct sf_engine *sf_conn_engine(const struct sf_conn *c)
{
    return c->e;
}

enum sf_state sf_conn_state(const struct sf_conn *c)
{
    return (enum sf_state)c->state;
}

static int port_has_listener(struct sf_engine *e, const struct sf_addr *laddr, uint16_t port)
{
    return e->port_refs[port] && table_lookup_listener(e, laddr, port) != NULL;
}

/* The connection was connected once (or tried): it cannot be reused for another. */
static int used(const struct sf_conn *c)
{
    return c->established || (c->flags & F_TW_HANDOFF) || c->close_cause;
}

int sf_set_profile(struct sf_conn *c, struct sf_profile *p)
{
    if (c->state != SF_CLOSED || used(c) || p->e != c->e)
        return -EINVAL;
    conn_use_profile(c, p);
    return 0;
}

/* An ephemeral port from port_range that nothing uses, starting at a keyed offset. */
static int pick_free_port(struct sf_engine *e, uint16_t *out)
{
    uint32_t lo = e->cfg.port_range_lo, n = e->cfg.port_range_hi - lo + 1;
    for (uint32_t i = 0; i < n; i++) {
        uint16_t p = (uint16_t)(lo + (e->next_ephemeral + i) % n);
        if (e->port_refs[p] == 0) {
            e->next_ephemeral += i + 1;
            *out = p;
            return 0;
        }
    }
    return -EADDRINUSE;
}

int sf_bind(struct sf_conn *c, const struct sf_endpoint *local)
{
    struct sf_engine *e = c->e;
    if (c->state != SF_CLOSED || (c->flags & F_BOUND) || used(c))
        return -EINVAL;
    struct sf_addr laddr;
    if (local->addr.family == 0)
        laddr = e->local_addr;
    else if (local->addr.family == SF_AF_INET || local->addr.family == SF_AF_INET6)
        laddr = local->addr;
    else
        return -EAFNOSUPPORT;
    uint16_t port = local->port;
    if (port == 0) {
        int rc = pick_free_port(e, &port);
        if (rc < 0)
            return rc;
    } else if (bind_conflict(e, c, &laddr, port)) {
        return -EADDRINUSE; /* bind.c */
    }
    c->t.laddr = laddr;
    c->t.lport = port;
    c->flags |= F_BOUND;
    port_ref(e, port, +1);
    return 0;
}

int sf_listen(struct sf_conn *c, int backlog)
{
    struct sf_engine *e = c->e;
    if (backlog < 0)
        backlog = 0;
    if ((uint32_t)backlog > e->cfg.somaxconn)
        backlog = (int)e->cfg.somaxconn;
    if (c->state == SF_LISTEN) {
        c->listen->backlog = (uint32_t)backlog + 1;
        return 0;
    }
    if (c->state != SF_CLOSED || used(c))
        return -EINVAL;
    if (!(c->flags & F_BOUND)) {
        struct sf_endpoint any;
        memset(&any, 0, sizeof any);
        any.addr.family = SF_AF_INET; /* 0.0.0.0 */
        int rc = sf_bind(c, &any);
        if (rc < 0)
            return rc;
    }
    if (listener_overlaps(e, c, &c->t.laddr, c->t.lport))
        return -EADDRINUSE; /* another listener on an overlapping address, same port */
    c->listen = calloc(1, sizeof *c->listen);
    if (!c->listen)
        return -ENOMEM;
    /* Linux admits backlog + 1 connections to the accept queue; so do we. */
    c->listen->backlog = (uint32_t)backlog + 1;
    memset(&c->t.raddr, 0, sizeof c->t.raddr);
    c->t.raddr.family = c->t.laddr.family;
    c->t.rport = 0;
    engine_enter(e, e->now);
    listener_insert(e, c);
    set_state(c, SF_LISTEN, SF_CAUSE_LISTEN);
    engine_leave(e);
    return 0;
}

struct sf_conn *sf_accept(struct sf_conn *l, int *err)
{
    if (l->state != SF_LISTEN) {
        *err = -EINVAL;
        return NULL;
    }
    struct sf_conn *c = l->listen->acceptq_head;
    if (!c) {
        *err = -EAGAIN;
        return NULL;
    }
    listen_unlink(c);
    c->flags |= F_OWNED;
    /* Whatever already happened on it is news to the owner: queued, not delivered here, so
     * the owner sets its handler first; the next engine call delivers it to that handler. */
    unsigned ev = SF_EV_WRITABLE;
    if (c->rcv.buf && c->rcv.buf->len)
        ev |= SF_EV_READABLE;
    if (c->flags & F_FIN_RCVD)
        ev |= SF_EV_PEER_FIN | SF_EV_READABLE;
    if (c->state == SF_CLOSED) /* reset while it waited (engine.c conn_destroy) */
        ev |= SF_EV_RESET | SF_EV_CLOSED | SF_EV_READABLE;
    conn_event(c, ev);
    *err = 0;
    return c;
}

/* A local port for (laddr, raddr, rport): the 4-tuple must be new, or a TIME-WAIT entry that
 * tw_reuse lets us take over (timestamps on, older than one second). Returns the TIME-WAIT
 * index to take over in *tw (0 if none). */
static int tuple_available(struct sf_conn *c, const struct sf_tuple *t, uint32_t *tw)
{
    struct sf_engine *e = c->e;
    *tw = 0;
    if (table_lookup(e, t))
        return 0;
    uint32_t idx = tw_lookup(&e->tw, t);
    if (!idx)
        return 1;
    struct sf_tw *w = tw_get(&e->tw, idx);
    uint32_t left = w->expire_ms - tw_now_ms(e);
    uint32_t dur = e->tw.cls[w->cls].dur_ms;
    if (ccfg(c)->tw_reuse && (w->flags & TW_TS_OK) && dur - left >= 1000) {
        *tw = idx;
        return 1;
    }
    return 0;
}

int sf_connect(struct sf_conn *c, const struct sf_endpoint *remote)
{
    struct sf_engine *e = c->e;
    switch (c->state) {
    case SF_CLOSED: break;
    case SF_SYN_SENT:
        /* a deferred Fast Open connect said it was connected (Linux: EISCONN) */
        return (c->tfo_client & TFOC_DEFER) ? -EISCONN : -EALREADY;
    case SF_SYN_RECEIVED: return -EALREADY;
    case SF_LISTEN: return -EINVAL;
    default: return -EISCONN;
    }
    if (used(c))
        return -EISCONN;
    int fam = remote->addr.family;
    if (fam != SF_AF_INET && fam != SF_AF_INET6)
        return -EAFNOSUPPORT;
    if ((c->flags & F_BOUND) && c->t.laddr.family != fam)
        return -EAFNOSUPPORT; /* no IPv4-mapped addresses on a socket of the other family */
    if (own_addr(e, fam)->family != fam && !((c->flags & F_BOUND) && !addr_is_any(&c->t.laddr)))
        return -EADDRNOTAVAIL; /* no address of that family to send from */
    if (remote->port == 0)
        return -EINVAL;

    struct sf_tuple t;
    memset(&t, 0, sizeof t);
    t.raddr = remote->addr;
    t.rport = remote->port;
    uint32_t tw = 0;
    if (c->flags & F_BOUND) {
        t.laddr = addr_is_any(&c->t.laddr) ? *own_addr(e, fam) : c->t.laddr;
        t.lport = c->t.lport;
        if (!tuple_available(c, &t, &tw))
            return -EADDRNOTAVAIL;
    } else {
        t.laddr = *own_addr(e, fam);
        uint32_t lo = e->cfg.port_range_lo, n = e->cfg.port_range_hi - lo + 1;
        uint32_t i;
        for (i = 0; i < n; i++) {
            t.lport = (uint16_t)(lo + (e->next_ephemeral + i) % n);
            if (sf_steer_ports(t.lport, t.rport, e->steer_n) != e->steer_index)
                continue; /* the answers would reach another engine's queue */
            if (!port_has_listener(e, &t.laddr, t.lport) && tuple_available(c, &t, &tw))
                break;
        }
        if (i == n)
            return -EADDRNOTAVAIL; /* ephemeral ports exhausted for this destination */
        e->next_ephemeral += i + 1;
        c->flags |= F_BOUND;
        port_ref(e, t.lport, +1);
    }

    engine_enter(e, e->now);
    uint32_t iss;
    if (tw) {
        /* The new incarnation starts well above the old one's sequence numbers. */
        iss = tw_get(&e->tw, tw)->snd_nxt + 65535u + 2u;
        e->st.tw_reused++;
        tw_end(e, tw, SF_CAUSE_TW_REUSE);
    } else {
        iss = isn_generate(e, &t);
    }
    c->t = t;
    conn_fit_family(c);
    c->ts_offset = ts_offset_for(e, &t);
    c->snd.iss = iss;
    c->snd.una = c->snd.nxt = c->snd.max = iss;
    c->snd.buf_seq = iss + 1;
    c->snd.sml = iss;
    c->snd.recover = iss;
    c->rcv.wscale = offered_wscale(ccfg(c), c->rcvbuf_size);
    table_insert(e, c);
    e->st.active_opens++;
    set_state(c, SF_SYN_SENT, SF_CAUSE_CONNECT);
    c->snd.rtt_seq = iss + 1;
    c->snd.rtt_start = e->now ? e->now : 1;
    if (fastopen_connect(c)) {
        /* TCP_FASTOPEN_CONNECT with a cookie: the SYN waits for the data (sf_send) */
        conn_event(c, SF_EV_WRITABLE);
        engine_leave(e);
        return 0;
    }
    tcp_output(c);
    engine_leave(e);
    return -EINPROGRESS;
}

/* A deferred Fast Open connect sends its SYN now, with what the send buffer holds. */
static void fastopen_go(struct sf_conn *c)
{
    c->tfo_client &= (uint8_t)~TFOC_DEFER;
    c->snd.rtt_start = c->e->now ? c->e->now : 1;
    tcp_output(c);
}

ssize_t sf_connect_data(struct sf_conn *c, const struct sf_endpoint *remote, const void *buf,
                        size_t len)
{
    if (c->state == SF_CLOSED && !used(c) && (ccfg(c)->fastopen & SF_TFO_CLIENT))
        c->tfo_client |= TFOC_ASKED;
    int rc = sf_connect(c, remote);
    if (rc < 0 && rc != -EINPROGRESS)
        return rc;
    if (len == 0) {
        if (c->tfo_client & TFOC_DEFER) {
            engine_enter(c->e, c->e->now);
            fastopen_go(c);
            engine_leave(c->e);
        }
        return 0;
    }
    return sf_send(c, buf, len);
}

static uint32_t data_end(const struct sf_conn *c)
{
    return c->snd.buf_seq + (c->snd.buf ? c->snd.buf->len : 0);
}

ssize_t sf_send(struct sf_conn *c, const void *buf, size_t len)
{
    struct sf_engine *e = c->e;
    if (c->err) {
        int err = c->err;
        c->err = 0;
        return -err;
    }
    switch (c->state) {
    case SF_SYN_SENT:
    case SF_SYN_RECEIVED:
    case SF_ESTABLISHED:
    case SF_CLOSE_WAIT:
        if (c->flags & F_FIN_QUEUED)
            return -EPIPE;
        break;
    case SF_LISTEN: return -ENOTCONN;
    case SF_CLOSED: return used(c) ? -EPIPE : -ENOTCONN;
    default: return -EPIPE;
    }
    if (len == 0 && !(c->tfo_client & TFOC_DEFER))
        return 0;
    engine_enter(e, e->now);
    ssize_t rc;
    if (conn_ensure_sndbuf(c) < 0) {
        rc = -ENOMEM;
    } else {
        uint32_t n = sndbuf_write(c->snd.buf, buf, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len);
        if (n < len)
            c->flags |= F_WANT_WRITE;
        rc = n || !len ? (ssize_t)n : -EAGAIN;
        if (c->tfo_client & TFOC_DEFER)
            fastopen_go(c); /* the first write of a Fast Open connect: the SYN leaves with it */
        else if (n)
            tcp_output(c);
    }
    engine_leave(e);
    return rc;
}

size_t sf_readable(const struct sf_conn *c)
{
    return c->rcv.buf ? c->rcv.buf->len : 0;
}

/* What a read returns when no data is waiting: the pending error, end of stream, or why not. */
static ssize_t recv_nodata(struct sf_conn *c)
{
    if (c->err) {
        int err = c->err;
        c->err = 0;
        return -err;
    }
    if (c->flags & (F_FIN_RCVD | F_SHUT_RD))
        return 0; /* end of stream */
    if (c->state == SF_CLOSED)
        return used(c) ? 0 : -ENOTCONN;
    if (c->state == SF_LISTEN)
        return -ENOTCONN;
    return -EAGAIN;
}

ssize_t sf_peek(struct sf_conn *c, void *buf, size_t len)
{
    if (c->rcv.buf && c->rcv.buf->len)
        return rcvbuf_peek(c->rcv.buf, buf, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len);
    return recv_nodata(c);
}

ssize_t sf_recv(struct sf_conn *c, void *buf, size_t len)
{
    struct sf_engine *e = c->e;
    if (c->rcv.buf && c->rcv.buf->len) {
        if (len == 0)
            return 0;
        engine_enter(e, e->now);
        uint32_t n = rcvbuf_read(c->rcv.buf, buf, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len);
        if (c->state == SF_CLOSED && c->rcv.buf->len == 0 && c->rcv.buf->nblk == 0 &&
            !(c->flags & F_HASHED)) {
            /* The connection is gone and its last data is read: give the buffer back. */
            buf_free(e, c->rcv.buf, (uint32_t)sizeof(struct sf_rcvbuf) + c->rcv.buf->cap);
            c->rcv.buf = NULL;
        } else {
            window_update_after_read(c);
            conn_trim_buffers(c);
        }
        engine_leave(e);
        return n;
    }
    return recv_nodata(c);
}

/* Queues our FIN after everything written so far (RFC 9293 CLOSE: "Queue this until all
 * preceding SENDs have been segmentized, then form a FIN segment and send it"). */
static void queue_fin(struct sf_conn *c, enum sf_cause cause)
{
    c->flags |= F_FIN_QUEUED;
    c->snd.fin_seq = data_end(c);
    if (c->first_fin == SF_CLOSER_NONE)
        c->first_fin = SF_CLOSER_LOCAL;
    if (c->state == SF_CLOSE_WAIT) {
        set_state(c, SF_LAST_ACK, cause);
        if (ccfg(c)->last_ack_timeout_ms)
            timer_set(c, T_CLOSE, c->e->now + SF_MS(ccfg(c)->last_ack_timeout_ms));
    } else {
        set_state(c, SF_FIN_WAIT_1, cause);
    }
    tcp_output(c);
}

int sf_shutdown(struct sf_conn *c, int how)
{
    struct sf_engine *e = c->e;
    if (how < SF_SHUT_RD || how > SF_SHUT_RDWR)
        return -EINVAL;
    /* As Linux's inet_shutdown: TCP_CLOSE answers -ENOTCONN whether or not the socket was
     * ever connected (reset, LAST-ACK over, handed to TIME-WAIT), yet still marks the read
     * side shut, so that a later read returns end of stream as Linux's does. */
    if (c->state == SF_CLOSED) {
        if (how & SF_SHUT_RD)
            c->flags |= F_SHUT_RD;
        return -ENOTCONN;
    }
    if (c->state == SF_LISTEN) {
        /* Linux's inet_shutdown: shutting down reading on a listener disconnects it (it
         * stops listening, its queues go as on close); writing alone does nothing. */
        if (how & SF_SHUT_RD) {
            engine_enter(e, e->now);
            listen_close(c);
            conn_closed(c, SF_CAUSE_CLOSE);
            engine_leave(e);
        }
        return 0;
    }
    engine_enter(e, e->now);
    if (how & SF_SHUT_RD)
        c->flags |= F_SHUT_RD;
    if (how & SF_SHUT_WR) {
        switch (c->state) {
        case SF_SYN_SENT:
            /* RFC 9293 §3.10.4 CLOSE in SYN-SENT deletes the TCB and answers queued SENDs
             * with "error: closing"; sf_send has already told the owner its data was taken,
             * so deleting it would lose that data without a word. A shutdown of writes is a
             * half-close, not an abort: the FIN is queued behind the data ("Queue this until
             * all preceding SENDs have been segmentized") and both go once the handshake
             * completes (input.c fin_after_open). The state stays SYN-SENT until then. */
            if (!(c->flags & F_FIN_QUEUED)) {
                c->flags |= F_FIN_QUEUED;
                c->snd.fin_seq = data_end(c);
                if (c->first_fin == SF_CLOSER_NONE)
                    c->first_fin = SF_CLOSER_LOCAL;
            }
            if (c->tfo_client & TFOC_DEFER)
                fastopen_go(c); /* nothing more will be written: the SYN goes now */
            break;
        case SF_SYN_RECEIVED:
        case SF_ESTABLISHED:
        case SF_CLOSE_WAIT:
            if (!(c->flags & F_FIN_QUEUED))
                queue_fin(c, SF_CAUSE_SHUTDOWN);
            break;
        default: break; /* already shut down for writing, or over */
        }
    }
    engine_leave(e);
    return 0;
}

int sf_close(struct sf_conn *c)
{
    struct sf_engine *e = c->e;
    if (!(c->flags & F_OWNED))
        return -EINVAL;
    engine_enter(e, e->now);
    c->flags &= ~(uint32_t)F_OWNED;
    c->flags |= F_ORPHAN;
    c->handler = NULL;
    int unread = c->rcv.buf && (c->rcv.buf->len || c->rcv.buf->nblk);
    switch (c->state) {
    case SF_CLOSED: conn_destroy(c); break;
    case SF_LISTEN:
        listen_close(c);
        conn_closed(c, SF_CAUSE_CLOSE);
        break;
    case SF_SYN_SENT:
        /* "Delete the TCB and return 'error: closing' responses to any queued SENDs" */
        conn_closed(c, SF_CAUSE_CLOSE);
        break;
    default:
        if (unread) {
            /* RFC 2525 §2.17: closing with unread data resets the connection, so the peer
             * learns that its data was not consumed. */
            conn_abort(c, 0, SF_CAUSE_UNREAD_CLOSE, 1);
        } else if (c->linger == 0) {
            conn_abort(c, 0, SF_CAUSE_LINGER0, 1);
        } else {
            if (!(c->flags & F_FIN_QUEUED) &&
                (c->state == SF_SYN_RECEIVED || c->state == SF_ESTABLISHED ||
                 c->state == SF_CLOSE_WAIT))
                queue_fin(c, SF_CAUSE_CLOSE);
            if (c->state == SF_FIN_WAIT_2) /* a lifetime even at 0: see input.c */
                timer_set(c, T_CLOSE, e->now + SF_MS(ccfg(c)->fin_wait2_timeout_ms));
        }
        break;
    }
    engine_leave(e);
    return 0;
}

void sf_abort(struct sf_conn *c)
{
    struct sf_engine *e = c->e;
    engine_enter(e, e->now);
    c->flags &= ~(uint32_t)F_OWNED;
    c->flags |= F_ORPHAN;
    c->handler = NULL;
    switch (c->state) {
    case SF_CLOSED:
        if (c->flags & F_TW_HANDOFF) {
            uint32_t idx = tw_lookup(&e->tw, &c->t);
            if (idx && tw_get(&e->tw, idx)->id == c->id) {
                e->st.tw_aborted++;
                tw_end(e, idx, SF_CAUSE_ABORT);
            }
        }
        conn_destroy(c);
        break;
    case SF_LISTEN:
        listen_close(c);
        conn_closed(c, SF_CAUSE_ABORT);
        break;
    case SF_SYN_SENT: conn_closed(c, SF_CAUSE_ABORT); break;
    default:
        /* "Send a reset segment: <SEQ=SND.NXT><CTL=RST>" */
        conn_abort(c, 0, SF_CAUSE_ABORT, 1);
        break;
    }
    engine_leave(e);
}

int sf_setopt(struct sf_conn *c, enum sf_opt opt, long v)
{
    switch (opt) {
    case SF_OPT_NODELAY:
    case SF_OPT_CORK: {
        uint32_t f = opt == SF_OPT_NODELAY ? F_NODELAY : F_CORK;
        if (v)
            c->flags |= f;
        else
            c->flags &= ~f;
        /* Setting NODELAY or removing the cork pushes what was held back. */
        int push = opt == SF_OPT_NODELAY ? v != 0 : v == 0;
        if (push && state_synchronized((enum sf_state)c->state)) {
            engine_enter(c->e, c->e->now);
            tcp_output(c);
            engine_leave(c->e);
        }
        return 0;
    }
    case SF_OPT_LINGER: c->linger = v < 0 ? -1 : (int32_t)(v > 65535 ? 65535 : v); return 0;
    case SF_OPT_REUSEADDR:
        if (v)
            c->flags |= F_REUSEADDR;
        else
            c->flags &= ~(uint32_t)F_REUSEADDR;
        return 0;
    case SF_OPT_KEEPALIVE:
        if (v) {
            c->flags |= F_KEEPALIVE;
            if (state_synchronized((enum sf_state)c->state) && !c->at[T_KEEPALIVE])
                timer_set(c, T_KEEPALIVE, c->last_rx + SF_SEC(c->keepidle_s));
        } else {
            c->flags &= ~(uint32_t)F_KEEPALIVE;
            if (c->e && c->at[T_KEEPALIVE])
                timer_clear(c, T_KEEPALIVE);
        }
        return 0;
    case SF_OPT_KEEPIDLE:
    case SF_OPT_KEEPINTVL:
        if (v < 1 || v > 32767)
            return -EINVAL;
        if (opt == SF_OPT_KEEPINTVL) {
            c->keepintvl_s = (uint32_t)v;
            return 0;
        }
        c->keepidle_s = (uint32_t)v;
        /* As Linux: on a connection already keeping alive and not yet probing, the new idle
         * time counts from the last segment received (the usual order is enable, then tune). */
        if ((c->flags & F_KEEPALIVE) && state_synchronized((enum sf_state)c->state) &&
            c->ka_probes == 0)
            timer_set(c, T_KEEPALIVE, c->last_rx + SF_SEC(c->keepidle_s));
        return 0;

    case SF_OPT_KEEPCNT:
        if (v < 1 || v > 127)
            return -EINVAL;
        c->keepcnt = (uint32_t)v;
        return 0;
    case SF_OPT_USER_TIMEOUT:
        if (v < 0 || v > INT32_MAX)
            return -EINVAL;
        c->user_timeout_ms = (uint32_t)v;
        return 0;
    case SF_OPT_SYN_TIMEOUT_MS:
        if (v < 0 || v > INT32_MAX)
            return -EINVAL;
        c->connect_timeout_ms = (uint32_t)v;
        return 0;
    case SF_OPT_MAXSEG:
        if (c->state != SF_CLOSED || v < 88 || (unsigned long)v > ccfg(c)->mss)
            return -EINVAL;
        c->rcv.mss = (uint16_t)v;
        return 0;
    case SF_OPT_RCVBUF:
    case SF_OPT_SNDBUF:
        if (v < 2048 || v > (1L << 30))
            return -EINVAL;
        if (opt == SF_OPT_RCVBUF) {
            if (c->rcv.buf || c->state != SF_CLOSED)
                return -EINVAL; /* the window is promised from the first SYN on */
            c->rcvbuf_size = (uint32_t)v;
        } else {
            if (c->snd.buf)
                return -EINVAL;
            c->sndbuf_size = (uint32_t)v;
        }
        return 0;
    case SF_OPT_TIME_WAIT_MS:
        if (v < 0 || v > 600000)
            return -EINVAL;
        c->time_wait_ms = (uint32_t)v;
        return 0;
    case SF_OPT_FASTOPEN_CONNECT: /* as Linux's TCP_FASTOPEN_CONNECT */
        if (v < 0 || v > 1)
            return -EINVAL;
        if (!(ccfg(c)->fastopen & SF_TFO_CLIENT))
            return -EOPNOTSUPP;
        if (c->state != SF_CLOSED || used(c))
            return -EINVAL;
        if (v)
            c->tfo_client |= TFOC_ASKED;
        else
            c->tfo_client &= (uint8_t)~TFOC_ASKED;
        return 0;
    case SF_OPT_FASTOPEN: /* before or after listen, as TCP_FASTOPEN */
        if (v < 0 || v > INT32_MAX || (c->state != SF_CLOSED && c->state != SF_LISTEN))
            return -EINVAL;
        c->tfo_qlen = (uint32_t)v;
        return 0;
    default: return -EOPNOTSUPP;
    }
}

int sf_getopt(const struct sf_conn *c, enum sf_opt opt, long *v)
{
    switch (opt) {
    case SF_OPT_NODELAY: *v = !!(c->flags & F_NODELAY); return 0;
    case SF_OPT_LINGER: *v = c->linger; return 0;
    case SF_OPT_REUSEADDR: *v = !!(c->flags & F_REUSEADDR); return 0;
    case SF_OPT_KEEPALIVE: *v = !!(c->flags & F_KEEPALIVE); return 0;
    case SF_OPT_KEEPIDLE: *v = c->keepidle_s; return 0;
    case SF_OPT_KEEPINTVL: *v = c->keepintvl_s; return 0;
    case SF_OPT_KEEPCNT: *v = c->keepcnt; return 0;
    case SF_OPT_USER_TIMEOUT: *v = c->user_timeout_ms; return 0;
    case SF_OPT_SYN_TIMEOUT_MS: *v = c->connect_timeout_ms; return 0;
    case SF_OPT_MAXSEG:
        *v = state_synchronized((enum sf_state)c->state) ? c->snd.mss : c->rcv.mss;
        return 0;
    case SF_OPT_RCVBUF: *v = c->rcvbuf_size; return 0;
    case SF_OPT_SNDBUF: *v = c->sndbuf_size; return 0;
    case SF_OPT_TIME_WAIT_MS: *v = c->time_wait_ms; return 0;
    case SF_OPT_FASTOPEN: *v = c->tfo_qlen; return 0;
    case SF_OPT_FASTOPEN_CONNECT: *v = !!(c->tfo_client & TFOC_ASKED); return 0;
    case SF_OPT_CORK: *v = !!(c->flags & F_CORK); return 0;
    default: return -EOPNOTSUPP;
    }
}

int sf_take_error(struct sf_conn *c)
{
    int err = c->err;
    c->err = 0;
    return err;
}

unsigned sf_poll(const struct sf_conn *c)
{
    unsigned r = 0;
    if (c->state == SF_LISTEN)
        return c->listen->acceptq_head ? SF_POLLIN : 0;
    enum sf_state st = (enum sf_state)c->state;
    int connected_once = used(c);
    /* As Linux's tcp_poll: the read side is shut by the peer's FIN or by our SHUT_RD (both
     * are RCV_SHUTDOWN there), the write side by our FIN; a shut write side reports POLLOUT,
     * since a write fails at once; both shut, or CLOSED after a connection, is POLLHUP. */
    int rd_shut = (c->flags & (F_FIN_RCVD | F_SHUT_RD)) != 0;
    int wr_shut = (c->flags & F_FIN_QUEUED) != 0;
    if ((c->rcv.buf && c->rcv.buf->len) || rd_shut || c->err || (st == SF_CLOSED && connected_once))
        r |= SF_POLLIN;
    if (rd_shut)
        r |= SF_POLLRDHUP;
    if (state_synchronized(st) && st != SF_TIME_WAIT) {
        if (wr_shut || !c->snd.buf || sndbuf_free(c->snd.buf) > 0)
            r |= SF_POLLOUT;
    }
    if ((rd_shut && wr_shut) || (st == SF_CLOSED && connected_once))
        r |= SF_POLLHUP;
    if (st == SF_CLOSED && connected_once)
        r |= SF_POLLOUT; /* writes fail at once: poll says so, as for sockets */
    if (c->tfo_client & TFOC_DEFER)
        r |= SF_POLLOUT; /* a Fast Open connect waits for the write its SYN carries */
    if (c->err)
        r |= SF_POLLERR;
    return r;
}

void sf_info(const struct sf_conn *c, struct sf_conn_info *o)
{
    memset(o, 0, sizeof *o);
    o->id = c->id;
    o->state = (enum sf_state)c->state;
    o->local = endpoint_of(&c->t.laddr, c->t.lport);
    o->remote = endpoint_of(&c->t.raddr, c->t.rport);
    o->srtt_us = c->snd.srtt;
    o->rttvar_us = c->snd.rttvar;
    o->rto_us = rto_current(c);
    o->min_rtt_us = c->snd.min_rtt;
    o->cwnd = c->snd.cwnd;
    o->ssthresh = c->snd.ssthresh;
    o->snd_wnd = c->snd.wnd;
    o->rcv_wnd = rcv_window(c);
    o->snd_mss = c->snd.mss;
    o->rcv_mss = c->rcv.mss;
    o->wscale_ok = !!(c->flags & F_WS_OK);
    o->snd_wscale = (c->flags & F_WS_OK) ? c->snd.wscale : 0;
    o->rcv_wscale = (c->flags & F_WS_OK) ? c->rcv.wscale : 0;
    o->ts_ok = !!(c->flags & F_TS_OK);
    o->sack_ok = !!(c->flags & F_SACK_OK);
    o->unacked = c->snd.buf ? c->snd.buf->len : 0;
    o->in_flight = c->snd.max - c->snd.una;
    o->iss = c->snd.iss;
    o->irs = c->rcv.irs;
    o->snd_una = c->snd.una;
    o->snd_max = c->snd.max;
    o->rcv_nxt = c->rcv.nxt;
    o->bytes_sent = c->bytes_sent;
    o->bytes_acked = c->bytes_acked;
    o->bytes_received = c->bytes_received;
    o->segs_out = c->segs_out;
    o->segs_in = c->segs_in;
    o->retrans_segs = c->retrans_segs;
    o->rto_backoffs = c->snd.backoff;
    o->dupacks_fast_retransmits = c->snd.fast_retransmits;
    o->in_recovery = c->snd.in_recovery;
    o->dupacks = c->snd.dupacks;
    o->zwnd_probes = c->snd.probes;
    o->first_fin = (enum sf_closer)c->first_fin;
    o->close_cause = (enum sf_cause)c->close_cause;
    o->last_cause = (enum sf_cause)c->last_cause;
    o->error = c->err;
    o->created = c->created;
    o->established = c->established;
    o->tfo_syn_data = c->tfo_syn_data;
    o->tfo_syn_data_acked = !!(c->tfo_client & TFOC_ACKED);
    o->tfo_client_fail = c->tfo_fail;
}
