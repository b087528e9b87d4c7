/* Streaming reader of the kernel's TCP socket table through NETLINK_SOCK_DIAG (inet_diag).
 *
 * This is what `ss` uses instead of /proc/net/tcp text: binary records, filtered by state in
 * the kernel, delivered in batches. Entries are handed to a callback one at a time and never
 * stored, so memory stays flat however many sockets the host has. */
#ifndef SYNFIN_DIAG_SOCKDIAG_H
#define SYNFIN_DIAG_SOCKDIAG_H

#include <stdint.h>
#include <netinet/in.h>

/* Linux TCP state numbers (include/net/tcp_states.h), as inet_diag reports them. */
enum sf_kstate {
    SF_KS_ESTABLISHED = 1,
    SF_KS_SYN_SENT,
    SF_KS_SYN_RECV,
    SF_KS_FIN_WAIT1,
    SF_KS_FIN_WAIT2,
    SF_KS_TIME_WAIT,
    SF_KS_CLOSE,
    SF_KS_CLOSE_WAIT,
    SF_KS_LAST_ACK,
    SF_KS_LISTEN,
    SF_KS_CLOSING,
    SF_KS_NEW_SYN_RECV,
    SF_KS_MAX
};

#define SF_KSTATES_ALL   0xffffffffu
#define SF_KSTATE_BIT(s) (1u << (s))

/* The Linux name of a state ("TIME-WAIT" style as ss prints, e.g. "TIME-WAIT"). */
const char *sf_kstate_name(int state);

struct sf_sockdiag_entry {
    int family; /* AF_INET or AF_INET6 */
    int state;  /* enum sf_kstate */
    /* Addresses in network order; IPv4 in the first 4 bytes. Ports in host order. */
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
    uint32_t rqueue, wqueue; /* bytes: receive and send queues (listen: backlog, max) */
    uint32_t timer;          /* 0 none, 1 retransmit, 2 keepalive, 3 TIME-WAIT, 4 probe */
    uint32_t expires_ms;     /* time left on that timer */
    uint32_t uid, inode;
};

/* Called once per socket; a non-zero return stops the dump and is returned by the dump. */
typedef int (*sf_sockdiag_cb)(const struct sf_sockdiag_entry *e, void *arg);

/* A condition on one end of a socket: address prefix and/or port. */
struct sf_sockdiag_cond {
    uint8_t active;     /* 0: no condition (the rest is ignored) */
    uint8_t family;     /* AF_INET or AF_INET6 with prefix_len > 0; AF_UNSPEC: port only */
    uint8_t prefix_len; /* leading bits of addr that must match (32 or 128 for one host) */
    int32_t port;       /* -1: any port */
    uint8_t addr[16];   /* network order; IPv4 in the first 4 bytes */
};

struct sf_sockdiag_query {
    int family;      /* AF_INET, AF_INET6, or AF_UNSPEC for both */
    uint32_t states; /* SF_KSTATE_BIT mask, SF_KSTATES_ALL for every state */
    /* Optional kernel-side port filter (0 = none): sockets whose source or destination port
     * equals it. Filtering in the kernel keeps a dump over a million sockets cheap. */
    uint16_t port;
    /* Optional conditions on the local (source) and remote (destination) end, also run in
     * the kernel. An IPv4 condition matches IPv4-mapped IPv6 sockets too. All conditions
     * given must hold. */
    struct sf_sockdiag_cond local, remote;
};

/* Whether entry e meets every condition of q (what the kernel filter computes; the dump
 * checks it again so that old kernels' looser address matching never leaks through). */
int sf_sockdiag_match(const struct sf_sockdiag_query *q, const struct sf_sockdiag_entry *e);

/* Dumps TCP sockets of the calling thread's network namespace. Returns 0 when the dump
 * completed, the callback's non-zero value if it stopped it, or -errno on failure
 * (-EPROTONOSUPPORT when the kernel has no inet_diag, -EPERM, ...). */
int sf_sockdiag_dump(const struct sf_sockdiag_query *q, sf_sockdiag_cb cb, void *arg);

/* The same dump read in steps, for a caller that must not hold its event loop for a whole
 * one: each step reads at most max_batches batches (one recv each, up to 32 KiB of entries;
 * 0: no bound). The netlink socket stays open between steps. */
struct sf_sockdiag_stream {
    struct sf_sockdiag_query q;
    int fd;    /* the request being read, or -1 */
    int stage; /* which request: both families, IPv4, IPv6, done */
    unsigned long delivered;
    unsigned long batches; /* read so far (the caller's measure of work done) */
};
/* 0, or -EAFNOSUPPORT for a family other than AF_INET, AF_INET6, AF_UNSPEC. */
int sf_sockdiag_open(struct sf_sockdiag_stream *st, const struct sf_sockdiag_query *q);
/* 1 while entries remain, 0 when the dump is complete, the callback's non-zero value if it
 * stopped the dump, or -errno (the stream is then finished: further steps return 0). */
int sf_sockdiag_step(struct sf_sockdiag_stream *st, unsigned max_batches, sf_sockdiag_cb cb,
                     void *arg);
/* Releases the socket; a stream may be closed at any step. */
void sf_sockdiag_close(struct sf_sockdiag_stream *st);

#endif
