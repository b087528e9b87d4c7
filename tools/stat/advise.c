#include "advise.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "report.h"

/* Linux keeps a socket in TIME_WAIT for TCP_TIMEWAIT_LEN, 60 s, fixed at compile time: no
 * sysctl changes it (tcp_fin_timeout does not). */
#define TIME_WAIT_S 60
/* The kernel's default ip_local_port_range, 32768-60999. */
#define DEFAULT_PORTS 28232
/* Outgoing TIME_WAIT toward one destination from one source address, as a share of the
 * ephemeral ports: past this, connect() is near EADDRNOTAVAIL. */
#define EXHAUSTION_PCT 50
/* ... and past this, tw_reuse is worth turning on. */
#define REUSE_PCT 10
/* TIME_WAIT as a share of tcp_max_tw_buckets: past this the kernel is about to, or does,
 * kill new TIME_WAIT sockets at once. */
#define TW_BUCKETS_PCT    80
#define FIN_TIMEOUT_MAX_S 60
/* The kernel never sizes the SYN backlog below 128 itself. */
#define SYN_BACKLOG_MIN 128
#define SYN_QUEUE_PCT   50
/* net.core.somaxconn's default since Linux 5.4 is 4096; 128 before that. */
#define SOMAXCONN_MIN    1024
#define ACCEPT_QUEUE_PCT 50
/* The shortest common middlebox idle timeouts: Azure Load Balancer 240 s, F5 BIG-IP's
 * default TCP profile 300 s, AWS NLB 350 s. */
#define KEEPALIVE_MAX_S 300
/* RFC 1122 4.2.3.6: the keep-alive interval "MUST default to no less than two hours"; Linux's
 * tcp_keepalive_time default is exactly that. */
#define KEEPALIVE_RFC1122_S 7200
#define CLOSE_WAIT_PILE     100
#define TW_INCOMING_NOTE    1000

struct advisor {
    const struct st_sysctls *s;
    const struct st_live *l;
    struct st_finding *out;
    size_t n, max;
};

static int has(const struct advisor *a, enum st_sysctl id)
{
    return a->s->present[id];
}

static long val(const struct advisor *a, enum st_sysctl id)
{
    return a->s->v[id];
}

static struct st_finding *add(struct advisor *a, const char *id, int attention)
{
    if (a->n >= a->max)
        return NULL;
    struct st_finding *f = &a->out[a->n++];
    memset(f, 0, sizeof *f);
    f->id = id;
    f->attention = attention;
    return f;
}

static void set(char *dst, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, size, fmt, ap);
    va_end(ap);
}

#define SET(f, field, ...) set((f)->field, sizeof(f)->field, __VA_ARGS__)

static long ports(const struct advisor *a)
{
    if (!has(a, SC_PORT_LO) || !has(a, SC_PORT_HI) || val(a, SC_PORT_HI) < val(a, SC_PORT_LO))
        return 0;
    return val(a, SC_PORT_HI) - val(a, SC_PORT_LO) + 1;
}

static int is_loopback(int family, const uint8_t *addr)
{
    static const uint8_t v6lo[16] = {[15] = 1};
    static const uint8_t v4mapped[12] = {[10] = 0xff, [11] = 0xff};
    if (family == AF_INET)
        return addr[0] == 127;
    if (!memcmp(addr, v6lo, 16))
        return 1;
    return !memcmp(addr, v4mapped, 12) && addr[12] == 127;
}

static void top_destination(const struct advisor *a, char *dst, size_t dlen, char *src, size_t slen)
{
    const struct st_live *l = a->l;
    st_endpoint_str(dst, dlen, l->top_family, l->top_raddr, l->top_rport);
    if (!inet_ntop(l->top_family, l->top_laddr, src, (socklen_t)slen))
        snprintf(src, slen, "?");
}

static void port_range(struct advisor *a)
{
    long n = ports(a);
    if (!n)
        return;
    long lo = val(a, SC_PORT_LO), hi = val(a, SC_PORT_HI);
    const struct st_live *l = a->l;
    uint64_t pct = l->top_tw * 100 / (uint64_t)n;
    char dst[80], src[64];
    top_destination(a, dst, sizeof dst, src, sizeof src);

    if (l->top_tw && pct >= EXHAUSTION_PCT) {
        struct st_finding *f = add(a, "port-exhaustion", 1);
        if (!f)
            return;
        SET(f, title, "TIME_WAIT holds %" PRIu64 "%% of the ephemeral ports toward %s", pct, dst);
        SET(f, evidence,
            "%" PRIu64 " outgoing TIME_WAIT from %s to %s; net.ipv4.ip_local_port_range = %ld "
            "%ld (%ld ports).",
            l->top_tw, src, dst, lo, hi, n);
        SET(f, risk,
            "When the ports run out, connect() to %s fails with EADDRNOTAVAIL (\"Cannot assign "
            "requested address\"): new connections to that service fail while the host looks "
            "idle. The ceiling is %ld ports / %d s = %ld new connections per second from %s to "
            "%s.",
            dst, n, TIME_WAIT_S, n / TIME_WAIT_S, src, dst);
        SET(f, change,
            "Reuse connections to %s (keep-alive, a pool) so fewer are opened; %s%smore source "
            "addresses toward it.",
            dst, n < 64512 ? "net.ipv4.ip_local_port_range = 1024 65535; " : "",
            has(a, SC_TW_REUSE) && val(a, SC_TW_REUSE) == 1 ? "" : "net.ipv4.tcp_tw_reuse = 1; ");
        SET(f, reason,
            "Every connection this host opens and closes first holds its 4-tuple (source "
            "address, source port, destination address, destination port) for %d s in "
            "TIME_WAIT. Toward one destination from one source address only the source port "
            "varies, so the ephemeral range divided by %d s is the sustained rate of new "
            "connections: %ld / %d = %ld per second. Widening the range raises the ceiling "
            "(1024-65535 gives %d per second); reusing connections removes the need.",
            TIME_WAIT_S, TIME_WAIT_S, n, TIME_WAIT_S, n / TIME_WAIT_S, 64512 / TIME_WAIT_S);
    } else if (n < DEFAULT_PORTS) {
        struct st_finding *f = add(a, "port-range-narrow", 1);
        if (!f)
            return;
        SET(f, title, "The ephemeral port range is narrower than the kernel's default");
        SET(f, evidence,
            "net.ipv4.ip_local_port_range = %ld %ld (%ld ports; the default "
            "32768-60999 has %d).",
            lo, hi, n, DEFAULT_PORTS);
        SET(f, risk,
            "Outgoing connections to any one destination are capped at %ld / %d s = %ld new "
            "connections per second from one source address; past that, connect() fails with "
            "EADDRNOTAVAIL.",
            n, TIME_WAIT_S, n / TIME_WAIT_S);
        SET(f, change,
            "net.ipv4.ip_local_port_range = 1024 65535 (keep listening ports out "
            "of it, or list them in net.ipv4.ip_local_reserved_ports).");
        SET(f, reason,
            "A closed outgoing connection keeps its source port for %d s in TIME_WAIT; the "
            "range divided by %d s is the sustained rate of new connections to one "
            "destination (1024-65535 gives %d per second).",
            TIME_WAIT_S, TIME_WAIT_S, 64512 / TIME_WAIT_S);
    } else {
        struct st_finding *f = add(a, "port-range", 0);
        if (!f)
            return;
        SET(f, title, "New connections to one destination are capped at %ld per second",
            n / TIME_WAIT_S);
        SET(f, evidence,
            "net.ipv4.ip_local_port_range = %ld %ld (%ld ports); the busiest destination "
            "holds %" PRIu64 " outgoing TIME_WAIT (%" PRIu64 "%%).",
            lo, hi, n, l->top_tw, pct);
        SET(f, risk, "None now; a note for capacity planning.");
        SET(f, change, "None.");
        SET(f, reason,
            "Each closed outgoing connection keeps its source port for %d s in TIME_WAIT: "
            "%ld ports / %d s = %ld new connections per second from one source address to one "
            "destination address and port.",
            TIME_WAIT_S, n, TIME_WAIT_S, n / TIME_WAIT_S);
    }
}

static const char recycle_history[] =
    "tcp_tw_recycle, which old guides pair with it, was removed in Linux 4.12: it dropped "
    "SYNs whose TCP timestamp was lower than the last one seen from the same IP address, and "
    "clients behind one NAT share an address but not a clock, so their connections failed "
    "at random.";

/* net.ipv4.tcp_tw_reuse_delay (Linux 6.14+): how old a TIME_WAIT must be before tw_reuse
 * takes its 4-tuple; 1000 ms before it existed. */
static long reuse_delay_ms(const struct advisor *a)
{
    return has(a, SC_TW_REUSE_DELAY) ? val(a, SC_TW_REUSE_DELAY) : 1000;
}

static void tw_reuse(struct advisor *a)
{
    long n = ports(a);
    const struct st_live *l = a->l;
    if (!has(a, SC_TW_REUSE) || !n || !l->top_tw)
        return;
    long reuse = val(a, SC_TW_REUSE);
    int loop = is_loopback(l->top_family, l->top_raddr);
    if (reuse == 1 || (reuse == 2 && loop))
        return; /* it already applies */
    if (l->top_tw * 100 < (uint64_t)n * REUSE_PCT)
        return;
    char dst[80], src[64];
    top_destination(a, dst, sizeof dst, src, sizeof src);
    struct st_finding *f = add(a, "tw-reuse", 1);
    if (!f)
        return;
    SET(f, title, "Outgoing TIME_WAIT piles up and tcp_tw_reuse does not apply to it");
    SET(f, evidence,
        "net.ipv4.tcp_tw_reuse = %ld%s; %" PRIu64 " outgoing TIME_WAIT from %s to %s (%" PRIu64
        "%% of %ld ephemeral ports).",
        reuse, reuse == 2 ? " (loopback only)" : "", l->top_tw, src, dst,
        l->top_tw * 100 / (uint64_t)n, n);
    SET(f, risk, "connect() to %s runs out of source ports sooner than it needs to.", dst);
    SET(f, change, "net.ipv4.tcp_tw_reuse = 1 (with net.ipv4.tcp_timestamps = 1).");
    SET(f, reason,
        "tw_reuse lets connect() take over a 4-tuple whose TIME_WAIT is older than %ld ms "
        "(net.ipv4.tcp_tw_reuse_delay, Linux 6.14+; 1 s before) when TCP timestamps prove every "
        "new segment is newer than the old connection's (PAWS), so old duplicates cannot be "
        "mistaken for new data. It acts only on connections this host opens, never on incoming "
        "ones. %s",
        reuse_delay_ms(a), recycle_history);
}

static void tw_recycle(struct advisor *a, const struct st_conf_notes *notes)
{
    if (has(a, SC_TW_RECYCLE) && val(a, SC_TW_RECYCLE) != 0) {
        struct st_finding *f = add(a, "tw-recycle", 1);
        if (!f)
            return;
        SET(f, title, "tcp_tw_recycle is on: clients behind NAT will fail to connect");
        SET(f, evidence, "net.ipv4.tcp_tw_recycle = %ld (this kernel is older than 4.12).",
            val(a, SC_TW_RECYCLE));
        SET(f, risk,
            "SYNs from clients behind a shared NAT address are dropped whenever their "
            "timestamp is below the last one seen from that address: random connection "
            "failures for mobile, office and carrier-NAT clients.");
        SET(f, change,
            "net.ipv4.tcp_tw_recycle = 0; use net.ipv4.tcp_tw_reuse = 1 for "
            "outgoing connections instead.");
        SET(f, reason, "%s tw_reuse gives the port reuse without the per-host timestamp check.",
            recycle_history);
    } else if (notes && notes->tw_recycle[0]) {
        struct st_finding *f = add(a, "tw-recycle-config", 0);
        if (!f)
            return;
        SET(f, title, "The sysctl configuration still sets tcp_tw_recycle");
        SET(f, evidence, "%s sets net.ipv4.tcp_tw_recycle, which this kernel does not have.",
            notes->tw_recycle);
        SET(f, risk,
            "None at run time; `sysctl --system` reports an error for the line at "
            "every boot, and readers may think it is in effect.");
        SET(f, change,
            "Remove the line (and set net.ipv4.tcp_tw_reuse = 1 if port reuse "
            "for outgoing connections was the goal).");
        SET(f, reason, "%s", recycle_history);
    }
}

static void tw_buckets(struct advisor *a)
{
    if (!has(a, SC_MAX_TW_BUCKETS))
        return;
    long max = val(a, SC_MAX_TW_BUCKETS);
    uint64_t tw = a->l->hist.n[ST_TIME_WAIT];
    if (max <= 0 || tw * 100 < (uint64_t)max * TW_BUCKETS_PCT)
        return;
    struct st_finding *f = add(a, "max-tw-buckets", 1);
    if (!f)
        return;
    SET(f, title, "TIME_WAIT is at %" PRIu64 "%% of tcp_max_tw_buckets", tw * 100 / (uint64_t)max);
    SET(f, evidence, "%" PRIu64 " TIME_WAIT; net.ipv4.tcp_max_tw_buckets = %ld.", tw, max);
    SET(f, risk,
        "At the limit the kernel closes new TIME_WAIT sockets at once (\"TCP: time wait bucket "
        "table overflow\" in the kernel log). Then a delayed segment of an old connection can "
        "land in a new one on the same 4-tuple, and a lost final ACK is answered with a reset: "
        "the problems TIME_WAIT exists to prevent.");
    SET(f, change,
        "Find who closes first (synfin-stat --by-peer) and fix that; meanwhile "
        "net.ipv4.tcp_max_tw_buckets = %" PRIu64 " (twice the current TIME_WAIT, or more).",
        tw * 2 > 262144 ? tw * 2 : 262144);
    SET(f, reason,
        "A TIME_WAIT socket is a small kernel structure (no file descriptor, no buffers), so a "
        "high limit costs little memory; the low limits old guides recommend (5000) trade "
        "correctness for a number that looks tidy.");
}

static void fin_timeout(struct advisor *a)
{
    if (!has(a, SC_FIN_TIMEOUT) || val(a, SC_FIN_TIMEOUT) <= FIN_TIMEOUT_MAX_S)
        return;
    struct st_finding *f = add(a, "fin-timeout", 1);
    if (!f)
        return;
    SET(f, title, "Orphaned FIN_WAIT_2 sockets linger for %ld s", val(a, SC_FIN_TIMEOUT));
    SET(f, evidence, "net.ipv4.tcp_fin_timeout = %ld; %" PRIu64 " FIN_WAIT_2 now.",
        val(a, SC_FIN_TIMEOUT), a->l->hist.n[ST_FIN_WAIT_2]);
    SET(f, risk,
        "A socket the application closed whose peer never sends its FIN holds kernel memory "
        "and its port that long; peers that vanish make them pile up.");
    SET(f, change, "net.ipv4.tcp_fin_timeout = 30 (the default is 60).");
    SET(f, reason,
        "tcp_fin_timeout bounds only FIN_WAIT_2 for sockets no process holds any more. It does "
        "not shorten TIME_WAIT, which Linux keeps for a fixed %d s whatever this says: a "
        "common misreading.",
        TIME_WAIT_S);
}

static void syncookies(struct advisor *a)
{
    if (!has(a, SC_SYNCOOKIES) || val(a, SC_SYNCOOKIES) == 1)
        return;
    long v = val(a, SC_SYNCOOKIES);
    struct st_finding *f = add(a, "syncookies", 1);
    if (!f)
        return;
    SET(f, evidence, "net.ipv4.tcp_syncookies = %ld; %" PRIu64 " SYN_RECEIVED now.", v,
        a->l->hist.n[ST_SYN_RECEIVED]);
    SET(f, change, "net.ipv4.tcp_syncookies = 1 (the default).");
    if (v == 0) {
        SET(f, title, "SYN cookies are off");
        SET(f, risk,
            "A SYN flood fills each listener's SYN queue and legitimate clients are dropped "
            "until it ends.");
        SET(f, reason,
            "With 1, the kernel answers with a SYN cookie only when a listener's SYN queue "
            "overflows, and keeps no state for those SYNs: the listener keeps accepting real "
            "clients during a flood.");
    } else {
        SET(f, title, "SYN cookies are used for every connection");
        SET(f, risk,
            "Every handshake goes through a cookie: no SYN queue, and TCP options survive only "
            "as far as they fit the timestamp encoding.");
        SET(f, reason,
            "2 is meant for testing; 1 sends cookies only when a SYN queue "
            "overflows, which is when they help.");
    }
}

static void syn_backlog(struct advisor *a)
{
    if (!has(a, SC_MAX_SYN_BACKLOG))
        return;
    long max = val(a, SC_MAX_SYN_BACKLOG);
    uint64_t synrecv = a->l->hist.n[ST_SYN_RECEIVED];
    int low = max < SYN_BACKLOG_MIN;
    int full = max > 0 && synrecv * 100 >= (uint64_t)max * SYN_QUEUE_PCT;
    if (!low && !full)
        return;
    struct st_finding *f = add(a, "syn-backlog", 1);
    if (!f)
        return;
    SET(f, title,
        low ? "tcp_max_syn_backlog is below the kernel's own floor"
            : "Half-open connections fill the SYN backlog");
    SET(f, evidence, "net.ipv4.tcp_max_syn_backlog = %ld; %" PRIu64 " SYN_RECEIVED now.", max,
        synrecv);
    SET(f, risk,
        "With SYN cookies off, the kernel drops SYNs from peers it has not seen before once "
        "the SYN queue is three quarters full: new clients time out during bursts.");
    SET(f, change, "net.ipv4.tcp_max_syn_backlog = %ld, and keep net.ipv4.tcp_syncookies = 1.",
        max < 4096 ? 4096L : max * 2);
    SET(f, reason,
        "The kernel sizes this from memory and never below %d. Half-open connections last as "
        "long as the SYN-ACK retries; a burst of clients, or a flood, needs room for them.",
        SYN_BACKLOG_MIN);
}

static void somaxconn(struct advisor *a)
{
    if (has(a, SC_SOMAXCONN) && val(a, SC_SOMAXCONN) < SOMAXCONN_MIN) {
        struct st_finding *f = add(a, "somaxconn", 1);
        if (f) {
            SET(f, title, "net.core.somaxconn caps every listen() backlog at %ld",
                val(a, SC_SOMAXCONN));
            SET(f, evidence, "net.core.somaxconn = %ld; %u listeners.", val(a, SC_SOMAXCONN),
                a->l->listeners);
            SET(f, risk,
                "A burst of connections larger than the backlog overflows the accept queue: "
                "the kernel drops the client's final ACK and the client retransmits, adding a "
                "second or more to connection setup.");
            SET(f, change,
                "net.core.somaxconn = 4096 (the default since Linux 5.4), and a "
                "matching backlog in the application's listen().");
            SET(f, reason,
                "Linux silently truncates the backlog an application asks for to "
                "somaxconn; 128 was the default before 5.4 and is still common in "
                "old images and guides.");
        }
    }
    const struct st_listener *q = &a->l->fullest;
    if (!a->l->listeners || !q->queued ||
        (uint64_t)q->queued * 100 < (uint64_t)q->backlog * ACCEPT_QUEUE_PCT)
        return;
    struct st_finding *f = add(a, "accept-queue", 1);
    if (!f)
        return;
    char where[80];
    st_endpoint_str(where, sizeof where, q->family, q->addr, q->port);
    SET(f, title, "The accept queue of %s is %s", where,
        q->queued >= q->backlog ? "full" : "filling up");
    SET(f, evidence, "%u connections wait to be accepted on %s, whose backlog is %u.", q->queued,
        where, q->backlog);
    SET(f, risk,
        "When it is full, new handshakes are dropped and clients see seconds of delay; the "
        "application is not calling accept() fast enough.");
    SET(f, change,
        "Look at the process listening on %s (ss -ltnp): it is blocked or too slow to accept. A "
        "larger backlog (listen() argument, up to net.core.somaxconn) absorbs bursts only.",
        where);
    SET(f, reason,
        "Connections wait in the accept queue after the handshake until the application "
        "accepts them; a queue that stays full means the application, not the network, is the "
        "bottleneck.");
}

static void keepalive(struct advisor *a)
{
    if (!has(a, SC_KEEPALIVE_TIME) || val(a, SC_KEEPALIVE_TIME) <= KEEPALIVE_MAX_S)
        return;
    long t = val(a, SC_KEEPALIVE_TIME);
    long intvl = has(a, SC_KEEPALIVE_INTVL) ? val(a, SC_KEEPALIVE_INTVL) : 75;
    long probes = has(a, SC_KEEPALIVE_PROBES) ? val(a, SC_KEEPALIVE_PROBES) : 9;
    /* The kernel's default is the standard's floor: a host that kept it was not misconfigured,
     * and the cure is per socket (TCP_KEEPIDLE), not a host-wide change against the RFC. */
    int rfc_default = t == KEEPALIVE_RFC1122_S;
    struct st_finding *f = add(a, "keepalive", !rfc_default);
    if (!f)
        return;
    if (rfc_default)
        SET(f, title,
            "Keepalive probes start after 7200 s: the kernel's default, RFC 1122's minimum");
    else
        SET(f, title, "Keepalive probes start after %ld s, longer than middleboxes keep idle flows",
            t);
    SET(f, evidence,
        "net.ipv4.tcp_keepalive_time = %ld, net.ipv4.tcp_keepalive_intvl = %ld, "
        "net.ipv4.tcp_keepalive_probes = "
        "%ld: a dead peer is noticed after %ld s.",
        t, intvl, probes, t + intvl * probes);
    SET(f, risk,
        "Load balancers, NAT gateways and firewalls drop idle flows long before: Azure Load "
        "Balancer after 240 s, F5 BIG-IP's default TCP profile after 300 s, AWS NLB after "
        "350 s. The next write on such a connection vanishes or draws a reset, and both ends "
        "hold ESTABLISHED sockets for a connection that no longer exists.");
    if (rfc_default)
        SET(f, change,
            "Per socket, for the long-lived connections that cross a middlebox: TCP_KEEPIDLE "
            "120, TCP_KEEPINTVL 30, TCP_KEEPCNT 4 (synfin: keepalive on; keepalive_idle 120s; "
            "keepalive_interval 30s; keepalive_count 4). Host-wide "
            "(net.ipv4.tcp_keepalive_time = 120) only if every such application relies on the "
            "default.");
    else
        SET(f, change,
            "net.ipv4.tcp_keepalive_time = 120, net.ipv4.tcp_keepalive_intvl = 30, "
            "net.ipv4.tcp_keepalive_probes = 4 "
            "(a dead peer is noticed within 240 s).");
    if (rfc_default)
        SET(f, reason,
            "RFC 1122 (4.2.3.6) says the keep-alive interval MUST default to no less than two "
            "hours and that keep-alives are off unless an application asks: the default is "
            "the standard, hence a note, not a finding. Applications that enable SO_KEEPALIVE "
            "choose their own idle time with TCP_KEEPIDLE; probes sent more often than the "
            "shortest idle timeout on the path keep the flow alive and detect dead peers in "
            "minutes instead of %ld s.",
            t + intvl * probes);
    else
        SET(f, reason,
            "Probes sent more often than the shortest idle timeout on the path keep the flow "
            "alive in every middlebox and detect dead peers in minutes instead of %ld s. These "
            "values apply only to sockets that enable SO_KEEPALIVE, which long-lived "
            "connections should.",
            t + intvl * probes);
}

static void tw_reuse_delay(struct advisor *a)
{
    if (!has(a, SC_TW_REUSE_DELAY) || !has(a, SC_TW_REUSE) || val(a, SC_TW_REUSE) == 0)
        return;
    long d = val(a, SC_TW_REUSE_DELAY);
    if (d >= TIME_WAIT_S * 1000L) {
        struct st_finding *f = add(a, "tw-reuse-delay", 1);
        if (!f)
            return;
        SET(f, title, "tcp_tw_reuse is on but never acts: its delay is the whole TIME_WAIT");
        SET(f, evidence, "net.ipv4.tcp_tw_reuse = %ld; net.ipv4.tcp_tw_reuse_delay = %ld ms.",
            val(a, SC_TW_REUSE), d);
        SET(f, risk,
            "A TIME_WAIT ends (%d s) before it is old enough to be reused: outgoing "
            "connections get none of the port reuse tw_reuse was turned on for.",
            TIME_WAIT_S);
        SET(f, change, "net.ipv4.tcp_tw_reuse_delay = 1000 (the default).");
        SET(f, reason,
            "tw_reuse lets connect() take a 4-tuple whose TIME_WAIT is older than "
            "tcp_tw_reuse_delay; at %d000 ms or more no TIME_WAIT ever is.",
            TIME_WAIT_S);
    } else if (d < 1000) {
        struct st_finding *f = add(a, "tw-reuse-delay", 0);
        if (!f)
            return;
        SET(f, title, "TIME_WAIT 4-tuples are reused after %ld ms", d);
        SET(f, evidence, "net.ipv4.tcp_tw_reuse_delay = %ld ms (the default is 1000).", d);
        SET(f, risk,
            "Safe only when every peer's TCP timestamp clock ticks at least every %ld ms "
            "(Linux peers tick every 1 ms; RFC 7323 allows as slow as 1 s): with a slower "
            "peer, PAWS cannot tell the new connection's segments from the old one's.",
            d);
        SET(f, change, "None if the peers are known; otherwise 1000.");
        SET(f, reason,
            "Reuse is safe because the new connection's timestamps are above the old one's; "
            "that holds only once the peer's timestamp clock has ticked since the old "
            "connection's last segment.");
    }
}

static void timestamps(struct advisor *a)
{
    if (!has(a, SC_TIMESTAMPS) || val(a, SC_TIMESTAMPS) != 0)
        return;
    struct st_finding *f = add(a, "timestamps", 1);
    if (!f)
        return;
    SET(f, title, "TCP timestamps are off");
    SET(f, evidence, "net.ipv4.tcp_timestamps = 0; net.ipv4.tcp_tw_reuse = %ld.",
        has(a, SC_TW_REUSE) ? val(a, SC_TW_REUSE) : -1L);
    SET(f, risk,
        "tcp_tw_reuse cannot work without them, PAWS no longer guards fast connections against "
        "wrapped sequence numbers, and RTT is measured less well.");
    SET(f, change, "net.ipv4.tcp_timestamps = 1 (the default).");
    SET(f, reason,
        "Timestamps (RFC 7323) are what makes reusing a TIME_WAIT 4-tuple safe: they tell an "
        "old duplicate from a new segment. Turning them off to hide uptime is not worth that.");
}

static void close_wait(struct advisor *a)
{
    const struct st_live *l = a->l;
    uint64_t cw = l->hist.n[ST_CLOSE_WAIT];
    if (cw < CLOSE_WAIT_PILE)
        return;
    struct st_finding *f = add(a, "close-wait", 1);
    if (!f)
        return;
    SET(f, title, "%" PRIu64 " connections sit in CLOSE_WAIT: an application does not close them",
        cw);
    if (l->cw_port)
        SET(f, evidence,
            "%" PRIu64 " CLOSE_WAIT; %" PRIu64 " of them on local port %u (incoming), the most "
            "from %s (%" PRIu64 ").",
            cw, l->cw_port_count, l->cw_port, l->cw_remote, l->cw_remote_count);
    else
        SET(f, evidence,
            "%" PRIu64 " CLOSE_WAIT; the most toward %s (%" PRIu64 ", outgoing connections).", cw,
            l->cw_remote, l->cw_remote_count);
    SET(f, risk,
        "Each holds a file descriptor and its buffers until the process exits; the process "
        "runs out of descriptors (EMFILE) and clients of the service see hangs.");
    if (l->cw_port)
        SET(f, change,
            "No sysctl: fix the application. Find it with `ss -tnp state close-wait sport = "
            ":%u`; it must close() the socket once read() returns 0 (the peer's FIN).",
            l->cw_port);
    else
        SET(f, change,
            "No sysctl: fix the application. Find it with `ss -tnp state close-wait`; it must "
            "close() the socket once read() returns 0 (the peer's FIN).");
    SET(f, reason,
        "CLOSE_WAIT means the peer closed and this side's application has not called close(). "
        "The kernel has no timer for it: the socket lasts as long as the descriptor, so only "
        "the application can end it.");
}

static void server_closes_first(struct advisor *a)
{
    const struct st_live *l = a->l;
    if (l->tw_in < TW_INCOMING_NOTE || !l->tw_in_port)
        return;
    struct st_finding *f = add(a, "server-closes-first", 0);
    if (!f)
        return;
    SET(f, title, "This host closes first on clients of port %u", l->tw_in_port);
    SET(f, evidence,
        "%" PRIu64 " TIME_WAIT on incoming connections, %" PRIu64 " of them on listening port "
        "%u.",
        l->tw_in, l->tw_in_port_count, l->tw_in_port);
    SET(f, risk,
        "Usually none: a TIME_WAIT socket holds no descriptor and no buffers, and incoming "
        "connections do not use local ephemeral ports. It counts against "
        "tcp_max_tw_buckets.");
    SET(f, change,
        "None needed; to move TIME_WAIT to the clients, let them close first "
        "(HTTP keep-alive with client-side close, or a longer server idle timeout).");
    SET(f, reason,
        "TIME_WAIT sits on the side that sends the first FIN; here that is this "
        "host's service.");
}

static const char *const finding_ids[] = {
    "close-wait",          "port-exhaustion",   "port-range-narrow", "port-range",   "tw-reuse",
    "tw-recycle",          "tw-recycle-config", "max-tw-buckets",    "timestamps",   "fin-timeout",
    "syncookies",          "syn-backlog",       "somaxconn",         "accept-queue", "keepalive",
    "server-closes-first", "tw-reuse-delay",
};

int st_finding_listed(const char *list, const char *id)
{
    size_t n = strlen(id);
    for (const char *p = list; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && !memcmp(p, id, n))
            return 1;
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

int st_check_finding_ids(const char *list, char *err, size_t errlen)
{
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        int known = 0;
        for (size_t i = 0; i < sizeof finding_ids / sizeof *finding_ids; i++)
            known |= strlen(finding_ids[i]) == len && !memcmp(finding_ids[i], p, len);
        if (!known) {
            snprintf(err, errlen, "--ignore: '%.*s' is not a finding id (see docs/stat.md)",
                     (int)(len > 60 ? 60 : len), p);
            return -1;
        }
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

size_t st_advise(const struct st_sysctls *s, const struct st_live *l,
                 const struct st_conf_notes *notes, struct st_finding *out, size_t max)
{
    struct advisor a = {.s = s, .l = l, .out = out, .max = max};
    close_wait(&a);
    port_range(&a);
    tw_reuse(&a);
    tw_reuse_delay(&a);
    tw_recycle(&a, notes);
    tw_buckets(&a);
    timestamps(&a);
    fin_timeout(&a);
    syncookies(&a);
    syn_backlog(&a);
    somaxconn(&a);
    keepalive(&a);
    server_closes_first(&a);
    return a.n;
}

void st_live_from(const struct st_collect *c, struct st_live *l)
{
    memset(l, 0, sizeof *l);
    l->hist = c->hist;
    l->tw_in = c->tw_in;
    l->tw_out = c->tw_out;
    l->cw_in = c->cw_in;
    l->cw_out = c->cw_out;
    l->fullest = c->fullest;
    l->listeners = c->listeners;
    if (!c->peers)
        return;
    struct st_topk_row r;
    if (st_topk_top(c->peers->tw_tuple, &r, 1)) {
        l->top_family = r.key.family;
        memcpy(l->top_laddr, r.key.laddr, 16);
        memcpy(l->top_raddr, r.key.addr, 16);
        l->top_rport = r.key.port;
        l->top_tw = r.count;
    }
    if (st_topk_top(c->peers->local[ST_HELD_CW], &r, 1)) {
        l->cw_port = r.key.kind == ST_IN ? r.key.port : 0;
        l->cw_port_count = r.count;
    }
    if (st_topk_top(c->peers->remote[ST_HELD_CW], &r, 1)) {
        st_endpoint_str(l->cw_remote, sizeof l->cw_remote, r.key.family, r.key.addr,
                        r.key.kind == ST_IN ? -1 : r.key.port);
        l->cw_remote_count = r.count;
    }
    /* The busiest listening port among incoming TIME_WAIT (the outgoing row has port 0). */
    struct st_topk_row rows[2];
    size_t n = st_topk_top(c->peers->local[ST_HELD_TW], rows, 2);
    for (size_t i = 0; i < n; i++) {
        if (rows[i].key.kind == ST_IN) {
            l->tw_in_port = rows[i].key.port;
            l->tw_in_port_count = rows[i].count;
            break;
        }
    }
}
