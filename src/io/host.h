/* The host glue: synfin's TCP engine on a real wire. One place joins a device (a TUN now,
 * AF_XDP later), the engine, the clock and transmit batching, driven by the event loop the
 * balancer uses (io/loop.h): synfin-serve, the balancer's stack transport and the tests all
 * run the engine through it, and none has a poll loop of its own.
 *
 * Per wakeup of the loop:
 *   1. before any event is handled, the engine's clock is set to the loop's (timers due by
 *      then run first), so whatever an owner does in this iteration happens "now";
 *   2. packets the device has are read in batches of up to SF_HOST_BATCH: TCP (and ICMP
 *      errors about TCP) to the engine, pings answered, anything else counted and dropped;
 *   3. after the batch, what the engine sent is written (runs of full segments of one
 *      connection merged into one GSO write when offload is on) and a loop timer is set for
 *      the engine's next deadline.
 * A device that has more than one batch waiting is read again at the next iteration, after
 * timers and other descriptors had their turn.
 *
 * Packets go through the capture (pcap) and the seeded impairments (loss, duplication,
 * reordering in both directions, for kernels without netem) on their way. Transitions of
 * every connection reach a callback and, optionally, a trace printed one line each. */
#ifndef SYNFIN_IO_HOST_H
#define SYNFIN_IO_HOST_H

#include <stdint.h>
#include <stdio.h>

#include "io/loop.h"
#include "io/tun.h"
#include "tcp/tcp.h"

#define SF_HOST_BATCH     512 /* more than a TUN device queues (500) */
#define SF_HOST_MAX_ADDRS 16

typedef void (*sf_host_transition_fn)(void *ctx, const struct sf_transition *t);
/* begin 1 before a batch of packets goes to the engine, 0 after the last of it. */
typedef void (*sf_host_batch_fn)(void *ctx, int begin);

struct sf_host_config {
    const char *tun; /* device name: created if missing, attached to if it exists */
    /* queues > 1: one queue of a multi-queue device (tun.h), one engine per queue. Queue 0
     * opens the device and all its queues, attaches the steering program for `queues` queues
     * (io/steer.h), and only then configures it (kernel_cidr, routes) and brings it up, so
     * that no packet is ever steered among fewer queues; queues 1 to queues-1 come with
     * `from`, queue 0's host, and take their descriptor from it (sf_host_take_queue), leaving
     * the addressing to queue 0. Each engine picks the ports of its connects so that the
     * answers come back to its own queue. */
    unsigned queue, queues;
    struct sf_host *from;
    int fd; /* >= 0: use this packet descriptor (sf_tun_adopt) as the device instead */
    /* The kernel side's address/prefix ("10.79.0.1/24", "fd00:79::1/64", or both joined by
     * a comma), or NULL to leave an attached device's addressing as it is. */
    const char *kernel_cidr;
    /* The addresses synfin's TCP owns (VIPs, sources toward servers), IPv4 and IPv6; the
     * first of each family is the engine's default local address for that family. Those
     * outside the kernel side's subnets get a route through the device, removed again when
     * the host is freed. Packets are told apart by their version nibble. */
    struct sf_addr addrs[SF_HOST_MAX_ADDRS];
    unsigned naddrs;
    struct sf_tcp_config tcp; /* the engine's settings; the MSS is capped by the MTU */
    int offload;              /* ask for receive offload (and merge transmitted runs) */
    const char *pcap;   /* capture both directions to this file (queue k > 0: "FILE.k"), or NULL */
    const char *impair; /* "loss=P,dup=P,reorder=P,hold=MS,seed=N", or NULL */
    FILE *trace;        /* one line per transition, or NULL */
    sf_host_transition_fn on_transition; /* optional: every transition */
    /* Optional: around each batch read from the device, so that an owner can hold the
     * events of the batch until every packet of it is in (as a kernel has taken a whole
     * batch before epoll reports any of it). */
    sf_host_batch_fn on_batch;
    void *ctx;
};

struct sf_host_stats {
    uint64_t rx, tx, tx_drops; /* packets from / to the device; writes the device refused */
    uint64_t tx_merged;        /* segments that left in merged (GSO) writes */
    uint64_t pings, not_ours, malformed;
    uint64_t dropped, duplicated, reordered; /* impairments */
};

struct sf_host;

/* Opens (or attaches to) the device, configures it, adds the routes, creates the engine and
 * joins the loop. NULL with a message in err (one line, naming what is missing: "needs
 * CAP_NET_ADMIN", ...). */
struct sf_host *sf_host_new(struct sf_loop *loop, const struct sf_host_config *c, char *err,
                            size_t errlen);
/* Frees the engine (connections dropped silently: drain them first), removes the routes it
 * added, closes the device (one it created goes away) and the capture. Returns -1 if the
 * capture could not be completed, else 0. */
int sf_host_free(struct sf_host *h);

/* Moves queue k (1 to queues-1) of queue 0's device out of h into out (for a host made with
 * `from`): 0, or -ENOENT if h has no such queue (taken already, or not multi-queue). */
int sf_host_take_queue(struct sf_host *h, unsigned k, struct sf_tun *out);

struct sf_engine *sf_host_engine(struct sf_host *h);
const struct sf_tun *sf_host_tun(const struct sf_host *h);
void sf_host_stats(const struct sf_host *h, struct sf_host_stats *out);
/* The engine's effective settings (after the MTU cap). */
const struct sf_tcp_config *sf_host_tcp_config(const struct sf_host *h);
int sf_host_capturing(const struct sf_host *h);

#endif
