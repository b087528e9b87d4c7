#include "diag/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int sf_netns_path(const char *name, char *buf, unsigned long size)
{
    if (!name || !*name || !strcmp(name, ".") || !strcmp(name, ".."))
        return -EINVAL;
    int n;
    if (name[0] == '/')
        n = snprintf(buf, size, "%s", name);
    else if (strchr(name, '/'))
        return -EINVAL; /* never let a name walk out of /run/netns */
    else
        n = snprintf(buf, size, "/run/netns/%s", name);
    if (n < 0 || (unsigned long)n >= size)
        return -EINVAL;
    return 0;
}

int sf_netns_enter(const char *name)
{
    char path[4096];
    int rc = sf_netns_path(name, path, sizeof path);
    if (rc)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    /* setns checks the file is a network namespace (EINVAL otherwise) and that we hold
     * CAP_SYS_ADMIN over it (EPERM). */
    rc = setns(fd, CLONE_NEWNET) ? -errno : 0;
    close(fd);
    return rc;
}
