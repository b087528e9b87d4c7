/* The configuration: what `synfin -c FILE` reads, what -t checks and what SIGHUP reloads.
 *
 * The language (docs/config.md) is nginx-shaped: `directive arg...;` and `block name { ... }`,
 * `#` comments, double-quoted strings. Parsing is strict: every error names file:line:column
 * and nothing starts from a configuration that did not pass every check. */
#ifndef SYNFIN_LB_CONFIG_H
#define SYNFIN_LB_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include <sched.h>
#include <stdint.h>

#include "lb/addr.h"
#include "lb/cidr.h"
#include "lb/config_stack.h"
#include "lb/transport.h"
#include "tcp/config.h"

#define LB_NAME_MAX    64
#define LB_SOURCES_MAX 16
#define LB_WARNINGS    8
#define LB_LISTEN_MAX  8   /* `listen` lines of one frontend */
#define LB_THREADS_MAX 256 /* `threads`: event-loop threads of one process */
#define LB_CPU_MAP_MAX 64  /* `cpu_map` lines */
/* A bearer token: 16 to 127 visible characters. */
#define LB_ADMIN_TOKEN_MAX 128

/* Where something was written, for the checks that compare objects after parsing. */
struct lb_pos {
    int line, col;
};

enum lb_balance { LB_BAL_ROUNDROBIN, LB_BAL_LEASTCONN, LB_BAL_SOURCE, LB_BAL_MAGLEV };
enum lb_close_mode { LB_CLOSE_FIN, LB_CLOSE_RST };
enum lb_check_type { LB_CHECK_NONE, LB_CHECK_TCP, LB_CHECK_HTTP };
/* What a frontend speaks: bytes (layer 4) or HTTP/1 messages (docs/lb.md, "HTTP mode"). A
 * backend's mode is LB_MODE_ANY unless written: then it serves frontends of either mode. */
enum lb_mode { LB_MODE_TCP, LB_MODE_HTTP, LB_MODE_ANY };
/* Which idle server connection a request may take (HAProxy's http-reuse, same meanings). */
enum lb_reuse { LB_REUSE_NEVER, LB_REUSE_SAFE, LB_REUSE_AGGRESSIVE, LB_REUSE_ALWAYS };
/* Who closes a client connection first once its last response is out (http mode). */
enum lb_close_first { LB_FIRST_SYNFIN, LB_FIRST_CLIENT };

/* TCP behaviour of one side of a session. A frontend's profile governs the client
 * connection, a backend's the server connection (docs/config.md, "Profiles"). */
struct lb_profile {
    uint64_t connect_timeout_ms;
    uint64_t idle_timeout_ms;
    uint64_t client_fin_timeout_ms;
    uint64_t server_fin_timeout_ms;
    int keepalive;
    uint64_t keepalive_idle_ms;
    uint64_t keepalive_interval_ms;
    uint32_t keepalive_count;
    uint64_t user_timeout_ms;
    int nodelay;
    int defer_accept;
    int reset_on_timeout;
    int server_close;       /* enum lb_close_mode */
    int client_close_first; /* enum lb_close_first (http mode) */
    uint32_t buffer_size;
    int fast_open; /* the stack transport's connects to servers use TCP Fast Open */
    uint32_t nsources;
    struct lb_source sources[LB_SOURCES_MAX];
    /* The stack transport's engine settings for this side (time_wait, syn_retries, ...):
     * the engine's defaults, changed by the stack-only directives. */
    struct sf_tcp_config tcp;
};

/* The built-in defaults (docs/config.md says where each comes from). */
void lb_profile_defaults(struct lb_profile *p);
/* Socket options this profile asks of a connection. */
void lb_profile_sockopts(const struct lb_profile *p, struct lb_sockopts *o);

struct lb_profile_conf {
    char name[LB_NAME_MAX];
    struct lb_profile p;
};

/* The PROXY protocol header written first on a server connection (docs/config.md). */
enum lb_proxy_version { LB_PROXY_NONE, LB_PROXY_V1, LB_PROXY_V2 };

struct lb_server_conf {
    char name[LB_NAME_MAX];
    struct lb_addr addr;
    struct lb_pos addr_pos;
    uint32_t weight;
    uint32_t maxconn; /* 0: unlimited */
    int backup;
    int send_proxy; /* enum lb_proxy_version: its own, or its backend's */
};

struct lb_check_conf {
    int type; /* enum lb_check_type */
    char uri[256];
    char host[128];
    int expect; /* HTTP status */
    uint64_t interval_ms, timeout_ms;
    uint32_t rise, fall;
};

/* A frontend's HTTP settings (mode http). */
struct lb_http_fe_conf {
    uint64_t keepalive_timeout_ms; /* idle between requests; 0: one request per connection */
    uint32_t keepalive_requests;   /* requests per client connection; 0: no limit */
    uint32_t max_header_size;      /* bytes of a request head */
    int forwarded_for, forwarded_proto, forwarded, via;
};

/* A backend's HTTP settings: how its server connections are pooled and reused. */
struct lb_http_be_conf {
    int reuse;                     /* enum lb_reuse */
    uint32_t pool_max_idle;        /* idle connections kept per server */
    uint64_t pool_idle_timeout_ms; /* how long one stays idle */
    uint32_t pool_max_requests;    /* requests per server connection; 0: no limit */
};

void lb_http_fe_defaults(struct lb_http_fe_conf *h);
void lb_http_be_defaults(struct lb_http_be_conf *h);

struct lb_backend_conf {
    char name[LB_NAME_MAX];
    int mode;    /* enum lb_mode: LB_MODE_ANY unless written */
    int balance; /* enum lb_balance */
    uint32_t maglev_size;
    uint32_t retries;
    uint64_t queue_timeout_ms;
    uint32_t max_fails;
    uint64_t fail_timeout_ms;
    struct lb_check_conf check;
    struct lb_http_be_conf http;
    struct lb_profile profile;
    int send_proxy; /* enum lb_proxy_version, for servers that do not say */
    struct lb_server_conf *servers;
    size_t nservers;
};

struct lb_frontend_conf {
    char name[LB_NAME_MAX];
    /* Every `listen` line, in order (IPv4 and IPv6 side by side): one listener each. */
    struct lb_addr listen[LB_LISTEN_MAX];
    struct lb_pos listen_pos[LB_LISTEN_MAX];
    uint32_t nlisten;
    int backlog;
    int reuseport;
    uint32_t maxconn;
    size_t backend; /* index in lb_config.backends */
    int mode;       /* enum lb_mode: LB_MODE_TCP or LB_MODE_HTTP */
    /* accept_proxy: peers whose connections start with a PROXY header (0: none do) */
    size_t naccept_proxy;
    struct lb_cidr accept_proxy[LB_CIDRS_MAX];
    uint64_t accept_proxy_timeout_ms; /* the whole header within this, or bad_proxy */
    struct lb_http_fe_conf http;
    struct lb_profile profile;
};

struct lb_respond_conf {
    struct lb_addr listen;
    struct lb_pos listen_pos;
    char *body;
};

/* `announce { ... }`: the frontends' addresses put as /32 (/128) routes into a kernel
 * routing table that a routing daemon (BIRD, FRR) learns and announces over BGP while this
 * node can serve them (docs/scale-out.md). */
struct lb_announce_conf {
    int enabled;
    uint32_t table;             /* the kernel routing table the daemon learns from */
    uint64_t withdraw_delay_ms; /* SIGTERM: from the withdrawal to closing the listeners */
    char device[16];            /* the anchor device: its routes die with the process */
    struct lb_pos pos;
};

enum lb_log_target { LB_LOG_STDERR, LB_LOG_STDOUT, LB_LOG_OFF, LB_LOG_FILE, LB_LOG_SYSLOG };
enum lb_log_format { LB_LOG_KV, LB_LOG_JSON };
/* "daemon", "local0", ... for a syslog facility number; "?" for another. */
const char *lb_syslog_facility_name(int facility);
struct lb_config;
/* `log ...;` and `log_format ...;` as -T prints them (config_print.c). */
void lb_conf_print_log(const struct lb_config *c, FILE *out);

struct lb_config {
    struct lb_frontend_conf *frontends;
    size_t nfrontends;
    struct lb_backend_conf *backends;
    size_t nbackends;
    struct lb_profile_conf *profiles;
    size_t nprofiles;
    struct lb_respond_conf *responds;
    size_t nresponds;
    struct lb_transport_conf transport;
    int has_admin;
    struct lb_addr admin;
    struct lb_pos admin_pos;
    /* The runtime API's access (docs/lb.md): a bearer token (empty: none), and the peers
     * allowed besides loopback. */
    char admin_token[LB_ADMIN_TOKEN_MAX];
    struct lb_cidr admin_allow[LB_CIDRS_MAX];
    size_t nadmin_allow;
    int log_target;
    char log_path[256]; /* a file; with syslog, a unix datagram socket ("/dev/log") */
    struct lb_pos log_pos;
    int log_format;   /* enum lb_log_format */
    int log_facility; /* syslog: 0 kern ... 23 local7 */
    int log_rfc;      /* syslog: 3164 or 5424 */
    int log_udp;      /* syslog: to log_addr (UDP) rather than to log_path */
    struct lb_addr log_addr;
    uint64_t drain_timeout_ms;
    /* Event-loop threads (docs/architecture.md, "Threads"): 1 runs as before; `auto` is
     * resolved when the file is read, to the CPUs the process may use. */
    uint32_t threads;
    struct lb_pos threads_pos;
    /* `cpu_map THREADS|auto CPULIST;` lines in order (config_cpu.c): a later line wins for
     * a thread both name. */
    struct lb_cpu_map {
        int is_auto;          /* one CPU of the list each, in turn */
        uint32_t first, last; /* the threads */
        cpu_set_t cpus;
        char threads_text[24], cpus_text[104]; /* as written (-T prints them) */
        struct lb_pos pos;                     /* the threads word */
    } cpu_map[LB_CPU_MAP_MAX];
    size_t ncpu_map;
    struct lb_announce_conf announce;
    /* What is valid but likely not meant: printed by -t and at start, logged on reload. */
    struct lb_config_warning {
        int line, col;
        char msg[256];
    } warnings[LB_WARNINGS];
    size_t nwarnings;
};

struct lb_config_error {
    int line, col; /* 0 when the error has no position (file unreadable) */
    char msg[256];
    int ref_line; /* an earlier line the error is about (an address used twice), or 0; msg
                   * does not name it: lb_config_error_format says "at line N" */
    int ref_col;  /* with ref_line, its column (a directive given twice): the format says
                   * "(first at name:line:col)" instead */
};

/* Parses text (named `name` in messages). Returns a config, or NULL with *err filled. */
struct lb_config *lb_config_parse(const char *text, size_t len, struct lb_config_error *err);
/* "name:line:col: message[ at line N]" (or "name: message" without a position) into buf;
 * "name:line:col: message (first at name:line:col)" when the error has a ref_col. */
void lb_config_error_format(const struct lb_config_error *e, const char *name, char *buf,
                            size_t buflen);
/* "name:line:col: warning: message" into buf. */
void lb_config_warning_format(const struct lb_config_warning *w, const char *name, char *buf,
                              size_t buflen);
/* Reads and parses a file; errors are formatted "file:line:col: message" into buf. */
struct lb_config *lb_config_load(const char *path, char *buf, size_t buflen);
void lb_config_free(struct lb_config *c);
/* Writes c in the config language, defaults included: text that parses back to the same
 * configuration (synfin -T). 0, or -1 on a write error. */
int lb_config_print(const struct lb_config *c, FILE *out);

const char *lb_balance_name(int b);
const char *lb_reuse_name(int r);

/* Parsers shared with the command line (0 ok, -1 with *why). */
int lb_parse_duration(const char *s, uint64_t *ms, const char **why);
int lb_parse_size(const char *s, uint64_t *bytes, const char **why);

/* The embedded default configuration (conf/synfin.conf compiled in, NUL-terminated). */
extern const char lb_default_conf[];

/* The CPUs thread t is pinned to by c's cpu_map: 1 with *set filled, 0 when none names it. */
int lb_config_cpu_set(const struct lb_config *c, uint32_t t, cpu_set_t *set);
/* The CPUs the process may use, taken before any thread is pinned (tools/synfin): what
 * `threads auto` and cpu_map's check go by when a reload is read by a pinned thread 0. */
void lb_config_set_cpus(const cpu_set_t *all);

#endif
