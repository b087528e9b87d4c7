/* The engine's insides: the connection (send half and receive half), the engine, and the
 * functions the engine's files call in one another. Nothing here is for the owner. */
#ifndef SYNFIN_TCP_INTERNAL_H
#define SYNFIN_TCP_INTERNAL_H

#include <stdint.h>

#include "tcp/buffer.h"
#include "tcp/segment.h"
#include "tcp/siphash.h"
#include "tcp/tcp.h"
#include "tcp/timewait.h"
#include "tcp/wheel.h"

/* ---- the connection ------------------------------------------------------------------- */

/* Send sequence variables (RFC 9293 §3.3.1) and what the sender needs beside them. */
struct sf_snd {
    uint32_t una;     /* oldest unacknowledged sequence number */
    uint32_t nxt;     /* next sequence number to send (moves back to retransmit) */
    uint32_t max;     /* highest sequence number sent + 1 */
    uint32_t wnd;     /* the peer's window, bytes (scaled) */
    uint32_t wl1;     /* SEG.SEQ of the segment last used to update wnd */
    uint32_t wl2;     /* SEG.ACK of that segment */
    uint32_t iss;     /* our initial sequence number */
    uint32_t buf_seq; /* sequence number of the first byte in buf */
    uint32_t fin_seq; /* sequence number of our FIN, once queued */
    uint32_t max_wnd; /* largest window the peer ever offered (RFC 5961 §5) */
    uint32_t sml;     /* end of the last short segment sent (Nagle, Minshall's variant) */
    /* congestion control: NewReno (RFC 5681, RFC 6582) */
    uint32_t cwnd, ssthresh;
    uint32_t recover;
    uint8_t dupacks;
    uint8_t in_recovery;
    uint8_t wscale;  /* the peer's shift */
    uint8_t backoff; /* consecutive retransmission timeouts */
    uint16_t mss;    /* payload bytes per segment we send */
    uint16_t peer_mss;
    /* RTT estimation (RFC 6298), microseconds */
    uint32_t srtt, rttvar, rto, min_rtt;
    uint32_t rtt_seq;   /* Karn: the segment being timed, when timestamps are off */
    uint32_t rtx_tsval; /* our TSval on the latest retransmission (see rtt_from_ack) */

    sf_time_t rtt_start;
    sf_time_t una_since; /* when the oldest unacked data was sent (TCP_USER_TIMEOUT) */
    sf_time_t last_send; /* for the restart window after idle (RFC 5681 §4.1) */
    uint32_t fast_retransmits;
    uint32_t probes; /* unanswered zero-window probes */
    struct sf_sndbuf *buf;
};

/* Receive sequence variables and the receiver's state. */
struct sf_rcv {
    uint32_t nxt;       /* next sequence number expected */
    uint32_t irs;       /* the peer's initial sequence number */
    uint32_t adv;       /* right edge of the window last advertised */
    uint32_t last_ack;  /* Last.ACK.sent (RFC 7323 §4.3) */
    uint32_t fin_seq;   /* sequence number of an out-of-order FIN (F_OOO_FIN) */
    uint32_t ts_recent; /* TS.Recent */
    sf_time_t ts_recent_at;
    uint32_t seen_mss;  /* largest payload received: "full-sized" for delayed ACKs */
    uint32_t withdrawn; /* F_WITHDRAWN: the edge offered before a withdrawal (input.c) */
    uint16_t mss;       /* the MSS we advertised */
    uint8_t wscale;     /* our shift */
    struct sf_rcvbuf *buf;
};

/* Deadlines multiplexed onto one wheel timer per connection. */
enum sf_tmr {
    T_RTX,       /* retransmission, SYN/SYN-ACK/FIN retransmission, persist (zero window) */
    T_DELACK,    /* delayed ACK */
    T_KEEPALIVE, /* keepalive idle / probe interval */
    T_CLOSE,     /* FIN-WAIT-2 and LAST-ACK lifetimes */
    T_COUNT
};

enum {
    F_ORPHAN = 1u << 0,     /* the owner closed it: nobody will read or write it again */
    F_HASHED = 1u << 1,     /* in the 4-tuple table */
    F_BOUND = 1u << 2,      /* has a local port (counted in port_refs) */
    F_PASSIVE = 1u << 3,    /* came from a listener */
    F_SHUT_RD = 1u << 4,    /* owner shut down reading */
    F_FIN_QUEUED = 1u << 5, /* owner shut down writing: FIN at snd.fin_seq */
    F_FIN_RCVD = 1u << 6,   /* the peer's FIN arrived in order */
    F_OOO_FIN = 1u << 7,    /* the peer's FIN arrived ahead of a hole (at rcv.fin_seq) */
    F_ACK_NOW = 1u << 8,    /* send an ACK at the end of this input */
    F_TS_OK = 1u << 9,      /* RFC 7323 timestamps negotiated */
    F_SACK_OK = 1u << 10,   /* RFC 2018 SACK negotiated */
    F_WS_OK = 1u << 11,     /* window scaling negotiated */
    F_PERSIST = 1u << 12,   /* T_RTX is the persist timer (peer window zero) */
    F_NODELAY = 1u << 13,
    F_KEEPALIVE = 1u << 14,
    F_REUSEADDR = 1u << 15,
    F_IN_SYNQ = 1u << 16,     /* embryonic, on the listener's SYN queue */
    F_IN_ACCEPTQ = 1u << 17,  /* established, on the listener's accept queue */
    F_WANT_WRITE = 1u << 18,  /* a send found the buffer full: report WRITABLE */
    F_DEAD = 1u << 19,        /* freed at the end of the current engine call */
    F_TW_HANDOFF = 1u << 20,  /* went to TIME-WAIT: the table entry carries on */
    F_COOKIE = 1u << 21,      /* created from a syncookie */
    F_OWNED = 1u << 22,       /* the owner holds a handle (from sf_socket or sf_accept) */
    F_LISTENING = 1u << 23,   /* in the listener table */
    F_CORK = 1u << 24,        /* TCP_CORK: hold short segments until uncorked or FIN */
    F_WITHDRAWN = 1u << 25,   /* part of the offered window was withdrawn: rcv.withdrawn */
    F_TFO = 1u << 26,         /* Fast Open server child: accepted and sending before the 3WHS */
    F_TFO_PENDING = 1u << 27, /* counted in st.tfo_pending (until it leaves SYN-RECEIVED) */
    F_TFO_LQ = 1u << 28,      /* counted in its listener's tfo_pending (until then, or accept) */
    F_TFO_KEY = 1u << 29,     /* a listener with its own Fast Open key (tfo_key) */
};

/* Fast Open client bits (sf_conn.tfo_client) */
enum {
    TFOC_ASKED = 1u << 0, /* the owner asked for Fast Open (SF_OPT_FASTOPEN_CONNECT) */
    TFOC_DEFER = 1u << 1, /* connect done, the SYN waits for the first send (with a cookie) */
    TFOC_OPT = 1u << 2,   /* the first SYN carries the option: tfo_out (empty: a request) */
    TFOC_DATA = 1u << 3,  /* the first SYN carries data */
    TFOC_ACKED = 1u << 4, /* SYN data acknowledged: all of ours, or a server child's taken */
};

struct sf_listen; /* the queues of a listener */

struct sf_profile {
    struct sf_tcp_config cfg;
    struct sf_engine *e;
    uint32_t refs;      /* the owner's (until released) and one per connection */
    int engine_default; /* the engine's own: never freed on its own */
};

struct sf_conn {
    struct sf_conn *hnext; /* 4-tuple table chain */
    struct sf_engine *e;
    struct sf_profile *prof; /* its settings: ccfg(c) */
    struct sf_tuple t;
    uint64_t id;
    uint32_t flags;
    uint8_t state;
    uint8_t close_cause;
    uint8_t last_cause; /* of the latest transition */
    uint8_t first_fin;  /* enum sf_closer */
    uint8_t ka_probes;  /* keepalive probes sent unanswered */
    int err;            /* pending error (positive errno) */

    struct sf_timer timer;
    sf_time_t at[T_COUNT]; /* 0: not armed */

    struct sf_snd snd;
    struct sf_rcv rcv;

    /* owner */
    sf_event_fn handler;
    void *user;
    unsigned ev_pending;
    struct sf_conn *ev_next;

    /* listener relations */
    struct sf_conn *parent; /* the listener, while embryonic or waiting to be accepted */
    struct sf_conn *qnext, *qprev;
    struct sf_listen *listen; /* LISTEN state only */

    /* options */
    uint32_t keepidle_s, keepintvl_s, keepcnt;
    uint32_t user_timeout_ms;
    uint32_t connect_timeout_ms; /* SF_OPT_SYN_TIMEOUT_MS, 0 off */
    sf_time_t connect_deadline;  /* from the first SYN sent with it set; 0 none */
    uint32_t time_wait_ms;
    uint32_t rcvbuf_size, sndbuf_size;
    int32_t linger;     /* -1 off */
    uint32_t ts_offset; /* our timestamp clock's per-connection offset (RFC 7323 §5.4) */
    /* Fast Open: a listener's queue length and key; the cookie a SYN-ACK carries, or the
     * cookie (length 0: a request) our SYN carries */
    uint32_t tfo_qlen;
    struct sf_sipkey tfo_key;
    uint8_t tfo_out_len, tfo_out_exp;
    uint8_t tfo_out[SF_FO_COOKIE_MAX];
    /* Fast Open, client side (fastopen_client.c): TFOC_* bits, the data our SYN carried, the
     * server's cached MSS, and why Fast Open did not happen (SF_TFO_FAIL_*) */
    uint8_t tfo_client, tfo_fail;
    uint16_t tfo_mss;
    uint32_t tfo_syn_data;

    /* accounting */
    sf_time_t created, established, last_rx;
    uint64_t bytes_sent, bytes_acked, bytes_received;
    uint64_t segs_in, segs_out, retrans_segs;
};

struct sf_listen {
    struct sf_conn *synq; /* embryonic connections (SYN-RECEIVED) */
    uint32_t synq_len;
    struct sf_conn *acceptq_head, *acceptq_tail;
    uint32_t acceptq_len;
    uint32_t backlog;
    uint32_t tfo_pending; /* Fast Open children of this listener before their 3WHS */
};

/* ---- the engine ------------------------------------------------------------------------ */

struct sf_table {
    struct sf_conn **buckets;
    uint32_t mask;
    uint32_t count;
};

/* Connections come from slabs and return to a free list (chained through hnext); slabs stay
 * until the engine is freed, so steady-state traffic allocates nothing. */
struct sf_pool {
    struct sf_conn *free;
    struct sf_slab *slabs;
    uint64_t live;
};

#define SF_BUFCLASSES     8
#define SF_LISTEN_BUCKETS 64

/* Fast Open cookies learnt from servers (fastopen_client.c): allocated on first use. */
struct sf_tfo_entry;
struct sf_tfo_cache {
    struct sf_tfo_entry *slots;
    uint32_t mask; /* sets - 1 */
    uint64_t tick; /* LRU clock */
};

struct sf_engine {
    struct sf_tcp_config cfg; /* engine-wide settings; per-connection ones come from profiles */
    struct sf_profile def;    /* connections without a profile of their own use this one */
    struct sf_engine_ops ops;
    void *ctx;
    struct sf_sipkey key_table, key_isn, key_cookie, key_ts;
    struct sf_sipkey key_tfo;      /* Fast Open cookies (fastopen.c) */
    struct sf_tfo_cache tfo_cache; /* cookies of servers (fastopen_client.c) */
    struct sf_addr local_addr, local_addr6;
    sf_time_t now;
    sf_time_t epoch; /* creation time: the timestamp clock counts milliseconds from it */

    struct sf_wheel wheel;
    struct sf_table table; /* connections */
    struct sf_conn *listeners[SF_LISTEN_BUCKETS];
    struct sf_tw_table tw;
    struct sf_pool conn_pool;
    struct {
        uint32_t size;
        uint32_t nfree;
        void *free; /* free buffers chained through their first word */
    } bufclass[SF_BUFCLASSES];
    uint64_t buf_cached; /* bytes in the free lists of bufclass */
    uint32_t *port_refs; /* local port → connections, listeners and TIME-WAIT entries */
    uint32_t next_ephemeral;
    uint32_t steer_n, steer_index; /* sf_engine_params.port_steer_*: steer_n 1 when off */
    uint16_t ip_id;
    uint64_t next_id;

    /* RFC 5961 §7: challenge ACKs per second, engine-wide */
    sf_time_t chal_second;
    uint32_t chal_count, chal_budget;

    /* event delivery and deferred frees: see engine.c */
    struct sf_conn *ev_head, *ev_tail;
    struct sf_conn *dead;
    int depth;

    struct sf_engine_stats st;
    uint8_t *txbuf;
    size_t txcap;
    int tx_csum_partial; /* sf_engine_params' */
};

/* A connection's settings. */
static inline const struct sf_tcp_config *ccfg(const struct sf_conn *c)
{
    return &c->prof->cfg;
}

/* ---- engine.c ------------------------------------------------------------------------- */
void engine_enter(struct sf_engine *e, sf_time_t now);
void engine_leave(struct sf_engine *e);
void conn_event(struct sf_conn *c, unsigned ev);
struct sf_conn *conn_alloc(struct sf_engine *e);
/* Takes profile p for c (a reference) and resets c's per-connection settings to it. */
void conn_use_profile(struct sf_conn *c, struct sf_profile *p);
void profile_put(struct sf_profile *p);
/* The connection is over for the engine: unhash, cancel timers, leave the listener's queues;
 * freed at the end of this engine call unless the owner still holds it. */
void conn_destroy(struct sf_conn *c);
void *buf_alloc(struct sf_engine *e, uint32_t size);
void buf_free(struct sf_engine *e, void *p, uint32_t size);
uint8_t offered_wscale(const struct sf_tcp_config *cfg, uint32_t rcvbuf);
int conn_ensure_sndbuf(struct sf_conn *c);
void conn_trim_buffers(struct sf_conn *c); /* gives back buffers that hold nothing */
int conn_ensure_rcvbuf(struct sf_conn *c);
void engine_output(struct sf_engine *e, const void *pkt, size_t len);
uint32_t port_ref(struct sf_engine *e, uint16_t port, int delta);
/* Whether pred holds for a live connection of e (listeners and sockets only bound too). */
int pool_any(struct sf_engine *e, int (*pred)(const struct sf_conn *, const void *),
             const void *arg);

/* ---- table.c -------------------------------------------------------------------------- */
int table_init(struct sf_table *t, uint32_t buckets);
void table_free(struct sf_table *t);
uint32_t tuple_hash(const struct sf_engine *e, const struct sf_tuple *t);
int table_insert(struct sf_engine *e, struct sf_conn *c);
void table_remove(struct sf_engine *e, struct sf_conn *c);
struct sf_conn *table_lookup(struct sf_engine *e, const struct sf_tuple *t);
struct sf_conn *table_lookup_h(struct sf_engine *e, const struct sf_tuple *t, uint32_t hash);
struct sf_conn *table_lookup_listener(struct sf_engine *e, const struct sf_addr *laddr,
                                      uint16_t lport);
void listener_insert(struct sf_engine *e, struct sf_conn *l);
void listener_remove(struct sf_engine *e, struct sf_conn *l);
struct sf_conn *listener_find(struct sf_engine *e, const struct sf_addr *laddr, uint16_t lport,
                              int exact);
struct sf_conn *listener_bucket_head(struct sf_engine *e, uint16_t lport);

/* ---- bind.c --------------------------------------------------------------------------- */
/* Whether c may not take (laddr, port): an overlapping user of the port is in the way. */
int bind_conflict(struct sf_engine *e, const struct sf_conn *c, const struct sf_addr *laddr,
                  uint16_t port);
/* Whether a listener other than self holds an address overlapping laddr on port. */
int listener_overlaps(struct sf_engine *e, const struct sf_conn *self, const struct sf_addr *laddr,
                      uint16_t port);

/* ---- state.c -------------------------------------------------------------------------- */
/* The one function through which every connection changes state. */
void set_state(struct sf_conn *c, enum sf_state to, enum sf_cause cause);
void report_transition(struct sf_engine *e, uint64_t id, struct sf_conn *c,
                       const struct sf_tuple *t, enum sf_state from, enum sf_state to,
                       enum sf_cause cause);
int state_synchronized(enum sf_state s);
/* A public endpoint from the engine's IPv4 address and port. */
struct sf_endpoint endpoint_of(const struct sf_addr *addr, uint16_t port);

/* ---- input.c (RFC 9293 §3.10.7 SEGMENT ARRIVES) --------------------------------------- */
void input_segment(struct sf_engine *e, struct sf_seg *s);
void input_synchronized(struct sf_conn *c, struct sf_seg *s);
void input_syn_sent(struct sf_conn *c, struct sf_seg *s);
void input_no_conn(struct sf_engine *e, const struct sf_seg *s);

void negotiate_syn_options(struct sf_conn *c, const struct sf_seg *s);

/* ---- listen.c: LISTEN state, SYN queue, accept queue, syncookies ---------------------- */
void listen_input(struct sf_conn *l, struct sf_seg *s);
void listen_established(struct sf_conn *c); /* SYN-RECEIVED → ESTABLISHED under a listener */
int listen_accept_room(const struct sf_conn *c);
void listen_unlink(struct sf_conn *c);
void listen_close(struct sf_conn *l);
/* An unacceptable ACK in SYN-RECEIVED that carries a valid syncookie: the cookie's
 * connection replaces the embryo. 1 if it did (the segment is consumed, c is gone). */
int listen_cookie_supersedes(struct sf_conn *c, const struct sf_seg *s);
/* A SYN: a new embryonic connection (or a syncookie SYN-ACK). isn 0: generate one. */
void listen_syn(struct sf_conn *l, struct sf_seg *s, uint32_t isn);
/* Whether listen_syn would keep state for a SYN with a given ISN (no cookie then): the
 * accept queue and the SYN queue have room. If not, the drop is counted. */
int listen_syn_room(struct sf_conn *l);

/* ---- fastopen.c: TCP Fast Open, server side (RFC 7413) ------------------------------ */
/* What a SYN to listener l asks of Fast Open: fills the cookie c's SYN-ACK carries and
 * returns 1 when its data is to be accepted (c becomes a Fast Open child). */
int fastopen_syn(struct sf_conn *l, struct sf_conn *c, const struct sf_seg *s);
/* c leaves SYN-RECEIVED, or its listener: the pending counts drop. */
void fastopen_settle(struct sf_conn *c, int leaving_listener);

/* ---- fastopen_client.c: TCP Fast Open, client side (RFC 7413) ---------------------- */
/* At connect: what the SYN carries. Returns 1 when the SYN waits for the first send. */
int fastopen_connect(struct sf_conn *c);
/* The first SYN leaves: the bytes of queued data it carries. */
uint32_t fastopen_syn_data(struct sf_conn *c);
uint32_t fastopen_room(const struct sf_conn *c);
/* The SYN-ACK of a Fast Open SYN (SND.UNA already moved): cache, retransmission, counters. */
void fastopen_synack(struct sf_conn *c, const struct sf_seg *s);
/* The connect timed out: a loss for the destination. */
void fastopen_syn_timeout(struct sf_conn *c);
void fastopen_cache_free(struct sf_engine *e);

/* ---- output.c ------------------------------------------------------------------------- */
void tcp_output(struct sf_conn *c);
/* The persist timer found a window below one segment: send what fits at once. */
void tcp_output_override(struct sf_conn *c);
void send_ack(struct sf_conn *c);
void send_syn(struct sf_conn *c);
void send_rst_for(struct sf_engine *e, const struct sf_seg *s); /* RFC 9293 §3.10.7.1 */
void send_rst_conn(struct sf_conn *c);                          /* <SEQ=SND.MAX><RST,ACK> */
void send_challenge_ack(struct sf_conn *c);                     /* RFC 5961, rate-limited */
int challenge_ack_allowed(struct sf_engine *e);
void retransmit_head(struct sf_conn *c);
void send_keepalive_probe(struct sf_conn *c);
void send_window_probe(struct sf_conn *c);
uint16_t rcv_window_field(struct sf_conn *c, int syn);
uint32_t rcv_window(const struct sf_conn *c); /* RCV.WND: the window last advertised */
uint32_t ts_now(const struct sf_conn *c);
void window_update_after_read(struct sf_conn *c);
void fill_syn_options(struct sf_conn *c, struct sf_tcp_opts *o);
void segment_out(struct sf_engine *e, const struct sf_seg_out *o, const void *d1, size_t l1,
                 const void *d2, size_t l2);

/* ---- timer.c -------------------------------------------------------------------------- */
void timer_set(struct sf_conn *c, enum sf_tmr which, sf_time_t at);
void timer_clear(struct sf_conn *c, enum sf_tmr which);
void timers_clear_all(struct sf_conn *c);
void timer_fire(struct sf_timer *t, void *arg);
void rtx_timer_restart(struct sf_conn *c);
void keepalive_reset(struct sf_conn *c);
void rtt_sample(struct sf_conn *c, uint32_t rtt_us);
uint32_t rto_current(const struct sf_conn *c);
void rto_after_handshake(struct sf_conn *c);

/* ---- cc_newreno.c --------------------------------------------------------------------- */
void cc_init(struct sf_conn *c);
void cc_on_ack(struct sf_conn *c, uint32_t ack, uint32_t acked);
void cc_on_dupack(struct sf_conn *c);
void cc_on_rto(struct sf_conn *c);
void cc_after_idle(struct sf_conn *c);

/* ---- icmp_input.c: ICMP errors about our segments ------------------------------------ */
int icmp_input(struct sf_engine *e, const uint8_t *pkt, size_t len);

/* ---- isn.c / syncookie.c -------------------------------------------------------------- */
uint32_t isn_generate(struct sf_engine *e, const struct sf_tuple *t);
uint32_t ts_offset_for(struct sf_engine *e, const struct sf_tuple *t);

/* ---- helpers used across files --------------------------------------------------------- */
static inline uint32_t snd_flight(const struct sf_conn *c)
{
    return c->snd.max - c->snd.una;
}
void conn_abort(struct sf_conn *c, int err, enum sf_cause cause, int send_rst);
void conn_closed(struct sf_conn *c, enum sf_cause cause); /* → CLOSED, destroy */
void enter_time_wait(struct sf_conn *c, enum sf_cause cause);
void conn_set_error(struct sf_conn *c, int err);

/* IPv6's header is 20 bytes longer than IPv4's: the MSS that fits the same MTU is 20 less
 * (the mss setting is written for IPv4), and a peer that sends no MSS option is assumed to
 * take 1220 (RFC 8200's 1280-byte minimum MTU, less 60), not IPv4's 536 (RFC 9293 §3.7.1). */
static inline void conn_fit_family(struct sf_conn *c)
{
    if (c->t.laddr.family != SF_AF_INET6)
        return;
    uint32_t ceiling = ccfg(c)->mss > 108 ? ccfg(c)->mss - 20 : 88;
    if (c->rcv.mss > ceiling)
        c->rcv.mss = (uint16_t)ceiling;
}

static inline uint16_t default_peer_mss(const struct sf_conn *c)
{
    return c->t.laddr.family == SF_AF_INET6 ? 1220 : 536;
}

#endif
