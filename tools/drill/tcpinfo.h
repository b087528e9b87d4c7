/* Linux's tcp_info fields and constants the engine can give (getsockopt TCP_INFO and the
 * variables of %{ python }% blocks). */
#ifndef SYNFIN_DRILL_TCPINFO_H
#define SYNFIN_DRILL_TCPINFO_H

#include <stddef.h>

#include "tcp/tcp.h"

#define DC_TCPI_MAX 48

enum {
    DC_TCPI_UNKNOWN = -1,  /* a name packetdrill provides that the engine cannot give */
    DC_TCPI_NOT_OURS = -2, /* not a name of packetdrill's at all (the script's own) */
};

struct dc_tcpi_const {
    const char *name;
    long value;
};

struct runner;

/* A connection's info, and what the runner saw on the wire that the engine does not keep:
 * whether its SYN's data was acknowledged (TCPI_OPT_SYN_DATA). */
struct dc_tcpi_in {
    struct sf_conn_info info;
    int syn_data;
};
void dc_tcpi_read(struct runner *r, const struct sf_conn *c, struct dc_tcpi_in *out);

/* Every tcpi_* value of a connection; returns how many (at most cap). */
size_t dc_tcpi_values(const struct dc_tcpi_in *in, struct dc_tcpi_const *out, size_t cap);
/* The names packetdrill defines beside them: TCP_ESTABLISHED..., TCP_CA_Open..., TCPI_OPT_*. */
size_t dc_tcpi_constants(const struct dc_tcpi_const **out);
/* One value or constant by name: 0, DC_TCPI_UNKNOWN or DC_TCPI_NOT_OURS. */
int dc_tcpi_field(const struct dc_tcpi_in *in, const char *name, long *out);

#endif
