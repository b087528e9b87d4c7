/* The eleven TCP states of RFC 9293 in lifecycle order, and how Linux's states map onto them. */
#ifndef SYNFIN_STAT_TCPSTATES_H
#define SYNFIN_STAT_TCPSTATES_H

#include <stddef.h>
#include <stdint.h>

enum st_state {
    ST_CLOSED,
    ST_LISTEN,
    ST_SYN_SENT,
    ST_SYN_RECEIVED,
    ST_ESTABLISHED,
    ST_FIN_WAIT_1,
    ST_FIN_WAIT_2,
    ST_CLOSE_WAIT,
    ST_CLOSING,
    ST_LAST_ACK,
    ST_TIME_WAIT,
    ST_NSTATES
};

/* A count per state. */
struct st_hist {
    uint64_t n[ST_NSTATES];
};

/* "TIME_WAIT" and so on; "?" out of range. */
const char *st_state_name(int state);

/* The state named by the len bytes at name (exact, upper case), or -1. */
int st_state_from_name(const char *name, size_t len);

/* The state for a Linux state number (enum sf_kstate), or -1 for one it does not know. */
int st_state_from_kernel(int kstate);

uint64_t st_hist_total(const struct st_hist *h);

#endif
