/* /metrics: the process families every Prometheus client library exports (the "process
 * collector": same names, units and meanings), read from /proc/self at each scrape. */
#include "ctl/render.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>

struct proc_stat {
    unsigned long long utime, stime, starttime, vsize;
    long long rss;
};

/* /proc/self/stat (proc(5)): the fields after the command name, which may hold spaces and
 * parentheses, so it is skipped up to its last ')'. */
static int read_stat(struct proc_stat *p)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *s = strrchr(buf, ')');
    if (!s)
        return -1;
    /* Fields 3..24: state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
     * cmajflt utime stime cutime cstime priority nice num_threads itrealvalue starttime
     * vsize rss. */
    int got = sscanf(s + 1,
                     " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d "
                     "%*d %llu %llu %lld",
                     &p->utime, &p->stime, &p->starttime, &p->vsize, &p->rss);
    return got == 5 ? 0 : -1;
}

/* The boot time in seconds since the epoch (/proc/stat btime): starttime counts from it.
 * Read once: it does not change, and /proc/stat grows with the CPUs. */
static long long boot_time_s(void)
{
    static long long known = -1;
    if (known >= 0)
        return known;
    char line[256];
    long long bt = -1;
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "btime %lld", &bt) == 1)
            break;
    fclose(f);
    known = bt;
    return bt;
}

/* Open descriptors. Since Linux 6.2 the size of /proc/self/fd is their number, counted
 * from the descriptor table's bitmap: O(1) for the loop, where listing the directory reads
 * one entry per descriptor (two per session: milliseconds with thousands of sessions, in
 * every scrape). Older kernels say 0 there; they get the listing, not counting the
 * descriptor that lists. */
static long open_fds(void)
{
    struct stat st;
    if (stat("/proc/self/fd", &st) == 0 && st.st_size > 0)
        return (long)st.st_size;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;
}

static void gauge(struct sf_strbuf *b, const char *name, const char *type, const char *help,
                  double v)
{
    sf_sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %.15g\n", name, help, name, type, name, v);
}

void ctl_render_metrics_process(struct sf_strbuf *b)
{
    long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    struct proc_stat p;
    if (tck > 0 && page > 0 && read_stat(&p) == 0) {
        gauge(b, "process_cpu_seconds_total", "counter",
              "Total user and system CPU time spent in seconds.",
              (double)(p.utime + p.stime) / (double)tck);
        gauge(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
              (double)p.rss * (double)page);
        gauge(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
              (double)p.vsize);
        long long bt = boot_time_s();
        if (bt >= 0)
            gauge(b, "process_start_time_seconds", "gauge",
                  "Start time of the process since unix epoch in seconds.",
                  (double)bt + (double)p.starttime / (double)tck);
    }
    long fds = open_fds();
    if (fds >= 0)
        gauge(b, "process_open_fds", "gauge", "Number of open file descriptors.", (double)fds);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        gauge(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
              rl.rlim_cur == RLIM_INFINITY ? -1.0 : (double)rl.rlim_cur);
}
