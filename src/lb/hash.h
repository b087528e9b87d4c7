/* A fixed, seedless 64-bit hash: several synfin instances must agree on every value
 * (source hashing and Maglev pick the same server everywhere). FNV-1a over the bytes, then
 * the MurmurHash3 finaliser to spread FNV's weak low bits. */
#ifndef SYNFIN_LB_HASH_H
#define SYNFIN_LB_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t lb_hash_bytes(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

#endif
