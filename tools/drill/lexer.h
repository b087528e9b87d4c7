/* Tokens of packetdrill's script language. Whitespace and newlines separate tokens and mean
 * nothing else; // and C comments are skipped. */
#ifndef SYNFIN_DRILL_LEXER_H
#define SYNFIN_DRILL_LEXER_H

#include <stddef.h>
#include <stdint.h>

#include "script.h"

enum dr_tok_kind {
    DR_T_EOF,
    DR_T_INT,      /* 42, -1, 0x800 (num holds the value) */
    DR_T_FLOAT,    /* 0.100, .5 (a time; text holds the digits) */
    DR_T_IPV4,     /* 192.168.0.1 */
    DR_T_WORD,     /* [A-Za-z_][A-Za-z0-9_]* */
    DR_T_STRING,   /* "..." (text and len: between the quotes, escapes not yet undone) */
    DR_T_OPTION,   /* --name (text: the name without the dashes) */
    DR_T_ELLIPSIS, /* ... */
    DR_T_PUNCT,    /* one character: < > . : ( ) [ ] { } , = | + * ~ - */
    DR_T_COMMAND,  /* `shell command` */
    DR_T_CODE,     /* %{ python }% */
};

struct dr_token {
    enum dr_tok_kind kind;
    struct dr_pos pos;
    const char *text; /* into the source */
    size_t len;
    int64_t num;
    char punct;
};

struct dr_tokens {
    struct dr_token *v;
    size_t n, cap;
};

/* Splits src (len bytes) into tokens ending with DR_T_EOF. Returns 0, or -1 with a message
 * in err and its position in *where. -ENOMEM-style failures report "out of memory". */
int dr_lex(const char *src, size_t len, struct dr_tokens *out, struct dr_pos *where, char *err,
           size_t errlen);
void dr_tokens_free(struct dr_tokens *t);

#endif
