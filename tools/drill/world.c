/* The world a script runs in: its settings (option lines, the command line, the shell lines
 * before the first event), the two hosts on the simulated network, and the script's view of
 * each 4-tuple (flows: ISNs and timestamps learned from the engine's packets). */
#include "runner.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shell.h"
#include "wire.h"

/* ---- flows: the script's view of each 4-tuple -------------------------------------------- */

struct dr_flow *dr_flow_get(struct runner *r, uint16_t lport, uint16_t rport)
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
uint32_t dr_ts_ecr_live(const struct dr_flow *f, uint32_t script_ecr)
{
    for (size_t i = f->nts; i-- > 0;)
        if (f->ts_script[i % DR_TS_MAP] == script_ecr)
            return f->ts_actual[i % DR_TS_MAP];
    if (f->ts_known)
        return script_ecr - f->first_script_ts + f->first_actual_ts;
    return script_ecr;
}

void dr_ts_learn(struct dr_flow *f, uint32_t script_val, uint32_t actual_val)
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
    dr_log(r, "%.6f   %s > %s %s -> %s (%s)\n", dr_secs(t->when),
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
        dr_log(r, "%.6f   the engine dropped the packet: %s\n", dr_secs(now), strerror(-rc));
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
        struct dr_flow *f = dr_flow_get(r, p->sport, p->dport);
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
            /* a SYN-ACK that acknowledges more than the SYN took its data (Fast Open): what
             * Linux reports as TCPI_OPT_SYN_DATA */
            f->syn_data_acked = (p->flags & DR_ACK) && p->ack - f->remote_isn > 1;
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
        dr_log(r, "%.6f %s\n", dr_secs(now), dr_packet_text(p, b, sizeof b));
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
    } else if (!strcmp(o->name, "strict_segments")) {
        /* packetdrill's: each segment the stack sends matches a line of its own, never
         * several joined into one (what --gso=0 says) */
        if (v)
            return option_error(r, o, from_cli, "takes no value");
        r->gso = 0;
    } else if (!strcmp(o->name, "tcp_ts_tick_usecs")) {
        /* packetdrill checks the rate of the stack's TS val with it; synfin-drill never
         * compares the engine's TS val (its clock is its own): accepted, nothing to check */
        if (number(v, 1000000, &n) < 0)
            return option_error(r, o, from_cli, "expected microseconds (0-1000000)");
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

int dr_apply_shell(struct runner *r, const struct dr_event *ev, struct sf_tcp_config *cfg)
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

int dr_configure(struct runner *r)
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
        if (dr_apply_shell(r, &r->s->events[i], &r->cfg) < 0)
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

int dr_build_world(struct runner *r)
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
    struct dr_flow *f = dr_flow_get(r, r->bind_port, r->remote_port);
    if (!f)
        return dr_fail(r, NULL, "out of memory");
    r->def_flow = 0;
    return 0;
}
