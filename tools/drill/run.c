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

__attribute__((format(printf, 2, 3))) void dr_log(struct runner *r, const char *fmt, ...)
{
    if (!r->set->verbose || !r->set->log)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(r->set->log, fmt, ap);
    va_end(ap);
}

const char *dr_packet_text(const struct dr_packet *p, char *buf, size_t len)
{
    struct dr_text t;
    dr_text_init(&t, buf, len);
    dr_format_packet(&t, p);
    return buf;
}

const char *dr_action_text(const struct dr_event *ev, char *buf, size_t len)
{
    struct dr_text t;
    dr_text_init(&t, buf, len);
    dr_format_action(&t, ev);
    return buf;
}

/* ---- waiting ------------------------------------------------------------------------------ */

struct wait {
    struct runner *r;
    enum dr_wait_mode mode;
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
    if (rc == DR_CALL_DONE) {
        dr_code_note_call(r, &r->call);
        dr_call_check(r, &r->call);
    }
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
static int stale(const struct runner *r, enum dr_wait_mode mode)
{
    if (!r->out_n || mode == WANT || mode == COLLECT)
        return 0;
    return mode == END || r->outq[r->out_head].t + r->tolerance < dr_now(r);
}

static int unexpected(struct runner *r, const struct dr_event *next)
{
    const struct dr_out *o = &r->outq[r->out_head];
    char a[1024], b[1024];
    static struct dr_packet shown; /* large: not on the stack */
    shown = o->pkt;
    shown.tos_check = DR_TOS_NONE, shown.ttl = 0, shown.flowlabel = 0; /* the line asks none */
    const char *actual = o->bad ? o->err : dr_packet_text(&shown, a, sizeof a);
    if (next)
        return dr_fail(r, next,
                       "expected: no packet before this event (%s) / actual: %s at time %.6f",
                       dr_action_text(next, b, sizeof b), actual, dr_secs(o->t));
    return dr_fail(r, r->s->nevents ? &r->s->events[r->s->nevents - 1] : NULL,
                   "expected: no more packets after the last event / actual: %s at time %.6f",
                   actual, dr_secs(o->t));
}

/* Runs the sim until target (or, with until_return, until the blocking call in progress
 * returns). Returns 1 when a packet arrived (WANT), 0 at target, -1 when the script failed
 * (an unexpected packet, a blocking call that returned wrong or late). */
static int advance(struct runner *r, const struct dr_event *ev, sf_time_t target,
                   enum dr_wait_mode mode, int until_return)
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
                               dr_action_text(cev, b, sizeof b), dr_secs(r->call.end),
                               dr_secs(dr_now(r)), dr_secs(r->tolerance));
            }
            if (mode == WANT && r->out_n)
                return 1;
        }
        if (dr_now(r) >= target)
            return stale(r, mode) ? unexpected(r, ev) : 0;
    }
}

int dr_advance_to(struct runner *r, const struct dr_event *ev, sf_time_t target,
                  enum dr_wait_mode mode)
{
    return advance(r, ev, target, mode, 0);
}

/* Waits for the blocking call in progress to return (by its deadline at the latest). */
int dr_await_call(struct runner *r, const struct dr_event *ev)
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
int dr_reach(struct runner *r, const struct dr_event *ev, sf_time_t start)
{
    if (dr_now(r) > start + r->tolerance)
        return dr_fail(r, ev,
                       "timing error: expected %s at %.6f but the script got there at "
                       "%.6f (tolerance %.6f)",
                       ev->kind == DR_EV_PACKET ? "inbound packet" : "system call start",
                       dr_secs(start), dr_secs(dr_now(r)), dr_secs(r->tolerance));
    return dr_advance_to(r, ev, start, QUIET) < 0 ? -1 : 0;
}

static int start_call(struct runner *r, const struct dr_event *ev, sf_time_t start, sf_time_t end)
{
    /* one blocking call at a time, as in packetdrill: the next call waits for it */
    if (dr_await_call(r, ev) < 0 || dr_reach(r, ev, start) < 0)
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
            return dr_await_call(r, ev);
        return 0;
    }
    dr_code_note_call(r, &r->call);
    return dr_call_check(r, &r->call);
}

static int run_event(struct runner *r, const struct dr_event *ev, const struct dr_event *prev,
                     sf_time_t *prev_time)
{
    sf_time_t start, end;
    event_window(r, ev, prev, *prev_time, &start, &end);
    *prev_time = start;
    if (ev->kind == DR_EV_CODE)
        return dr_reach(r, ev, start) < 0 ? -1 : dr_code_event(r, ev);
    if (ev->kind == DR_EV_SHELL) {
        if (dr_reach(r, ev, start) < 0)
            return -1;
        if (!r->started)
            return 0; /* applied before the engine was made (configure) */
        struct sf_tcp_config cfg = r->cfg;
        if (dr_apply_shell(r, ev, &cfg) < 0)
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
        return dr_expect_packet(r, ev, start, end);
    if (ev->kind == DR_EV_PACKET)
        return dr_reach(r, ev, start) < 0 ? -1 : dr_inject(r, ev);
    if (ev->call.has_end && ev->time.kind == DR_TIME_REL)
        end = start - (sf_time_t)ev->time.start + (sf_time_t)ev->call.end;
    else if (ev->call.has_end)
        end = (sf_time_t)ev->call.end;
    return start_call(r, ev, start, end);
}

/* After the last event: a call still blocking must return. As packetdrill, nothing the engine
 * sends after that is checked; with strict_end (our corpus), packets sent within the
 * tolerance, or left unmatched, fail the script. Then the %{ python }% blocks run. */
static int finish(struct runner *r)
{
    const struct dr_event *last = &r->s->events[r->s->nevents - 1];
    if (dr_await_call(r, last) < 0)
        return -1;
    if (r->strict_end && dr_advance_to(r, NULL, dr_now(r) + r->tolerance, END) < 0)
        return -1;
    return dr_code_run(r);
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
    r->code_fd = -1;
    msg[0] = 0;
    if (dr_configure(r) == 0 && dr_build_world(r) == 0) {
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
    dr_code_free(r);
    if (r->eng)
        sf_engine_free(r->eng);
    sf_sim_free(r->sim);
    free(r->outq);
    free(r->flows);
    free(r);
    return unsupported ? 1 : failed ? -1 : 0;
}
