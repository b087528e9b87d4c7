/* The stack's configuration words; see config_stack.h. */
#include "lb/config_stack.h"
#include "lb/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lb_transport_defaults(struct lb_transport_conf *t)
{
    memset(t, 0, sizeof *t);
    t->kind = LB_TRANSPORT_KERNEL;
    t->offload = 1;
    t->max_time_wait = 262144; /* Linux tcp_max_tw_buckets on a host with 4 GiB or more */
    t->device_fd = -1;
}

int lb_transport_same(const struct lb_transport_conf *a, const struct lb_transport_conf *b)
{
    if (a->kind != b->kind || strcmp(a->tun, b->tun) || strcmp(a->kernel_addr, b->kernel_addr) ||
        a->naddrs != b->naddrs || a->offload != b->offload || strcmp(a->pcap, b->pcap) ||
        a->trace != b->trace || strcmp(a->impair, b->impair) ||
        a->max_time_wait != b->max_time_wait)
        return 0;
    for (uint32_t i = 0; i < a->naddrs; i++)
        if (!lb_addr_equal(&a->addrs[i], &b->addrs[i]))
            return 0;
    return 1;
}

static int on_off(const char *v, int *out)
{
    if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true"))
        *out = 1;
    else if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false"))
        *out = 0;
    else
        return -1;
    return 0;
}

static int copy_word(char *dst, size_t cap, const char *v, const char *what, char *why,
                     size_t whylen)
{
    if (strlen(v) >= cap || !*v) {
        snprintf(why, whylen, "%s '%s' is empty or longer than %zu characters", what, v, cap - 1);
        return -1;
    }
    strcpy(dst, v);
    return 0;
}

static int transport_address(struct lb_transport_conf *t, char *const *args, size_t nargs, int *bad,
                             char *why, size_t whylen)
{
    for (size_t i = 0; i < nargs; i++) {
        const char *w;
        struct lb_addr a;
        *bad = (int)i;
        if (t->naddrs >= LB_STACK_ADDRS) {
            snprintf(why, whylen, "at most %d stack addresses", LB_STACK_ADDRS);
            return -1;
        }
        if (lb_addr_parse(&a, args[i], 0, &w) < 0) {
            snprintf(why, whylen, "'%s': %s", args[i], w);
            return -1;
        }
        if (lb_addr_port(&a) != 0) {
            snprintf(why, whylen, "'%s': the stack's addresses are IPv4 or IPv6 addresses, no port",
                     args[i]);
            return -1;
        }
        for (uint32_t k = 0; k < t->naddrs; k++)
            if (lb_addr_equal(&t->addrs[k], &a)) {
                snprintf(why, whylen, "'%s' is given twice", args[i]);
                return -1;
            }
        t->addrs[t->naddrs++] = a;
    }
    return 0;
}

/* `kernel_addr A/N [B/M];` (or one word "A/N,B/M", as --kernel-addr gives it): at most one
 * address of each family, kept joined by a comma, as the host glue takes them. */
static int kernel_addrs(struct lb_transport_conf *t, char *const *args, size_t nargs, int *bad,
                        char *why, size_t whylen)
{
    int seen[2] = {0, 0};
    t->kernel_addr[0] = 0;
    for (size_t i = 0; i < nargs; i++) {
        *bad = (int)i;
        for (const char *p = args[i]; p;) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            char one[64], *slash;
            struct lb_addr a;
            const char *w;
            if (len >= sizeof one || len == 0)
                return snprintf(why, whylen, "'%s' is not ADDRESS/PREFIX", args[i]), -1;
            memcpy(one, p, len);
            one[len] = 0;
            slash = strchr(one, '/');
            if (slash)
                *slash++ = 0;
            if (lb_addr_parse(&a, one, 0, &w) < 0 || lb_addr_port(&a) != 0 || one[0] == '[')
                return snprintf(why, whylen, "'%s' is not ADDRESS/PREFIX", args[i]), -1;
            int v6 = a.u.sa.sa_family == AF_INET6, max = v6 ? 128 : 32;
            char *end;
            long pre = slash ? strtol(slash, &end, 10) : max;
            if (slash && (!*slash || *end || pre < 1 || pre > max))
                return snprintf(why, whylen, "'%s': the prefix is 1 to %d", args[i], max), -1;
            if (seen[v6]++)
                return snprintf(why, whylen, "'%s': one %s address for the kernel side", args[i],
                                v6 ? "IPv6" : "IPv4"),
                       -1;
            size_t have = strlen(t->kernel_addr);
            if (have + len + 2 > sizeof t->kernel_addr)
                return snprintf(why, whylen, "kernel_addr is too long"), -1;
            snprintf(t->kernel_addr + have, sizeof t->kernel_addr - have, "%s%.*s", have ? "," : "",
                     (int)len, p);
            p = comma ? comma + 1 : NULL;
        }
    }
    return 0;
}

int lb_transport_directive(struct lb_transport_conf *t, const char *name, char *const *args,
                           size_t nargs, int *bad, char *why, size_t whylen)
{
    *bad = -1;
    if (!strcmp(name, "address"))
        return nargs ? transport_address(t, args, nargs, bad, why, whylen)
                     : (snprintf(why, whylen, "'address' needs at least one address"), -1);
    if (!strcmp(name, "kernel_addr"))
        return nargs && nargs <= 2
                   ? kernel_addrs(t, args, nargs, bad, why, whylen)
                   : (snprintf(why, whylen, "'kernel_addr' takes 1 or 2 ADDRESS/PREFIX"), -1);
    static const char *const one[] = {"tun",   "kernel_addr", "offload",      "pcap",
                                      "trace", "impair",      "max_time_wait"};
    size_t k;
    for (k = 0; k < sizeof one / sizeof one[0]; k++)
        if (!strcmp(name, one[k]))
            break;
    if (k == sizeof one / sizeof one[0])
        return 1;
    if (nargs != 1) {
        *bad = nargs > 1 ? 1 : -1;
        snprintf(why, whylen, "'%s' takes 1 argument", name);
        return -1;
    }
    const char *v = args[0];
    *bad = 0;
    switch (k) {
    case 0: return copy_word(t->tun, sizeof t->tun, v, "device name", why, whylen);
    case 1: return -1; /* kernel_addrs, above */
    case 2:
    case 4:
        if (on_off(v, k == 2 ? &t->offload : &t->trace) < 0) {
            snprintf(why, whylen, "expected on or off, found '%s'", v);
            return -1;
        }
        return 0;
    case 3:
        if (v[0] != '/') {
            snprintf(why, whylen, "pcap takes an absolute path");
            return -1;
        }
        return copy_word(t->pcap, sizeof t->pcap, v, "pcap path", why, whylen);
    case 5: return copy_word(t->impair, sizeof t->impair, v, "impair", why, whylen);
    default: {
        char *end;
        unsigned long long n = strtoull(v, &end, 10);
        if (*v < '0' || *v > '9' || *end || n > (1u << 26)) {
            snprintf(why, whylen, "max_time_wait takes a count of entries in 0..%u", 1u << 26);
            return -1;
        }
        t->max_time_wait = (uint32_t)n;
        return 0;
    }
    }
}

int lb_transport_finish(const struct lb_transport_conf *t, char *why, size_t whylen)
{
    if (t->kind != LB_TRANSPORT_STACK)
        return 0;
    if (!t->tun[0]) {
        snprintf(why, whylen, "transport stack needs 'tun NAME;' (the device synfin's TCP uses)");
        return -1;
    }
    if (t->naddrs == 0) {
        snprintf(
            why, whylen,
            "transport stack needs 'address A.B.C.D;' or an IPv6 one (what synfin's TCP owns)");
        return -1;
    }
    return 0;
}

int lb_transport_owns(const struct lb_transport_conf *t, const struct lb_addr *addr)
{
    for (uint32_t i = 0; i < t->naddrs; i++)
        if (lb_addr_same_host(&t->addrs[i], addr))
            return 1;
    return 0;
}

int lb_transport_owns_family(const struct lb_transport_conf *t, int family)
{
    for (uint32_t i = 0; i < t->naddrs; i++)
        if (t->addrs[i].u.sa.sa_family == family)
            return 1;
    return 0;
}

/* ---- stack-only profile directives ---- */

enum skind { K_DUR, K_COUNT, K_SIZE, K_BOOL, K_COOKIES, K_WSCALE };

struct sdir {
    const char *name;    /* the config's word */
    const char *setting; /* the engine's (tcp/config.c), for the range */
    int kind;
};

/* Every engine setting a profile may set; docs/config.md lists them with their origins. */
static const struct sdir sdirs[] = {
    {"time_wait", "time_wait_ms", K_DUR},
    {"fin_wait_2_timeout", "fin_wait2_timeout_ms", K_DUR},
    {"last_ack_timeout", "last_ack_timeout_ms", K_DUR},
    {"syn_retries", "syn_retries", K_COUNT},
    {"synack_retries", "synack_retries", K_COUNT},
    {"retries2", "retries2", K_COUNT},
    {"rto_initial", "rto_initial_ms", K_DUR},
    {"rto_min", "rto_min_ms", K_DUR},
    {"rto_max", "rto_max_ms", K_DUR},
    {"delayed_ack", "delack_ms", K_DUR},
    {"initial_cwnd", "initcwnd", K_COUNT},
    {"receive_window", "rcvbuf", K_SIZE},
    {"send_buffer", "sndbuf", K_SIZE},
    {"mss", "mss", K_COUNT},
    {"window_scale", "wscale", K_WSCALE},
    {"sack", "sack", K_BOOL},
    {"timestamps", "timestamps", K_BOOL},
    {"syncookies", "syncookies", K_COOKIES},
    {"max_syn_backlog", "max_syn_backlog", K_COUNT},
    {"rfc1337", "rfc1337", K_BOOL},
    {"time_wait_reuse", "tw_reuse", K_BOOL},
};
#define NSDIRS (sizeof sdirs / sizeof sdirs[0])

static const struct sf_tcp_setting *setting(const char *name)
{
    for (size_t i = 0; i < sf_tcp_settings_count; i++)
        if (!strcmp(sf_tcp_settings[i].name, name))
            return &sf_tcp_settings[i];
    return NULL;
}

static uint32_t *field(struct sf_tcp_config *c, const struct sf_tcp_setting *s)
{
    return (uint32_t *)(void *)((char *)c + s->offset);
}

static int value_of(const struct sdir *d, const char *v, uint64_t *out, char *why, size_t whylen)
{
    const char *w;
    int b;
    switch (d->kind) {
    case K_DUR:
        if (lb_parse_duration(v, out, &w) < 0)
            return snprintf(why, whylen, "'%s': %s", v, w), -1;
        return 0;
    case K_SIZE:
        if (lb_parse_size(v, out, &w) < 0)
            return snprintf(why, whylen, "'%s': %s", v, w), -1;
        return 0;
    case K_BOOL:
        if (on_off(v, &b) < 0)
            return snprintf(why, whylen, "expected on or off, found '%s'", v), -1;
        *out = (uint64_t)b;
        return 0;
    case K_COOKIES:
        if (!strcmp(v, "off"))
            *out = 0;
        else if (!strcmp(v, "on"))
            *out = 1;
        else if (!strcmp(v, "always"))
            *out = 2;
        else
            return snprintf(why, whylen, "expected off, on or always, found '%s'", v), -1;
        return 0;
    default: {
        if (d->kind == K_WSCALE && !strcmp(v, "off")) {
            *out = UINT64_MAX; /* no window scaling at all */
            return 0;
        }
        char *end;
        unsigned long long n = strtoull(v, &end, 10);
        if (*v < '0' || *v > '9' || *end)
            return snprintf(why, whylen, "expected a whole number, found '%s'", v), -1;
        *out = n;
        return 0;
    }
    }
}

int lb_stack_directive(const char *name, const char *value, struct sf_tcp_config *tcp,
                       uint64_t *set, char *why, size_t whylen)
{
    size_t i;
    for (i = 0; i < NSDIRS; i++)
        if (!strcmp(sdirs[i].name, name))
            break;
    if (i == NSDIRS)
        return 1;
    const struct sdir *d = &sdirs[i];
    const struct sf_tcp_setting *s = setting(d->setting);
    uint64_t v;
    if (!s || value_of(d, value, &v, why, whylen) < 0)
        return -1;
    if (d->kind == K_WSCALE) {
        tcp->window_scaling = v != UINT64_MAX;
        if (v == UINT64_MAX)
            v = s->def;
    }
    if (v < s->min || v > s->max) {
        if (d->kind == K_DUR)
            snprintf(why, whylen, "'%s' is out of range for %s (%ums to %ums)", value, name, s->min,
                     s->max);
        else
            snprintf(why, whylen, "'%s' is out of range for %s (%u to %u %s)", value, name, s->min,
                     s->max, s->unit);
        return -1;
    }
    *field(tcp, s) = (uint32_t)v;
    *set |= 1ull << i;
    return 0;
}

void lb_stack_merge(struct sf_tcp_config *dst, const struct sf_tcp_config *base,
                    const struct sf_tcp_config *over, uint64_t set)
{
    *dst = *base;
    for (size_t i = 0; i < NSDIRS; i++) {
        if (!(set & (1ull << i)))
            continue;
        const struct sf_tcp_setting *s = setting(sdirs[i].setting);
        *field(dst, s) = *field((struct sf_tcp_config *)over, s);
        if (sdirs[i].kind == K_WSCALE)
            dst->window_scaling = over->window_scaling;
    }
}

/* ---- printing (synfin -T): the values as the parser reads them back ---- */

void lb_transport_print(const struct lb_transport_conf *t, FILE *out)
{
    if (t->kind != LB_TRANSPORT_STACK)
        return;
    char a[LB_ADDR_STRLEN];
    fprintf(out, "transport stack {\n    tun %s;\n", t->tun);
    if (t->kernel_addr[0])
        fprintf(out, "    kernel_addr %s;\n", t->kernel_addr);
    fputs("    address", out);
    for (uint32_t i = 0; i < t->naddrs; i++)
        fprintf(out, " %s", lb_addr_host(&t->addrs[i], a, sizeof a));
    fprintf(out, ";\n    offload %s;\n    trace %s;\n    max_time_wait %u;\n",
            t->offload ? "on" : "off", t->trace ? "on" : "off", t->max_time_wait);
    if (t->pcap[0])
        fprintf(out, "    pcap %s;\n", t->pcap);
    if (t->impair[0])
        fprintf(out, "    impair \"%s\";\n", t->impair);
    fputs("}\n", out);
}

void lb_stack_print(const struct sf_tcp_config *tcp, const char *ind, FILE *out)
{
    for (size_t i = 0; i < NSDIRS; i++) {
        const struct sdir *d = &sdirs[i];
        uint32_t v = *field((struct sf_tcp_config *)tcp, setting(d->setting));
        fprintf(out, "%s%s ", ind, d->name);
        switch (d->kind) {
        case K_DUR: fprintf(out, v ? "%ums;\n" : "0;\n", v); break;
        case K_BOOL: fprintf(out, "%s;\n", v ? "on" : "off"); break;
        case K_COOKIES: fprintf(out, "%s;\n", v == 2 ? "always" : v ? "on" : "off"); break;
        case K_WSCALE:
            if (tcp->window_scaling)
                fprintf(out, "%u;\n", v);
            else
                fputs("off;\n", out);
            break;
        default: fprintf(out, "%u;\n", v); break;
        }
    }
}
