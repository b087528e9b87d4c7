/* The release and git revision this build was made from (VERSION and scripts/version.sh). */
#ifndef SYNFIN_UTIL_VERSION_H
#define SYNFIN_UTIL_VERSION_H

#include <stdio.h>

extern const char sf_release[];
extern const char sf_revision[];

/* Whether ARG asks for the version: -v or --version (every synfin binary takes both). */
int sf_version_arg(const char *arg);
/* "PROG RELEASE (revision REVISION)" and a newline; returns fprintf's result. */
int sf_version_print(FILE *f, const char *prog);

#endif
