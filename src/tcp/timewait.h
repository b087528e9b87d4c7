/* The TIME-WAIT table: compact entries in place of full connections.
 *
 * When a connection enters TIME-WAIT its full state (buffers, timers, congestion control) is
 * freed; what remains is what TIME-WAIT needs to do its job (RFC 9293 §3.6.1, RFC 1337, RFC
 * 6191): the 4-tuple, both sides' final sequence numbers, the peer's last timestamp and ours,
 * the window to advertise, and the expiry. 88 bytes (the 4-tuple holds IPv6 addresses).
 *
 * Entries live in chunked arrays and link to one another by 32-bit index, not pointer, which
 * halves the links. Expiry needs no timer per entry: every entry of one duration goes into one
 * FIFO list, which is therefore ordered by expiry; checking the heads of the lists is all the
 * expiry work there is. A retransmitted FIN restarts an entry: it moves to the tail. */
#ifndef SYNFIN_TCP_TIMEWAIT_H
#define SYNFIN_TCP_TIMEWAIT_H

#include <stdint.h>

#include "tcp/segment.h"
#include "tcp/siphash.h"

enum {
    TW_TS_OK = 1u << 0,   /* timestamps were in use */
    TW_RFC1337 = 1u << 1, /* its profile ignores RST in TIME-WAIT */
};

struct sf_tw {
    uint64_t id;           /* the connection's serial number (for traces) */
    struct sf_tuple t;     /* 38 bytes: IPv4 or IPv6 */
    uint32_t snd_nxt;      /* our sequence number after our FIN */
    uint32_t rcv_nxt;      /* the peer's sequence number after its FIN */
    uint32_t ts_recent;    /* the peer's last TSval (PAWS, RFC 6191) */
    uint32_t ts_offset;    /* our timestamp clock offset, to answer with TS */
    uint32_t expire_ms;    /* engine millisecond clock, wrapping */
    uint32_t hnext;        /* hash chain (0 = end) */
    uint32_t fnext, fprev; /* FIFO list of its duration class (0 = end) */
    uint16_t rcv_wnd;      /* window field to send */
    uint8_t flags;         /* TW_* */
    uint8_t cls;           /* duration class */
};

#define TW_CHUNK_BITS 12
#define TW_CHUNK      (1u << TW_CHUNK_BITS)
#define TW_CLASSES    8

struct sf_tw_class {
    uint32_t dur_ms;
    uint32_t head, tail;
};

struct sf_tw_table {
    struct sf_tw **chunks;
    uint32_t nchunks;
    uint32_t hiwater;   /* indices below it have been handed out; 0 is never used */
    uint32_t free_head; /* free entries chained through hnext */
    uint32_t *buckets;
    uint32_t mask;
    uint32_t count;
    struct sf_tw_class cls[TW_CLASSES];
    uint32_t ncls;
    const struct sf_sipkey *key;
};

int tw_init(struct sf_tw_table *tw, const struct sf_sipkey *key);
void tw_destroy(struct sf_tw_table *tw);
static inline struct sf_tw *tw_get(const struct sf_tw_table *tw, uint32_t idx)
{
    return &tw->chunks[idx >> TW_CHUNK_BITS][idx & (TW_CHUNK - 1)];
}
uint32_t tw_lookup(const struct sf_tw_table *tw, const struct sf_tuple *t);
/* The same, with the tuple's hash already computed (tuple_hash in table.c). */
uint32_t tw_lookup_h(const struct sf_tw_table *tw, const struct sf_tuple *t, uint32_t hash);
/* A new entry for t expiring dur_ms after now_ms; the caller fills the protocol fields.
 * Returns its index, or 0 when memory runs out. */
uint32_t tw_insert(struct sf_tw_table *tw, const struct sf_tuple *t, uint32_t dur_ms,
                   uint32_t now_ms);
void tw_remove(struct sf_tw_table *tw, uint32_t idx);
/* Restarts the entry's timer: a new full duration from now_ms. */
void tw_restart(struct sf_tw_table *tw, uint32_t idx, uint32_t now_ms);
/* The entry that expires first (0 if none). */
uint32_t tw_first(const struct sf_tw_table *tw);
/* Bytes held by the table (entries, chunk index and buckets). */
uint64_t tw_memory(const struct sf_tw_table *tw);

/* Wrapping millisecond comparison: a at or before b. */
static inline int tw_ms_le(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) <= 0;
}

#endif
