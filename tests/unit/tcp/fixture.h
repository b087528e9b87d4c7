/* State-machine fixtures for the engine (in the style of smoltcp's socket tests): one engine
 * on a virtual clock, segments built by hand and injected from a peer, and every segment the
 * engine emits captured, so a test states exactly what must come out, or that nothing does.
 *
 * The engine is local 192.168.0.1; the peer is 192.0.2.1:40000. Listeners bind port 8080.
 * Sequence numbers in fx_in/fx_out are relative, as in packetdrill: the peer's relative to
 * its ISN (FX_PEER_ISN), the engine's relative to its ISN (learned from its SYN/SYN-ACK). */
#ifndef SYNFIN_TESTS_FIXTURE_H
#define SYNFIN_TESTS_FIXTURE_H

#include <stdint.h>

#include "tcp/segment.h"
#include "tcp/tcp.h"

#define FX_PEER_ISN  1000000u
#define FX_MAX_OUT   4096
#define FX_MAX_TRANS 256

struct fx_pkt {
    struct sf_seg seg; /* parsed from the engine's output: t.laddr is the PEER here */
    uint8_t raw[2048];
    size_t len;
    sf_time_t at;
};

struct fx {
    struct sf_engine *e;
    struct sf_tcp_config cfg;
    sf_time_t now;
    struct fx_pkt *out; /* FX_MAX_OUT captured packets */
    unsigned nout, next;
    uint32_t iss; /* the engine's ISN, once seen */
    int iss_known;
    uint16_t peer_port, local_port;
    struct sf_conn *listener, *conn;
    unsigned events; /* OR of events seen on conn */
    struct sf_transition trans[FX_MAX_TRANS];
    unsigned ntrans;
};

/* Creates the fixture; apply(cfg) may change settings before the engine is made. */
struct fx *fx_new(void (*apply)(struct sf_tcp_config *cfg));
void fx_free(struct fx *f);

/* Advances the clock by ms milliseconds, running timers. */
void fx_advance(struct fx *f, uint32_t ms);

/* Injects a segment from the peer. seq is relative to the peer's ISN, ack relative to the
 * engine's ISN. opts may be NULL. */
void fx_in(struct fx *f, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t win,
           const struct sf_tcp_opts *opts, const void *data, uint32_t len);
/* Same, with absolute sequence and acknowledgment numbers. */
void fx_in_abs(struct fx *f, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t win,
               const struct sf_tcp_opts *opts, const void *data, uint32_t len);

/* The next captured segment must have these flags, relative seq, payload length and (when
 * flags has ACK) relative ack; returns it. Fails the test otherwise. */
const struct sf_seg *fx_out(struct fx *f, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len);
/* No further segment was emitted. */
void fx_none(struct fx *f);
/* Number of captured segments not yet checked. */
unsigned fx_pending(const struct fx *f);

/* Scenario helpers. */
void fx_listen(struct fx *f);       /* listener on 8080 */
void fx_passive_open(struct fx *f); /* peer's handshake, accept: conn ESTABLISHED */
void fx_active_open(struct fx *f);  /* connect to the peer, handshake: ESTABLISHED */

/* The engine's state for the fixture's connection, or TIME_WAIT if only an entry is left. */
enum sf_state fx_state(struct fx *f);
/* The last transition recorded (to, cause). */
const struct sf_transition *fx_last_transition(const struct fx *f);

#endif
