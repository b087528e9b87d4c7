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

#define FP_FO_KEEP 8

enum { FP_FAM_V4 = 0, FP_FAM_V6 = 1, FP_FAM_BOTH = 2 };

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
    uint8_t v6; /* the 4-tuple is IPv6 (the engine's and the peer's IPv6 addresses) */
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
    /* the Fast Open option of the engine's last SYN or SYN-ACK on this slot (fo_seen 0: none) */
    uint8_t fo_seen, fo_len, fo[16];
    uint8_t synack_seen; /* a SYN-ACK from the engine since the harness cleared it, and its ACK */
    uint32_t synack_ack;
};

struct fp_id {
    uint64_t id;
    uint8_t state;
};

struct fp {
    struct sf_engine *e;
    struct sf_tcp_config cfg;
    sf_time_t now, start;
    struct sf_conn *listener;  /* on the engine's IPv4 address */
    struct sf_conn *listener6; /* on :: (no dual-stack listeners: one per family) */
    uint32_t laddr, paddr;     /* the engine's and the peer's IPv4 address, network order */
    uint8_t laddr6[16], paddr6[16];
    uint8_t fam; /* FP_FAM_*: the families connections are opened in (0 after fp_init) */
    /* Fast Open: the listeners' own key, when the input gave them one (cookies are computed
     * with it; else with the engine's key) */
    int lkey_set;
    uint8_t lkey[16];
    uint8_t tfo_qlen; /* the Fast Open queue length given to new listeners, 0: none */
    /* Cookies the peer as a server gave the engine, per family: the engine's Fast Open SYNs
     * may carry no other (nfo > FP_FO_KEEP: too many to check) */
    unsigned nfo[2];
    uint8_t fo_len[2][FP_FO_KEEP], fo[2][FP_FO_KEEP][16];
    unsigned embryos; /* LISTEN -> SYN-RECEIVED transitions: a SYN made a new connection */
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

/* A listener on FP_LPORT (backlog from the input) for each family in use, if there is none. */
void fp_listen(struct fp *f, int backlog);
/* Closes the listeners (queued and embryonic connections are reset). */
void fp_unlisten(struct fp *f);
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

/* Closes slot s's handle and forgets it. */
void fp_slot_reset(struct fp_slot *s);
/* Lets go of older slots on slot i's ports. */
void fp_evict(struct fp *f, int i);

/* Fast Open (RFC 7413) steps, in peer_ops.c. The peer as a client: a SYN on slot i with
 * an empty, valid or wrong cookie and data, then its ACK (and the data again when the SYN-ACK
 * did not take it). The engine as a client: a connect on slot i with Fast Open
 * (SF_OPT_FASTOPEN_CONNECT or sf_connect_data) and data, answered by SYN-ACKs acknowledging
 * all, part or none of the SYN's data, with or without a cookie. Settings: the listeners'
 * queue and key, the engine's key, a flush of the cookie cache. */
void fp_tfo_passive(struct fp *f, struct fz_in *in, int i);
void fp_tfo_active(struct fp *f, struct fz_in *in, int i);
void fp_tfo_misc(struct fp *f, struct fz_in *in);
/* A cookie the peer gave as a server (in a SYN-ACK, or in raw bytes that parse as one). */
void fp_note_cookie(struct fp *f, int v6, const struct sf_tcp_opts *o);

/* The addresses of slot s: the peer's and the engine's, in its family. */
void fp_addrs(const struct fp *f, const struct fp_slot *s, struct sf_addr *peer,
              struct sf_addr *engine);
/* Slot i's 4-tuple given a fresh peer port (and family) from the input, and older slots on
 * the same ports let go; the input's byte as next_port reads it. */
void fp_new_tuple(struct fp *f, struct fz_in *in, int i);
/* Peer-side SYN options from two input bytes (MSS, window scale, SACK, timestamps). */
void fp_syn_opts(const struct fp *f, struct fp_slot *s, uint8_t b, uint8_t mss_b,
                 struct sf_tcp_opts *o);
/* The peer's timestamp option now. */
void fp_peer_ts(const struct fp *f, const struct fp_slot *s, struct sf_tcp_opts *o);

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
