/* Error messages for callers that return -1 and explain in a buffer. */
#ifndef SYNFIN_STAT_ERRMSG_H
#define SYNFIN_STAT_ERRMSG_H

#include <stddef.h>

/* Formats a message into err (errlen bytes) and returns -1, so that `return st_errf(...)`
 * both explains and fails. */
int st_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
