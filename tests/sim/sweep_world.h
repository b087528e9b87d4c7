/* The inside of one sweep world, shared by sweep.c (drawing it, the hosts, the application)
 * and sweep_check.c (running it, judging it, saying what went wrong). */
#ifndef SYNFIN_TESTS_SWEEP_WORLD_H
#define SYNFIN_TESTS_SWEEP_WORLD_H

#include <stddef.h>
#include <stdint.h>

#include "io/sim.h"
#include "tcp/tcp.h"
#include "sweep.h"

#define SW_CLIENT_HOSTS 4
#define SW_MAX_CONNS    64
#define SW_MAX_LISTEN   6
#define SW_MAX_IDS      (SW_MAX_CONNS + SW_MAX_LISTEN + 8)
#define SW_PORT_BASE    80

/* How an application reads. */
enum sw_reader {
    RD_EAGER,   /* everything, on every event */
    RD_STALL,   /* eagerly, but stops for a while (up to three times) and then resumes */
    RD_TRICKLE, /* a chunk at a time, at most one chunk per period */
};

struct sw_host {
    struct sw_world *w;
    struct sf_engine *e;
    struct sf_sim_host *h;
    int index; /* 0: the server */
    uint8_t addr[4];
    struct sw_side *sides[SW_MAX_CONNS]; /* the application's ends on this host */
    int nsides;
    /* per engine connection id: states passed through, the last one and its cause */
    uint16_t visited[SW_MAX_IDS];
    uint8_t last_state[SW_MAX_IDS], last_cause[SW_MAX_IDS];
    /* the engine's object while it lives, also after the owner released it: a stuck orphan
     * (FIN-WAIT-1, LAST-ACK) must still show its figures */
    struct sf_conn *obj[SW_MAX_IDS];
    uint64_t bad_ids; /* transitions for ids beyond the table */
};

/* One end of one connection, as its application sees it. */
struct sw_side {
    struct sw_conn *k;
    struct sw_host *host;
    struct sf_conn *c;
    int server;    /* 0: the client end, 1: the server end */
    int active;    /* holds a handle (connected or accepted) */
    int closed;    /* the handle was released (closed or aborted) */
    int reset;     /* saw SF_EV_RESET */
    int err;       /* the error that came with it */
    int rx_eof;    /* read end of stream */
    int shut;      /* shut down writing (half-close) */
    int ready;     /* simultaneous close: everything sent and received */
    int replying;  /* half-close: the reply started after the request's end */
    uint64_t id;   /* the engine's connection id */
    size_t tx_len; /* bytes to send */
    size_t tx_done;
    size_t rx_len; /* bytes the peer sends */
    size_t rx_got;
    size_t bad, first_bad; /* bytes that differ from the generator, and the first offset */
    /* the reader */
    enum sw_reader mode;
    size_t stall_at;
    uint32_t stall_ms, chunk, period_ms;
    int stalls_left;
    sf_time_t paused_until, next_read, close_at;
    sf_time_t wake_at; /* the application's own timer on this end; 0: none */
    /* settings */
    uint32_t rcvbuf, sndbuf, mss;
    int nodelay;
};

struct sw_conn {
    int idx;
    enum sweep_path path;
    int who;          /* ABORT, UNREAD_CLOSE, HALF_CLOSE: the end that acts (0 client) */
    int abort_linger; /* ABORT by close() with SO_LINGER 0 rather than sf_abort */
    size_t len[2];    /* bytes sent by the client [0] and by the server [1] */
    size_t abort_at;  /* the acting end acts once it has received this many */
    int listener;
    int chost; /* client host, 1.. */
    uint16_t cport;
    sf_time_t start;
    struct sw_side s[2];
};

struct sw_world {
    uint64_t seed, rng;
    const struct sweep_opts *opts;
    struct sf_sim *sim;
    struct sf_pcap *pcap;
    struct sf_tcp_config cfg;
    struct sw_host hosts[SW_CLIENT_HOSTS + 1];
    struct sf_sim_link_params up[SW_CLIENT_HOSTS + 1], down[SW_CLIENT_HOSTS + 1]; /* [1..] */
    struct sf_conn *listeners[SW_MAX_LISTEN];
    uint32_t l_rcvbuf[SW_MAX_LISTEN], l_mss[SW_MAX_LISTEN];
    int nlisteners;
    struct sw_conn conns[SW_MAX_CONNS];
    int nconns;
    int long_stalls;      /* some readers pause for up to 20 minutes */
    int nactive, nclosed; /* ends that got a handle, ends that released it */
    int nstarted;
    int stray_accepts; /* accepted connections no client claims */
    uint64_t events;
    struct sweep_result *r;
};

/* sweep_check.c: one line on stderr for a packet of the traced connection (opts->trace_port,
 * the client's port), with both ends' figures as they stand. */
void sw_trace(const struct sw_host *h, const uint8_t *pkt, size_t len, const char *dir);

/* sweep.c */
void sw_world_build(struct sw_world *w, uint64_t seed, const struct sweep_opts *opts);
void sw_world_free(struct sw_world *w);
int sw_all_ended(void *ctx);

#endif
