#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "net/checksum.h"

/* RFC 1071 §3 worked example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2, checksum 220d. */
static void rfc1071_example(void **state)
{
    (void)state;
    const uint8_t d[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    assert_int_equal(ntohs(sf_csum_fold(sf_csum_add(0, d, sizeof d))), 0x220d);
}

/* A header carrying its own checksum sums to zero: the receiver's check. */
static void verifies_to_zero(void **state)
{
    (void)state;
    uint8_t ip[20] = {0x45, 0, 0,    0x3c, 0x1c, 0x46, 0x40, 0,    0x40, 0x06,
                      0,    0, 0xac, 0x10, 0x0a, 0x63, 0xac, 0x10, 0x0a, 0x0c};
    uint16_t c = sf_csum_fold(sf_csum_add(0, ip, sizeof ip));
    memcpy(ip + 10, &c, 2);
    assert_int_equal(ntohs(c), 0xb1e6);
    assert_int_equal(sf_csum_fold(sf_csum_add(0, ip, sizeof ip)), 0);
}

/* Odd lengths pad with a zero byte; summing in pieces equals summing at once. */
static void odd_length_and_pieces(void **state)
{
    (void)state;
    uint8_t buf[1001];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    uint32_t whole = sf_csum_add(0, buf, sizeof buf);
    uint32_t parts = sf_csum_add(sf_csum_add(0, buf, 500), buf + 500, 501);
    assert_int_equal(sf_csum_fold(whole), sf_csum_fold(parts));
    uint8_t one[1] = {0xab};
    assert_int_equal(ntohs(sf_csum_fold(sf_csum_add(0, one, 1))), (uint16_t)~0xab00);
}

/* The wide accumulation equals the textbook RFC 1071 loop over 16-bit big-endian words, for
 * every length, alignment and starting sum. */
static uint16_t reference(uint32_t start, const uint8_t *p, size_t len)
{
    uint64_t s = start;
    for (size_t i = 0; i + 1 < len; i += 2)
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        s += (uint32_t)p[len - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static void matches_reference(void **state)
{
    (void)state;
    static uint8_t buf[3000];
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0; i < sizeof buf; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
    memset(buf + 100, 0xff, 200); /* long runs of carries */
    for (size_t off = 0; off < 9; off++)
        for (size_t len = 0; len < 1600; len += (len < 80 ? 1 : 37)) {
            uint16_t got = ntohs(sf_csum_fold(sf_csum_add(0, buf + off, len)));
            assert_int_equal(got, reference(0, buf + off, len));
        }
}

int main(void)

{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc1071_example),
        cmocka_unit_test(verifies_to_zero),
        cmocka_unit_test(odd_length_and_pieces),
        cmocka_unit_test(matches_reference),

    };
    return cmocka_run_group_tests_name("net_checksum", tests, NULL, NULL);
}
