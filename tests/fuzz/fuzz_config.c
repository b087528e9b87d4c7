/* Fuzz target: the configuration parser (src/lb/config.c) and its printer (config_print.c).
 *
 * Invariants: a rejected text has an error with a message, at a line and column inside the
 * text; an accepted one prints to text that parses again, and prints the same a second time
 * (parse(print(parse(x))) = parse(x), compared as printed text). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "lb/config.h"

static char *print(const struct lb_config *c, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    FZ_CHECK(f != NULL, "open_memstream failed");
    FZ_CHECK(lb_config_print(c, f) == 0, "the printer failed");
    fclose(f);
    return text;
}

static void check_error(const char *text, size_t len, const struct lb_config_error *e)
{
    int lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    FZ_CHECK(e->msg[0] != 0, "rejected without a message");
    FZ_CHECK(e->line >= 0 && e->line <= lines, "error at line %d of a %d-line text", e->line,
             lines);
    FZ_CHECK(e->line == 0 || e->col >= 1, "error at column %d", e->col);
    FZ_CHECK(e->ref_line >= 0 && e->ref_line <= e->line, "error refers to line %d from line %d",
             e->ref_line, e->line);
    char buf[512];
    lb_config_error_format(e, "fuzz.conf", buf, sizeof buf);
    FZ_CHECK(strncmp(buf, "fuzz.conf:", 10) == 0, "formatted error '%s'", buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct lb_config_error err;
    struct lb_config *c = lb_config_parse(text, size, &err);
    if (!c) {
        check_error(text, size, &err);
        return 0;
    }
    size_t len1, len2;
    char *t1 = print(c, &len1);
    struct lb_config *c2 = lb_config_parse(t1, len1, &err);
    FZ_CHECK(c2 != NULL, "the printed configuration does not parse: %d:%d: %s\n%s", err.line,
             err.col, err.msg, t1);
    char *t2 = print(c2, &len2);
    FZ_CHECK(len1 == len2 && memcmp(t1, t2, len1) == 0,
             "printed twice, the configuration changed:\n%s\n---- then ----\n%s", t1, t2);
    free(t1);
    free(t2);
    lb_config_free(c2);
    lb_config_free(c);
    return 0;
}
