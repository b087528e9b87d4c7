/* Seeded packet impairments on the host glue's own wire (synfin-serve --impair, the stack
 * transport's `impair`): loss, duplication and reordering, both directions. For kernels built
 * without netem (CONFIG_NET_SCH_NETEM), where `tc qdisc ... netem` is not available; netem would
 * also impair one direction only. */
#ifndef SYNFIN_IO_IMPAIR_H
#define SYNFIN_IO_IMPAIR_H

#include <stddef.h>
#include <stdint.h>

#include "tcp/tcp.h"

enum sf_impair_dir { SF_TO_ENGINE, SF_TO_KERNEL };

typedef void (*sf_impair_deliver_fn)(void *ctx, enum sf_impair_dir dir, const uint8_t *pkt,
                                     size_t len);

struct sf_impair_held;

struct sf_impair {
    double loss, dup, reorder; /* probabilities */
    sf_time_t hold_us;         /* how long a reordered packet waits (others overtake it) */
    uint64_t rng;
    struct sf_impair_held *q; /* held packets, in release order */
    uint64_t dropped, duplicated, reordered;
};

/* "loss=2,dup=2,reorder=25,hold=2,seed=1": percents and milliseconds. 0 or -1 (bad spec). */
int sf_impair_parse(struct sf_impair *im, const char *spec);
/* A packet on its way: dropped, duplicated, held back, or delivered now. */
void sf_impair_packet(struct sf_impair *im, enum sf_impair_dir dir, const uint8_t *pkt, size_t len,
                      sf_time_t now, sf_impair_deliver_fn deliver, void *ctx);
/* When the next held packet is due (SF_TIME_NEVER if none), and delivering the due ones. */
sf_time_t sf_impair_next(const struct sf_impair *im);
void sf_impair_release(struct sf_impair *im, sf_time_t now, sf_impair_deliver_fn deliver,
                       void *ctx);
void sf_impair_free(struct sf_impair *im);

#endif
