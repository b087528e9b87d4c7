/* recvmsg and sendmsg with packetdrill's msghdr, and writev and readv:
 *
 *   sendmsg(4, {msg_name(...)=..., msg_iov(2)=[{..., 40}, {..., 20}], msg_flags=0}, 0) = 60
 *   recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 1000}], msg_flags=0}, 0) = 100
 *
 * On a TCP socket the iovecs are one byte stream: sendmsg is a send of their total length,
 * recvmsg a recv of it, made by syscalls.c's own send and recv (so blocking, MSG_DONTWAIT,
 * MSG_PEEK and the errors are theirs). packetdrill's checks are kept: sendmsg's msg_flags
 * must be 0; recvmsg's expected msg_flags are compared with the actual ones (0 for a TCP
 * read) once it returns data. Control messages: the engine produces none (no timestamps, no
 * TCP_INQ, no error queue), so a recvmsg expecting one makes the script unsupported, and
 * MSG_ERRQUEUE finds the queue empty (EAGAIN) as Linux's does without SO_TIMESTAMPING,
 * SO_ZEROCOPY or IP_RECVERR, which are unsupported themselves. */
#include "calls.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#ifndef MSG_ZEROCOPY
#define MSG_ZEROCOPY 0x4000000
#endif

struct msg_name {
    const char *name;
    long value;
};

static const struct msg_name names[] = {
    {"MSG_ERRQUEUE", MSG_ERRQUEUE}, {"MSG_TRUNC", MSG_TRUNC},       {"MSG_CTRUNC", MSG_CTRUNC},
    {"MSG_WAITALL", MSG_WAITALL},   {"MSG_ZEROCOPY", MSG_ZEROCOPY}, {"MSG_OOB", MSG_OOB},
    {"MSG_MORE", MSG_MORE},
};

int dc_msg_symbol(const char *name, long *out)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(names[i].name, name)) {
            *out = names[i].value;
            return 0;
        }
    return -1;
}

/* What a call needs of a msghdr literal. */
struct msghdr_lit {
    long total;                  /* the iovecs' lengths added */
    long flags;                  /* msg_flags */
    const struct dr_expr *cmsgs; /* msg_control's list, NULL when absent */
};

static const struct dr_expr *field(const struct dr_expr *m, const char *name,
                                   const struct dr_expr **call)
{
    for (size_t i = 0; i < m->n; i++) {
        const struct dr_expr *it = m->items[i];
        if (it->kind == DR_X_ASSIGN && !strcmp(it->text, name)) {
            *call = it->lhs;
            return it->rhs;
        }
    }
    return NULL;
}

/* The lengths of an iovec list [{..., LEN}, ...] added. 0, or -1 with the call failed. */
static int iov_total(struct runner *r, const struct dr_event *ev, const struct dr_expr *iov,
                     long *total)
{
    *total = 0;
    for (size_t i = 0; i < iov->n; i++) {
        const struct dr_expr *v = iov->items[i];
        long len;
        if (v->kind != DR_X_STRUCT || v->n != 2)
            return dr_fail(r, ev, "%s: an iovec is {..., LEN} (column %d)", ev->call.name,
                           v->pos.col);
        if (dc_eval(r, ev, v->items[1], &len) < 0)
            return -1;
        if (len < 0)
            return dr_fail(r, ev, "%s: iovec length %ld", ev->call.name, len);
        *total += len;
    }
    return 0;
}

static int read_msghdr(struct runner *r, const struct dr_event *ev, struct msghdr_lit *out)
{
    const struct dr_expr *m = ev->call.args[1], *call = NULL;
    memset(out, 0, sizeof *out);
    if (m->kind != DR_X_STRUCT)
        return dr_fail(r, ev, "%s: expected {msg_name(...)=..., msg_iov(N)=[...], msg_flags=F}",
                       ev->call.name);
    const struct dr_expr *name = field(m, "msg_name", &call);
    if (name && !dc_is_ellipsis(name))
        return dr_unsupported(r, ev, "%s: a msg_name address", ev->call.name);
    const struct dr_expr *iov = field(m, "msg_iov", &call);
    if (!iov || iov->kind != DR_X_LIST)
        return dr_fail(r, ev, "%s: expected msg_iov(N)=[{..., LEN}, ...]", ev->call.name);
    long n = (long)iov->n;
    if (call && call->n == 1 && dc_eval(r, ev, call->items[0], &n) < 0)
        return -1;
    if (n != (long)iov->n)
        return dr_fail(r, ev, "%s: msg_iov(%ld) lists %zu iovecs", ev->call.name, n, iov->n);
    if (iov_total(r, ev, iov, &out->total) < 0)
        return -1;
    const struct dr_expr *flags = field(m, "msg_flags", &call);
    if (flags && dc_eval(r, ev, flags, &out->flags) < 0)
        return -1;
    out->cmsgs = field(m, "msg_control", &call);
    return 0;
}

/* The call made as send(fd, ..., total, flags) or recv (write or read without flags when
 * the call has none): syscalls.c's, on an event of its own that keeps the script line's
 * place, result and return time. */
static int as_stream_call(struct runner *r, struct dr_call *call, const char *name, long total)
{
    static struct dr_event sub;
    static struct dr_expr buf, len;
    static struct dr_expr *args[4];
    const struct dr_event *ev = call->ev;
    sub = *ev;
    sub.call.name = name;
    memset(&buf, 0, sizeof buf);
    buf.kind = DR_X_ELLIPSIS;
    buf.pos = ev->call.args[1]->pos;
    memset(&len, 0, sizeof len);
    len.kind = DR_X_INT;
    len.num = total;
    len.pos = buf.pos;
    args[0] = ev->call.args[0];
    args[1] = &buf;
    args[2] = &len;
    int flagged = strcmp(name, "write") && strcmp(name, "read");
    args[3] = flagged ? ev->call.args[2] : NULL;
    sub.call.args = args;
    sub.call.nargs = flagged ? 4 : 3;
    call->ev = &sub;
    int rc = dr_call_attempt(r, call);
    call->ev = ev;
    return rc;
}

int dc_sendmsg(struct runner *r, struct dr_call *call)
{
    const struct dr_event *ev = call->ev;
    struct msghdr_lit m;
    long flags;
    if (dc_nargs(r, ev, 3, 3) < 0 || read_msghdr(r, ev, &m) < 0 || dc_arg(r, ev, 2, &flags) < 0)
        return DR_CALL_FAILED;
    if (m.flags)
        return dr_fail(r, ev, "sendmsg ignores msg_flags field in msghdr");
    if (m.cmsgs && m.cmsgs->n)
        return dr_unsupported(r, ev, "sendmsg: control messages");
    if (flags & MSG_ZEROCOPY)
        return dr_unsupported(r, ev, "sendmsg: MSG_ZEROCOPY");
    return as_stream_call(r, call, "send", m.total);
}

int dc_recvmsg(struct runner *r, struct dr_call *call)
{
    const struct dr_event *ev = call->ev;
    struct msghdr_lit m;
    long flags;
    if (dc_nargs(r, ev, 3, 3) < 0 || read_msghdr(r, ev, &m) < 0 || dc_arg(r, ev, 2, &flags) < 0)
        return DR_CALL_FAILED;
    if (flags & MSG_ERRQUEUE) {
        FD_OR_RETURN(d, r, call);
        (void)d;
        return dc_result(call, -EAGAIN);
    }
    int rc = as_stream_call(r, call, "recv", m.total);
    if (rc != DR_CALL_DONE || call->ret < 0)
        return rc;
    if (m.cmsgs && m.cmsgs->n)
        return dr_unsupported(r, ev, "recvmsg: control messages (the engine gives none)");
    if (m.flags)
        return dr_fail(r, ev, "recvmsg: expected: msg_flags=0x%lx / actual: msg_flags=0x0",
                       m.flags);
    return rc;
}

/* writev(fd, [{..., LEN}, ...], N) and readv: packetdrill's, whose N must be the number of
 * iovecs listed; on TCP one byte stream, made as write and read. */
static int vector_call(struct runner *r, struct dr_call *call, const char *as)
{
    const struct dr_event *ev = call->ev;
    const struct dr_expr *iov;
    long n, total;
    if (dc_nargs(r, ev, 3, 3) < 0 || dc_arg(r, ev, 2, &n) < 0)
        return DR_CALL_FAILED;
    iov = ev->call.args[1];
    if (iov->kind != DR_X_LIST)
        return dr_fail(r, ev, "%s: expected [{..., LEN}, ...]", ev->call.name);
    if (n != (long)iov->n)
        return dr_fail(r, ev, "%s: iov_count %ld does not match %zu-element iovec array",
                       ev->call.name, n, iov->n);
    if (iov_total(r, ev, iov, &total) < 0)
        return DR_CALL_FAILED;
    return as_stream_call(r, call, as, total);
}

int dc_writev(struct runner *r, struct dr_call *call)
{
    return vector_call(r, call, "write");
}

int dc_readv(struct runner *r, struct dr_call *call)
{
    return vector_call(r, call, "read");
}
