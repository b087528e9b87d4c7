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
#include "net/icmp6.h"
#include "tcp/segment.h"

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

/* ---- ICMPv6 (RFC 4443) over an IPv6 connection ------------------------------------------- */

struct v6cap {
    uint8_t last[2048];
    size_t len;
    unsigned n;
};

static void v6_out(void *ctx, const void *pkt, size_t len)
{
    struct v6cap *c = ctx;
    c->len = len < sizeof c->last ? len : sizeof c->last;
    memcpy(c->last, pkt, c->len);
    c->n++;
}

/* An ICMPv6 error from a router quoting the engine's last packet (its IPv6 header and the
 * first 8 bytes of TCP), checksummed with the pseudo-header. */
static size_t icmp6_error(uint8_t *out, uint8_t type, uint8_t code, uint32_t mtu,
                          const uint8_t *quoted, const struct sf_addr *me)
{
    size_t qlen = 40 + 8, plen = 8 + qlen;
    memset(out, 0, 40 + plen);
    out[0] = 0x60;
    out[4] = (uint8_t)(plen >> 8);
    out[5] = (uint8_t)plen;
    out[6] = 58;
    out[7] = 64;
    struct sf_addr router;
    sf_addr_parse("2001:db8::fe", &router);
    memcpy(out + 8, router.u.v6, 16);
    memcpy(out + 24, me->u.v6, 16);
    uint8_t *icmp = out + 40;
    icmp[0] = type;
    icmp[1] = code;
    icmp[4] = (uint8_t)(mtu >> 24);
    icmp[5] = (uint8_t)(mtu >> 16);
    icmp[6] = (uint8_t)(mtu >> 8);
    icmp[7] = (uint8_t)mtu;
    memcpy(icmp + 8, quoted, qlen);
    uint8_t ph[40] = {0};
    memcpy(ph, out + 8, 32);
    ph[34] = (uint8_t)(plen >> 8);
    ph[35] = (uint8_t)plen;
    ph[39] = 58;
    uint16_t c = sf_csum_fold(sf_csum_add(sf_csum_add(0, ph, 40), icmp, plen));
    memcpy(icmp + 2, &c, 2);
    return 40 + plen;
}

/* connect() to 2001:db8::1: a port unreachable quoting the SYN refuses it; on a second
 * connection, once established, a Packet Too Big of 1280 brings the segments down to
 * 1280 - 60 = 1220 bytes and resends what was in flight; a corrupted one is not believed. */
static void icmpv6_unreachable_and_packet_too_big(void **unused)
{
    (void)unused;
    struct v6cap cap = {0};
    struct sf_tcp_config cfg;
    sf_tcp_config_defaults(&cfg);
    plain(&cfg);
    struct sf_engine_params p;
    memset(&p, 0, sizeof p);
    p.config = &cfg;
    p.ops.output = v6_out;
    p.ctx = &cap;
    p.local_addr = sf_addr_v4(192, 168, 0, 1);
    sf_addr_parse("fd3d:fa7b:d17d::1", &p.local_addr6);
    struct sf_engine *e = sf_engine_new(&p);
    assert_non_null(e);
    struct sf_endpoint peer = {.port = 80};
    sf_addr_parse("2001:db8::1", &peer.addr);

    struct sf_conn *c = sf_socket(e);
    assert_int_equal(sf_connect(c, &peer), -EINPROGRESS);
    assert_int_equal(cap.n, 1);
    assert_int_equal(cap.last[0] >> 4, 6);
    uint8_t err[256];
    size_t n =
        icmp6_error(err, SF_ICMP6_DEST_UNREACH, SF_ICMP6_PORT_UNREACH, 0, cap.last, &p.local_addr6);
    struct sf_icmp6_tcp m;
    assert_int_equal(sf_icmp6_parse(err, n, &m), SF_ICMP_TCP_ERROR);
    assert_int_equal(m.dport, 80);
    assert_int_equal(sf_engine_input(e, err, n, 0), 0);
    assert_int_equal(sf_conn_state(c), SF_CLOSED);
    assert_int_equal(sf_take_error(c), ECONNREFUSED);
    sf_close(c);

    c = sf_socket(e);
    assert_int_equal(sf_connect(c, &peer), -EINPROGRESS);
    struct sf_seg syn;
    assert_int_equal(sf_seg_parse(cap.last, cap.len, &syn), SEG_OK);
    assert_int_equal(syn.opt.mss, 1440); /* 1460 less IPv6's 20 more header bytes */
    struct sf_seg_out o;
    memset(&o, 0, sizeof o);
    o.t = syn.t; /* parsed as the peer receives it: laddr is the peer's */
    o.seq = 5000;
    o.ack = syn.seq + 1;
    o.flags = TH_SYN | TH_ACK;
    o.wnd = 65535;
    o.opt.has = OPT_MSS;
    o.opt.mss = 1440;
    uint8_t in[256];
    size_t len = sf_seg_build(in, sizeof in, &o, NULL, 0, NULL, 0);
    assert_int_equal(sf_engine_input(e, in, len, 0), 0);
    assert_int_equal(sf_conn_state(c), SF_ESTABLISHED);
    assert_int_equal(sf_send(c, blob, 3000), 3000);
    struct sf_seg seg;
    assert_int_equal(sf_seg_parse(cap.last, cap.len, &seg), SEG_OK);
    assert_int_equal(seg.len, 3000 - 2 * 1440); /* the last of three */
    unsigned before = cap.n;
    n = icmp6_error(err, SF_ICMP6_PACKET_TOO_BIG, 0, 1280, cap.last, &p.local_addr6);
    err[n - 1] ^= 1; /* corrupted: dropped before anything is believed */
    assert_int_equal(sf_engine_input(e, err, n, 0), -EINVAL);
    assert_int_equal(cap.n, before);
    err[n - 1] ^= 1;
    assert_int_equal(sf_engine_input(e, err, n, 0), 0);
    assert_true(cap.n > before);
    struct sf_conn_info info;
    sf_info(c, &info);
    assert_int_equal(info.snd_mss, 1220);
    sf_engine_free(e);
}

/* An ICMPv6 echo request to the engine is the owner's (the host glue answers it): the reply
 * has the addresses swapped, type 129, the request's identifier, sequence and data, and a
 * checksum over the IPv6 pseudo-header that verifies; a reply is not answered again. */
static void icmpv6_echo_reply(void **unused)
{
    (void)unused;
    uint8_t pkt[40 + 12];
    memset(pkt, 0, sizeof pkt);
    pkt[0] = 0x60;
    pkt[5] = 12; /* payload length */
    pkt[6] = 58; /* ICMPv6 */
    pkt[7] = 1;  /* hop limit */
    struct sf_addr a, b;
    sf_addr_parse("fd00:77::1", &a);
    sf_addr_parse("fd00:77::2", &b);
    memcpy(pkt + 8, a.u.v6, 16);
    memcpy(pkt + 24, b.u.v6, 16);
    uint8_t *icmp = pkt + 40;
    icmp[0] = SF_ICMP6_ECHO_REQUEST;
    icmp[4] = 0x12, icmp[5] = 0x34, icmp[7] = 7; /* identifier 0x1234, sequence 7 */
    memcpy(icmp + 8, "ping", 4);
    uint8_t ph[40] = {0};
    memcpy(ph, pkt + 8, 32);
    ph[35] = 12;
    ph[39] = 58;
    uint16_t c = sf_csum_fold(sf_csum_add(sf_csum_add(0, ph, 40), icmp, 12));
    memcpy(icmp + 2, &c, 2);
    struct sf_icmp6_tcp m;
    assert_int_equal(sf_icmp6_parse(pkt, sizeof pkt, &m), SF_ICMP_IS_ECHO);

    struct sf_tcp_config cfg;
    sf_tcp_config_defaults(&cfg);
    struct sf_engine_params p;
    memset(&p, 0, sizeof p);
    p.config = &cfg;
    p.ops.output = v6_out;
    struct v6cap cap = {0};
    p.ctx = &cap;
    p.local_addr6 = b;
    struct sf_engine *e = sf_engine_new(&p);
    assert_non_null(e);
    assert_int_equal(sf_engine_input(e, pkt, sizeof pkt, 0), -EPROTONOSUPPORT);
    assert_int_equal(cap.n, 0);
    sf_engine_free(e);

    assert_int_equal(sf_icmp6_echo_reply(pkt, sizeof pkt), sizeof pkt);
    assert_memory_equal(pkt + 8, b.u.v6, 16);
    assert_memory_equal(pkt + 24, a.u.v6, 16);
    assert_int_equal(pkt[7], 64);
    assert_int_equal(icmp[0], SF_ICMP6_ECHO_REPLY);
    assert_int_equal(icmp[4] << 8 | icmp[5], 0x1234);
    assert_int_equal(icmp[7], 7);
    assert_memory_equal(icmp + 8, "ping", 4);
    assert_int_equal(sf_icmp6_parse(pkt, sizeof pkt, &m), SF_ICMP_OTHER); /* valid: a reply */
    assert_int_equal(sf_icmp6_echo_reply(pkt, sizeof pkt), 0);
    icmp[9] ^= 1; /* a corrupted request is not answered either */
    icmp[0] = SF_ICMP6_ECHO_REQUEST;
    assert_int_equal(sf_icmp6_echo_reply(pkt, sizeof pkt), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fragmentation_needed_lowers_mss),
        cmocka_unit_test(forged_error_ignored),
        cmocka_unit_test(port_unreachable_refuses_connect),
        cmocka_unit_test(echo_is_the_owners),
        cmocka_unit_test(icmpv6_unreachable_and_packet_too_big),
        cmocka_unit_test(icmpv6_echo_reply),
    };
    return cmocka_run_group_tests_name("tcp_icmp", tests, NULL, NULL);
}
