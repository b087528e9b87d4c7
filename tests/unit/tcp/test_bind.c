/* Who may bind a port (bind.c): two sockets clash only when their addresses overlap, the
 * same address or either the wildcard of that family, and IPv4 never overlaps IPv6 (no
 * dual-stack sockets). Without SO_REUSEADDR every overlapping user of the port clashes; with
 * it, only a listener does. State-level: the engine's answers to sf_bind and sf_listen. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "tcp/internal.h"

enum { PORT = 80 };

static void discard(void *ctx, const void *pkt, size_t len)
{
    (void)ctx, (void)pkt, (void)len;
}

static int setup(void **state)
{
    struct sf_engine_params p;
    memset(&p, 0, sizeof p);
    p.ops.output = discard;
    for (int i = 0; i < 32; i++)
        p.key[i] = (uint8_t)(i * 7 + 1);
    p.local_addr = sf_addr_v4(10, 0, 0, 1);
    p.now = SF_SEC(1000);
    *state = sf_engine_new(&p);
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    sf_engine_free(*state);
    return 0;
}

static struct sf_endpoint ep(const char *addr, uint16_t port)
{
    struct sf_addr a;
    assert_int_equal(sf_addr_parse(addr, &a), 0);
    return endpoint_of(&a, port);
}

/* A fresh socket bound to addr:port (reuse: SO_REUSEADDR first); the bind's result in *rc. */
static struct sf_conn *bound(struct sf_engine *e, const char *addr, uint16_t port, int reuse,
                             int *rc)
{
    struct sf_conn *c = sf_socket(e);
    assert_non_null(c);
    if (reuse)
        assert_int_equal(sf_setopt(c, SF_OPT_REUSEADDR, 1), 0);
    struct sf_endpoint local = ep(addr, port);
    *rc = sf_bind(c, &local);
    return c;
}

static struct sf_conn *listening(struct sf_engine *e, const char *addr, uint16_t port)
{
    int rc;
    struct sf_conn *c = bound(e, addr, port, 0, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(sf_listen(c, 8), 0);
    assert_int_equal(sf_conn_state(c), SF_LISTEN);
    return c;
}

/* The result of binding addr:port on a fresh socket (dropped afterwards). */
static int try_bind(struct sf_engine *e, const char *addr, uint16_t port, int reuse)
{
    int rc;
    sf_abort(bound(e, addr, port, reuse, &rc));
    return rc;
}

static void ipv4_addresses_share_a_port(void **state)
{
    struct sf_engine *e = *state;
    struct sf_conn *a = listening(e, "10.0.0.1", PORT), *b = listening(e, "10.0.0.2", PORT);
    /* each takes the SYNs to its own address */
    struct sf_endpoint to_a = ep("10.0.0.1", PORT), to_b = ep("10.0.0.2", PORT),
                       to_c = ep("10.0.0.3", PORT);
    assert_ptr_equal(table_lookup_listener(e, &to_a.addr, PORT), a);
    assert_ptr_equal(table_lookup_listener(e, &to_b.addr, PORT), b);
    assert_null(table_lookup_listener(e, &to_c.addr, PORT));
}

static void ipv4_and_ipv6_share_a_port(void **state)
{
    struct sf_engine *e = *state;
    listening(e, "10.0.0.1", PORT);
    listening(e, "2001:db8::1", PORT);
    /* the wildcard of one family leaves the other alone: no dual-stack sockets */
    listening(e, "::", PORT + 1);
    listening(e, "10.0.0.1", PORT + 1);
    listening(e, "0.0.0.0", PORT + 2);
    listening(e, "2001:db8::1", PORT + 2);
    assert_int_equal(try_bind(e, "0.0.0.0", PORT + 1, 0), -EADDRINUSE);     /* 10.0.0.1 */
    assert_int_equal(try_bind(e, "2001:db8::2", PORT + 1, 0), -EADDRINUSE); /* :: */
}

static void wildcard_overlaps_every_address_of_its_family(void **state)
{
    struct sf_engine *e = *state;
    struct sf_conn *any = listening(e, "0.0.0.0", PORT);
    assert_int_equal(try_bind(e, "10.0.0.2", PORT, 0), -EADDRINUSE);
    assert_int_equal(try_bind(e, "10.0.0.2", PORT, 1), -EADDRINUSE); /* a listener: always */
    assert_int_equal(try_bind(e, "2001:db8::1", PORT, 0), 0);
    sf_abort(any);
    /* the other way round: a specific address first, then the wildcard */
    listening(e, "10.0.0.1", PORT);
    assert_int_equal(try_bind(e, "0.0.0.0", PORT, 0), -EADDRINUSE);
    assert_int_equal(try_bind(e, "0.0.0.0", PORT, 1), -EADDRINUSE);
    assert_int_equal(try_bind(e, "0.0.0.0", PORT + 1, 0), 0);
}

static void same_address_twice(void **state)
{
    struct sf_engine *e = *state;
    listening(e, "10.0.0.1", PORT);
    listening(e, "2001:db8::1", PORT);
    assert_int_equal(try_bind(e, "10.0.0.1", PORT, 0), -EADDRINUSE);
    assert_int_equal(try_bind(e, "10.0.0.1", PORT, 1), -EADDRINUSE);
    assert_int_equal(try_bind(e, "2001:db8::1", PORT, 0), -EADDRINUSE);
}

/* A socket only bound (or a connection) holds its address too; SO_REUSEADDR on the newcomer
 * lets it share, as on Linux when the holder is not listening. */
static void non_listeners_clash_only_on_overlap(void **state)
{
    struct sf_engine *e = *state;
    int rc;
    struct sf_conn *c = bound(e, "10.0.0.1", 5000, 0, &rc);
    assert_int_equal(rc, 0);
    struct sf_endpoint remote = ep("192.0.2.9", 443);
    assert_int_equal(sf_connect(c, &remote), -EINPROGRESS);
    bound(e, "10.0.0.3", 5001, 0, &rc); /* bound, never connected */
    assert_int_equal(rc, 0);

    assert_int_equal(try_bind(e, "10.0.0.2", 5000, 0), 0);
    assert_int_equal(try_bind(e, "2001:db8::1", 5000, 0), 0);
    assert_int_equal(try_bind(e, "10.0.0.1", 5000, 0), -EADDRINUSE);
    assert_int_equal(try_bind(e, "0.0.0.0", 5000, 0), -EADDRINUSE);
    assert_int_equal(try_bind(e, "10.0.0.1", 5000, 1), 0);
    assert_int_equal(try_bind(e, "0.0.0.0", 5000, 1), 0);
    assert_int_equal(try_bind(e, "10.0.0.3", 5001, 0), -EADDRINUSE);
    assert_int_equal(try_bind(e, "10.0.0.4", 5001, 0), 0);
    sf_abort(c);
    assert_int_equal(try_bind(e, "10.0.0.1", 5000, 0), 0); /* free again */
}

/* Two sockets bound with SO_REUSEADDR to overlapping addresses: only one may listen. */
static void only_one_of_overlapping_sockets_listens(void **state)
{
    struct sf_engine *e = *state;
    int rc;
    struct sf_conn *a = bound(e, "0.0.0.0", PORT, 1, &rc);
    assert_int_equal(rc, 0);
    struct sf_conn *b = bound(e, "10.0.0.1", PORT, 1, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(sf_listen(a, 8), 0);
    assert_int_equal(sf_listen(b, 8), -EADDRINUSE);
    assert_int_equal(sf_conn_state(b), SF_CLOSED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ipv4_addresses_share_a_port, setup, teardown),
        cmocka_unit_test_setup_teardown(ipv4_and_ipv6_share_a_port, setup, teardown),
        cmocka_unit_test_setup_teardown(wildcard_overlaps_every_address_of_its_family, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(same_address_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(non_listeners_clash_only_on_overlap, setup, teardown),
        cmocka_unit_test_setup_teardown(only_one_of_overlapping_sockets_listens, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
