/* The seed sweep (issue 11): one seed is one small world on the simulated network, every
 * choice in it drawn from the seed (buffer sizes, MSS, impairments, readers, close paths), so
 * that a failure found by sweeping thousands of seeds comes back with one command.
 *
 * sweep.c builds and runs a world and checks it; test_sweep.c drives seeds and sums up. */
#ifndef SYNFIN_TESTS_SWEEP_H
#define SYNFIN_TESTS_SWEEP_H

#include <stdint.h>
#include <stdio.h>

/* Connection paths: how each connection ends. */
enum sweep_path {
    SW_CLIENT_FIRST, /* the client closes first, the server on its FIN */
    SW_SERVER_FIRST, /* the server closes first */
    SW_SIMULTANEOUS, /* both close at the same instant: the FINs cross */
    SW_HALF_CLOSE,   /* one side sends, shuts down writing, the other replies, then both close */
    SW_ABORT,        /* one side aborts (sf_abort or SO_LINGER 0 close) partway through */
    SW_UNREAD_CLOSE, /* one side stops reading and closes with data unread: RST */
    SW_PATH_COUNT
};

const char *sweep_path_name(enum sweep_path p);

/* What a run may fix instead of drawing it from the seed: the experiment (one buffer
 * size, one loss rate, nothing else) beside the random sweep, and a capture for debugging. */
struct sweep_opts {
    uint32_t rcvbuf;     /* every receive buffer (both sides); 0: drawn */
    uint32_t nconns;     /* connections in the world; 0: drawn */
    int fixed_loss;      /* 1: every link loses `loss`, and nothing else is impaired */
    double loss;         /* with fixed_loss */
    const char *pcap;    /* every delivered and dropped packet to this file; NULL: none */
    uint16_t trace_port; /* the connection from this client port, packet by packet, to stderr
                          * with both ends' figures; 0: none */
};

/* One connection that did not end by the deadline: enough to see why. */
struct sweep_stuck {
    int conn;
    enum sweep_path path;
    int dir; /* the direction with bytes still to arrive: 0 client to server, 1 back; -1 none */
    uint32_t rcvbuf[2], sndbuf[2], mss[2]; /* [0] client, [1] server */
};

#define SWEEP_MAX_STUCK 64

struct sweep_result {
    uint64_t seed;
    int nconns;
    int stuck;        /* connections (either side) not ended by the deadline */
    int byte_errors;  /* connections with a wrong, missing or extra byte */
    int close_errors; /* connections that ended the wrong way or not CLOSED */
    int leaks;        /* engines whose live counts did not return to zero */
    int runaway;      /* the world hit the event cap (a storm of packets or timers) */
    uint64_t events;  /* deliveries and timer runs */
    double sim_seconds;
    uint64_t bytes; /* payload bytes delivered, both directions */
    int nstuck_listed;
    struct sweep_stuck stuck_list[SWEEP_MAX_STUCK];
    char params[160]; /* the world in one line */
};

/* Runs the world of one seed; details of any failure go to log (lines start with "# "). */
void sweep_run(uint64_t seed, const struct sweep_opts *opts, FILE *log, struct sweep_result *r);

static inline int sweep_failed(const struct sweep_result *r)
{
    return r->stuck || r->byte_errors || r->close_errors || r->leaks || r->runaway;
}

#endif
