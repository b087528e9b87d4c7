#include "tcp/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S(field, def, min, max, unit, doc)                                                         \
    {                                                                                              \
#field, offsetof(struct sf_tcp_config, field), def, min, max, unit, doc                    \
    }

/* Every default says where it comes from. */
const struct sf_tcp_setting sf_tcp_settings[] = {
    S(time_wait_ms, 60000, 0, 600000, "ms",
      "TIME-WAIT duration (2MSL). Linux: 60000 (TCP_TIMEWAIT_LEN); F5 TCP profile: 2000"),
    S(max_tw, 262144, 0, 1u << 26, "entries",
      "TIME-WAIT entries cap; beyond it new entries are refused (Linux tcp_max_tw_buckets)"),
    S(rfc1337, 1, 0, 1, "bool",
      "1: an RST in TIME-WAIT is ignored (RFC 1337 TIME-WAIT assassination); 0: it ends "
      "TIME-WAIT, as Linux does by default"),
    S(tw_reuse, 0, 0, 1, "bool",
      "1: an outgoing connection may take over a TIME-WAIT 4-tuple older than 1 s when "
      "timestamps protect it (Linux tcp_tw_reuse=1)"),
    S(fin_wait2_timeout_ms, 60000, 0, 3600000, "ms",
      "lifetime of a closed (orphaned) connection in FIN-WAIT-2 (Linux tcp_fin_timeout 60 s); "
      "0: it is reset as soon as it gets there"),
    S(last_ack_timeout_ms, 0, 0, 3600000, "ms",
      "silence allowed in LAST-ACK (no acceptable segment from the peer) before the "
      "connection is dropped with RST; 0 (Linux): retransmissions alone decide, bounded by "
      "retries2"),
    S(syn_retries, 6, 0, 127, "count", "SYN retransmissions (Linux tcp_syn_retries)"),
    S(synack_retries, 5, 0, 127, "count", "SYN-ACK retransmissions (Linux tcp_synack_retries)"),
    S(syncookies, 1, 0, 2, "mode",
      "0 off, 1 when the SYN backlog is full, 2 always (Linux tcp_syncookies)"),
    S(max_syn_backlog, 1024, 1, 1u << 24, "conns",
      "SYN-RECEIVED connections per listener (Linux tcp_max_syn_backlog)"),
    S(somaxconn, 4096, 1, 1u << 24, "conns", "cap on a listen() backlog (Linux somaxconn)"),
    S(retries2, 15, 1, 127, "count",
      "retransmission timeouts before an established connection is dropped (Linux "
      "tcp_retries2)"),
    S(rto_initial_ms, 1000, 1, 60000, "ms", "RTO before the first RTT sample (RFC 6298 2.1)"),
    S(rto_min_ms, 200, 1, 60000, "ms", "lower bound of the RTO (Linux TCP_RTO_MIN)"),
    S(rto_max_ms, 120000, 1, 3600000, "ms", "upper bound of the RTO (Linux TCP_RTO_MAX)"),
    S(mss, 1460, 88, 65455, "bytes", "MSS advertised: MTU 1500 - 20 (IPv4) - 20 (TCP)"),
    S(rcvbuf, 131072, 2048, 1u << 30, "bytes",
      "receive buffer per connection (Linux tcp_rmem default)"),
    S(sndbuf, 131072, 2048, 1u << 30, "bytes", "send buffer per connection"),
    S(initcwnd, 10, 1, 1000, "segments", "initial congestion window (RFC 6928, Linux)"),
    S(delack_ms, 40, 1, 500, "ms",
      "delayed ACK timer; RFC 1122 bounds it to 500 ms (Linux TCP_DELACK_MIN 40 ms)"),
    S(nodelay, 0, 0, 1, "bool", "default TCP_NODELAY (Nagle off) for new connections"),
    S(window_scaling, 1, 0, 1, "bool", "offer window scaling (RFC 7323)"),
    S(timestamps, 1, 0, 1, "bool", "offer timestamps (RFC 7323)"),
    S(sack, 1, 0, 1, "bool", "offer SACK-permitted and send SACK blocks (RFC 2018)"),
    S(wscale, 7, 0, 14, "shift", "window scale shift offered (Linux offers 7)"),
    S(keepalive, 0, 0, 1, "bool", "default SO_KEEPALIVE for new connections"),
    S(keepalive_time, 7200, 1, 32767, "s", "idle time before the first keepalive probe (Linux)"),
    S(keepalive_intvl, 75, 1, 32767, "s", "time between keepalive probes (Linux)"),
    S(keepalive_probes, 9, 1, 127, "count", "unanswered probes before the reset (Linux)"),
    S(user_timeout_ms, 0, 0, 1u << 31, "ms",
      "default TCP_USER_TIMEOUT: drop after data stays unacknowledged this long; 0 off"),
    S(challenge_ack_limit, 1000, 1, 1u << 30, "per s",
      "RFC 5961 challenge ACKs per second, engine-wide (Linux tcp_challenge_ack_limit)"),
    S(drop_syn_fin, 0, 0, 1, "bool",
      "1: a SYN+FIN to a port with no listener is dropped silently, as packet filters do; 0: "
      "answered with RST (RFC 9293 3.10.7.1)"),
    S(fastopen, 1, 0, 0xffffff, "bits",
      "TCP Fast Open (RFC 7413), Linux tcp_fastopen bits: 1 client (only for connects that ask "
      "for it), 2 server, 4 client without cookie, 0x200 server without cookie, 0x400 every "
      "listener, others ignored; 1 as Linux"),
    S(fastopen_max_pending, 1024, 0, 1u << 24, "connections",
      "Fast Open connections whose handshake has not completed, engine-wide (RFC 7413 5.1): "
      "beyond it a SYN with data is a plain SYN"),
    S(fastopen_cache, 1024, 0, 1u << 20, "entries",
      "servers' Fast Open cookies (and MSS) kept by the client side, engine-wide, the least "
      "recently used replaced; 0: none kept, every Fast Open connect asks for a cookie"),
    S(port_range_lo, 32768, 1, 65535, "port", "first ephemeral port (ip_local_port_range)"),
    S(port_range_hi, 60999, 1, 65535, "port", "last ephemeral port (ip_local_port_range)"),
};
const size_t sf_tcp_settings_count = sizeof sf_tcp_settings / sizeof sf_tcp_settings[0];

static uint32_t *field(struct sf_tcp_config *c, const struct sf_tcp_setting *s)
{
    return (uint32_t *)((char *)c + s->offset);
}

void sf_tcp_config_defaults(struct sf_tcp_config *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < sf_tcp_settings_count; i++)
        *field(c, &sf_tcp_settings[i]) = sf_tcp_settings[i].def;
}

int sf_tcp_config_check(const struct sf_tcp_config *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < sf_tcp_settings_count; i++) {
        const struct sf_tcp_setting *s = &sf_tcp_settings[i];
        uint32_t v = *field((struct sf_tcp_config *)c, s);
        if (v < s->min || v > s->max) {
            snprintf(err, errlen, "%s = %u is out of range [%u, %u]", s->name, v, s->min, s->max);
            return -EINVAL;
        }
    }
    if (c->rto_min_ms > c->rto_max_ms) {
        snprintf(err, errlen, "rto_min_ms (%u) is above rto_max_ms (%u)", c->rto_min_ms,
                 c->rto_max_ms);
        return -EINVAL;
    }
    if (c->port_range_lo > c->port_range_hi) {
        snprintf(err, errlen, "port_range_lo (%u) is above port_range_hi (%u)", c->port_range_lo,
                 c->port_range_hi);
        return -EINVAL;
    }
    if (c->rcvbuf < 2 * c->mss) {
        snprintf(err, errlen, "rcvbuf (%u) must hold at least two segments of mss %u", c->rcvbuf,
                 c->mss);
        return -EINVAL;
    }
    return 0;
}

static int parse_value(const char *text, uint32_t *out)
{
    static const struct {
        const char *word;
        uint32_t value;
    } words[] = {{"on", 1}, {"yes", 1}, {"true", 1}, {"off", 0}, {"no", 0}, {"false", 0}};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strcasecmp(text, words[i].word) == 0) {
            *out = words[i].value;
            return 0;
        }
    }
    if (*text < '0' || *text > '9')
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end || v > UINT32_MAX)
        return -EINVAL;
    *out = (uint32_t)v;
    return 0;
}

/* Linux's net.ipv4.tcp_fastopen_key text: "a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4". */
static int fastopen_key(struct sf_tcp_config *c, const char *value, char *err, size_t errlen)
{
    uint32_t w[4];
    const char *p = value;
    for (int i = 0; i < 4; i++) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 16);
        if (errno || end == p || end - p > 8 || v > UINT32_MAX || *p == '-' || *p == '+' ||
            *end != (i < 3 ? '-' : 0)) {
            snprintf(err, errlen,
                     "fastopen_key: '%s' is not four hex words a-b-c-d (as Linux's "
                     "tcp_fastopen_key)",
                     value);
            return -EINVAL;
        }
        w[i] = (uint32_t)v;
        p = end + 1;
    }
    memcpy(c->fastopen_key, w, sizeof w);
    c->fastopen_key_set = 1;
    return 0;
}

int sf_tcp_config_set(struct sf_tcp_config *c, const char *name, const char *value, char *err,
                      size_t errlen)
{
    char norm[64];
    size_t n = strlen(name);
    if (n >= sizeof norm) {
        snprintf(err, errlen, "unknown setting '%s'", name);
        return -ENOENT;
    }
    for (size_t i = 0; i <= n; i++)
        norm[i] = name[i] == '-' ? '_' : name[i];
    if (!strcmp(norm, "fastopen_key"))
        return fastopen_key(c, value, err, errlen);
    for (size_t i = 0; i < sf_tcp_settings_count; i++) {
        const struct sf_tcp_setting *s = &sf_tcp_settings[i];
        if (strcmp(s->name, norm) != 0)
            continue;
        uint32_t v;
        if (parse_value(value, &v) < 0) {
            if (strcmp(s->unit, "bool") == 0)
                snprintf(err, errlen,
                         "%s: '%s' is not on or off (also accepted: 1/0, yes/no, true/false)",
                         s->name, value);
            else
                snprintf(err, errlen, "%s: '%s' is not a whole number in %u..%u (%s)", s->name,
                         value, s->min, s->max, s->unit);
            return -EINVAL;
        }
        if (v < s->min || v > s->max) {
            snprintf(err, errlen, "%s: %u is out of range [%u, %u]", s->name, v, s->min, s->max);
            return -EINVAL;
        }
        *field(c, s) = v;
        return 0;
    }
    snprintf(err, errlen, "unknown setting '%s'", name);
    return -ENOENT;
}
