/* Latency histograms; see histo.h. */
#include "lb/histo.h"
#include "lb/counter.h"

/* Prometheus client libraries' default buckets (5 ms .. 10 s), with 0.1 ms to 1 ms below
 * them: a connect on loopback or a LAN takes well under 5 ms. */
const struct lb_histo_bounds lb_histo_connect = {
    {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5, 10}};
/* From a short HTTP exchange to an hour-long tunnel. */
const struct lb_histo_bounds lb_histo_duration = {
    {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600}};

void lb_histo_add(struct lb_histo *h, const struct lb_histo_bounds *b, uint64_t ns)
{
    double s = (double)ns / 1e9;
    int i = 0;
    while (i < LB_HISTO_BUCKETS && s > b->le_s[i])
        i++;
    LB_COUNT_INC(h->bucket[i]);
    LB_COUNT_ADD(h->sum_ns, ns);
    LB_COUNT_INC(h->count);
}
