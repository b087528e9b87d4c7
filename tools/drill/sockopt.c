/* synfin-drill's setsockopt and getsockopt: the socket options scripts set, mapped to the
 * engine's (sf_setopt), and TCP_INFO read back with the fields packetdrill scripts check. */
#include "calls.h"
#include "tcpinfo.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "format.h"

static int is_tcp(long level)
{
    return level == SOL_TCP || level == IPPROTO_TCP;
}

/* (level, name) to the engine's option; -1 if it has none. */
static int engine_opt(long level, long name)
{
    static const struct {
        long level, name;
        enum sf_opt opt;
    } map[] = {
        {SOL_SOCKET, SO_REUSEADDR, SF_OPT_REUSEADDR},
        {SOL_SOCKET, SO_KEEPALIVE, SF_OPT_KEEPALIVE},
        {SOL_SOCKET, SO_LINGER, SF_OPT_LINGER},
        {SOL_SOCKET, SO_RCVBUF, SF_OPT_RCVBUF},
        {SOL_SOCKET, SO_SNDBUF, SF_OPT_SNDBUF},
        {IPPROTO_TCP, TCP_NODELAY, SF_OPT_NODELAY},
        {IPPROTO_TCP, TCP_CORK, SF_OPT_CORK},
        {IPPROTO_TCP, TCP_KEEPIDLE, SF_OPT_KEEPIDLE},
        {IPPROTO_TCP, TCP_KEEPINTVL, SF_OPT_KEEPINTVL},
        {IPPROTO_TCP, TCP_KEEPCNT, SF_OPT_KEEPCNT},
        {IPPROTO_TCP, TCP_USER_TIMEOUT, SF_OPT_USER_TIMEOUT},
        {IPPROTO_TCP, TCP_MAXSEG, SF_OPT_MAXSEG},
        {IPPROTO_TCP, TCP_FASTOPEN, SF_OPT_FASTOPEN},
        {IPPROTO_TCP, TCP_FASTOPEN_CONNECT, SF_OPT_FASTOPEN_CONNECT},
        {IPPROTO_TCP, DR_TCP_KEEPINIT, SF_OPT_SYN_TIMEOUT_MS},
    };
    if (level == SOL_TCP)
        level = IPPROTO_TCP;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].level == level && map[i].name == name)
            return (int)map[i].opt;
    return -1;
}

int dc_setsockopt(struct runner *r, struct dr_call *call)
{
    const struct dr_event *ev = call->ev;
    long level, name, value;
    if (dc_nargs(r, ev, 5, 5) < 0 || dc_arg(r, ev, 1, &level) < 0 || dc_arg(r, ev, 2, &name) < 0)
        return DR_CALL_FAILED;
    if (dc_is_ip_level(level))
        return dc_ip_setsockopt(r, call, level, name);
    if (is_tcp(level) && name == TCP_MD5SIG)
        return dr_unsupported(r, ev, "TCP MD5 signatures (RFC 2385): TCP_MD5SIG");
    FD_OR_RETURN(d, r, call);
    const struct dr_expr *v = ev->call.args[3];
    if (is_tcp(level) && (name == TCP_NOTSENT_LOWAT || name == DR_TCP_NOOPT)) {
        if (dc_eval(r, ev, v, &value) < 0)
            return DR_CALL_FAILED;
        if (name == DR_TCP_NOOPT)
            return value ? dr_unsupported(r, ev, "TCP_NOOPT on: the engine always sends MSS")
                         : dc_result(call, 0);
        d->notsent_low = value < 0 || value > UINT32_MAX ? 0 : (uint32_t)value;
        return dc_result(call, 0);
    }
    if (is_tcp(level) && name == TCP_FASTOPEN_KEY) {
        /* 16 bytes, as Linux: the listener's own cookie key */
        long len;
        if (dc_eval(r, ev, ev->call.args[4], &len) < 0)
            return DR_CALL_FAILED;
        if (len != 16)
            return dc_result(call, -EINVAL);
        if (v->kind != DR_X_STRING || strlen(v->text) != 16)
            return dr_unsupported(r, ev, "TCP_FASTOPEN_KEY: only a 16-byte string without NULs");
        return dc_result(call, sf_set_fastopen_key(d->c, (const uint8_t *)v->text));
    }
    if (is_tcp(level) && name == TCP_FASTOPEN_NO_COOKIE)
        return dr_unsupported(r, ev, "TCP_FASTOPEN_NO_COOKIE (the 0x4 bit of tcp_fastopen is)");
    int opt = engine_opt(level, name);
    if (opt < 0)
        return dr_unsupported(r, ev, "setsockopt: option %ld at level %ld", name, level);
    if (opt == SF_OPT_LINGER) {
        const struct dr_expr *on = dc_field(v, "onoff"), *secs = dc_field(v, "linger");
        long a, b;
        if (!on || !secs)
            return dr_fail(r, ev, "setsockopt SO_LINGER: expected {onoff=N, linger=N}");
        if (dc_eval(r, ev, on, &a) < 0 || dc_eval(r, ev, secs, &b) < 0)
            return DR_CALL_FAILED;
        value = a ? b : -1;
    } else if (dc_eval(r, ev, v, &value) < 0) {
        return DR_CALL_FAILED;
    }
    if (opt == SF_OPT_SYN_TIMEOUT_MS) /* FreeBSD's seconds; its 0 is the default (off) */
        value = value < 0 || value > INT32_MAX / 1000 ? -1 : value * 1000;
    int rc = sf_setopt(d->c, (enum sf_opt)opt, value);
    if (rc == 0 && opt == SF_OPT_SNDBUF)
        d->bufs_set |= 1;
    if (rc == 0 && opt == SF_OPT_RCVBUF)
        d->bufs_set |= 2;
    return dc_result(call, rc);
}

static int check_tcp_info(struct runner *r, const struct dr_event *ev, const struct dr_expr *v,
                          const struct sf_conn *c)
{
    if (dc_is_ellipsis(v))
        return 0;
    if (v->kind != DR_X_STRUCT)
        return dr_fail(r, ev, "getsockopt TCP_INFO: expected {tcpi_state=..., ...}");
    struct dc_tcpi_in in;
    dc_tcpi_read(r, c, &in);
    for (size_t i = 0; i < v->n; i++) {
        const struct dr_expr *it = v->items[i];
        if (dc_is_ellipsis(it))
            continue;
        if (it->kind != DR_X_ASSIGN)
            return dr_fail(r, ev, "getsockopt TCP_INFO: expected name=value at column %d",
                           it->pos.col);
        long want, got;
        int known = dc_tcpi_field(&in, it->text, &got);
        if (known == DC_TCPI_UNKNOWN)
            return dr_unsupported(r, ev, "getsockopt TCP_INFO: %s (no engine value)", it->text);
        if (known < 0)
            return dr_fail(r, ev, "getsockopt TCP_INFO: no field %s", it->text);
        if (dc_eval(r, ev, it->rhs, &want) < 0)
            return -1;
        if (want != got)
            return dr_fail(r, ev,
                           "getsockopt TCP_INFO: expected: %s=%ld / actual: %s=%ld "
                           "(engine state %s) at time %.6f",
                           it->text, want, it->text, got, sf_state_name(in.info.state),
                           dr_secs(dr_now(r)));
    }
    return 0;
}

int dc_getsockopt(struct runner *r, struct dr_call *call)
{
    const struct dr_event *ev = call->ev;
    long level, name;
    if (dc_nargs(r, ev, 5, 5) < 0 || dc_arg(r, ev, 1, &level) < 0 || dc_arg(r, ev, 2, &name) < 0)
        return DR_CALL_FAILED;
    if (dc_is_ip_level(level))
        return dc_ip_getsockopt(r, call, level, name);
    if (is_tcp(level) && name == TCP_MD5SIG)
        return dr_unsupported(r, ev, "TCP MD5 signatures (RFC 2385): TCP_MD5SIG");
    FD_OR_RETURN(d, r, call);
    const struct dr_expr *v = ev->call.args[3];
    if ((level == SOL_TCP || level == IPPROTO_TCP) && name == TCP_INFO)
        return check_tcp_info(r, ev, v, d->c) < 0 ? DR_CALL_FAILED : dc_result(call, 0);
    long got, want;
    if (level == SOL_SOCKET && name == SO_ERROR) {
        got = sf_take_error(d->c);
    } else if (is_tcp(level) && name == TCP_NOTSENT_LOWAT) {
        got = d->notsent_low;
    } else if (is_tcp(level) && name == DR_TCP_NOOPT) {
        got = 0;
    } else {
        int opt = engine_opt(level, name);
        if (opt < 0)
            return dr_unsupported(r, ev, "getsockopt: option %ld at level %ld", name, level);
        int rc = sf_getopt(d->c, (enum sf_opt)opt, &got);
        if (rc < 0)
            return dc_result(call, rc);
        if (opt == SF_OPT_SYN_TIMEOUT_MS)
            got /= 1000;
        /* Linux doubles a buffer size set by setsockopt ("to allow space for bookkeeping
         * overhead", socket(7)) and reports the doubled value; the engine's buffer holds the
         * bytes asked for */
        if ((opt == SF_OPT_SNDBUF && (d->bufs_set & 1)) ||
            (opt == SF_OPT_RCVBUF && (d->bufs_set & 2)))
            got *= 2;
        if (opt == SF_OPT_LINGER) {
            const struct dr_expr *on = dc_field(v, "onoff"), *secs = dc_field(v, "linger");
            long a = 0, b = 0;
            if (on && (dc_eval(r, ev, on, &a) < 0 || (secs && dc_eval(r, ev, secs, &b) < 0)))
                return DR_CALL_FAILED;
            if (on && (a != (got >= 0) || (a && secs && b != got)))
                return dr_fail(r, ev,
                               "getsockopt SO_LINGER: expected {onoff=%ld, linger=%ld} / "
                               "actual {onoff=%d, linger=%ld}",
                               a, b, got >= 0, got >= 0 ? got : 0);
            return dc_result(call, 0);
        }
    }
    if (!dc_is_ellipsis(v)) {
        if (dc_eval(r, ev, v, &want) < 0)
            return DR_CALL_FAILED;
        if (want != got) {
            char b[512];
            return dr_fail(
                r, ev, "%s: expected: [%ld] / actual: [%ld]%s%s at time %.6f",
                dc_call_text(ev, b, sizeof b), want, got, name == SO_ERROR && got ? " " : "",
                name == SO_ERROR && got ? dc_errno_name((int)got) : "", dr_secs(dr_now(r)));
        }
    }
    return dc_result(call, 0);
}
