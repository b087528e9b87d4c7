/* `cpu_map` (docs/config.md): which CPUs each event-loop thread may run on. Two forms, as
 * HAProxy's `cpu-map` has them: `cpu_map THREADS CPULIST;` pins each of THREADS (a number
 * or a range, 0-based) to the whole list, and `cpu_map auto CPULIST;` gives thread i the
 * i-th CPU of the list (round again past its end). CPULIST is Linux's cpulist form:
 * "0-3,6". A CPU the process may not use (sched_getaffinity: cgroup cpusets, taskset) is an
 * error, and so is a thread at or past `threads` (checked once every line is read). */
#include "lb/config_int.h"

#include <stdio.h>
#include <string.h>

/* "N" or "N-M" into [*lo, *hi]; the end of it in *end. */
static int range(const char *s, uint64_t *lo, uint64_t *hi, const char **end)
{
    if (lb_conf_parse_u64(s, lo, end) < 0)
        return -1;
    *hi = *lo;
    if (**end == '-' && lb_conf_parse_u64(*end + 1, hi, end) < 0)
        return -1;
    return *hi >= *lo ? 0 : -1;
}

/* The process's CPUs as they were before cpu_map pinned thread 0, which reads reloads:
 * its own affinity then is only what it was pinned to. */
static cpu_set_t process_cpus;
static int have_process_cpus;

void lb_config_set_cpus(const cpu_set_t *all)
{
    process_cpus = *all;
    have_process_cpus = 1;
}

void lb_conf_cpus_allowed(cpu_set_t *out)
{
    if (have_process_cpus)
        *out = process_cpus;
    else if (sched_getaffinity(0, sizeof *out, out) < 0)
        CPU_ZERO(out);
}

static int cpulist(struct lb_config_error *e, const struct arg *a, cpu_set_t *set)
{
    cpu_set_t allowed;
    lb_conf_cpus_allowed(&allowed);
    CPU_ZERO(set);
    for (const char *p = a->s;;) {
        uint64_t lo, hi;
        if (range(p, &lo, &hi, &p) < 0 || hi >= CPU_SETSIZE)
            return lb_conf_fail_at(e, a,
                                   "'%s' is not a CPU list: numbers and ranges below %d, "
                                   "comma-separated, as \"0-3,6\"",
                                   a->s, CPU_SETSIZE);
        for (uint64_t c = lo; c <= hi; c++) {
            if (!CPU_ISSET((int)c, &allowed)) {
                char may[256];
                size_t n = 0;
                may[0] = 0;
                for (int k = 0; k < CPU_SETSIZE && n + 8 < sizeof may; k++)
                    if (CPU_ISSET(k, &allowed))
                        n += (size_t)snprintf(may + n, sizeof may - n, "%s%d", n ? "," : "", k);
                return lb_conf_fail_at(e, a,
                                       "CPU %llu is not one this process may use "
                                       "(sched_getaffinity allows %s)",
                                       (unsigned long long)c, may[0] ? may : "none");
            }
            CPU_SET((int)c, set);
        }
        if (*p == 0)
            return 0;
        if (*p++ != ',')
            return lb_conf_fail_at(e, a, "'%s' is not a CPU list (as \"0-3,6\")", a->s);
    }
}

int lb_conf_cpu_map(struct lb_config *c, struct lb_config_error *e, const struct node *n)
{
    if (lb_conf_want_args(e, n, 2, 2) < 0)
        return -1;
    if (c->ncpu_map == LB_CPU_MAP_MAX)
        return lb_conf_fail_at(e, &n->name, "more than %d cpu_map lines", LB_CPU_MAP_MAX);
    struct lb_cpu_map *m = &c->cpu_map[c->ncpu_map];
    const struct arg *t = &n->args[0];
    memset(m, 0, sizeof *m);
    if (!strcmp(t->s, "auto")) {
        m->is_auto = 1;
        m->last = LB_THREADS_MAX - 1;
    } else {
        uint64_t lo, hi;
        const char *end;
        if (range(t->s, &lo, &hi, &end) < 0 || *end || hi >= LB_THREADS_MAX)
            return lb_conf_fail_at(e, t,
                                   "'%s': the threads to pin are a number or a range (0 to "
                                   "%d, as \"0\" or \"0-3\"), or auto",
                                   t->s, LB_THREADS_MAX - 1);
        m->first = (uint32_t)lo;
        m->last = (uint32_t)hi;
    }
    if (cpulist(e, &n->args[1], &m->cpus) < 0)
        return -1;
    if (strlen(t->s) >= sizeof m->threads_text || strlen(n->args[1].s) >= sizeof m->cpus_text)
        return lb_conf_fail_at(e, &n->args[1], "cpu_map: too long");
    snprintf(m->threads_text, sizeof m->threads_text, "%s", t->s);
    snprintf(m->cpus_text, sizeof m->cpus_text, "%s", n->args[1].s);
    m->pos.line = t->line;
    m->pos.col = t->col;
    c->ncpu_map++;
    return 0;
}

int lb_conf_cpu_map_check(const struct lb_config *c, struct lb_config_error *e)
{
    for (size_t i = 0; i < c->ncpu_map; i++) {
        const struct lb_cpu_map *m = &c->cpu_map[i];
        if (!m->is_auto && m->last >= c->threads)
            return lb_conf_fail(e, m->pos.line, m->pos.col,
                                "cpu_map names thread %u, but threads are 0 to %u (threads %u)",
                                m->last, c->threads - 1, c->threads);
    }
    return 0;
}

int lb_config_cpu_set(const struct lb_config *c, uint32_t t, cpu_set_t *set)
{
    int found = 0;
    for (size_t i = 0; i < c->ncpu_map; i++) {
        const struct lb_cpu_map *m = &c->cpu_map[i];
        if (t < m->first || t > m->last)
            continue;
        found = 1;
        if (!m->is_auto) {
            *set = m->cpus;
            continue;
        }
        /* the (t mod count)-th CPU of the list */
        int count = CPU_COUNT(&m->cpus), want = (int)(t % (uint32_t)count);
        CPU_ZERO(set);
        for (int k = 0; k < CPU_SETSIZE; k++)
            if (CPU_ISSET(k, &m->cpus) && want-- == 0) {
                CPU_SET(k, set);
                break;
            }
    }
    return found;
}
