#include "sysctl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct {
    const char *name; /* dotted, as sysctl(8) shows it */
    const char *path; /* under /proc/sys */
    int field;        /* which number of the file (ip_local_port_range has two) */
} table[SC_N] = {
    [SC_TW_REUSE] = {"net.ipv4.tcp_tw_reuse", "net/ipv4/tcp_tw_reuse", 0},
    [SC_TW_RECYCLE] = {"net.ipv4.tcp_tw_recycle", "net/ipv4/tcp_tw_recycle", 0},
    [SC_FIN_TIMEOUT] = {"net.ipv4.tcp_fin_timeout", "net/ipv4/tcp_fin_timeout", 0},
    [SC_MAX_TW_BUCKETS] = {"net.ipv4.tcp_max_tw_buckets", "net/ipv4/tcp_max_tw_buckets", 0},
    [SC_SYNCOOKIES] = {"net.ipv4.tcp_syncookies", "net/ipv4/tcp_syncookies", 0},
    [SC_MAX_SYN_BACKLOG] = {"net.ipv4.tcp_max_syn_backlog", "net/ipv4/tcp_max_syn_backlog", 0},
    [SC_SOMAXCONN] = {"net.core.somaxconn", "net/core/somaxconn", 0},
    [SC_PORT_LO] = {"net.ipv4.ip_local_port_range", "net/ipv4/ip_local_port_range", 0},
    [SC_PORT_HI] = {"net.ipv4.ip_local_port_range", "net/ipv4/ip_local_port_range", 1},
    [SC_KEEPALIVE_TIME] = {"net.ipv4.tcp_keepalive_time", "net/ipv4/tcp_keepalive_time", 0},
    [SC_KEEPALIVE_INTVL] = {"net.ipv4.tcp_keepalive_intvl", "net/ipv4/tcp_keepalive_intvl", 0},
    [SC_KEEPALIVE_PROBES] = {"net.ipv4.tcp_keepalive_probes", "net/ipv4/tcp_keepalive_probes", 0},
    [SC_TIMESTAMPS] = {"net.ipv4.tcp_timestamps", "net/ipv4/tcp_timestamps", 0},
    [SC_TW_REUSE_DELAY] = {"net.ipv4.tcp_tw_reuse_delay", "net/ipv4/tcp_tw_reuse_delay", 0},
};

const char *st_sysctl_name(enum st_sysctl id)
{
    return id < SC_N ? table[id].name : "?";
}

/* Reads the field-th whitespace-separated integer of a small file. */
static int read_field(const char *path, int field, long *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char buf[128];
    ssize_t n;
    do
        n = read(fd, buf, sizeof buf - 1);
    while (n < 0 && errno == EINTR);
    int err = n < 0 ? -errno : 0;
    close(fd);
    if (n <= 0)
        return err ? err : -EIO;
    buf[n] = '\0';
    char *p = buf;
    for (int i = 0;; i++) {
        while (*p == ' ' || *p == '\t')
            p++;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno)
            return -EINVAL;
        if (i == field) {
            *out = v;
            return 0;
        }
        p = end;
    }
}

void st_sysctls_read(const char *root, struct st_sysctls *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < SC_N; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", root, table[i].path);
        s->present[i] = read_field(path, table[i].field, &s->v[i]) == 0;
    }
}

int st_sysctl_port_range(long *lo, long *hi)
{
    const char *p = "/proc/sys/net/ipv4/ip_local_port_range";
    if (read_field(p, 0, lo) || read_field(p, 1, hi))
        return -1;
    if (*lo < 1 || *hi > 65535 || *lo > *hi)
        return -1;
    return 0;
}

/* Whether line sets key: "key = value" or "key=value", dots or slashes, leading '-' (ignore
 * errors) allowed; '#' and ';' start comments. */
static int line_sets(const char *line, const char *key)
{
    while (*line == ' ' || *line == '\t')
        line++;
    if (*line == '-')
        line++;
    size_t n = strlen(key);
    for (size_t i = 0; i < n; i++) {
        char c = line[i] == '/' ? '.' : line[i];
        if (c != key[i])
            return 0;
    }
    const char *p = line + n;
    while (*p == ' ' || *p == '\t')
        p++;
    return *p == '=';
}

static int scan_file(const char *path, const char *key, char *where, size_t wlen)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    char line[1024];
    unsigned no = 0;
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        no++;
        if (line_sets(line, key)) {
            snprintf(where, wlen, "%s:%u", path, no);
            found = 1;
        }
        /* A line longer than the buffer: skip its rest, it is not a setting we look for. */
        while (!strchr(line, '\n') && fgets(line, sizeof line, f))
            ;
    }
    fclose(f);
    return found;
}

static int conf_filter(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 5 && !strcmp(d->d_name + n - 5, ".conf");
}

int st_sysctl_conf_find(const char *key, char *where, size_t wlen)
{
    /* sysctl.d(5) order; a file in an earlier directory overrides one of the same name in a
     * later one, but any file setting the key is worth reporting. */
    static const char *const dirs[] = {"/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d",
                                       "/usr/lib/sysctl.d", "/lib/sysctl.d"};
    if (scan_file("/etc/sysctl.conf", key, where, wlen))
        return 1;
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        struct dirent **list;
        int n = scandir(dirs[i], &list, conf_filter, alphasort);
        if (n < 0)
            continue;
        int found = 0;
        for (int k = 0; k < n; k++) {
            char path[512];
            snprintf(path, sizeof path, "%s/%s", dirs[i], list[k]->d_name);
            if (!found)
                found = scan_file(path, key, where, wlen);
            free(list[k]);
        }
        free(list);
        if (found)
            return 1;
    }
    return 0;
}
