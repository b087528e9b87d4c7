/* sock_diag against real loopback sockets in known states (no root needed). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "diag/netns.h"
#include "diag/sockdiag.h"

struct counts {
    unsigned by_state[SF_KS_MAX];
    unsigned total;
    uint16_t port;
    unsigned port_mismatch;
};

static int count_cb(const struct sf_sockdiag_entry *e, void *arg)
{
    struct counts *c = arg;
    if (e->state > 0 && e->state < SF_KS_MAX)
        c->by_state[e->state]++;
    c->total++;
    if (e->sport != c->port && e->dport != c->port)
        c->port_mismatch++;
    return 0;
}

static struct counts dump_port(uint16_t port, uint32_t states)
{
    struct counts c;
    memset(&c, 0, sizeof c);
    c.port = port;
    struct sf_sockdiag_query q = {.family = AF_UNSPEC, .states = states, .port = port};
    int rc = sf_sockdiag_dump(&q, count_cb, &c);
    assert_int_equal(rc, 0);
    return c;
}

static int tcp_listener(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 16), 0);
    socklen_t al = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static int tcp_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons(port)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Polls the dump until the state count for the port reaches want (the kernel moves states
 * asynchronously to our syscalls on loopback, but within milliseconds). */
static void expect_state(uint16_t port, int state, unsigned want)
{
    unsigned got = 0;
    for (int i = 0; i < 2000; i++) {
        got = dump_port(port, SF_KSTATE_BIT(state)).by_state[state];
        if (got == want)
            return;
        usleep(1000);
    }
    fail_msg("%s: want %u sockets on port %u, got %u", sf_kstate_name(state), want, port, got);
}

static void states_through_a_close(void **unused)
{
    (void)unused;
    uint16_t port;
    int l = tcp_listener(&port);
    int c = tcp_connect(port);
    int s = accept(l, NULL, NULL);
    assert_true(s >= 0);

    struct counts all = dump_port(port, SF_KSTATES_ALL);
    assert_int_equal(all.by_state[SF_KS_LISTEN], 1);
    assert_int_equal(all.by_state[SF_KS_ESTABLISHED], 2);
    assert_int_equal(all.total, 3);
    assert_int_equal(all.port_mismatch, 0);

    /* Client closes first: client FIN-WAIT-2, server CLOSE-WAIT. */
    close(c);
    expect_state(port, SF_KS_FIN_WAIT2, 1);
    expect_state(port, SF_KS_CLOSE_WAIT, 1);

    /* Server closes: the client, which closed first, holds TIME-WAIT. */
    close(s);
    expect_state(port, SF_KS_TIME_WAIT, 1);
    expect_state(port, SF_KS_CLOSE_WAIT, 0);
    close(l);
    expect_state(port, SF_KS_LISTEN, 0);
}

static int stop_after_one(const struct sf_sockdiag_entry *e, void *arg)
{
    (void)e;
    (*(int *)arg)++;
    return 42;
}

static void callback_stops_dump(void **unused)
{
    (void)unused;
    uint16_t port;
    int l = tcp_listener(&port);
    int calls = 0;
    struct sf_sockdiag_query q = {.family = AF_INET, .states = SF_KSTATES_ALL, .port = port};
    assert_int_equal(sf_sockdiag_dump(&q, stop_after_one, &calls), 42);
    assert_int_equal(calls, 1);
    close(l);
}

static void bad_family_rejected(void **unused)
{
    (void)unused;
    struct sf_sockdiag_query q = {.family = AF_UNIX, .states = SF_KSTATES_ALL};
    assert_int_equal(sf_sockdiag_dump(&q, stop_after_one, NULL), -EAFNOSUPPORT);
    assert_string_equal(sf_kstate_name(SF_KS_TIME_WAIT), "TIME-WAIT");
    assert_string_equal(sf_kstate_name(99), "UNKNOWN");
}

static struct sf_sockdiag_cond cond(int family, const char *addr, int prefix, int port)
{
    struct sf_sockdiag_cond c;
    memset(&c, 0, sizeof c);
    c.active = 1;
    c.family = (uint8_t)family;
    c.prefix_len = (uint8_t)prefix;
    c.port = port;
    if (addr)
        assert_int_equal(inet_pton(family, addr, c.addr), 1);
    return c;
}

static unsigned count_matching(const struct sf_sockdiag_query *q)
{
    struct counts c;
    memset(&c, 0, sizeof c);
    c.port = q->port;
    assert_int_equal(sf_sockdiag_dump(q, count_cb, &c), 0);
    return c.total;
}

/* Address conditions run in the kernel: a client bound to 127.0.0.2 is told apart from the
 * server side on 127.0.0.1, and conditions combine with the port filter. */
static void address_conditions_in_the_kernel(void **unused)
{
    (void)unused;
    uint16_t port;
    int l = tcp_listener(&port);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in src = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.2", &src.sin_addr);
    assert_int_equal(bind(c, (struct sockaddr *)&src, sizeof src), 0);
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    assert_int_equal(connect(c, (struct sockaddr *)&dst, sizeof dst), 0);
    int s = accept(l, NULL, NULL);
    assert_true(s >= 0);

    struct sf_sockdiag_query q = {.family = AF_UNSPEC, .states = SF_KSTATES_ALL, .port = port};
    assert_int_equal(count_matching(&q), 3);
    q.local = cond(AF_INET, "127.0.0.2", 32, -1); /* the client only */
    assert_int_equal(count_matching(&q), 1);
    q.remote = cond(AF_INET, "127.0.0.1", 32, port);
    assert_int_equal(count_matching(&q), 1);
    q.remote = cond(AF_INET, "127.0.0.3", 32, -1);
    assert_int_equal(count_matching(&q), 0);
    memset(&q.remote, 0, sizeof q.remote);
    q.local = cond(AF_INET, "127.0.0.0", 8, port); /* listener and server side */
    assert_int_equal(count_matching(&q), 2);
    q.local = cond(AF_UNSPEC, NULL, 0, port); /* port only */
    assert_int_equal(count_matching(&q), 2);
    q.local = cond(AF_INET6, "::1", 128, -1);
    assert_int_equal(count_matching(&q), 0);
    close(c);
    close(s);
    close(l);
}

/* The same rules in user space, on made-up entries: v4-mapped addresses, prefixes. */
static void match_rules(void **unused)
{
    (void)unused;
    struct sf_sockdiag_entry e;
    memset(&e, 0, sizeof e);
    e.family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:10.1.2.3", e.src);
    inet_pton(AF_INET6, "2001:db8::9", e.dst);
    e.sport = 80;
    e.dport = 40000;
    struct sf_sockdiag_query q = {.family = AF_UNSPEC, .states = SF_KSTATES_ALL};
    assert_true(sf_sockdiag_match(&q, &e));
    q.local = cond(AF_INET, "10.1.0.0", 16, 80);
    assert_true(sf_sockdiag_match(&q, &e)); /* IPv4 condition, v4-mapped socket */
    q.local = cond(AF_INET, "10.1.0.0", 16, 81);
    assert_false(sf_sockdiag_match(&q, &e));
    q.local = cond(AF_INET, "10.2.0.0", 15, -1);
    assert_false(sf_sockdiag_match(&q, &e));
    memset(&q.local, 0, sizeof q.local);
    q.remote = cond(AF_INET6, "2001:db8::", 33, 40000);
    assert_true(sf_sockdiag_match(&q, &e));
    q.remote = cond(AF_INET6, "2001:db9::", 32, -1);
    assert_false(sf_sockdiag_match(&q, &e));
    q.remote = cond(AF_INET, "0.0.0.9", 32, -1); /* v4 condition, native v6 socket */
    assert_false(sf_sockdiag_match(&q, &e));
    memset(&q.remote, 0, sizeof q.remote);
    q.port = 40000;
    assert_true(sf_sockdiag_match(&q, &e));
    q.port = 443;
    assert_false(sf_sockdiag_match(&q, &e));
}

static void netns_names(void **unused)
{
    (void)unused;
    char p[64];
    assert_int_equal(sf_netns_path("blue", p, sizeof p), 0);
    assert_string_equal(p, "/run/netns/blue");
    assert_int_equal(sf_netns_path("/proc/1/ns/net", p, sizeof p), 0);
    assert_string_equal(p, "/proc/1/ns/net");
    static const char *const bad[] = {"", ".", "..", "a/b", "../x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(sf_netns_path(bad[i], p, sizeof p), -EINVAL);
    char longname[100];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(sf_netns_path(longname, p, sizeof p), -EINVAL);
    assert_int_equal(sf_netns_enter("synfin-no-such-namespace"), -ENOENT);
    assert_int_equal(sf_netns_enter("a/b"), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(states_through_a_close),
        cmocka_unit_test(callback_stops_dump),
        cmocka_unit_test(bad_family_rejected),
        cmocka_unit_test(address_conditions_in_the_kernel),
        cmocka_unit_test(match_rules),
        cmocka_unit_test(netns_names),
    };
    return cmocka_run_group_tests_name("diag_sockdiag", tests, NULL, NULL);
}
