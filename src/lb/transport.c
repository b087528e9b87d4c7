/* Transport-independent helpers. */
#include "lb/transport.h"

const char *sf_tcp_state_name(enum sf_tcp_state s)
{
    static const char *const names[SF_TCP_NSTATES] = {
        "CLOSED",     "LISTEN",     "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1",
        "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING",  "LAST_ACK",     "TIME_WAIT",
    };
    return (unsigned)s < SF_TCP_NSTATES ? names[s] : "UNKNOWN";
}
