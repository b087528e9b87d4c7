/* epoll_create, epoll_ctl and epoll_wait as packetdrill writes them:
 *
 *   epoll_create(1) = 5
 *   epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLIN|EPOLLOUT, fd=4}) = 0
 *   epoll_wait(5, {events=EPOLLOUT, fd=4}, 1, 0) = 1
 *
 * An instance is a descriptor of the runner's own holding an interest list; epoll_wait asks
 * each socket's sf_poll, as poll does, and packetdrill's check is kept: the first event
 * returned (all zero when none) must have the events and data the script wrote. Only
 * level-triggered epoll: EPOLLET and EPOLLONESHOT need the wake-ups of a kernel's wait
 * queues, which the engine's poll state does not keep, and make the script unsupported. */
#include "calls.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>

static const struct {
    const char *name;
    long value;
} names[] = {
    {"EPOLLIN", EPOLLIN},
    {"EPOLLOUT", EPOLLOUT},
    {"EPOLLPRI", EPOLLPRI},
    {"EPOLLERR", EPOLLERR},
    {"EPOLLHUP", EPOLLHUP},
    {"EPOLLRDHUP", EPOLLRDHUP},
    {"EPOLLET", EPOLLET},
    {"EPOLLONESHOT", EPOLLONESHOT},
    {"EPOLLEXCLUSIVE", EPOLLEXCLUSIVE},
    {"EPOLL_CTL_ADD", EPOLL_CTL_ADD},
    {"EPOLL_CTL_MOD", EPOLL_CTL_MOD},
    {"EPOLL_CTL_DEL", EPOLL_CTL_DEL},
    {"EPOLL_CLOEXEC", EPOLL_CLOEXEC},
};

int dc_epoll_symbol(const char *name, long *out)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(names[i].name, name)) {
            *out = names[i].value;
            return 0;
        }
    return -1;
}

/* The instance named by argument 0, or NULL with the call finished with EBADF/EINVAL. */
static struct dr_epoll *instance(struct runner *r, struct dr_call *call, int *failed)
{
    long fd;
    *failed = 0;
    if (dc_arg(r, call->ev, 0, &fd) < 0) {
        *failed = 1;
        return NULL;
    }
    if (fd < 0 || fd >= DR_MAX_FDS || (!r->fds[fd].c && !r->fds[fd].ep)) {
        dc_result(call, -EBADF);
        return NULL;
    }
    if (!r->fds[fd].ep) {
        dc_result(call, -EINVAL); /* Linux: not an epoll descriptor */
        return NULL;
    }
    return &r->epolls[r->fds[fd].ep - 1];
}

int dc_epoll_create(struct runner *r, struct dr_call *call)
{
    const struct dr_event *ev = call->ev;
    long size;
    if (dc_nargs(r, ev, 1, 1) < 0 || dc_arg(r, ev, 0, &size) < 0)
        return DR_CALL_FAILED;
    if (!strcmp(ev->call.name, "epoll_create") ? size <= 0 : (size & ~(long)EPOLL_CLOEXEC))
        return dc_result(call, -EINVAL);
    size_t k = 0;
    while (k < DR_MAX_EPOLL && r->epolls[k].used)
        k++;
    if (k == DR_MAX_EPOLL)
        return dr_unsupported(r, ev, "epoll: more than %d instances at once", DR_MAX_EPOLL);
    /* the descriptor the script expects when free, else the lowest free one (as sockets) */
    const struct dr_expr *want = ev->call.result;
    int fd = 3;
    if (want && want->kind == DR_X_INT && want->num >= 3 && want->num < DR_MAX_FDS &&
        !r->fds[want->num].c && !r->fds[want->num].ep)
        fd = (int)want->num;
    while (fd < DR_MAX_FDS && (r->fds[fd].c || r->fds[fd].ep))
        fd++;
    if (fd >= DR_MAX_FDS)
        return dc_result(call, -EMFILE);
    memset(&r->epolls[k], 0, sizeof r->epolls[k]);
    r->epolls[k].used = 1;
    memset(&r->fds[fd], 0, sizeof r->fds[fd]);
    r->fds[fd].ep = (int)k + 1;
    return dc_result(call, fd);
}

int dc_epoll_close(struct runner *r, struct dr_call *call)
{
    long fd;
    if (dc_eval(r, call->ev, call->ev->call.args[0], &fd) < 0 || fd < 0 || fd >= DR_MAX_FDS ||
        !r->fds[fd].ep)
        return 0;
    r->epolls[r->fds[fd].ep - 1].used = 0;
    r->fds[fd].ep = 0;
    dc_result(call, 0);
    return 1;
}

/* {events=E, fd=N} or {events=E, ptr=P} (u32=, u64=): the mask and the data. */
static int event_lit(struct runner *r, const struct dr_event *ev, const struct dr_expr *e,
                     struct dr_epoll_item *out)
{
    const struct dr_expr *ee = dc_field(e, "events"), *d = dc_field(e, "fd");
    out->by_fd = d != NULL;
    if (!d)
        d = dc_field(e, "ptr");
    if (!d)
        d = dc_field(e, "u32");
    if (!d)
        d = dc_field(e, "u64");
    long events;
    if (e->kind != DR_X_STRUCT || !ee || !d)
        return dr_fail(r, ev, "%s: expected {events=..., fd=N} (or ptr=, u32=, u64=)",
                       ev->call.name);
    if (dc_eval(r, ev, ee, &events) < 0 || dc_eval(r, ev, d, &out->data) < 0)
        return -1;
    out->events = (unsigned)events;
    return 0;
}

int dc_epoll_ctl(struct runner *r, struct dr_call *call)
{
    const struct dr_event *ev = call->ev;
    long op, fd;
    if (dc_nargs(r, ev, 4, 4) < 0 || dc_arg(r, ev, 1, &op) < 0 || dc_arg(r, ev, 2, &fd) < 0)
        return DR_CALL_FAILED;
    int failed;
    struct dr_epoll *ep = instance(r, call, &failed);
    if (!ep)
        return failed ? DR_CALL_FAILED : DR_CALL_DONE;
    struct dr_epoll_item it = {0};
    if (op != EPOLL_CTL_DEL && event_lit(r, ev, ev->call.args[3], &it) < 0)
        return DR_CALL_FAILED;
    if (it.events & (EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE))
        return dr_unsupported(r, ev,
                              "epoll: EPOLLET, EPOLLONESHOT, EPOLLEXCLUSIVE (only "
                              "level-triggered epoll)");
    if (fd < 0 || fd >= DR_MAX_FDS || (!r->fds[fd].c && !r->fds[fd].ep))
        return dc_result(call, -EBADF);
    if (!r->fds[fd].c)
        return dc_result(call, -EINVAL); /* an epoll in an epoll: not for TCP scripts */
    size_t i = 0;
    while (i < ep->n && !(ep->items[i].fd == fd && ep->items[i].c == r->fds[fd].c))
        i++;
    if (op == EPOLL_CTL_ADD) {
        if (i < ep->n)
            return dc_result(call, -EEXIST);
        if (ep->n == DR_MAX_POLL)
            return dr_unsupported(r, ev, "epoll: more than %d descriptors", DR_MAX_POLL);
        it.fd = (int)fd;
        it.c = r->fds[fd].c;
        ep->items[ep->n++] = it;
        return dc_result(call, 0);
    }
    if (i == ep->n)
        return dc_result(call, -ENOENT);
    if (op == EPOLL_CTL_MOD) {
        it.fd = (int)fd;
        it.c = r->fds[fd].c;
        ep->items[i] = it;
        return dc_result(call, 0);
    }
    if (op == EPOLL_CTL_DEL) {
        ep->items[i] = ep->items[--ep->n];
        return dc_result(call, 0);
    }
    return dc_result(call, -EINVAL);
}

int dc_epoll_wait(struct runner *r, struct dr_call *call)
{
    const struct dr_event *ev = call->ev;
    long maxevents, timeout;
    if (dc_nargs(r, ev, 4, 4) < 0 || dc_arg(r, ev, 2, &maxevents) < 0 ||
        dc_arg(r, ev, 3, &timeout) < 0)
        return DR_CALL_FAILED;
    int failed;
    struct dr_epoll *ep = instance(r, call, &failed);
    if (!ep)
        return failed ? DR_CALL_FAILED : DR_CALL_DONE;
    struct dr_epoll_item want;
    if (event_lit(r, ev, ev->call.args[1], &want) < 0)
        return DR_CALL_FAILED;
    if (maxevents <= 0)
        return dc_result(call, -EINVAL);
    if (call->attempts++ == 0)
        call->wake = timeout < 0 ? SF_TIME_NEVER : call->start + SF_MS(timeout);
    long ready = 0;
    struct dr_epoll_item first = {0};
    for (size_t i = 0; i < ep->n;) {
        struct dr_epoll_item *it = &ep->items[i];
        if (r->fds[it->fd].c != it->c) { /* closed: Linux drops it from every interest list */
            *it = ep->items[--ep->n];
            continue;
        }
        unsigned rev = dc_revents(&r->fds[it->fd]) & (it->events | EPOLLERR | EPOLLHUP);
        if (rev && ready < maxevents) {
            if (!ready) {
                first = *it;
                first.events = rev;
            }
            ready++;
        }
        i++;
    }
    if (!ready && dr_now(r) < call->wake)
        return DR_CALL_BLOCKED;
    if (first.events != want.events)
        return dr_fail(r, ev,
                       "epoll_event->events does not match script: expected: 0x%x "
                       "actual: 0x%x",
                       want.events, first.events);
    long got = ready ? (first.by_fd ? first.fd : first.data) : 0;
    if (got != want.data)
        return dr_fail(r, ev, "epoll_event->data does not match script: expected: %ld actual: %ld",
                       want.data, got);
    return dc_result(call, ready);
}
