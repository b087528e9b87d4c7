/* Linux's struct tcp_info, as far as the engine can honestly fill it: the values of
 * getsockopt(TCP_INFO) and of the tcpi_* variables of %{ python }% blocks (docs/drill.md,
 * "TCP_INFO"). A name Linux has but the engine cannot give is known as such, so that a script
 * asking for it is reported unsupported with the name, never compared with a made-up value. */
#include "tcpinfo.h"

#include <stdio.h>
#include <string.h>

#include "calls.h"

/* Linux's tcpi_ca_state values (include/net/tcp.h). */
enum { LX_CA_OPEN, LX_CA_DISORDER, LX_CA_CWR, LX_CA_RECOVERY, LX_CA_LOSS };

#define LX_INFINITE_SSTHRESH 0x7fffffffL
#define SF_SSTHRESH_INFINITE (1u << 30) /* the engine's "arbitrarily high" (RFC 5681 §3.1) */

/* Linux's TCPI_OPT_* bits the engine can state: it has no ECN (bit 8, 16: always clear),
 * microsecond timestamps (64: clear); TCPI_OPT_SYN_DATA (32) from the wire. TCPI_OPT_TFO_CHILD
 * (128) is not in the engine's connection info: unknown. */
static const struct dc_tcpi_const constants[] = {
    {"TCP_ESTABLISHED", 1},    {"TCP_SYN_SENT", 2},        {"TCP_SYN_RECV", 3},
    {"TCP_FIN_WAIT1", 4},      {"TCP_FIN_WAIT2", 5},       {"TCP_TIME_WAIT", 6},
    {"TCP_CLOSE", 7},          {"TCP_CLOSE_WAIT", 8},      {"TCP_LAST_ACK", 9},
    {"TCP_LISTEN", 10},        {"TCP_CLOSING", 11},        {"TCP_CA_Open", 0},
    {"TCP_CA_Disorder", 1},    {"TCP_CA_CWR", 2},          {"TCP_CA_Recovery", 3},
    {"TCP_CA_Loss", 4},        {"TCPI_OPT_TIMESTAMPS", 1}, {"TCPI_OPT_SACK", 2},
    {"TCPI_OPT_WSCALE", 4},    {"TCPI_OPT_ECN", 8},        {"TCPI_OPT_ECN_SEEN", 16},
    {"TCPI_OPT_SYN_DATA", 32}, {"TCPI_OPT_USEC_TS", 64},
};

/* Names packetdrill gives a block (from TCP_INFO, TCP_CC_INFO, SO_MEMINFO) that the engine
 * has no value for: a block using one is not run (dc_tcpi_field returns DC_TCPI_UNKNOWN). */
static const char *const unknown_prefixes[] = {"tcpi_",   "bbr_",       "dctcp_",      "tcpv_",
                                               "tcp_rtt", "tcp_minrtt", "SK_MEMINFO_", "TCPI_OPT_"};

int dc_more_symbol(const char *name, long *out)
{
    for (size_t i = 0; i < sizeof constants / sizeof constants[0]; i++)
        if (!strcmp(constants[i].name, name)) {
            *out = constants[i].value;
            return 0;
        }
    return dc_ip_symbol(name, out) == 0 || dc_msg_symbol(name, out) == 0 ||
                   dc_epoll_symbol(name, out) == 0
               ? 0
               : -1;
}

size_t dc_tcpi_constants(const struct dc_tcpi_const **out)
{
    *out = constants;
    return sizeof constants / sizeof constants[0];
}

/* Linux's tcpi_ca_state from what the engine's NewReno says: in fast recovery, Recovery;
 * after a retransmission timeout not yet answered, Loss; with duplicate ACKs counted but no
 * fast retransmit yet, Disorder; else Open. Linux stays in Loss until everything sent before
 * the timeout is acknowledged, the engine's backoff ends at the first new ACK. */
static long ca_state(const struct sf_conn_info *in)
{
    if (in->in_recovery)
        return LX_CA_RECOVERY;
    if (in->rto_backoffs)
        return LX_CA_LOSS;
    return in->dupacks ? LX_CA_DISORDER : LX_CA_OPEN;
}

void dc_tcpi_read(struct runner *r, const struct sf_conn *c, struct dc_tcpi_in *out)
{
    sf_info(c, &out->info);
    out->syn_data = 0;
    for (size_t i = 0; i < r->nflows; i++)
        if (r->flows[i].lport == out->info.local.port && r->flows[i].rport == out->info.remote.port)
            out->syn_data = r->flows[i].syn_data_acked;
}

size_t dc_tcpi_values(const struct dc_tcpi_in *tin, struct dc_tcpi_const *out, size_t cap)
{
    const struct sf_conn_info *in = &tin->info;
    uint32_t mss = in->snd_mss ? in->snd_mss : 1;
    long ssthresh =
        in->ssthresh >= SF_SSTHRESH_INFINITE ? LX_INFINITE_SSTHRESH : (long)(in->ssthresh / mss);
    /* Linux counts segments in flight (packets_out); the engine counts bytes */
    long unacked = (long)((in->in_flight + mss - 1) / mss);
    const struct dc_tcpi_const v[] = {
        {"tcpi_state", dc_linux_state(in->state)},
        {"tcpi_ca_state", ca_state(in)},
        {"tcpi_retransmits", in->rto_backoffs},
        {"tcpi_probes", in->zwnd_probes},
        {"tcpi_backoff", in->rto_backoffs},
        {"tcpi_options", (in->ts_ok ? 1 : 0) | (in->sack_ok ? 2 : 0) | (in->wscale_ok ? 4 : 0) |
                             (tin->syn_data || in->tfo_syn_data_acked ? 32 : 0)},
        {"tcpi_snd_wscale", in->snd_wscale},
        {"tcpi_rcv_wscale", in->rcv_wscale},
        {"tcpi_rto", in->rto_us},
        {"tcpi_snd_mss", in->snd_mss},
        {"tcpi_rcv_mss", in->rcv_mss},
        {"tcpi_advmss", in->rcv_mss},
        {"tcpi_unacked", unacked},
        {"tcpi_rtt", in->srtt_us},
        {"tcpi_rttvar", in->rttvar_us},
        {"tcpi_min_rtt", in->min_rtt_us},
        {"tcpi_snd_cwnd", (long)(in->cwnd / mss)},
        {"tcpi_snd_ssthresh", ssthresh},
        {"tcpi_total_retrans", (long)in->retrans_segs},
        {"tcpi_bytes_sent", (long)in->bytes_sent},
        {"tcpi_bytes_acked", (long)in->bytes_acked},
        {"tcpi_bytes_received", (long)in->bytes_received},
        {"tcpi_segs_out", (long)in->segs_out},
        {"tcpi_segs_in", (long)in->segs_in},
        {"tcpi_notsent_bytes",
         in->unacked > in->in_flight ? (long)(in->unacked - in->in_flight) : 0},
        {"tcpi_snd_wnd", in->snd_wnd},
        {"tcpi_rcv_wnd", in->rcv_wnd},
        {"tcpi_fastopen_client_fail", in->tfo_client_fail},
    };
    size_t n = sizeof v / sizeof v[0];
    if (n > cap)
        n = cap;
    memcpy(out, v, n * sizeof v[0]);
    return n;
}

int dc_tcpi_field(const struct dc_tcpi_in *in, const char *name, long *out)
{
    struct dc_tcpi_const v[DC_TCPI_MAX];
    size_t n = dc_tcpi_values(in, v, DC_TCPI_MAX);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].name, name)) {
            *out = v[i].value;
            return 0;
        }
    const struct dc_tcpi_const *c;
    size_t nc = dc_tcpi_constants(&c);
    for (size_t i = 0; i < nc; i++)
        if (!strcmp(c[i].name, name)) {
            *out = c[i].value;
            return 0;
        }
    for (size_t i = 0; i < sizeof unknown_prefixes / sizeof unknown_prefixes[0]; i++)
        if (!strncmp(name, unknown_prefixes[i], strlen(unknown_prefixes[i])))
            return DC_TCPI_UNKNOWN;
    return DC_TCPI_NOT_OURS;
}
