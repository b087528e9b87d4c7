/* Session and event log lines. Output is buffered and flushed once per loop iteration, so
 * logging costs no system call per session. */
#include "lb/log.h"
#include "lb/log_lines.h"
#include "lb/http_session.h"
#include "lb/log_sink.h"
#include "lb/session.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

static void stamp(struct lb *lb, char *buf, size_t len)
{
    uint64_t ns = sf_loop_wall_ns(lb->loop);
    time_t sec = (time_t)(ns / SF_NSEC_PER_SEC);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%06uZ", (unsigned)(ns % SF_NSEC_PER_SEC / 1000));
}

static double ms_between(uint64_t a, uint64_t b)
{
    return b > a ? (double)(b - a) / 1e6 : 0.0;
}

void lb_log_session(struct lb *lb, const struct lb_session *s, int cause, int client_rst,
                    int server_rst)
{
    if (!lb->log)
        return;
    char ts[40], ca[LB_ADDR_STRLEN], sa[LB_ADDR_STRLEN];
    uint64_t now = sf_loop_now(lb->loop);
    stamp(lb, ts, sizeof ts);
    lb_addr_format(&s->client, ca, sizeof ca);
    if (s->srv)
        lb_addr_format(&s->srv->addr, sa, sizeof sa);
    else
        strcpy(sa, "-");
    double queue_ms =
        s->t_queued ? ms_between(s->t_queued, s->t_connect ? s->t_connect : now) : 0.0;
    double connect_ms = s->t_established ? ms_between(s->t_connect, s->t_established) : -1.0;
    /* One line in several calls: with threads the stream is shared, the line stays whole. */
    flockfile(lb->log);
    fprintf(lb->log,
            "%s session=%llu frontend=%s client=%s backend=%s server=%s server_addr=%s "
            "cause=%s bytes_up=%llu bytes_down=%llu queue_ms=%.3f connect_ms=%.3f "
            "duration_ms=%.3f retries=%u client_close=%s server_close=%s",
            ts, (unsigned long long)s->id, s->fe->conf.name, ca, s->be->conf.name,
            s->srv ? s->srv->name : "-", sa, lb_cause_name(cause), (unsigned long long)s->up.bytes,
            (unsigned long long)s->down.bytes, queue_ms, connect_ms, ms_between(s->t_start, now),
            s->retries, client_rst ? "rst" : "fin", s->sc ? (server_rst ? "rst" : "fin") : "-");
    if (s->http)
        fprintf(lb->log, " mode=http requests=%u", s->http->nreq);
    fputc('\n', lb->log);
    funlockfile(lb->log);
}

static const char *method_name(int m)
{
    static const char *const names[] = {"other",  "GET",     "HEAD",    "POST",  "PUT",
                                        "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
    return m >= 0 && m < (int)(sizeof names / sizeof names[0]) ? names[m] : "other";
}

void lb_log_request(struct lb *lb, const struct lb_session *s)
{
    const struct lb_http *h = s->http;
    if (!lb->log || !h)
        return;
    char ts[40], ca[LB_ADDR_STRLEN], sa[LB_ADDR_STRLEN];
    uint64_t now = sf_loop_now(lb->loop);
    uint64_t first = h->t_first ? h->t_first : now;
    stamp(lb, ts, sizeof ts);
    lb_addr_format(&s->client, ca, sizeof ca);
    if (s->srv)
        lb_addr_format(&s->srv->addr, sa, sizeof sa);
    else
        strcpy(sa, "-");
    /* HAProxy's timers: Ti (idle before the request), TR (its head), Tw (queue), Tc
     * (connect; 0 on a reused connection, -1 without one), Tr (response head after the
     * request head went out), Ta (first byte to last). */
    uint64_t got = h->t_conn_done ? h->t_conn_done : now;
    double queue_ms = h->t_queue ? ms_between(h->t_queue, h->t_conn ? h->t_conn : got) : 0.0;
    double connect_ms = h->t_conn && h->t_conn_done ? ms_between(h->t_conn, h->t_conn_done)
                        : h->t_conn_done            ? 0.0
                                                    : -1.0;
    double response_ms = h->t_resp && h->t_sent ? ms_between(h->t_sent, h->t_resp) : -1.0;
    const char *conn = !h->t_conn_done ? "-" : h->reused ? "reused" : "new";
    fprintf(lb->log,
            "%s request=%llu.%u frontend=%s client=%s backend=%s server=%s server_addr=%s "
            "method=%s status=%d bytes_up=%llu bytes_down=%llu idle_ms=%.3f request_ms=%.3f "
            "queue_ms=%.3f connect_ms=%.3f response_ms=%.3f total_ms=%.3f server_conn=%s "
            "retried=%u keepalive=%u\n",
            ts, (unsigned long long)s->id, h->nreq, s->fe->conf.name, ca, s->be->conf.name,
            s->srv ? s->srv->name : "-", sa, method_name(h->method), h->status,
            (unsigned long long)h->req_bytes, (unsigned long long)h->resp_bytes,
            ms_between(h->t_idle, first), h->t_head ? ms_between(first, h->t_head) : -1.0, queue_ms,
            connect_ms, response_ms, ms_between(first, now), conn, (unsigned)h->retried,
            (unsigned)h->keep_client);
}

void lb_logf(struct lb *lb, const char *fmt, ...)
{
    if (!lb->log)
        return;
    char ts[40];
    stamp(lb, ts, sizeof ts);
    flockfile(lb->log); /* one whole line, whichever thread writes beside it */
    fprintf(lb->log, "%s ", ts);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(lb->log, fmt, ap);
    va_end(ap);
    fputc('\n', lb->log);
    funlockfile(lb->log);
}

void lb_log_close(struct lb *lb)
{
    if (lb->log) {
        fflush(lb->log);
        if (lb->log_owned)
            fclose(lb->log);
    }
    lb->log = NULL;
    lb->log_owned = 0;
}

int lb_log_prepare(const struct lb_config *c, struct lb_log_dest *d)
{
    d->f = NULL;
    d->owned = 0;
    int no_time = 0;
    switch (c->log_target) {
    case LB_LOG_STDOUT: d->f = stdout; break;
    case LB_LOG_STDERR:
        d->f = stderr;
        /* The journal stamps every line itself. */
        no_time = lb_log_stderr_is_journal();
        break;
    case LB_LOG_FILE:
        /* With threads, each thread's stream must not write half a line (log_lines.h). */
        d->f = c->threads > 1 ? lb_log_lines_open(c->log_path) : fopen(c->log_path, "a");
        if (!d->f)
            return -errno;
        d->owned = 1;
        break;
    case LB_LOG_SYSLOG: break;
    default: return 0;
    }
    if (c->log_target == LB_LOG_SYSLOG || c->log_format == LB_LOG_JSON || no_time) {
        FILE *s = lb_log_sink_open(c, d->f, d->owned, no_time);
        if (!s) {
            int e = errno;
            if (d->owned)
                fclose(d->f);
            d->f = NULL;
            d->owned = 0;
            return -e;
        }
        d->f = s;
        d->owned = 1;
    }
    return 0;
}

void lb_log_set(struct lb *lb, const struct lb_log_dest *d)
{
    lb_log_close(lb);
    lb->log = d->f;
    lb->log_owned = d->owned;
}

void lb_log_discard(struct lb_log_dest *d)
{
    if (d->owned)
        fclose(d->f);
    d->f = NULL;
    d->owned = 0;
}

const char *lb_cause_name(int c)
{
    static const char *const names[LB_CAUSE_N] = {
        "none",
        "client_fin",
        "server_fin",
        "client_rst",
        "server_rst",
        "connect_fail",
        "connect_timeout",
        "loop",
        "idle_timeout",
        "client_fin_timeout",
        "server_fin_timeout",
        "queue_timeout",
        "no_server",
        "drain",
        "admin_kill",
        "stop",
        "error",
        "http_close",
        "keepalive_timeout",
        "bad_request",
        "bad_response",
        "bad_proxy",
    };
    return c >= 0 && c < LB_CAUSE_N ? names[c] : "?";
}
