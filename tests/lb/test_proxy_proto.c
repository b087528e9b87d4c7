/* The PROXY protocol codec (src/lb/proxy_proto.c): exact bytes written for v1 and v2 in
 * both families, parsed back; every prefix of a good header asks for more; truncated,
 * oversized, bad signature, bad fields refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "lb/proxy_proto.h"

static struct lb_addr A(const char *s) {
    struct lb_addr a;
    const char *why;
    assert_int_equal(lb_addr_parse(&a, s, 1, &why), 0);
    return a;
}

static void
same(const struct lb_addr *a, const char *want)
{
    char b[LB_ADDR_STRLEN];
    assert_string_equal(lb_addr_format(a, b, sizeof b), want);
}

/* Every proper prefix needs more; the whole parses to its length. */
static void prefixes_then_whole(const uint8_t *h, size_t n, struct lb_proxy_hdr *out)
{
    const char *why;
    for (size_t k = 0; k < n; k++)
        assert_int_equal(lb_proxy_parse(h, k, out, &why), LB_PROXY_MORE);
    assert_int_equal(lb_proxy_parse(h, n, out, &why), (int)n);
    assert_int_equal(out->len, n);
}

static void v1_ipv4_exact(void **u)
{
    (void)u;
    uint8_t b[LB_PROXY_HEADER_MAX];
    struct lb_addr s = A("192.0.2.10:51234"), d = A("10.0.0.1:80");
    size_t n = lb_proxy_write(1, &s, &d, b);
    const char *want = "PROXY TCP4 192.0.2.10 10.0.0.1 51234 80\r\n";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(b, want, n);
    struct lb_proxy_hdr h;
    uint8_t more[128];
    memcpy(more, b, n);
    memcpy(more + n, "GET /", 5); /* payload after the header is not the header's */
    prefixes_then_whole(b, n, &h);
    const char *why;
    assert_int_equal(lb_proxy_parse(more, n + 5, &h, &why), (int)n);
    assert_false(h.local);
    same(&h.src, "192.0.2.10:51234");
    same(&h.dst, "10.0.0.1:80");
}

static void v1_ipv6_and_mixed(void **u)
{
    (void)u;
    uint8_t b[LB_PROXY_HEADER_MAX];
    struct lb_addr s = A("[2001:db8::1]:1000"), d = A("[::1]:443");
    size_t n = lb_proxy_write(1, &s, &d, b);
    const char *want = "PROXY TCP6 2001:db8::1 ::1 1000 443\r\n";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(b, want, n);
    struct lb_proxy_hdr h;
    prefixes_then_whole(b, n, &h);
    same(&h.src, "[2001:db8::1]:1000");
    /* an IPv4 client on an IPv6 listener: both written as IPv6 */
    s = A("192.0.2.1:7");
    n = lb_proxy_write(1, &s, &d, b);
    want = "PROXY TCP6 ::ffff:192.0.2.1 ::1 7 443\r\n";
    assert_memory_equal(b, want, strlen(want));
    /* and read back as IPv4: the mapped address is the IPv4 one */
    prefixes_then_whole(b, strlen(want), &h);
    same(&h.src, "192.0.2.1:7");
    same(&h.dst, "[::1]:443");
    /* the longest v1 header is 107 bytes */
    s = A("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
    n = lb_proxy_write(1, &s, &s, b);
    assert_int_equal(n, 104);
    n = lb_proxy_write(1, NULL, NULL, b);
    assert_int_equal(n, 15);
    assert_memory_equal(b, "PROXY UNKNOWN\r\n", 15);
    prefixes_then_whole(b, n, &h);
    assert_true(h.local);
}

static void v2_ipv4_exact(void **u)
{
    (void)u;
    uint8_t b[LB_PROXY_HEADER_MAX];
    struct lb_addr s = A("192.0.2.10:51234"), d = A("10.0.0.1:80");
    size_t n = lb_proxy_write(2, &s, &d, b);
    static const uint8_t want[28] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
                                     0x54, 0x0a, 0x21, 0x11, 0x00, 0x0c, 192,  0,    2,    10,
                                     10,   0,    0,    1,    0xc8, 0x22, 0x00, 0x50};
    assert_int_equal(n, 28);
    assert_memory_equal(b, want, 28);
    struct lb_proxy_hdr h;
    prefixes_then_whole(b, n, &h);
    same(&h.src, "192.0.2.10:51234");
    same(&h.dst, "10.0.0.1:80");
}

static void v2_ipv6_local_and_tlvs(void **u)
{
    (void)u;
    uint8_t b[600];
    struct lb_addr s = A("[2001:db8::1]:1000"), d = A("[2001:db8::2]:443");
    size_t n = lb_proxy_write(2, &s, &d, b);
    assert_int_equal(n, 52);
    assert_int_equal(b[12], 0x21);
    assert_int_equal(b[13], 0x21);
    assert_int_equal(b[15], 36);
    struct lb_proxy_hdr h;
    prefixes_then_whole(b, n, &h);
    same(&h.src, "[2001:db8::1]:1000");
    same(&h.dst, "[2001:db8::2]:443");
    n = lb_proxy_write(2, NULL, NULL, b);
    assert_int_equal(n, 16);
    assert_int_equal(b[12], 0x20);
    assert_int_equal(b[13], 0x00);
    prefixes_then_whole(b, n, &h);
    assert_true(h.local);
    /* TLVs after the addresses (HAProxy's unique id, ...) are skipped, within the bound */
    s = A("192.0.2.10:1"), d = A("10.0.0.1:2");
    n = lb_proxy_write(2, &s, &d, b);
    memset(b + n, 0xab, 100);
    b[15] = 12 + 100;
    prefixes_then_whole(b, n + 100, &h);
    same(&h.src, "192.0.2.10:1");
}

static void refused(void **u)
{
    (void)u;
    struct lb_proxy_hdr h;
    const char *why;
    static const char *const bad_v1[] = {
        "GET / HTTP/1.1\r\n\r\n",
        "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
        "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
        "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
        "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
        "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
        "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
    };
    for (size_t i = 0; i < sizeof bad_v1 / sizeof bad_v1[0]; i++) {
        int rc = lb_proxy_parse((const uint8_t *)bad_v1[i], strlen(bad_v1[i]), &h, &why);
        if (rc != LB_PROXY_BAD)
            fail_msg("accepted (%d): %s", rc, bad_v1[i]);
        assert_true(why[0]);
    }
    /* a NUL or LF before the CR, even in an UNKNOWN line whose rest is ignored: refused, as
     * its prefix is (found by the fuzz harness, corpus/proxy/regress-v1-unknown-nul) */
    static const char unk[] = "PROXY UNKNOWN x\0y\r\n";
    assert_int_equal(lb_proxy_parse((const uint8_t *)unk, 16, &h, &why), LB_PROXY_BAD);
    assert_int_equal(lb_proxy_parse((const uint8_t *)unk, sizeof unk - 1, &h, &why), LB_PROXY_BAD);
    assert_int_equal(lb_proxy_parse((const uint8_t *)"PROXY UNKNOWN \n\r\n", 17, &h, &why),
                     LB_PROXY_BAD);
    /* ... and before the CR's LF has come (corpus/proxy/regress-v1-nul-before-cr) */
    assert_int_equal(lb_proxy_parse((const uint8_t *)"PROXY \0::1\n\r", 13, &h, &why),
                     LB_PROXY_BAD);
    /* oversized: no CRLF within 107 bytes */
    char big[200] = "PROXY TCP6 ";
    memset(big + 11, '1', sizeof big - 11);
    assert_int_equal(lb_proxy_parse((const uint8_t *)big, 106, &h, &why), LB_PROXY_MORE);
    assert_int_equal(lb_proxy_parse((const uint8_t *)big, 107, &h, &why), LB_PROXY_BAD);
    memcpy(big + 106, "\r\n", 2); /* a 108-byte line */
    assert_int_equal(lb_proxy_parse((const uint8_t *)big, 108, &h, &why), LB_PROXY_BAD);

    uint8_t b[LB_PROXY_HEADER_MAX + 600];
    struct lb_addr s = A("192.0.2.10:1"), d = A("10.0.0.1:2");
    size_t n = lb_proxy_write(2, &s, &d, b);
    uint8_t x[sizeof b];
    memcpy(x, b, n);
    x[3] ^= 1; /* bad signature */
    assert_int_equal(lb_proxy_parse(x, n, &h, &why), LB_PROXY_BAD);
    memcpy(x, b, n);
    x[12] = 0x11; /* version 1 in a v2 header */
    assert_int_equal(lb_proxy_parse(x, n, &h, &why), LB_PROXY_BAD);
    memcpy(x, b, n);
    x[12] = 0x22; /* unknown command */
    assert_int_equal(lb_proxy_parse(x, n, &h, &why), LB_PROXY_BAD);
    memcpy(x, b, n);
    x[13] = 0x12; /* UDP */
    assert_int_equal(lb_proxy_parse(x, n, &h, &why), LB_PROXY_BAD);
    memcpy(x, b, n);
    x[13] = 0x31; /* AF_UNIX */
    assert_int_equal(lb_proxy_parse(x, n, &h, &why), LB_PROXY_BAD);
    memcpy(x, b, n);
    x[15] = 8; /* IPv4 with too short a body: truncated addresses */
    assert_int_equal(lb_proxy_parse(x, 24, &h, &why), LB_PROXY_BAD);
    memcpy(x, b, n);
    x[14] = 0x02; /* 16 + 521 bytes announced: over the bound, refused before it arrives */
    x[15] = 0x09;
    assert_int_equal(lb_proxy_parse(x, 16, &h, &why), LB_PROXY_BAD);
    x[15] = 0x08; /* 16 + 520: the largest taken, waits for the rest */
    assert_int_equal(lb_proxy_parse(x, 100, &h, &why), LB_PROXY_MORE);
    memset(x + 28, 0, 520 - 12);
    assert_int_equal(lb_proxy_parse(x, 536, &h, &why), 536);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(v1_ipv4_exact), cmocka_unit_test(v1_ipv6_and_mixed),
        cmocka_unit_test(v2_ipv4_exact), cmocka_unit_test(v2_ipv6_local_and_tlvs),
        cmocka_unit_test(refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
