#include "json_out.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "utf8.h"

void st_json_init(struct st_json *j, FILE *f)
{
    j->f = f;
    j->depth = 0;
    j->has_items[0] = 0;
}

void st_json_quote(FILE *f, const char *s)
{
    putc('"', f);
    const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
    while (*p) {
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            putc('\\', f);
            putc((int)c, f);
            p++;
        } else if (c < 0x20) {
            static const char esc[] = {
                ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'};
            if (c < sizeof esc && esc[c])
                fprintf(f, "\\%c", esc[c]);
            else
                fprintf(f, "\\u%04x", c);
            p++;
        } else {
            size_t n = st_utf8_seq(p, end);
            if (n == 0) {
                fputs("\\ufffd", f);
                p++;
            } else {
                fwrite(p, 1, n, f);
                p += n;
            }
        }
    }
    putc('"', f);
}

static void item(struct st_json *j, const char *key)
{
    if (j->has_items[j->depth])
        putc(',', j->f);
    j->has_items[j->depth] = 1;
    if (key) {
        st_json_quote(j->f, key);
        putc(':', j->f);
    }
}

static void open_container(struct st_json *j, const char *key, char opener)
{
    item(j, key);
    putc(opener, j->f);
    /* Deeper than the writer tracks would be a bug in this program, not input: the
     * documents written here are at most a few levels deep. */
    if (j->depth + 1 < ST_JSON_MAX_DEPTH)
        j->depth++;
    j->has_items[j->depth] = 0;
}

void st_json_object(struct st_json *j, const char *key)
{
    open_container(j, key, '{');
}

void st_json_array(struct st_json *j, const char *key)
{
    open_container(j, key, '[');
}

void st_json_end(struct st_json *j, char closer)
{
    putc(closer, j->f);
    if (j->depth > 0)
        j->depth--;
    if (j->depth == 0) {
        putc('\n', j->f);
        j->has_items[0] = 0;
    }
}

void st_json_string(struct st_json *j, const char *key, const char *v)
{
    item(j, key);
    if (v)
        st_json_quote(j->f, v);
    else
        fputs("null", j->f);
}

void st_json_u64(struct st_json *j, const char *key, uint64_t v)
{
    item(j, key);
    fprintf(j->f, "%" PRIu64, v);
}

void st_json_i64(struct st_json *j, const char *key, int64_t v)
{
    item(j, key);
    fprintf(j->f, "%" PRId64, v);
}

void st_json_double(struct st_json *j, const char *key, double v)
{
    item(j, key);
    if (isfinite(v))
        fprintf(j->f, "%.3f", v);
    else
        fputs("null", j->f); /* JSON has no NaN or infinity */
}

void st_json_bool(struct st_json *j, const char *key, int v)
{
    item(j, key);
    fputs(v ? "true" : "false", j->f);
}
