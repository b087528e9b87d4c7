/* Where the ports of a backend's `source` ranges come from on kernel sockets.
 *
 * The kernel chooses a port at connect time within a socket's IP_LOCAL_PORT_RANGE (Linux
 * 6.3+), and so can share it between connections toward different servers. But the option
 * only narrows the system's net.ipv4.ip_local_port_range: inet_sk_get_local_port_range takes
 * each of its bounds only where it lies inside the system's, so a range outside it is
 * ignored and one straddling it is cut. Only a range inside the system's is left to the
 * kernel; any other (and every one before 6.3) is walked by the transport itself, binding
 * each port (transport_kernel.c, walk_range). The system's range is read at start and at
 * each reload, and the choice logged once per range that is new or changed.
 *
 * With threads each thread walks from its own share of the range (thread k of N from
 * k/N of it), so that their cursors, advancing at about the same pace, rarely meet. */
#include "lb/source_ports.h"
#include "lb/shared.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif

#define SYSTEM_RANGE "/proc/sys/net/ipv4/ip_local_port_range"

struct system_ports {
    unsigned lo, hi;
    int known;     /* the sysctl was read */
    int supported; /* the kernel has IP_LOCAL_PORT_RANGE */
};

static void system_ports(struct system_ports *sp)
{
    FILE *f = fopen(SYSTEM_RANGE, "re");
    sp->known = f && fscanf(f, "%u %u", &sp->lo, &sp->hi) == 2;
    if (f)
        fclose(f);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int v = 1 | (1 << 16);
    sp->supported = fd >= 0 && setsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &v, sizeof v) == 0;
    if (fd >= 0)
        close(fd);
}

static int same(const struct lb_source *a, const struct lb_source *b)
{
    return lb_addr_equal(&a->addr, &b->addr) && a->port_lo == b->port_lo &&
           a->port_hi == b->port_hi && a->walk == b->walk;
}

static void log_choice(struct lb *lb, const struct lb_backend *b, const struct lb_source *s,
                       const struct system_ports *sp)
{
    char host[LB_ADDR_STRLEN], sys[32] = "unknown";
    lb_addr_host(&s->addr, host, sizeof host);
    int v6 = s->addr.u.sa.sa_family == AF_INET6;
    if (sp->known)
        snprintf(sys, sizeof sys, "%u-%u", sp->lo, sp->hi);
    const char *why = !sp->supported ? "the kernel has no IP_LOCAL_PORT_RANGE (before Linux 6.3)"
                      : !sp->known   ? "the system's ip_local_port_range could not be read"
                      : s->walk      ? "outside the system's ip_local_port_range, which "
                                       "IP_LOCAL_PORT_RANGE can only narrow"
                                     : "inside the system's ip_local_port_range";
    lb_logf(lb,
            "event=source_ports backend=%s source=%s%s%s:%u-%u ports=%s system_range=%s "
            "reason=\"%s\"",
            b->conf.name, v6 ? "[" : "", host, v6 ? "]" : "", s->port_lo, s->port_hi,
            s->walk ? "walk" : "kernel", sys, why);
}

void lb_source_ports_plan(struct lb *lb, struct lb_backend *b, const struct lb_source *old,
                          uint32_t nold)
{
    struct lb_profile *p = &b->conf.profile;
    uint32_t nthreads = lb->shared ? lb->shared->nthreads : 1;
    int kernel = !strcmp(lb->tp->ops->name, "kernel");
    struct system_ports sp;
    int read = 0;
    for (uint32_t i = 0; i < p->nsources; i++) {
        struct lb_source *s = &p->sources[i];
        if (!s->port_lo)
            continue;
        uint32_t n = (uint32_t)(s->port_hi - s->port_lo) + 1;
        s->next = (uint32_t)((uint64_t)n * lb->thread / nthreads);
        if (!kernel)
            continue;
        if (!read) {
            system_ports(&sp);
            read = 1;
        }
        s->walk = !sp.supported || !sp.known || s->port_lo < sp.lo || s->port_hi > sp.hi;
        int known = 0;
        for (uint32_t k = 0; k < nold && !known; k++)
            known = same(&old[k], s);
        s->unlogged = lb->thread == 0 && !known;
    }
}

void lb_source_ports_log(struct lb *lb)
{
    struct system_ports sp;
    int read = 0;
    for (size_t i = 0; i < lb->nbe; i++) {
        struct lb_profile *p = &lb->be[i]->conf.profile;
        for (uint32_t k = 0; k < p->nsources; k++) {
            struct lb_source *s = &p->sources[k];
            if (!s->unlogged)
                continue;
            if (!read) {
                system_ports(&sp);
                read = 1;
            }
            log_choice(lb, lb->be[i], s, &sp);
            s->unlogged = 0;
        }
    }
}
