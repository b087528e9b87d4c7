/* Backends and their servers at run time: health, load, counters, and the choice of a
 * server for a new session (balance.c). Objects persist across reloads by name; one that a
 * reload removes is detached and freed when its last session lets go (refs). */
#ifndef SYNFIN_LB_BACKEND_H
#define SYNFIN_LB_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "lb/config.h"
#include "lb/histo.h"
#include "io/loop.h"
#include "lb/pool.h"
#include "lb/shared.h"

/* Final responses of http sessions by status class: 0 for none (the exchange failed before
 * one), then 1xx to 5xx. */
#define LB_HTTP_CLASSES 6

struct lb;
struct lb_session;
struct lb_health;

/* What the runtime API set (docs/lb.md, "Runtime API"): ready takes new sessions, drain
 * takes none and lets its sessions go on, maint takes none and closed its sessions. */
enum lb_srv_admin { LB_SRV_READY, LB_SRV_DRAIN, LB_SRV_MAINT };

struct lb_server {
    char name[LB_NAME_MAX];
    struct lb_addr addr;
    uint32_t weight, maxconn; /* weight: the one in force (the runtime API may change it) */
    uint32_t weight_conf;     /* the configuration's */
    int admin_state;          /* enum lb_srv_admin */
    int send_proxy;           /* enum lb_proxy_version */
    int backup;
    struct lb_backend *backend;

    /* Health: `up` follows the active checks (rise/fall); a passive ejection keeps the
     * server out until ejected_until (or until checks bring it back). */
    int up;
    uint32_t check_ok, check_fail; /* consecutive results */
    uint32_t fails;                /* consecutive connect failures (passive) */
    uint64_t ejected_until;
    struct lb_health *health;
    char last_check[64]; /* why the last check failed or passed, for /stats */

    int64_t swrr_current; /* smooth weighted round robin state */
    uint32_t conns;       /* sessions assigned (connecting or established) on this thread */
    /* With threads: the record every thread's copy of this server shares (shared.h): the
     * count maxconn and leastconn look at, the state thread 0 publishes. NULL: one thread. */
    struct lb_shared_srv *sh;
    uint32_t sh_weight_gen; /* sh->weight_gen last applied here */

    uint64_t sessions_total, bytes_in, bytes_out, connect_failures;
    struct lb_pool pool; /* idle connections of http sessions (pool.h) */
    uint32_t refs;
    int removed;
};

struct lb_backend {
    struct lb_backend_conf conf; /* conf.servers is not used here */
    struct lb_server **servers;
    size_t nservers;

    uint64_t health_gen; /* bumped when the set of usable servers may have changed */
    uint64_t built_gen;  /* health_gen the Maglev table was built for (0: never) */
    uint64_t next_unejection;
    /* Fires when a passive ejection ends (health.c): nothing else may happen then, and a
     * session queued meanwhile must not wait for a freed slot or its queue_timeout. */
    struct sf_loop_timer uneject;
    struct lb *lb; /* the thread's runtime the timer runs on */
    uint32_t *maglev;
    struct lb_server **maglev_srv;
    size_t maglev_n;
    int maglev_backup;  /* the tier the table was built for */
    uint32_t lc_cursor; /* leastconn tie-breaker */

    struct lb_session *qhead, *qtail;
    uint32_t queued;
    /* Live sessions started on this backend (queued, connecting or established), kept as
     * they start and end so that /metrics never walks the sessions; a session a reload left
     * on a removed backend still counts here, on the object it holds. */
    uint32_t active;
    int kick; /* a server slot freed: retry the queue after this batch */

    uint64_t sessions_total, no_server_total, queue_timeouts;
    uint64_t http_status[LB_HTTP_CLASSES];
    uint64_t http_retries; /* requests sent again on a new connection (docs/lb.md) */
    /* Connects that succeeded (SYN to the server's answer) and sessions that ended (accept
     * to end), as /metrics histograms; kept across reloads with the backend. */
    struct lb_histo connect_hist, duration_hist;
    uint32_t refs;
    int removed;
};

enum lb_pick { LB_PICK_OK, LB_PICK_NONE, LB_PICK_FULL };

/* Chooses a server for a session from `client`. avoid (a server that just failed) is passed
 * over when another one is usable. With threads, a server chosen has its shared slot taken
 * (the caller counts it in conns and gives it back with lb_server_slot_release); losing
 * the last slot to another thread reads as LB_PICK_FULL. Returns LB_PICK_OK and *out, LB_PICK_FULL
 * when every usable server is at maxconn (queue the session), LB_PICK_NONE when none is usable. */
int lb_balance_pick(struct lb_backend *b, const struct lb_addr *client,
                    const struct lb_server *avoid, uint64_t now, struct lb_server **out);

/* Usable now: checks say up and no passive ejection in force. */
int lb_server_usable(const struct lb_server *s, uint64_t now);
/* Usable and ready (not drained nor in maintenance): may take a new session. */
int lb_server_takes_new(const struct lb_server *s, uint64_t now);
const char *lb_srv_admin_name(int state);
/* "ready", "drain" or "maint", or -1. */
int lb_srv_admin_parse(const char *s);
/* "up", "down" (checks), "ejected" (passive), as /servers and /stats say it. */
const char *lb_server_health(const struct lb_server *s, uint64_t now);
/* Sessions on s across every thread (this thread's alone with one). */
static inline uint32_t lb_server_load(const struct lb_server *s)
{
    return s->sh ? lb_shared_load(&s->sh->conns) : s->conns;
}
static inline int lb_server_full(const struct lb_server *s)
{
    return s->maxconn && lb_server_load(s) >= s->maxconn;
}
/* Sessions sent to s by every thread (this thread's alone with one). */
static inline uint64_t lb_server_sessions_all(const struct lb_server *s)
{
    return s->sh ? atomic_load_explicit(&s->sh->sessions_total, memory_order_relaxed)
                 : s->sessions_total;
}
/* The slot a pick took (lb_balance_pick) given back. */
static inline void lb_server_slot_release(struct lb_server *s)
{
    s->conns--;
    if (s->sh)
        lb_shared_release(&s->sh->conns);
}

#endif
