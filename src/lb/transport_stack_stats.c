/* The stack transport's figures: every engine transition counted by cause and by the state
 * entered, TIME_WAIT by local port (for the census's frontend/backend split), the census from
 * the engine's own counters, and the synfin_stack_* metrics (docs/lb.md). With threads, thread
 * 0 sums every thread's: the counters kept here are written with LB_COUNT_* by their thread,
 * the engine's are read from the copy each thread publishes (docs/architecture.md, "Admin and
 * figures"). */
#include "lb/counter.h"
#include "lb/transport_stack_int.h"

#include "util/strbuf.h"

#include <string.h>

#define NWORDS(x) (sizeof(x) / sizeof(uint64_t))
_Static_assert(sizeof(struct sf_engine_stats) % sizeof(uint64_t) == 0,
               "sf_engine_stats is made of uint64_t only");

void lb_stack_on_transition(void *ctx, const struct sf_transition *t)
{
    struct stransport *tp = ctx;
    if ((unsigned)t->cause < SF_CAUSE_COUNT)
        LB_COUNT_INC(tp->transitions[t->cause]);
    LB_COUNT_INC(tp->to_state[t->to]);
    if ((unsigned)t->cause < SF_CAUSE_COUNT && t->from < SF_STATE_COUNT && t->to < SF_STATE_COUNT)
        LB_COUNT_INC(tp->arrows[lb_arrow_index(t->from, t->to, t->cause)]);
    struct lb_transition *r = &tp->trace.ring[tp->trace.n++ % LB_TRACE_LEN];
    r->conn_id = t->id;
    r->when_ns = sf_loop_now(tp->base.loop);
    r->from = (uint8_t)t->from;
    r->to = (uint8_t)t->to;
    r->cause = (uint8_t)t->cause;
    if (t->to == SF_TIME_WAIT)
        LB_COUNT_INC(tp->tw_port[t->local.port]);
    if (t->from == SF_TIME_WAIT) {
        LB_COUNT_DEC(tp->tw_port[t->local.port]);
        if (t->cause == SF_CAUSE_ABORT)
            LB_COUNT_INC(tp->base.tw_removed);
    }
}

/* TIME_WAIT entries on the listening ports in list (each port once). */
static uint64_t tw_on(const struct stransport *tp, const struct lb_addr *const *list, size_t n)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        uint16_t port = lb_addr_port(list[i]);
        int seen = 0;
        for (size_t k = 0; k < i && !seen; k++)
            seen = lb_addr_port(list[k]) == port;
        if (!seen)
            sum += LB_COUNT_LOAD(tp->tw_port[port]);
    }
    return sum;
}

/* The engine's counters: its own thread asks the engine, another reads what it published. */
static void engine_stats(const struct stransport *tp, int own, struct sf_engine_stats *st,
                         uint64_t *tx_drops)
{
    if (own) {
        struct sf_host_stats hs;
        sf_engine_stats(tp->e, st);
        sf_host_stats(tp->host, &hs);
        *tx_drops = hs.tx_drops;
        return;
    }
    uint64_t *d = (uint64_t *)(void *)st;
    const uint64_t *p = (const uint64_t *)(const void *)&tp->pub;
    for (size_t i = 0; i < NWORDS(*st); i++)
        d[i] = LB_COUNT_LOAD(p[i]);
    *tx_drops = LB_COUNT_LOAD(tp->pub_tx_drops);
}

void lb_stack_publish(struct lb_transport *t)
{
    struct stransport *tp = (struct stransport *)t;
    struct sf_engine_stats st;
    uint64_t tx_drops;
    engine_stats(tp, 1, &st, &tx_drops);
    const uint64_t *s = (const uint64_t *)(const void *)&st;
    uint64_t *p = (uint64_t *)(void *)&tp->pub;
    for (size_t i = 0; i < NWORDS(st); i++)
        LB_COUNT_SET(p[i], s[i]);
    LB_COUNT_SET(tp->pub_tx_drops, tx_drops);
}

static void census_of(const struct stransport *tp, int own, const struct lb_census_scope *sc,
                      struct lb_census *c)
{
    struct sf_engine_stats st;
    uint64_t tx_drops;
    engine_stats(tp, own, &st, &tx_drops);
    for (int i = 0; i < SF_STATE_COUNT; i++)
        c->states[i] += st.states[i];
    uint64_t fe = tw_on(tp, sc->frontends, sc->nfrontends);
    uint64_t rs = tw_on(tp, sc->responds, sc->nresponds);
    c->tw_frontend += fe;
    c->tw_respond += rs;
    c->tw_backend += st.states[SF_TIME_WAIT] > fe + rs ? st.states[SF_TIME_WAIT] - fe - rs : 0;
}

/* Everything the engine holds is synfin's: its own counters answer, in O(1), so the census
 * completes in one call whatever the budget. */
int lb_stack_census(struct lb_transport *t, const struct lb_census_scope *sc, struct lb_census *c,
                    unsigned budget)
{
    (void)budget;
    census_of((struct stransport *)t, 1, sc, c);
    return 1;
}

void lb_stack_census_published(struct lb_transport *t, const struct lb_census_scope *sc,
                               struct lb_census *c)
{
    census_of((struct stransport *)t, 0, sc, c);
}

static void family(struct sf_strbuf *b, const char *name, const char *type, const char *help)
{
    sf_sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(struct sf_strbuf *b, const char *name, const char *help, uint64_t v)
{
    family(b, name, "counter", help);
    sf_sb_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* Causes whose transition sends an RST (the rest of the engine's RSTs answer segments for
 * no connection, or challenge nothing: synfin_stack_resets_sent_total has them all). */
static int rst_cause(int c)
{
    return c == SF_CAUSE_ABORT || c == SF_CAUSE_UNREAD_CLOSE || c == SF_CAUSE_LINGER0 ||
           c == SF_CAUSE_LISTENER_CLOSED || c == SF_CAUSE_KEEPALIVE_TIMEOUT ||
           c == SF_CAUSE_FIN_WAIT2_TIMEOUT || c == SF_CAUSE_LAST_ACK_TIMEOUT;
}

/* Every thread's figures summed: t[0] the caller's own transport, the others published. */
struct ssum {
    struct sf_engine_stats st;
    uint64_t tx_drops;
    uint64_t transitions[SF_CAUSE_COUNT];
    uint64_t to_state[SF_STATE_COUNT];
};

static void sum_of(struct lb_transport *const *t, size_t n, struct ssum *out)
{
    memset(out, 0, sizeof *out);
    for (size_t k = 0; k < n; k++) {
        const struct stransport *tp = (const struct stransport *)t[k];
        struct sf_engine_stats st;
        uint64_t tx_drops;
        engine_stats(tp, k == 0, &st, &tx_drops);
        const uint64_t *s = (const uint64_t *)(const void *)&st;
        uint64_t *d = (uint64_t *)(void *)&out->st;
        for (size_t i = 0; i < NWORDS(st); i++)
            d[i] += s[i];
        out->tx_drops += tx_drops;
        for (int c = 0; c < SF_CAUSE_COUNT; c++)
            out->transitions[c] += LB_COUNT_LOAD(tp->transitions[c]);
        for (int i = 0; i < SF_STATE_COUNT; i++)
            out->to_state[i] += LB_COUNT_LOAD(tp->to_state[i]);
    }
}

void lb_stack_metrics(struct lb_transport *const *t, size_t n, struct sf_strbuf *b)
{
    struct ssum all;
    const struct ssum *sum = &all;
    sum_of(t, n, &all);
    const struct sf_engine_stats st = all.st;
    family(b, "synfin_stack_transitions_total", "counter",
           "State transitions of synfin's own TCP, by cause (docs/engine.md).");
    for (int c = 1; c < SF_CAUSE_COUNT; c++)
        sf_sb_printf(b, "synfin_stack_transitions_total{cause=\"%s\"} %llu\n", sf_cause_id(c),
                     (unsigned long long)sum->transitions[c]);
    family(b, "synfin_stack_transitions_to_total", "counter",
           "State transitions of synfin's own TCP, by the state entered.");
    for (int s = 0; s < SF_STATE_COUNT; s++)
        sf_sb_printf(b, "synfin_stack_transitions_to_total{state=\"%s\"} %llu\n", sf_state_name(s),
                     (unsigned long long)sum->to_state[s]);
    family(b, "synfin_stack_time_wait_entries", "gauge",
           "TIME-WAIT entries in the engine's table.");
    sf_sb_printf(b, "synfin_stack_time_wait_entries %llu\n", (unsigned long long)st.tw_live);
    family(b, "synfin_stack_time_wait_bytes", "gauge", "Memory of the TIME-WAIT table.");
    sf_sb_printf(b, "synfin_stack_time_wait_bytes %llu\n", (unsigned long long)st.tw_memory);
    counter(b, "synfin_stack_time_wait_refused_total",
            "TIME-WAIT entries refused: max_time_wait reached.", st.tw_overflow);
    counter(b, "synfin_stack_retransmits_total", "Segments sent again.", st.retrans_segs);
    counter(b, "synfin_stack_keepalive_probes_total", "Keepalive probes sent.",
            st.keepalive_probes);
    counter(b, "synfin_stack_keepalive_timeouts_total",
            "Connections reset after unanswered keepalive probes.", st.keepalive_timeouts);
    family(b, "synfin_stack_syncookies_total", "counter", "Syncookies, by result.");
    sf_sb_printf(b, "synfin_stack_syncookies_total{result=\"sent\"} %llu\n",
                 (unsigned long long)st.syncookies_sent);
    sf_sb_printf(b, "synfin_stack_syncookies_total{result=\"validated\"} %llu\n",
                 (unsigned long long)st.syncookies_ok);
    sf_sb_printf(b, "synfin_stack_syncookies_total{result=\"rejected\"} %llu\n",
                 (unsigned long long)st.syncookies_failed);
    family(b, "synfin_stack_fastopen_total", "counter",
           "TCP Fast Open (RFC 7413) SYNs, by result: cookie sent, data accepted, bad cookie "
           "refused, limit reached.");
    sf_sb_printf(b, "synfin_stack_fastopen_total{result=\"cookie_sent\"} %llu\n",
                 (unsigned long long)st.tfo_cookies_sent);
    sf_sb_printf(b, "synfin_stack_fastopen_total{result=\"accepted\"} %llu\n",
                 (unsigned long long)st.tfo_accepted);
    sf_sb_printf(b, "synfin_stack_fastopen_total{result=\"refused\"} %llu\n",
                 (unsigned long long)st.tfo_refused);
    sf_sb_printf(b, "synfin_stack_fastopen_total{result=\"overflow\"} %llu\n",
                 (unsigned long long)st.tfo_overflow);
    family(b, "synfin_stack_fastopen_client_total", "counter",
           "TCP Fast Open to servers, by result: cookie requested, SYN with data sent, its data "
           "acknowledged, data sent again after the handshake, a plain SYN after a loss.");
    const struct {
        const char *result;
        uint64_t n;
    } fo[] = {{"cookie_requested", st.tfo_client_requests},
              {"syn_data", st.tfo_client_syn_data},
              {"data_acked", st.tfo_client_data_acked},
              {"fallback", st.tfo_client_fallbacks},
              {"blocked", st.tfo_client_blocked}};
    for (size_t i = 0; i < sizeof fo / sizeof fo[0]; i++)
        sf_sb_printf(b, "synfin_stack_fastopen_client_total{result=\"%s\"} %llu\n", fo[i].result,
                     (unsigned long long)fo[i].n);
    counter(b, "synfin_stack_resets_sent_total", "RST segments sent, all causes.", st.rst_out);
    family(b, "synfin_stack_resets_sent_by_cause_total", "counter",
           "Connections ended with an RST sent, by cause.");
    for (int c = 1; c < SF_CAUSE_COUNT; c++)
        if (rst_cause(c))
            sf_sb_printf(b, "synfin_stack_resets_sent_by_cause_total{cause=\"%s\"} %llu\n",
                         sf_cause_id(c), (unsigned long long)sum->transitions[c]);
    family(b, "synfin_stack_segments_total", "counter", "TCP segments, by direction.");
    sf_sb_printf(b, "synfin_stack_segments_total{direction=\"in\"} %llu\n",
                 (unsigned long long)st.segs_in);
    sf_sb_printf(b, "synfin_stack_segments_total{direction=\"out\"} %llu\n",
                 (unsigned long long)st.segs_out);
    counter(b, "synfin_stack_segments_dropped_total",
            "Segments dropped as malformed, with a bad checksum, or out of window.",
            st.in_malformed + st.in_bad_csum + st.out_of_window + st.paws_drops);
    counter(b, "synfin_stack_device_drops_total", "Packets the device refused to take.",
            sum->tx_drops);
    family(b, "synfin_stack_connection_bytes", "gauge",
           "Memory of the engine's connections and their buffers, bytes.");
    sf_sb_printf(b, "synfin_stack_connection_bytes %llu\n",
                 (unsigned long long)(st.conns_live * sf_conn_size() + st.bytes_buffered));
}

uint64_t lb_stack_finishing(struct lb_transport *t)
{
    struct stransport *tp = (struct stransport *)t;
    struct sf_engine_stats st;
    sf_engine_stats(tp->e, &st);
    return st.conns_live - st.states[SF_LISTEN];
}
