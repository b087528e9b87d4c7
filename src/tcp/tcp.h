/* synfin TCP engine: the public API.
 *
 * The engine is sans-I/O. The owner hands it IP packets and the current time; it hands back
 * IP packets (ops.output), state transitions (ops.transition), events on connections (each
 * connection's handler) and the time of its next deadline. It never calls the OS: no sockets,
 * no clock, no randomness of its own (the key comes in with the parameters).
 *
 * Connections follow the socket model, so that a socket-style owner (the packet-script runner,
 * the load balancer) maps onto it one to one:
 *   sf_socket → [sf_setopt] → sf_bind → sf_listen → sf_accept ...
 *   sf_socket → [sf_setopt] → [sf_bind] → sf_connect ...
 *   sf_send / sf_recv / sf_shutdown / sf_close / sf_abort
 * A handle returned by sf_socket or sf_accept stays valid until the owner releases it with
 * sf_close or sf_abort, whatever happens on the wire; the engine then finishes the protocol
 * (FIN exchange, TIME-WAIT) on its own and frees what is left.
 *
 * Events are delivered after the engine has finished processing the input, timer or call
 * that caused them, never in the middle of it, so a handler may call any function of this
 * API, including sf_close on the connection it was called for.
 *
 * Time is a monotonic count of microseconds chosen by the owner (a virtual clock in tests,
 * CLOCK_MONOTONIC in production). Timers have a resolution of one millisecond and never fire
 * early. Calls that take no time argument (sf_send, sf_connect, sf_close, ...) act at the
 * engine's clock as of the last sf_engine_input or sf_engine_advance: an owner whose clock
 * has moved calls sf_engine_advance(e, now) first, as an event loop does on every wakeup.
 */

#ifndef SYNFIN_TCP_TCP_H
#define SYNFIN_TCP_TCP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tcp/config.h"

typedef uint64_t sf_time_t; /* microseconds */
#define SF_TIME_NEVER UINT64_MAX
#define SF_MS(x)      ((sf_time_t)(x)*1000u)
#define SF_SEC(x)     ((sf_time_t)(x)*1000000u)

/* ---- addresses ----------------------------------------------------------------------- */

enum { SF_AF_INET = 4, SF_AF_INET6 = 6 };

/* An IP address. IPv4 now; the type already has room for IPv6. */
struct sf_addr {
    uint8_t family; /* SF_AF_INET or SF_AF_INET6 */
    union {
        uint8_t v4[4]; /* network order */
        uint8_t v6[16];
    } u;
};

struct sf_endpoint {
    struct sf_addr addr;
    uint16_t port; /* host order */
};

struct sf_addr sf_addr_v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d);
/* Parses dotted IPv4 or IPv6 text. Returns 0 or -EINVAL. */
int sf_addr_parse(const char *text, struct sf_addr *out);
/* "a.b.c.d" or "a.b.c.d:port" ("[v6]:port") into buf (at least SF_ENDPOINT_STRLEN bytes); returns
 * buf. */
#define SF_ENDPOINT_STRLEN 64
char *sf_addr_str(const struct sf_addr *a, char *buf, size_t len);
char *sf_endpoint_str(const struct sf_endpoint *ep, char *buf, size_t len);
int sf_addr_equal(const struct sf_addr *a, const struct sf_addr *b);

/* ---- states and causes ---------------------------------------------------------------- */

/* The eleven states of RFC 9293 §3.3.2, in lifecycle order. */
enum sf_state {
    SF_CLOSED,
    SF_LISTEN,
    SF_SYN_SENT,
    SF_SYN_RECEIVED,
    SF_ESTABLISHED,
    SF_FIN_WAIT_1,
    SF_FIN_WAIT_2,
    SF_CLOSE_WAIT,
    SF_CLOSING,
    SF_LAST_ACK,
    SF_TIME_WAIT,
    SF_STATE_COUNT
};

/* "ESTABLISHED", "FIN_WAIT_1", ... */
const char *sf_state_name(enum sf_state s);

/* What caused a transition (and, for the last one, the end of a connection): the segment
 * that arrived, the timer that fired, or the owner's call. */
enum sf_cause {
    SF_CAUSE_NONE,
    /* segments */
    SF_CAUSE_SYN,        /* a SYN (passive open, simultaneous open, TIME-WAIT reopen) */
    SF_CAUSE_SYN_ACK,    /* a SYN-ACK completing an active open */
    SF_CAUSE_ACK,        /* an ACK (of our SYN or our FIN) */
    SF_CAUSE_FIN,        /* the peer's FIN */
    SF_CAUSE_FIN_ACK,    /* the peer's FIN acknowledging ours in the same segment */
    SF_CAUSE_RST,        /* an acceptable RST */
    SF_CAUSE_COOKIE_ACK, /* an ACK carrying a valid syncookie */
    /* the owner */
    SF_CAUSE_CONNECT,         /* active OPEN */
    SF_CAUSE_LISTEN,          /* passive OPEN */
    SF_CAUSE_CLOSE,           /* CLOSE: our FIN is queued */
    SF_CAUSE_SHUTDOWN,        /* shutdown(write): our FIN is queued, reads go on */
    SF_CAUSE_ABORT,           /* ABORT: RST sent */
    SF_CAUSE_UNREAD_CLOSE,    /* CLOSE with unread received data: RST sent (RFC 2525 §2.17) */
    SF_CAUSE_LINGER0,         /* CLOSE with SO_LINGER 0: RST sent */
    SF_CAUSE_LISTENER_CLOSED, /* not yet accepted when its listener closed: RST sent */
    /* timers */
    SF_CAUSE_SYN_TIMEOUT,       /* syn_retries / synack_retries exhausted */
    SF_CAUSE_RETRANS_TIMEOUT,   /* retries2 exhausted (data or FIN never acknowledged) */
    SF_CAUSE_USER_TIMEOUT,      /* TCP_USER_TIMEOUT: data unacknowledged for too long */
    SF_CAUSE_KEEPALIVE_TIMEOUT, /* keepalive_probes unanswered */
    SF_CAUSE_FIN_WAIT2_TIMEOUT, /* fin_wait2_timeout_ms in FIN-WAIT-2 after close */
    SF_CAUSE_LAST_ACK_TIMEOUT,  /* last_ack_timeout_ms in LAST-ACK */
    SF_CAUSE_ICMP_UNREACH,      /* ICMP port/protocol unreachable for our SYN */
    SF_CAUSE_TIME_WAIT_TIMEOUT, /* time_wait_ms elapsed (2MSL) */
    /* TIME-WAIT table */
    SF_CAUSE_TW_REOPEN,   /* a new SYN for the same 4-tuple took over (RFC 9293, RFC 6191) */
    SF_CAUSE_TW_REUSE,    /* a new outgoing connection took over (tw_reuse) */
    SF_CAUSE_TW_OVERFLOW, /* max_tw reached: no TIME-WAIT entry for this connection */
    SF_CAUSE_ENGINE_FREE, /* the engine was freed */
    SF_CAUSE_COUNT
};

/* "FIN", "SYN+ACK", "time_wait timer", "close()", ... */
const char *sf_cause_name(enum sf_cause c);
/* The same as an identifier, for labels and keys: "fin", "syn_ack", "time_wait_timer", ... */
const char *sf_cause_id(enum sf_cause c);

/* One state change. Every change of every connection, and of every TIME-WAIT entry, goes
 * through one function in the engine and is reported here. */
struct sf_transition {
    uint64_t id;          /* connection serial number, unique in this engine */
    struct sf_conn *conn; /* NULL for a TIME-WAIT entry (the connection is gone) */
    struct sf_endpoint local, remote;
    enum sf_state from, to;
    enum sf_cause cause;
    sf_time_t when;
};

/* ---- the engine ------------------------------------------------------------------------- */

struct sf_engine;
struct sf_conn;

struct sf_engine_ops {
    /* A complete IP packet to transmit. The buffer is valid during the call only. */
    void (*output)(void *ctx, const void *pkt, size_t len);
    /* Optional: every state transition. May not call back into the engine. */
    void (*transition)(void *ctx, const struct sf_transition *t);
};

struct sf_engine_params {
    const struct sf_tcp_config *config; /* NULL: the documented defaults */
    struct sf_engine_ops ops;
    void *ctx;
    /* The engine's secret: keys the ISN function (RFC 6528), the connection table hash and
     * syncookies. Production owners fill it from getrandom(); tests from a seed. */
    uint8_t key[32];
    struct sf_addr local_addr;  /* source address for connections not bound to one */
    struct sf_addr local_addr6; /* the same for IPv6 destinations (family 0: none) */
    sf_time_t now;              /* the clock's value at creation */
    /* Port steering (the stack transport with threads: one engine per TUN queue, the queue
     * chosen by sf_steer_ports of the packet's ports, io/steer.h). A connect that picks an
     * ephemeral port takes one with sf_steer_ports(local, remote, port_steer_n) ==
     * port_steer_index, so the peer's answers reach this engine's queue. 0 or 1: any. */
    uint32_t port_steer_n, port_steer_index;

    /* 1: every segment leaves with its TCP checksum partial, the pseudo-header's sum alone
     * (what Linux leaves in a CHECKSUM_PARTIAL packet), for an owner whose device completes
     * it (a TUN written with NEEDS_CSUM): no pass over the payload. 0: complete. */
    int tx_csum_partial;
};

/* The queue of a flow among n by its ports: symmetric (the sum), then mixed (Fibonacci
 * hashing: the sum times 2^32/phi, its top 16 bits), because a plain sum modulo n is a poor
 * spread: Linux gives connect() even ports by preference, so the sums of one machine's
 * clients to one port all have the same parity. The BPF program of io/steer.c computes the
 * same in 32-bit arithmetic. */
static inline uint32_t sf_steer_ports(uint32_t a, uint32_t b, uint32_t n)
{
    return n > 1 ? (((a + b) * 0x9e3779b1u) >> 16) % n : 0;
}

/* Returns NULL when memory runs out or the configuration is invalid. */
struct sf_engine *sf_engine_new(const struct sf_engine_params *p);
/* Frees the engine and everything in it. Connections are dropped silently (nothing is sent);
 * handles held by the owner become invalid. */
void sf_engine_free(struct sf_engine *e);

/* An IP packet arrived. Malformed packets are counted and dropped. Returns 0 if the packet
 * was TCP, or an ICMP error about TCP, for this engine; or a negative errno saying why it was
 * not taken (-EINVAL malformed, -EBADMSG bad checksum, -EPROTONOSUPPORT anything else, such
 * as an ICMP echo request, which the owner may answer). */
int sf_engine_input(struct sf_engine *e, const void *pkt, size_t len, sf_time_t now);
/* The same, with what the owner knows of the packet. SF_IN_CSUM_VALID: its TCP checksum is
 * known good, so the engine does not sum every byte again. Only for a device that says so
 * per packet: a TUN's virtio header with DATA_VALID (the kernel verified it) or NEEDS_CSUM
 * (the host's own packet, never on a wire, its sum completed or left to us). The IPv4
 * header's checksum is still checked. */
#define SF_IN_CSUM_VALID 1u
int sf_engine_input_flags(struct sf_engine *e, const void *pkt, size_t len, sf_time_t now,
                          unsigned flags);

/* Runs every timer due at or before now. */
void sf_engine_advance(struct sf_engine *e, sf_time_t now);

/* The earliest time at which sf_engine_advance has something to do, or SF_TIME_NEVER.
 * It may be early (a timer wheel cascade), never late. */
sf_time_t sf_engine_next_deadline(const struct sf_engine *e);

/* The engine's effective configuration. */
const struct sf_tcp_config *sf_engine_config(const struct sf_engine *e);

/* ---- profiles ----------------------------------------------------------------------------- */

/* A profile: one set of settings for the connections that use it, as an F5 TCP profile is
 * (time_wait_ms, syn_retries, rto_min_ms, delack_ms, initcwnd, sack, syncookies, rfc1337,
 * ...: every setting of struct sf_tcp_config but the engine-wide ones, which are max_tw,
 * somaxconn, challenge_ack_limit and port_range_lo/hi). Connections use the engine's own
 * configuration unless given another with sf_set_profile before listen or connect; accepted
 * connections take their listener's, TIME-WAIT entries keep what they need of it. A profile
 * lives while its owner or any connection uses it, so releasing it (a reload) never changes
 * a connection that started under it. */
struct sf_profile;
/* NULL with a message naming the setting when cfg fails sf_tcp_config_check, or -ENOMEM. */
struct sf_profile *sf_profile_new(struct sf_engine *e, const struct sf_tcp_config *cfg, char *err,
                                  size_t errlen);
/* The owner's reference: the profile goes when the last connection using it does. */
void sf_profile_release(struct sf_profile *p);
const struct sf_tcp_config *sf_profile_config(const struct sf_profile *p);

/* Counters (MIB style) and live object counts. */
struct sf_engine_stats {
    /* packets */
    uint64_t segs_in, segs_out, retrans_segs;
    uint64_t in_malformed, in_bad_csum, in_not_tcp, in_fragments;
    uint64_t rst_out, rst_in, no_conn; /* no_conn: segments for no connection */
    /* connections */
    uint64_t active_opens, passive_opens, attempt_fails, estab_resets;
    uint64_t listen_overflows, syn_backlog_drops, alloc_fails;
    uint64_t syncookies_sent, syncookies_ok, syncookies_failed;
    /* TCP Fast Open (RFC 7413), server: cookies sent in SYN-ACKs, SYN data accepted (valid
     * cookie, or none needed), refused (bad cookie: data dropped), not tried because a limit
     * (listener queue or fastopen_max_pending) was reached */
    uint64_t tfo_cookies_sent, tfo_accepted, tfo_refused, tfo_overflow;
    /* TCP Fast Open, client: SYNs that asked for a cookie; SYNs sent as Fast Open (a cookie
     * and data, or data alone with the 0x4 bit);
     * SYN-ACKs that acknowledged all of the SYN's data; SYN data sent again after the
     * handshake (not or partly acknowledged, Linux's TCPFastOpenActiveFail); connects that
     * asked for Fast Open to a server where it failed lately (a plain SYN instead) */
    uint64_t tfo_client_requests, tfo_client_syn_data, tfo_client_data_acked;
    uint64_t tfo_client_fallbacks, tfo_client_blocked;
    /* RFC 5961 and PAWS */
    uint64_t challenge_acks, challenge_acks_limited, paws_drops, out_of_window;
    /* TIME-WAIT */
    uint64_t tw_created, tw_expired, tw_reopened, tw_reused, tw_killed_rst, tw_rst_ignored;
    uint64_t tw_overflow; /* TIME-WAIT entries refused: max_tw reached (or no memory) */
    uint64_t tw_fin_reacked;
    uint64_t tw_aborted; /* entries ended by sf_abort on their connection's handle */
    /* timeouts */
    uint64_t keepalive_timeouts, keepalive_probes, fin_wait2_timeouts, last_ack_timeouts;
    uint64_t retrans_timeouts, user_timeouts, zero_window_probes;
    uint64_t rto_expirations; /* retransmission timer fired with data outstanding */

    /* ICMP (errors about TCP segments) */
    uint64_t icmp_in, icmp_ignored, pmtu_updates;
    /* live objects: all go back to zero once everything is closed and expired */
    uint64_t conns_live, tw_live, bufs_live, bytes_buffered;
    uint64_t tfo_pending; /* Fast Open connections before the end of their handshake */
    uint64_t tw_memory;   /* bytes held by the TIME-WAIT table (entries, index, buckets) */

    uint64_t states[SF_STATE_COUNT]; /* connections per state; TIME_WAIT counts entries */
};
void sf_engine_stats(const struct sf_engine *e, struct sf_engine_stats *out);

/* Memory held by one connection object and one TIME-WAIT entry (for benchmarks and docs). */
size_t sf_conn_size(void);
size_t sf_tw_entry_size(void);

/* ---- connections ------------------------------------------------------------------------ */

enum {
    SF_EV_CONNECTED = 1u << 0, /* active open completed (ESTABLISHED) */
    SF_EV_ACCEPT = 1u << 1,    /* listener: a connection waits in the accept queue */
    SF_EV_READABLE = 1u << 2,  /* data to read, or end of stream after the peer's FIN */
    SF_EV_WRITABLE = 1u << 3,  /* room in the send buffer again */
    SF_EV_PEER_FIN = 1u << 4,  /* the peer's FIN arrived in order: no more data will come */
    SF_EV_RESET = 1u << 5,     /* aborted: RST received or a timeout; see sf_take_error() */
    SF_EV_CLOSED = 1u << 6,    /* the connection is over (CLOSED, or handed to TIME-WAIT) */
};

typedef void (*sf_event_fn)(struct sf_conn *c, unsigned events, void *user);

enum sf_opt {
    SF_OPT_NODELAY,          /* 0/1: disable Nagle (TCP_NODELAY) */
    SF_OPT_LINGER,           /* -1 off, 0: close() sends RST, N>0: accepted (no blocking here) */
    SF_OPT_REUSEADDR,        /* 0/1: bind() to a port that has TIME-WAIT entries */
    SF_OPT_KEEPALIVE,        /* 0/1 (SO_KEEPALIVE) */
    SF_OPT_KEEPIDLE,         /* seconds (TCP_KEEPIDLE) */
    SF_OPT_KEEPINTVL,        /* seconds (TCP_KEEPINTVL) */
    SF_OPT_KEEPCNT,          /* probes (TCP_KEEPCNT) */
    SF_OPT_USER_TIMEOUT,     /* ms, 0 = off (TCP_USER_TIMEOUT) */
    SF_OPT_MAXSEG,           /* MSS to advertise, before connect/listen (TCP_MAXSEG) */
    SF_OPT_RCVBUF,           /* bytes, before connect/listen */
    SF_OPT_SNDBUF,           /* bytes */
    SF_OPT_TIME_WAIT_MS,     /* this connection's TIME-WAIT duration (per-profile TIME-WAIT) */
    SF_OPT_CORK,             /* 0/1 (TCP_CORK): only full segments go until uncorked; a FIN queued
                              * meanwhile rides on the last data. No 200 ms ceiling as in Linux:
                              * the owner uncorks (or closes) when its reply is complete. */
    SF_OPT_FASTOPEN,         /* listener: Fast Open queue length (TCP_FASTOPEN), 0 off; needs the
                              * server bit of the fastopen setting */
    SF_OPT_FASTOPEN_CONNECT, /* 0/1 before connect (TCP_FASTOPEN_CONNECT): connect with Fast
                              * Open; -EOPNOTSUPP without the client bit of the fastopen
                              * setting. See sf_connect. */
    SF_OPT_SYN_TIMEOUT_MS,   /* ms, 0 = off (FreeBSD's TCP_KEEPINIT, in ms): a connection
                              * still in SYN-SENT or SYN-RECEIVED that long after its first
                              * SYN or SYN-ACK is dropped with ETIMEDOUT, whatever the
                              * SYN retries would allow */
    SF_OPT_COUNT
};

enum { SF_SHUT_RD = 1, SF_SHUT_WR = 2, SF_SHUT_RDWR = 3 };

enum {
    SF_POLLIN = 1u << 0,    /* sf_recv or sf_accept would not return -EAGAIN */
    SF_POLLOUT = 1u << 1,   /* sf_send would not return -EAGAIN */
    SF_POLLRDHUP = 1u << 2, /* the peer sent FIN */
    SF_POLLHUP = 1u << 3,   /* both directions are closed */
    SF_POLLERR = 1u << 4,   /* an error is pending (sf_take_error) */
};

/* Creates an unbound connection in CLOSED state, with the engine's default options.
 * NULL when memory runs out. */
struct sf_conn *sf_socket(struct sf_engine *e);

/* Gives an unconnected, unused connection (CLOSED, before listen or connect) a profile: its
 * per-connection settings (buffers, MSS, keepalive, TIME-WAIT duration, ...) are reset to the
 * profile's, so call it before sf_setopt. 0, or -EINVAL when the connection is in use. */
int sf_set_profile(struct sf_conn *c, struct sf_profile *p);

/* Sets the handler called with events; accepted connections start with their listener's. */
void sf_set_handler(struct sf_conn *c, sf_event_fn fn, void *user);
void *sf_user(const struct sf_conn *c);
struct sf_engine *sf_conn_engine(const struct sf_conn *c);

/* The calls below return 0 (or a count) on success and a negative errno on failure, with the
 * errno a POSIX socket would give: -EINVAL, -EADDRINUSE, -EADDRNOTAVAIL, -EISCONN, -EALREADY,
 * -EINPROGRESS, -ENOTCONN, -EAGAIN, -EPIPE, -ECONNRESET, -ECONNREFUSED, -ETIMEDOUT, -ENOMEM,
 * -EOPNOTSUPP. */

/* port 0: an ephemeral port from port_range. An unspecified address (family 0): the engine's
 * local address. */
int sf_bind(struct sf_conn *c, const struct sf_endpoint *local);
/* Passive OPEN. backlog: accept queue length (capped at the config's somaxconn). */
int sf_listen(struct sf_conn *c, int backlog);
/* Takes one established connection off the accept queue; NULL with *err = -EAGAIN if none.
 * It starts with the listener's handler; set its own with sf_set_handler. Events for what
 * happened before the accept (data waiting, the peer's FIN) are delivered at the end of the
 * next engine call, to the handler set by then. */

struct sf_conn *sf_accept(struct sf_conn *listener, int *err);
/* Active OPEN: sends the SYN and returns -EINPROGRESS; SF_EV_CONNECTED (or SF_EV_RESET with
 * the error) follows. Binds an ephemeral port first if unbound.
 * With SF_OPT_FASTOPEN_CONNECT (TCP Fast Open, RFC 7413, as Linux's TCP_FASTOPEN_CONNECT):
 * when a cookie for the server is cached, no SYN leaves yet and 0 is returned (the connection
 * is SYN_SENT, writable): the first sf_send sends the SYN with the cookie and as much of the
 * data as one SYN carries (sf_fastopen_room), the rest after the handshake. Without a cookie
 * the SYN asks for one and -EINPROGRESS is returned; the data goes after the handshake. */
int sf_connect(struct sf_conn *c, const struct sf_endpoint *remote);
/* sf_connect with Fast Open and data, as sendto(MSG_FASTOPEN) but taking all it can: sets
 * SF_OPT_FASTOPEN_CONNECT (when the client bit allows), connects and sends len bytes. Returns
 * the bytes taken (the SYN carries the first of them when a cookie is cached), or the
 * error of sf_connect. */
ssize_t sf_connect_data(struct sf_conn *c, const struct sf_endpoint *remote, const void *buf,
                        size_t len);
/* For a Fast Open connect waiting for its first send: the bytes of data its SYN will carry at
 * most (the server's cached MSS, else ours, less 40 for options, as Linux); 0 for any other
 * connection. */
size_t sf_fastopen_room(const struct sf_conn *c);
/* Forgets every server's cookie (ip tcp_metrics flush). */
void sf_fastopen_cache_flush(struct sf_engine *e);

/* Queues up to len bytes; returns how many were taken (at least 1 unless len is 0), or
 * -EAGAIN when the send buffer is full. Data is sent as window, congestion and Nagle allow.
 * Accepted in SYN_SENT/SYN_RECEIVED too (sent once established). */
ssize_t sf_send(struct sf_conn *c, const void *buf, size_t len);
/* Reads in-order data. Returns the count, 0 at end of stream (peer's FIN read), or -EAGAIN. */
ssize_t sf_recv(struct sf_conn *c, void *buf, size_t len);
/* sf_recv without taking the data (MSG_PEEK): the same answer, the bytes stay for the next
 * read and the window does not move. */
ssize_t sf_peek(struct sf_conn *c, void *buf, size_t len);
/* Bytes available to sf_recv without blocking. */
size_t sf_readable(const struct sf_conn *c);
/* SF_SHUT_WR: queue a FIN after pending data, keep receiving (half-close). In SYN_SENT the
 * FIN waits, with the data sf_send took, for the handshake: nothing is dropped (Linux aborts
 * the connect instead; it never holds data in SYN_SENT).
 * SF_SHUT_RD: reads return end of stream; arriving data is still acknowledged.
 * -ENOTCONN on a listener or a CLOSED connection, connected before or not (as Linux). */
int sf_shutdown(struct sf_conn *c, int how);
/* CLOSE and release the handle. Graceful (FIN after pending data) unless unread data is
 * waiting or SO_LINGER is 0: then RST. The connection lives on in the engine as needed.
 * In SYN_SENT it is deleted with anything queued (RFC 9293 §3.10.4): to deliver data written
 * before the handshake, call sf_shutdown(SF_SHUT_WR) and close after SF_EV_CONNECTED. */
int sf_close(struct sf_conn *c);
/* ABORT: send RST (if synchronized), drop everything, release the handle. On a connection
 * that has gone on to TIME-WAIT (its handle reads CLOSED), the entry ends too: the owner asks
 * to leave nothing behind, as SOCK_DESTROY does to a kernel TIME_WAIT (tw_aborted). */
void sf_abort(struct sf_conn *c);

int sf_setopt(struct sf_conn *c, enum sf_opt opt, long value);

/* Fast Open cookies (RFC 7413 §4.1.2): 8 bytes, SipHash-2-4 keyed by a 128-bit key over the
 * client's address then the server's (4 + 4 or 16 + 16 bytes), the hash's bytes in
 * little-endian order: Linux's function, so that a key gives the cookies Linux gives. The
 * key's bytes are those of TCP_FASTOPEN_KEY (for the sysctl's "a-b-c-d" text: a, b, c, d
 * as 32-bit little-endian words). Without one the engine derives a key from its secret. */
/* The engine-wide key (net.ipv4.tcp_fastopen_key). */
void sf_engine_set_fastopen_key(struct sf_engine *e, const uint8_t key[16]);
/* A listener's own key (TCP_FASTOPEN_KEY), before or after listen. 0 or -EINVAL. */
int sf_set_fastopen_key(struct sf_conn *c, const uint8_t key[16]);
/* The cookie for a client: what the engine's key would put in a SYN-ACK. */
void sf_fastopen_cookie(const struct sf_engine *e, const struct sf_addr *client,
                        const struct sf_addr *server, uint8_t out[8]);

int sf_getopt(const struct sf_conn *c, enum sf_opt opt, long *value);

/* SO_ERROR: the pending error as a positive errno (ECONNRESET, ETIMEDOUT, ECONNREFUSED,
 * ...), or 0; reading it clears it. */
int sf_take_error(struct sf_conn *c);
/* Readiness, as poll() would report it: SF_POLL* bits. */
unsigned sf_poll(const struct sf_conn *c);

enum sf_closer { SF_CLOSER_NONE, SF_CLOSER_LOCAL, SF_CLOSER_REMOTE };

/* STATUS: everything an owner, a metric or a trace needs about one connection. */
struct sf_conn_info {
    uint64_t id;
    enum sf_state state;
    struct sf_endpoint local, remote;
    uint32_t srtt_us, rttvar_us, rto_us, min_rtt_us;
    uint32_t cwnd, ssthresh;   /* bytes */
    uint32_t snd_wnd, rcv_wnd; /* bytes, scaled */
    uint16_t snd_mss, rcv_mss; /* the MSS we send with; the MSS we advertised */
    uint8_t snd_wscale, rcv_wscale;
    uint8_t ts_ok, sack_ok, wscale_ok;
    uint32_t unacked, in_flight; /* bytes queued not acked; bytes sent not acked */
    /* Sequence variables (RFC 9293 §3.3.1), for traces and invariant checks. snd_max is the
     * highest sequence number sent + 1 (SND.NXT itself moves back to retransmit). */
    uint32_t iss, irs, snd_una, snd_max, rcv_nxt;
    uint64_t bytes_sent, bytes_acked, bytes_received;
    uint64_t segs_out, segs_in, retrans_segs;
    uint32_t rto_backoffs; /* consecutive timeouts now */
    uint32_t dupacks_fast_retransmits;
    uint8_t in_recovery;            /* in fast recovery (RFC 6582) */
    uint8_t dupacks;                /* duplicate ACKs counted towards fast retransmit */
    uint32_t zwnd_probes;           /* unanswered zero-window probes */
    enum sf_closer first_fin;       /* who sent the first FIN */
    enum sf_cause close_cause;      /* the cause of the transition that ended it */
    enum sf_cause last_cause;       /* the cause of its latest transition */
    int error;                      /* pending error (not cleared by this call) */
    sf_time_t created, established; /* 0 if never established */
    /* TCP Fast Open: bytes our SYN carried; whether data in a SYN was acknowledged by the
     * SYN-ACK (a client's sent, or a server's taken: Linux's TCPI_OPT_SYN_DATA); and why a
     * client's Fast Open did not happen (tcpi_fastopen_client_fail) */
    uint32_t tfo_syn_data;
    uint8_t tfo_syn_data_acked;
    uint8_t tfo_client_fail; /* SF_TFO_FAIL_* */
};

/* Linux's tcpi_fastopen_client_fail values. */
enum {
    SF_TFO_FAIL_NONE = 0,
    SF_TFO_FAIL_NO_COOKIE = 1,         /* no cookie cached: the SYN asked for one */
    SF_TFO_FAIL_DATA_NOT_ACKED = 2,    /* the SYN-ACK did not acknowledge all the data */
    SF_TFO_FAIL_SYN_RETRANSMITTED = 3, /* the same, after the SYN was retransmitted */
};
void sf_info(const struct sf_conn *c, struct sf_conn_info *out);
enum sf_state sf_conn_state(const struct sf_conn *c);

#endif
