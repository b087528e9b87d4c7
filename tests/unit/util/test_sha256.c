/* SHA-256 against the FIPS 180-4 examples, and split updates equal one update. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "util/sha256.h"

static void hex_of(const void *data, size_t len, char out[65])
{
    struct sf_sha256 s;
    uint8_t d[32];
    sf_sha256_init(&s);
    sf_sha256_update(&s, data, len);
    sf_sha256_final(&s, d);
    sf_sha256_hex(d, out);
}

static void known_answers(void **state)
{
    (void)state;
    char h[65];
    hex_of("", 0, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of(two, strlen(two), h);
    assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void million_a_in_pieces(void **state)
{
    (void)state;
    static char a[1000000];
    memset(a, 'a', sizeof a);
    struct sf_sha256 s;
    uint8_t d[32];
    char h[65];
    sf_sha256_init(&s);
    for (size_t off = 0, step = 1; off < sizeof a; off += step, step = step * 3 % 997 + 1)
        sf_sha256_update(&s, a + off, off + step > sizeof a ? sizeof a - off : step);
    sf_sha256_final(&s, d);
    sf_sha256_hex(d, h);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_answers),
        cmocka_unit_test(million_a_in_pieces),
    };
    return cmocka_run_group_tests_name("util_sha256", tests, NULL, NULL);
}
