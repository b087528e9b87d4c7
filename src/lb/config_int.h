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

/* The checks across objects, once every directive is read; may add warnings. */
int lb_conf_check(struct lb_config *c, struct lb_config_error *e);

#endif
