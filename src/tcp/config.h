/* Engine configuration: one plain struct, with the names Linux sysctls and F5 TCP profiles
 * use, so an operator recognises every knob. Defaults and where each comes from are in
 * config.c (the table) and docs/engine.md. */
#ifndef SYNFIN_TCP_CONFIG_H
#define SYNFIN_TCP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

struct sf_tcp_config {
    /* closing */
    uint32_t time_wait_ms;         /* TIME-WAIT duration (2MSL); Linux 60000, F5 2000 */
    uint32_t max_tw;               /* TIME-WAIT entries cap (tcp_max_tw_buckets) */
    uint32_t rfc1337;              /* 1: ignore RST in TIME-WAIT (RFC 1337); 0: RST ends it */
    uint32_t tw_reuse;             /* 1: connect() may take over a TIME-WAIT 4-tuple (TS) */
    uint32_t fin_wait2_timeout_ms; /* orphaned FIN-WAIT-2 lifetime (tcp_fin_timeout) */
    uint32_t last_ack_timeout_ms;  /* LAST-ACK lifetime before giving up */
    /* opening */
    uint32_t syn_retries;     /* SYN retransmissions before giving up (tcp_syn_retries) */
    uint32_t synack_retries;  /* SYN-ACK retransmissions (tcp_synack_retries) */
    uint32_t syncookies;      /* 0 off, 1 when the SYN backlog is full, 2 always */
    uint32_t max_syn_backlog; /* SYN-RECEIVED connections per listener */
    uint32_t somaxconn;       /* cap on listen() backlog (net.core.somaxconn) */
    /* retransmission (RFC 6298) */
    uint32_t retries2;       /* RTO backoffs before an established connection is dropped */
    uint32_t rto_initial_ms; /* RTO before any RTT sample */
    uint32_t rto_min_ms;
    uint32_t rto_max_ms;
    /* data */
    uint32_t mss;                              /* MSS we advertise (MTU 1500 - 40) */
    uint32_t rcvbuf;                           /* receive buffer per connection, bytes */
    uint32_t sndbuf;                           /* send buffer per connection, bytes */
    uint32_t initcwnd;                         /* initial congestion window, segments (RFC 6928) */
    uint32_t delack_ms;                        /* delayed ACK timer (bounded to 500 ms, RFC 1122) */
    uint32_t nodelay;                          /* default TCP_NODELAY for new connections */
    uint32_t window_scaling, timestamps, sack; /* RFC 7323 / RFC 2018 options, 0/1 */
    uint32_t wscale;                           /* shift we offer (0..14) */
    /* keepalive (Linux names and units: seconds) */
    uint32_t keepalive;        /* default SO_KEEPALIVE for new connections */
    uint32_t keepalive_time;   /* idle seconds before the first probe */
    uint32_t keepalive_intvl;  /* seconds between probes */
    uint32_t keepalive_probes; /* unanswered probes before reset */
    uint32_t user_timeout_ms;  /* default TCP_USER_TIMEOUT, 0 off */
    /* protection */
    uint32_t challenge_ack_limit; /* RFC 5961 challenge ACKs per second, engine-wide */
    uint32_t drop_syn_fin;        /* 1: SYN+FIN to a closed port dropped, not reset */
    /* TCP Fast Open (RFC 7413), Linux's tcp_fastopen bits: SF_TFO_* */
    uint32_t fastopen;
    uint32_t fastopen_max_pending; /* Fast Open connections before their 3WHS, engine-wide */
    uint32_t fastopen_cache;       /* servers' cookies kept (client side), engine-wide */
    /* The engine's Fast Open key, engine-wide; set by name as "fastopen_key" with Linux's
     * text "a-b-c-d" (four 32-bit hex words, each stored little-endian). Not in the table of
     * numbers: fastopen_key_set 0 means the key is derived from the engine's secret. */
    uint32_t fastopen_key[4];
    uint32_t fastopen_key_set;
    /* ports */
    uint32_t port_range_lo, port_range_hi; /* ephemeral ports (ip_local_port_range) */
};

/* The bits of the fastopen setting, as Linux's net.ipv4.tcp_fastopen. */
enum {
    SF_TFO_CLIENT = 0x1,             /* a connect that asks (TCP_FASTOPEN_CONNECT) uses Fast Open */
    SF_TFO_SERVER = 0x2,             /* listeners with a Fast Open queue accept data in SYNs */
    SF_TFO_CLIENT_NO_COOKIE = 0x4,   /* the client sends data without a cookie */
    SF_TFO_SERVER_NO_COOKIE = 0x200, /* the server takes data in a SYN without a cookie */
    SF_TFO_SERVER_ALWAYS = 0x400,    /* every listener has a queue (its listen backlog) */
};

/* Fills c with the documented defaults. */
void sf_tcp_config_defaults(struct sf_tcp_config *c);

/* Checks ranges and relations; on error writes a message naming the setting and returns
 * -EINVAL. */
int sf_tcp_config_check(const struct sf_tcp_config *c, char *err, size_t errlen);

/* Sets one setting by its name ("time_wait_ms"; '-' accepted for '_') from text. Accepts
 * decimal numbers and on/off/yes/no/true/false for 0/1 settings. Returns 0, -ENOENT for an
 * unknown name, -EINVAL (with a message) for a bad value or range. */
int sf_tcp_config_set(struct sf_tcp_config *c, const char *name, const char *value, char *err,
                      size_t errlen);

/* The settings table: name, default, range, documentation (for --help and docs). */
struct sf_tcp_setting {
    const char *name;
    size_t offset;
    uint32_t def, min, max;
    const char *unit;
    const char *doc;
};
extern const struct sf_tcp_setting sf_tcp_settings[];
extern const size_t sf_tcp_settings_count;

#endif
