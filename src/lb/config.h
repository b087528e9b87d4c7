/* The configuration: what `synfin -c FILE` reads, what -t checks and what SIGHUP reloads.
 *
 * The language (docs/config.md) is nginx-shaped: `directive arg...;` and `block name { ... }`,
 * `#` comments, double-quoted strings. Parsing is strict: every error names file:line:column
 * and nothing starts from a configuration that did not pass every check. */
#ifndef SYNFIN_LB_CONFIG_H
#define SYNFIN_LB_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lb/addr.h"
#include "lb/transport.h"

#define SF_NAME_MAX    64
#define SF_SOURCES_MAX 16

enum sf_balance { SF_BAL_ROUNDROBIN, SF_BAL_LEASTCONN, SF_BAL_SOURCE, SF_BAL_MAGLEV };
enum sf_close_mode { SF_CLOSE_FIN, SF_CLOSE_RST };
enum sf_check_type { SF_CHECK_NONE, SF_CHECK_TCP, SF_CHECK_HTTP };

/* TCP behaviour of one side of a session. A frontend's profile governs the client
 * connection, a backend's the server connection (docs/config.md, "Profiles"). */
struct sf_profile {
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
    int server_close; /* enum sf_close_mode */
    uint32_t buffer_size;
    uint32_t nsources;
    struct sf_source sources[SF_SOURCES_MAX];
};

/* The built-in defaults (docs/config.md says where each comes from). */
void sf_profile_defaults(struct sf_profile *p);
/* Socket options this profile asks of a connection. */
void sf_profile_sockopts(const struct sf_profile *p, struct sf_sockopts *o);

struct sf_profile_conf {
    char name[SF_NAME_MAX];
    struct sf_profile p;
};

struct sf_server_conf {
    char name[SF_NAME_MAX];
    struct sf_addr addr;
    uint32_t weight;
    uint32_t maxconn; /* 0: unlimited */
    int backup;
};

struct sf_check_conf {
    int type; /* enum sf_check_type */
    char uri[256];
    char host[128];
    int expect; /* HTTP status */
    uint64_t interval_ms, timeout_ms;
    uint32_t rise, fall;
};

struct sf_backend_conf {
    char name[SF_NAME_MAX];
    int balance; /* enum sf_balance */
    uint32_t maglev_size;
    uint32_t retries;
    uint64_t queue_timeout_ms;
    uint32_t max_fails;
    uint64_t fail_timeout_ms;
    struct sf_check_conf check;
    struct sf_profile profile;
    struct sf_server_conf *servers;
    size_t nservers;
};

struct sf_frontend_conf {
    char name[SF_NAME_MAX];
    struct sf_addr listen;
    int backlog;
    int reuseport;
    uint32_t maxconn;
    size_t backend; /* index in sf_config.backends */
    struct sf_profile profile;
};

struct sf_respond_conf {
    struct sf_addr listen;
    char *body;
};

enum sf_log_target { SF_LOG_STDERR, SF_LOG_STDOUT, SF_LOG_OFF, SF_LOG_FILE };

struct sf_config {
    struct sf_frontend_conf *frontends;
    size_t nfrontends;
    struct sf_backend_conf *backends;
    size_t nbackends;
    struct sf_profile_conf *profiles;
    size_t nprofiles;
    struct sf_respond_conf *responds;
    size_t nresponds;
    int has_admin;
    struct sf_addr admin;
    int log_target;
    char log_path[256];
    uint64_t drain_timeout_ms;
};

struct sf_config_error {
    int line, col; /* 0 when the error has no position (file unreadable) */
    char msg[256];
    int ref_line; /* an earlier line the error is about (an address used twice), or 0; msg
                   * does not name it: sf_config_error_format says "at line N" */
};

/* Parses text (named `name` in messages). Returns a config, or NULL with *err filled. */
struct sf_config *sf_config_parse(const char *text, size_t len, struct sf_config_error *err);
/* "name:line:col: message[ at line N]" (or "name: message" without a position) into buf. */
void sf_config_error_format(const struct sf_config_error *e, const char *name, char *buf,
                            size_t buflen);
/* Reads and parses a file; errors are formatted "file:line:col: message" into buf. */
struct sf_config *sf_config_load(const char *path, char *buf, size_t buflen);
void sf_config_free(struct sf_config *c);
/* Writes c in the config language, defaults included: text that parses back to the same
 * configuration (synfin -T). 0, or -1 on a write error. */
int sf_config_print(const struct sf_config *c, FILE *out);

const char *sf_balance_name(int b);

/* Parsers shared with the command line (0 ok, -1 with *why). */
int sf_parse_duration(const char *s, uint64_t *ms, const char **why);
int sf_parse_size(const char *s, uint64_t *bytes, const char **why);

/* The embedded default configuration (conf/synfin.conf compiled in, NUL-terminated). */
extern const char sf_default_conf[];

#endif
