/* /sessions, a session's timeline, the ended ring and kills on threads other than the admin
 * listener's (sessions.h): each is an lb_call the owning thread runs on its own loop, since
 * only it may walk its sessions. A page is asked for a slice at a time (as many sessions as
 * the admin listener's budget pays for), so neither loop is held long. */
#include "ctl/sessions.h"
#include "lb/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* ---- a page of another thread's session list ---- */

struct ctl_page {
    struct lb_call call;
    struct lb *lb; /* the asker's */
    uint32_t t;
    int posted; /* a step is out and its answer not yet taken */
    /* asked */
    uint64_t after;
    uint32_t want;
    int first;
    /* the owner's own, between steps */
    struct lb_session_cursor cur;
    int opened;
    /* answered */
    struct sf_strbuf out;
    uint32_t got;
    uint64_t last_id;
    int more;
};

static void page_fn(struct lb *lb, struct lb_call *c)
{
    struct ctl_page *p = CONTAINER(c, struct ctl_page, call);
    uint64_t now = sf_loop_now(lb->loop);
    if (!p->opened) {
        lb_cursor_open(lb, &p->cur);
        p->opened = 1;
        /* pointer chasing only: ids grow with age, the list is newest first */
        while (p->after && p->cur.at && p->cur.at->id >= p->after)
            p->cur.at = p->cur.at->next;
    }
    p->got = 0;
    while (p->cur.at && p->got < p->want) {
        ctl_session_obj(&p->out, p->cur.at, now, p->first && p->got == 0);
        p->last_id = p->cur.at->id;
        p->got++;
        p->cur.at = p->cur.at->next;
    }
    p->more = p->cur.at != NULL;
}

/* On the owner (or on the asker once the owner's loop has ended for good). */
static void page_release(struct lb *lb, struct lb_call *c)
{
    struct ctl_page *p = CONTAINER(c, struct ctl_page, call);
    if (p->opened)
        lb_cursor_close(lb, &p->cur);
    sf_sb_free(&p->out);
    free(p);
}

struct ctl_page *ctl_page_new(struct lb *lb, uint32_t t, uint64_t after)
{
    struct ctl_page *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->lb = lb;
    p->t = t;
    p->after = after;
    p->more = 1;
    sf_sb_init(&p->out);
    p->call.fn = page_fn;
    p->call.release = page_release;
    return p;
}

int ctl_page_step(struct ctl_page *p, uint32_t want, int first, struct sf_strbuf *out,
                  uint32_t *got, uint64_t *last_id)
{
    if (p->posted) {
        if (!lb_call_done(&p->call))
            return CTL_BODY_WAIT;
        p->posted = 0;
        if (p->out.failed)
            out->failed = 1;
        sf_sb_append(out, p->out.p, p->out.len);
        p->out.len = 0;
        *got = p->got;
        *last_id = p->last_id;
        return p->got || p->more ? CTL_BODY_MORE : CTL_BODY_DONE;
    }
    if (!p->more)
        return CTL_BODY_DONE;
    p->want = want ? want : 1;
    p->first = first;
    if (lb_call_post(p->lb, p->t, &p->call) < 0) {
        p->more = 0; /* its loop has ended, and its sessions with it */
        return CTL_BODY_DONE;
    }
    p->posted = 1;
    return CTL_BODY_WAIT;
}

int ctl_page_more(const struct ctl_page *p)
{
    return p->more;
}

int ctl_page_posted(const struct ctl_page *p)
{
    return p->posted;
}

void ctl_page_free(struct ctl_page *p)
{
    if (!p)
        return;
    if (p->posted && !lb_call_abandon(&p->call))
        return; /* the owner releases it after its step */
    if (!p->opened) {
        sf_sb_free(&p->out);
        free(p);
        return;
    }
    /* The cursor is in the owner's list: the owner closes it. */
    p->call.fn = page_release;
    p->call.oneway = 1;
    if (lb_call_post(p->lb, p->t, &p->call) < 0)
        page_release(lb_thread_lb(p->lb, p->t), &p->call); /* it left its struct lb for good */
}

/* ---- one answer from another thread: a timeline, a kill, the ended rings ---- */

enum { R_DETAIL, R_KILL, R_ENDED };

struct remote {
    struct ctl_body base;
    struct lb_call call;
    struct lb *lb;
    int kind, posted;
    uint32_t t; /* R_ENDED: the next thread to ask */
    uint64_t id;
    char rest[32];
    /* answered */
    int status;
    struct sf_strbuf out;
    struct lb_ended *ended; /* R_ENDED: every thread's, newest first each */
    size_t nended;
};

static void remote_fn(struct lb *lb, struct lb_call *c)
{
    struct remote *r = CONTAINER(c, struct remote, call);
    switch (r->kind) {
    case R_DETAIL: r->status = ctl_session_detail(lb, r->rest, &r->out); break;
    case R_KILL:
        if (lb_kill_session(lb, r->id) < 0) {
            sf_sb_printf(&r->out, "no session %llu\n", (unsigned long long)r->id);
            r->status = 404;
        } else {
            sf_sb_printf(&r->out, "killed session %llu\n", (unsigned long long)r->id);
            r->status = 200;
        }
        break;
    default:
        for (uint64_t i = 0; i < LB_ENDED_MAX && i < lb->nended; i++)
            r->ended[r->nended++] = lb->ended[(lb->nended - 1 - i) % LB_ENDED_MAX];
        break;
    }
}

static void remote_release(struct lb *lb, struct lb_call *c)
{
    struct remote *r = CONTAINER(c, struct remote, call);
    (void)lb;
    sf_sb_free(&r->out);
    free(r->ended);
    free(r);
}

static int by_end_newest(const void *a, const void *b)
{
    const struct lb_ended *x = a, *y = b;
    return x->t_end < y->t_end ? 1 : x->t_end > y->t_end ? -1 : 0;
}

/* Every thread's ring merged: the last LB_ENDED_MAX of the process. */
static void ended_render(struct remote *r, struct sf_strbuf *out)
{
    qsort(r->ended, r->nended, sizeof *r->ended, by_end_newest);
    /* Each loop reads the monotonic clock at its own wake: another thread's last end may
     * be a little after this loop's now. */
    uint64_t now = sf_loop_now(r->lb->loop);
    if (r->nended && r->ended[0].t_end > now)
        now = r->ended[0].t_end;
    sf_sb_printf(out, "{\"version\":%d,\"ended\":[", CTL_STATS_VERSION);
    for (size_t i = 0; i < r->nended && i < LB_ENDED_MAX; i++) {
        sf_sb_printf(out, "%s", i ? "," : "");
        ctl_ended_obj(out, &r->ended[i], now);
    }
    sf_sb_printf(out, "]}\n");
    r->base.ctype = "application/json";
}

static int remote_fill(struct ctl_body *bd, struct sf_strbuf *out, unsigned *budget)
{
    struct remote *r = (struct remote *)bd;
    (void)budget;
    if (r->posted) {
        if (!lb_call_done(&r->call))
            return CTL_BODY_WAIT;
        r->posted = 0;
        if (r->kind != R_ENDED) {
            r->base.status = r->status;
            r->base.ctype = r->status == 200 && r->kind == R_DETAIL ? "application/json"
                                                                    : "text/plain; charset=utf-8";
            sf_sb_append(out, r->out.p, r->out.len);
            return CTL_BODY_DONE;
        }
        r->t++;
    }
    if (r->kind == R_ENDED) {
        for (; r->t < r->lb->shared->nthreads; r->t++) {
            if (r->t == r->lb->thread) {
                remote_fn(r->lb, &r->call); /* its own ring, here */
                continue;
            }
            if (lb_call_post(r->lb, r->t, &r->call) == 0) {
                r->posted = 1;
                return CTL_BODY_WAIT;
            }
        }
        ended_render(r, out);
        return CTL_BODY_DONE;
    }
    if (lb_call_post(r->lb, r->t, &r->call) < 0) {
        r->base.status = 404;
        sf_sb_printf(out, "no session %llu (its thread has ended)\n", (unsigned long long)r->id);
        return CTL_BODY_DONE;
    }
    r->posted = 1;
    return CTL_BODY_WAIT;
}

static void remote_free(struct ctl_body *bd)
{
    struct remote *r = (struct remote *)bd;
    if (r->posted && !lb_call_abandon(&r->call))
        return; /* the other thread releases it after its answer */
    remote_release(r->lb, &r->call);
}

static int remote_new(struct lb *lb, int kind, uint32_t t, struct ctl_body **out,
                      struct remote **rp)
{
    struct remote *r = calloc(1, sizeof *r);
    if (!r)
        return 503;
    if (kind == R_ENDED &&
        !(r->ended = calloc((size_t)lb->shared->nthreads * LB_ENDED_MAX, sizeof *r->ended))) {
        free(r);
        return 503;
    }
    r->base.fill = remote_fill;
    r->base.free = remote_free;
    r->lb = lb;
    r->kind = kind;
    r->t = t;
    sf_sb_init(&r->out);
    r->call.fn = remote_fn;
    r->call.release = remote_release;
    *out = &r->base;
    *rp = r;
    return 200;
}

int ctl_remote_detail(struct lb *lb, uint32_t t, const char *rest, struct ctl_body **out)
{
    struct remote *r;
    int status = remote_new(lb, R_DETAIL, t, out, &r);
    if (status == 200) {
        snprintf(r->rest, sizeof r->rest, "%s", rest);
        r->id = strtoull(rest, NULL, 10);
    }
    return status;
}

int ctl_remote_kill(struct lb *lb, uint32_t t, uint64_t id, struct ctl_body **out)
{
    struct remote *r;
    int status = remote_new(lb, R_KILL, t, out, &r);
    if (status == 200)
        r->id = id;
    return status;
}

int ctl_remote_ended(struct lb *lb, struct ctl_body **out)
{
    struct remote *r;
    return remote_new(lb, R_ENDED, 0, out, &r);
}
