/* The census of synfin's own TCP sockets: states of the sockets it holds (TCP_INFO through
 * the transport), and TIME_WAIT / SYN_RECEIVED entries on its addresses, which no longer
 * belong to any descriptor, counted with sock_diag (kernel-side port filter). */
#ifndef SYNFIN_CTL_CENSUS_H
#define SYNFIN_CTL_CENSUS_H

#include <stdint.h>

#include "ctl/admin.h"
#include "lb/lb.h"

struct lb_census {
    uint64_t states[SF_STATE_COUNT];
    uint64_t tw_frontend; /* TIME_WAIT on a frontend's listening address */
    uint64_t tw_backend;  /* TIME_WAIT from synfin's connections toward servers */
    uint64_t tw_respond;  /* TIME_WAIT on a built-in responder's address */
    int diag_error;       /* -errno if sock_diag failed (counts then exclude it) */
};

void ctl_census_take(struct lb *lb, const struct ctl_admin *admin, struct lb_census *c);

#endif
