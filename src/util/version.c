/* The one object that includes the generated header: a new revision recompiles this file
 * and relinks, never the rest of the tree. */
#include "util/version.h"

#include "synfin_version.h"

#include <string.h>

const char sf_release[] = SYNFIN_RELEASE;
const char sf_revision[] = SYNFIN_REVISION;

int sf_version_arg(const char *arg)
{
    return !strcmp(arg, "-v") || !strcmp(arg, "--version");
}

int sf_version_print(FILE *f, const char *prog)
{
    return fprintf(f, "%s %s (revision %s)\n", prog, sf_release, sf_revision);
}
