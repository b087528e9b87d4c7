/* The kernel transport's census in slices (transport.h, the census op): every connection
 * that lives through a census is counted exactly once however connections open and close
 * between its slices (including the one the census was about to count), new ones wait for
 * the next census, and the sock_diag part is read a batch at a time with every TIME_WAIT
 * entry on the scope's port counted once. Against the host kernel, on loopback. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "diag/sockdiag.h"
#include "io/loop.h"
#include "lb/kernel_census.h"
#include "lb/transport.h"

#define NCONN 24
#define SLICE 5

static int listener(struct lb_addr *a, int backlog)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(listen(fd, backlog), 0);
    socklen_t len = sizeof sin;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    lb_addr_from_sockaddr(a, (struct sockaddr *)&sin, len);
    return fd;
}

static void ignore(void *ctx, struct lb_conn *c, unsigned ev)
{
    (void)ctx;
    (void)c;
    (void)ev;
}

struct world {
    struct sf_loop *loop;
    struct lb_transport *tp;
    struct lb_addr addr;
    int lfd;
};

static void world_open(struct world *w)
{
    w->loop = sf_loop_new();
    assert_non_null(w->loop);
    w->tp = lb_transport_kernel_new(w->loop, 0);
    assert_non_null(w->tp);
    w->lfd = listener(&w->addr, 256);
}

static void world_close(struct world *w)
{
    close(w->lfd);
    sf_loop_once(w->loop, 0); /* the transport frees closed connections after a batch */
    lb_transport_free(w->tp);
    sf_loop_free(w->loop);
}

/* A connection to the world's listener, established (loopback completes the handshake in
 * the connect call; the census must see ESTABLISHED, not SYN_SENT). */
static struct lb_conn *dial(struct world *w)
{
    struct lb_connect_opts o;
    memset(&o, 0, sizeof o);
    o.dst = w->addr;
    struct lb_conn *c = NULL;
    assert_int_equal(lb_connect(w->tp, &o, ignore, NULL, &c), 0);
    for (int i = 0; i < 1000; i++) {
        struct lb_conn_info in;
        assert_int_equal(lb_conn_info(c, &in), 0);
        if (in.state == SF_ESTABLISHED)
            return c;
        sf_loop_once(w->loop, 1);
    }
    fail_msg("a loopback connect did not complete");
    return NULL;
}

static uint64_t established(struct world *w, unsigned budget, int *calls)
{
    static const struct lb_census_scope none;
    struct lb_census c;
    memset(&c, 0, sizeof c);
    *calls = 0;
    int done;
    do {
        done = lb_transport_census(w->tp, &none, &c, budget);
        assert_true(++*calls < 1000);
    } while (!done);
    return c.states[SF_ESTABLISHED];
}

static void whole_census_counts_each_connection(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct lb_conn *c[NCONN];
    for (int i = 0; i < NCONN; i++)
        c[i] = dial(&w);
    int calls;
    assert_int_equal(established(&w, 0, &calls), NCONN);
    assert_int_equal(calls, 1);
    /* Sliced: a call counts at most SLICE sockets (the census is not done before all are). */
    assert_int_equal(established(&w, SLICE, &calls), NCONN);
    assert_true(calls >= (NCONN + SLICE - 1) / SLICE);
    for (int i = 0; i < NCONN; i++)
        lb_conn_close(c[i]);
    world_close(&w);
}

/* The k-th connection (0: the next) the census has yet to count: it goes newest first, the
 * live list's order, over those still open. -1 if none. */
static int pending(const int *open, const int *counted, int k)
{
    for (int i = NCONN - 1; i >= 0; i--)
        if (open[i] && !counted[i] && k-- == 0)
            return i;
    return -1;
}

/* Between slices: the connection the census would count next closes, one it counted closes,
 * one it has not reached closes, and a new one opens. */
static void slices_survive_closes_and_opens(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct lb_conn *c[NCONN], *born[NCONN];
    int open[NCONN], counted[NCONN], nborn = 0, missed = 0, last = -1;
    for (int i = 0; i < NCONN; i++) {
        c[i] = dial(&w);
        open[i] = 1;
        counted[i] = 0;
    }
    static const struct lb_census_scope none;
    struct lb_census cs;
    memset(&cs, 0, sizeof cs);
    for (int calls = 1;; calls++) {
        assert_true(calls < 100);
        int done = lb_transport_census(w.tp, &none, &cs, SLICE);
        for (int k = 0, i; k < SLICE && (i = pending(open, counted, 0)) >= 0; k++)
            counted[last = i] = 1;
        assert_int_equal(done, pending(open, counted, 0) < 0);
        if (done)
            break;
        int victims[3] = {pending(open, counted, 0), last, pending(open, counted, 2)};
        for (int v = 0; v < 3; v++) {
            int i = victims[v];
            if (i < 0 || !open[i])
                continue;
            lb_conn_close(c[i]);
            open[i] = 0;
            missed += !counted[i];
        }
        born[nborn++] = dial(&w);
        sf_loop_once(w.loop, 0); /* closed structs are recycled after the batch */
    }
    int alive = 0;
    for (int i = 0; i < NCONN; i++)
        alive += open[i];
    assert_true(missed > 0 && nborn > 0);
    /* Everything open at the start and not closed before its turn: once each. */
    assert_int_equal(cs.states[SF_ESTABLISHED], NCONN - missed);
    /* The next census starts afresh and sees the newcomers. */
    int calls;
    assert_int_equal(established(&w, SLICE, &calls), alive + nborn);
    for (int i = 0; i < NCONN; i++)
        if (open[i])
            lb_conn_close(c[i]);
    for (int i = 0; i < nborn; i++)
        lb_conn_close(born[i]);
    world_close(&w);
}

static int count_tw(const struct sf_sockdiag_entry *e, void *arg)
{
    uint16_t *port = arg;
    if (e->state == SF_KS_TIME_WAIT && e->sport == port[0])
        port[1]++;
    return 0;
}

/* More TIME_WAIT entries on a frontend's port than one sock_diag batch holds: in a census in
 * slices they are read off the loop (the calls wait for the transport's thread), all counted
 * once; with no budget, in the call itself. */
static void diag_part_is_read_off_the_loop(void **state)
{
    (void)state;
    enum { NTW = 600 };
    struct world w;
    world_open(&w);
    for (int i = 0; i < NTW; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(connect(fd, &w.addr.u.sa, w.addr.len), 0);
        int a = accept(w.lfd, NULL, NULL);
        assert_true(a >= 0);
        close(a); /* the listening side closes first: its end becomes TIME_WAIT */
        char b;
        assert_int_equal(recv(fd, &b, 1, 0), 0);
        close(fd);
    }
    struct sf_sockdiag_query q = {.family = AF_UNSPEC,
                                  .states = SF_KSTATE_BIT(SF_KS_TIME_WAIT),
                                  .port = lb_addr_port(&w.addr)};
    uint16_t seen[2] = {lb_addr_port(&w.addr), 0};
    for (int i = 0; i < 100 && seen[1] < NTW; i++) { /* the last ACKs may still be in flight */
        seen[1] = 0;
        assert_int_equal(sf_sockdiag_dump(&q, count_tw, seen), 0);
        if (seen[1] < NTW)
            sf_loop_once(w.loop, 10);
    }
    assert_int_equal(seen[1], NTW);
    const struct lb_addr *fe[1] = {&w.addr};
    struct lb_census_scope scope = {.frontends = fe, .nfrontends = 1};
    struct lb_census cs;
    memset(&cs, 0, sizeof cs);
    /* Sliced, the dumps run on the transport's thread: the calls on the loop only look
     * whether it is done (the loop polled with a bounded deadline, 10 s). */
    int calls = 0, rc, waited = 0;
    while ((rc = lb_transport_census(w.tp, &scope, &cs, SLICE)) != LB_CENSUS_DONE) {
        assert_true(++calls < 10000);
        waited |= rc == LB_CENSUS_WAIT;
        sf_loop_once(w.loop, 1);
    }
    assert_true(waited);
    assert_int_equal(cs.diag_error, 0);
    assert_int_equal(cs.tw_frontend, NTW);
    assert_int_equal(cs.states[SF_TIME_WAIT], NTW);
    memset(&cs, 0, sizeof cs);
    assert_int_equal(lb_transport_census(w.tp, &scope, &cs, 0), LB_CENSUS_DONE);
    assert_int_equal(cs.tw_frontend, NTW);
    assert_int_equal(cs.states[SF_TIME_WAIT], NTW);
    world_close(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(whole_census_counts_each_connection),
        cmocka_unit_test(slices_survive_closes_and_opens),
        cmocka_unit_test(diag_part_is_read_off_the_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
