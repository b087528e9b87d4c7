/* Latency histograms kept as events happen (Prometheus histograms: fixed upper bounds, a
 * count per bucket, the sum and the count). Nanoseconds in, seconds out (/metrics). */
#ifndef SYNFIN_LB_HISTO_H
#define SYNFIN_LB_HISTO_H

#include <stdint.h>

#define LB_HISTO_BUCKETS 14

/* Upper bounds in seconds, ascending; +Inf is implicit. */
struct lb_histo_bounds {
    double le_s[LB_HISTO_BUCKETS];
};

/* A connect: from sending the SYN to the server's answer (loopback 0.1 ms, a LAN 1 ms, a
 * connect timeout seconds). */
extern const struct lb_histo_bounds lb_histo_connect;
/* A session: from accept to its end (an HTTP request, a long-lived tunnel). */
extern const struct lb_histo_bounds lb_histo_duration;

struct lb_histo {
    uint64_t bucket[LB_HISTO_BUCKETS + 1]; /* not cumulative; the last is beyond every bound */
    uint64_t sum_ns, count;
};

void lb_histo_add(struct lb_histo *h, const struct lb_histo_bounds *b, uint64_t ns);

#endif
