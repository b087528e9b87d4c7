/* synfin-ctl: the runtime API from a shell (docs/lb.md, "Runtime API"), as haproxy's
 * `echo ... | socat` habit made one command:
 *
 *   synfin-ctl [-a ADDR] [-t TOKEN] servers | drain|maint|ready BACKEND/SERVER |
 *              weight BACKEND/SERVER N
 *
 * Exit codes: 0 done, 1 synfin refused it (no such server, a bad weight, 401/403), 2 a usage
 * error, 3 synfin could not be asked (no connection, no answer, a malformed answer). */
#include "util/version.h"
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "stat/http_get.h"

#define DEFAULT_ADDR "127.0.0.1:8081" /* conf/synfin.conf's admin */
#define TIMEOUT_S    5
#define RESP_MAX     (4u << 20)

enum { EX_OK, EX_REFUSED, EX_USAGE, EX_UNREACHABLE };

static void usage(FILE *f)
{
    fprintf(f, "usage: synfin-ctl [-a ADDR] [-t TOKEN] [-j] COMMAND\n"
               "  servers                      list servers: state, health, weight, sessions\n"
               "  drain BACKEND/SERVER         no new sessions; its sessions go on\n"
               "  maint BACKEND/SERVER         no new sessions; its sessions are closed\n"
               "  ready BACKEND/SERVER         takes new sessions again\n"
               "  weight BACKEND/SERVER N      sets its weight (0 to 1000)\n"
               "options:\n"
               "  -a ADDR    the admin listener, HOST:PORT or http://HOST:PORT "
               "(default $SYNFIN_ADMIN or " DEFAULT_ADDR ")\n"
               "  -t TOKEN   its bearer token (default $SYNFIN_ADMIN_TOKEN)\n"
               "  -j         servers as JSON\n"
               "  -h         this help;  -v  the version\n"
               "exit: 0 done, 1 refused by synfin, 2 usage, 3 synfin unreachable\n");
}

static int connect_to(const struct st_url *u, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int g = getaddrinfo(u->host, u->port, &hints, &ai);
    if (g) {
        snprintf(err, errlen, "cannot resolve '%s': %s", u->host, gai_strerror(g));
        return -1;
    }
    int fd = -1, e = 0;
    struct timeval tv = {.tv_sec = TIMEOUT_S};
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            e = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
            e = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0)
        snprintf(err, errlen,
                 "cannot connect to %s:%s: %s (is synfin running with its admin "
                 "listener there?)",
                 u->host, u->port, strerror(e == EINPROGRESS ? ETIMEDOUT : e));
    return fd;
}

/* One request; the response's status and body go to *r, its buffer to *buf. */
static int request(const struct st_url *u, const char *method, const char *path, const char *token,
                   char **buf, struct st_http_response *r, char *err, size_t errlen)
{
    int fd = connect_to(u, err, errlen);
    if (fd < 0)
        return -1;
    char req[2048];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: synfin-ctl\r\n%s%s%s"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n",
                     method, path, u->host, u->port, token ? "Authorization: Bearer " : "",
                     token ? token : "", token ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof req) {
        close(fd);
        snprintf(err, errlen, "request too long");
        return -1;
    }
    for (size_t sent = 0; sent < (size_t)n;) {
        ssize_t k = send(fd, req + sent, (size_t)n - sent, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            snprintf(err, errlen, "sending to %s:%s: %s", u->host, u->port, strerror(errno));
            close(fd);
            return -1;
        }
        sent += (size_t)k;
    }
    size_t cap = 16384, len = 0;
    char *b = malloc(cap);
    for (;;) {
        if (b && len == cap && cap < RESP_MAX) {
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                b = NULL;
            } else {
                b = nb;
                cap *= 2;
            }
        }
        if (!b || len == cap) {
            free(b);
            close(fd);
            snprintf(err, errlen, "response too large or out of memory");
            return -1;
        }
        ssize_t k = recv(fd, b + len, cap - len, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            snprintf(err, errlen, "reading from %s:%s: %s", u->host, u->port,
                     errno == EAGAIN ? "no answer in 5 s" : strerror(errno));
            free(b);
            close(fd);
            return -1;
        }
        if (k == 0)
            break;
        len += (size_t)k;
    }
    close(fd);
    char perr[200];
    if (st_http_parse_response(b, len, r, perr, sizeof perr) < 0) {
        snprintf(err, errlen, "bad answer from %s:%s: %s", u->host, u->port, perr);
        free(b);
        return -1;
    }
    *buf = b;
    return 0;
}

/* BACKEND/SERVER, each a config name (letters, digits, '_', '-', '.'). */
static int target_ok(const char *t)
{
    const char *slash = strchr(t, '/');
    if (!slash || slash == t || !slash[1] || strchr(slash + 1, '/'))
        return 0;
    for (const char *p = t; *p; p++)
        if (p != slash && !strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789_-.",
                                  *p))
            return 0;
    return strlen(t) < 2 * 64;
}

static int bad_usage(const char *why, const char *arg)
{
    fprintf(stderr, "synfin-ctl: %s%s%s\n", why, arg ? ": " : "", arg ? arg : "");
    usage(stderr);
    return EX_USAGE;
}

int main(int argc, char **argv)
{
    const char *addr = getenv("SYNFIN_ADMIN"), *token = getenv("SYNFIN_ADMIN_TOKEN");
    int json = 0, opt;
    if (!addr || !*addr)
        addr = DEFAULT_ADDR;
    if (token && !*token)
        token = NULL;
    if (argc > 1 && sf_version_arg(argv[1]))
        return sf_version_print(stdout, "synfin-ctl") < 0 ? EX_USAGE : EX_OK;
    while ((opt = getopt(argc, argv, "+a:t:jhv")) != -1) {
        switch (opt) {
        case 'a': addr = optarg; break;
        case 't': token = *optarg ? optarg : NULL; break;
        case 'j': json = 1; break;
        case 'h': usage(stdout); return EX_OK;
        case 'v': return sf_version_print(stdout, "synfin-ctl") < 0 ? EX_USAGE : EX_OK;
        default: usage(stderr); return EX_USAGE;
        }
    }
    if (optind >= argc)
        return bad_usage("a command is needed", NULL);
    const char *cmd = argv[optind];
    char **rest = argv + optind + 1;
    int nrest = argc - optind - 1;
    char path[512];
    const char *method = "POST";
    if (!strcmp(cmd, "servers")) {
        if (nrest)
            return bad_usage("'servers' takes no argument, found", rest[0]);
        method = "GET";
        snprintf(path, sizeof path, "/servers%s", json ? "" : "?format=text");
    } else if (!strcmp(cmd, "drain") || !strcmp(cmd, "maint") || !strcmp(cmd, "ready")) {
        if (nrest != 1)
            return bad_usage("this command takes BACKEND/SERVER", cmd);
        if (!target_ok(rest[0]))
            return bad_usage("not BACKEND/SERVER", rest[0]);
        snprintf(path, sizeof path, "/servers/%s/%s", rest[0], cmd);
    } else if (!strcmp(cmd, "weight")) {
        if (nrest != 2)
            return bad_usage("weight takes BACKEND/SERVER and a number", NULL);
        if (!target_ok(rest[0]))
            return bad_usage("not BACKEND/SERVER", rest[0]);
        char *end;
        errno = 0;
        unsigned long w = strtoul(rest[1], &end, 10);
        if (!*rest[1] || *end || rest[1][0] == '-' || errno || w > 1000)
            return bad_usage("a weight is 0 to 1000, found", rest[1]);
        snprintf(path, sizeof path, "/servers/%s/weight/%lu", rest[0], w);
    } else {
        return bad_usage("unknown command", cmd);
    }
    struct st_url u;
    char err[1024];
    if (st_url_parse(addr, &u, err, sizeof err) < 0) {
        fprintf(stderr, "synfin-ctl: -a %s: %s\n", addr, err);
        return EX_USAGE;
    }
    char *buf = NULL;
    struct st_http_response r;
    if (request(&u, method, path, token, &buf, &r, err, sizeof err) < 0) {
        fprintf(stderr, "synfin-ctl: %s\n", err);
        return EX_UNREACHABLE;
    }
    int rc = EX_OK;
    if (r.status == 200) {
        fwrite(r.body, 1, r.body_len, stdout);
    } else {
        const char *why = r.status == 401   ? " (a token is needed: -t or $SYNFIN_ADMIN_TOKEN)"
                          : r.status == 403 ? " (this host is not in the admin's 'allow')"
                                            : "";
        fprintf(stderr, "synfin-ctl: %s %s: %d %s%s: %.*s", method, path, r.status, r.reason, why,
                (int)r.body_len, r.body);
        if (r.body_len == 0 || r.body[r.body_len - 1] != '\n')
            fputc('\n', stderr);
        rc = EX_REFUSED;
    }
    free(buf);
    return rc;
}
