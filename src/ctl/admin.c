/* Admin HTTP listener; see admin.h. Kernel sockets directly: the control plane always runs
 * on the host stack, whatever transport carries sessions. */
#include "ctl/admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define REQ_MAX                      8192
#define ADMIN_TIMEOUT                (5 * SF_S)
#define ADMIN_CONNS_MAX              64

struct aconn {
    struct sf_io io;
    struct sf_admin *a;
    struct sf_timer timer;
    struct aconn *prev, *next;
    char req[REQ_MAX + 1];
    size_t reqlen;
    struct sf_strbuf out;
    size_t sent;
    int responding;
};

struct sf_admin {
    struct sf_loop *loop;
    struct sf_io io;
    struct sf_addr addr;
    sf_admin_fn fn;
    void *ctx;
    struct aconn *conns;
    unsigned nconns;
    struct sf_hook reap;
    struct aconn *dead;
};

const char *sf_http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

static void conn_close(struct aconn *c)
{
    struct sf_admin *a = c->a;
    sf_timer_cancel(a->loop, &c->timer);
    close(c->io.fd);
    c->io.fn = NULL; /* an event already fetched for it is ignored */
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    a->nconns--;
    sf_sb_free(&c->out);
    c->next = a->dead;
    a->dead = c;
}

static void reap(struct sf_hook *h)
{
    struct sf_admin *a = CONTAINER(h, struct sf_admin, reap);
    while (a->dead) {
        struct aconn *c = a->dead;
        a->dead = c->next;
        free(c);
    }
}

static void respond(struct aconn *c, int status, const char *ctype, struct sf_strbuf *body)
{
    sf_sb_init(&c->out);
    sf_sb_printf(&c->out,
                 "HTTP/1.1 %d %s\r\nServer: synfin\r\nContent-Type: %s\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                 status, sf_http_reason(status), ctype, body ? body->len : 0);
    if (body && body->len)
        sf_sb_append(&c->out, body->p, body->len);
    c->responding = 1;
}

static void respond_error(struct aconn *c, int status)
{
    struct sf_strbuf b;
    sf_sb_init(&b);
    sf_sb_printf(&b, "%d %s\n", status, sf_http_reason(status));
    respond(c, status, "text/plain; charset=utf-8", &b);
    sf_sb_free(&b);
}

static int is_tchar(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

int sf_admin_head_complete(const char *buf, size_t len)
{
    return memmem(buf, len, "\r\n\r\n", 4) || memmem(buf, len, "\n\n", 2);
}

int sf_admin_parse_request(char *req, size_t len, struct sf_admin_req *r, char *path,
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

/* Parses the request line of a complete head and dispatches it. */
static void handle(struct aconn *c)
{
    char path[1024];
    struct sf_admin_req r;
    int status = sf_admin_parse_request(c->req, c->reqlen, &r, path, sizeof path);
    if (status) {
        respond_error(c, status);
        return;
    }
    struct sf_strbuf body;
    sf_sb_init(&body);
    const char *ctype = "text/plain; charset=utf-8";
    status = c->a->fn(c->a->ctx, &r, &body, &ctype);
    if (body.failed)
        respond_error(c, 500);
    else if (status >= 400 && body.len == 0)
        respond_error(c, status);
    else
        respond(c, status, ctype, &body);
    sf_sb_free(&body);
}

static void conn_io(struct sf_io *io, uint32_t ev)
{
    struct aconn *c = CONTAINER(io, struct aconn, io);
    (void)ev;
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
        if (sf_admin_head_complete(c->req, c->reqlen)) {
            handle(c);
            break;
        }
    }
    if (c->out.failed) {
        conn_close(c);
        return;
    }
    while (c->sent < c->out.len) {
        ssize_t n = send(io->fd, c->out.p + c->sent, c->out.len - c->sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0) {
            conn_close(c);
            return;
        }
        c->sent += (size_t)n;
    }
    shutdown(io->fd, SHUT_WR);
    conn_close(c);
}

static void conn_timeout(struct sf_timer *t)
{
    conn_close(CONTAINER(t, struct aconn, timer));
}

static void listener_io(struct sf_io *io, uint32_t ev)
{
    struct sf_admin *a = CONTAINER(io, struct sf_admin, io);
    (void)ev;
    for (;;) {
        int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == ECONNABORTED || errno == EINTR)
                continue;
            return; /* EAGAIN, or a shortage: the next connection tries again */
        }
        struct aconn *c = a->nconns < ADMIN_CONNS_MAX ? calloc(1, sizeof *c) : NULL;
        if (!c) {
            close(fd);
            continue;
        }
        c->io.fd = fd;
        c->io.fn = conn_io;
        c->a = a;
        c->timer.fn = conn_timeout;
        c->next = a->conns;
        if (a->conns)
            a->conns->prev = c;
        a->conns = c;
        a->nconns++;
        if (sf_loop_add(a->loop, &c->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP) < 0 ||
            sf_timer_set(a->loop, &c->timer, sf_loop_now(a->loop) + ADMIN_TIMEOUT) < 0)
            conn_close(c);
    }
}

struct sf_admin *sf_admin_new(struct sf_loop *loop, const struct sf_addr *addr, sf_admin_fn fn,
                              void *ctx, char *err, size_t errlen)
{
    struct sf_admin *a = calloc(1, sizeof *a);
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
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, &addr->u.sa, addr->len) < 0 || listen(fd, 64) < 0) {
        char s[SF_ADDR_STRLEN];
        snprintf(err, errlen, "admin: cannot listen on %s: %s", sf_addr_format(addr, s, sizeof s),
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
    a->reap.fn = reap;
    sf_loop_add_hook(loop, &a->reap);
    return a;
}

const struct sf_addr *sf_admin_addr(const struct sf_admin *a)
{
    return &a->addr;
}

void sf_admin_each_fd(const struct sf_admin *a, void (*fn)(int fd, void *arg), void *arg)
{
    fn(a->io.fd, arg);
    for (const struct aconn *c = a->conns; c; c = c->next)
        fn(c->io.fd, arg);
}

/* Not from inside a batch that may still hold an event for it: callers free it after the
 * batch (a hook) or after the loop stopped. */
void sf_admin_free(struct sf_admin *a)
{
    if (!a)
        return;
    while (a->conns)
        conn_close(a->conns);
    reap(&a->reap);
    sf_loop_del_hook(a->loop, &a->reap);
    close(a->io.fd);
    free(a);
}
