/* GET /host (JSON): the host kernel's TCP sockets, as `synfin-stat --by-peer --advise --json`
 * reads them (the same code, tools/stat): the histogram over the eleven states, who holds
 * TIME_WAIT and CLOSE_WAIT, and the advisor's findings. The dashboard's "host" view.
 *
 * A host may hold a million sockets: the dump is read one sock_diag batch per slice (a batch
 * is worth a whole slice, lb/kernel_census.h), so the loop is never held for the whole of it.
 * The listeners are read at once first: there are few. */
#include "ctl/render.h"
#include "lb/kernel_census.h"

#include "stat/advise.h"
#include "stat/json_out.h"
#include "stat/report.h"

#include <stdio.h>
#include <stdlib.h>

/* Distinct peers counted exactly per table; past it, Space-Saving bounds (stat/topk.h). */
#define HOST_PEERS 16384
#define HOST_TOP   10

struct host {
    struct ctl_body base;
    struct st_collect c;
    struct sf_sockdiag_stream st;
    int open;
};

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

static int host_fill(struct ctl_body *bd, struct sf_strbuf *out, unsigned *budget)
{
    struct host *h = (struct host *)bd;
    *budget = *budget > LB_KERNEL_DIAG_BATCH_UNITS ? *budget - LB_KERNEL_DIAG_BATCH_UNITS : 0;
    if (!h->open) {
        struct sf_sockdiag_query q = {.family = AF_UNSPEC, .states = SF_KSTATES_ALL};
        int rc = st_collect_begin(&h->c);
        if (!rc)
            rc = sf_sockdiag_open(&h->st, &q);
        if (rc)
            return render(h, rc, out);
        h->open = 1;
        return CTL_BODY_MORE;
    }
    int rc = sf_sockdiag_step(&h->st, 1, st_collect_count, &h->c);
    if (rc == 1)
        return CTL_BODY_MORE;
    sf_sockdiag_close(&h->st);
    h->open = 0;
    return render(h, rc < 0 ? rc : 0, out);
}

static void host_free(struct ctl_body *bd)
{
    struct host *h = (struct host *)bd;
    if (h->open)
        sf_sockdiag_close(&h->st);
    st_peers_free(h->c.peers);
    free(h);
}

int ctl_host_body(struct ctl_body **out)
{
    struct host *h = calloc(1, sizeof *h);
    if (!h || !(h->c.peers = st_peers_new(HOST_PEERS))) {
        free(h);
        return 503;
    }
    h->base.fill = host_fill;
    h->base.free = host_free;
    *out = &h->base;
    return 200;
}
