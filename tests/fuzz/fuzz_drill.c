/* Fuzz target: synfin-drill's script parser (tools/drill/lexer.c, parse.c) and the printer
 * its messages use (format.c).
 *
 * Invariants: a rejected script has a message at a line and column inside it; an accepted
 * one, printed back event by event (time, then the packet or call as format.c writes it,
 * options first), parses again and prints the same. Scripts whose strings need escapes are
 * not printed back: format.c writes strings for people, unescaped. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "fuzz.h"
#include "parse.h"

#define TEXT_MAX (1 << 20)

static int plain_expr(const struct dr_expr *e)
{
    if (!e)
        return 1;
    if (e->kind == DR_X_STRING)
        for (const char *p = e->text; *p; p++)
            if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || *p == 0x7f)
                return 0;
    for (size_t i = 0; i < e->n; i++)
        if (!plain_expr(e->items[i]))
            return 0;
    return plain_expr(e->lhs) && plain_expr(e->rhs);
}

static int plain_script(const struct dr_script *s)
{
    for (size_t i = 0; i < s->nopts; i++)
        if (s->opts[i].value && strpbrk(s->opts[i].value, "\"\\\n"))
            return 0;
    for (size_t i = 0; i < s->nevents; i++) {
        const struct dr_syscall *c = &s->events[i].call;
        if (s->events[i].kind != DR_EV_SYSCALL)
            continue;
        for (size_t k = 0; k < c->nargs; k++)
            if (!plain_expr(c->args[k]))
                return 0;
        if (!plain_expr(c->result))
            return 0;
    }
    return 1;
}

static void put_secs(struct dr_text *t, int64_t us)
{
    dr_text_add(t, "%" PRId64 ".%06" PRId64, us / 1000000, us % 1000000);
}

static void put_time(struct dr_text *t, const struct dr_event *ev)
{
    const struct dr_time *tm = &ev->time;
    int rel = tm->kind == DR_TIME_REL || tm->kind == DR_TIME_REL_RANGE;
    if (tm->kind == DR_TIME_ANY) {
        dr_text_add(t, "*");
    } else {
        dr_text_add(t, "%s", rel ? "+" : "");
        put_secs(t, tm->start);
    }
    if (tm->kind == DR_TIME_ABS_RANGE || tm->kind == DR_TIME_REL_RANGE) {
        dr_text_add(t, "~%s", rel ? "+" : "");
        put_secs(t, tm->end);
    }
    if (ev->kind == DR_EV_SYSCALL && ev->call.has_end) {
        dr_text_add(t, " ...");
        put_secs(t, ev->call.end);
    }
}

/* The script as text; NULL when the printed form would not fit (then nothing is compared). */
static char *print(const struct dr_script *s, size_t *len)
{
    char *buf = malloc(TEXT_MAX);
    FZ_CHECK(buf != NULL, "out of memory");
    struct dr_text t;
    dr_text_init(&t, buf, TEXT_MAX);
    for (size_t i = 0; i < s->nopts; i++) {
        dr_text_add(&t, "--%s", s->opts[i].name);
        if (s->opts[i].value)
            dr_text_add(&t, "=\"%s\"", s->opts[i].value);
        dr_text_add(&t, "\n");
    }
    for (size_t i = 0; i < s->nevents; i++) {
        put_time(&t, &s->events[i]);
        dr_text_add(&t, " ");
        dr_format_action(&t, &s->events[i]);
        dr_text_add(&t, "\n");
    }
    if (t.len + 1 >= TEXT_MAX) {
        free(buf);
        return NULL;
    }
    *len = t.len;
    return buf;
}

static void check_error(const char *src, size_t len, const struct dr_error *e)
{
    int lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += src[i] == '\n';
    FZ_CHECK(e->msg[0] != 0, "rejected without a message");
    FZ_CHECK(e->pos.line >= 1 && e->pos.line <= lines && e->pos.col >= 1,
             "error at %d:%d in a %d-line script: %s", e->pos.line, e->pos.col, lines, e->msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *src = (const char *)data;
    struct dr_error err;
    struct dr_script *s = dr_parse("fuzz.pkt", src, size, &err);
    if (!s) {
        check_error(src, size, &err);
        return 0;
    }
    size_t l1, l2;
    char *t1 = plain_script(s) ? print(s, &l1) : NULL;
    if (t1) {
        struct dr_script *s2 = dr_parse("printed.pkt", t1, l1, &err);
        FZ_CHECK(s2 != NULL, "the printed script does not parse: %d:%d: %s\n%s", err.pos.line,
                 err.pos.col, err.msg, t1);
        char *t2 = print(s2, &l2);
        FZ_CHECK(t2 && l1 == l2 && !memcmp(t1, t2, l1),
                 "printed twice, the script changed:\n%s\n---- then ----\n%s", t1, t2 ? t2 : "");
        free(t2);
        dr_script_free(s2);
        free(t1);
    }
    dr_script_free(s);
    return 0;
}
