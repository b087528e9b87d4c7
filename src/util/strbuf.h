/* A growable text buffer for responses. An allocation failure sets `failed` and later
 * appends do nothing: the caller answers 500 instead of sending a truncated document. */
#ifndef SYNFIN_UTIL_STRBUF_H
#define SYNFIN_UTIL_STRBUF_H

#include <stddef.h>

struct sf_strbuf {
    char *p;
    size_t len, cap;
    int failed;
};

void sf_sb_init(struct sf_strbuf *b);
void sf_sb_free(struct sf_strbuf *b);
void sf_sb_printf(struct sf_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sf_sb_append(struct sf_strbuf *b, const char *s, size_t n);
/* A JSON string literal, quotes included. */
void sf_sb_json_str(struct sf_strbuf *b, const char *s);

#endif
