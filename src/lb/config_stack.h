/* What the configuration says about synfin's own TCP: the `transport stack { ... }` block
 * (the device and the addresses the engine owns) and the profile directives only the stack
 * can honour (time_wait, syn_retries, rto_min, syncookies, ...: every engine setting, by the
 * names docs/config.md gives). config.c calls these with one directive at a time, so the
 * words and their checks live here, the positions and messages there. */
#ifndef SYNFIN_LB_CONFIG_STACK_H
#define SYNFIN_LB_CONFIG_STACK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lb/addr.h"
#include "tcp/config.h"

#define LB_STACK_ADDRS 16

enum lb_transport_kind { LB_TRANSPORT_KERNEL, LB_TRANSPORT_STACK };

struct lb_transport_conf {
    int kind; /* enum lb_transport_kind */
    char tun[16];
    /* "10.79.0.1/24", "fd00:79::1/64", one of each joined by a comma, or "" to attach to a
     * configured device */
    char kernel_addr[128];
    struct lb_addr addrs[LB_STACK_ADDRS]; /* the addresses synfin's TCP owns (port 0) */
    uint32_t naddrs;
    int offload;
    char pcap[256]; /* "" off */
    int trace;
    char impair[128]; /* "" off */
    uint32_t max_time_wait;
    int device_fd; /* tests: a packet descriptor to use instead of the TUN (-1: the TUN) */
};

/* The transport block's defaults (kernel). */
void lb_transport_defaults(struct lb_transport_conf *t);
/* Same device, addresses and wire: a reload cannot change them (the device stays open). */
int lb_transport_same(const struct lb_transport_conf *a, const struct lb_transport_conf *b);

/* One directive of `transport stack { }`: 0, 1 if the name is not one, or -1 with the index
 * of the argument at fault in *bad (-1: the directive itself) and a message in why. */
int lb_transport_directive(struct lb_transport_conf *t, const char *name, char *const *args,
                           size_t nargs, int *bad, char *why, size_t whylen);
/* After the block: what it must have. 0, or -1 with a message. */
int lb_transport_finish(const struct lb_transport_conf *t, char *why, size_t whylen);
/* The stack owns addr's host (a listen address or a source): 1 or 0. */
int lb_transport_owns(const struct lb_transport_conf *t, const struct lb_addr *addr);
/* Whether the stack owns an address of the family (AF_INET, AF_INET6). */
int lb_transport_owns_family(const struct lb_transport_conf *t, int family);

/* A stack-only profile directive `name value;`: applied to tcp, its bit set in *set. 0, 1 if
 * the name is not one, or -1 with a message in why. */
int lb_stack_directive(const char *name, const char *value, struct sf_tcp_config *tcp,
                       uint64_t *set, char *why, size_t whylen);
/* Writes the transport block (nothing for the kernel's default) and, with ind before each
 * line, every stack-only profile directive with its value (config_print.c). */
void lb_transport_print(const struct lb_transport_conf *t, FILE *out);
void lb_stack_print(const struct sf_tcp_config *tcp, const char *ind, FILE *out);

/* dst = base with every directive of `set` taken from over. */
void lb_stack_merge(struct sf_tcp_config *dst, const struct sf_tcp_config *base,
                    const struct sf_tcp_config *over, uint64_t set);

#endif
