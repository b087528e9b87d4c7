/* GET /sessions: the live sessions, newest first, a page at a time (?limit=N&after=ID), made
 * in slices over loop iterations.
 *
 * Each session listed costs two TCP_INFO looks (and getsockname, SIOCOUTQ) on kernel
 * sockets, so a page is bounded (CTL_SESSIONS_LIMIT by default) and each slice lists only as
 * many as its budget pays for. Between slices the place in the session list is held by an
 * lb_session_cursor, which sessions ending move on. The list is newest first and ids grow
 * with age order, so `after=ID` (the previous page's `next`) starts at the first session
 * older than ID: sessions born while a client pages are not listed (they would be on a new
 * first page), and every session alive from the first page to the last is listed exactly
 * once. */
#include "ctl/sessions.h"
#include "ctl/timeline.h"
#include "lb/session.h"

#include <stdlib.h>
#include <string.h>

/* Units (about one system call each): a session listed costs about 8 (CTL_SESSION_UNITS),
 * passing over one newer than `after` (pointer chasing) a 64th. */
#define SKIP_PER_UNIT 64
/* A slice stops once this much waits in the output: the socket takes it first. */
#define SLICE_BYTES (64u << 10)

struct sessions {
    struct ctl_body base;
    struct lb *lb;
    struct lb_session_cursor cur;
    uint64_t after; /* 0: from the newest */
    uint32_t limit, listed;
    uint64_t last_id;
    int begun;
    /* With threads: the thread being listed (this one's list first, then 1, 2, ...), and
     * the page asked of it when it is another. */
    uint32_t t;
    struct ctl_page *pg;
};

/* One connection of a session: its TCP state and its age, since `since` (accept for the
 * client, the connect for the server). */
static void conn_obj(struct sf_strbuf *b, struct lb_conn *c, uint64_t since, uint64_t now)
{
    struct lb_conn_info in;
    char l[LB_ADDR_STRLEN], p[LB_ADDR_STRLEN];
    if (!c || lb_conn_info(c, &in) < 0) {
        sf_sb_printf(b, "null");
        return;
    }
    sf_sb_printf(b,
                 "{\"state\":\"%s\",\"age_ms\":%.3f,\"local\":\"%s\",\"peer\":\"%s\","
                 "\"unacked\":%u,\"rtt_us\":%u,\"cause\":",
                 sf_state_name(in.state), (double)(now - since) / 1e6,
                 lb_addr_format(&in.local, l, sizeof l), lb_addr_format(&in.peer, p, sizeof p),
                 in.unacked, in.rtt_us);
    if (in.cause)
        sf_sb_json_str(b, in.cause);
    else
        sf_sb_printf(b, "null");
    sf_sb_printf(b, "}");
}

void ctl_session_obj(struct sf_strbuf *b, const struct lb_session *s, uint64_t now, int first)
{
    static const char *const states[] = {"queued", "connecting", "established"};
    char a[LB_ADDR_STRLEN];
    uint64_t last = s->last_c > s->last_s ? s->last_c : s->last_s;
    sf_sb_printf(b, "%s{\"id\":%llu,\"frontend\":", first ? "" : ",", (unsigned long long)s->id);
    sf_sb_json_str(b, s->fe->conf.name);
    sf_sb_printf(b, ",\"backend\":");
    sf_sb_json_str(b, s->be->conf.name);
    sf_sb_printf(b, ",\"server\":");
    if (s->srv)
        sf_sb_json_str(b, s->srv->name);
    else
        sf_sb_printf(b, "null");
    sf_sb_printf(b,
                 ",\"client_addr\":\"%s\",\"state\":\"%s\",\"age_ms\":%.3f,"
                 "\"idle_ms\":%.3f,\"bytes_up\":%llu,\"bytes_down\":%llu,"
                 "\"client_fin\":%s,\"server_fin\":%s,\"client\":",
                 lb_addr_format(&s->client, a, sizeof a), states[s->state],
                 (double)(now - s->t_start) / 1e6, (double)(now - last) / 1e6,
                 (unsigned long long)s->up.bytes, (unsigned long long)s->down.bytes,
                 s->up.eof ? "true" : "false", s->down.eof ? "true" : "false");
    conn_obj(b, s->cc, s->t_start, now);
    sf_sb_printf(b, ",\"server_conn\":");
    conn_obj(b, s->sc, s->t_connect, now);
    sf_sb_printf(b, "}");
}

static unsigned spend(unsigned *budget, unsigned n)
{
    *budget = *budget > n ? *budget - n : 0;
    return *budget;
}

static int tail(struct sessions *q, struct sf_strbuf *out, int more_here)
{
    sf_sb_printf(out, "],\"next\":");
    /* More when an older session is there now (on this thread, or a thread listed after
     * it); one that ends before the next page is asked for just makes that page shorter
     * (or empty). */
    int more = more_here || (q->lb->shared && q->t + 1 < q->lb->shared->nthreads);
    if (more && q->listed == q->limit)
        sf_sb_printf(out, "%llu}\n", (unsigned long long)q->last_id);
    else
        sf_sb_printf(out, "null}\n");
    return CTL_BODY_DONE;
}

/* On to the next thread's list (from its newest): 0 when there is none. */
static int next_thread(struct sessions *q)
{
    if (!q->lb->shared || q->t + 1 >= q->lb->shared->nthreads)
        return 0;
    q->t++;
    return 1;
}

/* The sessions of threads other than this one: asked for, a page slice at a time. */
static int others_fill(struct sessions *q, struct sf_strbuf *out, unsigned *budget, size_t start)
{
    for (;;) {
        if (!q->pg) {
            uint64_t after = q->after >> LB_THREAD_ID_SHIFT == q->t ? q->after : 0;
            if (!(q->pg = ctl_page_new(q->lb, q->t, after)))
                return CTL_BODY_FAIL;
        }
        uint32_t want = q->limit - q->listed, pay = *budget / CTL_SESSION_UNITS;
        if (want > pay)
            want = pay ? pay : 1;
        /* What a fill wrote must go out before it waits (a WAIT's output is not kept
         * until the head is sent): the ask goes in the next slice. */
        if (!ctl_page_posted(q->pg) && out->len > start)
            return CTL_BODY_MORE;
        uint32_t got = 0;
        uint64_t last = 0;
        int rc = ctl_page_step(q->pg, want, q->listed == 0, out, &got, &last);
        if (rc == CTL_BODY_WAIT)
            return CTL_BODY_WAIT;
        if (got) {
            q->listed += got;
            q->last_id = last;
            spend(budget, got * CTL_SESSION_UNITS);
        }
        int more_here = rc == CTL_BODY_MORE && ctl_page_more(q->pg);
        if (q->listed == q->limit)
            return tail(q, out, more_here);
        if (!more_here) {
            ctl_page_free(q->pg);
            q->pg = NULL;
            if (!next_thread(q))
                return tail(q, out, 0);
        }
        if (*budget == 0 || out->len >= SLICE_BYTES)
            return CTL_BODY_MORE;
    }
}

static int sessions_fill(struct ctl_body *bd, struct sf_strbuf *out, unsigned *budget)
{
    struct sessions *q = (struct sessions *)bd;
    uint64_t now = sf_loop_now(q->lb->loop);
    size_t start = out->len;
    if (!q->begun) {
        q->begun = 1;
        sf_sb_printf(out, "{\"version\":%d,\"sessions\":[", CTL_STATS_VERSION);
    }
    if (q->t != q->lb->thread)
        return others_fill(q, out, budget, start);
    for (unsigned n = 0; q->after && q->cur.at && q->cur.at->id >= q->after; n++) {
        if (n == SKIP_PER_UNIT) {
            n = 0;
            if (!spend(budget, 1))
                return CTL_BODY_MORE;
        }
        q->cur.at = q->cur.at->next;
    }
    while (q->cur.at && q->listed < q->limit) {
        if (*budget == 0 || out->len >= SLICE_BYTES)
            return CTL_BODY_MORE;
        ctl_session_obj(out, q->cur.at, now, q->listed == 0);
        q->last_id = q->cur.at->id;
        q->listed++;
        q->cur.at = q->cur.at->next;
        spend(budget, CTL_SESSION_UNITS);
    }
    if (!q->cur.at && q->listed < q->limit && next_thread(q))
        return others_fill(q, out, budget, start);
    return tail(q, out, q->cur.at != NULL);
}

static void sessions_free(struct ctl_body *bd)
{
    struct sessions *q = (struct sessions *)bd;
    lb_cursor_close(q->lb, &q->cur);
    ctl_page_free(q->pg);
    free(q);
}

/* A whole positive decimal number of at most max. */
static int parse_uint(const char *v, size_t len, uint64_t max, uint64_t *out)
{
    uint64_t n = 0;
    if (len == 0 || len > 20)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9' || n > (max - (uint64_t)(v[i] - '0')) / 10)
            return -1;
        n = n * 10 + (uint64_t)(v[i] - '0');
    }
    *out = n;
    return n > 0 ? 0 : -1;
}

int ctl_sessions_body(struct lb *lb, const char *query, struct ctl_body **out,
                      struct sf_strbuf *err)
{
    uint64_t limit = CTL_SESSIONS_LIMIT, after = 0;
    for (const char *p = query; *p;) {
        size_t len = strcspn(p, "&");
        const char *eq = memchr(p, '=', len);
        size_t klen = eq ? (size_t)(eq - p) : len;
        const char *v = eq ? eq + 1 : p + len;
        size_t vlen = (size_t)(p + len - v);
        if (klen == 5 && !memcmp(p, "limit", 5)) {
            if (parse_uint(v, vlen, CTL_SESSIONS_LIMIT_MAX, &limit) < 0) {
                sf_sb_printf(err, "limit: a whole number from 1 to %d\n", CTL_SESSIONS_LIMIT_MAX);
                return 400;
            }
        } else if (klen == 5 && !memcmp(p, "after", 5)) {
            if (parse_uint(v, vlen, UINT64_MAX, &after) < 0) {
                sf_sb_printf(err, "after: a session id (the previous page's \"next\")\n");
                return 400;
            }
        } /* other parameters are not ours to refuse (cache busters) */
        p += len + (p[len] == '&');
    }
    struct sessions *q = calloc(1, sizeof *q);
    if (!q)
        return 503;
    q->base.fill = sessions_fill;
    q->base.free = sessions_free;
    q->lb = lb;
    q->limit = (uint32_t)limit;
    q->after = after;
    q->t = lb->thread;
    if (lb->shared && after >> LB_THREAD_ID_SHIFT > lb->thread &&
        after >> LB_THREAD_ID_SHIFT < lb->shared->nthreads)
        q->t = (uint32_t)(after >> LB_THREAD_ID_SHIFT); /* the page goes on there */
    lb_cursor_open(lb, &q->cur);
    *out = &q->base;
    return 200;
}

/* ---- one session, and the sessions that ended last (GET /sessions/ID, /sessions/ended) -- */

static const char *fin_text(int first_fin)
{
    return first_fin == LB_CAUSE_CLIENT_FIN   ? "the client closed first (its FIN)"
           : first_fin == LB_CAUSE_SERVER_FIN ? "the server closed first (its FIN)"
                                              : "no FIN yet";
}

static void live_obj(struct sf_strbuf *b, struct lb_session *s, uint64_t now)
{
    struct ctl_timeline *tl = malloc(sizeof *tl);
    if (!tl) {
        b->failed = 1;
        return;
    }
    sf_sb_printf(b, "{\"version\":%d,\"live\":true,\"session\":", CTL_STATS_VERSION);
    ctl_session_obj(b, s, now, 1);
    sf_sb_printf(b, ",\"first_fin\":");
    sf_sb_json_str(b, fin_text(s->first_fin));
    ctl_tl_init(tl, s->t_start);
    ctl_tl_trace(tl, s->lb->tp->trace, s->conn_id);
    ctl_tl_stamps(tl, s->t_queued, s->t_connect, s->t_established);
    struct lb_conn *sides[2] = {s->cc, s->sc};
    for (int i = 0; i < 2; i++) {
        struct lb_conn_info in;
        if (sides[i] && lb_conn_info(sides[i], &in) == 0)
            ctl_tl_add(tl, now, i ? "server_now" : "client_now", "%s connection %s now%s%s",
                       i ? "server" : "client", sf_state_name(in.state), in.cause ? ", after " : "",
                       in.cause ? in.cause : "");
    }
    ctl_tl_render(tl, b);
    free(tl);
    sf_sb_printf(b, "}\n");
}

void ctl_ended_obj(struct sf_strbuf *b, const struct lb_ended *e, uint64_t now)
{
    char a[LB_ADDR_STRLEN];
    sf_sb_printf(b, "{\"id\":%llu,\"frontend\":", (unsigned long long)e->id);
    sf_sb_json_str(b, e->frontend);
    sf_sb_printf(b, ",\"backend\":");
    sf_sb_json_str(b, e->backend);
    sf_sb_printf(b, ",\"server\":");
    if (e->server[0])
        sf_sb_json_str(b, e->server);
    else
        sf_sb_printf(b, "null");
    sf_sb_printf(b,
                 ",\"client_addr\":\"%s\",\"age_ms\":%.3f,\"ended_ms_ago\":%.3f,"
                 "\"bytes_up\":%llu,\"bytes_down\":%llu,\"close_cause\":\"%s\"}",
                 lb_addr_format(&e->client, a, sizeof a), (double)(e->t_end - e->t_start) / 1e6,
                 (double)(now - e->t_end) / 1e6, (unsigned long long)e->bytes_up,
                 (unsigned long long)e->bytes_down, lb_cause_name(e->cause));
}

/* The members after "session" in GET /sessions/ID of an ended one. */
static void ended_timeline(struct sf_strbuf *b, const struct lb *lb, const struct lb_ended *e)
{
    struct ctl_timeline *tl = malloc(sizeof *tl);
    if (!tl) {
        b->failed = 1;
        return;
    }
    sf_sb_printf(b, ",\"first_fin\":");
    sf_sb_json_str(b, fin_text(e->first_fin));
    ctl_tl_init(tl, e->t_start);
    ctl_tl_trace(tl, lb->tp->trace, e->conn_id);
    ctl_tl_stamps(tl, e->t_queued, e->t_connect, e->t_established);
    ctl_tl_add(tl, e->t_end, "ended", "%s", lb_cause_name(e->cause));
    ctl_tl_render(tl, b);
    free(tl);
}

int ctl_session_detail(struct lb *lb, const char *rest, struct sf_strbuf *b)
{
    uint64_t now = sf_loop_now(lb->loop);
    if (!strcmp(rest, "ended")) {
        sf_sb_printf(b, "{\"version\":%d,\"ended\":[", CTL_STATS_VERSION);
        uint64_t n = lb->nended < LB_ENDED_MAX ? lb->nended : LB_ENDED_MAX;
        for (uint64_t i = 0; i < n; i++) {
            sf_sb_printf(b, "%s", i ? "," : "");
            ctl_ended_obj(b, &lb->ended[(lb->nended - 1 - i) % LB_ENDED_MAX], now);
        }
        sf_sb_printf(b, "]}\n");
        return 200;
    }
    uint64_t id;
    if (parse_uint(rest, strlen(rest), UINT64_MAX, &id) < 0)
        return 404;
    /* A walk of the list: one request, pointer chasing only (no system call per session). */
    for (struct lb_session *s = lb->sessions; s; s = s->next)
        if (s->id == id) {
            live_obj(b, s, now);
            return 200;
        }
    for (uint64_t i = 0; i < LB_ENDED_MAX && i < lb->nended; i++) {
        const struct lb_ended *e = &lb->ended[(lb->nended - 1 - i) % LB_ENDED_MAX];
        if (e->id == id) {
            sf_sb_printf(b, "{\"version\":%d,\"live\":false,\"session\":", CTL_STATS_VERSION);
            ctl_ended_obj(b, e, now);
            ended_timeline(b, lb, e);
            sf_sb_printf(b, "}\n");
            return 200;
        }
    }
    sf_sb_printf(b, "no session %llu (not live, nor among the last %d ended)\n",
                 (unsigned long long)id, LB_ENDED_MAX);
    return 404;
}
