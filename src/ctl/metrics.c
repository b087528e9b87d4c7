/* /metrics: Prometheus text exposition. */
#include "ctl/render.h"
#include "ctl/sum.h"
#include "util/version.h"

#include <stdlib.h>

static void family(struct sf_strbuf *b, const char *name, const char *type, const char *help)
{
    sf_sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counters_by_cause(struct sf_strbuf *b, struct lb *lb)
{
    family(b, "synfin_sessions_closed_total", "counter",
           "Sessions ended, by frontend and close cause.");
    for (size_t i = 0; i < lb->nfe; i++)
        for (int c = 1; c < LB_CAUSE_N; c++)
            sf_sb_printf(b, "synfin_sessions_closed_total{frontend=\"%s\",cause=\"%s\"} %llu\n",
                         lb->fe[i]->conf.name, lb_cause_name(c),
                         (unsigned long long)CTL_FE(lb, i, causes[c]));
    family(b, "synfin_close_causes_total", "counter",
           "Sessions ended, by close cause, all frontends (including removed ones).");
    for (int c = 1; c < LB_CAUSE_N; c++)
        sf_sb_printf(b, "synfin_close_causes_total{cause=\"%s\"} %llu\n", lb_cause_name(c),
                     (unsigned long long)CTL_LB(lb, causes[c]));
}

static void room_metrics(struct sf_strbuf *b, struct lb *lb)
{
    family(b, "synfin_frontend_fd_paused", "gauge",
           "1 while the frontend does not accept (on some thread) because a session's "
           "connections cannot be had (descriptors): clients wait in the kernel backlog.");
    for (size_t i = 0; i < lb->nfe; i++)
        sf_sb_printf(b, "synfin_frontend_fd_paused{frontend=\"%s\"} %d\n", lb->fe[i]->conf.name,
                     (int)CTL_FE_ANY(lb, i, fd_paused));
    family(b, "synfin_frontend_fd_pauses_total", "counter",
           "Times the frontend stopped accepting for lack of descriptors.");
    for (size_t i = 0; i < lb->nfe; i++)
        sf_sb_printf(b, "synfin_frontend_fd_pauses_total{frontend=\"%s\"} %llu\n",
                     lb->fe[i]->conf.name, (unsigned long long)CTL_FE(lb, i, fd_pauses));
    family(b, "synfin_frontend_loops_total", "counter",
           "Connections the frontend reset because they came from synfin's own server side "
           "(a server address that leads back to it).");
    for (size_t i = 0; i < lb->nfe; i++)
        sf_sb_printf(b, "synfin_frontend_loops_total{frontend=\"%s\"} %llu\n", lb->fe[i]->conf.name,
                     (unsigned long long)CTL_FE(lb, i, loops));
    family(b, "synfin_frontend_proxy_untrusted_total", "counter",
           "Connections closed at once by a frontend with accept_proxy: their peer is not in "
           "its trusted ranges (bad or late headers are the close cause bad_proxy).");
    for (size_t i = 0; i < lb->nfe; i++)
        if (lb->fe[i]->conf.naccept_proxy)
            sf_sb_printf(b, "synfin_frontend_proxy_untrusted_total{frontend=\"%s\"} %llu\n",
                         lb->fe[i]->conf.name, (unsigned long long)CTL_FE(lb, i, proxy_untrusted));
    family(b, "synfin_transport_connections", "gauge",
           "Connections and listeners the transport holds (kernel: descriptors).");
    sf_sb_printf(b, "synfin_transport_connections %llu\n",
                 (unsigned long long)CTL_TP(lb, conn_open));
    if (lb->tp->conn_limit != UINT64_MAX) {
        family(b, "synfin_transport_connections_limit", "gauge",
               "How many it can hold at once (kernel: RLIMIT_NOFILE less a reserve).");
        sf_sb_printf(b, "synfin_transport_connections_limit %llu\n",
                     (unsigned long long)CTL_TP(lb, conn_limit));
    }
}

/* The transport's families, summed over every thread's (thread 0's own first). */
static void transport_metrics(struct lb *lb, struct sf_strbuf *b)
{
    if (!lb->shared) {
        lb_transport_metrics(&lb->tp, 1, b);
        return;
    }
    uint32_t n = lb->shared->nthreads;
    struct lb_transport **tps = calloc(n, sizeof *tps);
    if (!tps)
        return;
    size_t k = 0;
    tps[k++] = lb->tp;
    for (uint32_t t = 0; t < n; t++)
        if (lb->shared->lb[t] != lb)
            tps[k++] = lb->shared->lb[t]->tp;
    lb_transport_metrics(tps, k, b);
    free(tps);
}

void ctl_render_metrics(struct lb *lb, const struct lb_census *c, uint64_t age_ns,
                        struct sf_strbuf *b)
{
    family(b, "synfin_info", "gauge", "Build and transport of this synfin.");
    sf_sb_printf(b, "synfin_info{version=\"%d\",transport=\"%s\"} 1\n", CTL_STATS_VERSION,
                 lb->tp->ops->name);
    /* The release beside the stats schema above (whose label keeps its name for scrapers). */
    family(b, "synfin_build_info", "gauge", "Release and git revision this synfin was built from.");
    sf_sb_printf(b, "synfin_build_info{version=\"%s\",revision=\"%s\"} 1\n", sf_release,
                 sf_revision);
    family(b, "synfin_uptime_seconds", "gauge", "Seconds since start.");
    sf_sb_printf(b, "synfin_uptime_seconds %.3f\n",
                 (double)(sf_loop_now(lb->loop) - lb->started_ns) / 1e9);
    family(b, "synfin_reloads_total", "counter", "Configuration reloads, by result.");
    sf_sb_printf(b, "synfin_reloads_total{result=\"ok\"} %llu\n", (unsigned long long)lb->reloads);
    sf_sb_printf(b, "synfin_reloads_total{result=\"rejected\"} %llu\n",
                 (unsigned long long)lb->reload_failures);

    family(b, "synfin_sessions_active", "gauge", "Live sessions, by frontend.");
    for (size_t i = 0; i < lb->nfe; i++)
        sf_sb_printf(b, "synfin_sessions_active{frontend=\"%s\"} %u\n", lb->fe[i]->conf.name,
                     lb_frontend_active_all(lb->fe[i]));
    family(b, "synfin_sessions_total", "counter", "Sessions accepted, by frontend.");
    for (size_t i = 0; i < lb->nfe; i++)
        sf_sb_printf(b, "synfin_sessions_total{frontend=\"%s\"} %llu\n", lb->fe[i]->conf.name,
                     (unsigned long long)lb_frontend_sessions_all(lb->fe[i]));
    family(b, "synfin_frontend_bytes_total", "counter",
           "Bytes relayed by finished sessions: in = client to server, out = server to client.");
    for (size_t i = 0; i < lb->nfe; i++) {
        sf_sb_printf(b, "synfin_frontend_bytes_total{frontend=\"%s\",direction=\"in\"} %llu\n",
                     lb->fe[i]->conf.name, (unsigned long long)CTL_FE(lb, i, bytes_in));
        sf_sb_printf(b, "synfin_frontend_bytes_total{frontend=\"%s\",direction=\"out\"} %llu\n",
                     lb->fe[i]->conf.name, (unsigned long long)CTL_FE(lb, i, bytes_out));
    }
    counters_by_cause(b, lb);
    room_metrics(b, lb);

    family(b, "synfin_backend_sessions_active", "gauge",
           "Live sessions, by backend: queued, connecting or established.");
    for (size_t i = 0; i < lb->nbe; i++)
        sf_sb_printf(b, "synfin_backend_sessions_active{backend=\"%s\"} %u\n", lb->be[i]->conf.name,
                     (unsigned)CTL_BE(lb, i, active));
    family(b, "synfin_backend_sessions_total", "counter",
           "Sessions the backend gave a server, each once whatever its retries.");
    for (size_t i = 0; i < lb->nbe; i++)
        sf_sb_printf(b, "synfin_backend_sessions_total{backend=\"%s\"} %llu\n",
                     lb->be[i]->conf.name, (unsigned long long)CTL_BE(lb, i, sessions_total));
    family(b, "synfin_backend_queue", "gauge", "Sessions waiting for a server slot.");
    for (size_t i = 0; i < lb->nbe; i++)
        sf_sb_printf(b, "synfin_backend_queue{backend=\"%s\"} %u\n", lb->be[i]->conf.name,
                     (unsigned)CTL_BE(lb, i, queued));
    family(b, "synfin_backend_no_server_total", "counter", "Sessions that found no usable server.");
    for (size_t i = 0; i < lb->nbe; i++)
        sf_sb_printf(b, "synfin_backend_no_server_total{backend=\"%s\"} %llu\n",
                     lb->be[i]->conf.name, (unsigned long long)CTL_BE(lb, i, no_server_total));

    static const struct {
        const char *name, *type, *help;
    } sf[] = {
        {"synfin_server_up", "gauge", "1 when the server is usable (checks and ejection)."},
        {"synfin_server_state", "gauge",
         "1 for the state the runtime API set (ready, drain, maint), 0 for the others."},
        {"synfin_server_weight", "gauge", "The weight in force (the runtime API may change it)."},
        {"synfin_server_sessions_active", "gauge", "Sessions assigned to the server."},
        {"synfin_server_sessions_total", "counter", "Sessions sent to the server."},
        {"synfin_server_connect_failures_total", "counter", "Failed connects to the server."},
        {"synfin_server_bytes_total", "counter", "Bytes relayed by finished sessions."},
    };
    uint64_t now = sf_loop_now(lb->loop);
    for (size_t f = 0; f < sizeof sf / sizeof sf[0]; f++) {
        family(b, sf[f].name, sf[f].type, sf[f].help);
        for (size_t i = 0; i < lb->nbe; i++) {
            const struct lb_backend *be = lb->be[i];
            for (size_t j = 0; j < be->nservers; j++) {
                const struct lb_server *s = be->servers[j];
                const char *bn = be->conf.name, *sn = s->name;
                switch (f) {
                case 0:
                    sf_sb_printf(b, "%s{backend=\"%s\",server=\"%s\"} %d\n", sf[f].name, bn, sn,
                                 lb_server_usable(s, now));
                    break;
                case 1:
                    for (int k = LB_SRV_READY; k <= LB_SRV_MAINT; k++)
                        sf_sb_printf(b, "%s{backend=\"%s\",server=\"%s\",state=\"%s\"} %d\n",
                                     sf[f].name, bn, sn, lb_srv_admin_name(k), s->admin_state == k);
                    break;
                case 2:
                    sf_sb_printf(b, "%s{backend=\"%s\",server=\"%s\"} %u\n", sf[f].name, bn, sn,
                                 s->weight);
                    break;
                case 3:
                    sf_sb_printf(b, "%s{backend=\"%s\",server=\"%s\"} %u\n", sf[f].name, bn, sn,
                                 lb_server_load(s));
                    break;
                case 4:
                    sf_sb_printf(b, "%s{backend=\"%s\",server=\"%s\"} %llu\n", sf[f].name, bn, sn,
                                 (unsigned long long)lb_server_sessions_all(s));
                    break;
                case 5:
                    sf_sb_printf(b, "%s{backend=\"%s\",server=\"%s\"} %llu\n", sf[f].name, bn, sn,
                                 (unsigned long long)CTL_SRV(lb, i, j, connect_failures));
                    break;
                default:
                    sf_sb_printf(b, "%s{backend=\"%s\",server=\"%s\",direction=\"in\"} %llu\n",
                                 sf[f].name, bn, sn,
                                 (unsigned long long)CTL_SRV(lb, i, j, bytes_in));
                    sf_sb_printf(b, "%s{backend=\"%s\",server=\"%s\",direction=\"out\"} %llu\n",
                                 sf[f].name, bn, sn,
                                 (unsigned long long)CTL_SRV(lb, i, j, bytes_out));
                    break;
                }
            }
        }
    }

    family(b, "synfin_tcp_sockets", "gauge",
           "synfin's own TCP sockets by state (TCP_INFO on its sockets; TIME_WAIT and "
           "SYN_RECEIVED on its addresses from sock_diag).");
    for (int s = 0; s < SF_STATE_COUNT; s++)
        sf_sb_printf(b, "synfin_tcp_sockets{state=\"%s\"} %llu\n", sf_state_name(s),
                     (unsigned long long)c->states[s]);
    family(b, "synfin_tcp_census_age_seconds", "gauge",
           "Age of the census behind synfin_tcp_sockets and synfin_time_wait_sockets (taken "
           "in the background while scrapes come, at most once a second).");
    sf_sb_printf(b, "synfin_tcp_census_age_seconds %.3f\n", (double)age_ns / 1e9);
    family(b, "synfin_time_wait_sockets", "gauge",
           "TIME_WAIT entries on synfin's addresses, by side.");
    sf_sb_printf(b, "synfin_time_wait_sockets{side=\"frontend\"} %llu\n",
                 (unsigned long long)c->tw_frontend);
    sf_sb_printf(b, "synfin_time_wait_sockets{side=\"backend\"} %llu\n",
                 (unsigned long long)c->tw_backend);
    sf_sb_printf(b, "synfin_time_wait_sockets{side=\"respond\"} %llu\n",
                 (unsigned long long)c->tw_respond);
    family(b, "synfin_time_wait_removed_total", "counter",
           "TIME_WAIT entries an abort found on its own connection (synfin's FIN went first, "
           "as after a client's FIN with server_close rst), by result: removed through "
           "sock_diag, or left.");
    sf_sb_printf(b, "synfin_time_wait_removed_total{result=\"removed\"} %llu\n",
                 (unsigned long long)CTL_TP(lb, tw_removed));
    sf_sb_printf(b, "synfin_time_wait_removed_total{result=\"left\"} %llu\n",
                 (unsigned long long)CTL_TP(lb, tw_left));
    family(b, "synfin_buffers_in_use", "gauge", "Pipe buffers holding bytes.");
    sf_sb_printf(b, "synfin_buffers_in_use %llu\n", (unsigned long long)CTL_LB(lb, pool.in_use));
    ctl_render_metrics_histograms(lb, b);
    ctl_render_metrics_http(lb, b);
    family(b, "synfin_buffers_free_bytes", "gauge",
           "Pipe buffer memory kept on the free lists for reuse (at most 64 MiB).");
    sf_sb_printf(b, "synfin_buffers_free_bytes %llu\n",
                 (unsigned long long)CTL_LB(lb, pool.free_bytes));
    transport_metrics(lb, b);
    ctl_render_metrics_process(b);
    ctl_render_metrics_threads(lb, b);
    ctl_render_metrics_loop(lb, b);
}
