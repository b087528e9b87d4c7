/* ICMP errors about our segments: path MTU (RFC 1191), checks against forged errors (RFC
 * 5927), an unreachable port during connect; and echo replies. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "fixture.h"
#include "net/checksum.h"
#include "net/icmp.h"

static const char blob[4000] = {3};

static void plain(struct sf_tcp_config *c)
{
    c->timestamps = 0;
    c->sack = 0;
    c->window_scaling = 0;
}

/* An ICMP error from a router (192.0.2.254) quoting the engine's packet `quoted`. */
static size_t icmp_error(uint8_t *out, uint8_t type, uint8_t code, uint16_t mtu,
                         const uint8_t *quoted)
{
    size_t qlen = 20 + 8; /* the IP header and 8 bytes of TCP */
    size_t total = 20 + 8 + qlen;
    memset(out, 0, total);
    out[0] = 0x45;
    out[2] = (uint8_t)(total >> 8);
    out[3] = (uint8_t)total;
    out[8] = 64;
    out[9] = 1;
    const uint8_t router[4] = {192, 0, 2, 254}, me[4] = {192, 168, 0, 1};
    memcpy(out + 12, router, 4);
    memcpy(out + 16, me, 4);
    uint16_t c = sf_csum_fold(sf_csum_add(0, out, 20));
    memcpy(out + 10, &c, 2);
    uint8_t *icmp = out + 20;
    icmp[0] = type;
    icmp[1] = code;
    icmp[6] = (uint8_t)(mtu >> 8);
    icmp[7] = (uint8_t)mtu;
    memcpy(icmp + 8, quoted, qlen);
    c = sf_csum_fold(sf_csum_add(0, icmp, 8 + qlen));
    memcpy(icmp + 2, &c, 2);
    return total;
}

static void fragmentation_needed_lowers_mss(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    fx_passive_open(f);
    sf_send(f->conn, blob, 3000);
    unsigned first = f->next;
    fx_out(f, TH_ACK, 1, 1, 1460);
    fx_out(f, TH_ACK, 1461, 1, 1460);
    fx_out(f, TH_ACK | TH_PSH, 2921, 1, 80);
    uint8_t pkt[128];
    size_t n = icmp_error(pkt, SF_ICMP_DEST_UNREACH, SF_ICMP_FRAG_NEEDED, 1000, f->out[first].raw);
    assert_int_equal(sf_engine_input(f->e, pkt, n, f->now), 0);
    /* Sent again at once in 960-byte segments (1000 - 40); the window is not cut. */
    fx_out(f, TH_ACK, 1, 1, 960);
    fx_out(f, TH_ACK, 961, 1, 960);
    fx_out(f, TH_ACK, 1921, 1, 960);
    fx_out(f, TH_ACK | TH_PSH, 2881, 1, 120);
    fx_none(f);
    struct sf_conn_info in;
    sf_info(f->conn, &in);
    assert_int_equal(in.snd_mss, 960);
    struct sf_engine_stats st;
    sf_engine_stats(f->e, &st);
    assert_int_equal(st.pmtu_updates, 1);
    /* A larger MTU later changes nothing: PMTU only goes down on ICMP. */
    fx_in(f, TH_ACK, 1, 3001, 65535, NULL, NULL, 0);
    sf_send(f->conn, blob, 10);
    unsigned k = f->next;
    fx_out(f, TH_ACK | TH_PSH, 3001, 1, 10);
    n = icmp_error(pkt, SF_ICMP_DEST_UNREACH, SF_ICMP_FRAG_NEEDED, 1400, f->out[k].raw);
    sf_engine_input(f->e, pkt, n, f->now);
    fx_none(f);
    sf_info(f->conn, &in);
    assert_int_equal(in.snd_mss, 960);
    fx_free(f);
}

/* RFC 5927: an error quoting a sequence number outside [SND.UNA, SND.NXT) is ignored. */
static void forged_error_ignored(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    fx_passive_open(f);
    sf_send(f->conn, blob, 100);
    unsigned k = f->next;
    fx_out(f, TH_ACK | TH_PSH, 1, 1, 100);
    uint8_t quoted[64];
    memcpy(quoted, f->out[k].raw, sizeof quoted);
    quoted[24] ^= 0x40; /* the quoted sequence number, far off */
    uint8_t pkt[128];
    size_t n = icmp_error(pkt, SF_ICMP_DEST_UNREACH, SF_ICMP_FRAG_NEEDED, 576, quoted);
    assert_int_equal(sf_engine_input(f->e, pkt, n, f->now), 0);
    fx_none(f);
    struct sf_engine_stats st;
    sf_engine_stats(f->e, &st);
    assert_int_equal(st.icmp_ignored, 1);
    assert_int_equal(st.pmtu_updates, 0);
    fx_free(f);
}

static void port_unreachable_refuses_connect(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    f->conn = sf_socket(f->e);
    struct sf_endpoint ep = {.addr = sf_addr_v4(192, 0, 2, 1), .port = 40000};
    assert_int_equal(sf_connect(f->conn, &ep), -EINPROGRESS);
    unsigned k = f->next;
    fx_out(f, TH_SYN, 0, 0, 0);
    uint8_t pkt[128];
    size_t n = icmp_error(pkt, SF_ICMP_DEST_UNREACH, SF_ICMP_PORT_UNREACH, 0, f->out[k].raw);
    assert_int_equal(sf_engine_input(f->e, pkt, n, f->now), 0);
    assert_int_equal(fx_state(f), SF_CLOSED);
    assert_int_equal(sf_take_error(f->conn), ECONNREFUSED);
    assert_int_equal(fx_last_transition(f)->cause, SF_CAUSE_ICMP_UNREACH);
    fx_free(f);
}

static void echo_is_the_owners(void **unused)
{
    (void)unused;
    struct fx *f = fx_new(plain);
    uint8_t pkt[64];
    memset(pkt, 0, sizeof pkt);
    pkt[0] = 0x45;
    pkt[3] = 20 + 8 + 4;
    pkt[8] = 64;
    pkt[9] = 1;
    const uint8_t from[4] = {192, 0, 2, 1}, me[4] = {192, 168, 0, 1};
    memcpy(pkt + 12, from, 4);
    memcpy(pkt + 16, me, 4);
    uint16_t c = sf_csum_fold(sf_csum_add(0, pkt, 20));
    memcpy(pkt + 10, &c, 2);
    pkt[20] = SF_ICMP_ECHO;
    memcpy(pkt + 28, "ping", 4);
    c = sf_csum_fold(sf_csum_add(0, pkt + 20, 12));
    memcpy(pkt + 22, &c, 2);
    assert_int_equal(sf_engine_input(f->e, pkt, 32, f->now), -EPROTONOSUPPORT);
    assert_int_equal(sf_icmp_echo_reply(pkt, 32), 32);
    struct sf_icmp_tcp m;
    assert_int_equal(sf_icmp_parse(pkt, 32, &m), SF_ICMP_OTHER); /* a valid echo reply */
    assert_int_equal(pkt[20], SF_ICMP_ECHO_REPLY);
    assert_memory_equal(pkt + 12, me, 4);
    assert_memory_equal(pkt + 16, from, 4);
    assert_memory_equal(pkt + 28, "ping", 4);
    assert_int_equal(sf_icmp_echo_reply(pkt, 32), 0); /* a reply is not answered */
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fragmentation_needed_lowers_mss),
        cmocka_unit_test(forged_error_ignored),
        cmocka_unit_test(port_unreachable_refuses_connect),
        cmocka_unit_test(echo_is_the_owners),
    };
    return cmocka_run_group_tests_name("tcp_icmp", tests, NULL, NULL);
}
