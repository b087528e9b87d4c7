/* System call lines: the call, its argument expressions, the result, errno and note. */
#include "parse_int.h"

#include <stdio.h>
#include <string.h>

/* ---- expressions ---------------------------------------------------------------------------- */

static struct dr_expr *expr_or(struct parser *p);

static struct dr_expr *new_expr(struct parser *p, enum dr_expr_kind kind, struct dr_pos pos)
{
    struct dr_expr *e = dp_alloc(p, sizeof *e);
    if (e) {
        e->kind = kind;
        e->pos = pos;
    }
    return e;
}

/* Items up to the closing character, separated by commas. */
static int expr_items(struct parser *p, char close, struct dr_expr *e)
{
    size_t cap = 0;
    if (is_punct(tok(p), close)) {
        p->i++;
        return 0;
    }
    for (;;) {
        struct dr_expr *item = expr_or(p);
        if (!item)
            return -1;
        if (e->n == cap) {
            cap = cap ? cap * 2 : 4;
            struct dr_expr **v = dp_alloc(p, cap * sizeof *v);
            if (!v)
                return -1;
            if (e->n)
                memcpy(v, e->items, e->n * sizeof *v);
            e->items = v;
        }
        e->items[e->n++] = item;
        if (is_punct(tok(p), ',')) {
            p->i++;
            continue;
        }
        char where[32];
        snprintf(where, sizeof where, "or ',' in the list");
        return dp_expect_punct(p, close, where);
    }
}

/* Undoes backslash escapes of a string token, appending to buf. */
static size_t unescape(const char *s, size_t n, char *buf)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n) {
            c = s[++i];
            switch (c) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case '0': c = '\0'; break;
            case 'x': { /* \xHH, as C: binary keys (TCP_FASTOPEN_KEY) are written so */
                int v = 0, k = 0;
                while (k < 2 && i + 1 < n && dp_hex_digit(s[i + 1]) >= 0)
                    v = v * 16 + dp_hex_digit(s[++i]), k++;
                c = k ? (char)v : 'x';
                break;
            }
            default: break;
            }
        }
        buf[o++] = c;
    }
    return o;
}

static struct dr_expr *expr_string(struct parser *p)
{
    struct dr_expr *e = new_expr(p, DR_X_STRING, tok(p)->pos);
    if (!e)
        return NULL;
    size_t total = 0;
    for (size_t k = p->i; p->t[k].kind == DR_T_STRING; k++)
        total += p->t[k].len;
    char *buf = dp_alloc(p, total + 1);
    if (!buf)
        return NULL;
    size_t o = 0;
    while (tok(p)->kind == DR_T_STRING) {
        o += unescape(tok(p)->text, tok(p)->len, buf + o);
        p->i++;
    }
    buf[o] = 0;
    e->text = buf;
    if (tok(p)->kind == DR_T_ELLIPSIS) {
        e->string_ellipsis = 1;
        p->i++;
    }
    return e;
}

static struct dr_expr *expr_primary(struct parser *p)
{
    const struct dr_token *t = tok(p);
    struct dr_expr *e;
    switch (t->kind) {
    case DR_T_ELLIPSIS: p->i++; return new_expr(p, DR_X_ELLIPSIS, t->pos);
    case DR_T_INT:
        p->i++;
        e = new_expr(p, DR_X_INT, t->pos);
        if (e)
            e->num = t->num;
        return e;
    case DR_T_STRING: return expr_string(p);
    case DR_T_WORD:
        p->i++;
        if (is_punct(tok(p), '(')) {
            p->i++;
            e = new_expr(p, DR_X_CALL, t->pos);
            if (!e || !(e->text = dp_copy(p, t->text, t->len)) || expr_items(p, ')', e) < 0)
                return NULL;
            if (!is_punct(tok(p), '='))
                return e;
            /* msghdr's "msg_name(...)=..." and "msg_iov(1)=[...]": a field with an argument */
            p->i++;
            struct dr_expr *a = new_expr(p, DR_X_ASSIGN, t->pos);
            if (!a || !(a->rhs = expr_or(p)))
                return NULL;
            a->text = e->text;
            a->lhs = e;
            return a;
        }
        if (is_punct(tok(p), '=')) {
            p->i++;
            e = new_expr(p, DR_X_ASSIGN, t->pos);
            if (!e || !(e->text = dp_copy(p, t->text, t->len)) || !(e->rhs = expr_or(p)))
                return NULL;
            return e;
        }
        e = new_expr(p, DR_X_WORD, t->pos);
        if (!e || !(e->text = dp_copy(p, t->text, t->len)))
            return NULL;
        return e;
    case DR_T_PUNCT:
        if (t->punct == '[' || t->punct == '{') {
            p->i++;
            e = new_expr(p, t->punct == '[' ? DR_X_LIST : DR_X_STRUCT, t->pos);
            if (!e || expr_items(p, t->punct == '[' ? ']' : '}', e) < 0)
                return NULL;
            return e;
        }
        break;
    default: break;
    }
    char b[64];
    dp_fail(p, t->pos, "expected an expression, got %s", dp_describe(t, b, sizeof b));
    return NULL;
}

static struct dr_expr *expr_or(struct parser *p)
{
    struct dr_expr *lhs = expr_primary(p);
    while (lhs && is_punct(tok(p), '|')) {
        struct dr_expr *e = new_expr(p, DR_X_OR, tok(p)->pos);
        p->i++;
        if (!e)
            return NULL;
        e->lhs = lhs;
        if (!(e->rhs = expr_primary(p)))
            return NULL;
        lhs = e;
    }
    return lhs;
}

/* ---- system calls ------------------------------------------------------------------------- */

int dp_syscall(struct parser *p, struct dr_event *ev)
{
    struct dr_syscall *c = &ev->call;
    ev->kind = DR_EV_SYSCALL;
    if (tok(p)->kind == DR_T_ELLIPSIS) {
        p->i++;
        if (dp_time_value(p, &c->end) < 0)
            return -1;
        c->has_end = 1;
    }
    const struct dr_token *name = tok(p);
    char b[64];
    if (name->kind != DR_T_WORD || !is_punct(ahead(p, 1), '('))
        return dp_fail(p, name->pos, "expected a system call name and '(', got %s",
                       dp_describe(name, b, sizeof b));
    c->name = dp_copy(p, name->text, name->len);
    c->name_pos = name->pos;
    snprintf(p->err->call, sizeof p->err->call, "%.*s", (int)name->len, name->text);
    p->i += 2;
    struct dr_expr args = {0};
    if (!c->name || expr_items(p, ')', &args) < 0)
        return -1;
    c->args = args.items;
    c->nargs = args.n;
    if (dp_expect_punct(p, '=', "before the result of the call") < 0)
        return -1;
    if (!(c->result = expr_or(p)))
        return -1;
    if (tok(p)->kind == DR_T_WORD) {
        if (!(c->err = dp_copy(p, tok(p)->text, tok(p)->len)))
            return -1;
        c->err_pos = tok(p)->pos;
        p->i++;
    }
    if (is_punct(tok(p), '(')) {
        /* "(Operation now in progress)": a note for the reader, kept for messages */
        const struct dr_token *open = tok(p);
        while (!is_punct(tok(p), ')') && tok(p)->kind != DR_T_EOF)
            p->i++;
        if (tok(p)->kind == DR_T_EOF)
            return dp_fail(p, open->pos, "unterminated note after the result");
        c->note = dp_copy(p, open->text + 1, (size_t)(tok(p)->text - open->text) - 1);
        if (!c->note)
            return -1;
        p->i++;
    }
    return 0;
}
