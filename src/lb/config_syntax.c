/* Config syntax: words, quoted strings, `;`, `{ }` and comments into a tree of directives,
 * each word with its line and column. It knows no directive (config.c does). */
#include "lb/config_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
    const char *p, *end;
    int line, col;
    struct lb_config_error *err;
};

int lb_conf_fail(struct lb_config_error *e, int line, int col, const char *fmt, ...)
{
    va_list ap;
    e->line = line;
    e->col = col;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int lb_conf_fail_at(struct lb_config_error *e, const struct arg *a, const char *fmt, ...)
{
    va_list ap;
    e->line = a->line;
    e->col = a->col;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int lb_conf_once(struct lb_config_error *e, const struct node *kids, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (!strcmp(kids[j].name.s, kids[i].name.s)) {
            lb_conf_fail_at(e, &kids[i].name, "duplicate '%s'", kids[i].name.s);
            e->ref_line = kids[j].name.line;
            e->ref_col = kids[j].name.col;
            return -1;
        }
    return 0;
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
            return lb_conf_fail(ps->err, ps->line, ps->col, "out of memory");
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
        return lb_conf_fail(ps->err, ps->line, ps->col, "out of memory");
    if (*ps->p == '"') {
        advance(ps);
        for (;;) {
            if (ps->p >= ps->end || *ps->p == '\n') {
                free(s);
                return lb_conf_fail(ps->err, a->line, a->col, "unterminated string");
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
                    return lb_conf_fail(ps->err, a->line, a->col, "unterminated string");
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
                    return lb_conf_fail(ps->err, ps->line, ps->col - 1, "unknown escape '\\%c'", c);
                }
            } else if (c == 0) {
                free(s);
                return lb_conf_fail(ps->err, ps->line, ps->col, "NUL byte in string");
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
                return lb_conf_fail(ps->err, ps->line, ps->col, "control character 0x%02x", c);
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

void lb_conf_free_nodes(struct node *kids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kids[i].name.s);
        for (size_t j = 0; j < kids[i].nargs; j++)
            free(kids[i].args[j].s);
        free(kids[i].args);
        lb_conf_free_nodes(kids[i].kids, kids[i].nkids);
    }
    free(kids);
}

static int parse_block(struct parser *ps, struct node **out, size_t *nout, int depth,
                       const struct arg *open);

static int parse_stmt(struct parser *ps, struct node *nd, int depth)
{
    memset(nd, 0, sizeof *nd);
    if (*ps->p == '"')
        return lb_conf_fail(ps->err, ps->line, ps->col,
                            "expected a directive name, found a string");
    if (read_token(ps, &nd->name) < 0)
        return -1;
    for (;;) {
        skip_space(ps);
        if (ps->p >= ps->end)
            return lb_conf_fail(ps->err, nd->name.line, nd->name.col,
                                "'%s' is not terminated by ';' or '{'", nd->name.s);
        char c = *ps->p;
        if (c == ';') {
            advance(ps);
            return 0;
        }
        if (c == '}')
            return lb_conf_fail(ps->err, ps->line, ps->col, "expected ';' before '}'");
        if (c == '{') {
            struct arg open = {NULL, ps->line, ps->col};
            advance(ps);
            nd->block = 1;
            if (depth >= 4)
                return lb_conf_fail(ps->err, open.line, open.col, "blocks nested too deeply");
            return parse_block(ps, &nd->kids, &nd->nkids, depth + 1, &open);
        }
        if (nd->nargs >= 64)
            return lb_conf_fail(ps->err, ps->line, ps->col, "too many arguments");
        struct arg *na = realloc(nd->args, (nd->nargs + 1) * sizeof *na);
        if (!na)
            return lb_conf_fail(ps->err, ps->line, ps->col, "out of memory");
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
                return lb_conf_fail(ps->err, open->line, open->col, "'{' is never closed");
            return 0;
        }
        if (*ps->p == '}') {
            if (!open)
                return lb_conf_fail(ps->err, ps->line, ps->col, "unexpected '}'");
            advance(ps);
            return 0;
        }
        if (*ps->p == ';' || *ps->p == '{')
            return lb_conf_fail(ps->err, ps->line, ps->col, "unexpected '%c'", *ps->p);
        if (*nout >= 100000)
            return lb_conf_fail(ps->err, ps->line, ps->col, "too many directives");
        struct node *nk = realloc(*out, (*nout + 1) * sizeof *nk);
        if (!nk)
            return lb_conf_fail(ps->err, ps->line, ps->col, "out of memory");
        *out = nk;
        int rc = parse_stmt(ps, &nk[*nout], depth);
        (*nout)++; /* counted even when partial, so it is freed */
        if (rc < 0)
            return -1;
    }
}

int lb_conf_parse_tree(const char *text, size_t len, struct lb_config_error *err, struct node **top,
                       size_t *ntop)
{
    struct parser ps = {text, text + len, 1, 1, err};
    *top = NULL;
    *ntop = 0;
    return parse_block(&ps, top, ntop, 0, NULL);
}
