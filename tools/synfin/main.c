/* synfin: the load balancer daemon.
 *
 *   synfin                       run the embedded default configuration (conf/synfin.conf)
 *   synfin -c FILE               run FILE
 *   synfin -c FILE -t            check FILE: exit 0 if valid, 2 with file:line:col if not
 *   synfin -c FILE -T            the same, then print the effective configuration
 *   synfin -v | --version        release, git revision and stats schema
 *   synfin --listen A --server B [--server C ...] [--balance ALG] [--admin D] [--NAME VALUE]
 *                                ad-hoc mode; NAME is any profile directive (docs/config.md);
 *                                -t anywhere among the flags checks them and exits
 *   synfin --transport stack --tun T --kernel-addr K/N --stack-addr S --listen S:P ...
 *                                the same on synfin's own TCP over a TUN device (root)
 *
 * Signals: SIGHUP reloads (a config that fails the check is rejected and logged; the running
 * one stays), SIGTERM drains until drain_timeout, SIGINT stops at once. */
#include "ctl/admin.h"
#include "ctl/render.h"
#include "lb/announce.h"
#include "lb/config.h"
#include "lb/maglev.h"
#include "lb/lb.h"
#include "io/loop.h"
#include "lb/shared.h"
#include "lb/transport.h"
#include "util/version.h"

#include "notify.h"
#include "pin.h"
#include "workers.h"

#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

struct app {
    const char *path;  /* -c FILE, or NULL */
    char *adhoc;       /* generated text in ad-hoc mode */
    char **adhoc_flag; /* the flag each generated line came from */
    size_t adhoc_lines;
    struct sf_loop *loop;
    struct lb_transport *tp;
    struct lb *lb;
    struct ctl ctl;
    struct ctl_admin *old_admin; /* replaced by a reload: freed after the batch */
    struct sf_hook hook;
    struct sf_io sig;
    struct lb_transport_conf tconf; /* what the transport was made from: a reload keeps it */
    struct sf_loop_timer settle;    /* after a drain: connections still closing on the stack */
    uint64_t settle_until;
    struct lb_announce *ann;            /* announce { }: the routes the routing daemon learns */
    struct lb_announce_conf aconf;      /* what it was made from: a reload keeps it */
    struct sf_loop_timer withdraw_wait; /* SIGTERM: routes withdrawn, listeners still open */
    uint32_t threads;                   /* `threads`: a reload keeps it */
    struct lb_shared *shared;           /* with threads > 1 */
    struct workers *workers;            /* threads 1 to threads-1 */
    cpu_set_t cpus;                     /* the process's at start: cpu_map's "unpinned" */
    int pinned;                         /* a cpu_map is in force (pin.h) */
    int exit_code;
};

/* --maglev-table: what every node must agree on, one line per maglev backend. */
static int print_maglev(const struct lb_config *c)
{
    int any = 0;
    for (size_t i = 0; i < c->nbackends; i++) {
        const struct lb_backend_conf *b = &c->backends[i];
        if (b->balance != LB_BAL_MAGLEV)
            continue;
        any = 1;
        const char **names = calloc(b->nservers + 1, sizeof *names);
        uint32_t *weights = calloc(b->nservers + 1, sizeof *weights);
        uint32_t *counts = calloc(b->nservers + 1, sizeof *counts);
        char hex[65];
        int rc = -1;
        if (names && weights && counts) {
            for (size_t k = 0; k < b->nservers; k++) {
                names[k] = b->servers[k].name;
                weights[k] = b->servers[k].weight;
            }
            rc = lb_maglev_digest(b->maglev_size, names, weights, b->nservers, counts, hex);
        }
        if (rc == 0) {
            printf("backend %s maglev_table_size %u sha256 %s slots", b->name, b->maglev_size, hex);
            /* in name order: two nodes that agree print the same line */
            for (const char *last = "";;) {
                size_t best = b->nservers;
                for (size_t k = 0; k < b->nservers; k++)
                    if (strcmp(names[k], last) > 0 &&
                        (best == b->nservers || strcmp(names[k], names[best]) < 0))
                        best = k;
                if (best == b->nservers)
                    break;
                printf(" %s=%u", names[best], counts[best]);
                last = names[best];
            }
            printf("\n");
        }
        free(names);
        free(weights);
        free(counts);
        if (rc < 0) {
            fprintf(stderr, "synfin: out of memory\n");
            return 1;
        }
    }
    if (!any)
        fprintf(stderr, "synfin: no backend balances with maglev\n");
    return any ? 0 : 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: synfin [-c FILE [-t|-T|--maglev-table]] | -v | --version\n"
               "       synfin --listen ADDR --server ADDR [--server ADDR...] "
               "[--balance roundrobin|leastconn|source|maglev]\n"
               "              [--admin ADDR] [--log stderr|stdout|off|PATH|syslog] "
               "[--drain_timeout D] [--threads N|auto] [--cpu_map CPULIST]\n"
               "              [--PROFILE_SETTING VALUE...] [-t]\n"
               "       synfin --transport stack --tun NAME --kernel-addr A.B.C.D/N[,IPV6/N] "
               "--stack-addr ADDR [--stack-addr ...]\n"
               "              [--pcap FILE] [--trace on] [--impair SPEC] [--offload on|off] "
               "[--max_time_wait N] --listen ... (as above)\n"
               "              (ADDR IPv4 or IPv6; an IPv6 listen or server is [ADDR]:PORT)\n"
               "Profile settings (docs/config.md): connect_timeout idle_timeout "
               "client_fin_timeout server_fin_timeout\n"
               "  keepalive keepalive_idle keepalive_interval keepalive_count user_timeout "
               "nodelay defer_accept\n"
               "  reset_on_timeout server_close buffer_size source nagle client_close_first\n"
               "HTTP (docs/config.md): mode keepalive_timeout keepalive_requests "
               "max_header_size forwarded_for\n"
               "  forwarded_proto forwarded via http_reuse pool_max_idle pool_idle_timeout "
               "pool_max_requests\n"
               "Stack only: time_wait fin_wait_2_timeout last_ack_timeout syn_retries "
               "synack_retries retries2\n"
               "  rto_initial rto_min rto_max delayed_ack initial_cwnd receive_window "
               "send_buffer mss window_scale\n"
               "  sack timestamps syncookies max_syn_backlog rfc1337 time_wait_reuse\n");
}

/* ---- ad-hoc mode: flags become a config text, checked by the same parser ---- */

struct text {
    char *p;
    size_t len, cap;
    char **flag;
    size_t lines, flag_cap;
};

static int text_line(struct text *t, const char *flag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int text_line(struct text *t, const char *flag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if (t->len + (size_t)n + 2 > t->cap) {
        size_t cap = (t->cap ? t->cap : 1024) * 2 + (size_t)n;
        char *p = realloc(t->p, cap);
        if (!p)
            return -1;
        t->p = p;
        t->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->p + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
    t->p[t->len++] = '\n';
    t->p[t->len] = 0;
    if (t->lines == t->flag_cap) {
        size_t cap = t->flag_cap ? t->flag_cap * 2 : 32;
        char **f = realloc(t->flag, cap * sizeof *f);
        if (!f)
            return -1;
        t->flag = f;
        t->flag_cap = cap;
    }
    t->flag[t->lines] = flag ? strdup(flag) : NULL;
    if (flag && !t->flag[t->lines])
        return -1;
    t->lines++;
    return 0;
}

static int quoted_ok(const char *v)
{
    return !strpbrk(v, "\"\\\n;{}#");
}

/* Flags that go into `transport stack { }` (the directive's name: --stack-addr is
 * `address`), not into the profile. */
static const char *transport_word(const char *flag)
{
    static const char *const map[][2] = {
        {"tun", "tun"},
        {"kernel_addr", "kernel_addr"},
        {"stack_addr", "address"},
        {"pcap", "pcap"},
        {"trace", "trace"},
        {"impair", "impair"},
        {"offload", "offload"},
        {"max_time_wait", "max_time_wait"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(flag, map[i][0]))
            return map[i][1];
    return NULL;
}

/* Flags that go into the frontend block (http mode and its client side) or the backend
 * block (pooling of server connections) rather than the profile: 'f' or 'b', else 0. */
static int http_flag_block(const char *flag)
{
    static const char *const fe[] = {
        "mode",          "keepalive_timeout", "keepalive_requests", "max_header_size",
        "forwarded_for", "forwarded_proto",   "forwarded",          "via"};
    static const char *const be[] = {"http_reuse", "pool_max_idle", "pool_idle_timeout",
                                     "pool_max_requests"};
    for (size_t i = 0; i < sizeof fe / sizeof fe[0]; i++)
        if (!strcmp(flag, fe[i]))
            return 'f';
    for (size_t i = 0; i < sizeof be / sizeof be[0]; i++)
        if (!strcmp(flag, be[i]))
            return 'b';
    return 0;
}

/* The lines of one block's own flags (hf: argv indices of http flags, `which` the block). */
static int adhoc_block_flags(struct text *t, char **argv, const int *hf, size_t nh, int which)
{
    int ok = 0;
    for (size_t k = 0; k < nh; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s", argv[hf[k]] + 2);
        for (char *p = name; *p; p++)
            if (*p == '-')
                *p = '_';
        if (http_flag_block(name) == which)
            ok |= text_line(t, argv[hf[k]], "    %s %s;", name, argv[hf[k] + 1]);
    }
    return ok;
}

/* `transport stack { ... }` from the transport flags (tf: their argv indices), or
 * `transport kernel;`. Returns -1 on a usage error (message printed), else text_line's. */
static int adhoc_transport(struct text *t, char **argv, const char *kind, const int *tf, size_t nt)
{
    if (!kind || !strcmp(kind, "kernel")) {
        if (nt) {
            fprintf(stderr, "synfin: %s needs --transport stack\n", argv[tf[0]]);
            return -1;
        }
        return kind ? text_line(t, "--transport", "transport kernel;") : 0;
    }
    int ok = text_line(t, "--transport", "transport %s {", kind);
    for (size_t k = 0; k < nt; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s", argv[tf[k]] + 2);
        for (char *p = name; *p; p++)
            if (*p == '-')
                *p = '_';
        ok |= text_line(t, argv[tf[k]], "    %s %s;", transport_word(name), argv[tf[k] + 1]);
    }
    return ok | text_line(t, "--transport", "}");
}

/* Builds the config text; returns 0, -1 on a usage error (message printed). A -t among the
 * flags sets *check, wherever it stands. */
static int adhoc_build(int argc, char **argv, int start, struct text *t, int *check)
{
    const char *listen = NULL, *admin = NULL, *balance = "roundrobin", *log = NULL;
    const char *drain = NULL, *transport = NULL, *threads = NULL, *cpu_map = NULL;
    char **servers = calloc((size_t)argc, sizeof *servers);
    int *prof = calloc((size_t)argc, sizeof *prof); /* argv index of each profile flag */
    int *tf = calloc((size_t)argc, sizeof *tf);     /* ... and of each transport flag */
    int *hf = calloc((size_t)argc, sizeof *hf);     /* ... and of each http flag */
    size_t ns = 0, np = 0, nt = 0, nh = 0;
    int rc = -1;
    if (!servers || !prof || !tf || !hf) {
        fprintf(stderr, "synfin: out of memory\n");
        goto out;
    }
    for (int i = start; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-t")) {
            *check = 1;
            continue;
        }
        if (!strcmp(a, "-c")) {
            fprintf(stderr, "synfin: -c and ad-hoc flags do not mix\n");
            goto out;
        }
        if (strncmp(a, "--", 2) != 0 || i + 1 >= argc) {
            fprintf(stderr, "synfin: %s: expected --NAME VALUE\n", a);
            usage(stderr);
            goto out;
        }
        const char *v = argv[++i];
        if (!quoted_ok(v)) {
            fprintf(stderr, "synfin: %s: value '%s' has a character that is not allowed\n", a, v);
            goto out;
        }
        char name[64];
        snprintf(name, sizeof name, "%s", a + 2);
        for (char *p = name; *p; p++)
            if (*p == '-')
                *p = '_';
        if (!strcmp(name, "listen"))
            listen = v;
        else if (!strcmp(name, "server"))
            servers[ns++] = argv[i];
        else if (!strcmp(name, "balance"))
            balance = v;
        else if (!strcmp(name, "admin"))
            admin = v;
        else if (!strcmp(name, "log"))
            log = v;
        else if (!strcmp(name, "drain_timeout"))
            drain = v;
        else if (!strcmp(name, "transport"))
            transport = v;
        else if (!strcmp(name, "threads"))
            threads = v;
        else if (!strcmp(name, "cpu_map"))
            cpu_map = v;
        else if (transport_word(name))
            tf[nt++] = i - 1;
        else if (http_flag_block(name))
            hf[nh++] = i - 1;
        else
            prof[np++] = i - 1;
    }
    if (!listen || ns == 0) {
        fprintf(stderr, "synfin: ad-hoc mode needs --listen and at least one --server\n");
        usage(stderr);
        goto out;
    }
    int ok = 0;
    ok |= text_line(t, NULL, "# synfin ad-hoc configuration from the command line");
    int tr = adhoc_transport(t, argv, transport, tf, nt);
    if (tr < 0)
        goto out;
    ok |= tr;
    if (log)
        ok |= text_line(t, "--log", "log %s;", log);
    if (drain)
        ok |= text_line(t, "--drain_timeout", "drain_timeout %s;", drain);
    if (threads)
        ok |= text_line(t, "--threads", "threads %s;", threads);
    if (cpu_map) /* one CPU of the list each, in turn */
        ok |= text_line(t, "--cpu_map", "cpu_map auto %s;", cpu_map);
    ok |= text_line(t, NULL, "profile adhoc {");
    for (size_t k = 0; k < np; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s", argv[prof[k]] + 2);
        for (char *p = name; *p; p++)
            if (*p == '-')
                *p = '_';
        /* The value goes as given: `source` takes several, space-separated. */
        ok |= text_line(t, argv[prof[k]], "    %s %s;", name, argv[prof[k] + 1]);
    }
    ok |= text_line(t, NULL, "}");
    ok |= text_line(t, "--listen", "frontend adhoc { listen %s; profile adhoc; backend adhoc;",
                    listen);
    ok |= adhoc_block_flags(t, argv, hf, nh, 'f');
    ok |= text_line(t, NULL, "}");
    /* After the frontend: an address given to both is then blamed on --admin. */
    if (admin)
        ok |= text_line(t, "--admin", "admin %s;", admin);
    ok |= text_line(t, "--balance", "backend adhoc { balance %s; profile adhoc;", balance);
    for (size_t k = 0; k < ns; k++)
        ok |= text_line(t, "--server", "    server s%zu %s;", k + 1, servers[k]);
    ok |= adhoc_block_flags(t, argv, hf, nh, 'b');
    ok |= text_line(t, NULL, "}");
    if (ok) {
        fprintf(stderr, "synfin: out of memory\n");
        goto out;
    }
    rc = 0;
out:
    free(servers);
    free(prof);
    free(tf);
    free(hf);
    return rc;
}

static void text_free(struct text *t)
{
    for (size_t i = 0; i < t->lines; i++)
        free(t->flag[i]);
    free(t->flag);
    free(t->p);
    memset(t, 0, sizeof *t);
}

/* ---- loading ---- */

/* The flag a line of the ad-hoc text came from, or NULL. */
static const char *adhoc_flag(const struct app *app, int line)
{
    return line > 0 && (size_t)line <= app->adhoc_lines ? app->adhoc_flag[line - 1] : NULL;
}

/* Loads the configuration this process runs from; on error prints it (file:line:col). */
static struct lb_config *load(struct app *app, char *err, size_t errlen)
{
    if (app->path)
        return lb_config_load(app->path, err, errlen);
    struct lb_config_error e;
    struct lb_config *c;
    if (app->adhoc) {
        c = lb_config_parse(app->adhoc, strlen(app->adhoc), &e);
        if (!c) {
            /* Lines of the generated text mean nothing to the user: name flags instead. */
            const char *flag = adhoc_flag(app, e.line), *ref = adhoc_flag(app, e.ref_line);
            snprintf(err, errlen, "command line%s%s: %s%s%s", flag ? ", " : "", flag ? flag : "",
                     e.msg, ref ? " by " : "", ref ? ref : "");
        }
        return c;
    }
    c = lb_config_parse(lb_default_conf, strlen(lb_default_conf), &e);
    if (!c)
        lb_config_error_format(&e, "<embedded conf/synfin.conf>", err, errlen);
    return c;
}

/* Each warning as "where: warning: message", where being the file position or, in ad-hoc
 * mode, the flag. */
static void each_warning(const struct app *app, const struct lb_config *c,
                         void (*fn)(void *arg, const char *text), void *arg)
{
    for (size_t i = 0; i < c->nwarnings; i++) {
        const struct lb_config_warning *w = &c->warnings[i];
        char buf[512];
        if (app->adhoc) {
            const char *flag = adhoc_flag(app, w->line);
            snprintf(buf, sizeof buf, "command line%s%s: warning: %s", flag ? ", " : "",
                     flag ? flag : "", w->msg);
        } else {
            lb_config_warning_format(w, app->path ? app->path : "<embedded conf/synfin.conf>", buf,
                                     sizeof buf);
        }
        fn(arg, buf);
    }
}

static void warning_to_stderr(void *arg, const char *text)
{
    (void)arg;
    fprintf(stderr, "synfin: %s\n", text);
}

static void warning_to_log(void *arg, const char *text)
{
    lb_logf(arg, "event=reload_warning warning=\"%s\"", text);
}

static void print_listening(struct app *app)
{
    struct lb *lb = app->lb;
    char a[LB_ADDR_STRLEN];
    for (size_t i = 0; i < lb->nfe; i++) {
        const struct lb_frontend *f = lb->fe[i];
        const struct lb_backend *b = f->backend;
        printf("synfin: frontend %s listening on %s", f->conf.name,
               lb_addr_format(&f->conf.listen[0], a, sizeof a));
        for (uint32_t k = 1; k < f->conf.nlisten; k++)
            printf(" %s", lb_addr_format(&f->conf.listen[k], a, sizeof a));
        printf(" -> backend %s (%s):", b->conf.name, lb_balance_name(b->conf.balance));
        for (size_t j = 0; j < b->nservers; j++)
            printf(" %s=%s%s", b->servers[j]->name,
                   lb_addr_format(&b->servers[j]->addr, a, sizeof a),
                   b->servers[j]->backup ? "(backup)" : "");
        printf("\n");
    }
    for (size_t i = 0; i < lb->nrs; i++)
        printf("synfin: respond on %s (built-in HTTP responder)\n",
               lb_addr_format(&lb->rs[i]->conf.listen, a, sizeof a));
    if (app->ctl.admin)
        printf("synfin: admin on http://%s/ (dashboard; /metrics /stats /sessions)\n",
               lb_addr_format(ctl_admin_addr(app->ctl.admin), a, sizeof a));
    if (app->tconf.kind == LB_TRANSPORT_STACK) {
        const struct lb_transport_conf *t = &app->tconf;
        printf("synfin: synfin's own TCP on %s (kernel side %s), addresses", t->tun,
               t->kernel_addr[0] ? t->kernel_addr : "as configured");
        for (uint32_t i = 0; i < t->naddrs; i++)
            printf(" %s", lb_addr_host(&t->addrs[i], a, sizeof a));
        printf("%s%s\n", t->pcap[0] ? ", capturing to " : "", t->pcap);
    }
    if (app->threads > 1 && app->tconf.kind == LB_TRANSPORT_STACK)
        printf("synfin: %u threads, each with its own loop and engine on a queue of %s "
               "(steered by ports)\n",
               app->threads, app->tconf.tun);
    else if (app->threads > 1)
        printf("synfin: %u threads, each with its own loop and listening sockets (SO_REUSEPORT)\n",
               app->threads);
    printf("synfin: transport %s, pid %d; SIGHUP reloads, SIGTERM drains, SIGINT stops\n",
           app->tp->ops->name, (int)getpid());
    fflush(stdout);
}

static void admin_access(struct ctl_admin *a, const struct lb_config *c)
{
    struct ctl_admin_access acc;
    memset(&acc, 0, sizeof acc);
    memcpy(acc.token, c->admin_token, sizeof acc.token);
    memcpy(acc.allow, c->admin_allow, sizeof acc.allow);
    acc.nallow = c->nadmin_allow;
    ctl_admin_set_access(a, &acc);
}

static int open_admin(struct app *app, const struct lb_config *c, struct ctl_admin **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    if (!c->has_admin)
        return 0;
    *out = ctl_admin_new(app->loop, &c->admin, ctl_handle, &app->ctl, err, errlen);
    if (*out)
        admin_access(*out, c);
    return *out ? 0 : -1;
}

static void reload(struct app *app)
{
    char err[512];
    struct lb *lb = app->lb;
    struct lb_config *c = load(app, err, sizeof err);
    if (!c) {
        lb->reload_failures++;
        lb_logf(lb, "event=reload_rejected error=\"%s\"", err);
        return;
    }
    if (memcmp(&app->aconf, &c->announce, sizeof app->aconf) != 0 &&
        (app->aconf.enabled || c->announce.enabled)) {
        lb->reload_failures++;
        lb_logf(lb, "event=reload_rejected error=\"announce changed: restart synfin to apply "
                    "it\"");
        lb_config_free(c);
        return;
    }
    if (c->threads != app->threads) {
        lb->reload_failures++;
        lb_logf(lb,
                "event=reload_rejected error=\"threads changed (%u to %u): restart synfin to "
                "apply it\"",
                app->threads, c->threads);
        lb_config_free(c);
        return;
    }
    if (!lb_transport_same(&app->tconf, &c->transport)) {
        lb->reload_failures++;
        lb_logf(lb, "event=reload_rejected error=\"the transport changed: restart synfin to "
                    "apply it (its device and addresses stay as they are while it runs)\"");
        lb_config_free(c);
        return;
    }
    struct ctl_admin *na = NULL;
    int admin_changed = c->has_admin != (app->ctl.admin != NULL) ||
                        (c->has_admin && !lb_addr_equal(&c->admin, ctl_admin_addr(app->ctl.admin)));
    if (admin_changed && c->has_admin && open_admin(app, c, &na, err, sizeof err) < 0) {
        lb->reload_failures++;
        lb_logf(lb, "event=reload_rejected error=\"%s\"", err);
        lb_config_free(c);
        return;
    }
    if (lb_apply(lb, c, err, sizeof err) < 0) {
        ctl_admin_free(na);
        lb->reload_failures++;
        lb_logf(lb, "event=reload_rejected error=\"%s\"", err);
        lb_config_free(c);
        return;
    }
    /* Every other thread applies the same one; one that cannot logs why, with its number
     * (thread 0's check and apply passed, so only its own listening sockets can fail). */
    int wfail = workers_reload(app->workers, c);
    if (admin_changed) {
        app->old_admin = app->ctl.admin;
        app->ctl.admin = na;
    }
    if (app->ctl.admin)
        admin_access(app->ctl.admin, c); /* a new token or allow list applies at once */
    int pf = pin_threads(c, app->workers, &app->cpus, &app->pinned);
    if (pf)
        lb_logf(lb, "event=cpu_map_failed thread=%d error=\"%s\"", pf - 1, strerror(errno));
    each_warning(app, c, warning_to_log, lb);
    lb->reloads++;
    lb_logf(lb, "event=reload_ok frontends=%zu backends=%zu sessions=%u threads=%u%s", lb->nfe,
            lb->nbe, lb->nsessions, app->threads, wfail ? " threads_failed=yes" : "");
    lb_config_free(c);
}

/* After a drain, connections the balancer closed may still be finishing their FIN exchange
 * in synfin's own TCP, which goes when the process does: wait for them a little (bounded),
 * so the peers see a complete close. The kernel finishes its own. */
#define SETTLE_NS      (2 * SF_NSEC_PER_SEC)
#define SETTLE_POLL_NS (10 * SF_NSEC_PER_MS)

static void on_settle(struct sf_loop_timer *t)
{
    struct app *app = CONTAINER(t, struct app, settle);
    uint64_t now = sf_loop_now(app->loop);
    if (lb_transport_finishing(app->tp) == 0 || now >= app->settle_until) {
        sf_loop_stop(app->loop);
        return;
    }
    sf_loop_timer_set(app->loop, t, now + SETTLE_POLL_NS);
}

static struct app *the_app; /* on_idle's way back to the app (one per process) */

static void on_idle(struct lb *lb)
{
    struct app *app = the_app;
    if (!app || lb_transport_finishing(app->tp) == 0) {
        sf_loop_stop(lb->loop);
        return;
    }
    app->settle.fn = on_settle;
    app->settle_until = sf_loop_now(app->loop) + SETTLE_NS;
    sf_loop_timer_set(app->loop, &app->settle, sf_loop_now(app->loop) + SETTLE_POLL_NS);
}

/* The router has had withdraw_delay to move new flows to other nodes: drain now. */
static void on_withdrawn(struct sf_loop_timer *t)
{
    struct app *app = CONTAINER(t, struct app, withdraw_wait);
    lb_drain(app->lb);
    workers_drain(app->workers);
}

/* SIGTERM. Behind a router, new flows keep coming until the router has heard the
 * withdrawal; the listeners stay open that long, then the drain begins. */
static void begin_drain(struct app *app)
{
    if (!app->ann || app->aconf.withdraw_delay_ms == 0) {
        lb_announce_withdraw(app->ann);
        lb_drain(app->lb);
        workers_drain(app->workers);
        return;
    }
    lb_announce_withdraw(app->ann);
    lb_logf(app->lb, "event=withdraw_wait delay_ms=%llu sessions=%u",
            (unsigned long long)app->aconf.withdraw_delay_ms, app->lb->nsessions);
    app->withdraw_wait.fn = on_withdrawn;
    sf_loop_timer_set(app->loop, &app->withdraw_wait,
                      sf_loop_now(app->loop) + app->aconf.withdraw_delay_ms * SF_NSEC_PER_MS);
}

static void on_signal(struct sf_io *io, uint32_t ev)
{
    struct app *app = CONTAINER(io, struct app, sig);
    (void)ev;
    struct signalfd_siginfo si;
    while (read(io->fd, &si, sizeof si) == (ssize_t)sizeof si) {
        switch (si.ssi_signo) {
        case SIGHUP:
            notify_reloading();
            reload(app);
            notify_ready("running");
            break;
        case SIGTERM:
            if (!app->lb->draining && !sf_loop_timer_armed(&app->withdraw_wait)) {
                notify_stopping("draining");
                begin_drain(app);
                break;
            }
            /* a second SIGTERM stops now, as SIGINT does (and says so in the log) */
            /* fall through */
        case SIGINT:
            sf_loop_timer_cancel(app->loop, &app->withdraw_wait);
            notify_stopping("stopping");
            lb_logf(app->lb, "event=stop sessions=%u", app->lb->nsessions);
            lb_stop(app->lb);
            workers_stop(app->workers);
            sf_loop_stop(app->loop);
            break;
        default: break;
        }
    }
}

static void after_batch(struct sf_hook *h)
{
    struct app *app = CONTAINER(h, struct app, hook);
    if (app->old_admin) {
        ctl_admin_free(app->old_admin);
        app->old_admin = NULL;
    }
}

/* Descriptors synfin holds outside the transport, whose budget is the rest: signalfd, the
 * admin listener and its connections, the log file (two while a reload reopens it), a
 * config file being read, the census's and the address check's netlink sockets, and a few
 * for the C library. */
#define FDS_OUTSIDE (1 + CTL_ADMIN_FDS + 2 + 1 + 2 + 8)

static uint64_t fd_limit(void)
{
    struct rlimit rl;
    return getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (uint64_t)rl.rlim_cur : 0;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Two descriptors per session: say when the configured maxconn cannot fit in what the
 * transport has, and what happens then. */
static void check_fd_limit(const struct lb_config *c, const struct lb_transport *tp)
{
    uint64_t want = 0, listeners = c->nresponds;
    for (size_t i = 0; i < c->nfrontends; i++)
        listeners += c->frontends[i].nlisten;
    for (size_t i = 0; i < c->nfrontends; i++)
        want += c->frontends[i].maxconn;
    if (tp->conn_limit == UINT64_MAX || 2 * want + listeners <= tp->conn_limit)
        return;
    uint64_t fit = tp->conn_limit > listeners ? (tp->conn_limit - listeners) / 2 : 0;
    fprintf(stderr,
            "synfin: warning: frontend maxconn adds up to %llu sessions, but about %llu fit in "
            "the descriptor limit (RLIMIT_NOFILE %llu less %llu held elsewhere, two per "
            "session); beyond that accepting pauses and clients wait in the kernel backlog\n",
            (unsigned long long)want, (unsigned long long)fit, (unsigned long long)fd_limit(),
            (unsigned long long)(fd_limit() - tp->conn_limit));
}

static int run(struct app *app, struct lb_config *c)
{
    /* The CPUs the process may use, before cpu_map pins thread 0 (which reads reloads). */
    if (sched_getaffinity(0, sizeof app->cpus, &app->cpus) < 0)
        CPU_ZERO(&app->cpus);
    lb_config_set_cpus(&app->cpus);
    char err[512];
    int rc = 1;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    app->tconf = c->transport;
    raise_fd_limit();
    app->loop = sf_loop_new();
    if (!app->loop) {
        fprintf(stderr, "synfin: cannot start: %s\n", strerror(errno));
        goto out;
    }
    if (c->transport.kind == LB_TRANSPORT_STACK) {
        /* With threads, queue 0 of a multi-queue device: it opens every queue; each worker
         * takes its own in workers_start. */
        app->tp = lb_transport_stack_new_queue(app->loop, &c->transport, 0, c->threads, NULL, err,
                                               sizeof err);
        if (!app->tp) {
            fprintf(stderr, "synfin: transport stack: %s\n", err);
            goto out;
        }
    } else {
        app->tp = lb_transport_kernel_new(app->loop, FDS_OUTSIDE);
    }
    app->threads = c->threads;
    if (app->threads > 1) {
        app->shared = lb_shared_new(app->threads);
        if (!app->shared) {
            fprintf(stderr, "synfin: cannot start: out of memory\n");
            goto out;
        }
    }
    app->lb = app->tp ? lb_new(app->loop, app->tp) : NULL;
    if (app->lb && app->shared && lb_set_thread(app->lb, app->shared, 0) < 0) {
        fprintf(stderr, "synfin: cannot start: %s\n", strerror(errno));
        goto out;
    }
    app->sig.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    app->sig.fn = on_signal;
    if (!app->lb || app->sig.fd < 0 || sf_loop_add(app->loop, &app->sig, EPOLLIN) < 0) {
        fprintf(stderr, "synfin: cannot start: %s\n", strerror(errno));
        goto out;
    }
    if (c->transport.kind != LB_TRANSPORT_STACK)
        check_fd_limit(c, app->tp); /* the process's descriptors against maxconn in total */
    if (app->threads > 1 && app->tp->conn_limit != UINT64_MAX)
        app->tp->conn_limit /= app->threads; /* one descriptor table for every thread */
    if (app->shared && c->transport.kind != LB_TRANSPORT_STACK)
        lb_transport_kernel_share_loops(app->tp, app->shared->loops); /* whoever accepts */
    ctl_init(&app->ctl, app->lb);
    the_app = app;
    app->lb->on_idle = on_idle;
    app->hook.fn = after_batch;
    sf_loop_add_hook(app->loop, &app->hook);
    if (lb_apply(app->lb, c, err, sizeof err) < 0 ||
        open_admin(app, c, &app->ctl.admin, err, sizeof err) < 0) {
        fprintf(stderr, "synfin: %s\n", err);
        goto out;
    }
    if (app->threads > 1 && !(app->workers = workers_start(app->shared, app->threads, c, app->tp,
                                                           FDS_OUTSIDE, err, sizeof err))) {
        fprintf(stderr, "synfin: %s\n", err);
        goto out;
    }
    int pf = pin_threads(c, app->workers, &app->cpus, &app->pinned);
    if (pf) {
        fprintf(stderr, "synfin: cpu_map: thread %d: %s\n", pf - 1, strerror(errno));
        goto out;
    }
    app->aconf = c->announce;
    if (c->announce.enabled &&
        !(app->ann = lb_announce_new(app->lb, &c->announce, err, sizeof err))) {
        fprintf(stderr, "synfin: %s\n", err);
        goto out;
    }
    lb_config_free(c);
    c = NULL;
    print_listening(app);
    lb_logf(app->lb, "event=start pid=%d", (int)getpid());
    /* Every listener is bound and listening: a client connecting now is accepted. */
    notify_ready("running");
    if (sf_loop_run(app->loop) < 0)
        fprintf(stderr, "synfin: event loop: %s\n", strerror(errno));
    lb_logf(app->lb, "event=exit sessions_total=%llu", (unsigned long long)app->lb->sessions_total);
    rc = 0;
out:
    lb_config_free(c);
    /* The admin side first: its listings hold cursors into the sessions. */
    ctl_admin_free(app->old_admin);
    ctl_admin_free(app->ctl.admin);
    ctl_fini(&app->ctl);
    lb_announce_free(app->ann); /* before the frontends go: it reads them */
    /* A drain ends on each thread by itself (its drain_timeout bounds it); anything else
     * stops them now. */
    if (app->workers && (!app->lb || !app->lb->draining))
        workers_stop(app->workers);
    workers_free(app->workers);
    if (app->loop)
        sf_loop_timer_cancel(app->loop, &app->withdraw_wait);
    if (app->lb)
        lb_free(app->lb);
    if (app->sig.fd >= 0)
        close(app->sig.fd);
    if (app->loop)
        sf_loop_timer_cancel(app->loop, &app->settle);
    lb_transport_free(app->tp);
    sf_loop_free(app->loop);
    lb_shared_free(app->shared); /* after every thread's objects let go of theirs */
    return rc;
}

int main(int argc, char **argv)
{
    struct app app;
    memset(&app, 0, sizeof app);
    app.sig.fd = -1;
    int check = 0;
    int i = 1;
    /* Session log lines go out once per loop iteration, not once per write. */
    static char errbuf[1 << 16];
    setvbuf(stderr, errbuf, _IOFBF, sizeof errbuf);
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "-c")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "synfin: -c needs a configuration file: -c FILE\n");
                usage(stderr);
                fflush(stderr);
                return 2;
            }
            app.path = argv[++i];
        } else if (!strcmp(argv[i], "-t")) {
            check = 1;
        } else if (!strcmp(argv[i], "-T")) {
            check = 2;
        } else if (!strcmp(argv[i], "--maglev-table")) {
            check = 3;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (sf_version_arg(argv[i])) {
            sf_version_print(stdout, "synfin");
            printf("stats schema %d; transports kernel, stack\n", CTL_STATS_VERSION);
            return fflush(stdout) ? 1 : 0;
        } else if (!strncmp(argv[i], "--", 2)) {
            break;
        } else {
            fprintf(stderr, "synfin: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            fflush(stderr);
            return 2;
        }
    }
    struct text t;
    memset(&t, 0, sizeof t);
    if (i < argc) {
        if (app.path) {
            fprintf(stderr, "synfin: -c and ad-hoc flags do not mix\n");
            fflush(stderr);
            return 2;
        }
        if (adhoc_build(argc, argv, i, &t, &check) < 0) {
            text_free(&t);
            fflush(stderr);
            return 2;
        }
        app.adhoc = t.p;
        app.adhoc_flag = t.flag;
        app.adhoc_lines = t.lines;
    }
    char err[512];
    struct lb_config *c = load(&app, err, sizeof err);
    int rc;
    if (!c) {
        fprintf(stderr, "synfin: %s\n", err);
        rc = 2;
    } else if (check == 3) {
        rc = print_maglev(c);
        lb_config_free(c);
    } else if (check) {
        each_warning(&app, c, warning_to_stderr, NULL);
        printf("%ssynfin: %s: configuration is valid\n", check == 2 ? "# " : "",
               app.path    ? app.path
               : app.adhoc ? "command line"
                           : "embedded conf/synfin.conf");
        rc = check == 2 && lb_config_print(c, stdout) < 0 ? 1 : 0;
        lb_config_free(c);
    } else {
        each_warning(&app, c, warning_to_stderr, NULL);
        fflush(stderr); /* stderr is block-buffered for the log: a warning goes out now */
        rc = run(&app, c);
    }
    text_free(&t);
    fflush(stdout);
    fflush(stderr);
    return rc;
}
