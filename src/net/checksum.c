#include "net/checksum.h"

#include <string.h>

uint32_t sf_csum_add(uint32_t sum, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t acc;

#ifdef __SIZEOF_INT128__
    /* Eight bytes per addition into a 128-bit accumulator: the carries pile up in the high
     * half and are folded back once at the end. The one's-complement sum does not depend on
     * byte order (RFC 1071 §2(B)), so native 64-bit words serve. */
    unsigned __int128 wide = sum;
    while (len >= 32) {
        uint64_t w[4];
        memcpy(w, p, 32);
        wide += w[0];
        wide += w[1];
        wide += w[2];
        wide += w[3];
        p += 32;
        len -= 32;
    }
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        wide += w;
        p += 8;
        len -= 8;
    }
    uint64_t lo = (uint64_t)wide, hi = (uint64_t)(wide >> 64);
    acc = lo + hi;
    if (acc < lo)
        acc++; /* end-around carry */
    acc = (acc & 0xffffffffu) + (acc >> 32);
#else
    acc = sum;
#endif
    /* Sum 32 bits at a time into a 64-bit accumulator: carries are folded once at the end. */
    while (len >= 4) {
        uint32_t w;
        memcpy(&w, p, 4);
        acc += w;
        p += 4;
        len -= 4;
    }
    if (len >= 2) {
        uint16_t h;
        memcpy(&h, p, 2);
        acc += h;
        p += 2;
        len -= 2;
    }
    if (len) {
        uint16_t h = 0;
        memcpy(&h, p, 1); /* pad the odd byte with zero, in network order */
        acc += h;
    }
    while (acc >> 32)
        acc = (acc & 0xffffffffu) + (acc >> 32);
    return (uint32_t)acc;
}

uint16_t sf_csum_fold(uint32_t sum)
{
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}
