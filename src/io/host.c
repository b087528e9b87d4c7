/* The host glue; see host.h. */
#include "io/host.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/random.h>

#include "io/coalesce.h"
#include "io/impair.h"
#include "io/pcap.h"
#include "io/steer.h"
#include "net/icmp.h"
#include "net/icmp6.h"

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* A packet from the engine to one of its own addresses (a health check of a responder on
 * the stack): delivered back without the device, as a kernel's loopback would. */
struct looped {
    struct looped *next;
    size_t len;
    uint8_t data[];
};

struct sf_host {
    struct sf_loop *loop;
    struct sf_tun tun;
    struct sf_engine *e;
    struct sf_tcp_config tcp;
    struct sf_io io;
    struct sf_loop_timer deadline; /* the engine's (or a held packet's) next deadline */
    struct sf_hook wake, after;
    int more; /* the device had more than one batch waiting */
    int gone; /* the device's other end went away: nothing more to read */
    struct looped *loop_head, *loop_tail;    /* to our own addresses, after this engine call */
    struct sf_addr addrs[SF_HOST_MAX_ADDRS]; /* ours, IPv4 and IPv6 */
    unsigned naddrs;
    uint8_t routed[SF_HOST_MAX_ADDRS]; /* a route we added for addrs[i] */
    struct sf_tun *spare;              /* queue 0: queues 1..nspare-1 until taken (fd -1) */
    unsigned nspare;
    struct sf_pcap *pcap;
    int impaired;
    /* The engine's TCP checksums leave partial for the device to complete: offload on and
     * nobody who reads them (no capture, no impairment). */
    int tx_partial;
    struct sf_impair impair;
    FILE *trace;
    sf_host_transition_fn on_transition;
    sf_host_batch_fn on_batch;
    void *ctx;
    sf_time_t start;
    struct sf_host_stats st;
    struct sf_coalesce co; /* segments waiting to leave as one GSO write (with offload) */
    uint8_t rxbuf[65536];
    uint8_t copy[65536]; /* an impaired packet's copy: the engine may not keep it */
};

/* The engine's clock is the loop's, in microseconds. */
static sf_time_t now_us(const struct sf_host *h)
{
    return sf_loop_now(h->loop) / 1000u;
}

static uint64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void capture(struct sf_host *h, const void *pkt, size_t len)
{
    if (h->pcap)
        sf_pcap_write(h->pcap, wall_us(), pkt, len);
}

/* Writes the segments waiting in the coalescer: one GSO packet, or one plain packet. */
static void tx_flush(struct sf_host *h)
{
    unsigned nseg = h->co.nseg;
    const uint8_t *p;
    uint16_t seg_size, hdr_len;
    size_t len = sf_coalesce_take(&h->co, &p, &seg_size, &hdr_len);
    if (len == 0)
        return;
    int rc = seg_size || !h->tx_partial ? sf_tun_write_gso(&h->tun, p, len, seg_size, hdr_len)
                                        : sf_tun_write_partial(&h->tun, p, len);
    if (rc < 0) {
        h->st.tx_drops += nseg; /* the device queue is full: a link would drop them too */
        return;
    }
    h->st.tx += nseg;
    if (seg_size)
        h->st.tx_merged += nseg;
}

/* A packet for the kernel. With offload, runs of data segments wait to leave as one write;
 * anything that cannot join goes after what waits, so the order on the wire is kept. */
static void tx(struct sf_host *h, const uint8_t *pkt, size_t len)
{
    if (h->tun.offload) {
        if (sf_coalesce_add(&h->co, pkt, len))
            return;
        tx_flush(h);
        if (sf_coalesce_add(&h->co, pkt, len))
            return;
    }
    /* Only the engine's packets (TCP) carry partial sums; a ping's answer is whole. */
    int tcp = len >= 40 && pkt[(pkt[0] >> 4) == 6 ? 6 : 9] == IPPROTO_TCP;
    if ((h->tx_partial && tcp ? sf_tun_write_partial(&h->tun, pkt, len)
                              : sf_tun_write(&h->tun, pkt, len)) < 0)
        h->st.tx_drops++;
    else
        h->st.tx++;
}

static void to_engine(struct sf_host *h, uint8_t *pkt, size_t len, unsigned flags);

/* A packet crossing the wire in either direction, after any impairment. */
static void deliver(void *ctx, enum sf_impair_dir dir, const uint8_t *pkt, size_t len)
{
    struct sf_host *h = ctx;
    if (dir == SF_TO_ENGINE) {
        memcpy(h->copy, pkt, len); /* echo replies rewrite it in place */
        to_engine(h, h->copy, len, 0);
    } else {
        tx(h, pkt, len);
    }
}

static int ours(const struct sf_host *h, const uint8_t *pkt, size_t len);

/* The engine cannot take a packet while it is sending one: keep it for after the call. */
static void loop_back(struct sf_host *h, const void *pkt, size_t len)
{
    struct looped *l = malloc(sizeof *l + len);
    if (!l) {
        h->st.tx_drops++;
        return;
    }
    l->next = NULL;
    l->len = len;
    memcpy(l->data, pkt, len);
    if (h->loop_tail)
        h->loop_tail->next = l;
    else
        h->loop_head = l;
    h->loop_tail = l;
    if (!sf_loop_timer_armed(&h->deadline) || h->deadline.when > sf_loop_now(h->loop))
        sf_loop_timer_set(h->loop, &h->deadline, sf_loop_now(h->loop));
}

static void output(void *ctx, const void *pkt, size_t len)
{
    struct sf_host *h = ctx;
    capture(h, pkt, len);
    if (ours(h, pkt, len)) {
        loop_back(h, pkt, len);
        return;
    }
    if (h->impaired)
        sf_impair_packet(&h->impair, SF_TO_KERNEL, pkt, len, now_us(h), deliver, h);
    else
        deliver(h, SF_TO_KERNEL, pkt, len);
}

static void transition(void *ctx, const struct sf_transition *t)
{
    struct sf_host *h = ctx;
    if (h->on_transition)
        h->on_transition(h->ctx, t);
    if (!h->trace)
        return;
    char l[SF_ENDPOINT_STRLEN], r[SF_ENDPOINT_STRLEN];
    double at = (double)(t->when - h->start) / 1e6;
    fprintf(h->trace, "%12.6f %s <-> %s id=%llu %s -> %s (%s)\n", at,
            sf_endpoint_str(&t->local, l, sizeof l), sf_endpoint_str(&t->remote, r, sizeof r),
            (unsigned long long)t->id, sf_state_name(t->from), sf_state_name(t->to),
            sf_cause_name(t->cause));
}

/* flags: the engine's (SF_IN_CSUM_VALID: the device vouched for the TCP checksum). */
static void to_engine(struct sf_host *h, uint8_t *pkt, size_t len, unsigned flags)
{
    capture(h, pkt, len);
    if (sf_engine_input_flags(h->e, pkt, len, now_us(h), flags) == -EPROTONOSUPPORT) {
        size_t n =
            (pkt[0] >> 4) == 6 ? sf_icmp6_echo_reply(pkt, len) : sf_icmp_echo_reply(pkt, len);
        if (n) {
            h->st.pings++;
            output(h, pkt, n);
        }
    }
}

/* Whether the packet (IPv4 or IPv6, by its version nibble) goes to one of our addresses.
 * SF_AF_INET and SF_AF_INET6 are the IP version numbers, so the nibble is the family. */
static int ours(const struct sf_host *h, const uint8_t *pkt, size_t len)
{
    int v = len ? pkt[0] >> 4 : 0;
    if (!((v == 4 && len >= 20) || (v == 6 && len >= 40)))
        return 0;
    const uint8_t *dst = pkt + (v == 4 ? 16 : 24);
    for (unsigned i = 0; i < h->naddrs; i++)
        if (h->addrs[i].family == v && memcmp(h->addrs[i].u.v6, dst, v == 4 ? 4 : 16) == 0)
            return 1;
    return 0;
}

/* A packet from the kernel side: TCP (or ICMP about TCP) to the engine, pings answered.
 * The kernel also sends what any IPv6 link gets (router solicitations, MLD reports to
 * multicast groups): not to an address of ours, so counted and dropped. A TUN has no link
 * layer, so there is no neighbour discovery to answer. */
static void packet_in(struct sf_host *h, uint8_t *pkt, size_t len, unsigned flags)
{
    if (!ours(h, pkt, len)) {
        h->st.not_ours++; /* for another host on the device's subnet: nobody is there */
        return;
    }
    h->st.rx++;
    if (h->impaired)
        sf_impair_packet(&h->impair, SF_TO_ENGINE, pkt, len, now_us(h), deliver, h);
    else
        to_engine(h, pkt, len, flags);
}

/* One batch from the device; h->more says whether it had more waiting. */
static void read_packets(struct sf_host *h)
{
    h->more = 0;
    for (int i = 0; i < SF_HOST_BATCH; i++) {
        unsigned fl;
        ssize_t n = sf_tun_read_flags(&h->tun, h->rxbuf, sizeof h->rxbuf, &fl);
        if (n == -EAGAIN)
            return;
        if (n == -EBADMSG) {
            h->st.malformed++; /* counted and dropped, like any bad packet */
            continue;
        }
        if (n <= 0) {
            /* Broken, or (a packet descriptor) its peer closed: nothing left to read. */
            h->gone = n == 0;
            return;
        }
        packet_in(h, h->rxbuf, (size_t)n, fl & SF_TUN_CSUM_VALID ? SF_IN_CSUM_VALID : 0);
    }
    h->more = 1;
}

static void read_batch(struct sf_host *h)
{
    if (h->on_batch)
        h->on_batch(h->ctx, 1);
    read_packets(h);
    if (h->on_batch)
        h->on_batch(h->ctx, 0);
}

static void on_device(struct sf_io *io, uint32_t events)
{
    (void)events;
    struct sf_host *h = CONTAINER(io, struct sf_host, io);
    if (!h->gone)
        read_batch(h);
}

static void deliver_looped(struct sf_host *h)
{
    /* Taken as a batch: what the engine loops back while handling these waits for the next
     * turn, so a pair of connections talking to each other cannot hold the loop. */
    struct looped *l = h->loop_head;
    h->loop_head = h->loop_tail = NULL;
    while (l) {
        struct looped *next = l->next;
        /* The engine's own packets: their sums are right, or partial (tx_partial). */
        if (sf_engine_input_flags(h->e, l->data, l->len, now_us(h), SF_IN_CSUM_VALID) ==
            -EPROTONOSUPPORT)
            h->st.not_ours++;
        free(l);
        l = next;
    }
}

static void on_deadline(struct sf_loop_timer *t)
{
    struct sf_host *h = CONTAINER(t, struct sf_host, deadline);
    deliver_looped(h);
    /* The wake hook ran the engine's timers already; what is left: packets held back by the
     * impairments, and the rest of a device that had more than a batch. */
    if (h->impaired)
        sf_impair_release(&h->impair, now_us(h), deliver, h);
    if (h->more)
        read_batch(h);
}

static void on_wake(struct sf_hook *k)
{
    struct sf_host *h = CONTAINER(k, struct sf_host, wake);
    sf_engine_advance(h->e, now_us(h));
}

static void after_batch(struct sf_hook *k)
{
    struct sf_host *h = CONTAINER(k, struct sf_host, after);
    tx_flush(h); /* before the loop sleeps, nothing may wait */
    sf_time_t next = sf_engine_next_deadline(h->e);
    if (h->impaired && sf_impair_next(&h->impair) < next)
        next = sf_impair_next(&h->impair);
    if (h->more || h->loop_head)
        next = now_us(h);
    if (next == SF_TIME_NEVER) {
        sf_loop_timer_cancel(h->loop, &h->deadline);
        return;
    }
    uint64_t when = next * 1000u;
    if (!sf_loop_timer_armed(&h->deadline) || h->deadline.when != when)
        sf_loop_timer_set(h->loop, &h->deadline, when);
}

/* The kernel side's addresses: "A/N" or several joined by commas (one IPv4, one IPv6). */
struct kernel_net {
    struct sf_addr net;
    int prefix;
};

static unsigned kernel_nets(const char *cidrs, struct kernel_net *out, unsigned cap)
{
    unsigned n = 0;
    for (const char *p = cidrs; p && *p && n < cap;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char a[64];
        const char *slash = memchr(p, '/', len);
        size_t alen = slash ? (size_t)(slash - p) : len;
        if (alen < sizeof a) {
            memcpy(a, p, alen);
            a[alen] = 0;
            if (sf_addr_parse(a, &out[n].net) == 0) {
                int max = out[n].net.family == SF_AF_INET ? 32 : 128;
                out[n].prefix = slash ? atoi(slash + 1) : max;
                if (out[n].prefix > 0 && out[n].prefix <= max)
                    n++;
            }
        }
        p = comma ? comma + 1 : NULL;
    }
    return n;
}

static int in_net(const struct sf_addr *a, const struct kernel_net *k)
{
    if (a->family != k->net.family)
        return 0;
    for (int bit = 0; bit < k->prefix; bit++) {
        unsigned m = 0x80u >> (bit & 7);
        if ((a->u.v6[bit / 8] & m) != (k->net.u.v6[bit / 8] & m))
            return 0;
    }
    return 1;
}

static int route_to(struct sf_host *h, unsigned i, int add, char *err, size_t errlen)
{
    const struct sf_addr *a = &h->addrs[i];
    return sf_tun_route(&h->tun, a->family, a->u.v6, a->family == SF_AF_INET ? 32 : 128, add, err,
                        errlen);
}

/* Addresses outside the kernel side's subnets need a route through the device. */
static int add_routes(struct sf_host *h, const struct sf_host_config *c, char *err, size_t errlen)
{
    struct kernel_net k[4];
    unsigned nk = kernel_nets(c->kernel_cidr, k, 4);
    for (unsigned i = 0; i < h->naddrs; i++) {
        int on_link = 0;
        for (unsigned j = 0; j < nk; j++)
            on_link |= in_net(&h->addrs[i], &k[j]);
        if (on_link)
            continue;
        int rc = route_to(h, i, 1, err, errlen);
        if (rc == -EEXIST)
            continue; /* someone routes it already: not ours to remove */
        if (rc < 0)
            return -1;
        h->routed[i] = 1;
    }
    return 0;
}

/* Each address of a comma-separated list on the kernel side. */
static int configure(struct sf_host *h, const char *cidrs, char *err, size_t errlen)
{
    char one[64];
    for (const char *p = cidrs; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len >= sizeof one) {
            snprintf(err, errlen, "tun: '%.*s' is not ADDRESS/PREFIX", (int)len, p);
            return -1;
        }
        memcpy(one, p, len);
        one[len] = 0;
        if (sf_tun_configure(&h->tun, one, err, errlen) < 0)
            return -1;
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

/* Queue 0 of a multi-queue device: every other queue attached (the kernel numbers them in
 * that order) and the steering program on, all before the device is up, so that from its
 * first packet on the program picks among all the queues. */
static int open_queues(struct sf_host *h, unsigned queues, unsigned flags, char *err, size_t errlen)
{
    if (!(h->spare = calloc(queues, sizeof *h->spare))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    h->nspare = queues;
    for (unsigned k = 0; k < queues; k++)
        h->spare[k].fd = -1;
    for (unsigned k = 1; k < queues; k++)
        if (sf_tun_open(&h->spare[k], h->tun.name, flags, err, errlen) < 0)
            return -1;
    int prog = sf_steer_load(queues, err, errlen);
    if (prog < 0)
        return -1;
    int rc = sf_tun_steer(&h->tun, prog, err, errlen);
    close(prog); /* the device holds its own reference */
    return rc;
}

int sf_host_take_queue(struct sf_host *h, unsigned k, struct sf_tun *out)
{
    if (!h || k == 0 || k >= h->nspare || h->spare[k].fd < 0)
        return -ENOENT;
    *out = h->spare[k];
    h->spare[k].fd = -1;
    return 0;
}

static int open_device(struct sf_host *h, const struct sf_host_config *c, char *err, size_t errlen)
{
    unsigned flags = (c->offload ? SF_TUN_OFFLOAD : 0) | (c->queues > 1 ? SF_TUN_MULTI_QUEUE : 0);
    if (c->fd >= 0) {
        sf_tun_adopt(&h->tun, c->fd, c->tun ? c->tun : "fd");
    } else if (c->queues > 1 && c->queue > 0) {
        /* A queue queue 0 opened for us, of the device it addressed. */
        if (sf_host_take_queue(c->from, c->queue, &h->tun) < 0) {
            snprintf(err, errlen, "tun: %s has no queue %u waiting", c->tun ? c->tun : "?",
                     c->queue);
            return -1;
        }
        if (sf_tun_read_mtu(&h->tun, err, errlen) < 0)
            return -1;
    } else {
        if (sf_tun_open(&h->tun, c->tun, flags, err, errlen) < 0)
            return -1;
        if (c->queues > 1 && open_queues(h, c->queues, flags, err, errlen) < 0)
            return -1;
        if (c->kernel_cidr && configure(h, c->kernel_cidr, err, errlen) < 0)
            return -1;
        if (add_routes(h, c, err, errlen) < 0)
            return -1;
    }
    h->io.fd = h->tun.fd;
    h->io.fn = on_device;
    int rc = sf_loop_add(h->loop, &h->io, EPOLLIN);
    if (rc < 0) {
        snprintf(err, errlen, "%s: epoll: %s", h->tun.name, strerror(-rc));
        return -1;
    }
    return 0;
}

static int make_engine(struct sf_host *h, const struct sf_host_config *c, char *err, size_t errlen)
{
    h->tcp = c->tcp;
    /* Segments must fit the device: the MSS follows its MTU (for IPv4's 20-byte header; the
     * engine takes 20 more off for IPv6's 40). */
    if (h->tcp.mss > (uint32_t)h->tun.mtu - 40)
        h->tcp.mss = (uint32_t)h->tun.mtu - 40;
    struct sf_engine_params p;
    memset(&p, 0, sizeof p);
    p.config = &h->tcp;
    p.ops.output = output;
    p.ops.transition = transition;
    p.ctx = h;
    if (getrandom(p.key, sizeof p.key, 0) != (ssize_t)sizeof p.key) {
        snprintf(err, errlen, "getrandom: %s", strerror(errno));
        return -1;
    }
    /* The first address of each family is the source of unbound connections of that family. */
    for (unsigned i = c->naddrs; i-- > 0;) {
        if (c->addrs[i].family == SF_AF_INET6)
            p.local_addr6 = c->addrs[i];
        else
            p.local_addr = c->addrs[i];
    }
    p.now = h->start = now_us(h);
    if (c->queues > 1) {
        p.port_steer_n = c->queues;
        p.port_steer_index = c->queue;
    }
    p.tx_csum_partial = h->tx_partial;
    h->e = sf_engine_new(&p);
    if (!h->e) {
        snprintf(err, errlen, "cannot create the TCP engine (out of memory, or settings)");
        return -1;
    }
    return 0;
}

struct sf_host *sf_host_new(struct sf_loop *loop, const struct sf_host_config *c, char *err,
                            size_t errlen)
{
    if (c->naddrs == 0 || c->naddrs > SF_HOST_MAX_ADDRS) {
        snprintf(err, errlen, "the stack needs 1 to %d addresses", SF_HOST_MAX_ADDRS);
        return NULL;
    }
    struct sf_host *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->loop = loop;
    h->tun.fd = -1;
    for (unsigned i = 0; i < c->naddrs; i++) {
        if (c->addrs[i].family != SF_AF_INET && c->addrs[i].family != SF_AF_INET6) {
            snprintf(err, errlen, "the stack's addresses are IPv4 or IPv6");
            goto fail;
        }
        h->addrs[i] = c->addrs[i];
    }
    h->naddrs = c->naddrs;
    h->trace = c->trace;
    h->on_transition = c->on_transition;
    h->on_batch = c->on_batch;
    h->ctx = c->ctx;
    if (c->impair) {
        if (sf_impair_parse(&h->impair, c->impair) < 0) {
            snprintf(err, errlen, "impair: '%s' is not loss=PCT,dup=PCT,reorder=PCT,hold=MS,seed=N",
                     c->impair);
            goto fail;
        }
        h->impaired = 1;
    }
    if (c->pcap) {
        char path[4096];
        if (c->queues > 1 && c->queue > 0) /* one file per queue: each thread writes its own */
            snprintf(path, sizeof path, "%s.%u", c->pcap, c->queue);
        else
            snprintf(path, sizeof path, "%s", c->pcap);
        if (!(h->pcap = sf_pcap_open(path))) {
            snprintf(err, errlen, "pcap %s: %s", path, strerror(errno));
            goto fail;
        }
    }
    if (open_device(h, c, err, errlen) < 0)
        goto fail;
    /* A packet the engine is told is good needs no sum, unless a capture shows it or the
     * impairments hold it (delivered later without the device's word for it); the engine's
     * own need none either, the device completing them, on the same terms. */
    h->tun.csum_leave_partial = !h->pcap && !h->impaired;
    h->tx_partial = h->tun.offload && h->tun.csum_leave_partial;
    if (make_engine(h, c, err, errlen) < 0)
        goto fail;
    h->deadline.fn = on_deadline;
    h->wake.fn = on_wake;
    h->after.fn = after_batch;
    sf_loop_add_wake_hook(loop, &h->wake);
    sf_loop_add_hook(loop, &h->after);
    return h;
fail:
    sf_host_free(h);
    return NULL;
}

int sf_host_free(struct sf_host *h)
{
    if (!h)
        return 0;
    int rc = 0;
    if (h->e) {
        tx_flush(h);
        sf_engine_free(h->e);
        sf_loop_del_wake_hook(h->loop, &h->wake);
        sf_loop_del_hook(h->loop, &h->after);
        sf_loop_timer_cancel(h->loop, &h->deadline);
    }
    if (h->tun.fd >= 0) {
        char err[160];
        for (unsigned i = 0; i < h->naddrs; i++)
            if (h->routed[i] && !h->tun.created)
                route_to(h, i, 0, err, sizeof err);
        if (h->io.fn)
            sf_loop_del(h->loop, &h->io);
        sf_tun_close(&h->tun); /* a device we created takes its routes with it */
    }
    for (unsigned k = 0; k < h->nspare; k++)
        sf_tun_close(&h->spare[k]); /* queues nobody took */
    free(h->spare);
    while (h->loop_head) {
        struct looped *l = h->loop_head;
        h->loop_head = l->next;
        free(l);
    }
    if (h->impaired)
        sf_impair_free(&h->impair);
    if (h->pcap && sf_pcap_close(h->pcap) < 0)
        rc = -1;
    free(h);
    return rc;
}

struct sf_engine *sf_host_engine(struct sf_host *h)
{
    return h->e;
}

const struct sf_tun *sf_host_tun(const struct sf_host *h)
{
    return &h->tun;
}

const struct sf_tcp_config *sf_host_tcp_config(const struct sf_host *h)
{
    return &h->tcp;
}

int sf_host_capturing(const struct sf_host *h)
{
    return h->pcap != NULL;
}

void sf_host_stats(const struct sf_host *h, struct sf_host_stats *out)
{
    *out = h->st;
    out->dropped = h->impair.dropped;
    out->duplicated = h->impair.duplicated;
    out->reordered = h->impair.reordered;
}
