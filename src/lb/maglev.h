/* Maglev consistent hashing (Eisenbud et al., NSDI 2016, section 3.4).
 *
 * A lookup table of prime size M maps a hash to a server. Each server walks its own
 * permutation of the slots (offset and skip derived from its name) and takes turns claiming
 * free slots, in proportion to its weight. Instances built from the same names and weights
 * get the same table, and removing one server moves few slots that belonged to others. */
#ifndef SYNFIN_LB_MAGLEV_H
#define SYNFIN_LB_MAGLEV_H

#include <stddef.h>
#include <stdint.h>

/* Fills table[0..m) with indices into names/weights; m must be prime and > 0.
 * With n == 0 every slot is UINT32_MAX. Returns 0, or -ENOMEM. */
int lb_maglev_populate(uint32_t *table, uint32_t m, const char *const *names,
                       const uint32_t *weights, size_t n);

/* The table that backend's servers (all up, at their configured weights) make, as a SHA-256
 * over its slots written as server names one per line: nodes that print the same digest
 * send every client to the same server (`synfin -c FILE --maglev-table`). counts[i] gets the
 * slots server i holds. Returns 0, or -ENOMEM. */
int lb_maglev_digest(uint32_t m, const char *const *names, const uint32_t *weights, size_t n,
                     uint32_t *counts, char hex[65]);

#endif
