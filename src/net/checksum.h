/* Internet checksum (RFC 1071), with incremental helpers for pseudo-headers. */
#ifndef SYNFIN_NET_CHECKSUM_H
#define SYNFIN_NET_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* Adds data to a running 32-bit one's-complement accumulator. An odd-length chunk may only
 * be the last one: callers sum headers (even lengths) first and the payload last. */
uint32_t sf_csum_add(uint32_t sum, const void *data, size_t len);

/* Folds the accumulator to 16 bits and complements it: the value to put in the header. */
uint16_t sf_csum_fold(uint32_t sum);

#endif
