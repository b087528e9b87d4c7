/* The load balancer at run time: frontends accepting sessions for backends, the built-in
 * responders, counters, the session log, reload, drain and stop.
 *
 * One struct lb per event-loop thread; it owns everything it points to. */
#ifndef SYNFIN_LB_LB_H
#define SYNFIN_LB_LB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "http/h1.h"
#include "lb/backend.h"
#include "lb/buffer.h"
#include "lb/config.h"
#include "io/loop.h"
#include "lb/transport.h"

/* Why a session ended: the first event that decided it. */
enum lb_cause {
    LB_CAUSE_NONE,
    LB_CAUSE_CLIENT_FIN,
    LB_CAUSE_SERVER_FIN,
    LB_CAUSE_CLIENT_RST,
    LB_CAUSE_SERVER_RST,
    LB_CAUSE_CONNECT_FAIL,
    LB_CAUSE_CONNECT_TIMEOUT,
    LB_CAUSE_LOOP,
    LB_CAUSE_IDLE_TIMEOUT,
    LB_CAUSE_CLIENT_FIN_TIMEOUT,
    LB_CAUSE_SERVER_FIN_TIMEOUT,
    LB_CAUSE_QUEUE_TIMEOUT,
    LB_CAUSE_NO_SERVER,
    LB_CAUSE_DRAIN,
    LB_CAUSE_ADMIN_KILL,
    LB_CAUSE_STOP,
    LB_CAUSE_ERROR,
    /* http mode */
    LB_CAUSE_HTTP_CLOSE,        /* closed after a response that said `Connection: close` */
    LB_CAUSE_KEEPALIVE_TIMEOUT, /* idle between two requests for keepalive_timeout */
    LB_CAUSE_BAD_REQUEST,       /* a malformed request, answered 400 */
    LB_CAUSE_BAD_RESPONSE,      /* a malformed response, answered 502 */
    LB_CAUSE_BAD_PROXY,         /* accept_proxy: no valid PROXY header in time */
    LB_CAUSE_N
};
const char *lb_cause_name(int c);

struct lb_session;

struct lb_frontend {
    struct lb_frontend_conf conf;
    struct lb *lb;
    struct lb_backend *backend;
    /* One per listen line, as conf.listen; NULL once closed (drain) or not yet adopted. */
    struct lb_listener *listener[LB_LISTEN_MAX];
    uint32_t next_listener; /* where the next accept round starts: each gets its turn */
    uint64_t listen_sessions[LB_LISTEN_MAX]; /* sessions accepted on each listen address */
    uint32_t active;
    uint64_t sessions_total, bytes_in, bytes_out, accept_errors;
    uint64_t causes[LB_CAUSE_N];
    int paused;                 /* at maxconn, or out of descriptors: not accepting */
    int fd_paused;              /* ... because a session's connections cannot be had */
    uint64_t fd_pauses;         /* times it paused so */
    uint64_t loops;             /* connections refused: from synfin's own server side */
    uint64_t proxy_untrusted;   /* accept_proxy: connections from a peer not trusted */
    uint64_t loop_logged;       /* when the last loop_detected line went out (ns), 0 never */
    struct sf_loop_timer retry; /* accepting again after the kernel said EMFILE anyway */
    /* mode http: final responses by status class (0: none, 1-5: 1xx-5xx), refused
     * requests by framing error */
    uint64_t http_status[LB_HTTP_CLASSES];
    uint64_t http_errors[HTTP_E_COUNT];
    /* With threads: the count of sessions on every thread that maxconn holds (shared.h);
     * a slot is taken before each accept. NULL: one thread. */
    struct lb_shared_fe *sh;
    uint32_t refs;
    int removed;
};

struct lb_respond {
    struct lb_respond_conf conf;
    struct lb *lb;
    struct lb_listener *listener;
    char *response; /* the whole HTTP response */
    size_t response_len;
    uint64_t served;
    int fd_paused; /* not accepting: no descriptor left for it */
    uint32_t refs;
    int removed;
};

/* A connection synfin holds outside sessions (responders, checks): listed for /stats. */
struct lb_aux {
    struct lb_conn *conn;
    void (*kill)(struct lb_aux *a); /* ends it at exit */
    struct lb_aux *prev, *next;
};

/* A place in the session list (newest first) that survives sessions ending: an admin
 * listing walks the list over several loop iterations. `at` is the next session to visit
 * (NULL: the end); a session that ends while a cursor points at it moves the cursor on. */
struct lb_session_cursor {
    struct lb_session *at;
    struct lb_session_cursor *prev, *next;
};

/* A session that ended, kept for the dashboard's session timelines (GET /sessions/ID) while
 * it is among the last LB_ENDED_MAX. */
#define LB_ENDED_MAX 64
struct lb_ended {
    uint64_t id;
    uint64_t t_start, t_queued, t_connect, t_established, t_end; /* loop clock; 0: never */
    uint64_t bytes_up, bytes_down;
    int cause, first_fin;
    uint64_t conn_id[2]; /* client, server: their transitions in lb_transport.trace */
    struct lb_addr client;
    char frontend[LB_NAME_MAX], backend[LB_NAME_MAX], server[LB_NAME_MAX];
};

struct lb {
    struct sf_loop *loop;
    struct lb_transport *tp;
    struct lb_bufpool pool;
    struct sf_hook hook;

    struct lb_frontend **fe;
    size_t nfe;
    struct lb_backend **be;
    size_t nbe;
    struct lb_respond **rs;
    size_t nrs;

    struct lb_session *sessions; /* every live session, newest first */
    uint32_t nsessions;
    uint64_t next_id;
    uint64_t sessions_total;
    uint64_t causes[LB_CAUSE_N];
    struct lb_ended ended[LB_ENDED_MAX]; /* a ring: the last one is ended[(nended - 1) % MAX] */
    uint64_t nended;
    struct lb_aux *aux; /* responder and check connections */
    struct lb_session_cursor *cursors;

    FILE *log;
    int log_owned;
    uint64_t drain_timeout_ms;
    int draining, stopping;
    struct sf_loop_timer drain_timer;
    void (*on_idle)(struct lb *lb); /* drain finished: no session left */
    int kick_accept;                /* a frontend may resume accepting */
    int kick_queues;                /* a backend queue may move */

    /* Room (room.c): connections that new sessions leave to others, and the episode of
     * running out of descriptors. */
    uint32_t spare_sessions; /* health checks, responders, a reload's listeners */
    uint32_t spare_respond;  /* what responders leave: health checks, listeners */
    uint32_t npending;       /* sessions without a server connection that will need one */
    uint32_t nwaiting;       /* ... of them, waiting because a connect ran short */
    int fd_short;            /* the episode is on: fd_exhausted logged, not yet recovered */
    uint64_t fd_short_since;

    uint64_t started_ns, reloads, reload_failures;

    /* Threads (shared.h, docs/architecture.md "Threads"): NULL with one. Thread 0 runs the
     * health checks and the runtime API and publishes server state; the others apply it
     * after a batch (woken through `wake`; every LB_SYNC_MS anyway). */
    struct lb_shared *shared;
    uint32_t thread;
    uint64_t shared_gen;       /* lb_shared.gen last applied here */
    struct sf_loop_timer sync; /* the periodic sync and the retry of shared limits */
    struct sf_io wake;         /* another thread freed a slot this one waits for */
    int waiting;               /* as published in lb_thread_stat.waiting */
    int released;              /* a shared slot was given back in this batch */
    /* Calls other threads post to this one (thread_call.c): its sessions are its own, so
     * thread 0's admin listener asks it to list, show or kill them. */
    pthread_mutex_t call_mu;
    struct lb_call *calls;
    int calls_closed; /* its loop has ended: no call is taken any more */
    /* Thread 0: a call it posted is done (the admin listener looks again). */
    void (*on_reply)(void *ctx);
    void *reply_ctx;
};

/* Work one thread asks another to do on its own loop, on its own struct lb (a session
 * listing, a kill): posted with lb_call_post, run by the target after it is woken, and the
 * poster is woken (lb.on_reply) when it is done. The poster owns c; if it gives c up while
 * pending (lb_call_abandon), the target calls release after fn and c is its to free. */
enum { LB_CALL_IDLE, LB_CALL_PENDING, LB_CALL_DONE, LB_CALL_ABANDONED };
struct lb_call {
    void (*fn)(struct lb *lb, struct lb_call *c);
    void (*release)(struct lb *lb, struct lb_call *c);
    _Atomic int state;
    int oneway;    /* fn frees c itself; nothing is touched after it */
    uint32_t from; /* the poster's thread */
    struct lb_call *next;
};
/* Posts c to thread `to`. 0, or -1 when that thread's loop has ended (nothing runs c). */
int lb_call_post(struct lb *lb, uint32_t to, struct lb_call *c);
/* Whether c's fn has run (what it wrote is visible to the poster then). */
int lb_call_done(struct lb_call *c);
/* The poster gives c up: 1 when c is not pending (the poster frees it), 0 when the target
 * will release it. */
int lb_call_abandon(struct lb_call *c);
/* The calls waiting for this thread, run now (after a wake; thread.c). */
void lb_calls_run(struct lb *lb);
/* This thread's loop has ended: what waits is run, later posts fail. */
void lb_calls_close(struct lb *lb);
/* Another thread's struct lb (the admin listener's view; NULL with one thread). */
static inline struct lb *lb_thread_lb(const struct lb *lb, uint32_t t)
{
    return lb->shared && t < lb->shared->nthreads ? lb->shared->lb[t] : NULL;
}

/* How often a thread looks again at what other threads changed while it had no event: a
 * state published by thread 0, and (a fallback; the wake eventfd is the way) a slot of a
 * shared maxconn freed. */
#define LB_SYNC_MS 50
/* A session id's thread: id >> LB_THREAD_ID_SHIFT (thread.c). */
#define LB_THREAD_ID_SHIFT 40

struct lb *lb_new(struct sf_loop *loop, struct lb_transport *tp);
/* Makes lb thread `thread` of a process whose threads share sh (before lb_apply, before
 * any thread runs). Returns 0, or -1 with errno (its wake eventfd). */
int lb_set_thread(struct lb *lb, struct lb_shared *sh, uint32_t thread);
/* Thread 0 changed a server's state (health, runtime API): the others will apply it. */
void lb_server_publish(struct lb *lb, struct lb_server *s);
/* thread.c, called by lb.c: after each batch, and after a configuration was applied. */
void lb_thread_after_batch(struct lb *lb);
/* A scrape on thread 0: for LB_FIGURES_LINGER_S from now, every other thread publishes its
 * transport's figures at its sync tick (lb_transport_publish). No-op without threads. */
#define LB_FIGURES_LINGER_S 10
void lb_threads_want_figures(struct lb *lb);
void lb_thread_applied(struct lb *lb);
/* server_admin.c: a state taken (maint closes the server's sessions), without a log line:
 * the runtime API's own call logs; another thread applying it does not repeat it. */
void lb_server_apply_state(struct lb *lb, struct lb_server *s, int state);
void lb_server_apply_weight(struct lb *lb, struct lb_server *s, uint32_t weight);
/* Applies a checked config: the first time, or a reload that keeps every live session.
 * Opening a listener can still fail (address in use): then nothing changes and -1 is
 * returned with the reason in err. */
int lb_apply(struct lb *lb, const struct lb_config *c, char *err, size_t errlen);
/* SIGTERM: stop accepting; sessions finish until the drain deadline, then are closed. */
void lb_drain(struct lb *lb);
/* SIGINT: close every session now. */
void lb_stop(struct lb *lb);
void lb_free(struct lb *lb);
/* Ends one session (admin kill). Returns 0, or -1 if no such session. */
int lb_kill_session(struct lb *lb, uint64_t id);

/* One slice of the transport's census of synfin's own TCP (transport.h: the census op),
 * scoped to the running config's addresses: at most about `budget` units of work (0: no
 * bound). c is zeroed by the caller before a census's first slice and passed unchanged to
 * the next. Returns LB_CENSUS_DONE when the census in c is complete, LB_CENSUS_MORE when it
 * needs another slice, LB_CENSUS_WAIT when the rest runs on the transport's thread (call
 * again a little later). */
int lb_census_step(struct lb *lb, struct lb_census *c, unsigned budget);

/* Session cursors: opened at the newest session, closed before lb_free. */
void lb_cursor_open(struct lb *lb, struct lb_session_cursor *k);
void lb_cursor_close(struct lb *lb, struct lb_session_cursor *k);
/* s is leaving the session list: cursors at it move on (session.c). */
void lb_cursors_skip(struct lb *lb, const struct lb_session *s);

/* A line for the event log ("msg=..." style), flushed after each batch. */
void lb_logf(struct lb *lb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reference counting for objects a reload may remove while sessions still use them. */
void lb_frontend_put(struct lb_frontend *f);
void lb_backend_put(struct lb_backend *b);
/* Takes b out of service: its servers go, queued sessions find none (apply.c). */
void lb_backend_remove(struct lb *lb, struct lb_backend *b);
void lb_server_put(struct lb_server *s);

/* A frontend's live and accepted sessions on every thread (this one's alone with one). */
static inline uint32_t lb_frontend_active_all(const struct lb_frontend *f)
{
    return f->sh ? lb_shared_load(&f->sh->active) : f->active;
}
static inline uint64_t lb_frontend_sessions_all(const struct lb_frontend *f)
{
    return f->sh ? atomic_load_explicit(&f->sh->sessions_total, memory_order_relaxed)
                 : f->sessions_total;
}

/* frontend.c */
/* l becomes f's listener for conf.listen[i]. */
void lb_frontend_adopt(struct lb_frontend *f, uint32_t i, struct lb_listener *l);
/* Closes every listener of f (drain, removal, exit). */
void lb_frontend_close(struct lb_frontend *f);
void lb_frontend_accept(struct lb_frontend *f);

/* respond.c */
int lb_respond_listen(struct lb_respond *r, char *err, size_t errlen);
void lb_respond_accept(struct lb_respond *r);
void lb_respond_adopt(struct lb_respond *r, struct lb_listener *l);
int lb_respond_set_body(struct lb_respond *r, const char *body);
void lb_respond_put(struct lb_respond *r);

/* health.c */
void lb_health_start(struct lb *lb, struct lb_server *s);
void lb_health_stop(struct lb *lb, struct lb_server *s);
/* The timer of a backend's passive ejections: one has ended, its queue runs again. */
void lb_backend_unejected(struct sf_loop_timer *t);
/* A connect to s failed (passive health): may eject it. */
void lb_server_connect_failed(struct lb *lb, struct lb_server *s);
void lb_server_connect_ok(struct lb_server *s);

/* room.c: whether new connections can be had, and what to do when they cannot */
void lb_room_plan(struct lb *lb);
int lb_session_room(struct lb *lb);
int lb_respond_room(struct lb *lb);
/* Out of descriptors: starts the episode (one fd_exhausted line) unless it is on. who is
 * the log fields of what ran short ("frontend=web"). */
void lb_fd_short(struct lb *lb, const char *who);
/* After each batch during an episode: resumes what waits for room, ends the episode. */
void lb_fd_resume(struct lb *lb);
/* A frontend refused a connection that came from synfin's own server side. */
void lb_loop_refused(struct lb_frontend *f, uint32_t listen_index);

/* server_admin.c: the runtime API's changes to a server (docs/lb.md, "Runtime API"), each
 * logged with who asked (who: "127.0.0.1:40000"). */
struct lb_server *lb_server_find(struct lb *lb, const char *backend, const char *server);
/* Returns the state it had. maint closes the server's sessions and idle connections. */
int lb_server_set_state(struct lb *lb, struct lb_server *s, int state, const char *who);
/* Returns the weight it had (0 to 1000; 0 takes no new session). */
uint32_t lb_server_set_weight(struct lb *lb, struct lb_server *s, uint32_t weight, const char *who);
/* A reload keeps a server's runtime state; its weight too unless the file changed it. */
void lb_server_reload_runtime(struct lb *lb, struct lb_server *s, const struct lb_server_conf *sc);

/* aux connections */
void lb_aux_add(struct lb *lb, struct lb_aux *a, struct lb_conn *c);
void lb_aux_del(struct lb *lb, struct lb_aux *a);

#endif
