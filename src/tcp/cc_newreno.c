/* Congestion control: NewReno (RFC 5681 slow start and congestion avoidance, RFC 6582 fast
 * recovery). Window sizes are in bytes. */
#include "tcp/internal.h"
#include "tcp/seq.h"

#define CWND_MAX (1u << 30)

static uint32_t loss_ssthresh(const struct sf_conn *c)
{
    /* RFC 5681 eq. 4: ssthresh = max(FlightSize / 2, 2*SMSS) */
    uint32_t half = snd_flight(c) / 2;
    uint32_t floor = 2u * c->snd.mss;
    return half > floor ? half : floor;
}

void cc_init(struct sf_conn *c)
{
    /* RFC 6928 (Linux's default of 10 segments), configurable through initcwnd. */
    c->snd.cwnd = ccfg(c)->initcwnd * c->snd.mss;
    c->snd.ssthresh = CWND_MAX; /* "arbitrarily high" (RFC 5681 §3.1) */
    c->snd.dupacks = 0;
    c->snd.in_recovery = 0;
    c->snd.recover = c->snd.iss;
}

/* RFC 6582 §3.2: retransmit the first unacknowledged segment. retransmit_head sends up to
 * one MSS from SND.UNA, which runs past SND.MAX when only a short segment was in flight and
 * more data waits behind it. SND.MAX must cover every byte sent: the peer acknowledges those
 * bytes, and an ACK beyond SND.MAX reads as one for data never sent ("send an ACK, drop the
 * segment"), so both ends traded ACKs until retries2 (found by the seed sweep). */
static void retransmit_first(struct sf_conn *c)
{
    retransmit_head(c);
    c->snd.max = seq_max(c->snd.max, c->snd.nxt);
}

/* New data acknowledged: SND.UNA moved to ack, acked bytes (already applied). */
void cc_on_ack(struct sf_conn *c, uint32_t ack, uint32_t acked)
{
    struct sf_snd *s = &c->snd;
    if (s->in_recovery) {
        if (seq_ge(ack, s->recover)) {
            /* Full acknowledgment (RFC 6582 §3.2 step 3): deflate the window. */
            uint32_t flight = snd_flight(c);
            uint32_t w = (flight > s->mss ? flight : s->mss) + s->mss;
            s->cwnd = w < s->ssthresh ? w : s->ssthresh;
            s->in_recovery = 0;
            s->dupacks = 0;
        } else {
            /* Partial acknowledgment (step 4): retransmit the first unacknowledged segment,
             * deflate by the amount acked, add back one SMSS if at least that much was
             * acked, and stay in recovery. */
            retransmit_first(c);
            s->cwnd = s->cwnd > acked ? s->cwnd - acked : s->mss;
            if (acked >= s->mss)
                s->cwnd += s->mss;
        }
        return;
    }
    s->dupacks = 0;
    if (s->cwnd < s->ssthresh) {
        /* Slow start (RFC 5681 eq. 2): grow by what was acked, at most one SMSS per ACK. */
        s->cwnd += acked < s->mss ? acked : s->mss;
    } else {
        /* Congestion avoidance (eq. 3): about one SMSS per round trip. */
        uint32_t inc = (uint32_t)((uint64_t)s->mss * s->mss / s->cwnd);
        s->cwnd += inc ? inc : 1;
    }
    if (s->cwnd > CWND_MAX)
        s->cwnd = CWND_MAX;
}

/* A duplicate ACK (RFC 5681 §2 definition, checked by the caller). */
void cc_on_dupack(struct sf_conn *c)
{
    struct sf_snd *s = &c->snd;
    if (s->in_recovery) {
        s->cwnd += s->mss; /* inflate: each dupack means a segment has left the network */
        return;
    }
    if (++s->dupacks != 3)
        return;
    /* RFC 6582 §3.2 step 1: enter fast retransmit only if the cumulative ACK covers more
     * than recover, so that dupacks from before an earlier recovery or timeout don't start
     * another one. */
    if (!seq_gt(s->una, s->recover))
        return;
    s->ssthresh = loss_ssthresh(c);
    s->recover = s->max;
    s->in_recovery = 1;
    s->fast_retransmits++;
    retransmit_first(c);
    s->cwnd = s->ssthresh + 3u * s->mss;
}

void cc_on_rto(struct sf_conn *c)
{
    struct sf_snd *s = &c->snd;
    s->ssthresh = loss_ssthresh(c);
    s->cwnd = s->mss; /* the loss window (RFC 5681 §3.1) */
    s->in_recovery = 0;
    s->dupacks = 0;
    s->recover = s->max; /* RFC 6582 §3.2 step 1 after a timeout */
}

/* Restart window after idle (RFC 5681 §4.1): a connection idle for more than an RTO must not
 * release a full old window at once. */
void cc_after_idle(struct sf_conn *c)
{
    struct sf_snd *s = &c->snd;
    uint32_t iw = ccfg(c)->initcwnd * s->mss;
    if (s->cwnd > iw)
        s->cwnd = iw;
}
