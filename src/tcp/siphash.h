/* SipHash (Aumasson & Bernstein): a keyed hash fast on short inputs.
 *
 * SipHash-2-4 keys what must stay unpredictable to an observer: ISNs (RFC 6528), syncookies
 * and timestamp offsets. SipHash-1-3 keys the connection and TIME-WAIT tables, where the
 * only goal is that nobody who does not know the key can choose 4-tuples that land in one
 * bucket; it is the variant Rust's standard hash map uses, at about half the rounds. */
#ifndef SYNFIN_TCP_SIPHASH_H
#define SYNFIN_TCP_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

struct sf_sipkey {
    uint64_t k0, k1;
};

uint64_t sf_siphash(const struct sf_sipkey *key, const void *data, size_t len);   /* 2-4 */
uint64_t sf_siphash13(const struct sf_sipkey *key, const void *data, size_t len); /* 1-3 */

#endif
