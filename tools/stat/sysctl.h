/* Reading the TCP sysctls the advisor weighs, from /proc/sys of the caller's network
 * namespace (most of them are per namespace). Read only: nothing here ever writes one. */
#ifndef SYNFIN_STAT_SYSCTL_H
#define SYNFIN_STAT_SYSCTL_H

#include <stddef.h>

enum st_sysctl {
    SC_TW_REUSE,
    SC_TW_RECYCLE, /* gone since Linux 4.12: normally absent */
    SC_FIN_TIMEOUT,
    SC_MAX_TW_BUCKETS,
    SC_SYNCOOKIES,
    SC_MAX_SYN_BACKLOG,
    SC_SOMAXCONN,
    SC_PORT_LO, /* ip_local_port_range, first number */
    SC_PORT_HI, /* ip_local_port_range, second number */
    SC_KEEPALIVE_TIME,
    SC_KEEPALIVE_INTVL,
    SC_KEEPALIVE_PROBES,
    SC_TIMESTAMPS,
    SC_TW_REUSE_DELAY, /* Linux 6.14+: ms before tw_reuse may take a TIME_WAIT 4-tuple */
    SC_N
};

struct st_sysctls {
    long v[SC_N];
    int present[SC_N]; /* 0: absent or unreadable; v is then meaningless */
};

/* The sysctl's name as `sysctl` prints it (net.ipv4.tcp_tw_reuse). */
const char *st_sysctl_name(enum st_sysctl id);

/* Reads every one under root ("/proc/sys" normally; tests point it elsewhere). */
void st_sysctls_read(const char *root, struct st_sysctls *s);

/* Looks for an uncommented line setting key (dotted, e.g. "net.ipv4.tcp_tw_recycle") in the
 * sysctl configuration: /etc/sysctl.conf and the sysctl.d directories. Writes "FILE:LINE" of
 * the first one into where and returns 1, or returns 0. */
int st_sysctl_conf_find(const char *key, char *where, size_t wlen);

/* The ephemeral port range of the current namespace; 0 or -1 if unreadable. */
int st_sysctl_port_range(long *lo, long *hi);

#endif
