/* SipHash known answers (the reference implementation's vectors: key 00..0f, message 00..n-1)
 * and the properties the tables rely on. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tcp/siphash.h"

static struct sf_sipkey ref_key(void)
{
    struct sf_sipkey k = {0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
    return k;
}

static void siphash24_vectors(void **state)
{
    (void)state;
    struct sf_sipkey k = ref_key();
    uint8_t m[64];
    for (int i = 0; i < 64; i++)
        m[i] = (uint8_t)i;
    assert_true(sf_siphash(&k, m, 0) == 0x726fdb47dd0e0e31ULL);
    assert_true(sf_siphash(&k, m, 1) == 0x74f839c593dc67fdULL);
    assert_true(sf_siphash(&k, m, 8) == 0x93f5f5799a932462ULL);
    assert_true(sf_siphash(&k, m, 15) == 0xa129ca6149be45e5ULL);
    assert_true(sf_siphash(&k, m, 63) == 0x958a324ceb064572ULL);
}

static void siphash13_keyed_and_distinct(void **state)
{
    (void)state;
    struct sf_sipkey k = ref_key(), k2 = {1, 2};
    uint8_t m[12] = {10, 0, 0, 1, 10, 0, 0, 2, 0x1f, 0x90, 0x9c, 0x40};
    uint64_t a = sf_siphash13(&k, m, sizeof m);
    assert_true(a == sf_siphash13(&k, m, sizeof m));  /* deterministic */
    assert_true(a != sf_siphash13(&k2, m, sizeof m)); /* keyed */
    assert_true(a != sf_siphash(&k, m, sizeof m));    /* a different function from 2-4 */
    m[11] ^= 1;
    assert_true(a != sf_siphash13(&k, m, sizeof m));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(siphash24_vectors),
        cmocka_unit_test(siphash13_keyed_and_distinct),
    };
    return cmocka_run_group_tests_name("tcp_siphash", tests, NULL, NULL);
}
