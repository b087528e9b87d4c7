/* The transport interface: what a load-balancer session needs from TCP, and nothing more.
 *
 * Two implementations: `kernel` (host sockets under an edge-triggered epoll loop,
 * transport_kernel.c) and `stack` (synfin's own engine). Session, health-check and responder
 * code only call the functions below, so either transport carries them unchanged.
 *
 * Contract
 * - Ownership: the caller owns every buffer it passes; read copies into it, write copies out
 *   of it before returning. A connection object belongs to the transport: it stays valid until
 *   lb_conn_close or lb_conn_abort, after which the caller must not touch it. Events are never
 *   delivered after that, even for readiness already pending in the same loop iteration.
 * - Events are edges, as with EPOLLET: LB_EV_READ means "something new to read (data, the
 *   peer's FIN, or an error)"; LB_EV_WRITE "send space appeared, or a connect completed".
 *   After an event, call the operation until it returns -EAGAIN (or, for read, returns fewer
 *   bytes than asked: a short read also means drained); only then is another event owed. An
 *   owner that stops early (its buffer is full) keeps that readiness in its own state.
 * - LB_EV_HUP says the peer's FIN has arrived: once the data is read, read returns 0.
 *   LB_EV_ERROR says the connection failed or was reset: the next read or write returns the
 *   error (-ECONNRESET for an RST, -ECONNREFUSED/-ETIMEDOUT/... for a failed connect).
 * - Errors are returned as negative errno values; nothing here raises signals (no SIGPIPE).
 * - A connect returns at once; its completion is LB_EV_WRITE (check lb_conn_connect_result)
 *   or LB_EV_ERROR.
 * - Closing: lb_conn_shutdown_write sends FIN after the data already written (half-close;
 *   reading goes on). lb_conn_close ends the connection gracefully (FIN if not yet sent,
 *   queued data still delivered). lb_conn_abort ends it with RST at once, discarding queued
 *   data: no TIME_WAIT on this side. On a connection made by lb_connect whose FIN went
 *   first and was followed by the peer's, the connection is already in TIME_WAIT; abort
 *   then removes that entry where the transport can (the kernel one: SOCK_DESTROY, see
 *   transport_kernel.c) and counts it in tw_removed, or in tw_left where it cannot.
 *   Accepted connections' TIME_WAIT is left alone.
 * - A write flagged LB_WRITE_FIN_NEXT promises a shutdown or close right after it if every
 *   byte was taken; the transport may hold the last partial segment so that the FIN travels
 *   with it (one packet fewer).
 * - Listeners: LB_EV_READ on a listener means connections are waiting: call lb_accept until
 *   -EAGAIN. Accepted connections inherit the listener's options (nodelay, keepalive, ...).
 * - Room: every connection costs the transport something it has a bound of (the kernel one:
 *   a descriptor under RLIMIT_NOFILE; the engine: memory). lb_transport_room says whether n
 *   more can be had now, so that a caller waits (a frontend stops accepting, the kernel
 *   backlog holds its clients) instead of starting what it cannot finish. A connect or
 *   accept that runs short anyway fails with -EMFILE, -ENFILE, -ENOBUFS or -ENOMEM.
 * - Loops: a connection accepted with LB_ACCEPT_REFUSE_OWN that comes from one of this
 *   transport's own outgoing connections (a server address that leads back to a frontend)
 *   is reset at once and lb_accept returns -ELOOP; that outgoing connection then fails with
 *   -ELOOP (connect result, read, write) once its peer's RST arrives.
 *
 * All calls for one transport instance happen on its loop's thread. */
#ifndef SYNFIN_LB_TRANSPORT_H
#define SYNFIN_LB_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lb/addr.h"
#include "tcp/tcp.h" /* enum sf_state: one list of state names for both transports */

struct sf_loop;
struct sf_strbuf;
struct lb_transport;
struct lb_conn;
struct lb_listener;

enum {
    LB_WRITE_FIN_NEXT = 1, /* lb_conn_send: a FIN follows at once */
};

enum {
    LB_ACCEPT_REFUSE_OWN = 1, /* lb_accept: reset a connection from our own outgoing one */
};

enum {
    LB_EV_READ = 1,
    LB_EV_WRITE = 2,
    LB_EV_HUP = 4,
    LB_EV_ERROR = 8,
};

typedef void (*lb_conn_fn)(void *ctx, struct lb_conn *c, unsigned events);
typedef void (*lb_listener_fn)(void *ctx, struct lb_listener *l);

/* Socket behaviour a profile asks for. Zero values mean "leave the system default". */
struct lb_sockopts {
    int nodelay;           /* TCP_NODELAY */
    int keepalive;         /* SO_KEEPALIVE */
    int keepalive_idle_s;  /* TCP_KEEPIDLE */
    int keepalive_intvl_s; /* TCP_KEEPINTVL */
    int keepalive_cnt;     /* TCP_KEEPCNT */
    int user_timeout_ms;   /* TCP_USER_TIMEOUT */
    int fastopen_connect;  /* stack transport: connect with TCP Fast Open (the first write
                            * goes in the SYN once a cookie is cached) */
    /* The stack transport's engine settings for the connection (the profile's time_wait,
     * syn_retries, ...); NULL: the engine's. The kernel transport has the host's. */
    const struct sf_tcp_config *tcp;
};

struct lb_listen_opts {
    struct lb_addr addr;
    int backlog;
    int reuseport;
    int defer_accept_s; /* TCP_DEFER_ACCEPT; 0 off */
    struct lb_sockopts sock;
};

/* A source address for outgoing connections, with an optional local port range. */
struct lb_source {
    struct lb_addr addr;
    uint16_t port_lo, port_hi; /* 0, 0: the kernel chooses */
    uint32_t next;             /* cursor over the range (0 to its size) when we choose */
    /* The kernel transport walks the range itself: it does not lie inside the system's
     * ip_local_port_range, which IP_LOCAL_PORT_RANGE could only narrow (lb/source_ports.c). */
    uint8_t walk;
    uint8_t unlogged; /* that choice is new since the last apply: not logged yet */
};

struct lb_connect_opts {
    struct lb_addr dst;
    /* NULL: the kernel's choice; its cursor advances. A connect that finds no port of the
     * source's range free returns -EADDRINUSE (the range is busy until connections end);
     * -EADDRNOTAVAIL is the source address itself (not on the host). */
    struct lb_source *src;
    struct lb_sockopts sock;
};

struct lb_conn_info {
    enum sf_state state;
    struct lb_addr local, peer;
    uint32_t unacked; /* bytes written but not yet acknowledged by the peer */
    uint32_t rtt_us;
    const char *cause; /* what caused the latest transition (the stack knows; NULL if not) */
    uint64_t id;       /* the connection's number in lb_transport.trace (0: no trace) */
};

/* The last transitions of every connection, oldest first, for the dashboard's session
 * timelines: a ring of LB_TRACE_LEN, the newest at ring[(n - 1) % LB_TRACE_LEN]. */
#define LB_TRACE_LEN 65536
struct lb_transition {
    uint64_t conn_id; /* lb_conn_info.id; TIME-WAIT entries keep their connection's */
    uint64_t when_ns; /* the loop's clock */
    uint8_t from, to, cause;
};
struct lb_trace {
    struct lb_transition *ring;
    uint64_t n; /* written since start */
};

/* The census of the transport's own TCP: its connections and listeners by state, and the
 * TIME_WAIT entries its closes left on the balancer's addresses, by side. */
struct lb_census {
    uint64_t states[SF_STATE_COUNT];
    uint64_t tw_frontend; /* TIME_WAIT on a frontend's listening address */
    uint64_t tw_backend;  /* TIME_WAIT from synfin's connections toward servers */
    uint64_t tw_respond;  /* TIME_WAIT on a built-in responder's address */
    int diag_error;       /* -errno if the transport could not count them all */
};

/* The balancer's addresses, for a transport whose TIME_WAIT entries live in a table shared
 * with others (the host kernel's): which entries are ours, and on which side. */
struct lb_census_server {
    const struct lb_addr *addr;
    const struct lb_source *sources; /* the backend's source addresses, if it has some */
    uint32_t nsources;
};
struct lb_census_scope {
    const struct lb_addr *const *frontends, *const *responds;
    size_t nfrontends, nresponds;
    const struct lb_census_server *servers;
    size_t nservers;
};

struct lb_transport_ops {
    const char *name;
    int (*listen)(struct lb_transport *t, const struct lb_listen_opts *o, lb_listener_fn fn,
                  void *ctx, struct lb_listener **out);
    void (*listener_close)(struct lb_listener *l);
    void (*listener_set_handler)(struct lb_listener *l, lb_listener_fn fn, void *ctx);
    int (*listener_info)(struct lb_listener *l, struct lb_conn_info *i);
    int (*accept)(struct lb_listener *l, unsigned flags, lb_conn_fn fn, void *ctx,
                  struct lb_conn **out);
    int (*connect)(struct lb_transport *t, const struct lb_connect_opts *o, lb_conn_fn fn,
                   void *ctx, struct lb_conn **out);
    int (*connect_result)(struct lb_conn *c);
    ssize_t (*read)(struct lb_conn *c, void *buf, size_t len);
    ssize_t (*write)(struct lb_conn *c, const void *buf, size_t len, unsigned flags);
    int (*shutdown_write)(struct lb_conn *c);
    void (*close)(struct lb_conn *c);
    void (*abort)(struct lb_conn *c);
    int (*info)(struct lb_conn *c, struct lb_conn_info *i);
    int (*unacked)(struct lb_conn *c);
    int (*peer_fin)(struct lb_conn *c);
    const struct lb_addr *(*peer)(struct lb_conn *c);
    void (*set_handler)(struct lb_conn *c, lb_conn_fn fn, void *ctx);
    /* The census of everything this transport holds, in slices: see lb_transport_census. */
    int (*census)(struct lb_transport *t, const struct lb_census_scope *s, struct lb_census *c,
                  unsigned budget);
    /* The census of another thread's transport, from what it last published (publish), added
     * to c by thread 0's census when its own is complete (NULL: nothing to add). */
    void (*census_published)(struct lb_transport *t, const struct lb_census_scope *s,
                             struct lb_census *c);
    /* Appends the transport's own Prometheus families to b (may append nothing): the sum
     * over t[0] (the caller's own) and t[1..n-1] (other threads', from what they published). */
    void (*metrics)(struct lb_transport *const *t, size_t n, struct sf_strbuf *b);
    /* Copies the figures the transport's thread alone may read into relaxed atomics that
     * another thread's scrape reads (NULL: nothing to publish). On its own thread, while
     * scrapes come (docs/architecture.md, "Admin and figures"). */
    void (*publish)(struct lb_transport *t);
    /* Connections the balancer closed that are still finishing their close (FIN exchange,
     * not TIME-WAIT): a transport that would drop them when freed says how many (the
     * kernel finishes them on its own: 0). */
    uint64_t (*finishing)(struct lb_transport *t);
    int (*room)(struct lb_transport *t, unsigned n, unsigned spare);
    void (*free)(struct lb_transport *t);
};

/* Every implementation's transport, connection and listener start with these. */
struct lb_transport {
    const struct lb_transport_ops *ops;
    struct sf_loop *loop;
    uint64_t tw_removed; /* TIME_WAIT entries an abort found on its connection and removed */
    uint64_t tw_left;    /* ... and could not remove (no permission, old kernel) */
    int tw_error;        /* why not: the errno of the refusal, 0 while none */
    int census_instant;  /* the census is counters the transport keeps: O(1), take it anew
                          * for every scrape (the stack); 0: it costs work per socket */
    uint64_t conn_open;  /* connections and listeners held now */
    /* Transitions by arrow and cause, [from][to][cause] flattened (lb_arrow_index); NULL
     * when the transport is not told them (the kernel's sockets). */
    const uint64_t *arrows;
    /* Each connection's transitions, the latest LB_TRACE_LEN of them; NULL when the
     * transport is not told them. */
    const struct lb_trace *trace;
    uint64_t conn_limit; /* how many it can hold at once (the kernel one: its descriptors) */
};
struct lb_conn {
    const struct lb_transport_ops *ops;
};
#define LB_ARROWS_LEN ((size_t)SF_STATE_COUNT * SF_STATE_COUNT * SF_CAUSE_COUNT)
static inline size_t lb_arrow_index(int from, int to, int cause)
{
    return ((size_t)from * SF_STATE_COUNT + (size_t)to) * SF_CAUSE_COUNT + (size_t)cause;
}
struct lb_listener {
    const struct lb_transport_ops *ops;
};

/* The kernel implementation over the loop's epoll set. Its descriptors are RLIMIT_NOFILE
 * less those open when it starts and `reserve` more that the process will hold outside it
 * (signalfd, admin listener and connections, log file, ...). */
struct lb_transport *lb_transport_kernel_new(struct sf_loop *loop, unsigned reserve);
/* With threads: every thread's kernel transport indexes its outgoing connections in ls
 * (loopset.h), so that a loop is refused whichever thread accepts it. Before any connect. */
struct lb_loopset;
void lb_transport_kernel_share_loops(struct lb_transport *tp, struct lb_loopset *ls);

/* The stack implementation: synfin's engine on the host glue (io/host.h), over the device and
 * addresses c names. NULL with a one-line reason in err (what is missing when not root). */
struct lb_transport_conf;
struct lb_transport *lb_transport_stack_new(struct sf_loop *loop, const struct lb_transport_conf *c,
                                            char *err, size_t errlen);
/* The same for one thread of `queues` (docs/architecture.md, "The stack transport with
 * threads"): queue `queue` of a multi-queue TUN, an engine of its own whose connections
 * toward servers take ports that bring their answers back to this queue. Queue 0 (first
 * NULL) creates the device with all its queues and addresses it; each other queue is taken
 * from first, queue 0's transport (on the thread that made it, before the threads run). */
struct lb_transport *lb_transport_stack_new_queue(struct sf_loop *loop,
                                                  const struct lb_transport_conf *c, unsigned queue,
                                                  unsigned queues, struct lb_transport *first,
                                                  char *err, size_t errlen);

static inline int lb_listen(struct lb_transport *t, const struct lb_listen_opts *o,
                            lb_listener_fn fn, void *ctx, struct lb_listener **out)
{
    return t->ops->listen(t, o, fn, ctx, out);
}
static inline void lb_listener_close(struct lb_listener *l)
{
    l->ops->listener_close(l);
}
/* Hands a listener to a new owner (a reload keeps the socket of an unchanged address). */
static inline void lb_listener_set_handler(struct lb_listener *l, lb_listener_fn fn, void *ctx)
{
    l->ops->listener_set_handler(l, fn, ctx);
}
static inline int lb_listener_info(struct lb_listener *l, struct lb_conn_info *i)
{
    return l->ops->listener_info(l, i);
}
/* 0 and *out, -EAGAIN when none is waiting, -ELOOP for a connection refused under
 * LB_ACCEPT_REFUSE_OWN, other -errno on failure (EMFILE, ...). */
static inline int lb_accept(struct lb_listener *l, unsigned flags, lb_conn_fn fn, void *ctx,
                            struct lb_conn **out)
{
    return l->ops->accept(l, flags, fn, ctx, out);
}
static inline int lb_connect(struct lb_transport *t, const struct lb_connect_opts *o, lb_conn_fn fn,
                             void *ctx, struct lb_conn **out)
{
    return t->ops->connect(t, o, fn, ctx, out);
}
/* After LB_EV_WRITE or LB_EV_ERROR on a connecting conn: 0 connected, -EINPROGRESS still
 * connecting, -errno failed. */
static inline int lb_conn_connect_result(struct lb_conn *c)
{
    return c->ops->connect_result(c);
}
/* >0 bytes, 0 the peer's FIN, -EAGAIN nothing now, -ECONNRESET/... failure. */
static inline ssize_t lb_conn_read(struct lb_conn *c, void *buf, size_t len)
{
    return c->ops->read(c, buf, len);
}
/* >0 bytes taken (maybe fewer than len), -EAGAIN no space now, -EPIPE/-ECONNRESET failure. */
static inline ssize_t lb_conn_write(struct lb_conn *c, const void *buf, size_t len)
{
    return c->ops->write(c, buf, len, 0);
}
/* lb_conn_write with flags (LB_WRITE_FIN_NEXT). */
static inline ssize_t lb_conn_send(struct lb_conn *c, const void *buf, size_t len, unsigned flags)
{
    return c->ops->write(c, buf, len, flags);
}
static inline int lb_conn_shutdown_write(struct lb_conn *c)
{
    return c->ops->shutdown_write(c);
}
static inline void lb_conn_close(struct lb_conn *c)
{
    c->ops->close(c);
}
static inline void lb_conn_abort(struct lb_conn *c)
{
    c->ops->abort(c);
}
static inline int lb_conn_info(struct lb_conn *c, struct lb_conn_info *i)
{
    return c->ops->info(c, i);
}
/* Bytes written but not yet acknowledged by the peer (>= 0; a FIN sent is not a byte), or
 * -errno. Cheaper than lb_conn_info: the close path asks it before choosing RST. */
static inline int lb_conn_unacked(struct lb_conn *c)
{
    return c->ops->unacked(c);
}
/* 1 if the peer's FIN has arrived (read or not yet), 0 if not, or -errno. For the close
 * path only: it asks the TCP below (the kernel, the engine) at once, where events would tell only
 * later in the batch. */
static inline int lb_conn_peer_fin(struct lb_conn *c)
{
    return c->ops->peer_fin(c);
}
/* The peer's address (known since accept or connect; no system call). */
static inline const struct lb_addr *lb_conn_peer(struct lb_conn *c)
{
    return c->ops->peer(c);
}
static inline void lb_conn_set_handler(struct lb_conn *c, lb_conn_fn fn, void *ctx)
{
    c->ops->set_handler(c, fn, ctx);
}
/* The census in slices, so that counting thousands of connections never holds the loop (on
 * kernel sockets each costs a system call, and the kernel cannot report transitions for a
 * count kept as events happen). The first call after a census completed starts a new one;
 * each call does at most about `budget` units of work (a unit: one socket looked at) and
 * adds what it counted to c, which the caller zeroed before the first call and passes
 * unchanged to the next ones. Returns LB_CENSUS_DONE when the census in c is complete,
 * LB_CENSUS_MORE when it needs another call, LB_CENSUS_WAIT when what is left runs on a
 * thread of the transport's (the kernel's sock_diag dumps): call again a little later, no
 * work is owed on the loop meanwhile. budget 0: no bound, one call, done.
 * A connection opened after the census started is not in it, nor one closed before its
 * turn; every other one is counted exactly once. s may change between calls (a reload): each
 * call counts with the scope it is given, the part on a thread with the scope of the call
 * that started it. A transport that keeps counters (the engine) completes in the first call
 * whatever the budget. */
enum { LB_CENSUS_MORE = 0, LB_CENSUS_DONE = 1, LB_CENSUS_WAIT = 2 };
static inline int lb_transport_census(struct lb_transport *t, const struct lb_census_scope *s,
                                      struct lb_census *c, unsigned budget)
{
    return t->ops->census(t, s, c, budget);
}
static inline void lb_transport_metrics(struct lb_transport *const *t, size_t n,
                                        struct sf_strbuf *b)
{
    t[0]->ops->metrics(t, n, b);
}
static inline void lb_transport_publish(struct lb_transport *t)
{
    if (t->ops->publish)
        t->ops->publish(t);
}
static inline uint64_t lb_transport_finishing(struct lb_transport *t)
{
    return t->ops->finishing(t);
}
/* 1 if n more connections can be had now and `spare` more after them, else 0. Callers pass
 * as spare what others must still find (health checks, responders, sessions waiting for
 * their server connection): a session asks for two. */
static inline int lb_transport_room(struct lb_transport *t, unsigned n, unsigned spare)
{
    return t->ops->room(t, n, spare);
}
static inline void lb_transport_free(struct lb_transport *t)
{
    if (t)
        t->ops->free(t);
}

#endif
