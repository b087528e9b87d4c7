#include "args.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "advise.h"
#include "diag/netns.h"
#include "errmsg.h"

int st_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    if (!s || !*s)
        return -1;
    unsigned long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (v > (max - d) / 10)
            return -1; /* past max, and never wraps */
        v = v * 10 + d;
    }
    if (v < min)
        return -1;
    *out = v;
    return 0;
}

int st_parse_seconds(const char *s, double min, double max, double *out)
{
    if (!s || !*s)
        return -1;
    double v = 0, scale = 1;
    int digits = 0, dot = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '.' && !dot) {
            dot = 1;
            continue;
        }
        if (*p < '0' || *p > '9')
            return -1;
        if (++digits > 12)
            return -1;
        if (dot) {
            scale /= 10;
            v += (*p - '0') * scale;
        } else {
            v = v * 10 + (*p - '0');
        }
    }
    if (!digits || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_port(const char *s, int32_t *port)
{
    unsigned long v;
    if (st_parse_uint(s, 1, 65535, &v))
        return -1;
    *port = (int32_t)v;
    return 0;
}

/* Splits "ADDR/PREFIX" (in place) and parses the address into c. */
static int parse_addr(char *a, struct sf_sockdiag_cond *c)
{
    char *slash = strchr(a, '/');
    if (slash)
        *slash = '\0';
    unsigned maxbits;
    if (inet_pton(AF_INET, a, c->addr) == 1) {
        c->family = AF_INET;
        maxbits = 32;
    } else if (inet_pton(AF_INET6, a, c->addr) == 1) {
        c->family = AF_INET6;
        maxbits = 128;
    } else {
        return -1;
    }
    unsigned long bits = maxbits;
    if (slash && st_parse_uint(slash + 1, 0, maxbits, &bits))
        return -2;
    c->prefix_len = (uint8_t)bits;
    if (bits == 0)
        c->family = AF_UNSPEC; /* /0 matches any address of any family */
    return 0;
}

int st_parse_endpoint(const char *s, struct sf_sockdiag_cond *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->active = 1;
    c->port = -1;
    char buf[128];
    if (!s || !*s)
        return st_errf(err, errlen, "empty address");
    if (strlen(s) >= sizeof buf)
        return st_errf(err, errlen, "'%s' is too long for an address", s);
    strcpy(buf, s);

    char *addr = buf, *port = NULL;
    if (buf[0] == '[') {
        char *close = strchr(buf, ']');
        if (!close)
            return st_errf(err, errlen, "'%s': missing ']' after the IPv6 address", s);
        *close = '\0';
        addr = buf + 1;
        if (close[1] == ':')
            port = close + 2;
        else if (close[1])
            return st_errf(err, errlen, "'%s': expected ':PORT' after ']'", s);
        if (!strchr(addr, ':'))
            return st_errf(err, errlen, "'%s': brackets are for IPv6 addresses", s);
    } else {
        char *colon = strchr(buf, ':');
        if (colon && colon == strrchr(buf, ':')) { /* one colon: ADDR:PORT or :PORT */
            *colon = '\0';
            port = colon + 1;
        }
        /* two or more colons: a bare IPv6 address, no port */
    }
    if (port && parse_port(port, &c->port))
        return st_errf(err, errlen, "'%s': '%s' is not a port number (1-65535)", s, port);
    if (!*addr || !strcmp(addr, "*")) {
        if (!port)
            return st_errf(err, errlen, "'%s' names neither an address nor a port", s);
        c->family = AF_UNSPEC;
        return 0;
    }
    int rc = parse_addr(addr, c);
    if (rc == -2)
        return st_errf(err, errlen, "'%s': bad prefix length", s);
    if (rc)
        return st_errf(err, errlen, "'%s': '%s' is not an IPv4 or IPv6 address", s, addr);
    return 0;
}

enum opt_id {
    O_PORT,
    O_LOCAL,
    O_REMOTE,
    O_NETNS,
    O_BY_PEER,
    O_TOP,
    O_WATCH,
    O_COUNT,
    O_JSON,
    O_FROM,
    O_ADVISE,
    O_IGNORE,
    O_HTML,
    O_HELP,
    O_VERSION,
    O_N
};

static const struct {
    const char *name;
    char shortname;
    int has_arg;
} options[O_N] = {
    [O_PORT] = {"port", 'p', 1},       [O_LOCAL] = {"local", 'l', 1},
    [O_REMOTE] = {"remote", 'r', 1},   [O_NETNS] = {"netns", 'n', 1},
    [O_BY_PEER] = {"by-peer", 'b', 0}, [O_TOP] = {"top", 't', 1},
    [O_WATCH] = {"watch", 'w', 1},     [O_COUNT] = {"count", 'c', 1},
    [O_JSON] = {"json", 'j', 0},       [O_FROM] = {"from", 'f', 1},
    [O_ADVISE] = {"advise", 'a', 0},   [O_IGNORE] = {"ignore", 'i', 1},
    [O_HTML] = {"html", 'H', 1},       [O_HELP] = {"help", 'h', 0},
    [O_VERSION] = {"version", 'V', 0},
};

/* Finds the option argv[*i] names; sets *val to its value (from "=VALUE" or the next word). */
static int lookup(int argc, char **argv, int *i, const char **val, char *err, size_t errlen)
{
    const char *a = argv[*i];
    int id = -1;
    const char *eq = NULL;
    if (a[0] == '-' && a[1] == '-' && a[2]) {
        eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        for (int k = 0; k < O_N; k++)
            if (strlen(options[k].name) == len && !memcmp(options[k].name, a + 2, len))
                id = k;
    } else if (a[0] == '-' && a[1] && !a[2]) {
        for (int k = 0; k < O_N; k++)
            if (options[k].shortname == a[1])
                id = k;
        if (a[1] == 'v') /* every synfin binary's version flag; -V stays */
            id = O_VERSION;
    } else {
        return st_errf(err, errlen, "unexpected argument '%s'", a);
    }
    if (id < 0)
        return st_errf(err, errlen, "unknown option '%s'", a);
    *val = NULL;
    if (options[id].has_arg) {
        if (eq) {
            *val = eq + 1;
        } else if (*i + 1 < argc) {
            *val = argv[++*i];
        } else {
            return st_errf(err, errlen, "--%s needs a value", options[id].name);
        }
    } else if (eq) {
        return st_errf(err, errlen, "--%s takes no value", options[id].name);
    }
    return id;
}

static int check_combinations(const struct st_opts *o, const int *seen, char *err, size_t errlen)
{
    static const int not_with_from[] = {O_PORT,    O_LOCAL,  O_REMOTE, O_NETNS,
                                        O_BY_PEER, O_ADVISE, O_HTML};
    if (seen[O_FROM])
        for (size_t k = 0; k < sizeof not_with_from / sizeof *not_with_from; k++)
            if (seen[not_with_from[k]])
                return st_errf(err, errlen,
                               "--%s cannot be used with --from (the admin listener reports "
                               "the whole histogram only)",
                               options[not_with_from[k]].name);
    if (o->advise && (seen[O_WATCH] || seen[O_BY_PEER]))
        return st_errf(err, errlen, "--advise cannot be used with --%s",
                       seen[O_WATCH] ? "watch" : "by-peer");
    if (seen[O_HTML] && (seen[O_WATCH] || seen[O_JSON] || seen[O_ADVISE]))
        return st_errf(err, errlen,
                       "--html cannot be used with --%s (the report has the peers "
                       "and the advice already)",
                       seen[O_WATCH]  ? "watch"
                       : seen[O_JSON] ? "json"
                                      : "advise");
    if (seen[O_COUNT] && !seen[O_WATCH])
        return st_errf(err, errlen, "--count needs --watch");
    if (seen[O_IGNORE] && !o->advise)
        return st_errf(err, errlen, "--ignore needs --advise");
    if (seen[O_TOP] && !seen[O_BY_PEER] && !seen[O_HTML])
        return st_errf(err, errlen, "--top needs --by-peer or --html");
    return 0;
}

int st_parse_args(int argc, char **argv, struct st_opts *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->top = ST_TOP_DEFAULT;
    int seen[O_N] = {0};
    for (int i = 1; i < argc; i++) {
        const char *v;
        int id = lookup(argc, argv, &i, &v, err, errlen);
        if (id < 0)
            return -1;
        if (seen[id]++)
            return st_errf(err, errlen, "--%s given twice", options[id].name);
        unsigned long n;
        char path[4096];
        switch (id) {
        case O_PORT:
            if (st_parse_uint(v, 1, 65535, &n))
                return st_errf(err, errlen, "--port: '%s' is not a port number (1-65535)", v);
            o->port = (unsigned)n;
            break;
        case O_LOCAL:
        case O_REMOTE: {
            char why[200];
            struct sf_sockdiag_cond *c = id == O_LOCAL ? &o->local : &o->remote;
            if (st_parse_endpoint(v, c, why, sizeof why))
                return st_errf(err, errlen, "--%s: %s", options[id].name, why);
            *(id == O_LOCAL ? &o->local_arg : &o->remote_arg) = v;
            break;
        }
        case O_NETNS:
            if (sf_netns_path(v, path, sizeof path))
                return st_errf(err, errlen,
                               "--netns: '%s' is not a namespace name (as 'ip netns list' shows "
                               "them) nor an absolute path",
                               v);
            o->netns = v;
            break;
        case O_BY_PEER: o->by_peer = 1; break;
        case O_TOP:
            if (st_parse_uint(v, 1, 1000, &n))
                return st_errf(err, errlen, "--top: '%s' is not a number from 1 to 1000", v);
            o->top = (unsigned)n;
            break;
        case O_WATCH:
            if (st_parse_seconds(v, 0.1, 86400, &o->watch))
                return st_errf(err, errlen,
                               "--watch: '%s' is not a number of seconds (0.1 to 86400)", v);
            break;
        case O_COUNT:
            if (st_parse_uint(v, 1, 1000000000, &n))
                return st_errf(err, errlen, "--count: '%s' is not a positive number", v);
            o->count = n;
            break;
        case O_JSON: o->json = 1; break;
        case O_FROM:
            if (!*v)
                return st_errf(err, errlen, "--from needs a URL (http://HOST:PORT/stats)");
            o->from = v;
            break;
        case O_ADVISE: o->advise = 1; break;
        case O_IGNORE:
            if (st_check_finding_ids(v, err, errlen))
                return -1;
            o->ignore = v;
            break;
        case O_HTML:
            if (!*v)
                return st_errf(err, errlen, "--html needs a file name");
            o->html = v;
            break;
        case O_HELP: o->help = 1; break;
        case O_VERSION: o->version = 1; break;
        }
    }
    if (o->help || o->version)
        return 0;
    return check_combinations(o, seen, err, errlen);
}

void st_usage(FILE *f)
{
    fputs("usage: synfin-stat [OPTIONS]\n"
          "\n"
          "Counts TCP sockets per state (all eleven, in lifecycle order) through sock_diag\n"
          "netlink, IPv4 and IPv6, and shows who holds TIME_WAIT and CLOSE_WAIT.\n"
          "\n"
          "Filters (all given must hold):\n"
          "  -p, --port N            local or remote port is N\n"
          "  -l, --local ENDPOINT    local end: ADDR, ADDR/PREFIX, ADDR:PORT, [IPV6]:PORT, :PORT\n"
          "  -r, --remote ENDPOINT   remote end, same forms\n"
          "  -n, --netns NAME        inside network namespace NAME (/run/netns/NAME) or a path\n"
          "                          such as /proc/PID/ns/net\n"
          "Views:\n"
          "  -b, --by-peer           TIME_WAIT and CLOSE_WAIT by remote endpoint and local port\n"
          "  -t, --top N             rows per group with --by-peer (default 10)\n"
          "  -w, --watch SECONDS     refresh every SECONDS with per-state rates until interrupted\n"
          "  -c, --count N           with --watch: stop after N refreshes\n"
          "  -j, --json              JSON instead of text\n"
          "  -f, --from URL          read synfin's own histogram from its admin listener:\n"
          "                          http://HOST:PORT/stats, or HOST:PORT\n"
          "  -a, --advise            check TCP sysctls against the live counts; never changes\n"
          "                          anything\n"
          "  -i, --ignore ID,...     with --advise: findings not to count for the exit status\n"
          "  -H, --html FILE         write one self-contained HTML report (states, --by-peer\n"
          "                          tables, advice) to FILE, for attaching to a ticket\n"
          "  -h, --help              this text\n"
          "  -v, -V, --version       release and git revision\n"
          "\n"
          "Exit status: 0 fine; 1 --advise found something that needs attention; 2 error.\n",
          f);
}
