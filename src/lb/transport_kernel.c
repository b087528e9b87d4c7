/* The kernel transport: non-blocking sockets under the loop's edge-triggered epoll set.
 *
 * Every connection is registered once for EPOLLIN | EPOLLOUT | EPOLLRDHUP, edge-triggered, and
 * never modified again: no epoll_ctl on the data path. Closed connections are parked on a
 * list and freed after the current batch of events, so an event already fetched for them is
 * ignored rather than delivered to freed memory.
 *
 * System calls per connection are counted (docs/lb.md, "Design notes"); what is saved here:
 * - TCP_NODELAY toward servers is set just before the second write, not at connect. Linux's
 *   Nagle (Minshall's variant) holds a small segment back only while an earlier small one is
 *   unacknowledged, so a connection's first write never waits; a one-request session then
 *   needs no setsockopt. Accepted connections inherit it from the listener.
 * - A write followed by a FIN goes with MSG_MORE: the kernel keeps the last partial segment
 *   and shutdown() tacks the FIN onto it (tcp_send_fin), one packet instead of two.
 * - abort sets SO_LINGER 0 and closes; a connection toward a server already in TIME_WAIT
 *   (our FIN went first, the peer's followed) has no socket left to reset, so its entry is
 *   removed through sock_diag instead (tw_destroy.h), named by addresses and socket cookie.
 *   That costs SO_COOKIE before such a FIN, and TCP_INFO, getsockname and one netlink
 *   request at the abort (instead of SO_LINGER).
 *
 * Descriptors: the transport counts its own (listeners and connections) against a budget,
 * RLIMIT_NOFILE less what the process holds elsewhere, so that callers can ask for room
 * before accepting a session instead of finding out halfway through it (lb_transport_room).
 *
 * Loops: each outgoing connection's local end is learnt right after connect (getsockname:
 * one system call, which the TIME_WAIT removal then no longer needs) and indexed, so that an
 * accept can tell in O(1) whether its peer is one of our own connections (epset.h). */
#include "lb/transport.h"
#include "lb/counter.h"
#include "io/loop.h"
#include "lb/kernel_census.h"
#include "lb/epset.h"
#include "lb/loopset.h"
#include "lb/tw_destroy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif
#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif

#define CONN_CACHE 1024

struct ktransport {
    struct lb_transport base;
    struct sf_hook reap;
    struct kconn *live; /* connections handed out and not closed (the census) */
    struct klistener *live_listeners;
    struct kconn *dead; /* closed during this batch; freed by the hook */
    struct klistener *dead_listeners;
    struct kconn *cache; /* freed structs kept for reuse */
    unsigned ncache;
    int no_port_range; /* the kernel lacks IP_LOCAL_PORT_RANGE: pick ports ourselves */
    struct lb_twd twd; /* netlink socket for removing our own TIME_WAIT entries */
    int twd_off;       /* the kernel refused once (permission, support): do not ask again */
    /* The census in progress (k_census): the next live connection to count. New connections
     * go in at the head of the live list, behind it; one that closes while the cursor is on
     * it moves the cursor on (live_del). */
    int census_running, census_diag_done;
    struct kconn *census_next;
    struct lb_kernel_diag census_diag;
    /* Threads other than 0: their own sockets counted at the sync tick (k_publish), with a
     * cursor of its own that live_del moves on as census_next. */
    struct lb_kernel_pub pub;
    struct kconn *pub_next;
    struct lb_epset out;          /* outgoing connections by local end (named ones) */
    struct lb_loopset *loops;     /* with threads: every thread's, instead of out */
    _Atomic uint64_t connect_seq; /* odd inside k_connect (loopset.h) */
};

struct kconn {
    struct lb_conn base;
    struct sf_io io;
    struct ktransport *tp;
    lb_conn_fn fn;
    void *ctx;
    struct kconn *next;
    struct kconn *lprev, *lnext; /* the live list */
    struct lb_addr peer;
    struct lb_addr local; /* outgoing ones: known once named */
    int connect_err;      /* -errno of a failed connect; -ELOOP: it led back to us */
    _Atomic int looped;   /* another thread's listener refused it as a loop (loopset.h) */
    unsigned connecting : 1;
    unsigned closed : 1;
    unsigned nodelay_due : 1; /* TCP_NODELAY wanted, set before the second write */
    unsigned wrote : 1;       /* a write has taken bytes */
    unsigned eof : 1;         /* read returned 0: the peer's FIN */
    unsigned fin_in : 1;      /* the peer's FIN arrived (RDHUP without error), maybe unread */
    unsigned fin_sent : 1;    /* shutdown_write done */
    unsigned fin_first : 1;   /* ... before the peer's FIN was known to be in */
    unsigned outgoing : 1;    /* made by connect (a server connection), not accepted */
    unsigned named : 1;       /* local is known */
    unsigned indexed : 1;     /* ... and in tp->out */
    uint64_t cookie;          /* SO_COOKIE, taken before a first FIN on an outgoing one */
};

struct klistener {
    struct lb_listener base;
    struct sf_io io;
    struct ktransport *tp;
    struct lb_addr addr;
    lb_listener_fn fn;
    void *ctx;
    struct klistener *next;
    struct klistener *lprev, *lnext; /* the live list */
};

static const struct lb_transport_ops kernel_ops;

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static void reap(struct sf_hook *h)
{
    struct ktransport *t = CONTAINER(h, struct ktransport, reap);
    while (t->dead_listeners) {
        struct klistener *l = t->dead_listeners;
        t->dead_listeners = l->next;
        free(l);
    }
    while (t->dead) {
        struct kconn *c = t->dead;
        t->dead = c->next;
        if (t->ncache < CONN_CACHE) {
            c->next = t->cache;
            t->cache = c;
            t->ncache++;
        } else {
            free(c);
        }
    }
}

/* Another thread found this connection at its own listener (a loop): the error its reset
 * brings is reported as the loop it is. */
static int looped(struct kconn *c)
{
    return c->outgoing && atomic_load_explicit(&c->looped, memory_order_acquire);
}

static int loop_err(struct kconn *c, int err)
{
    if (err != -ELOOP && looped(c))
        return c->connect_err = -ELOOP;
    return err;
}

static void conn_io(struct sf_io *io, uint32_t ev)
{
    struct kconn *c = CONTAINER(io, struct kconn, io);
    if (c->closed || !c->fn)
        return;
    unsigned out = 0;
    if (ev & EPOLLIN)
        out |= LB_EV_READ;
    if (ev & EPOLLOUT)
        out |= LB_EV_WRITE;
    if (ev & (EPOLLRDHUP | EPOLLHUP))
        out |= LB_EV_HUP | LB_EV_READ;
    if ((ev & (EPOLLRDHUP | EPOLLERR)) == EPOLLRDHUP)
        c->fin_in = 1; /* a reset raises RDHUP too, but with ERR */
    if (ev & EPOLLERR)
        out |= LB_EV_ERROR | LB_EV_READ | LB_EV_WRITE;
    if (c->connecting) {
        if (ev & EPOLLERR) {
            int err = 0;
            socklen_t len = sizeof err;
            if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                err = errno;
            if (!c->connect_err) /* -ELOOP says more than the reset that follows it */
                c->connect_err = looped(c) ? -ELOOP : -(err ? err : ECONNREFUSED);
            c->connecting = 0;
        } else if (ev & EPOLLOUT) {
            c->connecting = 0;
        } else if (ev & EPOLLHUP) {
            if (!c->connect_err)
                c->connect_err = -ECONNREFUSED;
            c->connecting = 0;
        }
    }
    c->fn(c->ctx, &c->base, out);
}

static struct kconn *conn_new(struct ktransport *t, int fd)
{
    struct kconn *c = t->cache;
    if (c) {
        t->cache = c->next;
        t->ncache--;
    } else {
        c = malloc(sizeof *c);
        if (!c)
            return NULL;
    }
    memset(c, 0, sizeof *c);
    c->base.ops = &kernel_ops;
    c->io.fd = fd;
    c->io.fn = conn_io;
    c->tp = t;
    return c;
}

/* The conn was never visible to a caller (setup failed): recycle at once. */
static void conn_discard(struct kconn *c)
{
    c->closed = 1;
    c->next = c->tp->dead;
    c->tp->dead = c;
}

static void live_add(struct kconn *c)
{
    struct ktransport *t = c->tp;
    c->lprev = NULL;
    c->lnext = t->live;
    if (t->live)
        t->live->lprev = c;
    t->live = c;
}

static void live_del(struct kconn *c)
{
    if (c->tp->census_next == c)
        c->tp->census_next = c->lnext;
    if (c->tp->pub_next == c)
        c->tp->pub_next = c->lnext;
    if (c->lprev)
        c->lprev->lnext = c->lnext;
    else
        c->tp->live = c->lnext;
    if (c->lnext)
        c->lnext->lprev = c->lprev;
}

/* Every descriptor of this transport is opened and closed through these two. */
static int counted(struct ktransport *t, int fd)
{
    if (fd >= 0)
        LB_COUNT_INC(t->base.conn_open);
    return fd;
}

static void close_fd(struct ktransport *t, int fd)
{
    close(fd);
    LB_COUNT_DEC(t->base.conn_open);
}

static int set_int(int fd, int level, int opt, int v)
{
    return setsockopt(fd, level, opt, &v, sizeof v) < 0 ? -errno : 0;
}

/* nodelay: 0 leaves TCP_NODELAY to the caller (set later, when it can matter). */
static int apply_sockopts(int fd, const struct lb_sockopts *o, int nodelay)
{
    int rc = 0;
    if (nodelay && o->nodelay && (rc = set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1)) < 0)
        return rc;
    if (o->keepalive) {
        if ((rc = set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1)) < 0)
            return rc;
        if (o->keepalive_idle_s &&
            (rc = set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, o->keepalive_idle_s)) < 0)
            return rc;
        if (o->keepalive_intvl_s &&
            (rc = set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, o->keepalive_intvl_s)) < 0)
            return rc;
        if (o->keepalive_cnt && (rc = set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, o->keepalive_cnt)) < 0)
            return rc;
    }
    if (o->user_timeout_ms &&
        (rc = set_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, o->user_timeout_ms)) < 0)
        return rc;
    return 0;
}

/* Ports tried in a source's range per connect when synfin picks them (as on the stack). */
#define WALK_TRIES 256

/* A new socket with the profile's options, ready to bind toward the source (if any). A port
 * the kernel chooses at connect time (IP_BIND_ADDRESS_NO_PORT) is shared by connections
 * toward different destinations; `ranged` keeps it within the source's range
 * (IP_LOCAL_PORT_RANGE, which the kernel narrows to the system's range: the caller knows the
 * range lies inside it). A port of our own choice (`own_port`) is bound with SO_REUSEADDR
 * for the same sharing: connect then refuses a duplicate 4-tuple (EADDRNOTAVAIL). Returns
 * the descriptor, or -errno (-ENOPROTOOPT: no IP_LOCAL_PORT_RANGE, Linux before 6.3). */
static int open_socket(struct ktransport *t, const struct lb_connect_opts *o, int own_port,
                       int ranged)
{
    int fd =
        counted(t, socket(o->dst.u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd < 0)
        return -errno;
    int rc = apply_sockopts(fd, &o->sock, 0);
    if (rc == 0 && o->src && own_port)
        rc = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    if (rc == 0 && o->src && !own_port)
        set_int(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
    if (rc == 0 && ranged) {
        const struct lb_source *s = o->src;
        uint32_t range = (uint32_t)s->port_lo | ((uint32_t)s->port_hi << 16);
        if (set_int(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, (int)range) < 0)
            rc = -ENOPROTOOPT;
    }
    if (rc < 0) {
        close_fd(t, fd);
        return rc;
    }
    return fd;
}

static int bind_port(int fd, const struct lb_source *s, uint16_t port)
{
    struct lb_addr a = s->addr;
    lb_addr_set_port(&a, port);
    return bind(fd, &a.u.sa, a.len) < 0 ? -errno : 0;
}

/* connect() on a non-blocking socket: 0 if it is under way or done (*done then says which),
 * else -errno. */
static int start_connect(int fd, const struct lb_addr *dst, int *done)
{
    *done = connect(fd, &dst->u.sa, dst->len) == 0;
    return *done || errno == EINPROGRESS ? 0 : -errno;
}

/* Walks the source's range from where the last walk stopped (the cursor wraps; each thread
 * starts its own elsewhere, lb/source_ports.c). A port that a socket of someone else's holds
 * without SO_REUSEADDR, or a listener, refuses the bind: the same socket, still unbound,
 * tries the next. A port that one of our connections holds toward this very destination
 * refuses the connect: a new socket tries the next. -EADDRINUSE when none of the ports
 * tried was free: the range is busy, which passes as its connections end (the session
 * waits for room). */
static int walk_range(struct ktransport *t, const struct lb_connect_opts *o, int *done)
{
    struct lb_source *s = o->src;
    uint32_t n = (uint32_t)(s->port_hi - s->port_lo) + 1;
    int fd = -1;
    for (uint32_t i = 0; i < n && i < WALK_TRIES; i++) {
        uint16_t port = (uint16_t)(s->port_lo + s->next % n);
        s->next = (s->next + 1) % n;
        if (fd < 0 && (fd = open_socket(t, o, 1, 0)) < 0)
            return fd;
        int rc = bind_port(fd, s, port);
        if (rc == -EADDRINUSE)
            continue;
        int bound = rc == 0;
        if (bound && (rc = start_connect(fd, &o->dst, done)) == 0)
            return fd;
        close_fd(t, fd);
        fd = -1;
        if (!bound || rc != -EADDRNOTAVAIL) /* the bind's: the address itself is not ours */
            return rc;
    }
    if (fd >= 0)
        close_fd(t, fd);
    return -EADDRINUSE;
}

/* The connecting socket toward o->dst from o->src, or -errno. A source's port range is the
 * kernel's to choose in (IP_LOCAL_PORT_RANGE) when it lies inside the system's range
 * (s->walk clear, lb/source_ports.c); outside it, or before Linux 6.3, the kernel would not
 * keep to it, so the range is walked here. */
static int open_connect(struct ktransport *t, const struct lb_connect_opts *o, int *done)
{
    const struct lb_source *s = o->src;
    int ranged = s && s->port_lo;
    if (ranged && (s->walk || t->no_port_range))
        return walk_range(t, o, done);
    int fd = open_socket(t, o, 0, ranged);
    if (fd == -ENOPROTOOPT) {
        t->no_port_range = 1;
        return walk_range(t, o, done);
    }
    if (fd < 0)
        return fd;
    int rc = o->src ? bind_port(fd, s, 0) : 0;
    int bound = rc == 0;
    if (bound && (rc = start_connect(fd, &o->dst, done)) == 0)
        return fd;
    close_fd(t, fd);
    /* The address was bound, so no port was left in the range: busy, as in walk_range. */
    return ranged && bound && rc == -EADDRNOTAVAIL ? -EADDRINUSE : rc;
}

/* The local port exists once connect has been called (the kernel picks it before the SYN),
 * and on loopback the peer's accept may come in the very next batch: learnt now. Without
 * it (no memory for the index) only loop detection is lost for this connection. */
static void name_outgoing(struct ktransport *t, struct kconn *c)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(c->io.fd, (struct sockaddr *)&ss, &sl) < 0)
        return;
    lb_addr_from_sockaddr(&c->local, (struct sockaddr *)&ss, sl);
    c->named = 1;
    if (t->loops) {
        struct lb_epset *set = lb_loopset_lock(t->loops, &c->local);
        c->indexed = lb_epset_add(set, &c->local, c) == 0;
        lb_loopset_unlock(t->loops, &c->local);
    } else {
        c->indexed = lb_epset_add(&t->out, &c->local, c) == 0;
    }
}

static int connect_named(struct lb_transport *tp, const struct lb_connect_opts *o, lb_conn_fn fn,
                         void *ctx, struct lb_conn **out)
{
    struct ktransport *t = (struct ktransport *)tp;
    int done = 0;
    int fd = open_connect(t, o, &done);
    if (fd < 0)
        return fd;
    struct kconn *c = conn_new(t, fd);
    int rc = c ? 0 : -ENOMEM;
    if (rc == 0) {
        c->fn = fn;
        c->ctx = ctx;
        c->peer = o->dst;
        c->nodelay_due = o->sock.nodelay != 0;
        c->outgoing = 1;
        c->connecting = !done;
        rc = sf_loop_add(tp->loop, &c->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    }
    if (rc < 0) {
        close_fd(t, fd);
        if (c)
            conn_discard(c);
        return rc;
    }
    live_add(c);
    name_outgoing(t, c);
    *out = &c->base;
    return 0;
}

static int k_connect(struct lb_transport *tp, const struct lb_connect_opts *o, lb_conn_fn fn,
                     void *ctx, struct lb_conn **out)
{
    struct ktransport *t = (struct ktransport *)tp;
    if (!t->loops)
        return connect_named(tp, o, fn, ctx, out);
    /* Odd from before the SYN until its local end is in the shared index: another
     * thread's accept of it waits for that (lb_loopset_settle). */
    atomic_fetch_add(&t->connect_seq, 1);
    int rc = connect_named(tp, o, fn, ctx, out);
    atomic_fetch_add(&t->connect_seq, 1);
    return rc;
}

static int k_connect_result(struct lb_conn *cc)
{
    struct kconn *c = (struct kconn *)cc;
    if (c->connect_err)
        return loop_err(c, c->connect_err);
    return c->connecting ? -EINPROGRESS : 0;
}

static ssize_t k_read(struct lb_conn *cc, void *buf, size_t len)
{
    struct kconn *c = (struct kconn *)cc;
    if (c->connect_err)
        return c->connect_err;
    ssize_t n = recv(c->io.fd, buf, len, 0);
    if (n == 0)
        c->eof = 1;
    return n < 0 ? loop_err(c, -errno) : n;
}

static ssize_t k_write(struct lb_conn *cc, const void *buf, size_t len, unsigned flags)
{
    struct kconn *c = (struct kconn *)cc;
    if (c->connect_err)
        return c->connect_err;
    if (c->nodelay_due && c->wrote) {
        /* A failure here would show in the send below, with its own errno. */
        set_int(c->io.fd, IPPROTO_TCP, TCP_NODELAY, 1);
        c->nodelay_due = 0;
    }
    int mf = MSG_NOSIGNAL | MSG_DONTWAIT | (flags & LB_WRITE_FIN_NEXT ? MSG_MORE : 0);
    ssize_t n = send(c->io.fd, buf, len, mf);
    if (n < 0)
        return loop_err(c, -errno);
    c->wrote = 1;
    return n;
}

/* Our FIN before the peer's, on a connection toward a server: the peer's FIN will turn it
 * into a TIME_WAIT entry that k_abort removes. The entry inherits the socket's cookie, taken
 * here before the FIN so that it exists by then; the removal names the entry by it, so that
 * it can never hit another socket with the same addresses, or the listener that the
 * kernel's lookup falls back to when the entry is gone. */
static void take_cookie(struct kconn *c)
{
    struct ktransport *t = c->tp;
    socklen_t len = sizeof c->cookie;
    if (t->twd_off || getsockopt(c->io.fd, SOL_SOCKET, SO_COOKIE, &c->cookie, &len) == 0)
        return;
    c->cookie = 0;
    t->base.tw_error = errno;
    t->twd_off = 1; /* a kernel without SO_COOKIE (before 4.12): no removal */
}

static int k_shutdown_write(struct lb_conn *cc)
{
    struct kconn *c = (struct kconn *)cc;
    int first = !c->eof && !c->fin_in;
    if (first && c->outgoing)
        take_cookie(c);
    if (shutdown(c->io.fd, SHUT_WR) < 0)
        return -errno;
    c->fin_sent = 1;
    c->fin_first = first;
    return 0;
}

static void k_close(struct lb_conn *cc)
{
    struct kconn *c = (struct kconn *)cc;
    if (c->indexed && c->tp->loops) {
        struct lb_epset *set = lb_loopset_lock(c->tp->loops, &c->local);
        lb_epset_del(set, &c->local, c);
        lb_loopset_unlock(c->tp->loops, &c->local);
    } else if (c->indexed) {
        lb_epset_del(&c->tp->out, &c->local, c);
    }
    close_fd(c->tp, c->io.fd); /* also leaves the epoll set */
    live_del(c);
    conn_discard(c);
}

/* The kernel's state number (tcp_states.h) through the first byte of TCP_INFO. */
static int kstate(int fd)
{
    uint8_t st[8];
    socklen_t len = sizeof st;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, st, &len) < 0)
        return -errno;
    return st[0];
}

#define KS_CLOSE      7
#define KS_CLOSE_WAIT 8
#define KS_CLOSING    11

/* Removes the TIME_WAIT entry of this connection if there is one, and counts the outcome.
 * surely: the entry exists (the peer's FIN came after ours went), as far as we can tell. */
static void remove_time_wait(struct ktransport *t, const struct lb_addr *local,
                             const struct lb_addr *peer, uint64_t cookie, int surely)
{
    int rc = lb_tw_destroy(&t->twd, local, peer, cookie);
    if (rc == 0) {
        LB_COUNT_INC(t->base.tw_removed);
        return;
    }
    if (rc == -ENOENT || rc == -ESTALE)
        return; /* none: the FINs crossed and the reset ended it, or a reset from the peer */
    if (surely)
        LB_COUNT_INC(t->base.tw_left);
    t->base.tw_error = -rc;
    if (rc != -EAGAIN && rc != -ENOBUFS && rc != -ENOMEM)
        t->twd_off = 1; /* EPERM, EOPNOTSUPP, ...: it will not work later either */
}

/* RST through SO_LINGER 0. When our FIN went first on a connection toward a server, there
 * may be nothing left to reset: once the peer's FIN followed, the kernel moved the connection
 * to a TIME_WAIT entry and closed the socket (TCP_INFO says CLOSE); when the FINs crossed
 * (CLOSING), the ACK of ours may do that at any moment, even between the look and the close.
 * Those entries are removed through sock_diag, by the address pair (getsockname still
 * answers on a closed socket) and the cookie (take_cookie). Accepted connections are left
 * alone: TIME_WAIT toward clients is not ours to remove. The local end was learnt at connect
 * (name_outgoing); getsockname would still answer on the closed socket, but costs a call. */
static void k_abort(struct lb_conn *cc)
{
    struct kconn *c = (struct kconn *)cc;
    struct ktransport *t = c->tp;
    int st = c->fin_first && c->outgoing ? kstate(c->io.fd) : -1;
    int surely = st == KS_CLOSE && (c->eof || c->fin_in);
    int named = (st == KS_CLOSE || st == KS_CLOSING) && c->cookie && !t->twd_off && c->named;
    if (st != KS_CLOSE) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    struct lb_addr local = c->local, peer = c->peer;
    k_close(cc);
    if (named)
        remove_time_wait(t, &local, &peer, c->cookie, surely);
    else if (surely)
        LB_COUNT_INC(t->base.tw_left);
}

static int k_info(struct lb_conn *cc, struct lb_conn_info *i)
{
    struct kconn *c = (struct kconn *)cc;
    memset(i, 0, sizeof *i);
    i->peer = c->peer;
    return lb_kernel_fd_info(c->io.fd, i);
}

static int k_unacked(struct lb_conn *cc)
{
    struct kconn *c = (struct kconn *)cc;
    int q = 0;
    if (ioctl(c->io.fd, SIOCOUTQ, &q) < 0)
        return -errno;
    /* The count runs to write_seq, which our FIN advanced by one: when FINs cross, ours is
     * still unacknowledged while every byte is, and a reset loses nothing. */
    return q > 0 && c->fin_sent ? q - 1 : q;
}

static int k_peer_fin(struct lb_conn *cc)
{
    struct kconn *c = (struct kconn *)cc;
    if (c->eof || c->fin_in)
        return 1;
    int st = kstate(c->io.fd);
    if (st < 0)
        return st;
    /* We have not shut down writing here yet, so the only state the peer's FIN leads to
     * is CLOSE_WAIT (or CLOSE after a reset, which the read reports). */
    if (st == KS_CLOSE_WAIT)
        c->fin_in = 1;
    return st == KS_CLOSE_WAIT || st == KS_CLOSE;
}

static const struct lb_addr *k_peer(struct lb_conn *cc)
{
    return &((struct kconn *)cc)->peer;
}

static void k_set_handler(struct lb_conn *cc, lb_conn_fn fn, void *ctx)
{
    struct kconn *c = (struct kconn *)cc;
    c->fn = fn;
    c->ctx = ctx;
}

static void listener_io(struct sf_io *io, uint32_t ev)
{
    struct klistener *l = CONTAINER(io, struct klistener, io);
    (void)ev;
    l->fn(l->ctx, &l->base);
}

static int k_listen(struct lb_transport *tp, const struct lb_listen_opts *o, lb_listener_fn fn,
                    void *ctx, struct lb_listener **out)
{
    struct ktransport *t = (struct ktransport *)tp;
    int fd =
        counted(t, socket(o->addr.u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd < 0)
        return -errno;
    int rc = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    /* An IPv6 listener takes IPv6 only (nginx's ipv6only=on, HAProxy's v6only): [::]:P and
     * 0.0.0.0:P then go side by side, and a listener means the same on the stack, whose
     * engine has no dual-stack listeners (docs/config.md, "listen"). */
    if (rc == 0 && o->addr.u.sa.sa_family == AF_INET6)
        rc = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
    if (rc == 0 && o->reuseport)
        rc = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    if (rc == 0)
        rc = apply_sockopts(fd, &o->sock, 1);
    if (rc == 0 && o->defer_accept_s)
        rc = set_int(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, o->defer_accept_s);
    if (rc == 0 && bind(fd, &o->addr.u.sa, o->addr.len) < 0)
        rc = -errno;
    if (rc == 0 && listen(fd, o->backlog > 0 ? o->backlog : 511) < 0)
        rc = -errno;
    struct klistener *l = NULL;
    if (rc == 0 && !(l = calloc(1, sizeof *l)))
        rc = -ENOMEM;
    if (rc == 0) {
        l->base.ops = &kernel_ops;
        l->io.fd = fd;
        l->io.fn = listener_io;
        l->tp = t;
        l->addr = o->addr;
        l->fn = fn;
        l->ctx = ctx;
        rc = sf_loop_add(tp->loop, &l->io, EPOLLIN);
    }
    if (rc < 0) {
        close_fd(t, fd);
        free(l);
        return rc;
    }
    l->lnext = t->live_listeners;
    if (l->lnext)
        l->lnext->lprev = l;
    t->live_listeners = l;
    *out = &l->base;
    return 0;
}

static void k_listener_close(struct lb_listener *ll)
{
    struct klistener *l = (struct klistener *)ll;
    /* An event for it may already be fetched in this batch: the loop skips an io without a
     * handler, and the struct is freed after the batch. */
    close_fd(l->tp, l->io.fd);
    l->io.fn = NULL;
    if (l->lprev)
        l->lprev->lnext = l->lnext;
    else
        l->tp->live_listeners = l->lnext;
    if (l->lnext)
        l->lnext->lprev = l->lprev;
    l->next = l->tp->dead_listeners;
    l->tp->dead_listeners = l;
}

static void k_listener_set_handler(struct lb_listener *ll, lb_listener_fn fn, void *ctx)
{
    struct klistener *l = (struct klistener *)ll;
    l->fn = fn;
    l->ctx = ctx;
}

static int k_listener_info(struct lb_listener *ll, struct lb_conn_info *i)
{
    struct klistener *l = (struct klistener *)ll;
    memset(i, 0, sizeof *i);
    return lb_kernel_fd_info(l->io.fd, i);
}

/* The outgoing connection of ours that an accepted connection (fd, from peer) comes from,
 * or NULL. Its local end is peer, and its destination is where fd arrived: the listener's
 * port, at the listener's address or, on a wildcard listener, at fd's own local address
 * (asked only then, and only for a candidate). A destination of 0.0.0.0 or :: is the local
 * host: any address matches it. */
static struct kconn *own_peer(struct klistener *l, const struct lb_epset *out, int fd,
                              const struct lb_addr *peer)
{
    struct lb_addr here = l->addr;
    int asked = 0;
    size_t it = 0;
    struct kconn *o;
    while ((o = lb_epset_next(out, peer, &it))) {
        if (lb_addr_port(&o->peer) != lb_addr_port(&l->addr))
            continue;
        if (lb_addr_is_any(&o->peer))
            return o;
        if (lb_addr_is_any(&here) && !asked) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof ss;
            asked = 1;
            if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
                return NULL;
            lb_addr_from_sockaddr(&here, (struct sockaddr *)&ss, sl);
        }
        if (lb_addr_same_host_unmapped(&o->peer, &here))
            return o;
    }
    return NULL;
}

/* With threads: whether fd comes from an outgoing connection of any thread (loopset.h),
 * which is then told so. One that another thread is still naming (inside its connect) is
 * waited for, when fd's peer could be this host: loopback, or fd's own address. */
static int shared_loop(struct klistener *l, int fd, const struct lb_addr *peer)
{
    struct ktransport *t = l->tp;
    for (int pass = 0;; pass++) {
        struct lb_epset *set = lb_loopset_lock(t->loops, peer);
        struct kconn *o = set->n ? own_peer(l, set, fd, peer) : NULL;
        if (o && o->tp == t && !o->connect_err)
            o->connect_err = -ELOOP; /* what its read or connect result reports */
        else if (o && o->tp != t)    /* it reads the flag when the reset reaches it */
            atomic_store_explicit(&o->looped, 1, memory_order_release);
        lb_loopset_unlock(t->loops, peer);
        if (o || pass)
            return o != NULL;
        struct lb_addr here = l->addr;
        if (!lb_addr_is_loopback(peer)) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof ss;
            if (lb_addr_is_any(&here) && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
                lb_addr_from_sockaddr(&here, (struct sockaddr *)&ss, sl);
            if (!lb_addr_same_host_unmapped(peer, &here))
                return 0;
        }
        if (!lb_loopset_settle(t->loops, &t->connect_seq))
            return 0;
    }
}

/* Resets an accepted connection that must not become one (a loop). */
static void refuse(struct ktransport *t, int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close_fd(t, fd);
}

static int k_accept(struct lb_listener *ll, unsigned flags, lb_conn_fn fn, void *ctx,
                    struct lb_conn **out)
{
    struct klistener *l = (struct klistener *)ll;
    struct ktransport *t = l->tp;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd =
        counted(t, accept4(l->io.fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (fd < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    struct lb_addr peer;
    lb_addr_from_sockaddr(&peer, (struct sockaddr *)&ss, sl);
    if ((flags & LB_ACCEPT_REFUSE_OWN) && t->loops) {
        if (shared_loop(l, fd, &peer)) {
            refuse(t, fd);
            return -ELOOP;
        }
    } else if ((flags & LB_ACCEPT_REFUSE_OWN) && t->out.n) {
        struct kconn *o = own_peer(l, &t->out, fd, &peer);
        if (o) {
            if (!o->connect_err)
                o->connect_err = -ELOOP; /* what its read or connect result reports */
            refuse(t, fd);
            return -ELOOP;
        }
    }
    struct kconn *c = conn_new(t, fd);
    if (!c) {
        close_fd(t, fd);
        return -ENOMEM;
    }
    c->peer = peer;
    c->fn = fn;
    c->ctx = ctx;
    int rc = sf_loop_add(t->base.loop, &c->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    if (rc < 0) {
        close_fd(t, fd);
        conn_discard(c);
        return rc;
    }
    live_add(c);
    *out = &c->base;
    return 0;
}

static int k_census(struct lb_transport *tp, const struct lb_census_scope *s, struct lb_census *c,
                    unsigned budget)
{
    struct ktransport *t = (struct ktransport *)tp;
    unsigned left = budget ? budget : UINT_MAX;
    if (!t->census_running) {
        t->census_running = 1;
        t->census_diag_done = 0;
        /* Listeners are few (one per address): all in the first slice, off the budget. */
        for (const struct klistener *l = t->live_listeners; l; l = l->lnext)
            lb_kernel_census_fd(l->io.fd, c);
        t->census_next = t->live;
    }
    /* The sock_diag part first: sliced, it runs on its thread while the loop counts. */
    if (!t->census_diag_done)
        t->census_diag_done =
            lb_kernel_census_diag_step(&t->census_diag, s, c, budget != 0) == LB_CENSUS_DONE;
    for (; t->census_next && left > 0; left--) {
        lb_kernel_census_fd(t->census_next->io.fd, c);
        t->census_next = t->census_next->lnext;
    }
    if (t->census_next)
        return LB_CENSUS_MORE;
    if (!t->census_diag_done)
        return LB_CENSUS_WAIT;
    t->census_running = 0;
    return LB_CENSUS_DONE;
}

/* Sockets counted per sync tick (LB_SYNC_MS) on a thread other than 0: about 0.5 ms of
 * TCP_INFO calls per 50 ms (CENSUS_BUDGET in src/ctl/census.c: 128 in 0.2-0.35 ms), so a
 * pass over 10,000 sockets takes 2 s while scrapes come. */
#define PUB_BUDGET 256
/* Four sync ticks without a slice: scrapes had stopped. */
#define PUB_STALE (200 * SF_NSEC_PER_MS)

/* A slice of this thread's own census; each complete pass is published (lb_kernel_pub). */
static void k_publish(struct lb_transport *tp)
{
    struct ktransport *t = (struct ktransport *)tp;
    struct lb_kernel_pub *p = &t->pub;
    uint64_t now = sf_loop_now(t->base.loop);
    /* Ticks stop between scrapes: counts half taken then are stale, start over. */
    if (p->running && now - p->last_ns > PUB_STALE)
        p->running = 0;
    p->last_ns = now;
    if (!p->running) {
        memset(&p->work, 0, sizeof p->work);
        p->running = 1;
        for (const struct klistener *l = t->live_listeners; l; l = l->lnext)
            lb_kernel_census_fd(l->io.fd, &p->work);
        t->pub_next = t->live;
    }
    for (unsigned left = PUB_BUDGET; t->pub_next && left > 0; left--) {
        lb_kernel_census_fd(t->pub_next->io.fd, &p->work);
        t->pub_next = t->pub_next->lnext;
    }
    if (!t->pub_next)
        lb_kernel_pub_store(p);
}

static void k_census_published(struct lb_transport *tp, const struct lb_census_scope *s,
                               struct lb_census *c)
{
    (void)s; /* thread 0's sock_diag part has counted what no descriptor holds */
    lb_kernel_pub_add(&((struct ktransport *)tp)->pub, c);
}

static void k_metrics(struct lb_transport *const *tp, size_t n, struct sf_strbuf *b)
{
    (void)tp;
    (void)n; /* the host's TCP has its own counters: nstat, /proc/net/snmp */
    (void)b;
}

static uint64_t k_finishing(struct lb_transport *tp)
{
    (void)tp;
    return 0;
}

static int k_room(struct lb_transport *tp, unsigned n, unsigned spare)
{
    uint64_t want = (uint64_t)n + spare;
    return tp->conn_open <= tp->conn_limit && want <= tp->conn_limit - tp->conn_open;
}

static void k_free(struct lb_transport *tp)
{
    struct ktransport *t = (struct ktransport *)tp;
    reap(&t->reap);
    lb_twd_close(&t->twd);
    lb_kernel_census_diag_reset(&t->census_diag);
    lb_epset_free(&t->out);
    while (t->cache) {
        struct kconn *c = t->cache;
        t->cache = c->next;
        free(c);
    }
    free(t);
}

static const struct lb_transport_ops kernel_ops = {
    .name = "kernel",
    .listen = k_listen,
    .listener_close = k_listener_close,
    .listener_set_handler = k_listener_set_handler,
    .listener_info = k_listener_info,
    .accept = k_accept,
    .connect = k_connect,
    .connect_result = k_connect_result,
    .read = k_read,
    .write = k_write,
    .shutdown_write = k_shutdown_write,
    .close = k_close,
    .abort = k_abort,
    .info = k_info,
    .unacked = k_unacked,
    .peer_fin = k_peer_fin,
    .peer = k_peer,
    .set_handler = k_set_handler,
    .census = k_census,
    .census_published = k_census_published,
    .metrics = k_metrics,
    .publish = k_publish,
    .finishing = k_finishing,
    .room = k_room,
    .free = k_free,
};

/* RLIMIT_NOFILE bounds descriptor numbers, and the kernel hands out the lowest free one: the
 * lowest free number now is what the process already holds (stdio, the loop's epoll, any
 * inherited), and the TIME_WAIT removal's netlink socket is one more of ours. */
static uint64_t fd_budget(unsigned reserve)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return UINT64_MAX;
    uint64_t limit = rl.rlim_cur, held = 3;
    int probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (probe >= 0) {
        held = (uint64_t)probe;
        close(probe);
    }
    uint64_t outside = held + reserve + 1;
    /* Under a limit so small that the reserve would leave next to nothing, the reserve is a
     * guess too large to honour: keep a quarter of the descriptors for connections. */
    return outside + limit / 4 > limit ? limit / 4 : limit - outside;
}

struct lb_transport *lb_transport_kernel_new(struct sf_loop *loop, unsigned reserve)
{
    struct ktransport *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->base.ops = &kernel_ops;
    t->base.loop = loop;
    t->base.conn_limit = fd_budget(reserve);
    lb_epset_init(&t->out);
    t->reap.fn = reap;
    lb_twd_init(&t->twd);
    sf_loop_add_hook(loop, &t->reap);
    return &t->base;
}

void lb_transport_kernel_share_loops(struct lb_transport *tp, struct lb_loopset *ls)
{
    struct ktransport *t = (struct ktransport *)tp;
    if (lb_loopset_join(ls, &t->connect_seq) == 0)
        t->loops = ls;
}
