/* Config checks across objects, once every directive is read (positions were recorded at
 * parse): a listening address used twice, a server that is one of synfin's own frontends,
 * a log file that cannot be written, an admin listener open to other hosts. Also reading a
 * configuration file and formatting what the checks found. */
#include "lb/config_int.h"

#include <errno.h>
#include <ifaddrs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

static void warn(struct lb_config *c, struct lb_pos at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void warn(struct lb_config *c, struct lb_pos at, const char *fmt, ...)
{
    if (c->nwarnings == LB_WARNINGS)
        return;
    struct lb_config_warning *w = &c->warnings[c->nwarnings++];
    w->line = at.line;
    w->col = at.col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg, sizeof w->msg, fmt, ap);
    va_end(ap);
}

static int fail_pos(struct lb_config_error *e, struct lb_pos at, int ref_line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_pos(struct lb_config_error *e, struct lb_pos at, int ref_line, const char *fmt, ...)
{
    e->line = at.line;
    e->col = at.col;
    e->ref_line = ref_line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

static int before(struct lb_pos a, struct lb_pos b)
{
    return a.line < b.line || (a.line == b.line && a.col < b.col);
}

/* The k-th listening address of c (frontends' listen lines, responders, the admin
 * listener), with where it was written; 0 past the last. */
static int nth_listen(const struct lb_config *c, size_t k, const struct lb_addr **a,
                      struct lb_pos *pos)
{
    for (size_t i = 0; i < c->nfrontends; i++) {
        if (k < c->frontends[i].nlisten) {
            *a = &c->frontends[i].listen[k];
            *pos = c->frontends[i].listen_pos[k];
            return 1;
        }
        k -= c->frontends[i].nlisten;
    }
    if (k < c->nresponds) {
        *a = &c->responds[k].listen;
        *pos = c->responds[k].listen_pos;
        return 1;
    }
    if (k == c->nresponds && c->has_admin) {
        *a = &c->admin;
        *pos = c->admin_pos;
        return 1;
    }
    return 0;
}

/* Every listening address once: frontends (each of their listen lines), responders and the
 * admin listener. The later one is the error, naming the line of the earlier. */
static int listen_unique(const struct lb_config *c, struct lb_config_error *e)
{
    const struct lb_addr *a, *b;
    struct lb_pos pa, pb;
    for (size_t i = 0; nth_listen(c, i, &a, &pa); i++)
        for (size_t j = 0; nth_listen(c, j, &b, &pb); j++)
            if (j != i && before(pb, pa) && lb_addr_equal(a, b)) {
                char s[LB_ADDR_STRLEN];
                return fail_pos(e, pa, pb.line, "address '%s' is already used",
                                lb_addr_format(a, s, sizeof s));
            }
    return 0;
}

/* The host's own addresses, asked once per check and only if a wildcard listener needs them. */
struct locals {
    int asked;
    struct ifaddrs *list;
};

static int is_local(struct locals *l, const struct lb_addr *a)
{
    struct lb_addr u;
    lb_addr_unmap(&u, a);
    if (lb_addr_is_loopback(&u) || lb_addr_is_any(&u))
        return 1;
    if (!l->asked) {
        l->asked = 1;
        if (getifaddrs(&l->list) < 0)
            l->list = NULL; /* then only loopback counts: the run-time check catches the rest */
    }
    for (struct ifaddrs *i = l->list; i; i = i->ifa_next) {
        if (!i->ifa_addr ||
            (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
            continue;
        struct lb_addr x;
        lb_addr_from_sockaddr(&x, i->ifa_addr,
                              i->ifa_addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                                                : sizeof(struct sockaddr_in6));
        if (lb_addr_same_host(&x, &u))
            return 1;
    }
    return 0;
}

/* Whether connecting to srv reaches the listener on lis: the same address, or any local
 * address of its family on the port of a wildcard listener (synfin's IPv6 listeners are
 * IPV6_V6ONLY: one on :: does not take IPv4, nor an IPv4-mapped server address). */
static int reaches(struct locals *l, const struct lb_addr *srv, const struct lb_addr *lis)
{
    struct lb_addr s, f;
    lb_addr_unmap(&s, srv);
    lb_addr_unmap(&f, lis);
    if (lb_addr_port(&s) != lb_addr_port(&f))
        return 0;
    if (lb_addr_same_host(&s, &f))
        return 1;
    if (!lb_addr_is_any(&f))
        return 0;
    if (f.u.sa.sa_family != s.u.sa.sa_family)
        return 0;
    return is_local(l, &s);
}

static int no_loops(const struct lb_config *c, struct lb_config_error *e)
{
    struct locals l = {0, NULL};
    int rc = 0;
    for (size_t b = 0; b < c->nbackends && rc == 0; b++) {
        const struct lb_backend_conf *be = &c->backends[b];
        for (size_t i = 0; i < be->nservers && rc == 0; i++) {
            const struct lb_server_conf *s = &be->servers[i];
            for (size_t k = 0, li = 0; k < c->nfrontends && rc == 0; li++) {
                const struct lb_frontend_conf *f = &c->frontends[k];
                if (li == f->nlisten) {
                    k++;
                    li = (size_t)-1;
                    continue;
                }
                if (!reaches(&l, &s->addr, &f->listen[li]))
                    continue;
                char a[LB_ADDR_STRLEN];
                lb_addr_format(&s->addr, a, sizeof a);
                rc = lb_addr_is_any(&f->listen[li])
                         ? fail_pos(e, s->addr_pos, f->listen_pos[li].line,
                                    "server '%s' at %s is a local address on the port that "
                                    "frontend '%s' listens on at every address: every connection "
                                    "to it would come back to synfin (a loop)",
                                    s->name, a, f->name)
                         : fail_pos(e, s->addr_pos, f->listen_pos[li].line,
                                    "server '%s' at %s is frontend '%s''s own listening address: "
                                    "every connection to it would come back to synfin (a loop)",
                                    s->name, a, f->name);
            }
        }
    }
    if (l.list)
        freeifaddrs(l.list);
    return rc;
}

/* A log file synfin could not open would lose every line after the start: its directory
 * must exist and take a new file, or the file must be writable. */
static int log_writable(const struct lb_config *c, struct lb_config_error *e)
{
    if (c->log_target != LB_LOG_FILE)
        return 0;
    struct stat st;
    const char *path = c->log_path;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return fail_pos(e, c->log_pos, 0, "log file '%s' is a directory", path);
        if (access(path, W_OK) < 0)
            return fail_pos(e, c->log_pos, 0, "log file '%s': %s", path, strerror(errno));
        return 0;
    }
    char dir[sizeof c->log_path];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = 0; /* a file in / */
    else if (slash)
        *slash = 0;
    if (stat(dir, &st) < 0)
        return fail_pos(e, c->log_pos, 0, "log file '%s': directory %s: %s", path, dir,
                        strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return fail_pos(e, c->log_pos, 0, "log file '%s': %s is not a directory", path, dir);
    if (access(dir, W_OK | X_OK) < 0)
        return fail_pos(e, c->log_pos, 0, "log file '%s': directory %s: %s", path, dir,
                        strerror(errno));
    return 0;
}

int lb_conf_check(struct lb_config *c, struct lb_config_error *e)
{
    if (listen_unique(c, e) < 0 || no_loops(c, e) < 0 || log_writable(c, e) < 0)
        return -1;
    if (c->has_admin && !lb_addr_is_loopback(&c->admin)) {
        char a[LB_ADDR_STRLEN];
        warn(c, c->admin_pos,
             "admin on %s is reachable from other hosts, and it can change servers and kill "
             "sessions: it answers loopback peers only until 'allow' names others, which "
             "needs a token",
             lb_addr_format(&c->admin, a, sizeof a));
    }
    return 0;
}

/* ---- files and messages ---- */

static char *read_all(FILE *f, size_t *n, const char **why)
{
    size_t cap = 4096;
    char *text = malloc(cap);
    *n = 0;
    while (text) {
        *n += fread(text + *n, 1, cap - *n, f);
        if (*n < cap)
            break;
        if (cap >= (16u << 20)) {
            free(text);
            *why = "larger than 16 MiB";
            return NULL;
        }
        char *nt = realloc(text, cap * 2);
        if (!nt)
            free(text);
        text = nt;
        cap *= 2;
    }
    if (!text) {
        *why = "out of memory";
        return NULL;
    }
    if (ferror(f)) {
        free(text);
        *why = strerror(errno ? errno : EIO);
        return NULL;
    }
    return text;
}

struct lb_config *lb_config_load(const char *path, char *buf, size_t buflen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(buf, buflen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    /* fopen takes a directory; reading it would fail with a vaguer message. */
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        snprintf(buf, buflen, "%s: %s", path, strerror(EISDIR));
        return NULL;
    }
    size_t n;
    const char *why = NULL;
    errno = 0;
    char *text = read_all(f, &n, &why);
    fclose(f);
    if (!text) {
        snprintf(buf, buflen, "%s: %s", path, why);
        return NULL;
    }
    struct lb_config_error e;
    struct lb_config *c = lb_config_parse(text, n, &e);
    free(text);
    if (!c)
        lb_config_error_format(&e, path, buf, buflen);
    return c;
}

void lb_config_error_format(const struct lb_config_error *e, const char *name, char *buf,
                            size_t buflen)
{
    char ref[300] = "";
    if (e->ref_line > 0 && e->ref_col > 0)
        snprintf(ref, sizeof ref, " (first at %s:%d:%d)", name, e->ref_line, e->ref_col);
    else if (e->ref_line > 0)
        snprintf(ref, sizeof ref, " at line %d", e->ref_line);
    if (e->line)
        snprintf(buf, buflen, "%s:%d:%d: %s%s", name, e->line, e->col, e->msg, ref);
    else
        snprintf(buf, buflen, "%s: %s%s", name, e->msg, ref);
}

void lb_config_warning_format(const struct lb_config_warning *w, const char *name, char *buf,
                              size_t buflen)
{
    snprintf(buf, buflen, "%s:%d:%d: warning: %s", name, w->line, w->col, w->msg);
}
