/* /sessions and its parts across threads (sessions.c, sessions_threads.c): each thread owns
 * its sessions, so thread 0's admin listener asks another thread for a page of its list, a
 * session's timeline, its ring of ended sessions, or a kill, as an lb_call that thread runs
 * on its own loop (lb.h; docs/architecture.md, "Admin and figures"). */
#ifndef SYNFIN_CTL_SESSIONS_H
#define SYNFIN_CTL_SESSIONS_H

#include "ctl/render.h"

/* One session in a listing (",{...}" unless first), and one ended. */
void ctl_session_obj(struct sf_strbuf *b, const struct lb_session *s, uint64_t now, int first);
void ctl_ended_obj(struct sf_strbuf *b, const struct lb_ended *e, uint64_t now);
/* Units (about one system call each) a listed session costs. */
#define CTL_SESSION_UNITS 8

/* A page of another thread's session list, asked for a slice at a time. */
struct ctl_page;
/* Starts on thread t: sessions older than after (0: from its newest). NULL: no memory. */
struct ctl_page *ctl_page_new(struct lb *lb, uint32_t t, uint64_t after);
/* CTL_BODY_WAIT while thread t works; CTL_BODY_MORE after appending its next sessions (at
 * most want; first: no comma before the first) to out, with their count and the last id;
 * CTL_BODY_DONE when the thread has no more (nothing appended). */
int ctl_page_step(struct ctl_page *p, uint32_t want, int first, struct sf_strbuf *out,
                  uint32_t *got, uint64_t *last_id);
/* Whether the thread's list goes on after what was appended. */
int ctl_page_more(const struct ctl_page *p);
/* Whether a step is out (the next ctl_page_step waits for it, appending nothing before). */
int ctl_page_posted(const struct ctl_page *p);
void ctl_page_free(struct ctl_page *p);

/* GET /sessions/ID of another thread's session, POST /sessions/ID/kill, and GET
 * /sessions/ended from every thread: a body that waits for the answer. Returns the status
 * (200 until the answer says otherwise) or 503. */
int ctl_remote_detail(struct lb *lb, uint32_t t, const char *rest, struct ctl_body **out);
int ctl_remote_kill(struct lb *lb, uint32_t t, uint64_t id, struct ctl_body **out);
int ctl_remote_ended(struct lb *lb, struct ctl_body **out);

#endif
