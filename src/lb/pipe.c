/* A pipe's pump; see pipe.h. */
#include "lb/pipe.h"

#include <errno.h>
#include <string.h>

void lb_pipe_release(struct lb_pipe *p, struct lb_bufpool *pool)
{
    if (p->buf) {
        lb_buf_put(pool, p->buf);
        p->buf = NULL;
    }
    p->off = p->len = 0;
}

static int flush(struct lb_pipe *p, struct lb_conn *dst, struct lb_side *ds,
                 struct lb_bufpool *pool, int *moved, int *err)
{
    while (p->len > 0 && ds->wr) {
        /* The source's FIN is in: if this write takes everything, the FIN follows at once. */
        unsigned flags = p->eof && !p->nofin && !p->hold ? LB_WRITE_FIN_NEXT : 0;
        ssize_t n = lb_conn_send(dst, p->buf->data + p->off, p->len, flags);
        if (n == -EAGAIN) {
            ds->wr = 0;
            break;
        }
        if (n < 0) {
            *err = (int)-n;
            return LB_PIPE_DST_ERR;
        }
        p->off += (uint32_t)n;
        p->len -= (uint32_t)n;
        p->bytes += (uint64_t)n;
        *moved = 1;
        if (p->len > 0)
            ds->wr = 0; /* a short write means the send buffer is full: wait for the edge */
    }
    if (p->len == 0)
        lb_pipe_release(p, pool);
    return LB_PIPE_OK;
}

int lb_pipe_pump(struct lb_pipe *p, struct lb_conn *src, struct lb_side *ss, struct lb_conn *dst,
                 struct lb_side *ds, struct lb_bufpool *pool, int *moved, int *err)
{
    int rc;
    for (;;) {
        if (dst && (rc = flush(p, dst, ds, pool, moved, err)) < 0)
            return rc;
        if (p->eof || !ss->rd)
            break;
        if (!p->buf) {
            p->buf = lb_buf_get(pool, p->cap);
            if (!p->buf)
                return LB_PIPE_NOMEM;
            p->off = p->len = 0;
        }
        if (p->off + p->len == p->buf->cap && p->off > 0) {
            memmove(p->buf->data, p->buf->data + p->off, p->len);
            p->off = 0;
        }
        uint32_t room = p->buf->cap - p->off - p->len;
        if (room == 0)
            break; /* full: back-pressure until the destination drains it */
        ssize_t n = lb_conn_read(src, p->buf->data + p->off + p->len, room);
        if (n > 0) {
            p->len += (uint32_t)n;
            *moved = 1;
            if ((uint32_t)n < room && !ss->err) {
                /* Short read: drained. If the FIN already arrived, this was the last of
                 * it. With an error pending (RST), keep reading: it comes after the data. */
                ss->rd = 0;
                if (ss->hup)
                    p->eof = 1;
            }
        } else if (n == 0) {
            p->eof = 1;
            ss->rd = 0;
        } else if (n == -EAGAIN) {
            ss->rd = 0;
        } else {
            *err = (int)-n;
            return LB_PIPE_SRC_ERR;
        }
        if (!dst)
            continue;
        if (p->len == 0 && (p->eof || !ss->rd))
            break;
    }
    if (!p->len)
        lb_pipe_release(p, pool);
    if (dst && lb_pipe_fin_due(p) && !p->hold)
        return lb_pipe_shut(p, dst, err);
    return LB_PIPE_OK;
}

int lb_pipe_shut(struct lb_pipe *p, struct lb_conn *dst, int *err)
{
    p->shut = 1;
    if (!p->nofin) {
        int r = lb_conn_shutdown_write(dst);
        if (r < 0 && r != -ENOTCONN) {
            *err = -r;
            return LB_PIPE_DST_ERR;
        }
    }
    return LB_PIPE_OK;
}
