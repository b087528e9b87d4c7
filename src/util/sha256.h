/* SHA-256 (FIPS 180-4), for checking that bytes crossed a network intact. */
#ifndef SYNFIN_UTIL_SHA256_H
#define SYNFIN_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sf_sha256 {
    uint32_t h[8];
    uint64_t bytes;
    uint8_t block[64];
    size_t fill;
};

void sf_sha256_init(struct sf_sha256 *s);
void sf_sha256_update(struct sf_sha256 *s, const void *data, size_t len);
void sf_sha256_final(struct sf_sha256 *s, uint8_t digest[32]);
/* The digest as 64 lowercase hex digits and a NUL. */
void sf_sha256_hex(const uint8_t digest[32], char out[65]);

#endif
