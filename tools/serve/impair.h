/* Seeded packet impairments on synfin-serve's own wire (--impair): loss, duplication and
 * reordering, both directions. For kernels built without netem (CONFIG_NET_SCH_NETEM), where
 * `tc qdisc ... netem` is not available; netem would also impair one direction only. */
#ifndef SYNFIN_SERVE_IMPAIR_H
#define SYNFIN_SERVE_IMPAIR_H

#include <stddef.h>
#include <stdint.h>

#include "tcp/tcp.h"

enum impair_dir { TO_ENGINE, TO_KERNEL };

typedef void (*impair_deliver_fn)(void *ctx, enum impair_dir dir, const uint8_t *pkt, size_t len);

struct held;

struct impair {
    double loss, dup, reorder; /* probabilities */
    sf_time_t hold_us;         /* how long a reordered packet waits (others overtake it) */
    uint64_t rng;
    struct held *q; /* held packets, in release order */
    uint64_t dropped, duplicated, reordered;
};

/* "loss=2,dup=2,reorder=25,hold=2,seed=1": percents and milliseconds. 0 or -1 (bad spec). */
int impair_parse(struct impair *im, const char *spec);
/* A packet on its way: dropped, duplicated, held back, or delivered now. */
void impair_packet(struct impair *im, enum impair_dir dir, const uint8_t *pkt, size_t len,
                   sf_time_t now, impair_deliver_fn deliver, void *ctx);
/* When the next held packet is due (SF_TIME_NEVER if none), and delivering the due ones. */
sf_time_t impair_next(const struct impair *im);
void impair_release(struct impair *im, sf_time_t now, impair_deliver_fn deliver, void *ctx);
void impair_free(struct impair *im);

#endif
