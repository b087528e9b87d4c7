/* One pass over the kernel's TCP socket table: the state histogram and, when asked, who holds
 * TIME_WAIT and CLOSE_WAIT. Streaming: sockets are counted as they arrive, never stored. */
#ifndef SYNFIN_STAT_COLLECT_H
#define SYNFIN_STAT_COLLECT_H

#include <stdint.h>

#include "diag/sockdiag.h"
#include "tcpstates.h"
#include "topk.h"

/* Which side a connection was opened from, judged by its ports (see st_direction). */
enum st_dir { ST_OUT = 1, ST_IN = 2 };

/* The two states --by-peer explains. */
enum st_held { ST_HELD_TW, ST_HELD_CW, ST_HELD_N };

struct st_peers {
    /* By remote endpoint: outgoing connections keyed by the remote address and port (the
     * service this host called), incoming ones by the remote address alone (the client:
     * its ports are ephemeral and would make every row one socket). */
    struct st_topk *remote[ST_HELD_N];
    /* By local port: incoming connections by the listening port; all outgoing ones fall in
     * a single row (port 0, kind ST_OUT), as their local ports are ephemeral. */
    struct st_topk *local[ST_HELD_N];
    /* Outgoing TIME_WAIT by (local address, remote address, remote port): the 4-tuple space
     * one source address has toward one service, which the port range bounds. */
    struct st_topk *tw_tuple;
    /* Listening sockets (address, port), sorted by port: which local ends are services. */
    struct st_endpoint *listen;
    size_t nlisten, listen_cap;
};

/* One end of a socket, IPv4-mapped IPv6 addresses folded to IPv4. */
struct st_endpoint {
    uint8_t family;
    uint8_t addr[16];
    uint16_t port;
};

/* The listener whose accept queue is the fullest, relative to its backlog. */
struct st_listener {
    int family;
    uint8_t addr[16];
    uint16_t port;
    uint32_t queued, backlog;
};

struct st_collect {
    struct st_hist hist;
    struct st_peers *peers; /* NULL: histogram only */
    /* Filled by the pass when peers is set: */
    uint8_t listening[65536 / 8]; /* ports some listener has, to skip the lookup for most */
    uint16_t eph_lo, eph_hi;      /* ip_local_port_range, to judge direction */
    uint64_t tw_in, tw_out, cw_in, cw_out;
    struct st_listener fullest;
    uint32_t listeners;
};

/* Distinct remote endpoints counted exactly per table: enough for any host not under a very
 * wide fan-in; past it, counts are Space-Saving bounds (topk.h). At most about 4 MB per
 * table, touched only as keys arrive. */
#define ST_PEER_CAPACITY 65536

/* Tables for --by-peer (capacity distinct keys each); NULL when out of memory. */
struct st_peers *st_peers_new(uint32_t capacity);
void st_peers_free(struct st_peers *p);

/* Counts the sockets q selects into c (clearing c's counts and tables first). Returns 0 or
 * -errno from the dump. */
int st_collect(const struct sf_sockdiag_query *q, struct st_collect *c);
/* The same pass in steps, for a caller that reads the dump itself (sf_sockdiag_step, the
 * admin listener's /host): begin clears c and reads the listeners (0 or -errno), then every
 * entry of the dump goes to st_collect_count (arg: c). */
int st_collect_begin(struct st_collect *c);
int st_collect_count(const struct sf_sockdiag_entry *e, void *arg);

/* Direction of connection e: incoming when a listener owns its local end (same port, and the
 * same address or a wildcard one); outgoing when a listener here owns its remote end (a
 * connection to a service of this host). With neither (the listener is gone, or the service
 * is elsewhere): incoming when the local port is outside the ephemeral range and the remote
 * one inside it, outgoing otherwise. */
enum st_dir st_direction(const struct st_collect *c, const struct sf_sockdiag_entry *e);

#endif
