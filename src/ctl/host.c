/* GET /host (JSON): the host kernel's TCP sockets, as `synfin-stat --by-peer --advise --json`
 * reads them (the same code, tools/stat): the histogram over the eleven states, who holds
 * TIME_WAIT and CLOSE_WAIT, and the advisor's findings. The dashboard's "host" view.
 *
 * The dump and the advisor run on a thread of their own, which writes the whole document:
 * the request that starts a dump makes the kernel walk its socket tables (15 ms of CPU and
 * more, even with a handful of sockets on the machine: measured with GET /loop), and a host
 * may hold a million sockets. The body's slices only look whether the thread is done. A
 * client that leaves first hands the document over to the thread, which frees it. */
#include "ctl/render.h"
#include "diag/sockdiag.h"

#include "stat/advise.h"
#include "stat/json_out.h"
#include "stat/report.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* Distinct peers counted exactly per table; past it, Space-Saving bounds (stat/topk.h). */
#define HOST_PEERS 16384
#define HOST_TOP   10

/* Between the body (on the loop) and its thread: the thread collects (RUNNING), says DONE
 * and waits; the body copies the document once DONE, and when it is freed (done, or the
 * client left) says RELEASED. Then the thread frees everything: what it allocated comes
 * from its own malloc arena, and freeing that on the loop made glibc give the arena's pages
 * back there (madvise, 1 ms). */
enum { HOST_RUNNING, HOST_DONE, HOST_RELEASED };

struct host {
    struct ctl_body base;
    struct st_collect c;
    int started; /* a thread runs, and frees h once released */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic int state;
    int result;           /* CTL_BODY_DONE or CTL_BODY_FAIL, once HOST_DONE */
    struct sf_strbuf doc; /* the document, once HOST_DONE */
};

static void host_release(struct host *h)
{
    st_peers_free(h->c.peers);
    sf_sb_free(&h->doc);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* The document, written by tools/stat's JSON writer into memory, then into out. */
static int render(struct host *h, int rc, struct sf_strbuf *out)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return CTL_BODY_FAIL;
    struct st_json j;
    st_json_init(&j, f);
    st_json_object(&j, NULL);
    st_json_u64(&j, "version", CTL_STATS_VERSION);
    st_json_string(&j, "source", "kernel");
    if (rc) {
        char why[300];
        st_dump_error_text(rc, NULL, why, sizeof why);
        st_json_string(&j, "error", why);
    } else {
        struct st_finding fs[ST_MAX_FINDINGS];
        struct st_sysctls s;
        struct st_live l;
        size_t n = st_advise_collected(&h->c, &s, &l, fs, ST_MAX_FINDINGS);
        st_json_string(&j, "error", NULL);
        st_json_u64(&j, "sockets", st_hist_total(&h->c.hist));
        st_json_hist(&j, "tcp_states", &h->c.hist);
        st_json_peers(&j, &h->c, HOST_TOP);
        st_json_findings(&j, fs, n);
    }
    st_json_end(&j, '}');
    int failed = fclose(f) != 0;
    if (!failed)
        sf_sb_append(out, text, len);
    free(text);
    return failed ? CTL_BODY_FAIL : CTL_BODY_DONE;
}

/* The collection and the document, on the thread (or in the call if none could be made). */
static void collect(struct host *h)
{
    struct sf_sockdiag_query q = {.family = AF_UNSPEC, .states = SF_KSTATES_ALL};
    /* The peer table is megabytes: made, touched and freed here, not on the loop. */
    if (!(h->c.peers = st_peers_new(HOST_PEERS))) {
        h->result = CTL_BODY_FAIL;
        return;
    }
    int rc = st_collect_begin(&h->c);
    if (!rc)
        rc = sf_sockdiag_dump(&q, st_collect_count, &h->c);
    h->result = render(h, rc < 0 ? rc : 0, &h->doc);
    if (h->doc.failed)
        h->result = CTL_BODY_FAIL;
    st_peers_free(h->c.peers);
    h->c.peers = NULL;
}

static void *host_run(void *arg)
{
    struct host *h = arg;
    collect(h);
    pthread_mutex_lock(&h->mu);
    if (atomic_load(&h->state) == HOST_RUNNING) /* not released meanwhile (client gone) */
        atomic_store(&h->state, HOST_DONE);
    while (atomic_load(&h->state) != HOST_RELEASED)
        pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
    host_release(h);
    return NULL;
}

/* The body lets go of h: the thread frees it. */
static void let_go(struct host *h)
{
    pthread_mutex_lock(&h->mu);
    atomic_store(&h->state, HOST_RELEASED);
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

static int start(struct host *h)
{
    pthread_attr_t at;
    if (pthread_attr_init(&at))
        return -1;
    int rc = pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    if (!rc)
        rc = pthread_create(&t, &at, host_run, h);
    if (!rc)
        pthread_setname_np(t, "synfin-host"); /* for top -H, and the tests */
    pthread_attr_destroy(&at);
    return rc ? -1 : 0;
}

static int host_fill(struct ctl_body *bd, struct sf_strbuf *out, unsigned *budget)
{
    struct host *h = (struct host *)bd;
    *budget = *budget > 1 ? *budget - 1 : 0; /* a look at the state */
    if (!h->started) {
        if (start(h) == 0) {
            h->started = 1;
            return CTL_BODY_WAIT;
        }
        collect(h); /* no thread: in the loop, as a last resort */
        if (h->result == CTL_BODY_DONE)
            sf_sb_append(out, h->doc.p, h->doc.len);
        return h->result;
    }
    if (atomic_load(&h->state) != HOST_DONE)
        return CTL_BODY_WAIT; /* called again within a millisecond (admin.h) */
    if (h->result == CTL_BODY_DONE)
        sf_sb_append(out, h->doc.p, h->doc.len);
    return h->result; /* the listener frees the body next: host_free */
}

static void host_free(struct ctl_body *bd)
{
    struct host *h = (struct host *)bd;
    if (h->started)
        let_go(h); /* h is the thread's from here */
    else
        host_release(h);
}

int ctl_host_body(struct ctl_body **out)
{
    struct host *h = calloc(1, sizeof *h);
    if (!h)
        return 503;
    sf_sb_init(&h->doc);
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    h->base.fill = host_fill;
    h->base.free = host_free;
    *out = &h->base;
    return 200;
}
