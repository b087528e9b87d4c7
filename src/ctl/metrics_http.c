/* /metrics of `mode http`: requests by status class per frontend and backend, framing
 * errors, retries, and each server's connections (opened, reused, idle, closed by cause).
 * Written only when a frontend is in http mode: a layer-4 configuration gets none. */
#include "ctl/render.h"
#include "ctl/sum.h"
#include "lb/pool.h"

static void family(struct sf_strbuf *b, const char *name, const char *type, const char *help)
{
    sf_sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *class_name(int c)
{
    static const char *const names[LB_HTTP_CLASSES] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
    return names[c];
}

static void requests(struct sf_strbuf *b, struct lb *lb)
{
    family(b, "synfin_http_requests_total", "counter",
           "Requests of http frontends by the status class of their final response (none: "
           "the exchange ended before one), synfin's own answers included.");
    for (size_t i = 0; i < lb->nfe; i++)
        if (lb->fe[i]->conf.mode == LB_MODE_HTTP)
            for (int c = 0; c < LB_HTTP_CLASSES; c++)
                sf_sb_printf(b, "synfin_http_requests_total{frontend=\"%s\",class=\"%s\"} %llu\n",
                             lb->fe[i]->conf.name, class_name(c),
                             (unsigned long long)CTL_FE(lb, i, http_status[c]));
    family(b, "synfin_http_refused_total", "counter",
           "Messages refused for their framing (requests answered 400, responses 502), by "
           "rule.");
    for (size_t i = 0; i < lb->nfe; i++)
        if (lb->fe[i]->conf.mode == LB_MODE_HTTP)
            for (int e = 1; e < HTTP_E_COUNT; e++)
                sf_sb_printf(b, "synfin_http_refused_total{frontend=\"%s\",error=\"%s\"} %llu\n",
                             lb->fe[i]->conf.name, http_error_name(e),
                             (unsigned long long)CTL_FE(lb, i, http_errors[e]));
    family(b, "synfin_backend_http_requests_total", "counter",
           "Requests of http sessions by backend and status class.");
    for (size_t i = 0; i < lb->nbe; i++)
        if (lb->be[i]->conf.mode != LB_MODE_TCP)
            for (int c = 0; c < LB_HTTP_CLASSES; c++)
                sf_sb_printf(b,
                             "synfin_backend_http_requests_total{backend=\"%s\",class=\"%s\"} "
                             "%llu\n",
                             lb->be[i]->conf.name, class_name(c),
                             (unsigned long long)CTL_BE(lb, i, http_status[c]));
    family(b, "synfin_backend_http_retries_total", "counter",
           "Requests sent again on a new connection after their reused one failed before any "
           "byte of the response.");
    for (size_t i = 0; i < lb->nbe; i++)
        if (lb->be[i]->conf.mode != LB_MODE_TCP)
            sf_sb_printf(b, "synfin_backend_http_retries_total{backend=\"%s\"} %llu\n",
                         lb->be[i]->conf.name, (unsigned long long)CTL_BE(lb, i, http_retries));
}

static void server_conns(struct sf_strbuf *b, struct lb *lb)
{
    static const struct {
        const char *name, *type, *help;
    } f[] = {
        {"synfin_server_conns_opened_total", "counter",
         "Connections http sessions opened to the server."},
        {"synfin_server_conns_reused_total", "counter",
         "Requests sent over a connection that was idle (pooled, or the client's own)."},
        {"synfin_server_conns_idle", "gauge", "Idle connections in the server's pool."},
        {"synfin_server_conns_closed_total", "counter",
         "Connections of http sessions to the server closed, by cause (docs/lb.md)."},
    };
    for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) {
        family(b, f[k].name, f[k].type, f[k].help);
        for (size_t i = 0; i < lb->nbe; i++) {
            const struct lb_backend *be = lb->be[i];
            if (be->conf.mode == LB_MODE_TCP)
                continue;
            for (size_t j = 0; j < be->nservers; j++) {
                const char *bn = be->conf.name, *sn = be->servers[j]->name;
                if (k == 3) {
                    for (int c = 0; c < LB_PC_N; c++)
                        sf_sb_printf(b, "%s{backend=\"%s\",server=\"%s\",cause=\"%s\"} %llu\n",
                                     f[k].name, bn, sn, lb_pconn_cause_name(c),
                                     (unsigned long long)CTL_SRV(lb, i, j, pool.closed[c]));
                    continue;
                }
                uint64_t v = k == 0   ? CTL_SRV(lb, i, j, pool.opened)
                             : k == 1 ? CTL_SRV(lb, i, j, pool.reused)
                                      : CTL_SRV(lb, i, j, pool.idle);
                sf_sb_printf(b, "%s{backend=\"%s\",server=\"%s\"} %llu\n", f[k].name, bn, sn,
                             (unsigned long long)v);
            }
        }
    }
}

void ctl_render_metrics_http(struct lb *lb, struct sf_strbuf *b)
{
    int any = 0;
    for (size_t i = 0; i < lb->nfe; i++)
        any |= lb->fe[i]->conf.mode == LB_MODE_HTTP;
    if (!any)
        return;
    requests(b, lb);
    server_conns(b, lb);
}
