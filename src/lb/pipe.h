/* One direction of a session: bytes read from a source connection, held in a bounded
 * buffer, written to a destination connection. The buffer bound is the back-pressure: a pipe
 * whose buffer is full stops reading, so the kernel's receive window closes toward the
 * sender instead of synfin buffering without limit.
 *
 * Half-close: when the source's FIN has been read and the buffer is flushed, the pipe shuts
 * down writing on the destination (FIN after the last byte, in the same segment when the
 * transport can); the opposite pipe is untouched. */
#ifndef SYNFIN_LB_PIPE_H
#define SYNFIN_LB_PIPE_H

#include <stdint.h>

#include "lb/buffer.h"
#include "lb/transport.h"

/* What is known about one connection's readiness (edge-triggered: kept until used up). */
struct lb_side {
    unsigned rd : 1;  /* may have bytes (or FIN) to read */
    unsigned wr : 1;  /* may accept bytes */
    unsigned hup : 1; /* its FIN has arrived */
    unsigned err : 1; /* it failed or was reset */
};

struct lb_pipe {
    struct lb_buf *buf;
    uint32_t off, len, cap;
    uint64_t bytes;     /* written to the destination */
    unsigned eof : 1;   /* the source's FIN was read */
    unsigned shut : 1;  /* FIN sent to the destination (or, with nofin, not needed) */
    unsigned nofin : 1; /* when done, do not shut the destination down (it is reset) */
    unsigned hold : 1;  /* when done, leave the FIN to lb_pipe_shut: the owner looks first */
};

enum lb_pipe_result {
    LB_PIPE_OK = 0,
    LB_PIPE_SRC_ERR = -1, /* reading failed: the source reset or failed */
    LB_PIPE_DST_ERR = -2, /* writing failed: the destination reset */
    LB_PIPE_NOMEM = -3,
};

/* Moves what can move now. dst may be NULL (not connected yet): then only reads, up to the
 * buffer bound. *moved gets 1 when any byte was read or written. *err gets the errno. */
int lb_pipe_pump(struct lb_pipe *p, struct lb_conn *src, struct lb_side *ss, struct lb_conn *dst,
                 struct lb_side *ds, struct lb_bufpool *pool, int *moved, int *err);

static inline int lb_pipe_done(const struct lb_pipe *p)
{
    return p->shut;
}

/* The source's FIN is read and every byte before it delivered: the FIN is owed. */
static inline int lb_pipe_fin_due(const struct lb_pipe *p)
{
    return p->eof && p->len == 0 && !p->shut;
}

/* Passes the FIN on (shutdown of writing, unless nofin). LB_PIPE_OK or LB_PIPE_DST_ERR. */
int lb_pipe_shut(struct lb_pipe *p, struct lb_conn *dst, int *err);

void lb_pipe_release(struct lb_pipe *p, struct lb_bufpool *pool);

#endif
