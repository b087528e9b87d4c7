/* --advise as a command: read the socket table and the sysctls, apply the rules, print. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advise.h"
#include "json_out.h"
#include "report.h"

/* "  label     text..." wrapped, continuation lines under the text. */
static void field(const char *label, const char *text)
{
    char prefix[16];
    snprintf(prefix, sizeof prefix, "  %s", label);
    st_print_wrapped(stdout, 12, prefix, text);
}

static void print_text(const struct st_finding *fs, size_t n, const struct st_live *l)
{
    size_t attention = 0;
    for (size_t i = 0; i < n; i++)
        attention += fs[i].attention && !fs[i].ignored;
    uint64_t total = st_hist_total(&l->hist);
    if (attention)
        printf("synfin-stat --advise: %zu finding%s need%s attention, %zu note%s (%" PRIu64
               " sockets read)\n",
               attention, attention == 1 ? "" : "s", attention == 1 ? "s" : "", n - attention,
               n - attention == 1 ? "" : "s", total);
    else
        printf("synfin-stat --advise: nothing needs attention, %zu note%s (%" PRIu64
               " sockets read)\n",
               n, n == 1 ? "" : "s", total);
    for (int pass = 2; pass >= 0; pass--) { /* attention, then ignored, then notes */
        for (size_t i = 0; i < n; i++) {
            const struct st_finding *f = &fs[i];
            int rank = f->attention ? (f->ignored ? 1 : 2) : 0;
            if (rank != pass)
                continue;
            printf("\n[%s] %s: %s\n",
                   rank == 2 ? "attention"
                   : rank    ? "ignored"
                             : "note",
                   f->id, f->title);
            field("evidence", f->evidence);
            field("risk", f->risk);
            field("change", f->change);
            field("reason", f->reason);
        }
    }
    printf("\n");
    st_print_wrapped(stdout, 0, NULL,
                     "Nothing was changed: synfin-stat only reads sysctls. Apply a change with "
                     "`sysctl -w NAME=VALUE` and keep it in a file under /etc/sysctl.d/.");
}

void st_json_findings(struct st_json *j, const struct st_finding *fs, size_t n)
{
    st_json_array(j, "findings");
    for (size_t i = 0; i < n; i++) {
        const struct st_finding *f = &fs[i];
        st_json_object(j, NULL);
        st_json_string(j, "id", f->id);
        st_json_bool(j, "attention", f->attention);
        st_json_bool(j, "ignored", f->ignored);
        st_json_string(j, "title", f->title);
        st_json_string(j, "evidence", f->evidence);
        st_json_string(j, "risk", f->risk);
        st_json_string(j, "change", f->change);
        st_json_string(j, "reason", f->reason);
        st_json_end(j, '}');
    }
    st_json_end(j, ']');
}

size_t st_advise_collected(const struct st_collect *c, struct st_sysctls *s, struct st_live *l,
                           struct st_finding *fs, size_t max)
{
    st_sysctls_read("/proc/sys", s);
    struct st_conf_notes notes;
    memset(&notes, 0, sizeof notes);
    st_sysctl_conf_find("net.ipv4.tcp_tw_recycle", notes.tw_recycle, sizeof notes.tw_recycle);
    st_live_from(c, l);
    return st_advise(s, l, &notes, fs, max);
}

static void print_json(const struct st_opts *o, const struct st_sysctls *s,
                       const struct st_finding *fs, size_t n, const struct st_live *l)
{
    int attention = 0;
    for (size_t i = 0; i < n; i++)
        attention |= fs[i].attention && !fs[i].ignored;
    struct st_json j;
    st_json_init(&j, stdout);
    st_json_object(&j, NULL);
    st_json_header(&j, o, "kernel");
    st_json_bool(&j, "attention", attention);
    st_json_object(&j, "sysctls");
    for (int i = 0; i < SC_N; i++) {
        if (i == SC_PORT_HI)
            continue;
        const char *name = st_sysctl_name((enum st_sysctl)i);
        if (i == SC_PORT_LO) {
            if (s->present[SC_PORT_LO] && s->present[SC_PORT_HI]) {
                st_json_array(&j, name);
                st_json_i64(&j, NULL, s->v[SC_PORT_LO]);
                st_json_i64(&j, NULL, s->v[SC_PORT_HI]);
                st_json_end(&j, ']');
            } else {
                st_json_string(&j, name, NULL);
            }
        } else if (s->present[i]) {
            st_json_i64(&j, name, s->v[i]);
        } else {
            st_json_string(&j, name, NULL); /* absent (tcp_tw_recycle since 4.12) */
        }
    }
    st_json_end(&j, '}');
    st_json_hist(&j, "tcp_states", &l->hist);
    st_json_findings(&j, fs, n);
    st_json_end(&j, '}');
}

int st_advise_gather(const struct st_opts *o, const struct sf_sockdiag_query *q,
                     struct st_advised *a)
{
    memset(a, 0, sizeof *a);
    a->c = calloc(1, sizeof *a->c);
    a->fs = calloc(ST_MAX_FINDINGS, sizeof *a->fs);
    if (!a->c || !a->fs || !(a->c->peers = st_peers_new(ST_PEER_CAPACITY))) {
        fprintf(stderr, "synfin-stat: out of memory\n");
        return 2;
    }
    int rc = st_collect(q, a->c);
    if (rc) {
        st_report_dump_error(rc, o->netns);
        return 2;
    }
    a->n = st_advise_collected(a->c, &a->s, &a->l, a->fs, ST_MAX_FINDINGS);
    return 0;
}

void st_advised_free(struct st_advised *a)
{
    if (a->c)
        st_peers_free(a->c->peers);
    free(a->c);
    free(a->fs);
}

int st_advise_run(const struct st_opts *o, const struct sf_sockdiag_query *q)
{
    struct st_advised a;
    int status = 2;
    if (st_advise_gather(o, q, &a))
        goto out;
    if (!a.s.present[SC_FIN_TIMEOUT] && !a.s.present[SC_SOMAXCONN]) {
        fprintf(stderr, "synfin-stat: cannot read the TCP sysctls under /proc/sys/net (is "
                        "/proc mounted?)\n");
        goto out;
    }
    for (size_t i = 0; i < a.n; i++)
        a.fs[i].ignored = o->ignore && st_finding_listed(o->ignore, a.fs[i].id);
    if (o->json)
        print_json(o, &a.s, a.fs, a.n, &a.l);
    else
        print_text(a.fs, a.n, &a.l);
    status = 0;
    for (size_t i = 0; i < a.n; i++)
        if (a.fs[i].attention && !a.fs[i].ignored)
            status = 1;
out:
    st_advised_free(&a);
    return status;
}
