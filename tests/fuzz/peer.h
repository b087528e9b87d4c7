/* The world around the engine for its fuzz harnesses: a virtual clock, a remote peer whose
 * segments are built from its live view of each connection (so that fuzzed numbers are
 * offsets from what the engine expects, not hopeless 32-bit guesses), and the owner of the
 * engine's handles.
 *
 * The invariants live here, checked on every packet and after every step:
 * - every packet the engine emits parses (lengths, checksums, flags);
 * - every payload byte the engine sends is the byte the owner wrote at that stream offset,
 *   and lies below what the owner wrote: the owner writes fp_owner_byte(offset);
 * - every byte the owner reads is the peer's byte at that sequence number, in order, once:
 *   the peer's payload is fp_peer_byte(sequence number), whatever segment carries it;
 * - SND.UNA, SND.MAX and RCV.NXT of a connection never move backwards once it is
 *   established, and in_flight is SND.MAX - SND.UNA;
 * - each transition starts from the state the previous one of its id ended in, and after
 *   fp_finish (close everything, run the clock past every timer) every id ended CLOSED and
 *   the engine's live counts (connections, TIME-WAIT entries, buffers, bytes) are zero. */
#ifndef SYNFIN_FUZZ_PEER_H
#define SYNFIN_FUZZ_PEER_H

#include <stdint.h>

#include "fuzz.h"
#include "tcp/segment.h"
#include "tcp/tcp.h"

#define FP_SLOTS     4
#define FP_LPORT     80 /* the listener's port */
#define FP_MAX_IDS   512
#define FP_PKT_MAX   4096
#define FP_MAX_WRITE (1u << 20) /* bytes one handle may write in one input */

static inline uint8_t fp_peer_byte(uint32_t seq)
{
    uint32_t x = seq * 0x9e3779b1u;
    return (uint8_t)((x >> 24) ^ (x >> 13) ^ seq);
}

static inline uint8_t fp_owner_byte(uint64_t off)
{
    uint32_t x = (uint32_t)off * 0x85ebca6bu + (uint32_t)(off >> 32);
    return (uint8_t)((x >> 23) ^ (x >> 11) ^ 0x5a);
}

/* One 4-tuple: the owner's handle on it and the peer's state for it. */
struct fp_slot {
    int used;
    struct sf_conn *h; /* the owner's handle, NULL once closed or aborted */
    uint16_t eport, pport;
    /* the peer */
    uint32_t p_isn, p_nxt; /* p_nxt: the peer's next new sequence number */
    uint32_t p_ack;        /* the last ACK the peer sent */
    uint32_t p_ts;         /* the peer's timestamp clock offset */
    uint8_t p_wscale;      /* the shift the peer offered (its windows are scaled by it) */
    uint8_t p_tsopt;       /* the peer offered timestamps */
    /* the engine, as the peer has seen it on the wire */
    int e_iss_known;
    uint32_t e_iss, e_max, e_ack, e_tsval;
    /* the owner's streams, for the content checks */
    uint64_t rd, wr;
    uint32_t wr_pending; /* bytes offered to the sf_send in progress (it may transmit them) */
    /* the sequence variables last read with sf_info, for monotonicity */
    uint64_t info_id;
    int info_valid;
    uint32_t una, max, rcv_nxt;
    uint64_t bytes_received, bytes_acked;
};

struct fp_id {
    uint64_t id;
    uint8_t state;
};

struct fp {
    struct sf_engine *e;
    struct sf_tcp_config cfg;
    sf_time_t now, start;
    struct sf_conn *listener;
    uint32_t laddr, paddr; /* the engine's and the peer's IPv4 address, network order */
    struct fp_slot s[FP_SLOTS];
    struct fp_id ids[FP_MAX_IDS];
    unsigned nids;
    unsigned opens; /* connections opened so far: picks fresh peer ports */
    int trace;      /* FZ_TRACE set: every packet and transition to stderr, to read a crash */
    /* A harness's own checks on every packet out (parsed, seen from the peer: t.laddr is
     * the peer) and every transition; either may be NULL. */
    void (*tap_seg)(struct fp *f, const struct sf_seg *g);
    void (*tap_trans)(struct fp *f, const struct sf_transition *t);
    void *tap_arg;
};

/* Settings from six bytes of input: small buffers, short timers, options on and off, so that
 * zero windows, timeouts and TIME-WAIT are reachable within a short input. */
void fp_config(struct sf_tcp_config *cfg, struct fz_in *in);
/* A new engine with cfg; 0, or -1 if the engine refuses the settings. */
int fp_init(struct fp *f, const struct sf_tcp_config *cfg);
/* Closes every handle, runs the clock until no timer is left, checks the live counts are zero
 * and every id ended CLOSED, frees the engine. */
void fp_finish(struct fp *f);

/* A listener on FP_LPORT (backlog from the input), if there is none. */
void fp_listen(struct fp *f, int backlog);
/* Opens a connection on slot i: passive (the peer's SYN, the engine's SYN-ACK, the peer's
 * ACK, accept) or active (connect, the peer's SYN-ACK). Options and the peer's ISN come from
 * the input; with full = 0 only the first step is taken. */
void fp_open(struct fp *f, struct fz_in *in, int i, int passive, int full);
/* Takes every connection waiting on the listener into the slot of its peer port. */
void fp_accept(struct fp *f);

/* The peer sends one segment on slot i, its numbers relative to the live values. */
void fp_segment(struct fp *f, struct fz_in *in, int i);
/* Raw bytes as a whole IP packet, or as a TCP header and payload behind a valid IP header
 * for slot i with the TCP checksum fixed. */
void fp_raw(struct fp *f, struct fz_in *in, int i);
/* An ICMP error quoting a segment of slot i (unreachable, fragmentation needed, ...). */
void fp_icmp(struct fp *f, struct fz_in *in, int i);
/* Moves the clock: a few ms, to the next deadline, seconds or minutes. */
void fp_clock(struct fp *f, struct fz_in *in);
/* The owner's calls on slot i's handle: send, recv, shutdown, close, abort, setopt and the
 * read-only ones. */
void fp_owner(struct fp *f, struct fz_in *in, int i, int kind);

/* The sequence and content checks on every held handle. */
void fp_check(struct fp *f);

/* The peer's next segment on slot i, as a well-behaved peer sends it: at its next sequence
 * number, acknowledging all the engine sent, with its timestamp if it offered them. */
void fp_send_next(struct fp *f, int i, uint8_t flags, uint32_t len);
/* Slot of a 4-tuple (engine's port, peer's port), or NULL. */
struct fp_slot *fp_slot_for(struct fp *f, uint16_t eport, uint16_t pport);

/* Sends a segment from the peer on slot i. */
void fp_send(struct fp *f, int i, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t wnd,
             const struct sf_tcp_opts *opts, uint32_t len);

#endif
