/* Inside synfin-drill's socket calls: the argument helpers syscalls.c shares with the
 * socket options (sockopt.c). Not for other code. */
#ifndef SYNFIN_DRILL_CALLS_H
#define SYNFIN_DRILL_CALLS_H

#include "runner.h"

/* FreeBSD's TCP_NOOPT (8) is Linux's TCP_WINDOW_CLAMP: a number of the runner's own. */
#define DR_TCP_NOOPT 0x10008
/* FreeBSD's TCP_KEEPINIT (128, seconds), which Linux lacks: mapped to SF_OPT_SYN_TIMEOUT_MS. */
#define DR_TCP_KEEPINIT 0x10080

/* d: the descriptor in the call's argument 0; a call on something else fails as Linux's. */
#define FD_OR_RETURN(d, r, call)                                                                   \
    int failed_;                                                                                   \
    struct dr_fd *d = dc_fd_arg(r, call, &failed_);                                                \
    if (failed_)                                                                                   \
        return DR_CALL_FAILED;                                                                     \
    if (!d)                                                                                        \
    return DR_CALL_DONE

/* The value of an argument expression (numbers, names, errno names). 0, or -1 with the call
 * failed. */
int dc_eval(struct runner *r, const struct dr_event *ev, const struct dr_expr *e, long *out);
/* The call has lo to hi arguments: 0, or -1 with the call failed. */
int dc_nargs(struct runner *r, const struct dr_event *ev, size_t lo, size_t hi);
/* Argument i's value (dc_eval). */
int dc_arg(struct runner *r, const struct dr_event *ev, size_t i, long *out);
/* `...`: any value. */
int dc_is_ellipsis(const struct dr_expr *e);
/* A struct literal's field by name, or NULL. */
const struct dr_expr *dc_field(const struct dr_expr *e, const char *name);
/* The descriptor in argument 0; NULL with *failed set when it is not one. */
struct dr_fd *dc_fd_arg(struct runner *r, struct dr_call *call, int *failed);
/* A finished call: its return value (-errno for an error, as Linux's -1 and errno). */
int dc_result(struct dr_call *call, long rc);
/* EAGAIN, ECONNRESET ... for an errno value. */
const char *dc_errno_name(int e);
/* Linux's TCP_ESTABLISHED ... number for an engine state (TCP_INFO's tcpi_state). */
int dc_linux_state(enum sf_state s);
/* The call as the script wrote it, for messages. */
const char *dc_call_text(const struct dr_event *ev, char *buf, size_t len);

/* setsockopt and getsockopt (sockopt.c): the engine's options, TCP_INFO. */
int dc_setsockopt(struct runner *r, struct dr_call *call);
int dc_getsockopt(struct runner *r, struct dr_call *call);

/* IP-level socket options (sockopt_ip.c): the engine's fixed TOS and TTL. */
int dc_is_ip_level(long level);
int dc_ip_setsockopt(struct runner *r, struct dr_call *call, long level, long opt);
int dc_ip_getsockopt(struct runner *r, struct dr_call *call, long level, long opt);
/* Names beyond syscalls.c's: IP options (sockopt_ip.c), msghdr flags (msg.c), tcp_info's
 * constants (tcpinfo.c); dc_more_symbol looks in all three. 0 or -1. */
int dc_ip_symbol(const char *name, long *out);
int dc_msg_symbol(const char *name, long *out);
int dc_more_symbol(const char *name, long *out);

/* recvmsg and sendmsg (msg.c). */
int dc_recvmsg(struct runner *r, struct dr_call *call);
int dc_sendmsg(struct runner *r, struct dr_call *call);
/* A socket's poll bits (POLLIN ..., which are also epoll's EPOLLIN ...), TCP_NOTSENT_LOWAT
 * applied. */
unsigned dc_revents(const struct dr_fd *d);
/* epoll (epoll.c): instances are descriptors of their own; dc_epoll_close closes one (1) or
 * says fd 0 is not one (0). */
int dc_epoll_create(struct runner *r, struct dr_call *call);
int dc_epoll_ctl(struct runner *r, struct dr_call *call);
int dc_epoll_wait(struct runner *r, struct dr_call *call);
int dc_epoll_close(struct runner *r, struct dr_call *call);
int dc_epoll_symbol(const char *name, long *out);

/* writev and readv (msg.c): packetdrill's iovec lists, one byte stream. */
int dc_writev(struct runner *r, struct dr_call *call);
int dc_readv(struct runner *r, struct dr_call *call);

#endif
