#include "report.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

char *st_endpoint_str(char *buf, size_t size, int family, const uint8_t *addr, int port)
{
    char a[INET6_ADDRSTRLEN] = "";
    if (family == AF_INET || family == AF_INET6)
        inet_ntop(family, addr, a, sizeof a);
    char p[12];
    if (port < 0)
        snprintf(p, sizeof p, "*");
    else
        snprintf(p, sizeof p, "%d", port);
    snprintf(buf, size, family == AF_INET6 ? "[%s]:%s" : "%s:%s", a, p);
    return buf;
}

void st_print_hist(FILE *f, const struct st_hist *h)
{
    for (int s = 0; s < ST_NSTATES; s++)
        fprintf(f, "%-12s %10" PRIu64 "\n", st_state_name(s), h->n[s]);
}

static const char *const held_state[ST_HELD_N] = {"TIME_WAIT", "CLOSE_WAIT"};

static const char *const held_rule[ST_HELD_N] = {
    "TIME_WAIT sits on the side that closed first: this host sent the first FIN on each of "
    "these connections.",
    "CLOSE_WAIT means the peer closed and the local application has not called close(): a "
    "bug or a stall in the process owning the local port, not a sysctl.",
};

const char *st_held_name(enum st_held h)
{
    return held_state[h];
}

const char *st_held_rule(enum st_held h)
{
    return held_rule[h];
}

void st_print_wrapped(FILE *f, int indent, const char *label, const char *text)
{
    const int width = 96;
    const char *p = text;
    for (int first = 1; *p; first = 0) {
        while (*p == ' ')
            p++;
        /* Take as many words as fit; a single longer word goes on its own line. */
        const char *end = p, *brk = NULL;
        while (*end && end - p <= width - indent) {
            if (*end == ' ')
                brk = end;
            end++;
        }
        if (*end && brk)
            end = brk;
        fprintf(f, "%-*s%.*s\n", indent, first && label ? label : "", (int)(end - p), p);
        p = end;
    }
}

void st_peer_label(char *buf, size_t size, const struct st_key *k, int remote)
{
    if (remote)
        st_endpoint_str(buf, size, k->family, k->addr, k->kind == ST_IN ? -1 : k->port);
    else if (k->kind == ST_IN)
        snprintf(buf, size, ":%u", k->port);
    else
        snprintf(buf, size, "ephemeral ports");
}

const char *st_peer_note(const struct st_key *k, int remote)
{
    if (k->kind == ST_OUT)
        return "outgoing";
    return remote ? "incoming (client address, any port)" : "incoming (listening port)";
}

static void print_table(FILE *f, const char *title, const struct st_topk *t, unsigned top,
                        int remote)
{
    struct st_topk_row *rows = calloc(top, sizeof *rows);
    if (!rows) {
        fprintf(f, "  %s: out of memory\n", title);
        return;
    }
    size_t n = st_topk_top(t, rows, top);
    fprintf(f, "  %-44s %10s  %s\n", title, "sockets", "direction");
    uint64_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        char label[80];
        st_peer_label(label, sizeof label, &rows[i].key, remote);
        fprintf(f, "  %-44s %10" PRIu64 "  %s\n", label, rows[i].count,
                st_peer_note(&rows[i].key, remote));
        if (rows[i].error > worst)
            worst = rows[i].error;
    }
    if (st_topk_distinct(t) > n)
        fprintf(f, "  (%u more rows; --top N shows more)\n", (unsigned)(st_topk_distinct(t) - n));
    if (!st_topk_exact(t))
        fprintf(f,
                "  (too many distinct keys to count exactly: each count above may be too high "
                "by at most %" PRIu64 ")\n",
                worst);
    free(rows);
}

void st_print_peers(FILE *f, const struct st_collect *c, unsigned top)
{
    for (int h = 0; h < ST_HELD_N; h++) {
        uint64_t in = h == ST_HELD_TW ? c->tw_in : c->cw_in;
        uint64_t out = h == ST_HELD_TW ? c->tw_out : c->cw_out;
        if (h)
            fputc('\n', f);
        fprintf(f, "%s: %" PRIu64 " socket%s (%" PRIu64 " outgoing, %" PRIu64 " incoming)\n",
                held_state[h], in + out, in + out == 1 ? "" : "s", out, in);
        st_print_wrapped(f, 0, NULL, held_rule[h]);
        if (in + out == 0)
            continue;
        print_table(f, "remote endpoint", c->peers->remote[h], top, 1);
        print_table(f, "local port", c->peers->local[h], top, 0);
    }
    fputc('\n', f);
    st_print_wrapped(f, 0, NULL,
                     "outgoing: connections this host opened (it is the client; its local port "
                     "is ephemeral). incoming: connections it accepted on a listening port (it "
                     "is the server; the client's port is shown as *).");
}

void st_json_header(struct st_json *j, const struct st_opts *o, const char *source)
{
    st_json_u64(j, "version", 1);
    st_json_string(j, "source", source);
    st_json_string(j, "netns", o->netns);
    st_json_object(j, "filter");
    if (o->port)
        st_json_u64(j, "port", o->port);
    else
        st_json_string(j, "port", NULL);
    st_json_string(j, "local", o->local_arg);
    st_json_string(j, "remote", o->remote_arg);
    st_json_end(j, '}');
}

void st_json_hist(struct st_json *j, const char *key, const struct st_hist *h)
{
    st_json_object(j, key);
    for (int s = 0; s < ST_NSTATES; s++)
        st_json_u64(j, st_state_name(s), h->n[s]);
    st_json_end(j, '}');
}

static void json_rows(struct st_json *j, const char *key, const struct st_topk *t, unsigned top,
                      int remote)
{
    struct st_topk_row *rows = calloc(top, sizeof *rows);
    size_t n = rows ? st_topk_top(t, rows, top) : 0;
    st_json_array(j, key);
    for (size_t i = 0; i < n; i++) {
        const struct st_key *k = &rows[i].key;
        char label[80];
        st_json_object(j, NULL);
        if (remote) {
            st_peer_label(label, sizeof label, k, 1);
            char a[INET6_ADDRSTRLEN] = "";
            inet_ntop(k->family, k->addr, a, sizeof a);
            st_json_string(j, "endpoint", label);
            st_json_string(j, "address", a);
        }
        if (k->kind == ST_IN && !remote)
            st_json_u64(j, "port", k->port);
        else if (k->kind == ST_OUT && remote)
            st_json_u64(j, "port", k->port);
        else
            st_json_string(j, "port", NULL);
        st_json_string(j, "direction", k->kind == ST_IN ? "incoming" : "outgoing");
        st_json_u64(j, "count", rows[i].count);
        st_json_u64(j, "error", rows[i].error);
        st_json_end(j, '}');
    }
    st_json_end(j, ']');
    free(rows);
}

void st_json_peers(struct st_json *j, const struct st_collect *c, unsigned top)
{
    st_json_object(j, "by_peer");
    for (int h = 0; h < ST_HELD_N; h++) {
        uint64_t in = h == ST_HELD_TW ? c->tw_in : c->cw_in;
        uint64_t out = h == ST_HELD_TW ? c->tw_out : c->cw_out;
        st_json_object(j, held_state[h]);
        st_json_u64(j, "count", in + out);
        st_json_u64(j, "outgoing", out);
        st_json_u64(j, "incoming", in);
        st_json_string(j, "rule", held_rule[h]);
        st_json_bool(j, "exact", st_topk_exact(c->peers->remote[h]));
        json_rows(j, "by_remote", c->peers->remote[h], top, 1);
        json_rows(j, "by_local_port", c->peers->local[h], top, 0);
        st_json_end(j, '}');
    }
    st_json_end(j, '}');
}

void st_dump_error_text(int rc, const char *netns, char *buf, size_t size)
{
    const char *where = netns ? " in network namespace " : "";
    const char *name = netns ? netns : "";
    switch (-rc) {
    case EPROTONOSUPPORT:
    case ENOENT:
    case EAFNOSUPPORT:
        snprintf(buf, size,
                 "this kernel answers no TCP sock_diag requests%s%s (%s): it needs "
                 "CONFIG_INET_DIAG and the tcp_diag module",
                 where, name, strerror(-rc));
        break;
    case EPERM:
    case EACCES:
        snprintf(buf, size, "not allowed to read the TCP socket table%s%s: %s", where, name,
                 strerror(-rc));
        break;
    case EINVAL:
        snprintf(buf, size,
                 "the kernel rejected the sock_diag request (%s): its filter bytecode may be "
                 "newer than this kernel",
                 strerror(-rc));
        break;
    default:
        snprintf(buf, size, "reading the TCP socket table through sock_diag failed: %s",
                 strerror(-rc));
    }
}

void st_report_dump_error(int rc, const char *netns)
{
    char msg[400];
    st_dump_error_text(rc, netns, msg, sizeof msg);
    fprintf(stderr, "synfin-stat: %s\n", msg);
}

void st_report_netns_error(int rc, const char *netns)
{
    switch (-rc) {
    case ENOENT:
        fprintf(stderr,
                "synfin-stat: no network namespace '%s' (%s%s does not exist; 'ip netns list' "
                "shows the names)\n",
                netns, netns[0] == '/' ? "" : "/run/netns/", netns);
        break;
    case EPERM:
        fprintf(stderr,
                "synfin-stat: no permission to enter network namespace '%s': that needs "
                "CAP_SYS_ADMIN (run it as root)\n",
                netns);
        break;
    case EACCES:
        fprintf(stderr, "synfin-stat: cannot open network namespace '%s': %s\n", netns,
                strerror(-rc));
        break;
    case EINVAL: fprintf(stderr, "synfin-stat: '%s' is not a network namespace\n", netns); break;
    default:
        fprintf(stderr, "synfin-stat: cannot enter network namespace '%s': %s\n", netns,
                strerror(-rc));
    }
}
