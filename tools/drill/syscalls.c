/* The socket calls of a script, made on the engine's API.
 *
 * Descriptors are numbered from 3 as in a fresh process, lowest free first. Each call is an
 * attempt function: it either finishes (a result, or -1 and an errno, exactly as Linux would
 * give them) or, on a blocking descriptor, says it would block; the event loop then retries
 * it as time passes and packets arrive, which is how blocking calls are emulated on the
 * non-blocking engine.
 */
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "calls.h"
#include "format.h"

/* ---- names scripts use ---------------------------------------------------------------------- */

struct sym {
    const char *name;
    long value;
};

#define SYM(x)                                                                                     \
    {                                                                                              \
#x, x                                                                                      \
    }

/* Linux's TCP_* state numbers, as tcpi_state reports them. */
enum {
    LX_ESTABLISHED = 1,
    LX_SYN_SENT,
    LX_SYN_RECV,
    LX_FIN_WAIT1,
    LX_FIN_WAIT2,
    LX_TIME_WAIT,
    LX_CLOSE,
    LX_CLOSE_WAIT,
    LX_LAST_ACK,
    LX_LISTEN,
    LX_CLOSING,
};

static const struct sym symbols[] = {
    SYM(AF_INET),
    SYM(PF_INET),
    SYM(AF_INET6),
    SYM(SOCK_STREAM),
    SYM(SOCK_NONBLOCK),
    SYM(SOCK_CLOEXEC),
    SYM(IPPROTO_TCP),
    SYM(IPPROTO_IP),
    SYM(SOL_SOCKET),
    SYM(SOL_TCP),
    SYM(SO_REUSEADDR),
    SYM(SO_KEEPALIVE),
    SYM(SO_LINGER),
    SYM(SO_ERROR),
    SYM(SO_RCVBUF),
    SYM(SO_SNDBUF),
    SYM(TCP_NODELAY),
    SYM(TCP_CORK),
    SYM(TCP_MAXSEG),
    SYM(TCP_KEEPIDLE),
    SYM(TCP_KEEPINTVL),
    SYM(TCP_KEEPCNT),
    SYM(TCP_USER_TIMEOUT),
    SYM(TCP_INFO),
    SYM(F_GETFL),
    SYM(F_SETFL),
    SYM(O_RDONLY),
    SYM(O_WRONLY),
    SYM(O_RDWR),
    SYM(O_NONBLOCK),
    SYM(SHUT_RD),
    SYM(SHUT_WR),
    SYM(SHUT_RDWR),
    SYM(POLLIN),
    SYM(POLLPRI),
    SYM(POLLOUT),
    SYM(POLLERR),
    SYM(POLLHUP),
    SYM(POLLNVAL),
    SYM(POLLRDHUP),
    SYM(MSG_NOSIGNAL),
    SYM(MSG_PEEK),
    SYM(MSG_DONTWAIT),
    SYM(MSG_EOR),
    SYM(TCP_NOTSENT_LOWAT),
    SYM(TCP_FASTOPEN),
    SYM(TCP_FASTOPEN_KEY),
    SYM(TCP_FASTOPEN_CONNECT),
    SYM(TCP_FASTOPEN_NO_COOKIE),
    SYM(MSG_FASTOPEN),
    {"TCPI_OPT_SYN_DATA", 32},
    {"TCP_NOOPT", DR_TCP_NOOPT},
    {"TCP_KEEPINIT", DR_TCP_KEEPINIT},
    SYM(TCP_MD5SIG),
    SYM(INADDR_ANY),
    {"TCP_ESTABLISHED", LX_ESTABLISHED},
    {"TCP_SYN_SENT", LX_SYN_SENT},
    {"TCP_SYN_RECV", LX_SYN_RECV},
    {"TCP_FIN_WAIT1", LX_FIN_WAIT1},
    {"TCP_FIN_WAIT2", LX_FIN_WAIT2},
    {"TCP_TIME_WAIT", LX_TIME_WAIT},
    {"TCP_CLOSE", LX_CLOSE},
    {"TCP_CLOSE_WAIT", LX_CLOSE_WAIT},
    {"TCP_LAST_ACK", LX_LAST_ACK},
    {"TCP_LISTEN", LX_LISTEN},
    {"TCP_CLOSING", LX_CLOSING},
};

static const struct sym errnos[] = {
    SYM(EAGAIN),        SYM(EINPROGRESS),  SYM(EALREADY),        SYM(EISCONN),
    SYM(ENOTCONN),      SYM(ECONNREFUSED), SYM(ECONNRESET),      SYM(ECONNABORTED),
    SYM(ETIMEDOUT),     SYM(EPIPE),        SYM(EINVAL),          SYM(EADDRINUSE),
    SYM(EADDRNOTAVAIL), SYM(EBADF),        SYM(ENOTSOCK),        SYM(EOPNOTSUPP),
    SYM(ENOMEM),        SYM(ENOBUFS),      SYM(EHOSTUNREACH),    SYM(ENETUNREACH),
    SYM(EPERM),         SYM(EACCES),       SYM(EMFILE),          SYM(EFAULT),
    SYM(ENOPROTOOPT),   SYM(EAFNOSUPPORT), SYM(EPROTONOSUPPORT), SYM(EINTR),
    SYM(ESHUTDOWN),     SYM(EWOULDBLOCK),  SYM(EEXIST),          SYM(ENOENT),
};

static int dc_lookup(const struct sym *t, size_t n, const char *name, long *out)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].name, name)) {
            *out = t[i].value;
            return 0;
        }
    return -1;
}

const char *dc_errno_name(int e)
{
    for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++)
        if (errnos[i].value == e)
            return errnos[i].name;
    static char buf[32];
    snprintf(buf, sizeof buf, "errno %d", e);
    return buf;
}

int dc_linux_state(enum sf_state s)
{
    static const int map[SF_STATE_COUNT] = {
        [SF_CLOSED] = LX_CLOSE,
        [SF_LISTEN] = LX_LISTEN,
        [SF_SYN_SENT] = LX_SYN_SENT,
        [SF_SYN_RECEIVED] = LX_SYN_RECV,
        [SF_ESTABLISHED] = LX_ESTABLISHED,
        [SF_FIN_WAIT_1] = LX_FIN_WAIT1,
        [SF_FIN_WAIT_2] = LX_FIN_WAIT2,
        [SF_CLOSE_WAIT] = LX_CLOSE_WAIT,
        [SF_CLOSING] = LX_CLOSING,
        [SF_LAST_ACK] = LX_LAST_ACK,
        [SF_TIME_WAIT] = LX_TIME_WAIT,
    };
    return (unsigned)s < SF_STATE_COUNT ? map[s] : 0;
}

/* ---- arguments ------------------------------------------------------------------------------ */

const char *dc_call_text(const struct dr_event *ev, char *buf, size_t len)
{
    struct dr_text t;
    dr_text_init(&t, buf, len);
    dr_format_call(&t, &ev->call);
    return buf;
}

/* An integer argument: a number, a name, a|b, htons(n), inet_addr("a.b.c.d"), [n]. */
int dc_eval(struct runner *r, const struct dr_event *ev, const struct dr_expr *e, long *out)
{
    long a, b;
    switch (e->kind) {
    case DR_X_INT: *out = (long)e->num; return 0;
    case DR_X_WORD:
        if (dc_lookup(symbols, sizeof symbols / sizeof symbols[0], e->text, out) == 0 ||
            dc_lookup(errnos, sizeof errnos / sizeof errnos[0], e->text, out) == 0 ||
            dc_more_symbol(e->text, out) == 0)
            return 0;
        return dr_unsupported(r, ev, "%s: name '%s' (column %d) is not known", ev->call.name,
                              e->text, e->pos.col);
    case DR_X_OR:
        if (dc_eval(r, ev, e->lhs, &a) < 0 || dc_eval(r, ev, e->rhs, &b) < 0)
            return -1;
        *out = a | b;
        return 0;
    case DR_X_LIST:
        if (e->n == 1)
            return dc_eval(r, ev, e->items[0], out);
        break;
    case DR_X_CALL:
        if (!strcmp(e->text, "htons") && e->n == 1)
            return dc_eval(r, ev, e->items[0], out);
        if (!strcmp(e->text, "inet_addr") && e->n == 1 && e->items[0]->kind == DR_X_STRING) {
            struct sf_addr addr;
            if (sf_addr_parse(e->items[0]->text, &addr) < 0)
                return dr_fail(r, ev, "%s: bad address \"%s\"", ev->call.name, e->items[0]->text);
            *out = (long)((uint32_t)addr.u.v4[0] << 24 | (uint32_t)addr.u.v4[1] << 16 |
                          (uint32_t)addr.u.v4[2] << 8 | addr.u.v4[3]);
            return 0;
        }
        break;
    default: break;
    }
    return dr_fail(r, ev, "%s: expected a number at column %d", ev->call.name, e->pos.col);
}

int dc_nargs(struct runner *r, const struct dr_event *ev, size_t lo, size_t hi)
{
    size_t n = ev->call.nargs;
    if (n >= lo && n <= hi)
        return 0;
    if (lo == hi)
        return dr_fail(r, ev, "%s: expected %zu arguments, got %zu", ev->call.name, lo, n);
    return dr_fail(r, ev, "%s: expected %zu to %zu arguments, got %zu", ev->call.name, lo, hi, n);
}

int dc_arg(struct runner *r, const struct dr_event *ev, size_t i, long *out)
{
    return dc_eval(r, ev, ev->call.args[i], out);
}

int dc_is_ellipsis(const struct dr_expr *e)
{
    return e->kind == DR_X_ELLIPSIS;
}

/* A field of a {name=value, ...} structure, or NULL. */
const struct dr_expr *dc_field(const struct dr_expr *e, const char *name)
{
    if (e->kind != DR_X_STRUCT)
        return NULL;
    for (size_t i = 0; i < e->n; i++)
        if (e->items[i]->kind == DR_X_ASSIGN && !strcmp(e->items[i]->text, name))
            return e->items[i]->rhs;
    return NULL;
}

/* A socket address: "..." is the engine's address and bind_port for bind, the script's
 * address and connect_port for connect. */
static int sockaddr(struct runner *r, const struct dr_event *ev, const struct dr_expr *e,
                    const struct sf_addr *addr, uint16_t port, struct sf_endpoint *out)
{
    out->addr = *addr;
    out->port = port;
    if (dc_is_ellipsis(e))
        return 0;
    const struct dr_expr *p = dc_field(e, "sin_port"), *a = dc_field(e, "sin_addr");
    long v;
    if (!p || !a)
        return dr_fail(r, ev,
                       "%s: expected ... or {sa_family=AF_INET, sin_port=htons(N), "
                       "sin_addr=inet_addr(\"A.B.C.D\")}",
                       ev->call.name);
    if (dc_eval(r, ev, p, &v) < 0)
        return -1;
    if (v < 0 || v > 65535)
        return dr_fail(r, ev, "%s: port %ld out of range", ev->call.name, v);
    out->port = (uint16_t)v;
    if (dc_eval(r, ev, a, &v) < 0)
        return -1;
    out->addr = sf_addr_v4((uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v);
    return 0;
}

/* ---- descriptors -------------------------------------------------------------------------- */

static void no_events(struct sf_conn *c, unsigned events, void *user)
{
    (void)c, (void)events, (void)user;
}

/* The descriptor a new socket gets: the one the script expects when it is free (packetdrill
 * maps a script's descriptors onto its own, so a script may expect 4 after closing 3), else
 * the lowest free one, as a fresh process would give. */
static int fd_new(struct runner *r, const struct dr_call *call, struct sf_conn *c, int nonblock)
{
    const struct dr_expr *want = call->ev->call.result;
    int fd = 3;
    if (want && want->kind == DR_X_INT && want->num >= 3 && want->num < DR_MAX_FDS &&
        !r->fds[want->num].c && !r->fds[want->num].ep)
        fd = (int)want->num;
    while (fd < DR_MAX_FDS && (r->fds[fd].c || r->fds[fd].ep))
        fd++;
    if (fd >= DR_MAX_FDS)
        return -1;
    r->fds[fd].c = c;
    r->fds[fd].nonblock = nonblock;
    r->fds[fd].shut_wr = 0;
    r->fds[fd].notsent_low = 0;
    r->fds[fd].eor = 0;
    r->fds[fd].bufs_set = 0;
    r->fds[fd].accepted = 0;
    sf_set_handler(c, no_events, r);
    return fd;
}

/* The descriptor in argument 0; NULL after setting EBADF as the call's result. */
struct dr_fd *dc_fd_arg(struct runner *r, struct dr_call *call, int *failed)
{
    long fd;
    *failed = 0;
    if (dc_arg(r, call->ev, 0, &fd) < 0) {
        *failed = 1;
        return NULL;
    }
    if (fd < 0 || fd >= DR_MAX_FDS || !r->fds[fd].c) {
        call->ret = -1;
        call->err = EBADF;
        return NULL;
    }
    return &r->fds[fd];
}

/* The engine's negative errno as the call's result. */
int dc_result(struct dr_call *call, long rc)
{
    if (rc < 0) {
        call->ret = -1;
        call->err = (int)-rc;
    } else {
        call->ret = rc;
        call->err = 0;
    }
    return DR_CALL_DONE;
}

/* ---- the calls --------------------------------------------------------------------------------
 */

static int do_socket(struct runner *r, struct dr_call *call)
{
    const struct dr_event *ev = call->ev;
    long domain = r->ip_version == 4 ? AF_INET : AF_INET6, type, proto = IPPROTO_TCP;
    if (dc_nargs(r, ev, 3, 3) < 0)
        return DR_CALL_FAILED;
    if ((!dc_is_ellipsis(ev->call.args[0]) && dc_arg(r, ev, 0, &domain) < 0) ||
        dc_arg(r, ev, 1, &type) < 0 ||
        (!dc_is_ellipsis(ev->call.args[2]) && dc_arg(r, ev, 2, &proto) < 0))
        return DR_CALL_FAILED;
    /* ipv4-mapped-ipv6: AF_INET6 sockets whose traffic is IPv4 (the engine needs no mapping:
     * the runner gives it the IPv4 addresses) */
    if (domain != (r->ip_version == 4 ? AF_INET : AF_INET6) &&
        !(r->ip_version == 46 && domain == AF_INET))
        return dc_result(call, -EAFNOSUPPORT);
    if ((type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != SOCK_STREAM ||
        (proto != IPPROTO_TCP && proto != 0))
        return dc_result(call, -EPROTONOSUPPORT);
    struct sf_conn *c = sf_socket(r->eng);
    if (!c)
        return dc_result(call, -ENOMEM);
    int fd = fd_new(r, call, c, (type & SOCK_NONBLOCK) != 0);
    if (fd < 0) {
        sf_abort(c);
        return dc_result(call, -EMFILE);
    }
    return dc_result(call, fd);
}

static int do_bind(struct runner *r, struct dr_call *call)
{
    if (dc_nargs(r, call->ev, 3, 3) < 0)
        return DR_CALL_FAILED;
    FD_OR_RETURN(d, r, call);
    struct sf_endpoint ep;
    if (sockaddr(r, call->ev, call->ev->call.args[1], &r->local, r->bind_port, &ep) < 0)
        return DR_CALL_FAILED;
    return dc_result(call, sf_bind(d->c, &ep));
}

static int do_listen(struct runner *r, struct dr_call *call)
{
    long backlog;
    if (dc_nargs(r, call->ev, 2, 2) < 0 || dc_arg(r, call->ev, 1, &backlog) < 0)
        return DR_CALL_FAILED;
    FD_OR_RETURN(d, r, call);
    return dc_result(call, sf_listen(d->c, (int)backlog));
}

static int do_accept(struct runner *r, struct dr_call *call)
{
    if (dc_nargs(r, call->ev, 3, 4) < 0)
        return DR_CALL_FAILED;
    long flags = 0;
    if (call->ev->call.nargs == 4 && dc_arg(r, call->ev, 3, &flags) < 0)
        return DR_CALL_FAILED;
    FD_OR_RETURN(d, r, call);
    int err = 0;
    struct sf_conn *c = sf_accept(d->c, &err);
    dr_touched(r);
    if (!c) {
        if (err == -EAGAIN && !d->nonblock)
            return DR_CALL_BLOCKED;
        return dc_result(call, err ? err : -EAGAIN);
    }
    int fd = fd_new(r, call, c, (flags & SOCK_NONBLOCK) != 0);
    if (fd < 0) {
        sf_abort(c);
        return dc_result(call, -EMFILE);
    }
    r->fds[fd].notsent_low = d->notsent_low; /* Linux clones the listener's setting */
    r->fds[fd].accepted = 1;
    return dc_result(call, fd);
}

static int do_connect(struct runner *r, struct dr_call *call)
{
    if (dc_nargs(r, call->ev, 3, 3) < 0)
        return DR_CALL_FAILED;
    FD_OR_RETURN(d, r, call);
    if (call->attempts++ == 0) {
        struct sf_endpoint ep;
        if (sockaddr(r, call->ev, call->ev->call.args[1], &r->remote, r->connect_port, &ep) < 0)
            return DR_CALL_FAILED;
        int rc = sf_connect(d->c, &ep);
        dr_touched(r);
        if (rc != -EINPROGRESS || d->nonblock)
            return dc_result(call, rc);
    }
    /* a blocking connect returns once the handshake is over, or with its error */
    if (sf_poll(d->c) & SF_POLLERR)
        return dc_result(call, -sf_take_error(d->c));
    enum sf_state s = sf_conn_state(d->c);
    if (s == SF_SYN_SENT || s == SF_SYN_RECEIVED)
        return DR_CALL_BLOCKED;
    if (s == SF_CLOSED)
        return dc_result(call, -ECONNABORTED);
    return dc_result(call, 0);
}

/* The handshake is still under way, nothing has failed and writes are not shut down. The
 * engine would take data now (sf_send queues it in SYN-SENT); Linux's tcp_sendmsg waits for
 * the connection first (sk_stream_wait_connect: the pending error if any, -EAGAIN when
 * non-blocking, otherwise it sleeps until ESTABLISHED), and scripts see what Linux gives. A
 * socket shut down for writing has left SYN-SENT on Linux, and its writes fail EPIPE: the
 * engine says so itself. */
static int connecting(const struct dr_fd *d)
{
    enum sf_state s = sf_conn_state(d->c);
    /* a Fast Open child (accepted in SYN-RECEIVED) reads and writes before the handshake
     * completes, as Linux's */
    return (s == SF_SYN_SENT || (s == SF_SYN_RECEIVED && !d->accepted)) && !d->shut_wr &&
           !(sf_poll(d->c) & SF_POLLERR);
}

/* Payload for writes: letters, so a capture reads well. */
static const uint8_t *pattern(void)
{
    static uint8_t buf[65536];
    if (!buf[0])
        for (size_t i = 0; i < sizeof buf; i++)
            buf[i] = (uint8_t)('A' + i % 26);
    return buf;
}

/* A NULL buffer: Linux's copy fails with EFAULT (packetdrill writes NULL or 0). */
static int null_buffer(const struct dr_expr *e)
{
    return (e->kind == DR_X_WORD && !strcmp(e->text, "NULL")) ||
           (e->kind == DR_X_INT && e->num == 0);
}

/* Bytes written that the engine has not sent yet. */
static uint32_t unsent(const struct dr_fd *d)
{
    struct sf_conn_info in;
    sf_info(d->c, &in);
    return in.unacked > in.in_flight ? in.unacked - in.in_flight : 0;
}

/* write, send and sendto (whose address matters only to a Fast Open connect, do_sendto). */
static int do_write(struct runner *r, struct dr_call *call)
{
    const struct dr_event *ev = call->ev;
    int is_sendto = !strcmp(ev->call.name, "sendto");
    int has_flags = is_sendto || !strcmp(ev->call.name, "send");
    size_t nargs = is_sendto ? 6 : has_flags ? 4 : 3;
    long n, flags = 0;
    if (dc_nargs(r, ev, nargs, nargs) < 0 || dc_arg(r, ev, 2, &n) < 0 ||
        (has_flags && dc_arg(r, ev, 3, &flags) < 0))
        return DR_CALL_FAILED;
    if (n < 0)
        return dc_result(call, -EINVAL);
    if (null_buffer(ev->call.args[1]) && n > 0)
        return dc_result(call, -EFAULT);
    if ((flags & MSG_FASTOPEN) && !is_sendto)
        return dr_unsupported(r, ev, "MSG_FASTOPEN without an address (only sendto)");
    if (flags & ~(long)(MSG_NOSIGNAL | MSG_DONTWAIT | MSG_EOR | MSG_FASTOPEN))
        return dr_unsupported(r, ev, "send: flags 0x%lx", flags);
    FD_OR_RETURN(d, r, call);
    int nonblock = d->nonblock || (flags & MSG_DONTWAIT);
    /* A Fast Open connect waiting for its data (TCP_FASTOPEN_CONNECT, or sendto with
     * MSG_FASTOPEN, and a cookie): this write's first bytes go in the SYN. Linux's
     * non-blocking call returns what the SYN carries; a blocking one copies the rest and
     * returns once the connection is established. */
    size_t room = sf_fastopen_room(d->c);
    size_t limit = (size_t)n;
    if (room && call->done == 0) {
        if (nonblock && limit > room)
            limit = room;
        if (limit == 0) {
            sf_send(d->c, "", 0); /* no data: the SYN goes with its cookie alone */
            dr_touched(r);
            if (nonblock)
                return dc_result(call, -EINPROGRESS); /* Linux: nothing copied */
            return DR_CALL_BLOCKED;
        }
    } else if (call->done && (sf_poll(d->c) & SF_POLLERR)) {
        /* the connect this write waited for failed: its error, whatever the SYN carried */
        return dc_result(call, -sf_take_error(d->c));
    } else if (connecting(d) && is_sendto && call->attempts == 1 && !nonblock && call->done == 0 &&
               (flags & MSG_FASTOPEN)) {
        /* a blocking sendto(MSG_FASTOPEN) that had to ask for a cookie: Linux holds the data
         * until the handshake and sends it with the handshake's ACK (its SYN-ACK processing
         * delays that ACK while a writer waits); queued now, the engine does the same */
    } else if (connecting(d)) {
        return nonblock ? dc_result(call, call->done ? (long)call->done : -EAGAIN)
                        : DR_CALL_BLOCKED;
    }
    /* MSG_EOR (Linux): later data never joins this record in a segment. The engine keeps no
     * record boundaries; that only shows when more data comes while this is still queued. */
    if (d->eor && call->done == 0 && unsent(d) > 0)
        return dr_unsupported(r, ev,
                              "MSG_EOR: data written behind an unsent record (the engine keeps "
                              "no record boundaries)");
    const struct dr_expr *buf = ev->call.args[1];
    while (call->done < limit) {
        size_t chunk = limit - call->done;
        const uint8_t *data = pattern();
        if (buf->kind == DR_X_STRING && call->done < strlen(buf->text)) {
            data = (const uint8_t *)buf->text + call->done;
            if (chunk > strlen(buf->text) - call->done)
                chunk = strlen(buf->text) - call->done;
        } else if (chunk > 65536) {
            chunk = 65536;
        }
        /* TCP_NOTSENT_LOWAT: nothing more is taken while that much waits unsent (Linux's
         * tcp_stream_memory_free, checked before each new buffer, not per byte) */
        ssize_t k = -EAGAIN;
        if (!d->notsent_low || unsent(d) < d->notsent_low)
            k = sf_send(d->c, data, chunk);
        dr_touched(r);
        if (k > 0) {
            call->done += (size_t)k;
            continue;
        }
        if (k == -EAGAIN && !nonblock)
            return DR_CALL_BLOCKED;
        if (call->done)
            break; /* a partial write returns its count; the error comes next time */
        return dc_result(call, k ? k : -EAGAIN);
    }
    if (!nonblock && connecting(d))
        return DR_CALL_BLOCKED; /* the data is queued (or in the SYN): wait for the handshake */
    if (call->done)
        d->eor = (flags & MSG_EOR) != 0;
    return dc_result(call, (long)call->done);
}

/* sendto with MSG_FASTOPEN on an unconnected socket is a connect with TCP Fast Open (Linux's
 * tcp_sendmsg_fastopen): with a cookie cached, the SYN carries the data; without one it asks
 * for a cookie and a non-blocking call fails with EINPROGRESS (the data is not taken), a
 * blocking one sends the data once connected. On a connected socket the flag does nothing. */
static int do_sendto(struct runner *r, struct dr_call *call)
{
    const struct dr_event *ev = call->ev;
    long flags;
    if (dc_nargs(r, ev, 6, 6) < 0 || dc_arg(r, ev, 3, &flags) < 0)
        return DR_CALL_FAILED;
    FD_OR_RETURN(d, r, call);
    struct sf_conn_info in;
    sf_info(d->c, &in);
    int fresh = in.state == SF_CLOSED && !in.established && !in.close_cause;
    const struct dr_expr *to = ev->call.args[4];
    if ((flags & MSG_FASTOPEN) && to->kind == DR_X_WORD && !strcmp(to->text, "AF_UNSPEC"))
        return dc_result(call, -EOPNOTSUPP); /* Linux: no Fast Open to an unspecified family */
    if ((flags & MSG_FASTOPEN) && call->attempts++ == 0 && fresh) {
        struct sf_endpoint ep;
        if (sockaddr(r, ev, ev->call.args[4], &r->remote, r->connect_port, &ep) < 0)
            return DR_CALL_FAILED;
        int rc = sf_setopt(d->c, SF_OPT_FASTOPEN_CONNECT, 1);
        if (rc == 0)
            rc = sf_connect(d->c, &ep);
        dr_touched(r);
        if (rc == -EINPROGRESS && (d->nonblock || (flags & MSG_DONTWAIT)))
            return dc_result(call, rc);
        if (rc < 0 && rc != -EINPROGRESS)
            return dc_result(call, rc);
    }
    return do_write(r, call);
}

static int do_read(struct runner *r, struct dr_call *call)
{
    const struct dr_event *ev = call->ev;
    int is_recv = !strcmp(ev->call.name, "recv");
    long n, flags = 0;
    if (dc_nargs(r, ev, is_recv ? 4 : 3, is_recv ? 4 : 3) < 0 || dc_arg(r, ev, 2, &n) < 0 ||
        (is_recv && dc_arg(r, ev, 3, &flags) < 0))
        return DR_CALL_FAILED;
    if (n < 0)
        return dc_result(call, -EINVAL);
    if (null_buffer(ev->call.args[1]) && n > 0)
        return dc_result(call, -EFAULT);
    if (flags & ~(long)(MSG_PEEK | MSG_DONTWAIT))
        return dr_unsupported(r, ev, "recv: flags 0x%lx", flags);
    FD_OR_RETURN(d, r, call);
    static uint8_t buf[1 << 20];
    size_t want = (size_t)n < sizeof buf ? (size_t)n : sizeof buf;
    ssize_t k = (flags & MSG_PEEK) ? sf_peek(d->c, buf, want) : sf_recv(d->c, buf, want);
    dr_touched(r);
    if (k == -EAGAIN && !d->nonblock && !(flags & MSG_DONTWAIT))
        return DR_CALL_BLOCKED;
    return dc_result(call, k);
}

static int do_shutdown(struct runner *r, struct dr_call *call)
{
    long how;
    if (dc_nargs(r, call->ev, 2, 2) < 0 || dc_arg(r, call->ev, 1, &how) < 0)
        return DR_CALL_FAILED;
    FD_OR_RETURN(d, r, call);
    int sf_how = how == SHUT_RD     ? SF_SHUT_RD
                 : how == SHUT_WR   ? SF_SHUT_WR
                 : how == SHUT_RDWR ? SF_SHUT_RDWR
                                    : -1;
    if (sf_how < 0)
        return dc_result(call, -EINVAL);
    int rc = sf_shutdown(d->c, sf_how);
    dr_touched(r);
    if (rc == 0 && (sf_how & SF_SHUT_WR))
        d->shut_wr = 1;
    return dc_result(call, rc);
}

static int do_close(struct runner *r, struct dr_call *call)
{
    if (dc_nargs(r, call->ev, 1, 1) < 0)
        return DR_CALL_FAILED;
    if (dc_epoll_close(r, call))
        return DR_CALL_DONE;
    FD_OR_RETURN(d, r, call);
    int rc = sf_close(d->c);
    dr_touched(r);
    d->c = NULL; /* the descriptor is gone whatever close says, as in POSIX */
    return dc_result(call, rc);
}

static int do_fcntl(struct runner *r, struct dr_call *call)
{
    long cmd, flags = 0;
    if (dc_nargs(r, call->ev, 2, 3) < 0 || dc_arg(r, call->ev, 1, &cmd) < 0 ||
        (call->ev->call.nargs == 3 && dc_arg(r, call->ev, 2, &flags) < 0))
        return DR_CALL_FAILED;
    FD_OR_RETURN(d, r, call);
    if (cmd == F_GETFL)
        return dc_result(call, O_RDWR | (d->nonblock ? O_NONBLOCK : 0));
    if (cmd == F_SETFL) {
        d->nonblock = (flags & O_NONBLOCK) != 0;
        return dc_result(call, 0);
    }
    return dc_result(call, -EINVAL);
}

static unsigned poll_bits(unsigned sf)
{
    return (sf & SF_POLLIN ? POLLIN : 0) | (sf & SF_POLLOUT ? POLLOUT : 0) |
           (sf & SF_POLLRDHUP ? POLLRDHUP : 0) | (sf & SF_POLLHUP ? POLLHUP : 0) |
           (sf & SF_POLLERR ? POLLERR : 0);
}

unsigned dc_revents(const struct dr_fd *d)
{
    unsigned rev = poll_bits(sf_poll(d->c));
    /* TCP_NOTSENT_LOWAT: writable only below that much unsent (Linux tcp_poll) */
    if (d->notsent_low && unsent(d) >= d->notsent_low)
        rev &= ~(unsigned)POLLOUT;
    return rev;
}

static int do_poll(struct runner *r, struct dr_call *call)
{
    const struct dr_event *ev = call->ev;
    long n, timeout;
    if (dc_nargs(r, ev, 3, 3) < 0 || dc_arg(r, ev, 1, &n) < 0 || dc_arg(r, ev, 2, &timeout) < 0)
        return DR_CALL_FAILED;
    const struct dr_expr *list = ev->call.args[0];
    if (list->kind != DR_X_LIST || (long)list->n != n || list->n > DR_MAX_POLL)
        return dr_fail(r, ev, "poll: expected a list of %ld {fd=N, events=...} (at most %d)", n,
                       DR_MAX_POLL);
    if (call->attempts++ == 0)
        call->wake = timeout < 0 ? SF_TIME_NEVER : call->start + SF_MS(timeout);
    long ready = 0;
    call->npoll = list->n;
    for (size_t i = 0; i < list->n; i++) {
        const struct dr_expr *fe = dc_field(list->items[i], "fd"),
                             *ee = dc_field(list->items[i], "events");
        long fd, events;
        if (!fe || !ee)
            return dr_fail(r, ev, "poll: entry %zu needs fd= and events=", i + 1);
        if (dc_eval(r, ev, fe, &fd) < 0 || dc_eval(r, ev, ee, &events) < 0)
            return DR_CALL_FAILED;
        unsigned rev;
        if (fd < 0 || fd >= DR_MAX_FDS || !r->fds[fd].c)
            rev = POLLNVAL;
        else
            rev = dc_revents(&r->fds[fd]) & ((unsigned)events | POLLERR | POLLHUP);
        call->revents[i] = rev;
        if (rev)
            ready++;
    }
    if (!ready && dr_now(r) < call->wake)
        return DR_CALL_BLOCKED;
    return dc_result(call, ready);
}

static const struct {
    const char *name;
    int (*fn)(struct runner *r, struct dr_call *call);
} calls[] = {
    {"socket", do_socket},
    {"bind", do_bind},
    {"listen", do_listen},
    {"accept", do_accept},
    {"accept4", do_accept},
    {"connect", do_connect},
    {"write", do_write},
    {"send", do_write},
    {"sendto", do_sendto},
    {"read", do_read},
    {"recv", do_read},
    {"shutdown", do_shutdown},
    {"close", do_close},
    {"fcntl", do_fcntl},
    {"setsockopt", dc_setsockopt},
    {"getsockopt", dc_getsockopt},
    {"poll", do_poll},
    {"sendmsg", dc_sendmsg},
    {"recvmsg", dc_recvmsg},
    {"writev", dc_writev},
    {"readv", dc_readv},
    {"epoll_create", dc_epoll_create},
    {"epoll_create1", dc_epoll_create},
    {"epoll_ctl", dc_epoll_ctl},
    {"epoll_wait", dc_epoll_wait},
};

int dr_call_known(const char *name)
{
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
        if (!strcmp(calls[i].name, name))
            return 1;
    return 0;
}

/* Each call function returns DR_CALL_DONE or DR_CALL_BLOCKED, or fails the script with
 * dr_fail (whose -1 is turned into DR_CALL_FAILED here). */
int dr_call_attempt(struct runner *r, struct dr_call *call)
{
    const struct dr_event *ev = call->ev;
    /* The API calls take no time argument: the engine's clock must be brought to now first,
     * or what the call arms (a retransmission timer, a timestamp) counts from the last packet
     * or timer instead. */
    sf_engine_advance(r->eng, dr_now(r));
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
        if (!strcmp(calls[i].name, ev->call.name)) {
            int rc = calls[i].fn(r, call);
            return r->failed ? DR_CALL_FAILED : rc;
        }
    dr_unsupported(r, ev, "system call %s", ev->call.name);
    return DR_CALL_FAILED;
}

/* ---- checking a finished call ------------------------------------------------------------ */

static int check_poll(struct runner *r, const struct dr_call *call)
{
    const struct dr_event *ev = call->ev;
    const struct dr_expr *list = ev->call.args[0];
    for (size_t i = 0; i < call->npoll && i < list->n; i++) {
        const struct dr_expr *re = dc_field(list->items[i], "revents");
        long want;
        if (!re || dc_is_ellipsis(re))
            continue;
        if (dc_eval(r, ev, re, &want) < 0)
            return -1;
        if ((unsigned long)want != call->revents[i])
            return dr_fail(r, ev,
                           "poll: entry %zu: expected: revents=%#lx / actual: revents=%#x "
                           "at time %.6f",
                           i + 1, want, call->revents[i], dr_secs(dr_now(r)));
    }
    return 0;
}

int dr_call_check(struct runner *r, const struct dr_call *call)
{
    const struct dr_event *ev = call->ev;
    const struct dr_syscall *sc = &ev->call;
    char b[1024], got[96];
    if (call->ret < 0)
        snprintf(got, sizeof got, "-1 %s (%s)", dc_errno_name(call->err), strerror(call->err));
    else
        snprintf(got, sizeof got, "%ld", call->ret);
    if (r->set->verbose && r->set->log) {
        struct dr_text t;
        dr_text_init(&t, b, sizeof b);
        dr_format_call_args(&t, sc);
        fprintf(r->set->log, "%.6f %s = %s\n", dr_secs(dr_now(r)), b, got);
    }
    if (!dc_is_ellipsis(sc->result)) {
        long want;
        if (dc_eval(r, ev, sc->result, &want) < 0)
            return -1;
        long want_err = 0;
        if (want == -1 && sc->err &&
            dc_lookup(errnos, sizeof errnos / sizeof errnos[0], sc->err, &want_err) < 0)
            return dr_fail(r, ev, "%s: unknown errno name %s", sc->name, sc->err);
        if (want != call->ret || (want == -1 && sc->err && want_err != call->err))
            return dr_fail(r, ev, "%s: expected: = %ld%s%s / actual: = %s at time %.6f",
                           dc_call_text(ev, b, sizeof b), want, want == -1 && sc->err ? " " : "",
                           want == -1 && sc->err ? sc->err : "", got, dr_secs(dr_now(r)));
    }
    if (!strcmp(sc->name, "poll") && call->ret >= 0 && check_poll(r, call) < 0)
        return -1;
    sf_time_t t = dr_now(r);
    if (sc->has_end && (t + r->tolerance < call->end || t > call->end + r->tolerance))
        return dr_fail(r, ev,
                       "timing error: %s returned at %.6f, expected at %.6f (tolerance "
                       "%.6f)",
                       sc->name, dr_secs(t), dr_secs(call->end), dr_secs(r->tolerance));
    if (!sc->has_end && t > call->start + r->tolerance)
        return dr_fail(r, ev,
                       "%s blocked until %.6f; a call that blocks needs its return time "
                       "(e.g. %.3f...%.3f %s(...))",
                       sc->name, dr_secs(t), dr_secs(call->start), dr_secs(t), sc->name);
    return 0;
}
