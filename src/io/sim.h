/* A deterministic simulated IPv4 (and IPv6) network: hosts and links in one process, on a virtual
 * clock.
 *
 * A host is an IPv4 address and three callbacks: deliver (a packet arrived), advance (run the
 * timers due now) and next_deadline (when it next needs time). Hosts send with sf_sim_send();
 * the sim routes by destination address, applies the impairments of the link from the sender
 * to the receiver (loss, rate limit with tail drop, corruption, duplication, reordering,
 * delay, jitter) and schedules the delivery.
 *
 * Everything happens on one event queue ordered by (time, insertion sequence), and every
 * random choice comes from a per-link generator derived from the sim's seed and the two
 * addresses, so the same seed and the same inputs give the same trace, byte for byte.
 *
 * Packet buffers are recycled: once the pool has grown to the largest number of packets in
 * flight, sending costs no allocation.
 *
 * The sim is single-threaded and not reentrant: callbacks may call sf_sim_send(),
 * sf_sim_now() and sf_sim_host_touch(), never the sf_sim_run*() functions.
 */
#ifndef SYNFIN_IO_SIM_H
#define SYNFIN_IO_SIM_H

#include <stddef.h>
#include <stdint.h>

/* Microseconds on the virtual clock; the same type as the engine's (tcp/tcp.h), which this
 * library does not depend on. C11 allows the identical typedef twice. */
typedef uint64_t sf_time_t;
#ifndef SF_TIME_NEVER
#define SF_TIME_NEVER UINT64_MAX
#endif

struct sf_sim;
struct sf_sim_host;
struct sf_pcap;

struct sf_sim_host_ops {
    /* A packet arrived. The buffer is valid during the call only. */
    void (*deliver)(void *ctx, const void *pkt, size_t len, sf_time_t now);
    /* Run everything due at or before now. May be NULL (a host without timers). */
    void (*advance)(void *ctx, sf_time_t now);
    /* The earliest time advance() has work, or SF_TIME_NEVER. May be early, never late.
     * May be NULL. */
    sf_time_t (*next_deadline)(void *ctx);
};

/* One direction of a link. Probabilities are in [0, 1]. */
struct sf_sim_link_params {
    sf_time_t delay;      /* one-way propagation delay, us */
    sf_time_t jitter;     /* extra delay drawn uniformly in [0, jitter] per packet, us */
    double loss;          /* the packet is dropped */
    double duplicate;     /* a second copy is delivered (with its own jitter) */
    double corrupt;       /* one random bit of the TCP/UDP part is flipped */
    double reorder;       /* the packet is held back by an extra (0, reorder_us] us, so */
    sf_time_t reorder_us; /* packets sent after it overtake it; 0 means 1000 us */
    uint64_t rate;        /* bytes per second on the wire, 0 = unlimited */
    uint64_t queue_limit; /* with a rate: bytes waiting to be sent beyond which new packets
                             are dropped (tail drop); 0 = unlimited */
};

struct sf_sim_link_stats {
    uint64_t sent;        /* packets handed to the link */
    uint64_t delivered;   /* copies delivered (duplicates included) */
    uint64_t lost;        /* dropped by the loss probability */
    uint64_t queue_drops; /* dropped by the queue limit */
    uint64_t duplicated;  /* extra copies made */
    uint64_t reordered;   /* packets held back */
    uint64_t corrupted;   /* packets with a flipped bit */
    uint64_t bytes_delivered;
};

struct sf_sim_stats {
    uint64_t events;     /* events processed (deliveries and host timer runs) */
    uint64_t unroutable; /* packets for an address no host has (dropped) */
    uint64_t malformed;  /* packets too short or not IPv4 (dropped) */
    uint64_t in_flight;  /* packets scheduled and not yet delivered */
    uint64_t peak_in_flight;
    uint64_t bufs; /* packet buffers allocated (in flight + recycled) */
    uint64_t hosts, links;
};

/* What happened to a packet, for an observer (traces, tests, --verbose). */
enum sf_sim_what {
    SF_SIM_SENT,       /* handed to the link by src */
    SF_SIM_DELIVERED,  /* given to dst */
    SF_SIM_LOST,       /* dropped by loss */
    SF_SIM_QUEUE_DROP, /* dropped by the rate limiter's queue */
    SF_SIM_UNROUTABLE, /* no host has the destination address (dst is NULL) */
    SF_SIM_DUPLICATED, /* a copy was made (the copy is delivered later) */
    SF_SIM_CORRUPTED,  /* a bit was flipped (the packet shown is the corrupted one) */
    SF_SIM_REORDERED,  /* held back */
};
typedef void (*sf_sim_observer_fn)(void *ctx, enum sf_sim_what what, const struct sf_sim_host *src,
                                   const struct sf_sim_host *dst, const void *pkt, size_t len,
                                   sf_time_t now);

/* A new network at time 0. NULL when memory runs out. */
struct sf_sim *sf_sim_new(uint64_t seed);
/* Frees the sim, its hosts and links, and every packet in flight (not the callbacks' ctx, and
 * not the capture writers). */
void sf_sim_free(struct sf_sim *s);

/* Adds a host with the IPv4 address addr (network byte order). NULL with errno EEXIST if the
 * address is taken, ENOMEM when memory runs out, EINVAL if ops->deliver is NULL. */
struct sf_sim_host *sf_sim_host_add(struct sf_sim *s, const uint8_t addr[4],
                                    const struct sf_sim_host_ops *ops, void *ctx);
/* Gives the host an IPv6 address too: IPv6 packets are routed by it. -EEXIST if another host
 * has it. */
int sf_sim_host_add_addr6(struct sf_sim *s, struct sf_sim_host *h, const uint8_t addr[16]);
const uint8_t *sf_sim_host_addr(const struct sf_sim_host *h);
void *sf_sim_host_ctx(const struct sf_sim_host *h);
/* Tells the sim that the host's next deadline may have moved (the owner called into the host
 * from outside a callback, e.g. the engine's send or connect). The run functions also ask
 * every host again when they start. */
void sf_sim_host_touch(struct sf_sim *s, struct sf_sim_host *h);

/* The link used between hosts that have none of their own. Returns 0 or -EINVAL. */
int sf_sim_link_default(struct sf_sim *s, const struct sf_sim_link_params *p);
/* The link from src to dst (one direction). Returns 0, -EINVAL or -ENOMEM. */
int sf_sim_link_set(struct sf_sim *s, const struct sf_sim_host *src, const struct sf_sim_host *dst,
                    const struct sf_sim_link_params *p);
/* Counters of the link from src to dst; -ENOENT if no packet ever took it. */
int sf_sim_link_stats(const struct sf_sim *s, const struct sf_sim_host *src,
                      const struct sf_sim_host *dst, struct sf_sim_link_stats *out);
/* All links summed. */
void sf_sim_link_totals(const struct sf_sim *s, struct sf_sim_link_stats *out);
void sf_sim_stats(const struct sf_sim *s, struct sf_sim_stats *out);

/* Every delivered packet goes to `delivered` and every dropped one (lost, queue drop,
 * unroutable) to `dropped`; either may be NULL, both may be the same writer. Write errors are
 * kept by the writer (sf_pcap_close reports them). */
void sf_sim_set_capture(struct sf_sim *s, struct sf_pcap *delivered, struct sf_pcap *dropped);
void sf_sim_set_observer(struct sf_sim *s, sf_sim_observer_fn fn, void *ctx);

sf_time_t sf_sim_now(const struct sf_sim *s);

/* Sends an IPv4 or IPv6 packet from host src at the current time. Returns 0 when the packet was
 * handed to a link (it may still be lost there), -EHOSTUNREACH when no host has the
 * destination address, -EINVAL when it is not IPv4 or too short, -EMSGSIZE above 65535 bytes,
 * -ENOMEM when no buffer could be allocated. */
int sf_sim_send(struct sf_sim *s, struct sf_sim_host *src, const void *pkt, size_t len);

/* Processes every event at or before t, then sets the clock to t (never backwards). */
void sf_sim_run_until(struct sf_sim *s, sf_time_t t);
/* Processes events in order until pred(ctx) returns non-zero (checked once before the first
 * event and after each one) or the next event is later than deadline. Returns 1 when pred
 * became true (the clock stays at that event's time), 0 at the deadline (the clock is set to
 * the deadline). */
int sf_sim_run_until_pred(struct sf_sim *s, sf_time_t deadline, int (*pred)(void *ctx), void *ctx);
/* Runs until no packet is in flight and no host has a deadline at or before limit. Returns 0
 * when idle (the clock stays at the last event), -ETIMEDOUT if packets are still in flight at
 * limit (the clock is set to limit). */
int sf_sim_run_until_idle(struct sf_sim *s, sf_time_t limit);

#endif
