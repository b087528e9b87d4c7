/* `log` and `log_format`: where the session and event log goes, and in which form
 * (docs/config.md, docs/lb.md "Log"). */
#include "lb/config_int.h"

#include <string.h>
#include <sys/un.h>

static const struct {
    const char *name;
    int code;
} facilities[] = {
    {"kern", 0},      {"user", 1},    {"mail", 2},    {"daemon", 3},  {"auth", 4},
    {"syslog", 5},    {"lpr", 6},     {"news", 7},    {"uucp", 8},    {"cron", 9},
    {"authpriv", 10}, {"ftp", 11},    {"local0", 16}, {"local1", 17}, {"local2", 18},
    {"local3", 19},   {"local4", 20}, {"local5", 21}, {"local6", 22}, {"local7", 23},
};

const char *lb_syslog_facility_name(int facility)
{
    for (size_t i = 0; i < sizeof facilities / sizeof facilities[0]; i++)
        if (facilities[i].code == facility)
            return facilities[i].name;
    return "?";
}

static int facility_code(const char *s)
{
    for (size_t i = 0; i < sizeof facilities / sizeof facilities[0]; i++)
        if (!strcmp(facilities[i].name, s))
            return facilities[i].code;
    return -1;
}

/* `log syslog [FACILITY] [/PATH | ADDRESS] [rfc3164 | rfc5424];`, in any order, each once. */
static int parse_syslog(struct lb_config *c, struct lb_config_error *e, const struct node *n)
{
    int have_fac = 0, have_dest = 0, have_rfc = 0;
    c->log_target = LB_LOG_SYSLOG;
    c->log_facility = 3; /* daemon: what syslog(3) says a daemon without its own should use */
    strcpy(c->log_path, "/dev/log");
    c->log_rfc = 0;
    for (size_t i = 1; i < n->nargs; i++) {
        const struct arg *a = &n->args[i];
        int code = facility_code(a->s);
        if (code >= 0) {
            if (have_fac++)
                return lb_conf_fail_at(e, a, "log syslog: a second facility '%s'", a->s);
            c->log_facility = code;
        } else if (!strcmp(a->s, "rfc3164") || !strcmp(a->s, "rfc5424")) {
            if (have_rfc++)
                return lb_conf_fail_at(e, a, "log syslog: a second format '%s'", a->s);
            c->log_rfc = a->s[3] == '3' ? 3164 : 5424;
        } else if (a->s[0] == '/' || strchr(a->s, ':')) {
            if (have_dest++)
                return lb_conf_fail_at(e, a, "log syslog: a second destination '%s'", a->s);
            if (a->s[0] == '/') {
                if (strlen(a->s) >= sizeof(((struct sockaddr_un *)0)->sun_path))
                    return lb_conf_fail_at(e, a, "log syslog: socket path '%s' is too long", a->s);
                strcpy(c->log_path, a->s);
            } else {
                if (lb_conf_arg_addr(e, a, &c->log_addr, &c->log_pos) < 0)
                    return -1;
                c->log_udp = 1;
            }
        } else {
            return lb_conf_fail_at(e, a,
                                   "log syslog takes a facility (daemon, user, local0 ... "
                                   "local7), a socket path or a UDP address, and rfc3164 or "
                                   "rfc5424; not '%s'",
                                   a->s);
        }
    }
    /* The local socket gets what syslog(3) sends (journald and rsyslog parse it); the network
     * the structured form every collector reads. */
    if (!c->log_rfc)
        c->log_rfc = c->log_udp ? 5424 : 3164;
    return 0;
}

int lb_conf_parse_log(struct lb_config *c, struct lb_config_error *e, const struct node *n)
{
    if (n->nargs >= 1 && !strcmp(n->args[0].s, "syslog")) {
        if (lb_conf_want_args(e, n, 1, 4) < 0)
            return -1;
        return parse_syslog(c, e, n);
    }
    if (lb_conf_want_args(e, n, 1, 1) < 0)
        return -1;
    const char *v = n->args[0].s;
    if (!strcmp(v, "stderr")) {
        c->log_target = LB_LOG_STDERR;
    } else if (!strcmp(v, "stdout")) {
        c->log_target = LB_LOG_STDOUT;
    } else if (!strcmp(v, "off")) {
        c->log_target = LB_LOG_OFF;
    } else if (v[0] == '/' && strlen(v) < sizeof c->log_path) {
        c->log_target = LB_LOG_FILE;
        strcpy(c->log_path, v);
        c->log_pos.line = n->args[0].line;
        c->log_pos.col = n->args[0].col;
    } else {
        return lb_conf_fail_at(e, &n->args[0],
                               "log takes stderr, stdout, off, an absolute path or syslog");
    }
    return 0;
}

int lb_conf_parse_log_format(struct lb_config *c, struct lb_config_error *e, const struct node *n)
{
    if (lb_conf_want_args(e, n, 1, 1) < 0)
        return -1;
    if (!strcmp(n->args[0].s, "kv"))
        c->log_format = LB_LOG_KV;
    else if (!strcmp(n->args[0].s, "json"))
        c->log_format = LB_LOG_JSON;
    else
        return lb_conf_fail_at(e, &n->args[0], "log_format takes kv or json, not '%s'",
                               n->args[0].s);
    return 0;
}
