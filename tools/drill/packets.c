/* The packet lines of a run: an inbound line is built and sent to the engine; an outbound
 * line takes the engine's next packet and compares it (docs/drill.md, "Packets"). */
#include "runner.h"

#include <errno.h>
#include <string.h>

#include "wire.h"

#define WAIT_FOR_ANY SF_SEC(86400) /* how long "*" waits for a packet */

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

/* The IP header of a packet from the script: its addresses, and the attributes the line
 * sets ("(tos 0x10)", "[ect0]": the ECN bits in a TOS of 0, as packetdrill). */
static void script_ip(const struct runner *r, const struct dr_packet *p, struct dr_ip4 *ip)
{
    memset(ip, 0, sizeof *ip);
    ip->v6 = r->ip_version == 6;
    if (ip->v6) {
        memcpy(ip->src6, r->remote.u.v6, 16);
        memcpy(ip->dst6, r->local.u.v6, 16);
    } else {
        memcpy(ip->src, r->remote.u.v4, 4);
        memcpy(ip->dst, r->local.u.v4, 4);
    }
    ip->tos = p->tos_check == DR_TOS_NONE ? 0 : p->tos;
    ip->ttl = p->ttl;
    ip->flowlabel = p->flowlabel;
}

static int send_built(struct runner *r, const struct dr_event *ev, const struct dr_flow *f,
                      const uint8_t *buf, size_t len);

/* An ICMP error from the script's address about a segment the engine sent on flow f: the
 * quoted seq counts from the engine's ISN, as on an outbound line (packetdrill). */
static int inject_icmp(struct runner *r, const struct dr_event *ev, const struct dr_flow *f)
{
    const struct dr_packet *p = &ev->pkt;
    int v6 = r->ip_version == 6, type, code;
    int rc = dr_icmp_lookup(v6, p->icmp_type, p->icmp_code, &type, &code);
    if (rc < 0)
        return dr_fail(r, ev, "bad %s %s %s", v6 ? "ICMPv6" : "ICMP", rc == -1 ? "type" : "code",
                       rc == -1 ? p->icmp_type : p->icmp_code);
    if ((!v6 && (type == 0 || type == 8)) || (v6 && (type == 128 || type == 129)))
        return dr_unsupported(r, ev, "ICMP echo: only errors about TCP segments");
    struct dr_packet quoted = *p;
    quoted.sport = f->lport;
    quoted.dport = f->rport;
    quoted.seq = p->seq + (f->isn_known ? f->engine_isn : 0);
    struct dr_ip4 ip;
    script_ip(r, p, &ip);
    static uint8_t buf[256];
    uint32_t mtu = p->icmp_mtu >= 0 ? (uint32_t)p->icmp_mtu : 0;
    size_t len = dr_wire_build_icmp(buf, sizeof buf, &ip, r->ip_id++, type, code, mtu, &quoted);
    if (!len)
        return dr_fail(r, ev, "the ICMP packet does not fit");
    return send_built(r, ev, f, buf, len);
}

/* Outbound IP attributes the line gives, compared with what the engine sent. */
static int ip_matches(const struct dr_packet *want, const struct dr_packet *got, char *why,
                      size_t len)
{
    unsigned ecn = got->tos & 3;
    int ok = 1;
    if (want->tos_check == DR_TOS_ECN)
        ok = ecn == want->tos;
    else if (want->tos_check == DR_TOS_ECT01)
        ok = ecn == 1 || ecn == 2;
    else if (want->tos_check == DR_TOS_BYTE)
        ok = got->tos == want->tos;
    if (!ok) {
        snprintf(why, len, want->tos_check == DR_TOS_BYTE ? "tos" : "ip_ecn");
        return 0;
    }
    if (want->ttl && want->ttl != got->ttl) {
        snprintf(why, len, "ttl");
        return 0;
    }
    if (want->flowlabel && want->flowlabel != got->flowlabel) {
        snprintf(why, len, "flowlabel");
        return 0;
    }
    return 1;
}

/* In messages the actual packet shows the IP attributes the line asks about, no others. */
static void ip_shown(const struct dr_packet *want, struct dr_packet *got)
{
    if (want->tos_check == DR_TOS_NONE)
        got->tos_check = DR_TOS_NONE;
    else if (want->tos_check != DR_TOS_BYTE)
        got->tos_check = DR_TOS_ECN, got->tos &= 3;
    if (!want->ttl)
        got->ttl = 0;
    if (!want->flowlabel)
        got->flowlabel = 0;
}

int dr_inject(struct runner *r, const struct dr_event *ev)
{
    struct dr_packet p = ev->pkt;
    fo_resolve(r, &p);
    struct dr_flow *f;
    if (p.has_ports)
        f = dr_flow_get(r, p.dport, p.sport);
    else
        f = &r->flows[r->def_flow];
    if (!f)
        return dr_fail(r, ev, "out of memory");
    p.sport = f->rport;
    p.dport = f->lport;
    if (p.icmp)
        return inject_icmp(r, ev, f);
    uint32_t ack_base = f->isn_known ? f->engine_isn : 0;
    /* packetdrill: a SYN's seq is as written (plus --remote_isn) and becomes the flow's ISN;
     * later segments count from it */
    /* nplab packetdrill's "seq:end(len)!" is on the wire as written (a SYN's still becomes
     * the flow's ISN) */
    if (p.flags & DR_SYN) {
        if (!p.seq_abs)
            p.seq += r->remote_isn;
        /* as packetdrill, which makes a new socket for a SYN to a listener */
        int none = (f->state == SF_CLOSED || f->state == SF_TIME_WAIT) &&
                   (r->listening[f->lport / 8] & (1u << (f->lport % 8)));
        if (!(p.flags & DR_ACK) ? none : f->state == SF_SYN_SENT)
            f->remote_isn = p.seq; /* a new connection (packetdrill: a new socket) */
        if (!(p.flags & DR_ACK) && none)
            r->code_fd = -1; /* packetdrill's socket under test: the child, until accept */
    } else if (!p.seq_abs) {
        p.seq += f->remote_isn;
    }
    p.ack += ack_base;
    for (size_t i = 0; i < p.nopts; i++) {
        struct dr_tcp_opt *o = &p.opts[i];
        for (unsigned k = 0; o->kind == DR_OPT_SACK && k < o->nsack; k++) {
            o->sack[k][0] += ack_base;
            o->sack[k][1] += ack_base;
        }
        if (o->kind == DR_OPT_TS && (p.flags & DR_ACK) && !o->ecr_abs)
            o->b = dr_ts_ecr_live(f, o->b);
    }
    struct dr_ip4 ip;
    script_ip(r, &p, &ip);
    static uint8_t buf[DR_MAX_PACKET];
    size_t len = dr_wire_build(buf, sizeof buf, &ip, r->ip_id++, &p);
    if (!len)
        return dr_fail(r, ev, "the packet does not fit (TCP options over 40 bytes?)");
    return send_built(r, ev, f, buf, len);
}

static int send_built(struct runner *r, const struct dr_event *ev, const struct dr_flow *f,
                      const uint8_t *buf, size_t len)
{
    char b[1024];
    struct dr_packet shown = ev->pkt;
    shown.has_ports = !shown.icmp;
    shown.sport = f->rport;
    shown.dport = f->lport;
    dr_log(r, "%.6f %s\n", dr_secs(dr_now(r)), dr_packet_text(&shown, b, sizeof b));
    int rc = sf_sim_send(r->sim, r->sh, buf, len);
    if (rc < 0)
        return dr_fail(r, ev, "the simulator could not take the packet: %s", strerror(-rc));
    /* deliver it now, so the engine's answer is there for the next line */
    return dr_advance_to(r, ev, dr_now(r), COLLECT) < 0 ? -1 : 0;
}

/* Compares an emitted packet (relative numbers) with the script line; on a difference writes
 * which field differs. */
static int packet_matches(const struct dr_packet *want, const struct dr_packet *got, char *why,
                          size_t len)
{
    if (want->icmp) {
        snprintf(why, len, "protocol (the engine sends no ICMP)");
        return 0;
    }
    if (!ip_matches(want, got, why, len))
        return 0;
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
    if (got->len && got->len < want->len && dr_advance_to(r, ev, dr_now(r), COLLECT) < 0)
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

int dr_expect_packet(struct runner *r, const struct dr_event *ev, sf_time_t start, sf_time_t end)
{
    sf_time_t deadline = end == SF_TIME_NEVER ? dr_now(r) + WAIT_FOR_ANY : end + r->tolerance;
    int rc = dr_advance_to(r, ev, deadline, WANT);
    if (rc < 0)
        return -1;
    char e[1024], a[1024];
    if (rc == 0)
        return dr_fail(r, ev, "expected: %s / actual: no packet by time %.6f",
                       dr_packet_text(&ev->pkt, e, sizeof e), dr_secs(dr_now(r)));
    struct dr_out *o = &r->outq[r->out_head];
    r->out_head = (r->out_head + 1) % r->out_cap;
    r->out_n--;
    if (o->bad)
        return dr_fail(r, ev,
                       "expected: %s / actual: a packet the runner cannot read (%s) at "
                       "time %.6f",
                       dr_packet_text(&ev->pkt, e, sizeof e), o->err, dr_secs(o->t));
    struct dr_packet *got = &o->pkt;
    got->has_ports = ev->pkt.has_ports;
    if (r->gso && gso_merge(r, ev, o) < 0)
        return -1;
    char why[64];
    static struct dr_packet want; /* large: not on the stack */
    want = ev->pkt;
    fo_resolve(r, &want);
    if (want.seq_abs && !(want.flags & DR_SYN)) /* as on the wire: the engine's ISN counts */
        want.seq -= r->flows[o->flow].engine_isn;
    int same = packet_matches(&want, got, why, sizeof why);
    ip_shown(&want, got);
    if (!same)
        return dr_fail(r, ev, "expected: %s / actual: %s at time %.6f (%s differs)",
                       dr_packet_text(&want, e, sizeof e), dr_packet_text(got, a, sizeof a),
                       dr_secs(o->t), why);
    if (ev->time.kind != DR_TIME_ANY &&
        (o->t + r->tolerance < start || o->t > end + r->tolerance)) {
        if (start == end)
            return dr_fail(r, ev,
                           "timing error: expected outbound packet at %.6f but it came "
                           "at %.6f (tolerance %.6f): %s",
                           dr_secs(start), dr_secs(o->t), dr_secs(r->tolerance),
                           dr_packet_text(got, a, sizeof a));
        return dr_fail(r, ev,
                       "timing error: expected outbound packet in %.6f~%.6f but it came "
                       "at %.6f: %s",
                       dr_secs(start), dr_secs(end), dr_secs(o->t),
                       dr_packet_text(got, a, sizeof a));
    }
    /* remember what the script calls the engine's TS val, for the ecr of later inbound lines */
    for (size_t i = 0; i < ev->pkt.nopts && ev->pkt.opts_mode == DR_OPTS_LIST; i++)
        if (ev->pkt.opts[i].kind == DR_OPT_TS)
            dr_ts_learn(&r->flows[o->flow], ev->pkt.opts[i].a, got->opts[i].a);
    return 0;
}
