/* The state of one script run, shared by the event loop (run.c), the world and flows
 * (world.c), the packet lines (packets.c) and the system calls
 * (syscalls.c). Not a public interface: see run.h. */
#ifndef SYNFIN_DRILL_RUNNER_H
#define SYNFIN_DRILL_RUNNER_H

#include <stddef.h>
#include <stdint.h>

#include "io/sim.h"
#include "tcp/tcp.h"

#include "run.h"
#include "script.h"

#define DR_MAX_FDS   1024
#define DR_TS_MAP    64
#define DR_MAX_POLL  16
#define DR_MAX_EPOLL 8 /* epoll instances at once */

struct dr_fd {
    struct sf_conn *c; /* NULL: free */
    int nonblock;
    int shut_wr;          /* shutdown(SHUT_WR or SHUT_RDWR) succeeded */
    uint32_t notsent_low; /* TCP_NOTSENT_LOWAT, 0 when not set (the runner applies it) */
    int eor;              /* the last send had MSG_EOR */
    int bufs_set;         /* 1: SO_SNDBUF, 2: SO_RCVBUF set by the script (reported doubled) */
    int accepted;         /* from accept: in SYN-RECEIVED only as a Fast Open child */
    int ep;               /* an epoll instance, 1 + its index in runner.epolls (c is NULL) */
};

/* One 4-tuple as the script sees it: the engine's port and the script's port, the engine's
 * ISN (learned from its SYN or SYN-ACK) and the map from the TS val the script wrote on
 * outbound lines to the ones the engine sent, so that inbound TS ecr can be translated. */
struct dr_flow {
    uint16_t lport, rport;
    int isn_known;
    uint32_t engine_isn;
    uint32_t remote_isn; /* the script's: its latest inbound SYN's (else --remote_isn) */
    int state;           /* the state of the engine's connection on it (enum sf_state) */
    int syn_data_acked;  /* the engine's SYN-ACK acknowledged data in the SYN (Fast Open) */
    int ts_known;
    uint32_t first_script_ts, first_actual_ts;
    uint32_t ts_script[DR_TS_MAP], ts_actual[DR_TS_MAP];
    size_t nts;
};

/* A packet the engine sent that no outbound line has matched yet, decoded and made relative
 * when it arrived. */
struct dr_out {
    sf_time_t t;
    int bad; /* the runner could not read it: err says why */
    char err[128];
    size_t flow;
    struct dr_packet pkt;
};

/* A system call in progress: blocking calls are retried as time passes and packets arrive. */
/* An epoll instance's interest list (epoll.c): level-triggered. */
struct dr_epoll_item {
    int fd;
    struct sf_conn *c; /* the socket when added: gone from the list once closed */
    unsigned events;
    int by_fd; /* data is fd= (else ptr=/u32=/u64=, kept in data) */
    long data;
};
struct dr_epoll {
    int used;
    size_t n;
    struct dr_epoll_item items[DR_MAX_POLL];
};

struct dr_call {
    const struct dr_event *ev;
    sf_time_t start; /* when it was made */
    sf_time_t end;   /* when the script says it returns (has_end), else start */
    sf_time_t wake;  /* a timeout of its own (poll), SF_TIME_NEVER if none */
    int attempts;    /* 0 before the first attempt */
    size_t done;     /* bytes written so far (blocking write) */
    long ret;        /* the result once done: >= 0, or -1 with err */
    int err;
    size_t npoll; /* poll: revents of each entry at return */
    unsigned revents[DR_MAX_POLL];
};

enum { DR_CALL_DONE, DR_CALL_BLOCKED, DR_CALL_FAILED };

struct runner {
    const struct dr_script *s;
    const struct dr_settings *set;
    char *msg;
    size_t msglen;
    int failed;
    int unsupported; /* failed because the script needs what the runner or engine lacks */

    /* settings: runner options and the engine configuration */
    sf_time_t tolerance;
    struct sf_addr local, remote;
    int local_set, remote_set;
    int ip_version; /* 4, 6, or 46: ipv4-mapped-ipv6 (AF_INET6 sockets, IPv4 packets) */
    uint16_t bind_port, connect_port, remote_port;
    uint8_t listening[65536 / 8]; /* ports with a listener, from the engine's transitions */
    uint32_t remote_isn;
    uint64_t seed;
    int strict_end; /* packets after the last event fail the script (packetdrill: not checked) */
    int gso;        /* back-to-back segments may match one larger outbound line (Linux TSO) */
    struct sf_tcp_config cfg;

    /* the simulated world: the engine on one host, the script on the other */
    struct sf_sim *sim;
    struct sf_sim_host *eh, *sh;
    struct sf_engine *eng;
    uint16_t ip_id;

    struct dr_out *outq;
    size_t out_head, out_n, out_cap;
    uint64_t out_total; /* packets the engine ever sent */

    struct dr_fd fds[DR_MAX_FDS];
    struct dr_epoll epolls[DR_MAX_EPOLL];
    struct dr_flow *flows;
    size_t nflows, flows_cap;
    size_t def_flow; /* the flow of packets that name no ports */

    int started; /* a packet or call has run: shell lines may no longer change the engine */
    int pending; /* a blocking call is in progress in `call` */
    struct dr_call call;

    int code_fd;          /* packetdrill's socket under test: the latest socket() or accept() */
    struct dr_code *code; /* the %{ python }% blocks met so far (code.c) */
};

/* "FILE:LINE: ..." into r->msg, marks the run failed; returns -1. */
__attribute__((format(printf, 3, 4))) int dr_fail(struct runner *r, const struct dr_event *ev,
                                                  const char *fmt, ...);
/* The same for a script that needs a feature the runner or the engine does not have: the
 * script is reported skipped ("unsupported: ..."), not failed. */
__attribute__((format(printf, 3, 4))) int
dr_unsupported(struct runner *r, const struct dr_event *ev, const char *fmt, ...);
sf_time_t dr_now(const struct runner *r);
/* Seconds since the script started, for messages. */
double dr_secs(sf_time_t t);
/* The sim must ask the engine for its deadline again (after a call into the engine). */
void dr_touched(struct runner *r);

/* Verbose output (--verbose), and packets and events in script syntax for messages. */
__attribute__((format(printf, 2, 3))) void dr_log(struct runner *r, const char *fmt, ...);
const char *dr_packet_text(const struct dr_packet *p, char *buf, size_t len);
const char *dr_action_text(const struct dr_event *ev, char *buf, size_t len);

/* Waiting (run.c): how packets the engine sends meanwhile are judged. */
enum dr_wait_mode {
    QUIET,   /* until an inbound packet or a call: packets wait for the outbound lines after
                it, but one the script leaves waiting beyond the tolerance was not expected */
    END,     /* after the last event: any packet is unexpected */
    WANT,    /* stop at the first packet */
    COLLECT, /* packets wait for the next outbound line, however long */
};
/* Runs the sim until target. Returns 1 when a packet arrived (WANT), 0 at target, -1 when
 * the script failed (an unexpected packet, a blocking call that returned wrong or late). */
int dr_advance_to(struct runner *r, const struct dr_event *ev, sf_time_t target,
                  enum dr_wait_mode mode);
/* Waits for the blocking call in progress to return (by its deadline at the latest). */
int dr_await_call(struct runner *r, const struct dr_event *ev);
/* Moves to an inbound packet's or a call's time; it may not be late beyond tolerance. */
int dr_reach(struct runner *r, const struct dr_event *ev, sf_time_t start);

/* world.c: the settings, the simulated world, the flows. */
int dr_configure(struct runner *r);
int dr_build_world(struct runner *r);
/* A shell line's TCP settings into cfg; an unknown command makes the script unsupported. */
int dr_apply_shell(struct runner *r, const struct dr_event *ev, struct sf_tcp_config *cfg);
/* The flow of a 4-tuple (made on first use); NULL when memory runs out. */
struct dr_flow *dr_flow_get(struct runner *r, uint16_t lport, uint16_t rport);
/* The engine's TS val that the script's TS val stands for: the one it was seen as on an
 * outbound line, else by the offset of the first one seen (as packetdrill does). */
uint32_t dr_ts_ecr_live(const struct dr_flow *f, uint32_t script_ecr);
void dr_ts_learn(struct dr_flow *f, uint32_t script_val, uint32_t actual_val);

/* packets.c: an inbound line sent, an outbound line matched within [start, end]. */
int dr_inject(struct runner *r, const struct dr_event *ev);
int dr_expect_packet(struct runner *r, const struct dr_event *ev, sf_time_t start, sf_time_t end);

/* code.c: %{ python }% blocks. A block's tcp_info is captured at its time (dr_code_event);
 * after the last event they run in python3 (dr_code_run). */
void dr_code_note_call(struct runner *r, const struct dr_call *call);
int dr_code_event(struct runner *r, const struct dr_event *ev);
int dr_code_run(struct runner *r);
void dr_code_free(struct runner *r);

/* syscalls.c: makes the call of ev (DR_CALL_DONE with call->ret/err, DR_CALL_BLOCKED, or
 * DR_CALL_FAILED for a script error); dr_call_check compares a finished call with the
 * script's expected result. */
int dr_call_attempt(struct runner *r, struct dr_call *call);
int dr_call_check(struct runner *r, const struct dr_call *call);

#endif
