/* Config parser: text -> tree of directives (with positions) -> checked sf_config.
 *
 * Two stages keep the error messages exact: the tree parser knows only the syntax
 * (words, strings, `;`, `{ }`), the interpreter knows every directive and reports the
 * position of the argument it rejects. */
#include "lb/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct arg {
    char *s;
    int line, col;
};

struct node {
    struct arg name;
    struct arg *args;
    size_t nargs;
    struct node *kids;
    size_t nkids;
    int block;
};

struct parser {
    const char *p, *end;
    int line, col;
    struct sf_config_error *err;
};

static int fail(struct sf_config_error *e, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct sf_config_error *e, int line, int col, const char *fmt, ...)
{
    va_list ap;
    e->line = line;
    e->col = col;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

static int fail_at(struct sf_config_error *e, const struct arg *a, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(struct sf_config_error *e, const struct arg *a, const char *fmt, ...)
{
    va_list ap;
    e->line = a->line;
    e->col = a->col;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- syntax ---- */

static void advance(struct parser *ps)
{
    if (*ps->p == '\n') {
        ps->line++;
        ps->col = 1;
    } else {
        ps->col++;
    }
    ps->p++;
}

static void skip_space(struct parser *ps)
{
    while (ps->p < ps->end) {
        char c = *ps->p;
        if (c == '#') {
            while (ps->p < ps->end && *ps->p != '\n')
                advance(ps);
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            advance(ps);
        } else {
            break;
        }
    }
}

static int is_special(char c)
{
    return c == ';' || c == '{' || c == '}' || c == '"' || c == '#' || c == ' ' || c == '\t' ||
           c == '\r' || c == '\n';
}

/* Appends c to the token being read (*s, freed on failure). */
static int push_char(struct parser *ps, char **s, size_t *n, size_t *cap, char c)
{
    if (*n + 2 > *cap) {
        char *ns = realloc(*s, *cap * 2);
        if (!ns) {
            free(*s);
            *s = NULL;
            return fail(ps->err, ps->line, ps->col, "out of memory");
        }
        *s = ns;
        *cap *= 2;
    }
    (*s)[(*n)++] = c;
    return 0;
}

/* Reads a word or a quoted string into a new arg. */
static int read_token(struct parser *ps, struct arg *a)
{
    a->line = ps->line;
    a->col = ps->col;
    size_t cap = 32, n = 0;
    char *s = malloc(cap);
    if (!s)
        return fail(ps->err, ps->line, ps->col, "out of memory");
    if (*ps->p == '"') {
        advance(ps);
        for (;;) {
            if (ps->p >= ps->end || *ps->p == '\n') {
                free(s);
                return fail(ps->err, a->line, a->col, "unterminated string");
            }
            char c = *ps->p;
            if (c == '"') {
                advance(ps);
                break;
            }
            if (c == '\\') {
                advance(ps);
                if (ps->p >= ps->end) {
                    free(s);
                    return fail(ps->err, a->line, a->col, "unterminated string");
                }
                c = *ps->p;
                if (c == 'n')
                    c = '\n';
                else if (c == 'r')
                    c = '\r';
                else if (c == 't')
                    c = '\t';
                else if (c != '\\' && c != '"') {
                    free(s);
                    return fail(ps->err, ps->line, ps->col - 1, "unknown escape '\\%c'", c);
                }
            } else if (c == 0) {
                free(s);
                return fail(ps->err, ps->line, ps->col, "NUL byte in string");
            }
            if (push_char(ps, &s, &n, &cap, c) < 0)
                return -1;
            advance(ps);
        }
    } else {
        while (ps->p < ps->end && !is_special(*ps->p)) {
            unsigned char c = (unsigned char)*ps->p;
            if (c < 0x20 || c == 0x7f) {
                free(s);
                return fail(ps->err, ps->line, ps->col, "control character 0x%02x", c);
            }
            if (push_char(ps, &s, &n, &cap, (char)c) < 0)
                return -1;
            advance(ps);
        }
    }
    s[n] = 0;
    a->s = s;
    return 0;
}

static void free_nodes(struct node *kids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kids[i].name.s);
        for (size_t j = 0; j < kids[i].nargs; j++)
            free(kids[i].args[j].s);
        free(kids[i].args);
        free_nodes(kids[i].kids, kids[i].nkids);
    }
    free(kids);
}

static int parse_block(struct parser *ps, struct node **out, size_t *nout, int depth,
                       const struct arg *open);

static int parse_stmt(struct parser *ps, struct node *nd, int depth)
{
    memset(nd, 0, sizeof *nd);
    if (*ps->p == '"')
        return fail(ps->err, ps->line, ps->col, "expected a directive name, found a string");
    if (read_token(ps, &nd->name) < 0)
        return -1;
    for (;;) {
        skip_space(ps);
        if (ps->p >= ps->end)
            return fail(ps->err, nd->name.line, nd->name.col,
                        "'%s' is not terminated by ';' or '{'", nd->name.s);
        char c = *ps->p;
        if (c == ';') {
            advance(ps);
            return 0;
        }
        if (c == '}')
            return fail(ps->err, ps->line, ps->col, "expected ';' before '}'");
        if (c == '{') {
            struct arg open = {NULL, ps->line, ps->col};
            advance(ps);
            nd->block = 1;
            if (depth >= 4)
                return fail(ps->err, open.line, open.col, "blocks nested too deeply");
            return parse_block(ps, &nd->kids, &nd->nkids, depth + 1, &open);
        }
        if (nd->nargs >= 64)
            return fail(ps->err, ps->line, ps->col, "too many arguments");
        struct arg *na = realloc(nd->args, (nd->nargs + 1) * sizeof *na);
        if (!na)
            return fail(ps->err, ps->line, ps->col, "out of memory");
        nd->args = na;
        if (read_token(ps, &nd->args[nd->nargs]) < 0)
            return -1;
        nd->nargs++;
    }
}

static int parse_block(struct parser *ps, struct node **out, size_t *nout, int depth,
                       const struct arg *open)
{
    for (;;) {
        skip_space(ps);
        if (ps->p >= ps->end) {
            if (open)
                return fail(ps->err, open->line, open->col, "'{' is never closed");
            return 0;
        }
        if (*ps->p == '}') {
            if (!open)
                return fail(ps->err, ps->line, ps->col, "unexpected '}'");
            advance(ps);
            return 0;
        }
        if (*ps->p == ';' || *ps->p == '{')
            return fail(ps->err, ps->line, ps->col, "unexpected '%c'", *ps->p);
        if (*nout >= 100000)
            return fail(ps->err, ps->line, ps->col, "too many directives");
        struct node *nk = realloc(*out, (*nout + 1) * sizeof *nk);
        if (!nk)
            return fail(ps->err, ps->line, ps->col, "out of memory");
        *out = nk;
        int rc = parse_stmt(ps, &nk[*nout], depth);
        (*nout)++; /* counted even when partial, so it is freed */
        if (rc < 0)
            return -1;
    }
}

/* ---- values ---- */

static int parse_u64(const char *s, uint64_t *v, const char **end)
{
    uint64_t x = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return -1;
    while (*p >= '0' && *p <= '9') {
        if (x > (UINT64_MAX - 9) / 10)
            return -1;
        x = x * 10 + (uint64_t)(*p++ - '0');
    }
    *v = x;
    *end = p;
    return 0;
}

int sf_parse_duration(const char *s, uint64_t *ms, const char **why)
{
    uint64_t v;
    const char *u;
    if (parse_u64(s, &v, &u) < 0) {
        *why = "expected a duration such as 500ms, 5s, 2m, 1h";
        return -1;
    }
    uint64_t mul;
    if (!strcmp(u, "ms"))
        mul = 1;
    else if (!strcmp(u, "s"))
        mul = 1000;
    else if (!strcmp(u, "m"))
        mul = 60000;
    else if (!strcmp(u, "h"))
        mul = 3600000;
    else if (!*u && v == 0)
        mul = 1;
    else {
        *why = *u ? "unknown duration unit (ms, s, m, h)" : "a duration needs a unit: ms, s, m, h";
        return -1;
    }
    if (v > 30ull * 24 * 3600 * 1000 / mul) {
        *why = "duration too long (30 days at most)";
        return -1;
    }
    *ms = v * mul;
    return 0;
}

int sf_parse_size(const char *s, uint64_t *bytes, const char **why)
{
    uint64_t v;
    const char *u;
    if (parse_u64(s, &v, &u) < 0) {
        *why = "expected a size such as 16k";
        return -1;
    }
    uint64_t mul = 1;
    if (!strcmp(u, "k") || !strcmp(u, "K"))
        mul = 1024;
    else if (!strcmp(u, "m") || !strcmp(u, "M"))
        mul = 1024 * 1024;
    else if (*u) {
        *why = "unknown size unit (k, m)";
        return -1;
    }
    if (v > (1ull << 32) / mul) {
        *why = "size too large";
        return -1;
    }
    *bytes = v * mul;
    return 0;
}

static int arg_count(struct sf_config_error *e, const struct arg *a, uint64_t min, uint64_t max,
                     uint32_t *out)
{
    uint64_t v;
    const char *end;
    if (parse_u64(a->s, &v, &end) < 0 || *end)
        return fail_at(e, a, "expected a number, found '%s'", a->s);
    if (v < min || v > max)
        return fail_at(e, a, "%s is out of range (%llu-%llu)", a->s, (unsigned long long)min,
                       (unsigned long long)max);
    *out = (uint32_t)v;
    return 0;
}

static int arg_duration(struct sf_config_error *e, const struct arg *a, uint64_t min, uint64_t *out)
{
    const char *why;
    if (sf_parse_duration(a->s, out, &why) < 0)
        return fail_at(e, a, "'%s': %s", a->s, why);
    if (*out < min)
        return fail_at(e, a, "'%s' is too short (at least %llums)", a->s, (unsigned long long)min);
    return 0;
}

static int arg_bool(struct sf_config_error *e, const struct arg *a, int *out)
{
    if (!strcmp(a->s, "on"))
        *out = 1;
    else if (!strcmp(a->s, "off"))
        *out = 0;
    else
        return fail_at(e, a, "expected on or off, found '%s'", a->s);
    return 0;
}

static int arg_addr(struct sf_config_error *e, const struct arg *a, struct sf_addr *out)
{
    const char *why;
    if (sf_addr_parse(out, a->s, 1, &why) < 0)
        return fail_at(e, a, "'%s': %s", a->s, why);
    return 0;
}

static int arg_name(struct sf_config_error *e, const struct arg *a, char *out)
{
    size_t n = strlen(a->s);
    if (n == 0 || n >= SF_NAME_MAX)
        return fail_at(e, a, "a name has 1 to %d characters", SF_NAME_MAX - 1);
    for (size_t i = 0; i < n; i++) {
        char c = a->s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return fail_at(e, a, "a name has letters, digits, '_', '-' or '.' only: '%s'", a->s);
    }
    memcpy(out, a->s, n + 1);
    return 0;
}

static int want_args(struct sf_config_error *e, const struct node *n, size_t min, size_t max)
{
    if (n->block)
        return fail_at(e, &n->name, "'%s' takes no block", n->name.s);
    if (n->nargs < min) {
        if (min == max)
            return fail_at(e, &n->name, "'%s' takes %zu argument%s", n->name.s, min,
                           min == 1 ? "" : "s");
        return fail_at(e, &n->name, "'%s' needs at least %zu argument%s", n->name.s, min,
                       min == 1 ? "" : "s");
    }
    if (n->nargs > max)
        return fail_at(e, &n->args[max], "too many arguments to '%s'", n->name.s);
    return 0;
}

static int want_block(struct sf_config_error *e, const struct node *n, size_t nargs)
{
    if (!n->block)
        return fail_at(e, &n->name, "'%s' needs a { } block", n->name.s);
    if (n->nargs != nargs)
        return fail_at(e, n->nargs > nargs ? &n->args[nargs] : &n->name,
                       "'%s' takes %zu argument%s before '{'", n->name.s, nargs,
                       nargs == 1 ? "" : "s");
    return 0;
}

/* ---- profiles ---- */

void sf_profile_defaults(struct sf_profile *p)
{
    memset(p, 0, sizeof *p);
    p->connect_timeout_ms = 5000;     /* HAProxy's documented `timeout connect 5s` */
    p->idle_timeout_ms = 300000;      /* F5 tcp profile Idle Timeout 300 s */
    p->client_fin_timeout_ms = 60000; /* Linux net.ipv4.tcp_fin_timeout 60 s */
    p->server_fin_timeout_ms = 60000; /* the same */
    p->keepalive = 0;                 /* Linux: SO_KEEPALIVE off */
    p->keepalive_idle_ms = 7200000;   /* Linux tcp_keepalive_time 7200 s */
    p->keepalive_interval_ms = 75000; /* Linux tcp_keepalive_intvl 75 s */
    p->keepalive_count = 9;           /* Linux tcp_keepalive_probes 9 */
    p->user_timeout_ms = 0;           /* Linux: TCP_USER_TIMEOUT unset */
    p->nodelay = 1;                   /* nginx tcp_nodelay on, HAProxy sets it too */
    p->defer_accept = 0;              /* Linux and nginx default */
    p->reset_on_timeout = 1;          /* F5 tcp profile Reset On Timeout enabled */
    p->server_close = SF_CLOSE_FIN;   /* a normal close, as the kernel does */
    p->buffer_size = 65536;           /* GSO builds 64 KiB segments: one read and one write each */
}

void sf_profile_sockopts(const struct sf_profile *p, struct sf_sockopts *o)
{
    memset(o, 0, sizeof *o);
    o->nodelay = p->nodelay;
    o->keepalive = p->keepalive;
    o->keepalive_idle_s = (int)(p->keepalive_idle_ms / 1000);
    o->keepalive_intvl_s = (int)(p->keepalive_interval_ms / 1000);
    o->keepalive_cnt = (int)p->keepalive_count;
    o->user_timeout_ms = (int)p->user_timeout_ms;
}

enum ptype { P_DUR, P_DUR_S, P_BOOL, P_COUNT, P_CLOSE, P_SIZE, P_SOURCE };

/* Which side of a session reads a directive: a frontend's profile governs the client
 * connection, a backend's the server connection (docs/config.md, "Profiles"). */
enum pside { SIDE_BOTH, SIDE_CLIENT, SIDE_SERVER };

struct pdir {
    const char *name;
    int type;
    size_t off;
    uint64_t min, max;
    int side; /* enum pside */
};

#define POFF(f) offsetof(struct sf_profile, f)
static const struct pdir pdirs[] = {
    {"connect_timeout", P_DUR, POFF(connect_timeout_ms), 1, 0, SIDE_SERVER},
    {"idle_timeout", P_DUR, POFF(idle_timeout_ms), 1, 0, SIDE_BOTH},
    {"client_fin_timeout", P_DUR, POFF(client_fin_timeout_ms), 1, 0, SIDE_CLIENT},
    {"server_fin_timeout", P_DUR, POFF(server_fin_timeout_ms), 1, 0, SIDE_SERVER},
    {"keepalive", P_BOOL, POFF(keepalive), 0, 0, SIDE_BOTH},
    {"keepalive_idle", P_DUR_S, POFF(keepalive_idle_ms), 1000, 32767000, SIDE_BOTH},
    {"keepalive_interval", P_DUR_S, POFF(keepalive_interval_ms), 1000, 32767000, SIDE_BOTH},
    {"keepalive_count", P_COUNT, POFF(keepalive_count), 1, 127, SIDE_BOTH},
    {"user_timeout", P_DUR, POFF(user_timeout_ms), 0, 0x7fffffff, SIDE_BOTH},
    {"nodelay", P_BOOL, POFF(nodelay), 0, 0, SIDE_BOTH},
    {"defer_accept", P_BOOL, POFF(defer_accept), 0, 0, SIDE_CLIENT},
    {"reset_on_timeout", P_BOOL, POFF(reset_on_timeout), 0, 0, SIDE_BOTH},
    {"server_close", P_CLOSE, POFF(server_close), 0, 0, SIDE_SERVER},
    {"buffer_size", P_SIZE, POFF(buffer_size), 1024, 16 << 20, SIDE_BOTH},
    {"source", P_SOURCE, POFF(sources), 0, 0, SIDE_SERVER},
};
#define NPDIRS (sizeof pdirs / sizeof pdirs[0])

static const struct pdir *find_pdir(const char *name)
{
    for (size_t i = 0; i < NPDIRS; i++)
        if (!strcmp(pdirs[i].name, name))
            return &pdirs[i];
    return NULL;
}

static int parse_source(struct sf_config_error *e, const struct arg *a, struct sf_source *s)
{
    char buf[96];
    const char *why;
    memset(s, 0, sizeof *s);
    if (strlen(a->s) >= sizeof buf)
        return fail_at(e, a, "source address too long");
    strcpy(buf, a->s);
    char *colon = strrchr(buf, ':');
    char *dash = colon ? strchr(colon, '-') : NULL;
    if (dash) {
        *dash = 0;
        uint64_t lo, hi;
        const char *end;
        if (parse_u64(colon + 1, &lo, &end) < 0 || *end || parse_u64(dash + 1, &hi, &end) < 0 ||
            *end || lo == 0 || hi > 65535 || lo > hi)
            return fail_at(e, a, "'%s': port range must be LOW-HIGH within 1-65535", a->s);
        *colon = 0;
        s->port_lo = (uint16_t)lo;
        s->port_hi = (uint16_t)hi;
        if (buf[0] == '[') { /* [v6]:lo-hi */
            size_t hl = strlen(buf);
            if (hl < 3 || buf[hl - 1] != ']')
                return fail_at(e, a, "'%s': bad IPv6 source", a->s);
        }
        /* The brackets stay: without them the address's last ':' would read as a port. */
        if (sf_addr_parse(&s->addr, buf, 0, &why) < 0)
            return fail_at(e, a, "'%s': %s", a->s, why);
        return 0;
    }
    if (sf_addr_parse(&s->addr, buf, 0, &why) < 0)
        return fail_at(e, a, "'%s': %s", a->s, why);
    if (sf_addr_port(&s->addr) != 0) {
        s->port_lo = s->port_hi = sf_addr_port(&s->addr);
    }
    return 0;
}

/* Applies one profile directive to p. Returns 1 if n is not a profile directive. side is
 * the block it is written in: SIDE_BOTH for a profile block (a named profile may serve both
 * sides; each reads what concerns it), SIDE_CLIENT for a frontend, SIDE_SERVER for a backend,
 * where a directive the other side reads would be ignored: an error. */
static int profile_directive(struct sf_config_error *e, const struct node *n, struct sf_profile *p,
                             uint32_t *set, int side)
{
    const struct pdir *d = find_pdir(n->name.s);
    if (!d)
        return 1;
    if (side != SIDE_BOTH && d->side != SIDE_BOTH && d->side != side)
        return fail_at(e, &n->name,
                       d->side == SIDE_SERVER
                           ? "'%s' concerns the connection to the server: it belongs in a "
                             "backend or its profile, not in a frontend"
                           : "'%s' concerns the client connection: it belongs in a frontend or "
                             "its profile, not in a backend",
                       d->name);
    char *f = (char *)p + d->off;
    if (d->type == P_SOURCE) {
        if (want_args(e, n, 1, SF_SOURCES_MAX) < 0)
            return -1;
        for (size_t i = 0; i < n->nargs; i++)
            if (parse_source(e, &n->args[i], &p->sources[i]) < 0)
                return -1;
        p->nsources = (uint32_t)n->nargs;
    } else {
        if (want_args(e, n, 1, 1) < 0)
            return -1;
        const struct arg *a = &n->args[0];
        uint64_t v;
        const char *why;
        switch (d->type) {
        case P_DUR:
        case P_DUR_S:
            if (sf_parse_duration(a->s, &v, &why) < 0)
                return fail_at(e, a, "'%s': %s", a->s, why);
            if (d->type == P_DUR_S && v % 1000)
                return fail_at(e, a, "'%s': whole seconds only (the kernel counts seconds)", a->s);
            if (v < d->min || (d->max && v > d->max))
                return fail_at(e, a, "'%s' is out of range for %s", a->s, d->name);
            memcpy(f, &v, sizeof v);
            break;
        case P_BOOL:
            if (arg_bool(e, a, (int *)(void *)f) < 0)
                return -1;
            break;
        case P_COUNT: {
            uint32_t c;
            if (arg_count(e, a, d->min, d->max, &c) < 0)
                return -1;
            memcpy(f, &c, sizeof c);
            break;
        }
        case P_CLOSE: {
            int m;
            if (!strcmp(a->s, "fin"))
                m = SF_CLOSE_FIN;
            else if (!strcmp(a->s, "rst"))
                m = SF_CLOSE_RST;
            else
                return fail_at(e, a, "expected fin or rst, found '%s'", a->s);
            memcpy(f, &m, sizeof m);
            break;
        }
        case P_SIZE: {
            if (sf_parse_size(a->s, &v, &why) < 0)
                return fail_at(e, a, "'%s': %s", a->s, why);
            if (v < d->min || v > d->max)
                return fail_at(e, a, "'%s' is out of range (1k-16m)", a->s);
            uint32_t c = (uint32_t)v;
            memcpy(f, &c, sizeof c);
            break;
        }
        default: break;
        }
    }
    *set |= 1u << (d - pdirs);
    return 0;
}

static size_t pdir_size(const struct pdir *d)
{
    switch (d->type) {
    case P_DUR:
    case P_DUR_S: return sizeof(uint64_t);
    case P_BOOL:
    case P_CLOSE: return sizeof(int);
    default: return sizeof(uint32_t);
    }
}

/* dst = base, then every directive set inline in `over`. */
static void profile_merge(struct sf_profile *dst, const struct sf_profile *base,
                          const struct sf_profile *over, uint32_t set)
{
    *dst = *base;
    for (size_t i = 0; i < NPDIRS; i++) {
        if (!(set & (1u << i)))
            continue;
        if (pdirs[i].type == P_SOURCE) {
            memcpy(dst->sources, over->sources, sizeof dst->sources);
            dst->nsources = over->nsources;
        } else {
            memcpy((char *)dst + pdirs[i].off, (const char *)over + pdirs[i].off,
                   pdir_size(&pdirs[i]));
        }
    }
}

/* ---- interpretation ---- */

struct pending_ref {
    const struct arg *profile; /* `profile NAME;` inside the block, or NULL */
    struct sf_profile inline_p;
    uint32_t set;
};

static int find_profile(struct sf_config *c, struct sf_config_error *e, const struct arg *a,
                        const struct sf_profile **out)
{
    for (size_t i = 0; i < c->nprofiles; i++)
        if (!strcmp(c->profiles[i].name, a->s)) {
            *out = &c->profiles[i].p;
            return 0;
        }
    return fail_at(e, a, "unknown profile '%s'", a->s);
}

static int resolve_profile(struct sf_config *c, struct sf_config_error *e,
                           const struct pending_ref *r, struct sf_profile *out)
{
    struct sf_profile defaults;
    const struct sf_profile *base = &defaults;
    sf_profile_defaults(&defaults);
    if (r->profile && find_profile(c, e, r->profile, &base) < 0)
        return -1;
    profile_merge(out, base, &r->inline_p, r->set);
    return 0;
}

static int parse_profile_block(struct sf_config *c, struct sf_config_error *e, const struct node *n)
{
    if (want_block(e, n, 1) < 0)
        return -1;
    struct sf_profile_conf pc;
    memset(&pc, 0, sizeof pc);
    if (arg_name(e, &n->args[0], pc.name) < 0)
        return -1;
    for (size_t i = 0; i < c->nprofiles; i++)
        if (!strcmp(c->profiles[i].name, pc.name))
            return fail_at(e, &n->args[0], "profile '%s' is defined twice", pc.name);
    sf_profile_defaults(&pc.p);
    uint32_t set = 0;
    for (size_t i = 0; i < n->nkids; i++) {
        int rc = profile_directive(e, &n->kids[i], &pc.p, &set, SIDE_BOTH);
        if (rc < 0)
            return -1;
        if (rc > 0)
            return fail_at(e, &n->kids[i].name, "unknown directive '%s' in profile",
                           n->kids[i].name.s);
    }
    struct sf_profile_conf *np = realloc(c->profiles, (c->nprofiles + 1) * sizeof *np);
    if (!np)
        return fail_at(e, &n->name, "out of memory");
    c->profiles = np;
    c->profiles[c->nprofiles++] = pc;
    return 0;
}

static int parse_check(struct sf_config_error *e, const struct node *n, struct sf_check_conf *k)
{
    if (want_block(e, n, 0) < 0)
        return -1;
    k->type = SF_CHECK_TCP;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct node *d = &n->kids[i];
        const char *nm = d->name.s;
        if (want_args(e, d, 1, 1) < 0)
            return -1;
        const struct arg *a = &d->args[0];
        if (!strcmp(nm, "type")) {
            if (!strcmp(a->s, "tcp"))
                k->type = SF_CHECK_TCP;
            else if (!strcmp(a->s, "http"))
                k->type = SF_CHECK_HTTP;
            else if (!strcmp(a->s, "none"))
                k->type = SF_CHECK_NONE;
            else
                return fail_at(e, a, "expected tcp, http or none, found '%s'", a->s);
        } else if (!strcmp(nm, "uri")) {
            if (a->s[0] != '/' || strlen(a->s) >= sizeof k->uri || strpbrk(a->s, " \r\n"))
                return fail_at(e, a, "uri starts with '/', has no spaces, under %zu bytes",
                               sizeof k->uri);
            strcpy(k->uri, a->s);
        } else if (!strcmp(nm, "host")) {
            if (strlen(a->s) >= sizeof k->host || strpbrk(a->s, " \r\n"))
                return fail_at(e, a, "bad host header value");
            strcpy(k->host, a->s);
        } else if (!strcmp(nm, "expect")) {
            uint32_t v;
            if (arg_count(e, a, 100, 599, &v) < 0)
                return -1;
            k->expect = (int)v;
        } else if (!strcmp(nm, "interval")) {
            if (arg_duration(e, a, 10, &k->interval_ms) < 0)
                return -1;
        } else if (!strcmp(nm, "timeout")) {
            if (arg_duration(e, a, 1, &k->timeout_ms) < 0)
                return -1;
        } else if (!strcmp(nm, "rise")) {
            if (arg_count(e, a, 1, 1000, &k->rise) < 0)
                return -1;
        } else if (!strcmp(nm, "fall")) {
            if (arg_count(e, a, 1, 1000, &k->fall) < 0)
                return -1;
        } else {
            return fail_at(e, &d->name, "unknown directive '%s' in check", nm);
        }
    }
    return 0;
}

static int is_prime(uint32_t n)
{
    if (n < 2)
        return 0;
    for (uint32_t d = 2; (uint64_t)d * d <= n; d++)
        if (n % d == 0)
            return 0;
    return 1;
}

static int parse_server(struct sf_config_error *e, const struct node *d, struct sf_server_conf *s)
{
    if (want_args(e, d, 2, 7) < 0)
        return -1;
    memset(s, 0, sizeof *s);
    s->weight = 1;
    if (arg_name(e, &d->args[0], s->name) < 0 || arg_addr(e, &d->args[1], &s->addr) < 0)
        return -1;
    for (size_t j = 2; j < d->nargs; j++) {
        const struct arg *a = &d->args[j];
        if (!strcmp(a->s, "backup")) {
            s->backup = 1;
        } else if (!strcmp(a->s, "weight") || !strcmp(a->s, "maxconn")) {
            if (j + 1 >= d->nargs)
                return fail_at(e, a, "'%s' needs a value", a->s);
            uint32_t *v = a->s[0] == 'w' ? &s->weight : &s->maxconn;
            if (arg_count(e, &d->args[j + 1], a->s[0] == 'w' ? 1 : 0,
                          a->s[0] == 'w' ? 1000 : 1000000, v) < 0)
                return -1;
            j++;
        } else {
            return fail_at(e, a, "unknown server option '%s' (weight, maxconn, backup)", a->s);
        }
    }
    return 0;
}

static int parse_backend(struct sf_config *c, struct sf_config_error *e, const struct node *n,
                         struct pending_ref *ref)
{
    if (want_block(e, n, 1) < 0)
        return -1;
    struct sf_backend_conf *b = &c->backends[c->nbackends];
    memset(b, 0, sizeof *b);
    c->nbackends++;
    if (arg_name(e, &n->args[0], b->name) < 0)
        return -1;
    for (size_t i = 0; i + 1 < c->nbackends; i++)
        if (!strcmp(c->backends[i].name, b->name))
            return fail_at(e, &n->args[0], "backend '%s' is defined twice", b->name);
    b->balance = SF_BAL_ROUNDROBIN;
    b->maglev_size = 65537;      /* the Maglev paper's table size */
    b->retries = 3;              /* HAProxy `retries 3` */
    b->queue_timeout_ms = 5000;  /* HAProxy: timeout queue defaults to timeout connect */
    b->max_fails = 1;            /* nginx max_fails=1 */
    b->fail_timeout_ms = 10000;  /* nginx fail_timeout=10s */
    b->check.interval_ms = 2000; /* HAProxy inter 2s */
    b->check.timeout_ms = 1000;
    b->check.rise = 2; /* HAProxy rise 2 */
    b->check.fall = 3; /* HAProxy fall 3 */
    b->check.expect = 200;
    strcpy(b->check.uri, "/");
    const struct arg *maglev_arg = NULL;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct node *d = &n->kids[i];
        const char *nm = d->name.s;
        int rc = profile_directive(e, d, &ref->inline_p, &ref->set, SIDE_SERVER);
        if (rc < 0)
            return -1;
        if (rc == 0)
            continue;
        if (!strcmp(nm, "server")) {
            if (b->nservers >= 4096)
                return fail_at(e, &d->name, "too many servers (4096 at most)");
            struct sf_server_conf *ns = realloc(b->servers, (b->nservers + 1) * sizeof *ns);
            if (!ns)
                return fail_at(e, &d->name, "out of memory");
            b->servers = ns;
            if (parse_server(e, d, &ns[b->nservers]) < 0)
                return -1;
            for (size_t j = 0; j < b->nservers; j++)
                if (!strcmp(ns[j].name, ns[b->nservers].name))
                    return fail_at(e, &d->args[0], "server '%s' is defined twice in backend",
                                   ns[j].name);
            b->nservers++;
        } else if (!strcmp(nm, "check")) {
            if (parse_check(e, d, &b->check) < 0)
                return -1;
        } else if (!strcmp(nm, "profile")) {
            if (want_args(e, d, 1, 1) < 0)
                return -1;
            ref->profile = &d->args[0];
        } else if (want_args(e, d, 1, 1) < 0) {
            return -1;
        } else if (!strcmp(nm, "balance")) {
            const char *v = d->args[0].s;
            if (!strcmp(v, "roundrobin"))
                b->balance = SF_BAL_ROUNDROBIN;
            else if (!strcmp(v, "leastconn"))
                b->balance = SF_BAL_LEASTCONN;
            else if (!strcmp(v, "source"))
                b->balance = SF_BAL_SOURCE;
            else if (!strcmp(v, "maglev"))
                b->balance = SF_BAL_MAGLEV;
            else
                return fail_at(e, &d->args[0],
                               "unknown balance '%s' (roundrobin, leastconn, source, maglev)", v);
        } else if (!strcmp(nm, "maglev_table_size")) {
            if (arg_count(e, &d->args[0], 7, 1000003, &b->maglev_size) < 0)
                return -1;
            if (!is_prime(b->maglev_size))
                return fail_at(e, &d->args[0], "maglev_table_size must be prime (%u is not)",
                               b->maglev_size);
            maglev_arg = &d->args[0];
        } else if (!strcmp(nm, "retries")) {
            if (arg_count(e, &d->args[0], 0, 100, &b->retries) < 0)
                return -1;
        } else if (!strcmp(nm, "queue_timeout")) {
            if (arg_duration(e, &d->args[0], 1, &b->queue_timeout_ms) < 0)
                return -1;
        } else if (!strcmp(nm, "max_fails")) {
            if (arg_count(e, &d->args[0], 0, 1000, &b->max_fails) < 0)
                return -1;
        } else if (!strcmp(nm, "fail_timeout")) {
            if (arg_duration(e, &d->args[0], 1, &b->fail_timeout_ms) < 0)
                return -1;
        } else {
            return fail_at(e, &d->name, "unknown directive '%s' in backend", nm);
        }
    }
    if (b->nservers == 0)
        return fail_at(e, &n->args[0], "backend '%s' has no server", b->name);
    if (maglev_arg && b->maglev_size < b->nservers)
        return fail_at(e, maglev_arg, "maglev_table_size must exceed the number of servers");
    if (b->check.timeout_ms > b->check.interval_ms)
        b->check.timeout_ms = b->check.interval_ms;
    return 0;
}

static int parse_frontend(struct sf_config *c, struct sf_config_error *e, const struct node *n,
                          struct pending_ref *ref, const struct arg **backend_ref)
{
    if (want_block(e, n, 1) < 0)
        return -1;
    struct sf_frontend_conf *f = &c->frontends[c->nfrontends];
    memset(f, 0, sizeof *f);
    c->nfrontends++;
    if (arg_name(e, &n->args[0], f->name) < 0)
        return -1;
    for (size_t i = 0; i + 1 < c->nfrontends; i++)
        if (!strcmp(c->frontends[i].name, f->name))
            return fail_at(e, &n->args[0], "frontend '%s' is defined twice", f->name);
    f->backlog = 511;  /* nginx and Redis default backlog */
    f->maxconn = 4096; /* well under the descriptor limit: two per session */
    int have_listen = 0;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct node *d = &n->kids[i];
        const char *nm = d->name.s;
        int rc = profile_directive(e, d, &ref->inline_p, &ref->set, SIDE_CLIENT);
        if (rc < 0)
            return -1;
        if (rc == 0)
            continue;
        if (want_args(e, d, 1, 1) < 0)
            return -1;
        const struct arg *a = &d->args[0];
        if (!strcmp(nm, "listen")) {
            if (arg_addr(e, a, &f->listen) < 0)
                return -1;
            have_listen = 1;
        } else if (!strcmp(nm, "backlog")) {
            uint32_t v;
            if (arg_count(e, a, 1, 65535, &v) < 0)
                return -1;
            f->backlog = (int)v;
        } else if (!strcmp(nm, "reuseport")) {
            if (arg_bool(e, a, &f->reuseport) < 0)
                return -1;
        } else if (!strcmp(nm, "maxconn")) {
            if (arg_count(e, a, 1, 1000000, &f->maxconn) < 0)
                return -1;
        } else if (!strcmp(nm, "backend")) {
            *backend_ref = a;
        } else if (!strcmp(nm, "profile")) {
            ref->profile = a;
        } else {
            return fail_at(e, &d->name, "unknown directive '%s' in frontend", nm);
        }
    }
    if (!have_listen)
        return fail_at(e, &n->args[0], "frontend '%s' has no 'listen'", f->name);
    if (!*backend_ref)
        return fail_at(e, &n->args[0], "frontend '%s' has no 'backend'", f->name);
    return 0;
}

static int parse_respond(struct sf_config *c, struct sf_config_error *e, const struct node *n)
{
    if (want_args(e, n, 2, 2) < 0)
        return -1;
    struct sf_respond_conf r;
    memset(&r, 0, sizeof r);
    if (arg_addr(e, &n->args[0], &r.listen) < 0)
        return -1;
    if (strlen(n->args[1].s) > 65536)
        return fail_at(e, &n->args[1], "respond body too long (64 KiB at most)");
    r.body = strdup(n->args[1].s);
    struct sf_respond_conf *nr = realloc(c->responds, (c->nresponds + 1) * sizeof *nr);
    if (!r.body || !nr) {
        free(r.body);
        if (nr)
            c->responds = nr;
        return fail_at(e, &n->name, "out of memory");
    }
    c->responds = nr;
    c->responds[c->nresponds++] = r;
    return 0;
}

static int check_listen_unique(struct sf_config *c, struct sf_config_error *e,
                               const struct node *top, size_t ntop)
{
    /* Collect every listening address with its position, then look for duplicates. */
    struct {
        const struct sf_addr *a;
        const struct arg *at;
    } seen[512];
    size_t ns = 0;
    size_t fi = 0, ri = 0;
    for (size_t i = 0; i < ntop && ns < 512; i++) {
        const struct node *n = &top[i];
        const struct sf_addr *a = NULL;
        const struct arg *at = NULL;
        if (!strcmp(n->name.s, "frontend")) {
            a = &c->frontends[fi++].listen;
            at = &n->args[0];
            for (size_t k = 0; k < n->nkids; k++)
                if (!strcmp(n->kids[k].name.s, "listen"))
                    at = &n->kids[k].args[0];
        } else if (!strcmp(n->name.s, "respond")) {
            a = &c->responds[ri++].listen;
            at = &n->args[0];
        } else if (!strcmp(n->name.s, "admin")) {
            a = &c->admin;
            at = &n->args[0];
        }
        if (!a)
            continue;
        for (size_t j = 0; j < ns; j++)
            if (sf_addr_equal(seen[j].a, a)) {
                fail_at(e, at, "address '%s' is already used", at->s);
                e->ref_line = seen[j].at->line;
                return -1;
            }
        seen[ns].a = a;
        seen[ns].at = at;
        ns++;
    }
    return 0;
}

static int interpret(struct sf_config *c, struct sf_config_error *e, const struct node *top,
                     size_t ntop)
{
    size_t nf = 0, nb = 0;
    c->log_target = SF_LOG_STDERR;
    c->drain_timeout_ms = 30000; /* Kubernetes terminationGracePeriodSeconds 30 s */
    /* Profiles first: frontends and backends may name a profile defined below them. */
    for (size_t i = 0; i < ntop; i++) {
        if (!strcmp(top[i].name.s, "profile") && parse_profile_block(c, e, &top[i]) < 0)
            return -1;
        nf += !strcmp(top[i].name.s, "frontend");
        nb += !strcmp(top[i].name.s, "backend");
    }
    c->frontends = calloc(nf ? nf : 1, sizeof *c->frontends);
    c->backends = calloc(nb ? nb : 1, sizeof *c->backends);
    struct pending_ref *fref = calloc(nf ? nf : 1, sizeof *fref);
    struct pending_ref *bref = calloc(nb ? nb : 1, sizeof *bref);
    const struct arg **bnames = calloc(nf ? nf : 1, sizeof *bnames);
    int rc = -1;
    if (!c->frontends || !c->backends || !fref || !bref || !bnames) {
        fail(e, 0, 0, "out of memory");
        goto out;
    }
    int have_log = 0, have_drain = 0;
    for (size_t i = 0; i < ntop; i++) {
        const struct node *n = &top[i];
        const char *nm = n->name.s;
        if (!strcmp(nm, "profile")) {
            continue;
        } else if (!strcmp(nm, "frontend")) {
            if (parse_frontend(c, e, n, &fref[c->nfrontends], &bnames[c->nfrontends]) < 0)
                goto out;
        } else if (!strcmp(nm, "backend")) {
            if (parse_backend(c, e, n, &bref[c->nbackends]) < 0)
                goto out;
        } else if (!strcmp(nm, "respond")) {
            if (parse_respond(c, e, n) < 0)
                goto out;
        } else if (!strcmp(nm, "admin")) {
            if (want_args(e, n, 1, 1) < 0 || arg_addr(e, &n->args[0], &c->admin) < 0)
                goto out;
            if (c->has_admin) {
                fail_at(e, &n->name, "'admin' is given twice");
                goto out;
            }
            c->has_admin = 1;
        } else if (!strcmp(nm, "log")) {
            if (want_args(e, n, 1, 1) < 0)
                goto out;
            if (have_log++) {
                fail_at(e, &n->name, "'log' is given twice");
                goto out;
            }
            const char *v = n->args[0].s;
            if (!strcmp(v, "stderr"))
                c->log_target = SF_LOG_STDERR;
            else if (!strcmp(v, "stdout"))
                c->log_target = SF_LOG_STDOUT;
            else if (!strcmp(v, "off"))
                c->log_target = SF_LOG_OFF;
            else if (v[0] == '/' && strlen(v) < sizeof c->log_path) {
                c->log_target = SF_LOG_FILE;
                strcpy(c->log_path, v);
            } else {
                fail_at(e, &n->args[0], "log takes stderr, stdout, off or an absolute path");
                goto out;
            }
        } else if (!strcmp(nm, "drain_timeout")) {
            if (want_args(e, n, 1, 1) < 0 ||
                arg_duration(e, &n->args[0], 0, &c->drain_timeout_ms) < 0)
                goto out;
            if (have_drain++) {
                fail_at(e, &n->name, "'drain_timeout' is given twice");
                goto out;
            }
        } else {
            fail_at(e, &n->name, "unknown directive '%s'", nm);
            goto out;
        }
    }
    if (c->nfrontends == 0 && c->nresponds == 0) {
        fail(e, 1, 1, "nothing to run: no frontend and no respond");
        goto out;
    }
    for (size_t i = 0; i < c->nfrontends; i++) {
        size_t j;
        for (j = 0; j < c->nbackends; j++)
            if (!strcmp(c->backends[j].name, bnames[i]->s))
                break;
        if (j == c->nbackends) {
            fail_at(e, bnames[i], "unknown backend '%s'", bnames[i]->s);
            goto out;
        }
        c->frontends[i].backend = j;
        if (resolve_profile(c, e, &fref[i], &c->frontends[i].profile) < 0)
            goto out;
    }
    for (size_t i = 0; i < c->nbackends; i++)
        if (resolve_profile(c, e, &bref[i], &c->backends[i].profile) < 0)
            goto out;
    if (check_listen_unique(c, e, top, ntop) < 0)
        goto out;
    rc = 0;
out:
    free(fref);
    free(bref);
    free(bnames);
    return rc;
}

void sf_config_free(struct sf_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nbackends; i++)
        free(c->backends[i].servers);
    for (size_t i = 0; i < c->nresponds; i++)
        free(c->responds[i].body);
    free(c->backends);
    free(c->frontends);
    free(c->profiles);
    free(c->responds);
    free(c);
}

struct sf_config *sf_config_parse(const char *text, size_t len, struct sf_config_error *err)
{
    memset(err, 0, sizeof *err);
    for (size_t i = 0; i < len; i++)
        if (text[i] == 0) {
            fail(err, 0, 0, "the file contains a NUL byte");
            return NULL;
        }
    struct parser ps = {text, text + len, 1, 1, err};
    struct node *top = NULL;
    size_t ntop = 0;
    struct sf_config *c = NULL;
    if (parse_block(&ps, &top, &ntop, 0, NULL) == 0) {
        c = calloc(1, sizeof *c);
        if (!c)
            fail(err, 0, 0, "out of memory");
        else if (interpret(c, err, top, ntop) < 0) {
            sf_config_free(c);
            c = NULL;
        }
    }
    free_nodes(top, ntop);
    return c;
}

struct sf_config *sf_config_load(const char *path, char *buf, size_t buflen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(buf, buflen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *text = malloc(cap);
    while (text) {
        size_t r = fread(text + n, 1, cap - n, f);
        n += r;
        if (n < cap)
            break;
        if (cap >= (16u << 20)) {
            free(text);
            fclose(f);
            snprintf(buf, buflen, "%s: larger than 16 MiB", path);
            return NULL;
        }
        char *nt = realloc(text, cap * 2);
        if (!nt) {
            free(text);
            text = NULL;
            break;
        }
        text = nt;
        cap *= 2;
    }
    int rerr = ferror(f);
    fclose(f);
    if (!text || rerr) {
        free(text);
        snprintf(buf, buflen, "%s: %s", path, text ? "read error" : "out of memory");
        return NULL;
    }
    struct sf_config_error e;
    struct sf_config *c = sf_config_parse(text, n, &e);
    free(text);
    if (!c)
        sf_config_error_format(&e, path, buf, buflen);
    return c;
}

void sf_config_error_format(const struct sf_config_error *e, const char *name, char *buf,
                            size_t buflen)
{
    char ref[32] = "";
    if (e->ref_line > 0)
        snprintf(ref, sizeof ref, " at line %d", e->ref_line);
    if (e->line)
        snprintf(buf, buflen, "%s:%d:%d: %s%s", name, e->line, e->col, e->msg, ref);
    else
        snprintf(buf, buflen, "%s: %s%s", name, e->msg, ref);
}

const char *sf_balance_name(int b)
{
    static const char *const names[] = {"roundrobin", "leastconn", "source", "maglev"};
    return b >= 0 && b < 4 ? names[b] : "?";
}
