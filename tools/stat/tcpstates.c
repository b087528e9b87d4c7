#include "tcpstates.h"

#include <string.h>

#include "diag/sockdiag.h"

static const char *const names[ST_NSTATES] = {
    "CLOSED",     "LISTEN",     "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1",
    "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING",  "LAST_ACK",     "TIME_WAIT",
};

const char *st_state_name(int state)
{
    if (state < 0 || state >= ST_NSTATES)
        return "?";
    return names[state];
}

int st_state_from_name(const char *name, size_t len)
{
    for (int s = 0; s < ST_NSTATES; s++)
        if (strlen(names[s]) == len && !memcmp(names[s], name, len))
            return s;
    return -1;
}

int st_state_from_kernel(int kstate)
{
    switch (kstate) {
    case SF_KS_ESTABLISHED: return ST_ESTABLISHED;
    case SF_KS_SYN_SENT: return ST_SYN_SENT;
    /* A request socket (NEW_SYN_RECV, a SYN answered, waiting for the ACK) is what RFC 9293
     * calls SYN-RECEIVED; Linux keeps SYN_RECV for the rare full socket in that state. */
    case SF_KS_SYN_RECV:
    case SF_KS_NEW_SYN_RECV: return ST_SYN_RECEIVED;
    case SF_KS_FIN_WAIT1: return ST_FIN_WAIT_1;
    case SF_KS_FIN_WAIT2: return ST_FIN_WAIT_2;
    case SF_KS_TIME_WAIT: return ST_TIME_WAIT;
    case SF_KS_CLOSE: return ST_CLOSED;
    case SF_KS_CLOSE_WAIT: return ST_CLOSE_WAIT;
    case SF_KS_LAST_ACK: return ST_LAST_ACK;
    case SF_KS_LISTEN: return ST_LISTEN;
    case SF_KS_CLOSING: return ST_CLOSING;
    default: return -1;
    }
}

uint64_t st_hist_total(const struct st_hist *h)
{
    uint64_t t = 0;
    for (int s = 0; s < ST_NSTATES; s++)
        t += h->n[s];
    return t;
}
