/* The event loop of a script run.
 *
 * Two hosts on the simulated network: the engine at local_ip and the script at remote_ip,
 * joined by a perfect link with no delay. Script time 0 is virtual time 0. Events run in
 * order: an inbound packet is injected at its time, a system call is made at its time, an
 * outbound line waits for the engine's next packet. Between events the sim runs the engine's
 * timers. The packets the engine sends wait, in order, for the outbound lines that follow; one
 * that no line takes within the tolerance of its time fails the script, and so does a
 * blocking call that does not return when the script says.
 */
#include "runner.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "shell.h"
#include "wire.h"

#define WAIT_FOR_ANY SF_SEC(86400) /* how long "*" waits for a packet */

/* ---- messages ---------------------------------------------------------------------------- */

int dr_fail(struct runner *r, const struct dr_event *ev, const char *fmt, ...)
{
    if (r->failed)
        return -1; /* the first failure is the one to report */
    r->failed = 1;
    struct dr_text t;
    dr_text_init(&t, r->msg, r->msglen);
    if (ev)
        dr_text_add(&t, "%s:%d: ", r->s->path, ev->pos.line);
    else
        dr_text_add(&t, "%s: ", r->s->path);
    va_list ap;
    va_start(ap, fmt);
    char body[2048];
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    dr_text_add(&t, "%s", body);
    return -1;
}

int dr_unsupported(struct runner *r, const struct dr_event *ev, const char *fmt, ...)
{
    if (r->failed)
        return -1;
    char body[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    dr_fail(r, ev, "unsupported: %s", body);
    r->unsupported = 1;
    return -1;
}

sf_time_t dr_now(const struct runner *r)
{
    return sf_sim_now(r->sim);
}

double dr_secs(sf_time_t t)
{
    return (double)t / 1e6;
}

void dr_touched(struct runner *r)
{
    sf_sim_host_touch(r->sim, r->eh);
}

__attribute__((format(printf, 2, 3))) static void vlog(struct runner *r, const char *fmt, ...)
{
    if (!r->set->verbose || !r->set->log)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(r->set->log, fmt, ap);
    va_end(ap);
}

static const char *packet_text(const struct dr_packet *p, char *buf, size_t len)
{
    struct dr_text t;
    dr_text_init(&t, buf, len);
    dr_format_packet(&t, p);
    return buf;
}

static const char *action_text(const struct dr_event *ev, char *buf, size_t len)
{
    struct dr_text t;
    dr_text_init(&t, buf, len);
    dr_format_action(&t, ev);
    return buf;
}

/* ---- flows: the script's view of each 4-tuple -------------------------------------------- */

static struct dr_flow *flow_get(struct runner *r, uint16_t lport, uint16_t rport)
{
    for (size_t i = 0; i < r->nflows; i++)
        if (r->flows[i].lport == lport && r->flows[i].rport == rport)
            return &r->flows[i];
    if (r->nflows == r->flows_cap) {
        size_t cap = r->flows_cap ? r->flows_cap * 2 : 8;
        struct dr_flow *v = realloc(r->flows, cap * sizeof *v);
        if (!v)
            return NULL;
        r->flows = v;
        r->flows_cap = cap;
    }
    struct dr_flow *f = &r->flows[r->nflows++];
    memset(f, 0, sizeof *f);
    f->lport = lport;
    f->rport = rport;
    f->remote_isn = r->remote_isn;
    return f;
}

/* The engine's TS val that the script's TS val stands for: the one it was seen as on an
 * outbound line, else by the offset of the first one seen (as packetdrill does). */
static uint32_t ts_ecr_live(const struct dr_flow *f, uint32_t script_ecr)
{
    for (size_t i = f->nts; i-- > 0;)
        if (f->ts_script[i % DR_TS_MAP] == script_ecr)
            return f->ts_actual[i % DR_TS_MAP];
    if (f->ts_known)
        return script_ecr - f->first_script_ts + f->first_actual_ts;
    return script_ecr;
}

static void ts_learn(struct dr_flow *f, uint32_t script_val, uint32_t actual_val)
{
    if (!f->ts_known) {
        f->ts_known = 1;
        f->first_script_ts = script_val;
        f->first_actual_ts = actual_val;
    }
    f->ts_script[f->nts % DR_TS_MAP] = script_val;
    f->ts_actual[f->nts % DR_TS_MAP] = actual_val;
    f->nts++;
}

/* ---- the two hosts ----------------------------------------------------------------------- */

static void engine_output(void *ctx, const void *pkt, size_t len)
{
    struct runner *r = ctx;
    int rc = sf_sim_send(r->sim, r->eh, pkt, len);
    if (rc == -EHOSTUNREACH || rc == -EINVAL) {
        char dst[SF_ENDPOINT_STRLEN] = "?";
        if (len >= 20) {
            const uint8_t *b = pkt;
            snprintf(dst, sizeof dst, "%u.%u.%u.%u", b[16], b[17], b[18], b[19]);
        }
        dr_fail(r, NULL,
                "the engine sent a packet to %s, which is not the script's address "
                "(at %.6f)",
                dst, dr_secs(dr_now(r)));
    } else if (rc < 0) {
        dr_fail(r, NULL, "the simulator could not take a packet: %s", strerror(-rc));
    }
}

static void engine_transition(void *ctx, const struct sf_transition *t)
{
    struct runner *r = ctx;
    char l[SF_ENDPOINT_STRLEN], rem[SF_ENDPOINT_STRLEN];
    vlog(r, "%.6f   %s > %s %s -> %s (%s)\n", dr_secs(t->when),
         sf_endpoint_str(&t->local, l, sizeof l), sf_endpoint_str(&t->remote, rem, sizeof rem),
         sf_state_name(t->from), sf_state_name(t->to), sf_cause_name(t->cause));
    if (!t->remote.port) { /* a listener */
        uint8_t bit = (uint8_t)(1u << (t->local.port % 8));
        if (t->to == SF_LISTEN)
            r->listening[t->local.port / 8] |= bit;
        else
            r->listening[t->local.port / 8] &= (uint8_t)~bit;
        return;
    }
    /* which 4-tuples have a connection: a SYN to one without starts a new one (inject) */
    for (size_t i = 0; i < r->nflows; i++) {
        struct dr_flow *f = &r->flows[i];
        if (f->lport == t->local.port && f->rport == t->remote.port)
            f->state = (int)t->to;
    }
}

static void engine_deliver(void *ctx, const void *pkt, size_t len, sf_time_t now)
{
    struct runner *r = ctx;
    int rc = sf_engine_input(r->eng, pkt, len, now);
    if (rc < 0)
        vlog(r, "%.6f   the engine dropped the packet: %s\n", dr_secs(now), strerror(-rc));
}

static void engine_advance(void *ctx, sf_time_t now)
{
    struct runner *r = ctx;
    sf_engine_advance(r->eng, now);
}

static sf_time_t engine_deadline(void *ctx)
{
    const struct runner *r = ctx;
    return sf_engine_next_deadline(r->eng);
}

/* The engine sent a packet: decode it now, in order, so that ISNs are learned from SYNs
 * before the packets that follow them are made relative. */
static void script_deliver(void *ctx, const void *pkt, size_t len, sf_time_t now)
{
    struct runner *r = ctx;
    if (r->out_n == r->out_cap) {
        size_t cap = r->out_cap ? r->out_cap * 2 : 16;
        struct dr_out *v = malloc(cap * sizeof *v);
        if (!v) {
            dr_fail(r, NULL, "out of memory");
            return;
        }
        for (size_t i = 0; i < r->out_n; i++)
            v[i] = r->outq[(r->out_head + i) % r->out_cap];
        free(r->outq);
        r->outq = v;
        r->out_cap = cap;
        r->out_head = 0;
    }
    struct dr_out *o = &r->outq[(r->out_head + r->out_n) % r->out_cap];
    memset(o, 0, sizeof *o);
    o->t = now;
    struct dr_ip4 ip;
    if (dr_wire_parse(pkt, len, &ip, &o->pkt, o->err, sizeof o->err) < 0) {
        o->bad = 1;
    } else {
        struct dr_packet *p = &o->pkt;
        struct dr_flow *f = flow_get(r, p->sport, p->dport);
        if (!f) {
            dr_fail(r, NULL, "out of memory");
            return;
        }
        if (p->flags & DR_SYN) {
            f->isn_known = 1;
            f->engine_isn = p->seq;
            if (!(p->flags & DR_ACK)) {
                r->def_flow = (size_t)(f - r->flows);
                /* its connect() went to SYN_SENT before this flow existed to hear of it */
                f->state = SF_SYN_SENT;
            }
        }
        o->flow = (size_t)(f - r->flows);
        p->seq -= f->engine_isn;
        /* packetdrill: the ack of a SYN-ACK is as on the wire (less --remote_isn), later ones
         * count from the script's SYN */
        uint32_t rbase = (p->flags & DR_SYN) ? r->remote_isn : f->remote_isn;
        if (p->has_ack)
            p->ack -= rbase;
        for (size_t i = 0; i < p->nopts; i++)
            for (unsigned k = 0; p->opts[i].kind == DR_OPT_SACK && k < p->opts[i].nsack; k++) {
                p->opts[i].sack[k][0] -= rbase;
                p->opts[i].sack[k][1] -= rbase;
            }
        p->has_ports = 1;
        char b[1024];
        vlog(r, "%.6f %s\n", dr_secs(now), packet_text(p, b, sizeof b));
    }
    r->out_n++;
    r->out_total++;
}

/* ---- settings ---------------------------------------------------------------------------- */

static int option_error(struct runner *r, const struct dr_option *o, int from_cli, const char *what)
{
    if (from_cli)
        return dr_fail(r, NULL, "command line: --%s: %s", o->name, what);
    r->failed = 1;
    snprintf(r->msg, r->msglen, "%s:%d:%d: --%s: %s", r->s->path, o->pos.line, o->pos.col, o->name,
             what);
    return -1;
}

static int number(const char *v, uint64_t max, uint64_t *out)
{
    if (!v || !*v || *v == '-')
        return -1;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 0);
    if (errno || *end || n > max)
        return -1;
    *out = n;
    return 0;
}

static int apply_option(struct runner *r, const struct dr_option *o, int from_cli)
{
    const char *v = o->value;
    uint64_t n;
    char err[256];
    if (!strcmp(o->name, "tolerance_usecs")) {
        if (number(v, 3600000000u, &n) < 0)
            return option_error(r, o, from_cli, "expected microseconds");
        r->tolerance = n;
    } else if (!strcmp(o->name, "local_ip") || !strcmp(o->name, "remote_ip")) {
        struct sf_addr a;
        if (!v || sf_addr_parse(v, &a) < 0)
            return option_error(r, o, from_cli, "expected an IPv4 or IPv6 address");
        if (o->name[0] == 'l')
            r->local = a, r->local_set = 1;
        else
            r->remote = a, r->remote_set = 1;
    } else if (!strcmp(o->name, "bind_port") || !strcmp(o->name, "connect_port") ||
               !strcmp(o->name, "remote_port")) {
        if (number(v, 65535, &n) < 0 || n == 0)
            return option_error(r, o, from_cli, "expected a port (1-65535)");
        if (o->name[0] == 'b')
            r->bind_port = (uint16_t)n;
        else if (o->name[0] == 'c')
            r->connect_port = (uint16_t)n;
        else
            r->remote_port = (uint16_t)n;
    } else if (!strcmp(o->name, "remote_isn")) {
        if (number(v, UINT32_MAX, &n) < 0)
            return option_error(r, o, from_cli, "expected a 32-bit sequence number");
        r->remote_isn = (uint32_t)n;
    } else if (!strcmp(o->name, "seed")) {
        if (number(v, UINT64_MAX, &n) < 0)
            return option_error(r, o, from_cli, "expected a number");
        r->seed = n;
    } else if (!strcmp(o->name, "mtu")) {
        /* the link's MTU sets the MSS the engine offers: the mss setting is for IPv4's 40
         * bytes of headers (IPv6 takes 20 more) */
        char mss[16];
        if (number(v, 65535, &n) < 0 || n < 128)
            return option_error(r, o, from_cli, "expected an MTU (128-65535)");
        snprintf(mss, sizeof mss, "%u", (unsigned)n - 40);
        if (sf_tcp_config_set(&r->cfg, "mss", mss, err, sizeof err) < 0)
            return option_error(r, o, from_cli, err);
    } else if (!strcmp(o->name, "gateway_ip") || !strcmp(o->name, "netmask_ip")) {
        /* packetdrill's TUN routing: the simulated link needs none */
    } else if (!strcmp(o->name, "gso")) {
        if (v && number(v, 1, &n) < 0)
            return option_error(r, o, from_cli, "expected 0 or 1");
        r->gso = v ? (int)n : 1;
    } else if (!strcmp(o->name, "strict_end")) {
        if (v && number(v, 1, &n) < 0)
            return option_error(r, o, from_cli, "expected 0 or 1");
        r->strict_end = v ? (int)n : 1;
    } else if (!strcmp(o->name, "ip_version")) {
        if (v && !strcmp(v, "ipv4"))
            r->ip_version = 4;
        else if (v && !strcmp(v, "ipv6"))
            r->ip_version = 6;
        else if (v && !strcmp(v, "ipv4-mapped-ipv6"))
            r->ip_version = 46;
        else
            return option_error(r, o, from_cli, "expected ipv4, ipv6 or ipv4-mapped-ipv6");
    } else {
        int rc = sf_tcp_config_set(&r->cfg, o->name, v ? v : "1", err, sizeof err);
        if (rc == -ENOENT && from_cli)
            return option_error(r, o, from_cli, "unknown option");
        if (rc == -ENOENT) { /* packetdrill's (--mtu, --tcp_ts_tick_usecs, ...) or a typo */
            option_error(r, o, from_cli, "unsupported: unknown option");
            r->unsupported = 1;
            return -1;
        }
        if (rc < 0)
            return option_error(r, o, from_cli, err);
    }
    return 0;
}

static int apply_shell(struct runner *r, const struct dr_event *ev, struct sf_tcp_config *cfg)
{
    char dir[1024], why[512];
    const char *slash = strrchr(r->s->path, '/');
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - r->s->path), r->s->path);
    else
        snprintf(dir, sizeof dir, ".");
    if (dr_shell_apply(ev->text, dir, cfg, why, sizeof why))
        return dr_unsupported(r, ev, "%s", why);
    return 0;
}

static int configure(struct runner *r)
{
    r->tolerance = 4000;
    r->local = sf_addr_v4(192, 168, 0, 1);
    r->remote = sf_addr_v4(192, 0, 2, 1);
    r->bind_port = 8080;
    r->connect_port = 8080;
    r->remote_port = 49152;
    r->seed = 1;
    r->gso = 1;
    r->ip_version = 4;
    sf_tcp_config_defaults(&r->cfg);
    for (size_t i = 0; i < r->set->nopts; i++)
        if (apply_option(r, &r->set->opts[i], 1) < 0)
            return -1;
    for (size_t i = 0; i < r->s->nopts; i++)
        if (apply_option(r, &r->s->opts[i], 0) < 0)
            return -1;
    /* Shell lines before the first packet or call set up the engine (the defaults.sh and
     * sysctl lines scripts start with); later ones may not change it (run_event). */
    for (size_t i = 0; i < r->s->nevents && r->s->events[i].kind == DR_EV_SHELL; i++)
        if (apply_shell(r, &r->s->events[i], &r->cfg) < 0)
            return -1;
    /* packetdrill's IPv6 addresses: a unique local one for the stack (RFC 4193), the
     * documentation prefix for the script's side (RFC 3849) */
    if (r->ip_version == 6) {
        if (!r->local_set)
            sf_addr_parse("fd3d:fa7b:d17d::1", &r->local);
        if (!r->remote_set)
            sf_addr_parse("2001:db8::1", &r->remote);
    }
    if (r->local.family != r->remote.family ||
        (r->local.family == SF_AF_INET6) != (r->ip_version == 6))
        return dr_fail(r, NULL, "local_ip and remote_ip must both be of the --ip_version family");
    char err[256];
    if (sf_tcp_config_check(&r->cfg, err, sizeof err) < 0) {
        const struct dr_option *o = r->s->nopts ? &r->s->opts[0] : NULL;
        if (o) {
            r->failed = 1;
            snprintf(r->msg, r->msglen, "%s:%d: invalid engine configuration: %s", r->s->path,
                     o->pos.line, err);
            return -1;
        }
        return dr_fail(r, NULL, "invalid engine configuration: %s", err);
    }
    if (sf_addr_equal(&r->local, &r->remote))
        return dr_fail(r, NULL, "local_ip and remote_ip are the same address");
    return 0;
}

static int build_world(struct runner *r)
{
    r->sim = sf_sim_new(r->seed);
    if (!r->sim)
        return dr_fail(r, NULL, "out of memory");
    if (r->set->pcap)
        sf_sim_set_capture(r->sim, r->set->pcap, NULL);
    static const struct sf_sim_host_ops engine_ops = {engine_deliver, engine_advance,
                                                      engine_deadline};
    static const struct sf_sim_host_ops script_ops = {script_deliver, NULL, NULL};
    /* with IPv6 the hosts keep IPv4 addresses of their own, unused */
    int v6 = r->ip_version == 6;
    static const uint8_t v4_local[4] = {192, 168, 0, 1}, v4_remote[4] = {192, 0, 2, 1};
    r->eh = sf_sim_host_add(r->sim, v6 ? v4_local : r->local.u.v4, &engine_ops, r);
    r->sh = sf_sim_host_add(r->sim, v6 ? v4_remote : r->remote.u.v4, &script_ops, r);
    if (!r->eh || !r->sh)
        return dr_fail(r, NULL, "cannot add the hosts to the simulator: %s", strerror(errno));
    if (v6 && (sf_sim_host_add_addr6(r->sim, r->eh, r->local.u.v6) < 0 ||
               sf_sim_host_add_addr6(r->sim, r->sh, r->remote.u.v6) < 0))
        return dr_fail(r, NULL, "cannot give the hosts their IPv6 addresses");
    struct sf_engine_params p;
    memset(&p, 0, sizeof p);
    p.config = &r->cfg;
    p.ops.output = engine_output;
    p.ops.transition = engine_transition;
    p.ctx = r;
    uint64_t x = r->seed;
    for (size_t i = 0; i < sizeof p.key; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        p.key[i] = (uint8_t)(x >> 56);
    }
    if (v6)
        p.local_addr6 = r->local;
    else
        p.local_addr = r->local;
    p.now = 0;
    r->eng = sf_engine_new(&p);
    if (!r->eng)
        return dr_fail(r, NULL, "the engine refused its configuration or ran out of memory");
    struct dr_flow *f = flow_get(r, r->bind_port, r->remote_port);
    if (!f)
        return dr_fail(r, NULL, "out of memory");
    r->def_flow = 0;
    return 0;
}

/* ---- waiting ------------------------------------------------------------------------------ */

enum wait_mode {
    QUIET,   /* until an inbound packet or a call: packets wait for the outbound lines after
                it, but one the script leaves waiting beyond the tolerance was not expected */
    END,     /* after the last event: any packet is unexpected */
    WANT,    /* stop at the first packet */
    COLLECT, /* packets wait for the next outbound line, however long */
};

struct wait {
    struct runner *r;
    enum wait_mode mode;
    uint64_t seen; /* packets received when the run started */
};

/* The latest time a blocking call in progress may return. */
static sf_time_t call_deadline(const struct runner *r)
{
    return r->call.end + r->tolerance;
}

/* Retries the call in progress; once it returns, checks it against the script. */
static void retry_call(struct runner *r)
{
    int rc = dr_call_attempt(r, &r->call);
    if (rc == DR_CALL_BLOCKED)
        return;
    r->pending = 0;
    if (rc == DR_CALL_DONE)
        dr_call_check(r, &r->call);
}

static int wait_pred(void *ctx)
{
    struct wait *w = ctx;
    struct runner *r = w->r;
    if (!r->failed && r->pending)
        retry_call(r);
    if (r->failed)
        return 1;
    if (w->mode == WANT)
        return r->out_n > 0;
    return w->mode != COLLECT && r->out_total != w->seen;
}

/* The oldest packet no outbound line has taken is past waiting for one. */
static int stale(const struct runner *r, enum wait_mode mode)
{
    if (!r->out_n || mode == WANT || mode == COLLECT)
        return 0;
    return mode == END || r->outq[r->out_head].t + r->tolerance < dr_now(r);
}

static int unexpected(struct runner *r, const struct dr_event *next)
{
    const struct dr_out *o = &r->outq[r->out_head];
    char a[1024], b[1024];
    const char *actual = o->bad ? o->err : packet_text(&o->pkt, a, sizeof a);
    if (next)
        return dr_fail(r, next,
                       "expected: no packet before this event (%s) / actual: %s at time %.6f",
                       action_text(next, b, sizeof b), actual, dr_secs(o->t));
    return dr_fail(r, r->s->nevents ? &r->s->events[r->s->nevents - 1] : NULL,
                   "expected: no more packets after the last event / actual: %s at time %.6f",
                   actual, dr_secs(o->t));
}

/* Runs the sim until target (or, with until_return, until the blocking call in progress
 * returns). Returns 1 when a packet arrived (WANT), 0 at target, -1 when the script failed
 * (an unexpected packet, a blocking call that returned wrong or late). */
static int advance(struct runner *r, const struct dr_event *ev, sf_time_t target,
                   enum wait_mode mode, int until_return)
{
    struct wait w = {r, mode, 0};
    for (;;) {
        if (stale(r, mode))
            return unexpected(r, ev);
        if (until_return && !r->pending)
            return 0;
        sf_time_t limit = target;
        if (r->pending) {
            if (call_deadline(r) < limit)
                limit = call_deadline(r);
            if (r->call.wake < limit)
                limit = r->call.wake;
        }
        /* stop where a waiting packet goes stale, to report it at once */
        if (mode == QUIET && r->out_n && r->outq[r->out_head].t + r->tolerance + 1 < limit)
            limit = r->outq[r->out_head].t + r->tolerance + 1;
        w.seen = r->out_total;
        int hit = sf_sim_run_until_pred(r->sim, limit, wait_pred, &w);
        if (r->failed)
            return -1;
        if (hit && mode == WANT && r->out_n)
            return 1;
        if (hit)
            continue; /* a packet arrived or a blocking call returned: look again */
        if (r->pending) {
            retry_call(r); /* at the limit itself */
            if (r->failed)
                return -1;
            if (r->pending && dr_now(r) >= call_deadline(r)) {
                char b[1024];
                const struct dr_event *cev = r->call.ev;
                return dr_fail(r, cev,
                               "%s: the call was expected to return at %.6f; it still blocks "
                               "at %.6f (tolerance %.6f)",
                               action_text(cev, b, sizeof b), dr_secs(r->call.end),
                               dr_secs(dr_now(r)), dr_secs(r->tolerance));
            }
            if (mode == WANT && r->out_n)
                return 1;
        }
        if (dr_now(r) >= target)
            return stale(r, mode) ? unexpected(r, ev) : 0;
    }
}

static int advance_to(struct runner *r, const struct dr_event *ev, sf_time_t target,
                      enum wait_mode mode)
{
    return advance(r, ev, target, mode, 0);
}

/* Waits for the blocking call in progress to return (by its deadline at the latest). */
static int await_call(struct runner *r, const struct dr_event *ev)
{
    if (!r->pending)
        return 0;
    if (advance(r, ev, call_deadline(r), QUIET, 1) < 0)
        return -1;
    return r->pending ? -1 : 0;
}

/* ---- events ----------------------------------------------------------------------------- */

static int is_inbound(const struct dr_event *ev)
{
    return ev && ev->kind == DR_EV_PACKET && ev->pkt.dir == '<';
}

/* The window [start, end] in which the event is due. Relative times count from the moment
 * the previous event happened, except that back-to-back inbound packets count from the
 * previous one's script time, as packetdrill does. */
static void event_window(struct runner *r, const struct dr_event *ev, const struct dr_event *prev,
                         sf_time_t prev_time, sf_time_t *start, sf_time_t *end)
{
    sf_time_t base = is_inbound(prev) && is_inbound(ev) ? prev_time : dr_now(r);
    const struct dr_time *t = &ev->time;
    *start = *end = dr_now(r);
    switch (t->kind) {
    case DR_TIME_ABS: *start = *end = (sf_time_t)t->start; break;
    case DR_TIME_ABS_RANGE:
        *start = (sf_time_t)t->start;
        *end = (sf_time_t)t->end;
        break;
    case DR_TIME_REL: *start = *end = base + (sf_time_t)t->start; break;
    case DR_TIME_REL_RANGE:
        *start = base + (sf_time_t)t->start;
        *end = base + (sf_time_t)t->end;
        break;
    case DR_TIME_ANY:
        *start = dr_now(r);
        *end = SF_TIME_NEVER;
        break;
    }
}

/* Moves to an inbound packet's or a call's time; it may not be late beyond tolerance. */
static int reach(struct runner *r, const struct dr_event *ev, sf_time_t start)
{
    if (dr_now(r) > start + r->tolerance)
        return dr_fail(r, ev,
                       "timing error: expected %s at %.6f but the script got there at "
                       "%.6f (tolerance %.6f)",
                       ev->kind == DR_EV_PACKET ? "inbound packet" : "system call start",
                       dr_secs(start), dr_secs(dr_now(r)), dr_secs(r->tolerance));
    return advance_to(r, ev, start, QUIET) < 0 ? -1 : 0;
}

/* A named Fast Open cookie (packetdrill's TFO_COOKIE) is the one the engine's key gives the
 * script's address, as run_all.py's -D TFO_COOKIE is the one Linux's key gives its own. */
static void fo_resolve(const struct runner *r, struct dr_packet *p)
{
    for (size_t i = 0; i < p->nopts; i++) {
        struct dr_tcp_opt *o = &p->opts[i];
        if ((o->kind == DR_OPT_FO || o->kind == DR_OPT_FOEXP) && o->fo_named) {
            sf_fastopen_cookie(r->eng, &r->remote, &r->local, o->fo);
            o->fo_named = 0;
        }
    }
}

static int inject(struct runner *r, const struct dr_event *ev)
{
    struct dr_packet p = ev->pkt;
    fo_resolve(r, &p);
    struct dr_flow *f;
    if (p.has_ports)
        f = flow_get(r, p.dport, p.sport);
    else
        f = &r->flows[r->def_flow];
    if (!f)
        return dr_fail(r, ev, "out of memory");
    p.sport = f->rport;
    p.dport = f->lport;
    uint32_t ack_base = f->isn_known ? f->engine_isn : 0;
    /* packetdrill: a SYN's seq is as written (plus --remote_isn) and becomes the flow's ISN;
     * later segments count from it */
    if (p.flags & DR_SYN) {
        p.seq += r->remote_isn;
        /* as packetdrill, which makes a new socket for a SYN to a listener */
        int none = (f->state == SF_CLOSED || f->state == SF_TIME_WAIT) &&
                   (r->listening[f->lport / 8] & (1u << (f->lport % 8)));
        if (!(p.flags & DR_ACK) ? none : f->state == SF_SYN_SENT)
            f->remote_isn = p.seq; /* a new connection (packetdrill: a new socket) */
    } else {
        p.seq += f->remote_isn;
    }
    p.ack += ack_base;
    for (size_t i = 0; i < p.nopts; i++) {
        struct dr_tcp_opt *o = &p.opts[i];
        for (unsigned k = 0; o->kind == DR_OPT_SACK && k < o->nsack; k++) {
            o->sack[k][0] += ack_base;
            o->sack[k][1] += ack_base;
        }
        if (o->kind == DR_OPT_TS && (p.flags & DR_ACK))
            o->b = ts_ecr_live(f, o->b);
    }
    struct dr_ip4 ip;
    memset(&ip, 0, sizeof ip);
    ip.v6 = r->ip_version == 6;
    if (ip.v6) {
        memcpy(ip.src6, r->remote.u.v6, 16);
        memcpy(ip.dst6, r->local.u.v6, 16);
    } else {
        memcpy(ip.src, r->remote.u.v4, 4);
        memcpy(ip.dst, r->local.u.v4, 4);
    }
    static uint8_t buf[DR_MAX_PACKET];
    size_t len = dr_wire_build(buf, sizeof buf, &ip, r->ip_id++, &p);
    if (!len)
        return dr_fail(r, ev, "the packet does not fit (TCP options over 40 bytes?)");
    char b[1024];
    struct dr_packet shown = ev->pkt;
    shown.has_ports = 1;
    shown.sport = f->rport;
    shown.dport = f->lport;
    vlog(r, "%.6f %s\n", dr_secs(dr_now(r)), packet_text(&shown, b, sizeof b));
    int rc = sf_sim_send(r->sim, r->sh, buf, len);
    if (rc < 0)
        return dr_fail(r, ev, "the simulator could not take the packet: %s", strerror(-rc));
    /* deliver it now, so the engine's answer is there for the next line */
    return advance_to(r, ev, dr_now(r), COLLECT) < 0 ? -1 : 0;
}

/* Compares an emitted packet (relative numbers) with the script line; on a difference writes
 * which field differs. */
static int packet_matches(const struct dr_packet *want, const struct dr_packet *got, char *why,
                          size_t len)
{
    if (want->has_ports && (want->sport != got->sport || want->dport != got->dport)) {
        snprintf(why, len, "ports");
        return 0;
    }
    if (want->flags != got->flags) {
        snprintf(why, len, "TCP flags");
        return 0;
    }
    /* the seq of the engine's SYN is its ISN, which the script cannot know: packetdrill takes
     * whatever the line writes (`> S. 1234:1234(0)`) as the script's name for it */
    uint32_t want_seq = (want->flags & DR_SYN) ? got->seq : want->seq;
    if (want_seq != got->seq || want->len != got->len) {
        snprintf(why, len, want->len != got->len ? "payload length" : "sequence number");
        return 0;
    }
    if (want->has_ack && (!(got->flags & DR_ACK) || want->ack != got->ack)) {
        snprintf(why, len, "ack number");
        return 0;
    }
    if (want->has_win && want->win != got->win) {
        snprintf(why, len, "window");
        return 0;
    }
    if (want->has_urg && want->urg != got->urg) {
        snprintf(why, len, "urgent pointer");
        return 0;
    }
    if (want->opts_mode == DR_OPTS_ANY)
        return 1;
    if (want->nopts != got->nopts) {
        snprintf(why, len, "TCP options");
        return 0;
    }
    for (size_t i = 0; i < want->nopts; i++) {
        const struct dr_tcp_opt *a = &want->opts[i], *b = &got->opts[i];
        int same = a->kind == b->kind;
        if (same && (a->kind == DR_OPT_MSS || a->kind == DR_OPT_WSCALE))
            same = a->a == b->a;
        if (same && a->kind == DR_OPT_TS)
            same = a->b == b->b; /* the engine's TS val is its own clock: not compared */
        if (same && (a->kind == DR_OPT_FO || a->kind == DR_OPT_FOEXP))
            same = a->a == b->a && memcmp(a->fo, b->fo, a->a) == 0;
        if (same && a->kind == DR_OPT_SACK) {
            same = a->nsack == b->nsack;
            for (unsigned k = 0; same && k < a->nsack; k++)
                same = a->sack[k][0] == b->sack[k][0] && a->sack[k][1] == b->sack[k][1];
        }
        if (!same) {
            snprintf(why, len, "TCP option %zu", i + 1);
            return 0;
        }
    }
    return 1;
}

/* Packetdrill on Linux reads the engine's segments off a TUN device with TSO/GSO: data the
 * stack sends at once arrives as one large segment, and Linux scripts expect it so
 * (`> P. 1:10001(10000)`). With --gso (the default), when an outbound line wants more data
 * than the engine's next segment holds, the segments that follow it back to back (same
 * instant, same 4-tuple, contiguous, same ACK, no SYN or RST) are joined into one, as GSO
 * would have handed them over; PSH or FIN of the last one is kept. */
static int gso_merge(struct runner *r, const struct dr_event *ev, struct dr_out *o)
{
    struct dr_packet *got = &o->pkt;
    const struct dr_packet *want = &ev->pkt;
    /* the rest of this instant's segments: they reach the queue one by one */
    if (got->len && got->len < want->len && advance_to(r, ev, dr_now(r), COLLECT) < 0)
        return -1;
    while (got->len && got->len < want->len && r->out_n) {
        struct dr_out *n = &r->outq[r->out_head];
        const struct dr_packet *p = &n->pkt;
        uint8_t same = DR_SYN | DR_RST | DR_ACK | DR_URG;
        if (n->bad || n->t != o->t || n->flow != o->flow || p->seq != got->seq + got->len ||
            !p->len || (got->flags & DR_FIN) || (p->flags & same) != (got->flags & same) ||
            (got->flags & (DR_SYN | DR_RST)) || p->ack != got->ack)
            return 0;
        got->len += p->len;
        got->flags |= p->flags & (DR_PSH | DR_FIN);
        r->out_head = (r->out_head + 1) % r->out_cap;
        r->out_n--;
    }
    return 0;
}

static int expect_packet(struct runner *r, const struct dr_event *ev, sf_time_t start,
                         sf_time_t end)
{
    sf_time_t deadline = end == SF_TIME_NEVER ? dr_now(r) + WAIT_FOR_ANY : end + r->tolerance;
    int rc = advance_to(r, ev, deadline, WANT);
    if (rc < 0)
        return -1;
    char e[1024], a[1024];
    if (rc == 0)
        return dr_fail(r, ev, "expected: %s / actual: no packet by time %.6f",
                       packet_text(&ev->pkt, e, sizeof e), dr_secs(dr_now(r)));
    struct dr_out *o = &r->outq[r->out_head];
    r->out_head = (r->out_head + 1) % r->out_cap;
    r->out_n--;
    if (o->bad)
        return dr_fail(r, ev,
                       "expected: %s / actual: a packet the runner cannot read (%s) at "
                       "time %.6f",
                       packet_text(&ev->pkt, e, sizeof e), o->err, dr_secs(o->t));
    struct dr_packet *got = &o->pkt;
    got->has_ports = ev->pkt.has_ports;
    if (r->gso && gso_merge(r, ev, o) < 0)
        return -1;
    char why[64];
    static struct dr_packet want; /* large: not on the stack */
    want = ev->pkt;
    fo_resolve(r, &want);
    if (!packet_matches(&want, got, why, sizeof why))
        return dr_fail(r, ev, "expected: %s / actual: %s at time %.6f (%s differs)",
                       packet_text(&want, e, sizeof e), packet_text(got, a, sizeof a),
                       dr_secs(o->t), why);
    if (ev->time.kind != DR_TIME_ANY &&
        (o->t + r->tolerance < start || o->t > end + r->tolerance)) {
        if (start == end)
            return dr_fail(r, ev,
                           "timing error: expected outbound packet at %.6f but it came "
                           "at %.6f (tolerance %.6f): %s",
                           dr_secs(start), dr_secs(o->t), dr_secs(r->tolerance),
                           packet_text(got, a, sizeof a));
        return dr_fail(r, ev,
                       "timing error: expected outbound packet in %.6f~%.6f but it came "
                       "at %.6f: %s",
                       dr_secs(start), dr_secs(end), dr_secs(o->t), packet_text(got, a, sizeof a));
    }
    /* remember what the script calls the engine's TS val, for the ecr of later inbound lines */
    for (size_t i = 0; i < ev->pkt.nopts && ev->pkt.opts_mode == DR_OPTS_LIST; i++)
        if (ev->pkt.opts[i].kind == DR_OPT_TS)
            ts_learn(&r->flows[o->flow], ev->pkt.opts[i].a, got->opts[i].a);
    return 0;
}

static int start_call(struct runner *r, const struct dr_event *ev, sf_time_t start, sf_time_t end)
{
    /* one blocking call at a time, as in packetdrill: the next call waits for it */
    if (await_call(r, ev) < 0 || reach(r, ev, start) < 0)
        return -1;
    memset(&r->call, 0, sizeof r->call);
    r->call.ev = ev;
    r->call.start = dr_now(r);
    r->call.end = ev->call.has_end ? end : dr_now(r);
    r->call.wake = SF_TIME_NEVER;
    int rc = dr_call_attempt(r, &r->call);
    if (rc == DR_CALL_FAILED)
        return -1;
    if (rc == DR_CALL_BLOCKED) {
        r->pending = 1;
        /* a call that blocks with no return time must still return within tolerance */
        if (!ev->call.has_end)
            return await_call(r, ev);
        return 0;
    }
    return dr_call_check(r, &r->call);
}

static int run_event(struct runner *r, const struct dr_event *ev, const struct dr_event *prev,
                     sf_time_t *prev_time)
{
    sf_time_t start, end;
    event_window(r, ev, prev, *prev_time, &start, &end);
    *prev_time = start;
    if (ev->kind == DR_EV_CODE)
        return dr_unsupported(r, ev, "%%{ python }%% blocks are not run");
    if (ev->kind == DR_EV_SHELL) {
        if (reach(r, ev, start) < 0)
            return -1;
        if (!r->started)
            return 0; /* applied before the engine was made (configure) */
        struct sf_tcp_config cfg = r->cfg;
        if (apply_shell(r, ev, &cfg) < 0)
            return -1;
        if (strstr(ev->text, "tcp_metrics flush")) /* the engine's only per-server memory */
            sf_fastopen_cache_flush(r->eng);
        if (memcmp(&cfg, &r->cfg, sizeof cfg) != 0)
            return dr_unsupported(r, ev, "`%s`: changes an engine setting after the script started",
                                  ev->text);
        return 0;
    }
    r->started = 1;
    if (ev->kind == DR_EV_PACKET && ev->pkt.dir == '>')
        return expect_packet(r, ev, start, end);
    if (ev->kind == DR_EV_PACKET)
        return reach(r, ev, start) < 0 ? -1 : inject(r, ev);
    if (ev->call.has_end && ev->time.kind == DR_TIME_REL)
        end = start - (sf_time_t)ev->time.start + (sf_time_t)ev->call.end;
    else if (ev->call.has_end)
        end = (sf_time_t)ev->call.end;
    return start_call(r, ev, start, end);
}

/* After the last event: a call still blocking must return. As packetdrill, nothing the engine
 * sends after that is checked; with strict_end (our corpus), packets sent within the
 * tolerance, or left unmatched, fail the script. */
static int finish(struct runner *r)
{
    const struct dr_event *last = &r->s->events[r->s->nevents - 1];
    if (await_call(r, last) < 0)
        return -1;
    if (!r->strict_end)
        return 0;
    if (advance_to(r, NULL, dr_now(r) + r->tolerance, END) < 0)
        return -1;
    return 0;
}

int dr_run(const struct dr_script *s, const struct dr_settings *set, char *msg, size_t msglen)
{
    struct runner *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(msg, msglen, "%s: out of memory", s->path);
        return -1;
    }
    r->s = s;
    r->set = set;
    r->msg = msg;
    r->msglen = msglen;
    msg[0] = 0;
    if (configure(r) == 0 && build_world(r) == 0) {
        const struct dr_event *prev = NULL;
        sf_time_t prev_time = 0;
        for (size_t i = 0; i < s->nevents && !r->failed; i++) {
            if (run_event(r, &s->events[i], prev, &prev_time) < 0)
                break;
            prev = &s->events[i];
        }
        if (!r->failed)
            finish(r);
    }
    int failed = r->failed, unsupported = r->unsupported;
    if (r->eng)
        sf_engine_free(r->eng);
    sf_sim_free(r->sim);
    free(r->outq);
    free(r->flows);
    free(r);
    return unsupported ? 1 : failed ? -1 : 0;
}
