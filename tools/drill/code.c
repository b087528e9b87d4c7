/* %{ python }% blocks, as packetdrill runs them: at the block's time the tcp_info of the
 * socket under test (the latest socket() or accept() descriptor) is captured; after the last
 * event, if the script has not failed, every block runs in one python3 process, in order, in
 * one namespace, each after the tcpi_* variables captured for it. An exception in a block
 * (a failed assert) fails the script at the block's line of the script.
 *
 * A block that names a variable packetdrill provides but the engine cannot give (tcpi_lost,
 * bbr_bw, ...: tcpinfo.c) is not run, and the script, if nothing else fails, is reported
 * unsupported with the name: never passed with an assertion unchecked. */
#include "runner.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tcpinfo.h"

struct dr_code {
    char *buf; /* the blocks as Python data: (line, {vars}, b'source'), */
    size_t len, cap;
    size_t nblocks;
    int skip_line; /* the first block not run, 0 if none */
    char skip_name[64];
};

__attribute__((format(printf, 2, 3))) static int add(struct dr_code *c, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(c->buf ? c->buf + c->len : NULL, c->buf ? c->cap - c->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return -1;
        if (c->buf && c->len + (size_t)n < c->cap) {
            c->len += (size_t)n;
            return 0;
        }
        size_t cap = c->cap ? c->cap * 2 : 4096;
        while (cap <= c->len + (size_t)n)
            cap *= 2;
        char *b = realloc(c->buf, cap);
        if (!b)
            return -1;
        c->buf = b;
        c->cap = cap;
    }
}

/* The first name in text that packetdrill would define but the engine cannot give. */
static int unknown_name(const char *text, char *name, size_t len)
{
    struct dc_tcpi_in none;
    memset(&none, 0, sizeof none);
    for (const char *p = text; *p;) {
        if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
            p++;
            continue;
        }
        const char *s = p;
        while (*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
               (*p >= '0' && *p <= '9'))
            p++;
        snprintf(name, len, "%.*s", (int)(p - s), s);
        long v;
        if (dc_tcpi_field(&none, name, &v) == DC_TCPI_UNKNOWN)
            return 1;
    }
    return 0;
}

void dr_code_note_call(struct runner *r, const struct dr_call *call)
{
    const char *n = call->ev->call.name;
    if (call->ret >= 0 && (!strcmp(n, "socket") || !strcmp(n, "accept") || !strcmp(n, "accept4")))
        r->code_fd = (int)call->ret;
}

int dr_code_event(struct runner *r, const struct dr_event *ev)
{
    if (!r->code && !(r->code = calloc(1, sizeof *r->code)))
        return dr_fail(r, ev, "out of memory");
    struct dr_code *c = r->code;
    /* packetdrill strips spaces and tabs (not newlines) at both ends of the block */
    const char *s = ev->text + 2, *e = ev->text + strlen(ev->text) - 2;
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    char *src = strndup(s, (size_t)(e - s));
    if (!src)
        return dr_fail(r, ev, "out of memory");
    char name[64];
    if (unknown_name(src, name, sizeof name)) {
        if (!c->skip_line) {
            c->skip_line = ev->pos.line;
            snprintf(c->skip_name, sizeof c->skip_name, "%s", name);
        }
        free(src);
        return 0;
    }
    if (r->code_fd < 0 || r->code_fd >= DR_MAX_FDS || !r->fds[r->code_fd].c) {
        free(src);
        return dr_fail(r, ev, "no socket to use for code (packetdrill: a socket() or accept())");
    }
    struct dc_tcpi_in in;
    dc_tcpi_read(r, r->fds[r->code_fd].c, &in);
    struct dc_tcpi_const v[DC_TCPI_MAX];
    size_t n = dc_tcpi_values(&in, v, DC_TCPI_MAX);
    int rc = add(c, "(%d, {", ev->pos.line);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = add(c, "'%s': %ld, ", v[i].name, v[i].value);
    rc = rc ? rc : add(c, "}, b'");
    for (const char *p = src; rc == 0 && *p; p++)
        rc = add(c, "\\x%02x", (unsigned char)*p);
    rc = rc ? rc : add(c, "'),\n");
    free(src);
    if (rc < 0)
        return dr_fail(r, ev, "out of memory");
    c->nblocks++;
    return 0;
}

/* The program: each block compiled and run in turn; the first exception prints the script
 * line it happened at and the exception, and ends the run with status 1. */
static const char driver_head[] = "import sys, traceback\n"
                                  "ns = {}\n";
static const char driver_tail[] =
    "for line, names, src in blocks:\n"
    "    ns.update(names)\n"
    "    text = src.decode('utf-8', 'replace')\n"
    "    try:\n"
    "        exec(compile(text, 'block', 'exec'), ns)\n"
    "    except BaseException as e:\n"
    "        n = e.lineno if isinstance(e, SyntaxError) else None\n"
    "        if n is None:\n"
    "            fr = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == 'block']\n"
    "            n = fr[-1].lineno if fr else 1\n"
    "        lines = text.split('\\n')\n"
    "        code = lines[n - 1].strip() if 0 < n <= len(lines) else ''\n"
    "        what = traceback.format_exception_only(type(e), e)[-1].strip()\n"
    "        sys.stdout.write('%d\\n%s\\n%s\\n' % (line + n - 1, code, what))\n"
    "        sys.exit(1)\n";

static int write_program(struct runner *r, char *path)
{
    const struct dc_tcpi_const *k;
    size_t nk = dc_tcpi_constants(&k);
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return -1;
    }
    fputs(driver_head, f);
    for (size_t i = 0; i < nk; i++)
        fprintf(f, "ns['%s'] = %ld\n", k[i].name, k[i].value);
    fprintf(f, "blocks = [\n%.*s]\n", (int)r->code->len, r->code->buf);
    fputs(driver_tail, f);
    return fclose(f) == 0 ? 0 : -1;
}

int dr_code_run(struct runner *r)
{
    struct dr_code *c = r->code;
    if (!c || r->failed)
        return r->failed ? -1 : 0;
    const struct dr_event *last = &r->s->events[r->s->nevents - 1];
    if (c->skip_line) {
        char msg[160];
        snprintf(msg, sizeof msg, "%%{ python }%% block: %s (no engine value)", c->skip_name);
        struct dr_event at = *last;
        at.pos.line = c->skip_line;
        return dr_unsupported(r, &at, "%s", msg);
    }
    if (!c->nblocks)
        return 0;
    char path[] = "/tmp/synfin-drill-code-XXXXXX";
    if (write_program(r, path) < 0)
        return dr_fail(r, last, "cannot write the python program: %s", strerror(errno));
    char cmd[128], out[2048] = "";
    snprintf(cmd, sizeof cmd, "python3 %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    size_t got = 0;
    if (p) {
        size_t n;
        while ((n = fread(out + got, 1, sizeof out - 1 - got, p)) > 0)
            got += n;
        out[got] = 0;
    }
    int status = p ? pclose(p) : -1;
    unlink(path);
    if (status == -1 || (WIFEXITED(status) && WEXITSTATUS(status) == 127)) {
        struct dr_event at = *last;
        return dr_unsupported(r, &at, "%%{ python }%% blocks need python3, which did not run");
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    int line = atoi(out);
    char *code = strchr(out, '\n'), *what = code ? strchr(code + 1, '\n') : NULL;
    if (!code || !what || line <= 0)
        return dr_fail(r, last, "%%{ python }%%: python3 failed: %s", out);
    *what++ = 0;
    what[strcspn(what, "\n")] = 0;
    struct dr_event at = *last;
    at.pos.line = line;
    return dr_fail(r, &at, "%%{ python }%%: %s: %s", code + 1, what);
}

void dr_code_free(struct runner *r)
{
    if (r->code)
        free(r->code->buf);
    free(r->code);
    r->code = NULL;
}
