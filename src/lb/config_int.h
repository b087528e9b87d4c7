/* Inside the config parser (config.c, config_syntax.c, config_check.c); not for other
 * code. The syntax stage turns text into a tree of directives with positions; the
 * interpreter turns the tree into an lb_config; the checks compare what it holds. */
#ifndef SYNFIN_LB_CONFIG_INT_H
#define SYNFIN_LB_CONFIG_INT_H

#include "lb/config.h"

struct arg {
    char *s;
    int line, col;
};

struct node {
    struct arg name;
    struct arg *args;
    size_t nargs;
    struct node *kids;
    size_t nkids;
    int block;
};

int lb_conf_fail(struct lb_config_error *e, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int lb_conf_fail_at(struct lb_config_error *e, const struct arg *a, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* kids[i] may appear once in its block: 0, or -1 with *e at it naming the first one
 * ("duplicate 'maxconn'", ref_line and ref_col). Called only for directives that are not
 * repeatable, after kids[0..i-1] were accepted, so the scan stays short. */
int lb_conf_once(struct lb_config_error *e, const struct node *kids, size_t i);

/* HAProxy's and nginx's words (config_hint.c). A known one written in block ("frontend",
 * "backend", "server" for a server line's options, NULL at the top level) with its first
 * argument arg (or NULL): "'bind' is HAProxy's; synfin says ... (docs/haproxy.md)", a static
 * string; NULL when it is not one. */
const char *lb_conf_hint(const char *block, const char *name, const char *arg);
/* An unknown directive at a in block (NULL: the top level): the hint if there is one,
 * else "unknown directive 'x' in block". Returns -1. */
int lb_conf_unknown(struct lb_config_error *e, const struct node *d, const char *block);

/* Values (config_value.c). A decimal number: 0, -1 not one, -2 past 64 bits. */
int lb_conf_parse_u64(const char *s, uint64_t *v, const char **end);
/* 0, or -1 with *e naming the word at fault. */
int lb_conf_arg_count(struct lb_config_error *e, const struct arg *a, uint64_t min, uint64_t max,
                      uint32_t *out);
int lb_conf_arg_duration(struct lb_config_error *e, const struct arg *a, uint64_t min,
                         uint64_t *out);
int lb_conf_arg_bool(struct lb_config_error *e, const struct arg *a, int *out);
int lb_conf_arg_addr(struct lb_config_error *e, const struct arg *a, struct lb_addr *out,
                     struct lb_pos *pos);
int lb_conf_arg_name(struct lb_config_error *e, const struct arg *a, char *out);
int lb_conf_want_args(struct lb_config_error *e, const struct node *n, size_t min, size_t max);
int lb_conf_want_block(struct lb_config_error *e, const struct node *n, size_t nargs);

/* `cpu_map THREADS|auto CPULIST;` (config_cpu.c), and its check against `threads` once
 * every line is read: 0, or -1 with *e. */
int lb_conf_cpu_map(struct lb_config *c, struct lb_config_error *e, const struct node *n);
int lb_conf_cpu_map_check(const struct lb_config *c, struct lb_config_error *e);
/* The CPUs the process may use (lb_config_set_cpus, else sched_getaffinity). */
void lb_conf_cpus_allowed(cpu_set_t *out);

/* `log ...;` and `log_format ...;` (config_log.c): 0, or -1 with *e. */
int lb_conf_parse_log(struct lb_config *c, struct lb_config_error *e, const struct node *n);
int lb_conf_parse_log_format(struct lb_config *c, struct lb_config_error *e, const struct node *n);

/* Which side of a session reads a directive: a frontend's profile governs the client
 * connection, a backend's the server connection (docs/config.md, "Profiles"). */
enum pside { SIDE_BOTH, SIDE_CLIENT, SIDE_SERVER };

/* Which directives a block set: the balancer's (bits of the profile table) and the
 * stack's (config_stack.h). */
struct lb_conf_pset {
    uint32_t lb;
    uint64_t tcp;
};

/* Profiles (config_profile.c). A profile directive applied to p: 0, -1 with *e, or 1 when n
 * is not one; side is where it is written (SIDE_BOTH: a profile block). c says which
 * transport the stack-only directives need. */
int lb_conf_profile_directive(const struct lb_config *c, struct lb_config_error *e,
                              const struct node *n, struct lb_profile *p, struct lb_conf_pset *set,
                              int side);
/* dst = base, then every directive that `set` marks, from over. */
void lb_conf_profile_merge(struct lb_profile *dst, const struct lb_profile *base,
                           const struct lb_profile *over, struct lb_conf_pset set);

/* Text (without NUL bytes) into the top-level directives; 0, or -1 with *err. The nodes are
 * freed with lb_conf_free_nodes even on failure. */
int lb_conf_parse_tree(const char *text, size_t len, struct lb_config_error *err, struct node **top,
                       size_t *ntop);
void lb_conf_free_nodes(struct node *kids, size_t n);

/* The HTTP directives (config_http.c): 0 applied, 1 not one of them, -1 with *e. *first
 * gets the first http setting written (blamed when the block's mode does not take it). */
int lb_conf_http_frontend(struct lb_config_error *e, const struct node *d,
                          struct lb_frontend_conf *f, const struct arg **first);
int lb_conf_http_backend(struct lb_config_error *e, const struct node *d, struct lb_backend_conf *b,
                         const struct arg **first);
/* Frontend fi and its backend (named at backend_ref) speak the same mode: 0, or -1 with *e. */
int lb_conf_http_check(const struct lb_config *c, struct lb_config_error *e, size_t fi,
                       const struct arg *backend_ref);

/* `announce { table N; withdraw_delay D; device NAME; }` (config_announce.c): 0 or -1 with
 * *e. lb_conf_announce_check runs once the frontends are read. */
int lb_conf_announce(struct lb_config *c, struct lb_config_error *e, const struct node *n);
int lb_conf_announce_check(const struct lb_config *c, struct lb_config_error *e);
/* A list of address ranges (the directive's arguments): 0, or -1 with *e. */
int lb_conf_cidr_list(struct lb_config_error *e, const struct node *d, struct lb_cidr *out,
                      size_t *n);
/* `admin ADDR;` or `admin ADDR { token ...; allow ...; }` (config_admin.c). */
int lb_conf_admin(struct lb_config *c, struct lb_config_error *e, const struct node *n);

/* PROXY protocol (config_proxy.c): v1, v2 or off into *out; the directives as the http
 * ones (0 applied, 1 not one of them, -1 with *e). */
int lb_conf_proxy_version(struct lb_config_error *e, const struct arg *a, int *out);
int lb_conf_proxy_backend(struct lb_config_error *e, const struct node *d,
                          struct lb_backend_conf *b, int *seen);
int lb_conf_proxy_frontend(struct lb_config_error *e, const struct node *d,
                           struct lb_frontend_conf *f);
/* Once the frontend block n is read: accept_proxy_timeout needs accept_proxy (0, or -1). */
int lb_conf_proxy_frontend_check(struct lb_config_error *e, const struct node *n,
                                 const struct lb_frontend_conf *f);

/* The checks across objects, once every directive is read; may add warnings. */
int lb_conf_check(struct lb_config *c, struct lb_config_error *e);

#endif
