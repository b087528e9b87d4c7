/* Inside the parser: its state and the token helpers parse.c, parse_packet.c and
 * parse_expr.c share. Not for other code (parse.h is the interface). */
#ifndef SYNFIN_DRILL_PARSE_INT_H
#define SYNFIN_DRILL_PARSE_INT_H

#include <stdint.h>
#include <string.h>

#include "lexer.h"
#include "parse.h"

struct parser {
    const struct dr_token *t; /* tokens, ending with DR_T_EOF */
    size_t i;
    struct dr_script *s;
    size_t events_cap, opts_cap;
    struct dr_error *err;
};

static inline const struct dr_token *tok(const struct parser *p)
{
    return &p->t[p->i];
}

static inline const struct dr_token *ahead(const struct parser *p, size_t n)
{
    size_t i = p->i;
    while (n-- && p->t[i].kind != DR_T_EOF)
        i++;
    return &p->t[i];
}

static inline int is_punct(const struct dr_token *t, char c)
{
    return t->kind == DR_T_PUNCT && t->punct == c;
}

static inline int is_word(const struct dr_token *t, const char *w)
{
    return t->kind == DR_T_WORD && strlen(w) == t->len && memcmp(t->text, w, t->len) == 0;
}

/* Records an error at a place; returns -1. */
__attribute__((format(printf, 3, 4))) int dp_fail(struct parser *p, struct dr_pos at,
                                                  const char *fmt, ...);
/* How a token reads in an error message. */
const char *dp_describe(const struct dr_token *t, char *buf, size_t len);
/* Takes the punctuation c or fails saying where it was wanted. */
int dp_expect_punct(struct parser *p, char c, const char *where);
/* In the script's arena; NULL with the error set when memory runs out. */
void *dp_alloc(struct parser *p, size_t n);
char *dp_copy(struct parser *p, const char *s, size_t n);
/* An integer token in [lo, hi]. */
int dp_integer(struct parser *p, int64_t lo, int64_t hi, const char *what, int64_t *out);
int dp_u32(struct parser *p, const char *what, uint32_t *out);
/* A time in seconds, to microseconds. */
int dp_time_value(struct parser *p, int64_t *us);
/* The value of a hex digit, -1 if c is none. */
int dp_hex_digit(char c);

/* A packet line after its time (parse_packet.c); a system call line (parse_expr.c). */
int dp_packet(struct parser *p, struct dr_event *ev);
int dp_syscall(struct parser *p, struct dr_event *ev);

#endif
