#include "errmsg.h"

#include <stdarg.h>
#include <stdio.h>

int st_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}
