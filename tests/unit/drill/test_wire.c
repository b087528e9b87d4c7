#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "format.h"
#include "parse.h"
#include "wire.h"

static const struct dr_ip4 ip = {.src = {192, 0, 2, 1}, .dst = {192, 168, 0, 1}};

/* The packet of the first event of a one-line script. */
static struct dr_packet packet_of(const char *line)
{
    char src[512];
    snprintf(src, sizeof src, "0 %s\n", line);
    struct dr_error err;
    struct dr_script *s = dr_parse("t", src, strlen(src), &err);
    if (!s)
        print_error("%d:%d: %s\n", err.pos.line, err.pos.col, err.msg);
    assert_non_null(s);
    struct dr_packet p = s->events[0].pkt;
    dr_script_free(s);
    return p;
}

static const char *text(const struct dr_packet *p)
{
    static char buf[512];
    struct dr_text t;
    dr_text_init(&t, buf, sizeof buf);
    dr_format_packet(&t, p);
    return buf;
}

/* Built, then read back: the same packet, with ports and window, and valid checksums. */
static void round_trip(void **state)
{
    (void)state;
    static const char *lines[] = {
        "< 40000>8080 S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>",
        "< 1>2 P. 4294967000:204(500) ack 77 win 514 <nop,nop,TS val 1 ecr 2>",
        "< 9>9 . 1:1(0) ack 1 win 1 <nop,nop,sack 1:2 3:4 5:6>",
        "< 9>9 F. 1:1(0) ack 1 win 0",
        "< 9>9 R 5:5(0) win 0",
        "< 9>9 FSRP.UEW 1:2(1) ack 3 win 4 urg 5", /* as printed */
        "< (tos 0x12, ttl 3) 9>9 . 1:1(0) ack 1 win 1",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        struct dr_packet want = packet_of(lines[i]);
        uint8_t buf[2048];
        struct dr_ip4 bip = ip;
        bip.tos = want.tos;
        bip.ttl = want.ttl;
        size_t n = dr_wire_build(buf, sizeof buf, &bip, 7, &want);
        assert_true(n >= 40);
        struct dr_packet got;
        struct dr_ip4 gip;
        char err[128];
        assert_int_equal(dr_wire_parse(buf, n, &gip, &got, err, sizeof err), 0);
        assert_memory_equal(&gip, &ip, sizeof ip);
        got.dir = '<';
        got.has_ports = 1;
        got.has_ack = want.has_ack;
        assert_int_equal(got.tos_check, DR_TOS_BYTE);
        assert_int_equal(got.ttl, want.ttl ? want.ttl : 64);
        got.tos_check = want.tos_check;
        got.ttl = want.ttl;
        assert_string_equal(text(&got), lines[i]);
        assert_int_equal(n, 40 + (n - 40 - got.len) + got.len);
    }
}

/* Options are padded to a multiple of four with EOL, which the reader shows. */
static void pads_options(void **state)
{
    (void)state;
    struct dr_packet p = packet_of("< 1>2 S 0:0(0) win 10 <wscale 7>");
    uint8_t buf[128];
    size_t n = dr_wire_build(buf, sizeof buf, &ip, 1, &p);
    assert_int_equal(n, 44);
    assert_int_equal(buf[32] >> 4, 6); /* data offset: 24 bytes */
    struct dr_packet got;
    struct dr_ip4 gip;
    char err[128];
    assert_int_equal(dr_wire_parse(buf, n, &gip, &got, err, sizeof err), 0);
    assert_int_equal(got.nopts, 2);
    assert_int_equal(got.opts[0].kind, DR_OPT_WSCALE);
    assert_int_equal(got.opts[1].kind, DR_OPT_EOL);
    /* 41 bytes of options do not fit */
    p = packet_of("< 1>2 S 0:0(0) win 10 <sack 1:2 3:4 5:6 7:8,nop,nop,nop,nop,nop,nop,nop>");
    assert_int_equal(dr_wire_build(buf, sizeof buf, &ip, 1, &p), 0);
}

/* What the reader refuses: bad checksums, truncation, malformed options, not TCP. */
static void rejects_bad_packets(void **state)
{
    (void)state;
    struct dr_packet p = packet_of("< 1>2 P. 1:11(10) ack 1 win 10 <nop,nop,TS val 1 ecr 2>");
    uint8_t buf[128], bad[128];
    size_t n = dr_wire_build(buf, sizeof buf, &ip, 1, &p);
    struct dr_packet got;
    struct dr_ip4 gip;
    char err[128];
    memcpy(bad, buf, n);
    bad[n - 1] ^= 1;
    assert_int_equal(dr_wire_parse(bad, n, &gip, &got, err, sizeof err), -1);
    assert_string_equal(err, "bad TCP checksum");
    memcpy(bad, buf, n);
    bad[8] ^= 1; /* TTL */
    assert_int_equal(dr_wire_parse(bad, n, &gip, &got, err, sizeof err), -1);
    assert_string_equal(err, "bad IPv4 header checksum");
    assert_int_equal(dr_wire_parse(buf, n - 1, &gip, &got, err, sizeof err), -1);
    assert_non_null(strstr(err, "malformed IPv4 header"));
    assert_int_equal(dr_wire_parse(buf, 19, &gip, &got, err, sizeof err), -1);
    assert_string_equal(err, "not an IPv4 packet");
    memcpy(bad, buf, n);
    bad[9] = 17;
    bad[10] = bad[11] = 0;
    assert_int_equal(dr_wire_parse(bad, n, &gip, &got, err, sizeof err), -1);
    assert_string_equal(err, "bad IPv4 header checksum");
    /* an option of length 0 */
    p = packet_of("< 1>2 . 1:1(0) ack 1 win 10 <nop,nop,TS val 1 ecr 2>");
    n = dr_wire_build(buf, sizeof buf, &ip, 1, &p);
    buf[42] = 8;
    buf[43] = 0;
    /* the TCP checksum, recomputed so that only the option is wrong */
    uint32_t sum = 0;
    buf[36] = buf[37] = 0;
    const uint8_t ph[12] = {192, 0, 2, 1, 192, 168, 0, 1, 0, 6, 0, (uint8_t)(n - 20)};
    for (size_t i = 0; i < 12; i += 2)
        sum += (uint32_t)ph[i] << 8 | ph[i + 1];
    for (size_t i = 20; i < n; i += 2)
        sum += (uint32_t)buf[i] << 8 | buf[i + 1];
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    buf[36] = (uint8_t)(~sum >> 8);
    buf[37] = (uint8_t)~sum;
    assert_int_equal(dr_wire_parse(buf, n, &gip, &got, err, sizeof err), -1);
    assert_non_null(strstr(err, "malformed TCP option (kind 8)"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(pads_options),
        cmocka_unit_test(rejects_bad_packets),
    };
    return cmocka_run_group_tests_name("drill_wire", tests, NULL, NULL);
}
