/* Per-connection byte buffers.
 *
 * The send buffer is a ring holding the bytes from SND.UNA to the end of what the owner has
 * written: what is in flight and what waits for window. The receive buffer is a ring whose
 * free space is the window we advertise; out-of-order data is written straight to its place
 * in the ring and tracked as a short list of ranges (an assembler), so reassembly never
 * copies twice and never allocates. */
#ifndef SYNFIN_TCP_BUFFER_H
#define SYNFIN_TCP_BUFFER_H

#include <stdint.h>

struct sf_sndbuf {
    uint32_t cap, head, len;
    uint8_t data[];
};

/* Appends up to n bytes; returns how many fitted. */
uint32_t sndbuf_write(struct sf_sndbuf *b, const void *p, uint32_t n);
/* The n bytes at offset off from the head, as up to two pieces (the ring may wrap). */
void sndbuf_peek(const struct sf_sndbuf *b, uint32_t off, uint32_t n, const uint8_t **p1,
                 uint32_t *l1, const uint8_t **p2, uint32_t *l2);
/* Drops n acknowledged bytes from the head. */
void sndbuf_drop(struct sf_sndbuf *b, uint32_t n);
static inline uint32_t sndbuf_free(const struct sf_sndbuf *b)
{
    return b->cap - b->len;
}

/* Out-of-order ranges kept at once; a segment that would need more is dropped (and will be
 * retransmitted). Linux keeps an unbounded tree; 16 holes is far beyond what a sane path
 * produces and bounds the work per segment. */
#define SF_OOO_MAX 16

struct sf_range {
    uint32_t lo, hi; /* offsets beyond the in-order data, [lo, hi) */
    uint32_t stamp;  /* clock of the last segment it took: SACK order (RFC 2018 §4) */
};

struct sf_rcvbuf {
    uint32_t cap, head, len; /* len: in-order bytes waiting to be read */
    uint32_t clock;          /* counts out-of-order segments kept, for sf_range.stamp */
    uint8_t nblk;
    struct sf_range blk[SF_OOO_MAX];
    uint8_t data[];
};

/* Stores n bytes that start off bytes beyond the in-order data (off 0: in order); the caller
 * has trimmed them to the free space. Returns the number of bytes that became in order (more
 * than n when they fill a hole). *stored is 0 when an out-of-order segment could not be kept
 * because the range list is full. */
uint32_t rcvbuf_store(struct sf_rcvbuf *b, uint32_t off, const uint8_t *p, uint32_t n, int *stored);
/* Copies up to n in-order bytes out. */
uint32_t rcvbuf_read(struct sf_rcvbuf *b, void *out, uint32_t n);
/* The same copy, leaving the bytes in the buffer (MSG_PEEK). */
uint32_t rcvbuf_peek(const struct sf_rcvbuf *b, void *out, uint32_t n);
static inline uint32_t rcvbuf_space(const struct sf_rcvbuf *b)
{
    return b->cap - b->len;
}

#endif
