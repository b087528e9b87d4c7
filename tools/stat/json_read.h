/* A small strict JSON reader (RFC 8259) that stores nothing: it validates the whole document
 * and hands each value, with its path from the root, to a visitor. Strings and numbers are
 * given as slices of the input; helpers decode the few the caller keeps. */
#ifndef SYNFIN_STAT_JSON_READ_H
#define SYNFIN_STAT_JSON_READ_H

#include <stddef.h>
#include <stdint.h>

enum st_jtype {
    ST_J_NULL,
    ST_J_FALSE,
    ST_J_TRUE,
    ST_J_NUMBER,
    ST_J_STRING,
    ST_J_OBJECT,
    ST_J_ARRAY
};

struct st_jval {
    enum st_jtype type;
    const char *raw; /* numbers: the literal; strings: between the quotes, still escaped */
    size_t len;
};

/* One step from the root: an object member (key, raw and escaped) or an array element. */
struct st_jstep {
    const char *key; /* NULL for an array element */
    size_t key_len;
    size_t index;
};

#define ST_JREAD_MAX_DEPTH 64

/* Called for every value, a container before its members. path[0..depth) leads to it (depth
 * 0 is the root). A non-zero return stops the parse and becomes its result. */
typedef int (*st_json_visit)(const struct st_jstep *path, int depth, const struct st_jval *v,
                             void *arg);

/* Returns 0 when text[0..len) is exactly one valid JSON value (surrounding whitespace
 * allowed), the visitor's stop value, or -1 with "line L, column C: what" in err. */
int st_json_parse(const char *text, size_t len, st_json_visit visit, void *arg, char *err,
                  size_t errlen);

/* Decodes a raw string (escapes, surrogate pairs) into out, NUL-terminated. Returns the
 * decoded length, or -1 if it does not fit or holds a NUL character. */
long st_json_unescape(const char *raw, size_t len, char *out, size_t outlen);

/* Whether the raw string equals s once decoded. */
int st_json_key_is(const char *raw, size_t len, const char *s);

/* A number that is a non-negative integer no larger than 2^53 (exactly representable
 * everywhere JSON goes), written without fraction or exponent. 0 or -1. */
int st_json_uint(const struct st_jval *v, uint64_t *out);

#endif
