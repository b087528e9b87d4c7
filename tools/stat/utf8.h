/* UTF-8 validation shared by the JSON reader and writer. */
#ifndef SYNFIN_STAT_UTF8_H
#define SYNFIN_STAT_UTF8_H

#include <stddef.h>

/* Length (1-4) of the well-formed UTF-8 sequence at p (p < end), or 0 if there is none:
 * overlong forms, surrogates and code points past U+10FFFF are not well formed. */
size_t st_utf8_seq(const unsigned char *p, const unsigned char *end);

#endif
