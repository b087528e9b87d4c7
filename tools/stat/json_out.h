/* A small streaming JSON writer: compact output, one document per line. */
#ifndef SYNFIN_STAT_JSON_OUT_H
#define SYNFIN_STAT_JSON_OUT_H

#include <stdint.h>
#include <stdio.h>

#define ST_JSON_MAX_DEPTH 16

struct st_json {
    FILE *f;
    int depth;
    unsigned char has_items[ST_JSON_MAX_DEPTH]; /* a comma is due before the next item */
};

void st_json_init(struct st_json *j, FILE *f);

/* In an object, key names the member; in an array or at the top, key is NULL. */
void st_json_object(struct st_json *j, const char *key);
void st_json_array(struct st_json *j, const char *key);
void st_json_end(struct st_json *j, char closer); /* '}' or ']'; a newline after the top */

void st_json_string(struct st_json *j, const char *key, const char *v); /* NULL: null */
void st_json_u64(struct st_json *j, const char *key, uint64_t v);
void st_json_i64(struct st_json *j, const char *key, int64_t v);
void st_json_double(struct st_json *j, const char *key, double v);
void st_json_bool(struct st_json *j, const char *key, int v);

/* Writes s as a JSON string literal, quotes included; invalid UTF-8 becomes U+FFFD. */
void st_json_quote(FILE *f, const char *s);

#endif
