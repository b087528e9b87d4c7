/* Shell lines, read for the TCP settings they make (shell.h). Nothing is ever run: the engine
 * lives in a simulation, and a test runner must not change its host's sysctls. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shell.h"

#define MAX_WORDS 32
#define MAX_DEPTH 4

/* How a sysctl of Linux or FreeBSD reaches the engine:
 * SET:    the engine setting `setting` (and `setting2`) takes value * mul / div;
 * MATCH:  the engine has no switch, its fixed behaviour is the value in `match` (a
 *         comma-separated list); another value makes the script unsupported;
 * APPROX: the engine has no such mechanism (CUBIC, RACK, F-RTO, pacing, ...): accepted, and
 *         what depends on it shows up as a packet that differs, not as a skipped script. */
enum sysctl_kind { SET, MATCH, APPROX };

struct sysctl {
    const char *name; /* without net.ipv4. / net.inet.tcp. / net.core. */
    enum sysctl_kind kind;
    const char *setting, *setting2;
    unsigned field;    /* for "a b c" values: which one (1-based), 0: the whole value */
    uint32_t mul, div; /* SET: unit conversion */
    const char *match; /* MATCH: the values the engine's behaviour equals */
};

static const struct sysctl linux_sysctls[] = {
    {"tcp_timestamps", SET, "timestamps", NULL, 0, 1, 1, NULL},
    {"tcp_sack", SET, "sack", NULL, 0, 1, 1, NULL},
    {"tcp_window_scaling", SET, "window_scaling", NULL, 0, 1, 1, NULL},
    {"tcp_syn_retries", SET, "syn_retries", NULL, 0, 1, 1, NULL},
    {"tcp_synack_retries", SET, "synack_retries", NULL, 0, 1, 1, NULL},
    {"tcp_syncookies", SET, "syncookies", NULL, 0, 1, 1, NULL},
    {"tcp_max_syn_backlog", SET, "max_syn_backlog", NULL, 0, 1, 1, NULL},
    {"tcp_retries2", SET, "retries2", NULL, 0, 1, 1, NULL},
    {"tcp_fin_timeout", SET, "fin_wait2_timeout_ms", NULL, 0, 1000, 1, NULL},
    {"tcp_keepalive_time", SET, "keepalive_time", NULL, 0, 1, 1, NULL},
    {"tcp_keepalive_intvl", SET, "keepalive_intvl", NULL, 0, 1, 1, NULL},
    {"tcp_keepalive_probes", SET, "keepalive_probes", NULL, 0, 1, 1, NULL},
    {"tcp_rfc1337", SET, "rfc1337", NULL, 0, 1, 1, NULL},
    {"tcp_tw_reuse", SET, "tw_reuse", NULL, 0, 1, 1, NULL},
    {"tcp_max_tw_buckets", SET, "max_tw", NULL, 0, 1, 1, NULL},
    {"tcp_challenge_ack_limit", SET, "challenge_ack_limit", NULL, 0, 1, 1, NULL},
    {"tcp_rmem", SET, "rcvbuf", NULL, 2, 1, 1, NULL},
    {"tcp_wmem", SET, "sndbuf", NULL, 2, 1, 1, NULL},
    {"tcp_rto_min_us", SET, "rto_min_ms", NULL, 0, 1, 1000, NULL},
    {"ip_local_port_range", SET, "port_range_lo", NULL, 1, 1, 1, NULL},
    {"somaxconn", SET, "somaxconn", NULL, 0, 1, 1, NULL},
    {"tcp_fack", MATCH, NULL, NULL, 0, 0, 0, "0"},
    {"tcp_ecn", MATCH, NULL, NULL, 0, 0, 0, "0,2"}, /* 2: ECN only when asked, never asked */
    {"tcp_notsent_lowat", MATCH, NULL, NULL, 0, 0, 0, "4294967295,-1"},
    {"tcp_abort_on_overflow", MATCH, NULL, NULL, 0, 0, 0, "0"},
    {"tcp_mtu_probing", MATCH, NULL, NULL, 0, 0, 0, "0"},
    {"tcp_congestion_control", APPROX, NULL, NULL, 0, 0, 0, NULL}, /* NewReno here */
    {"tcp_frto", APPROX, NULL, NULL, 0, 0, 0, NULL},
    {"tcp_dsack", APPROX, NULL, NULL, 0, 0, 0, NULL},
    {"tcp_reordering", APPROX, NULL, NULL, 0, 0, 0, NULL},
    {"tcp_early_retrans", APPROX, NULL, NULL, 0, 0, 0, NULL},
    {"tcp_recovery", APPROX, NULL, NULL, 0, 0, 0, NULL},
    {"tcp_tso_win_divisor", APPROX, NULL, NULL, 0, 0, 0, NULL},
    {"tcp_pacing_ss_ratio", APPROX, NULL, NULL, 0, 0, 0, NULL},
    {"tcp_pacing_ca_ratio", APPROX, NULL, NULL, 0, 0, 0, NULL},
    {"tcp_slow_start_after_idle", APPROX, NULL, NULL, 0, 0, 0, NULL},
    {"tcp_min_tso_segs", APPROX, NULL, NULL, 0, 0, 0, NULL},
    {"tcp_ecn_option", APPROX, NULL, NULL, 0, 0, 0, NULL},
    {"tcp_fastopen", SET, "fastopen", NULL, 0, 1, 1, NULL},
    {"tcp_fastopen_key", SET, "fastopen_key", NULL, 0, 1, 1, NULL}, /* the engine's key */
    /* Linux's global switch-off after Fast Open SYN timeouts; the engine turns Fast Open off
     * per server instead (docs/engine.md) */
    {"tcp_fastopen_blackhole_timeout_sec", APPROX, NULL, NULL, 0, 0, 0, NULL},
    {"tcp_autocorking", APPROX, NULL, NULL, 0, 0, 0, NULL},
    {"tcp_moderate_rcvbuf", APPROX, NULL, NULL, 0, 0, 0, NULL},
};

static const struct sysctl freebsd_sysctls[] = {
    {"rfc1323", SET, "timestamps", "window_scaling", 0, 1, 1, NULL},
    {"sack.enable", SET, "sack", NULL, 0, 1, 1, NULL},
    {"syncookies_only", SET, "syncookies", NULL, 0, 2, 1, NULL},
    {"msl", SET, "time_wait_ms", NULL, 0, 2, 1, NULL}, /* ms; TIME-WAIT lasts 2 MSL */
    {"keepidle", SET, "keepalive_time", NULL, 0, 1, 1000, NULL},
    {"keepintvl", SET, "keepalive_intvl", NULL, 0, 1, 1000, NULL},
    {"keepcnt", SET, "keepalive_probes", NULL, 0, 1, 1, NULL},
    {"rexmit_min", SET, "rto_min_ms", NULL, 0, 1, 1, NULL},
    {"rexmit_initial", SET, "rto_initial_ms", NULL, 0, 1, 1, NULL},
    {"delacktime", SET, "delack_ms", NULL, 0, 1, 1, NULL},
    {"sendspace", SET, "sndbuf", NULL, 0, 1, 1, NULL},
    {"recvspace", SET, "rcvbuf", NULL, 0, 1, 1, NULL},
    {"finwait2_timeout", SET, "fin_wait2_timeout_ms", NULL, 0, 1, 1, NULL},
    {"maxtcptw", SET, "max_tw", NULL, 0, 1, 1, NULL},
    {"initcwnd_segments", SET, "initcwnd", NULL, 0, 1, 1, NULL},
    {"syncookies", MATCH, NULL, NULL, 0, 0, 0, "1"}, /* cookies on syncache overflow */
    {"delayed_ack", MATCH, NULL, NULL, 0, 0, 0, "1"},
    {"insecure_rst", MATCH, NULL, NULL, 0, 0, 0, "0"},
    {"insecure_syn", MATCH, NULL, NULL, 0, 0, 0, "0"},
    {"ecn.enable", MATCH, NULL, NULL, 0, 0, 0, "0,2"},
    {"cc.algorithm", MATCH, NULL, NULL, 0, 0, 0, "newreno"},
    {"cc.abe", MATCH, NULL, NULL, 0, 0, 0, "0"},
    {"udp_tunneling_port", MATCH, NULL, NULL, 0, 0, 0, "0"},
    {"blackhole", MATCH, NULL, NULL, 0, 0, 0, "0"},
    {"mssdflt", MATCH, NULL, NULL, 0, 0, 0, "536"},
    {"pmtud_blackhole_detection", MATCH, NULL, NULL, 0, 0, 0, "0"},
    {"tolerate_missing_ts", APPROX, NULL, NULL, 0, 0, 0, NULL},
    {"rfc6675_pipe", APPROX, NULL, NULL, 0, 0, 0, NULL},
    {"ts_offset_per_conn", APPROX, NULL, NULL, 0, 0, 0, NULL},
    {"nolocaltimewait", APPROX, NULL, NULL, 0, 0, 0, NULL},
    {"fast_finwait2_recycle", APPROX, NULL, NULL, 0, 0, 0, NULL},
};

__attribute__((format(printf, 3, 4))) static int say(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return 1;
}

/* The n-th (1-based) space-separated field of v, into out. */
static int nth_field(const char *v, unsigned nth, char *out, size_t n)
{
    for (unsigned i = 1;; i++) {
        while (*v == ' ' || *v == '\t')
            v++;
        size_t len = strcspn(v, " \t");
        if (!len)
            return -1;
        if (i == nth) {
            snprintf(out, n, "%.*s", (int)len, v);
            return 0;
        }
        v += len;
    }
}

static int in_list(const char *list, const char *v)
{
    size_t vl = strlen(v);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == vl && !strncmp(p, v, len))
            return 1;
        p += len + (p[len] == ',');
    }
    return 0;
}

/* A number, or the shell's $((a*b+c)) of numbers (defaults.sh writes $((256*1024))). */
static long long shell_number(const char *text, char **end)
{
    if (strncmp(text, "$((", 3) != 0)
        return strtoll(text, end, 0);
    const char *p = text + 3;
    long long sum = 0, prod = 1;
    for (;;) {
        char *e;
        long long v = strtoll(p, &e, 0);
        if (e == p)
            break;
        prod *= v;
        p = e;
        if (*p == '*') {
            p++;
            continue;
        }
        sum += prod;
        prod = 1;
        if (*p == '+') {
            p++;
            continue;
        }
        if (!strcmp(p, "))")) {
            *end = (char *)p + 2;
            return sum;
        }
        break;
    }
    *end = (char *)text;
    return 0;
}

static int set_one(struct sf_tcp_config *cfg, const char *setting, const char *text,
                   const struct sysctl *s, char *why, size_t n)
{
    char *end;
    errno = 0;
    long long v = shell_number(text, &end);
    if (errno || *end || v < 0 || end == text)
        return say(why, n, "%s: value %s is not a number the engine takes", s->name, text);
    char num[32], err[256];
    snprintf(num, sizeof num, "%llu", (unsigned long long)v * s->mul / s->div);
    /* Linux tcp_timestamps=2 means timestamps without per-connection offsets */
    if (!strcmp(setting, "timestamps") && v > 1)
        snprintf(num, sizeof num, "1");
    if (sf_tcp_config_set(cfg, setting, num, err, sizeof err) < 0)
        return say(why, n, "%s: %s", s->name, err);
    return 0;
}

/* NAME=VALUE of any sysctl form; name may be dotted or a /proc/sys path. */
static int apply_sysctl(const char *assign, struct sf_tcp_config *cfg, char *why, size_t n)
{
    char name[128];
    const char *eq = strchr(assign, '=');
    if (!eq) /* reading a value changes nothing */
        return 0;
    snprintf(name, sizeof name, "%.*s", (int)(eq - assign), assign);
    const char *value = eq + 1;
    if (!strncmp(name, "/proc/sys/", 10)) {
        memmove(name, name + 10, strlen(name + 10) + 1);
        for (char *p = name; *p; p++)
            if (*p == '/')
                *p = '.';
    }
    const struct sysctl *table = NULL;
    size_t count = 0;
    const char *key = NULL;
    if (!strncmp(name, "net.ipv4.", 9)) {
        table = linux_sysctls, count = sizeof linux_sysctls / sizeof linux_sysctls[0];
        key = name + 9;
    } else if (!strncmp(name, "net.core.", 9)) {
        table = linux_sysctls, count = sizeof linux_sysctls / sizeof linux_sysctls[0];
        key = name + 9;
    } else if (!strncmp(name, "net.inet.tcp.", 13)) {
        table = freebsd_sysctls, count = sizeof freebsd_sysctls / sizeof freebsd_sysctls[0];
        key = name + 13;
    }
    for (size_t i = 0; key && i < count; i++) {
        const struct sysctl *s = &table[i];
        if (strcmp(s->name, key) != 0)
            continue;
        if (s->kind == APPROX)
            return 0;
        if (s->kind == MATCH)
            return in_list(s->match, value)
                       ? 0
                       : say(why, n, "sysctl %s=%s: the engine's behaviour is fixed", name, value);
        if (!strcmp(s->setting, "fastopen_key")) { /* text, not a number */
            char err[256];
            return sf_tcp_config_set(cfg, s->setting, value, err, sizeof err) < 0
                       ? say(why, n, "sysctl %s: %s", name, err)
                       : 0;
        }
        char field[64];
        if (!s->field) {
            snprintf(field, sizeof field, "%s", value);
        } else if (nth_field(value, s->field, field, sizeof field) < 0) {
            return say(why, n, "sysctl %s=%s: too few fields", name, value);
        }
        if (set_one(cfg, s->setting, field, s, why, n))
            return 1;
        if (!strcmp(s->setting, "rcvbuf") && nth_field(value, 3, field, sizeof field) == 0) {
            /* Linux offers the window scale that lets the largest receive buffer be used:
             * ilog2(max(tcp_rmem[2], rmem_max 212992)) - 15, within 0..14
             * (tcp_select_initial_window); 6 MiB, the default, gives 7 */
            char *end;
            long long max = shell_number(field, &end);
            if (*end || max <= 0)
                return say(why, n, "sysctl %s=%s: bad maximum", name, value);
            if (max < 212992)
                max = 212992;
            int lg = 0;
            while (max >> (lg + 1))
                lg++;
            int ws = lg - 15 < 0 ? 0 : lg - 15 > 14 ? 14 : lg - 15;
            snprintf(field, sizeof field, "%d", ws);
            struct sysctl one = *s;
            one.mul = one.div = 1;
            return set_one(cfg, "wscale", field, &one, why, n);
        }
        if (!strcmp(s->setting, "port_range_lo")) {
            if (nth_field(value, 2, field, sizeof field) < 0)
                return say(why, n, "sysctl %s=%s: expected two ports", name, value);
            return set_one(cfg, "port_range_hi", field, s, why, n);
        }
        return s->setting2 ? set_one(cfg, s->setting2, field, s, why, n) : 0;
    }
    return say(why, n, "sysctl %s: no engine setting for it", name);
}

/* Splits one simple command into words: quotes group, redirections are dropped. */
static size_t words(char *cmd, char **w)
{
    size_t n = 0;
    char *p = cmd;
    while (*p && n < MAX_WORDS) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        char *start = p, *out = p;
        while (*p && *p != ' ' && *p != '\t') {
            if (*p == '"' || *p == '\'') {
                char q = *p++;
                while (*p && *p != q)
                    *out++ = *p++;
                if (*p)
                    p++;
            } else {
                *out++ = *p++;
            }
        }
        int more = *p != 0;
        *out = 0;
        if (more)
            p++;
        /* > file, 2>&1, 2>/dev/null, &>file: where the output goes changes nothing */
        if (start[0] == '>' || !strncmp(start, "2>", 2) || !strncmp(start, "1>", 2) ||
            !strncmp(start, "&>", 2)) {
            size_t len = strlen(start);
            if ((len == 1 || (len == 2 && start[1] == '>')) && n < MAX_WORDS) {
                /* the target is the next word: skip it */
                while (*p == ' ' || *p == '\t')
                    p++;
                p += strcspn(p, " \t");
            }
            continue;
        }
        w[n++] = start;
    }
    return n;
}

static int apply_command(char *cmd, const char *dir, struct sf_tcp_config *cfg, char *why, size_t n,
                         int depth);

/* A script file of shell lines (packetdrill's defaults.sh): each line, comments skipped. */
static int apply_file(const char *path, const char *dir, struct sf_tcp_config *cfg, char *why,
                      size_t n, int depth)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[1024];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *p = line + strspn(line, " \t");
        if (*p == '#' || !*p)
            continue;
        rc = apply_command(p, dir, cfg, why, n, depth + 1);
    }
    fclose(f);
    return rc;
}

static int apply_simple(char *cmd, const char *dir, struct sf_tcp_config *cfg, char *why, size_t n,
                        int depth)
{
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", cmd);
    char *w[MAX_WORDS];
    size_t nw = words(cmd, w);
    if (nw == 0)
        return 0;
    const char *base = strrchr(w[0], '/') ? strrchr(w[0], '/') + 1 : w[0];
    if (!strcmp(w[0], "sysctl")) {
        for (size_t i = 1; i < nw; i++)
            if (w[i][0] != '-' && apply_sysctl(w[i], cfg, why, n))
                return 1;
        return 0;
    }
    if (!strcmp(base, "set_sysctls.py")) { /* packetdrill's: /proc/sys/PATH=VALUE ... */
        for (size_t i = 1; i < nw; i++)
            if (apply_sysctl(w[i], cfg, why, n))
                return 1;
        return 0;
    }
    const char *gt = strrchr(copy, '>');
    if (!strcmp(w[0], "echo") && nw == 2 && gt) { /* echo V > /proc/sys/... */
        char target[256], assign[512];
        if (sscanf(gt + 1, " %255s", target) == 1 && !strncmp(target, "/proc/sys/", 10)) {
            snprintf(assign, sizeof assign, "%s=%s", target, w[1]);
            return apply_sysctl(assign, cfg, why, n);
        }
    }
    /* a plain FIFO without limit: what the simulated link already is (no pacing, no drops) */
    if (!strcmp(w[0], "tc") && nw == 7 && !strcmp(w[1], "qdisc") &&
        (!strcmp(w[2], "add") || !strcmp(w[2], "replace")) && !strcmp(w[3], "dev") &&
        !strcmp(w[5], "root") && (!strcmp(w[6], "pfifo") || !strcmp(w[6], "pfifo_fast")))
        return 0;
    /* nothing to configure: the runner empties the engine's Fast Open cookie cache */
    if (!strcmp(w[0], "ip") && nw >= 3 && !strcmp(w[1], "tcp_metrics") && !strcmp(w[2], "flush"))
        return 0;
    if (nw == 1 && strstr(base, ".sh")) {
        if (depth >= MAX_DEPTH)
            return say(why, n, "`%s`: shell scripts nested too deep", w[0]);
        char path[1024];
        if (w[0][0] == '/')
            snprintf(path, sizeof path, "%s", w[0]);
        else
            snprintf(path, sizeof path, "%s/%s", dir, w[0]);
        int rc = apply_file(path, dir, cfg, why, n, depth);
        if (rc >= 0)
            return rc;
        /* set_sysctls.py's restore script: every script starts with a fresh engine */
        if (!strncmp(w[0], "/tmp/sysctl_restore_", 20))
            return 0;
        return say(why, n, "`%s`: cannot read the script it runs", copy);
    }
    return say(why, n, "`%s`: not a TCP setting synfin-drill knows", copy);
}

static int apply_command(char *cmd, const char *dir, struct sf_tcp_config *cfg, char *why, size_t n,
                         int depth)
{
    /* commands separated by ;, &&, || or newlines (outside quotes); a single | feeds a
     * program we cannot run */
    char *p = cmd;
    while (*p) {
        size_t len = 0, skip = 0;
        char q = 0;
        for (; p[len]; len++) {
            char c = p[len];
            if (q) {
                q = c == q ? 0 : q;
                continue;
            }
            if (c == '"' || c == '\'') {
                q = c;
            } else if (c == ';' || c == '\n') {
                skip = 1;
                break;
            } else if ((c == '&' || c == '|') && p[len + 1] == c) {
                skip = 2;
                break;
            } else if (c == '|') {
                snprintf(why, n, "`%s`: a pipeline (programs synfin-drill does not run)", cmd);
                return 1;
            }
        }
        char part[1024];
        snprintf(part, sizeof part, "%.*s", (int)len, p);
        if (apply_simple(part, dir, cfg, why, n, depth))
            return 1;
        p += len + skip;
    }
    return 0;
}

int dr_shell_apply(const char *cmd, const char *dir, struct sf_tcp_config *cfg, char *why,
                   size_t whylen)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", cmd);
    /* a backslash before a newline continues the line */
    for (char *p = buf; (p = strstr(p, "\\\n")) != NULL;)
        p[0] = p[1] = ' ';
    return apply_command(buf, dir, cfg, why, whylen, 0);
}
