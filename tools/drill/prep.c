/* Conditional sections of a script (prep.h). */
#include <stdio.h>
#include <string.h>

#include "prep.h"

#define MAX_NEST 16

static int defined(const char *name, size_t n, const char *const *defs, size_t ndefs)
{
    for (size_t i = 0; i < ndefs; i++) {
        size_t len = strcspn(defs[i], "=");
        if (len == n && !strncmp(defs[i], name, n))
            return 1;
    }
    return 0;
}

static int fail(struct dr_error *err, int line, const char *msg)
{
    err->pos.line = line;
    err->pos.col = 1;
    snprintf(err->msg, sizeof err->msg, "%s", msg);
    return -1;
}

/* Follows `command` and %{ code }% across a line: a # inside them is the shell's or Python's
 * comment, not a directive. */
static void scan_quotes(const char *p, const char *eol, int *in_cmd, int *in_code)
{
    for (; p < eol; p++) {
        if (*in_code) {
            if (p[0] == '}' && p + 1 < eol && p[1] == '%')
                *in_code = 0, p++;
        } else if (*in_cmd) {
            if (*p == '`')
                *in_cmd = 0;
        } else if (p[0] == '/' && p + 1 < eol && p[1] == '/') {
            return; /* the rest of the line is a comment */
        } else if (*p == '`') {
            *in_cmd = 1;
        } else if (p[0] == '%' && p + 1 < eol && p[1] == '{') {
            *in_code = 1, p++;
        }
    }
}

static void blank(char *p, char *end)
{
    for (; p < end; p++)
        if (*p != '\n')
            *p = ' ';
}

int dr_preprocess(char *src, size_t len, const char *const *defines, size_t ndefines,
                  struct dr_error *err)
{
    /* per nesting level: whether its current branch is kept, and whether #else was seen */
    int keep[MAX_NEST + 1], seen_else[MAX_NEST + 1], depth = 0, line = 1;
    int open_line[MAX_NEST + 1], in_cmd = 0, in_code = 0;
    keep[0] = 1;
    char *p = src, *end = src + len;
    while (p < end) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        char *q = p;
        while (q < eol && (*q == ' ' || *q == '\t'))
            q++;
        if (q < eol && *q == '#' && !in_cmd && !in_code) {
            q++;
            while (q < eol && (*q == ' ' || *q == '\t'))
                q++;
            char *w = q;
            while (q < eol && *q != ' ' && *q != '\t' && *q != '\r')
                q++;
            size_t wl = (size_t)(q - w);
            while (q < eol && (*q == ' ' || *q == '\t'))
                q++;
            char *name = q;
            while (q < eol && *q != ' ' && *q != '\t' && *q != '\r')
                q++;
            size_t nl = (size_t)(q - name);
            if ((wl == 5 && !strncmp(w, "ifdef", 5)) || (wl == 6 && !strncmp(w, "ifndef", 6))) {
                if (depth == MAX_NEST)
                    return fail(err, line, "#ifdef nested too deep");
                if (!nl)
                    return fail(err, line, "#ifdef needs a name");
                int d = defined(name, nl, defines, ndefines);
                depth++;
                keep[depth] = keep[depth - 1] && (wl == 5 ? d : !d);
                seen_else[depth] = 0;
                open_line[depth] = line;
            } else if (wl == 4 && !strncmp(w, "else", 4)) {
                if (!depth || seen_else[depth])
                    return fail(err, line, "#else without #ifdef");
                seen_else[depth] = 1;
                keep[depth] = keep[depth - 1] && !keep[depth];
            } else if (wl == 5 && !strncmp(w, "endif", 5)) {
                if (!depth)
                    return fail(err, line, "#endif without #ifdef");
                depth--;
            } else {
                return fail(err, line, "unknown directive (#ifdef, #ifndef, #else, #endif)");
            }
            blank(p, eol);
        } else if (!keep[depth]) {
            blank(p, eol);
        } else {
            scan_quotes(p, eol, &in_cmd, &in_code);
        }
        p = eol + 1;
        line++;
    }
    if (depth)
        return fail(err, open_line[depth], "#ifdef without #endif");
    return 0;
}
