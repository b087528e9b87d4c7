/* Config values: numbers, durations, sizes, addresses, names, and the argument counts of a
 * directive, each rejected with the position of the word at fault. */
#include "lb/config_int.h"

#include <stdio.h>
#include <string.h>

/* -1: not a number; -2: a number too large for 64 bits (still read to its end, so that
 * the caller can tell "out of range" from "not a number"). */
int lb_conf_parse_u64(const char *s, uint64_t *v, const char **end)
{
    uint64_t x = 0;
    const char *p = s;
    int over = 0;
    if (*p < '0' || *p > '9')
        return -1;
    while (*p >= '0' && *p <= '9') {
        if (x > (UINT64_MAX - 9) / 10)
            over = 1;
        x = x * 10 + (uint64_t)(*p++ - '0');
    }
    *v = over ? UINT64_MAX : x;
    *end = p;
    return over ? -2 : 0;
}

int lb_parse_duration(const char *s, uint64_t *ms, const char **why)
{
    uint64_t v;
    const char *u;
    if (lb_conf_parse_u64(s, &v, &u) == -1) {
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

int lb_parse_size(const char *s, uint64_t *bytes, const char **why)
{
    uint64_t v;
    const char *u;
    if (lb_conf_parse_u64(s, &v, &u) == -1) {
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

int lb_conf_arg_count(struct lb_config_error *e, const struct arg *a, uint64_t min, uint64_t max,
                      uint32_t *out)
{
    uint64_t v;
    const char *end;
    int rc = lb_conf_parse_u64(a->s, &v, &end);
    if (rc == -1 || *end)
        return lb_conf_fail_at(e, a, "expected a number, found '%s'", a->s);
    if (v < min || v > max) /* an overflow (rc -2) reads as UINT64_MAX */
        return lb_conf_fail_at(e, a, "%s is out of range (%llu-%llu)", a->s,
                               (unsigned long long)min, (unsigned long long)max);
    *out = (uint32_t)v;
    return 0;
}

int lb_conf_arg_duration(struct lb_config_error *e, const struct arg *a, uint64_t min,
                         uint64_t *out)
{
    const char *why;
    if (lb_parse_duration(a->s, out, &why) < 0)
        return lb_conf_fail_at(e, a, "'%s': %s", a->s, why);
    if (*out < min)
        return lb_conf_fail_at(e, a, "'%s' is too short (at least %llums)", a->s,
                               (unsigned long long)min);
    return 0;
}

int lb_conf_arg_bool(struct lb_config_error *e, const struct arg *a, int *out)
{
    if (!strcmp(a->s, "on"))
        *out = 1;
    else if (!strcmp(a->s, "off"))
        *out = 0;
    else
        return lb_conf_fail_at(e, a, "expected on or off, found '%s'", a->s);
    return 0;
}

/* An address to listen on or connect to: port 0 would let the kernel pick a listening
 * port nobody knows, or connect nowhere. */
int lb_conf_arg_addr(struct lb_config_error *e, const struct arg *a, struct lb_addr *out,
                     struct lb_pos *pos)
{
    const char *why;
    if (lb_addr_parse(out, a->s, 1, &why) < 0)
        return lb_conf_fail_at(e, a, "'%s': %s", a->s, why);
    if (lb_addr_port(out) == 0)
        return lb_conf_fail_at(e, a, "'%s': port 0 is not a port (1-65535)", a->s);
    pos->line = a->line;
    pos->col = a->col;
    return 0;
}

int lb_conf_arg_name(struct lb_config_error *e, const struct arg *a, char *out)
{
    size_t n = strlen(a->s);
    if (n == 0 || n >= LB_NAME_MAX)
        return lb_conf_fail_at(e, a, "a name has 1 to %d characters", LB_NAME_MAX - 1);
    for (size_t i = 0; i < n; i++) {
        char c = a->s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return lb_conf_fail_at(e, a, "a name has letters, digits, '_', '-' or '.' only: '%s'",
                                   a->s);
    }
    memcpy(out, a->s, n + 1);
    return 0;
}

int lb_conf_want_args(struct lb_config_error *e, const struct node *n, size_t min, size_t max)
{
    if (n->block)
        return lb_conf_fail_at(e, &n->name, "'%s' takes no block", n->name.s);
    if (n->nargs < min) {
        if (min == max)
            return lb_conf_fail_at(e, &n->name, "'%s' takes %zu argument%s", n->name.s, min,
                                   min == 1 ? "" : "s");
        return lb_conf_fail_at(e, &n->name, "'%s' needs at least %zu argument%s", n->name.s, min,
                               min == 1 ? "" : "s");
    }
    if (n->nargs > max)
        return lb_conf_fail_at(e, &n->args[max], "too many arguments to '%s'", n->name.s);
    return 0;
}

int lb_conf_want_block(struct lb_config_error *e, const struct node *n, size_t nargs)
{
    if (!n->block)
        return lb_conf_fail_at(e, &n->name, "'%s' needs a { } block", n->name.s);
    if (n->nargs != nargs)
        return lb_conf_fail_at(e, n->nargs > nargs ? &n->args[nargs] : &n->name,
                               "'%s' takes %zu argument%s before '{'", n->name.s, nargs,
                               nargs == 1 ? "" : "s");
    return 0;
}
