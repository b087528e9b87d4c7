/* Admin HTTP listener; see admin.h. Kernel sockets directly: the control plane always runs
 * on the host stack, whatever transport carries sessions. */
#include "ctl/admin.h"
#include "lb/kernel_census.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define REQ_MAX                      8192
#define ADMIN_TIMEOUT                (5 * SF_NSEC_PER_SEC)
/* Work for streamed bodies per loop iteration, all connections together: about 0.25 ms, so
 * that admin requests add at most that to the proxied traffic the same iteration serves. */
#define ADMIN_BUDGET 256
/* A body that said WAIT is called again on ctl_admin_wake, and at the latest after this:
 * for work done off the loop (/host's thread), which cannot wake the loop itself. */
#define ADMIN_POLL SF_NSEC_PER_MS

struct aconn {
    struct sf_io io;
    struct ctl_admin *a;
    struct sf_loop_timer timer;
    struct aconn *prev, *next;
    char req[REQ_MAX + 1];
    size_t reqlen;
    struct sf_strbuf out;
    size_t sent;
    int responding;
    /* A streamed body: made in slices by the hook (serve) while the socket takes them. */
    struct ctl_body *body;
    int status;
    const char *ctype;
    int head_sent;
    int waiting;                 /* the body said WAIT: back in the queue on ctl_admin_wake */
    int queued;                  /* in the ready queue */
    struct aconn *rprev, *rnext; /* the ready queue: bodies owed a slice, oldest first */
    struct lb_addr peer;
    const char *extra; /* header lines added to the response head */
};

struct ctl_admin {
    struct sf_loop *loop;
    struct sf_io io;
    struct lb_addr addr;
    ctl_admin_fn fn;
    void *ctx;
    struct aconn *conns;
    unsigned nconns;
    struct sf_hook hook;
    struct aconn *dead;
    struct aconn *rhead, *rtail;
    /* Armed at "now" while bodies wait for a slice, so that the next epoll_wait does not
     * block: the slices themselves run in the hook, after the events. */
    struct sf_loop_timer nudge;
    struct ctl_admin_access access;
    uint64_t refused_peer, refused_token;
    int work;         /* the loop's account of admin work (sf_loop_work_add) */
    uint64_t poll_ns; /* when bodies that said WAIT are called again */
};

const char *ctl_http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

static void ready_push(struct aconn *c)
{
    struct ctl_admin *a = c->a;
    if (c->queued)
        return;
    c->queued = 1;
    c->rnext = NULL;
    c->rprev = a->rtail;
    if (a->rtail)
        a->rtail->rnext = c;
    else
        a->rhead = c;
    a->rtail = c;
}

static void ready_del(struct aconn *c)
{
    struct ctl_admin *a = c->a;
    if (!c->queued)
        return;
    c->queued = 0;
    if (c->rprev)
        c->rprev->rnext = c->rnext;
    else
        a->rhead = c->rnext;
    if (c->rnext)
        c->rnext->rprev = c->rprev;
    else
        a->rtail = c->rprev;
    c->rprev = c->rnext = NULL;
}

static void conn_close(struct aconn *c)
{
    struct ctl_admin *a = c->a;
    sf_loop_timer_cancel(a->loop, &c->timer);
    close(c->io.fd);
    c->io.fn = NULL; /* an event already fetched for it is ignored */
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    a->nconns--;
    ready_del(c);
    if (c->body)
        c->body->free(c->body);
    c->body = NULL;
    sf_sb_free(&c->out);
    c->next = a->dead;
    a->dead = c;
}

static void reap(struct ctl_admin *a)
{
    while (a->dead) {
        struct aconn *c = a->dead;
        a->dead = c->next;
        free(c);
    }
}

/* The head; Content-Length when the body is known whole, else the close ends it. */
static void head(struct aconn *c, int status, const char *ctype, const struct sf_strbuf *body,
                 int whole)
{
    sf_sb_printf(&c->out, "HTTP/1.1 %d %s\r\nServer: synfin\r\nContent-Type: %s\r\n", status,
                 ctl_http_reason(status), ctype);
    if (whole)
        sf_sb_printf(&c->out, "Content-Length: %zu\r\n", body ? body->len : 0);
    if (c->extra)
        sf_sb_printf(&c->out, "%s", c->extra);
    sf_sb_printf(&c->out, "Connection: close\r\n\r\n");
    if (body && body->len)
        sf_sb_append(&c->out, body->p, body->len);
    c->head_sent = 1;
}

static void respond(struct aconn *c, int status, const char *ctype, struct sf_strbuf *body)
{
    sf_sb_free(&c->out);
    sf_sb_init(&c->out);
    head(c, status, ctype, body, 1);
    c->responding = 1;
}

static void respond_error(struct aconn *c, int status)
{
    struct sf_strbuf b;
    sf_sb_init(&b);
    sf_sb_printf(&b, "%d %s\n", status, ctl_http_reason(status));
    respond(c, status, "text/plain; charset=utf-8", &b);
    sf_sb_free(&b);
}

static int is_tchar(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

int ctl_admin_head_complete(const char *buf, size_t len)
{
    return memmem(buf, len, "\r\n\r\n", 4) || memmem(buf, len, "\n\n", 2);
}

int ctl_admin_parse_request(char *req, size_t len, struct ctl_admin_req *r, char *path,
                            size_t pathlen)
{
    char *eol = strstr(req, "\r\n");
    if (!eol || memchr(req, 0, len))
        return 400;
    *eol = 0;
    char *sp1 = strchr(req, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || sp1 == req || strchr(sp2 + 1, ' '))
        return 400;
    *sp1 = 0;
    *sp2 = 0;
    const char *method = req, *target = sp1 + 1, *version = sp2 + 1;
    for (const char *p = method; *p; p++)
        if (!is_tchar(*p))
            return 400;
    if (target[0] != '/' || (strcmp(version, "HTTP/1.1") && strcmp(version, "HTTP/1.0")))
        return 400;
    for (const char *p = target; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return 400;
    const char *q = strchr(target, '?');
    size_t pl = q ? (size_t)(q - target) : strlen(target);
    if (pl >= pathlen)
        return 404;
    memcpy(path, target, pl);
    path[pl] = 0;
    r->method = method;
    r->path = path;
    r->query = q ? q + 1 : "";
    return 0;
}

int ctl_admin_header(const char *head, size_t len, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *end = head + len;
    const char *p = memchr(head, '\n', len);
    while (p && p + 1 < end) {
        const char *line = p + 1;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            eol = end;
        if ((size_t)(eol - line) > nl && line[nl] == ':' && !strncasecmp(line, name, nl)) {
            const char *v = line + nl + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            if ((size_t)(ve - v) >= outlen)
                return 0;
            /* A control byte (NUL, CR ...) makes it no field value at all (RFC 9110 5.5). */
            for (const char *c = v; c < ve; c++)
                if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
                    return 0;
            memcpy(out, v, (size_t)(ve - v));
            out[ve - v] = 0;
            return 1;
        }
        p = eol < end ? eol : NULL;
    }
    return 0;
}

int ctl_admin_token_ok(const char *head, size_t len, const char *token)
{
    char v[256];
    if (!ctl_admin_header(head, len, "authorization", v, sizeof v) || strncasecmp(v, "bearer ", 7))
        return 0;
    /* Every byte of the longer one is looked at, whatever differs first. */
    const char *given = v + 7;
    size_t gl = strlen(given), tl = strlen(token), n = gl > tl ? gl : tl;
    unsigned diff = (unsigned)(gl ^ tl);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned)(unsigned char)(i < gl ? given[i] : 0) ^
                (unsigned)(unsigned char)(i < tl ? token[i] : 0);
    return diff == 0;
}

/* Who may ask: loopback and allowed peers, with the token when there is one. 0, or the
 * status to answer. */
static int admitted(struct aconn *c)
{
    struct ctl_admin *a = c->a;
    if (!lb_addr_is_loopback(&c->peer) &&
        !lb_cidr_match_any(a->access.allow, a->access.nallow, &c->peer)) {
        a->refused_peer++;
        return 403;
    }
    if (a->access.token[0] && !ctl_admin_token_ok(c->req, c->reqlen, a->access.token)) {
        a->refused_token++;
        c->extra = "WWW-Authenticate: Bearer realm=\"synfin\"\r\n";
        return 401;
    }
    return 0;
}

/* Parses the request line of a complete head and dispatches it. */
static void handle(struct aconn *c)
{
    char path[1024], who[LB_ADDR_STRLEN];
    struct ctl_admin_req r;
    int status = admitted(c);
    if (status) {
        respond_error(c, status);
        return;
    }
    status = ctl_admin_parse_request(c->req, c->reqlen, &r, path, sizeof path);
    if (status) {
        respond_error(c, status);
        return;
    }
    r.who = lb_addr_format(&c->peer, who, sizeof who);
    struct ctl_admin_resp resp = {.ctype = "text/plain; charset=utf-8"};
    sf_sb_init(&resp.body);
    status = c->a->fn(c->a->ctx, &r, &resp);
    if (resp.stream) {
        c->body = resp.stream;
        c->status = status;
        c->ctype = resp.ctype;
        c->responding = 1;
    } else if (resp.body.failed) {
        respond_error(c, 500);
    } else if (status >= 400 && resp.body.len == 0) {
        respond_error(c, status);
    } else {
        respond(c, status, resp.ctype, &resp.body);
    }
    sf_sb_free(&resp.body);
}

/* Sends what out holds. Returns 1 when all of it went, 0 when the socket is full (an
 * EPOLLOUT edge follows), -1 when the connection was closed. */
static int flush(struct aconn *c)
{
    if (c->out.failed) {
        conn_close(c);
        return -1;
    }
    while (c->sent < c->out.len) {
        ssize_t n = send(c->io.fd, c->out.p + c->sent, c->out.len - c->sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n < 0) {
            conn_close(c);
            return -1;
        }
        c->sent += (size_t)n;
    }
    c->out.len = c->sent = 0; /* the buffer is reused for the next slice */
    return 1;
}

/* After a flush that emptied out: the next slice is owed, or the response is over. */
static void sent_all(struct aconn *c)
{
    if (c->body) {
        if (!c->waiting)
            ready_push(c);
        return;
    }
    shutdown(c->io.fd, SHUT_WR);
    conn_close(c);
}

/* One slice of a streamed body, into out. Returns -1 if the connection was closed. */
static int fill(struct aconn *c, unsigned *budget)
{
    struct sf_strbuf pend; /* before the head is out: its Content-Length may follow */
    sf_sb_init(&pend);
    unsigned before = *budget;
    int rc = c->body->fill(c->body, c->head_sent ? &c->out : &pend, budget);
    if (*budget == before && *budget > 0)
        --*budget; /* progress is owed: every slice costs something */
    if (rc == CTL_BODY_FAIL || pend.failed || c->out.failed) {
        int sent = c->head_sent;
        sf_sb_free(&pend);
        if (sent) {
            conn_close(c);
            return -1;
        }
        c->body->free(c->body);
        c->body = NULL;
        respond_error(c, 500);
        return 0;
    }
    if (!c->head_sent && rc != CTL_BODY_WAIT) {
        if (c->body->status)
            c->status = c->body->status;
        if (c->body->ctype)
            c->ctype = c->body->ctype;
        head(c, c->status, c->ctype, &pend, rc == CTL_BODY_DONE);
    }
    sf_sb_free(&pend);
    c->waiting = rc == CTL_BODY_WAIT;
    if (rc == CTL_BODY_DONE) {
        c->body->free(c->body);
        c->body = NULL;
    }
    return 0;
}

/* Bodies that said WAIT back in the ready queue; whether there were any. */
static int requeue_waiting(struct ctl_admin *a)
{
    int any = 0;
    for (struct aconn *c = a->conns; c; c = c->next)
        if (c->waiting) {
            c->waiting = 0;
            ready_push(c);
            any = 1;
        }
    return any;
}

static int any_waiting(const struct ctl_admin *a)
{
    for (const struct aconn *c = a->conns; c; c = c->next)
        if (c->waiting)
            return 1;
    return 0;
}

/* After each batch: slices for the bodies in the ready queue, round robin, within the
 * iteration's budget; the waiting ones again when their poll is due. */
static void serve(struct sf_hook *h)
{
    struct ctl_admin *a = CONTAINER(h, struct ctl_admin, hook);
    if (!a->rhead && !a->dead && !a->conns)
        return;
    uint64_t now = sf_loop_now(a->loop);
    if (now >= a->poll_ns && requeue_waiting(a))
        a->poll_ns = now + ADMIN_POLL;
    if (!a->rhead && !a->dead)
        return;
    struct sf_loop_mark t0 = sf_loop_mark();
    reap(a);
    unsigned budget = ADMIN_BUDGET;
    while (a->rhead && budget > 0) {
        struct aconn *c = a->rhead;
        ready_del(c);
        if (fill(c, &budget) < 0)
            continue;
        if (flush(c) == 1)
            sent_all(c);
    }
    if (a->rhead) {
        sf_loop_timer_set(a->loop, &a->nudge, now);
    } else if (any_waiting(a)) {
        if (a->poll_ns <= now)
            a->poll_ns = now + ADMIN_POLL;
        sf_loop_timer_set(a->loop, &a->nudge, a->poll_ns);
    }
    sf_loop_work_add(a->loop, a->work, t0);
}

static void nudged(struct sf_loop_timer *t)
{
    (void)t; /* the timer only kept epoll_wait from blocking; serve does the work */
}

void ctl_admin_wake(struct ctl_admin *a)
{
    if (requeue_waiting(a))
        sf_loop_timer_set(a->loop, &a->nudge, sf_loop_now(a->loop));
}

static void conn_serve(struct aconn *c)
{
    struct sf_io *io = &c->io;
    while (!c->responding) {
        if (c->reqlen == REQ_MAX) {
            respond_error(c, 431);
            break;
        }
        ssize_t n = recv(io->fd, c->req + c->reqlen, REQ_MAX - c->reqlen, 0);
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            /* Gone, or closed before a whole request: nothing to answer. */
            if (n == 0 && c->reqlen > 0) {
                respond_error(c, 400);
                break;
            }
            conn_close(c);
            return;
        }
        c->reqlen += (size_t)n;
        c->req[c->reqlen] = 0;
        if (ctl_admin_head_complete(c->req, c->reqlen)) {
            handle(c);
            break;
        }
    }
    if (c->body && !c->head_sent) {
        if (!c->waiting)
            ready_push(c); /* the first slice comes from serve, after this batch */
        return;
    }
    if (flush(c) == 1)
        sent_all(c);
}

static void conn_io(struct sf_io *io, uint32_t ev)
{
    struct aconn *c = CONTAINER(io, struct aconn, io);
    struct ctl_admin *a = c->a;
    (void)ev;
    struct sf_loop_mark t0 = sf_loop_mark();
    conn_serve(c); /* may close c (freed after the batch) */
    sf_loop_work_add(a->loop, a->work, t0);
}

static void conn_timeout(struct sf_loop_timer *t)
{
    conn_close(CONTAINER(t, struct aconn, timer));
}

static void listener_io(struct sf_io *io, uint32_t ev)
{
    struct ctl_admin *a = CONTAINER(io, struct ctl_admin, io);
    (void)ev;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(io->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == ECONNABORTED || errno == EINTR)
                continue;
            return; /* EAGAIN, or a shortage: the next connection tries again */
        }
        struct aconn *c = a->nconns < CTL_ADMIN_CONNS_MAX ? calloc(1, sizeof *c) : NULL;
        if (!c) {
            close(fd);
            continue;
        }
        c->io.fd = fd;
        c->io.fn = conn_io;
        lb_addr_from_sockaddr(&c->peer, (struct sockaddr *)&ss, sl);
        c->a = a;
        c->timer.fn = conn_timeout;
        c->next = a->conns;
        if (a->conns)
            a->conns->prev = c;
        a->conns = c;
        a->nconns++;
        if (sf_loop_add(a->loop, &c->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP) < 0 ||
            sf_loop_timer_set(a->loop, &c->timer, sf_loop_now(a->loop) + ADMIN_TIMEOUT) < 0)
            conn_close(c);
    }
}

struct ctl_admin *ctl_admin_new(struct sf_loop *loop, const struct lb_addr *addr, ctl_admin_fn fn,
                                void *ctx, char *err, size_t errlen)
{
    struct ctl_admin *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "admin: out of memory");
        return NULL;
    }
    a->loop = loop;
    a->addr = *addr;
    a->fn = fn;
    a->ctx = ctx;
    int one = 1;
    int fd = socket(addr->u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    /* IPv6 only, as every listener of synfin's (docs/config.md, "listen"): [::]:P leaves
     * 0.0.0.0:P to others. */
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        (addr->u.sa.sa_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) ||
        bind(fd, &addr->u.sa, addr->len) < 0 || listen(fd, 64) < 0) {
        char s[LB_ADDR_STRLEN];
        snprintf(err, errlen, "admin: cannot listen on %s: %s", lb_addr_format(addr, s, sizeof s),
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        free(a);
        return NULL;
    }
    a->io.fd = fd;
    a->io.fn = listener_io;
    if (sf_loop_add(loop, &a->io, EPOLLIN) < 0) {
        snprintf(err, errlen, "admin: epoll: %s", strerror(errno));
        close(fd);
        free(a);
        return NULL;
    }
    a->hook.fn = serve;
    a->nudge.fn = nudged;
    a->work = sf_loop_work_id(loop, "admin");
    sf_loop_add_hook(loop, &a->hook);
    return a;
}

void ctl_admin_set_access(struct ctl_admin *a, const struct ctl_admin_access *acc)
{
    a->access = *acc;
}

void ctl_admin_refused(const struct ctl_admin *a, uint64_t *peer, uint64_t *token)
{
    *peer = a->refused_peer;
    *token = a->refused_token;
}

const struct lb_addr *ctl_admin_addr(const struct ctl_admin *a)
{
    return &a->addr;
}

void ctl_admin_census(const struct ctl_admin *a, struct lb_census *c)
{
    lb_kernel_census_fd(a->io.fd, c);
    for (const struct aconn *k = a->conns; k; k = k->next)
        lb_kernel_census_fd(k->io.fd, c);
}

/* Not from inside a batch that may still hold an event for it: callers free it after the
 * batch (a hook) or after the loop stopped. */
void ctl_admin_free(struct ctl_admin *a)
{
    if (!a)
        return;
    while (a->conns)
        conn_close(a->conns);
    reap(a);
    sf_loop_del_hook(a->loop, &a->hook);
    sf_loop_timer_cancel(a->loop, &a->nudge);
    close(a->io.fd);
    free(a);
}
