/* Pipes against a fake transport: the buffer bound holds under a stalled reader (back-
 * pressure), bytes arrive whole and in order, FIN is passed on only after the last byte (and
 * announced on the write before it), errors are attributed to the right side, a held FIN
 * waits for its owner, and idle pipes hold no buffer. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lb/pipe.h"

struct fake {
    struct lb_conn base;
    /* as a source */
    const unsigned char *in;
    size_t in_len, in_pos;
    size_t avail; /* bytes readable now (the rest arrives later) */
    int in_eof, in_err;
    unsigned reads;
    /* as a destination */
    unsigned char *out;
    size_t out_len, room;
    int shut, out_err;
    size_t out_len_at_shut;
    unsigned writes, fin_next_writes; /* writes, and those flagged LB_WRITE_FIN_NEXT */
    int last_write_fin_next;
};

static ssize_t f_read(struct lb_conn *c, void *buf, size_t len)
{
    struct fake *f = (struct fake *)c;
    f->reads++;
    if (f->in_err && f->avail == 0)
        return -f->in_err;
    if (f->avail == 0)
        return f->in_eof && f->in_pos == f->in_len ? 0 : -EAGAIN;
    size_t n = len < f->avail ? len : f->avail;
    memcpy(buf, f->in + f->in_pos, n);
    f->in_pos += n;
    f->avail -= n;
    return (ssize_t)n;
}

static ssize_t f_write(struct lb_conn *c, const void *buf, size_t len, unsigned flags)
{
    struct fake *f = (struct fake *)c;
    f->writes++;
    f->last_write_fin_next = (flags & LB_WRITE_FIN_NEXT) != 0;
    f->fin_next_writes += f->last_write_fin_next;
    if (f->out_err)
        return -f->out_err;
    if (f->room == 0)
        return -EAGAIN;
    size_t n = len < f->room ? len : f->room;
    memcpy(f->out + f->out_len, buf, n);
    f->out_len += n;
    f->room -= n;
    return (ssize_t)n;
}

static int f_shutdown(struct lb_conn *c)
{
    struct fake *f = (struct fake *)c;
    f->shut++;
    f->out_len_at_shut = f->out_len;
    return 0;
}

static const struct lb_transport_ops fake_ops = {
    .name = "fake",
    .read = f_read,
    .write = f_write,
    .shutdown_write = f_shutdown,
};

static void fake_init(struct fake *f)
{
    memset(f, 0, sizeof *f);
    f->base.ops = &fake_ops;
}

#define TOTAL (1u << 20)
#define CAP   16384u

static unsigned char *pattern(size_t n)
{
    unsigned char *p = malloc(n);
    assert_non_null(p);
    uint32_t x = 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525 + 1013904223;
        p[i] = (unsigned char)(x >> 24);
    }
    return p;
}

static void backpressure_bounds_the_buffer(void **u)
{
    (void)u;
    struct fake src, dst;
    fake_init(&src);
    fake_init(&dst);
    unsigned char *data = pattern(TOTAL);
    src.in = data;
    src.in_len = TOTAL;
    src.avail = TOTAL; /* the sender has everything ready */
    src.in_eof = 1;
    dst.out = malloc(TOTAL);
    assert_non_null(dst.out);
    struct lb_bufpool pool;
    lb_bufpool_init(&pool, 1 << 20);
    struct lb_pipe p;
    memset(&p, 0, sizeof p);
    p.cap = CAP;
    struct lb_side ss = {.rd = 1, .hup = 1}, ds = {.wr = 1}; /* the sender's FIN is in too */
    int moved = 0, err = 0;
    /* The reader is stalled: synfin takes one buffer's worth and stops reading. */
    assert_int_equal(lb_pipe_pump(&p, &src.base, &ss, &dst.base, &ds, &pool, &moved, &err), 0);
    assert_int_equal(src.in_pos, CAP);
    assert_int_equal(p.len, CAP);
    assert_int_equal(ss.rd, 1); /* readiness kept for later, edge-triggered */
    assert_int_equal(ds.wr, 0);
    unsigned reads = src.reads;
    assert_int_equal(lb_pipe_pump(&p, &src.base, &ss, &dst.base, &ds, &pool, &moved, &err), 0);
    assert_int_equal(src.reads, reads); /* nothing new: no read attempted */
    /* The reader drains a little at a time: never more than CAP held, all delivered. */
    while (!p.shut) {
        dst.room = 7000;
        ds.wr = 1;
        assert_int_equal(lb_pipe_pump(&p, &src.base, &ss, &dst.base, &ds, &pool, &moved, &err), 0);
        assert_true(p.len <= CAP);
        assert_true(src.in_pos - dst.out_len <= CAP);
    }
    assert_int_equal(dst.out_len, TOTAL);
    assert_memory_equal(dst.out, data, TOTAL);
    assert_int_equal(dst.shut, 1);
    assert_int_equal(dst.out_len_at_shut, TOTAL); /* FIN after the last byte */
    assert_int_equal(p.bytes, TOTAL);
    assert_null(p.buf);
    assert_int_equal(pool.in_use, 0);
    lb_bufpool_clear(&pool);
    free(data);
    free(dst.out);
}

static void fin_waits_for_flush(void **u)
{
    (void)u;
    struct fake src, dst;
    fake_init(&src);
    fake_init(&dst);
    const unsigned char msg[] = "GET / HTTP/1.0\r\n\r\n";
    src.in = msg;
    src.in_len = sizeof msg - 1;
    src.avail = src.in_len;
    src.in_eof = 1;
    unsigned char out[64];
    dst.out = out;
    struct lb_bufpool pool;
    lb_bufpool_init(&pool, 1 << 20);
    struct lb_pipe p;
    memset(&p, 0, sizeof p);
    p.cap = CAP;
    /* FIN already known (EPOLLRDHUP): a short read ends it without another read call. */
    struct lb_side ss = {.rd = 1, .hup = 1}, ds = {.wr = 1};
    int moved = 0, err = 0;
    assert_int_equal(lb_pipe_pump(&p, &src.base, &ss, &dst.base, &ds, &pool, &moved, &err), 0);
    assert_int_equal(src.reads, 1);
    assert_int_equal(p.eof, 1);
    assert_int_equal(p.shut, 0); /* destination full: no FIN yet */
    assert_int_equal(dst.shut, 0);
    dst.room = 5;
    ds.wr = 1;
    lb_pipe_pump(&p, &src.base, &ss, &dst.base, &ds, &pool, &moved, &err);
    assert_int_equal(dst.shut, 0);
    dst.room = 100;
    ds.wr = 1;
    lb_pipe_pump(&p, &src.base, &ss, &dst.base, &ds, &pool, &moved, &err);
    assert_int_equal(dst.shut, 1);
    assert_int_equal(dst.out_len, sizeof msg - 1);
    assert_memory_equal(out, msg, sizeof msg - 1);
    /* pumping again does not shut twice */
    lb_pipe_pump(&p, &src.base, &ss, &dst.base, &ds, &pool, &moved, &err);
    assert_int_equal(dst.shut, 1);
    lb_bufpool_clear(&pool);
}

static void fin_rides_on_the_last_write(void **u)
{
    (void)u;
    struct fake src, dst;
    const unsigned char msg[] = "HTTP/1.0 200 OK\r\n\r\nhello";
    unsigned char out[64];
    struct lb_bufpool pool;
    lb_bufpool_init(&pool, 1 << 20);
    struct lb_pipe p;
    int moved = 0, err = 0;

    /* data and FIN in one read: the write says a FIN follows, and it does at once */
    fake_init(&src);
    fake_init(&dst);
    src.in = msg;
    src.in_len = src.avail = sizeof msg - 1;
    src.in_eof = 1;
    dst.out = out;
    dst.room = sizeof out;
    memset(&p, 0, sizeof p);
    p.cap = CAP;
    struct lb_side ss = {.rd = 1, .hup = 1}, ds = {.wr = 1};
    assert_int_equal(lb_pipe_pump(&p, &src.base, &ss, &dst.base, &ds, &pool, &moved, &err), 0);
    assert_int_equal(dst.writes, 1);
    assert_int_equal(dst.last_write_fin_next, 1);
    assert_int_equal(dst.shut, 1);
    assert_int_equal(dst.out_len_at_shut, sizeof msg - 1);

    /* data first, FIN later: the data goes unflagged (no FIN known to follow) */
    fake_init(&src);
    fake_init(&dst);
    src.in = msg;
    src.in_len = src.avail = sizeof msg - 1;
    dst.out = out;
    dst.room = sizeof out;
    memset(&p, 0, sizeof p);
    p.cap = CAP;
    struct lb_side ss2 = {.rd = 1}, ds2 = {.wr = 1};
    assert_int_equal(lb_pipe_pump(&p, &src.base, &ss2, &dst.base, &ds2, &pool, &moved, &err), 0);
    assert_int_equal(dst.fin_next_writes, 0);
    src.in_eof = 1;
    ss2.rd = ss2.hup = 1;
    assert_int_equal(lb_pipe_pump(&p, &src.base, &ss2, &dst.base, &ds2, &pool, &moved, &err), 0);
    assert_int_equal(dst.shut, 1);
    assert_int_equal(dst.writes, 1);

    /* nofin (the destination will be reset) or hold (the owner decides): no flag, no FIN */
    for (int hold = 0; hold < 2; hold++) {
        fake_init(&src);
        fake_init(&dst);
        src.in = msg;
        src.in_len = src.avail = sizeof msg - 1;
        src.in_eof = 1;
        dst.out = out;
        dst.room = sizeof out;
        memset(&p, 0, sizeof p);
        p.cap = CAP;
        p.nofin = !hold;
        p.hold = hold;
        struct lb_side ss3 = {.rd = 1, .hup = 1}, ds3 = {.wr = 1};
        assert_int_equal(lb_pipe_pump(&p, &src.base, &ss3, &dst.base, &ds3, &pool, &moved, &err),
                         0);
        assert_int_equal(dst.fin_next_writes, 0);
        assert_int_equal(dst.out_len, sizeof msg - 1);
        assert_int_equal(dst.shut, 0);
        assert_int_equal(p.shut, !hold);
        assert_int_equal(lb_pipe_fin_due(&p), hold);
        if (hold) {
            assert_int_equal(lb_pipe_shut(&p, &dst.base, &err), LB_PIPE_OK);
            assert_int_equal(dst.shut, 1);
            assert_int_equal(lb_pipe_fin_due(&p), 0);
        }
    }
    assert_int_equal(pool.in_use, 0);
    lb_bufpool_clear(&pool);
}

static void reads_before_connect_are_kept(void **u)
{
    (void)u;
    struct fake src;
    fake_init(&src);
    unsigned char *data = pattern(CAP * 2);
    src.in = data;
    src.in_len = CAP * 2;
    src.avail = CAP * 2;
    struct lb_bufpool pool;
    lb_bufpool_init(&pool, 1 << 20);
    struct lb_pipe p;
    memset(&p, 0, sizeof p);
    p.cap = CAP;
    struct lb_side ss = {.rd = 1}, ds = {0};
    int moved = 0, err = 0;
    assert_int_equal(lb_pipe_pump(&p, &src.base, &ss, NULL, &ds, &pool, &moved, &err), 0);
    assert_int_equal(p.len, CAP);
    assert_int_equal(src.in_pos, CAP);
    lb_pipe_release(&p, &pool);
    assert_int_equal(pool.in_use, 0);
    lb_bufpool_clear(&pool);
    free(data);
}

static void errors_name_their_side(void **u)
{
    (void)u;
    struct fake src, dst;
    struct lb_bufpool pool;
    lb_bufpool_init(&pool, 1 << 20);
    unsigned char out[16];
    const unsigned char msg[] = "abc";
    int moved, err;

    fake_init(&src);
    fake_init(&dst);
    src.in_err = ECONNRESET;
    struct lb_pipe p;
    memset(&p, 0, sizeof p);
    p.cap = CAP;
    struct lb_side ss = {.rd = 1, .err = 1}, ds = {.wr = 1};
    err = 0;
    assert_int_equal(lb_pipe_pump(&p, &src.base, &ss, &dst.base, &ds, &pool, &moved, &err),
                     LB_PIPE_SRC_ERR);
    assert_int_equal(err, ECONNRESET);
    lb_pipe_release(&p, &pool);

    fake_init(&src);
    fake_init(&dst);
    src.in = msg;
    src.in_len = 3;
    src.avail = 3;
    dst.out = out;
    dst.out_err = EPIPE;
    memset(&p, 0, sizeof p);
    p.cap = CAP;
    struct lb_side ss2 = {.rd = 1}, ds2 = {.wr = 1};
    err = 0;
    assert_int_equal(lb_pipe_pump(&p, &src.base, &ss2, &dst.base, &ds2, &pool, &moved, &err),
                     LB_PIPE_DST_ERR);
    assert_int_equal(err, EPIPE);
    lb_pipe_release(&p, &pool);

    /* data, then a reset behind it: the data is delivered and the reset is still seen */
    fake_init(&src);
    fake_init(&dst);
    src.in = msg;
    src.in_len = 3;
    src.avail = 3;
    src.in_err = ECONNRESET;
    dst.out = out;
    dst.room = sizeof out;
    memset(&p, 0, sizeof p);
    p.cap = CAP;
    struct lb_side ss4 = {.rd = 1, .hup = 1, .err = 1}, ds4 = {.wr = 1};
    err = 0;
    assert_int_equal(lb_pipe_pump(&p, &src.base, &ss4, &dst.base, &ds4, &pool, &moved, &err),
                     LB_PIPE_SRC_ERR);
    assert_int_equal(err, ECONNRESET);
    assert_int_equal(dst.out_len, 3);
    lb_pipe_release(&p, &pool);

    /* nofin: the destination is about to be reset, no FIN is sent first */
    fake_init(&src);
    fake_init(&dst);
    src.in_eof = 1;
    dst.out = out;
    memset(&p, 0, sizeof p);
    p.cap = CAP;
    p.nofin = 1;
    struct lb_side ss3 = {.rd = 1}, ds3 = {.wr = 1};
    assert_int_equal(lb_pipe_pump(&p, &src.base, &ss3, &dst.base, &ds3, &pool, &moved, &err), 0);
    assert_int_equal(p.shut, 1);
    assert_int_equal(dst.shut, 0);
    assert_int_equal(pool.in_use, 0);
    lb_bufpool_clear(&pool);
}

static void pool_reuses_and_bounds(void **u)
{
    (void)u;
    struct lb_bufpool pool;
    lb_bufpool_init(&pool, 3 * 1024);
    struct lb_buf *a = lb_buf_get(&pool, 1024), *b = lb_buf_get(&pool, 1024);
    struct lb_buf *c = lb_buf_get(&pool, 1024), *d = lb_buf_get(&pool, 1024);
    assert_int_equal(pool.in_use, 4);
    lb_buf_put(&pool, a);
    lb_buf_put(&pool, b);
    lb_buf_put(&pool, c);
    lb_buf_put(&pool, d); /* over the bound: freed */
    assert_int_equal(pool.free_bytes, 3 * 1024);
    assert_ptr_equal(lb_buf_get(&pool, 1024), c); /* LIFO: the warmest first */
    assert_int_equal(pool.in_use, 1);
    lb_buf_put(&pool, c);
    lb_bufpool_clear(&pool);
    assert_int_equal(pool.free_bytes, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backpressure_bounds_the_buffer),
        cmocka_unit_test(fin_waits_for_flush),
        cmocka_unit_test(fin_rides_on_the_last_write),
        cmocka_unit_test(reads_before_connect_are_kept),
        cmocka_unit_test(errors_name_their_side),
        cmocka_unit_test(pool_reuses_and_bounds),
    };
    return cmocka_run_group_tests_name("lb_pipe", tests, NULL, NULL);
}
