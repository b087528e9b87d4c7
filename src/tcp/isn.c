/* Initial sequence numbers (RFC 6528) and per-connection timestamp offsets (RFC 7323 §5.4). */
#include "tcp/internal.h"

/* ISN = M + F(localip, localport, remoteip, remoteport, secretkey), where M is a timer that
 * ticks every 4 microseconds and F a keyed hash (RFC 6528 §3). An observer cannot predict
 * another connection's ISN, while one 4-tuple's successive ISNs still move forward with time,
 * which keeps old duplicates of an earlier incarnation out of a new one's window. */
uint32_t isn_generate(struct sf_engine *e, const struct sf_tuple *t)
{
    uint32_t m = (uint32_t)(e->now / 4);
    uint8_t k[40];
    return m + (uint32_t)sf_siphash(&e->key_isn, k, tuple_key(t, k));
}

/* A random-looking offset per 4-tuple for our timestamp clock, so TSval does not reveal the
 * host's uptime, yet is the same for every incarnation of the tuple: a reopened TIME-WAIT
 * connection keeps monotonic timestamps (RFC 6191). */
uint32_t ts_offset_for(struct sf_engine *e, const struct sf_tuple *t)
{
    uint8_t k[40];
    return (uint32_t)sf_siphash(&e->key_ts, k, tuple_key(t, k));
}
