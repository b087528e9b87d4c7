/* #ifdef NAME / #ifndef NAME / #else / #endif sections, with names given by --define
 * (packetdrill's --define=NAME[=VALUE]): the lines left out, and the directives, become blank
 * so that every line keeps its number. */
#ifndef SYNFIN_DRILL_PREP_H
#define SYNFIN_DRILL_PREP_H

#include <stddef.h>

#include "parse.h"

/* Rewrites src in place. Returns 0, or -1 with err filled (an #else or #endif without #if, an
 * unterminated section, an #if expression). */
int dr_preprocess(char *src, size_t len, const char *const *defines, size_t ndefines,
                  struct dr_error *err);

#endif
