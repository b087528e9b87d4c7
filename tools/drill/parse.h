/* The packetdrill script grammar: option lines, then events, each a time and a packet or a
 * system call. Errors name the line and column. */
#ifndef SYNFIN_DRILL_PARSE_H
#define SYNFIN_DRILL_PARSE_H

#include <stddef.h>

#include "script.h"

struct dr_error {
    struct dr_pos pos; /* line 0: not about a place in the file (e.g. it cannot be read) */
    char msg[256];
    int unsupported; /* packetdrill syntax for a feature synfin-drill lacks (not a typo) */
    char call[32];   /* the system call being parsed when it failed, "" if none */
};

/* Parses len bytes of src. NULL with *err filled on a syntax or semantic error or when memory
 * runs out. path is kept (not copied) for messages. */
struct dr_script *dr_parse(const char *path, const char *src, size_t len, struct dr_error *err);
/* Reads and parses a file. */
struct dr_script *dr_parse_file(const char *path, struct dr_error *err);
/* The same, with #ifdef sections decided by the names in defines ("NAME" or "NAME=VALUE"),
 * and each word NAME of a "NAME=VALUE" read as VALUE (packetdrill's --define). The define
 * strings must outlive the script. */
struct dr_script *dr_parse_file_defs(const char *path, const char *const *defines, size_t ndefines,
                                     struct dr_error *err);
void dr_script_free(struct dr_script *s);

/* Seconds text ("1", "0.25", ".5") to microseconds, rounded to the nearest. Returns 0 or -1
 * (malformed or beyond ~31 years). */
int dr_parse_seconds(const char *text, size_t len, int64_t *us);

#endif
