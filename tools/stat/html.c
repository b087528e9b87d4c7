/* --html FILE; see html.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "html.h"
#include "report.h"

/* Text into HTML: the five characters that mean something there escaped. */
static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

static const char style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "th,td{text-align:left;padding:2px 10px;border-bottom:1px solid #ddd}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".finding{border-left:4px solid #999;padding:.2em .8em;margin:.8em 0}"
    ".attention{border-color:#c62828}.meta{color:#666}dt{font-weight:bold}";

static void histogram(FILE *f, const struct st_hist *h)
{
    uint64_t max = 1, total = st_hist_total(h);
    for (int s = 0; s < ST_NSTATES; s++)
        if (h->n[s] > max)
            max = h->n[s];
    fprintf(f, "<h2>TCP states</h2>\n<table id=\"histogram\"><tr><th>state</th><th>sockets</th>"
               "<th></th></tr>\n");
    for (int s = 0; s < ST_NSTATES; s++) {
        /* Bars in inline SVG: a width in proportion, nothing drawn by script. */
        double w = 400.0 * (double)h->n[s] / (double)max;
        fprintf(f,
                "<tr data-state=\"%s\"><td>%s</td><td class=\"n\">%" PRIu64 "</td><td><svg "
                "width=\"402\" height=\"14\"><rect width=\"%.1f\" height=\"12\" y=\"1\" "
                "fill=\"#1d4f80\"/></svg></td></tr>\n",
                st_state_name(s), st_state_name(s), h->n[s], w);
    }
    fprintf(f,
            "<tr><th>total</th><td class=\"n\" id=\"total\">%" PRIu64 "</td><td></td></tr>"
            "</table>\n",
            total);
}

static void rows(FILE *f, const char *title, const struct st_topk *t, unsigned top, int remote)
{
    struct st_topk_row *r = calloc(top, sizeof *r);
    size_t n = r ? st_topk_top(t, r, top) : 0;
    fprintf(f, "<table><tr><th>%s</th><th>sockets</th><th>direction</th></tr>\n", title);
    for (size_t i = 0; i < n; i++) {
        char label[80];
        st_peer_label(label, sizeof label, &r[i].key, remote);
        fprintf(f, "<tr><td>");
        esc(f, label);
        fprintf(f, "</td><td class=\"n\">%" PRIu64 "%s</td><td>%s</td></tr>\n", r[i].count,
                r[i].error ? " (at most)" : "", st_peer_note(&r[i].key, remote));
    }
    fprintf(f, "</table>\n");
    free(r);
}

static void peers(FILE *f, const struct st_collect *c, unsigned top)
{
    for (int h = 0; h < ST_HELD_N; h++) {
        uint64_t in = h == ST_HELD_TW ? c->tw_in : c->cw_in;
        uint64_t out = h == ST_HELD_TW ? c->tw_out : c->cw_out;
        fprintf(f,
                "<h2 id=\"%s\">%s: %" PRIu64 " (%" PRIu64 " outgoing, %" PRIu64
                " incoming)</h2>\n<p>",
                st_held_name(h), st_held_name(h), in + out, out, in);
        esc(f, st_held_rule(h));
        fprintf(f, "</p>\n");
        if (in + out == 0)
            continue;
        rows(f, "remote endpoint", c->peers->remote[h], top, 1);
        rows(f, "local port", c->peers->local[h], top, 0);
    }
}

static void findings(FILE *f, const struct st_finding *fs, size_t n)
{
    fprintf(f, "<h2>Advice</h2>\n");
    if (!n)
        fprintf(f, "<p>Nothing to say about this host.</p>\n");
    for (size_t i = 0; i < n; i++) {
        const struct st_finding *x = &fs[i];
        fprintf(f, "<div class=\"finding%s\" data-id=\"%s\"><b>[%s] %s: ",
                x->attention ? " attention" : "", x->id, x->attention ? "attention" : "note",
                x->id);
        esc(f, x->title);
        const char *names[] = {"evidence", "risk", "change", "reason"};
        const char *texts[] = {x->evidence, x->risk, x->change, x->reason};
        fprintf(f, "</b><dl>");
        for (int k = 0; k < 4; k++) {
            fprintf(f, "<dt>%s</dt><dd>", names[k]);
            esc(f, texts[k]);
            fprintf(f, "</dd>");
        }
        fprintf(f, "</dl></div>\n");
    }
}

static void sysctls(FILE *f, const struct st_sysctls *s)
{
    fprintf(f, "<h2>Sysctls read</h2>\n<table>");
    for (int i = 0; i < SC_N; i++) {
        fprintf(f, "<tr><td>%s</td><td class=\"n\">", st_sysctl_name((enum st_sysctl)i));
        if (s->present[i])
            fprintf(f, "%ld", s->v[i]);
        else
            fprintf(f, "absent");
        fprintf(f, "</td></tr>\n");
    }
    fprintf(f, "</table>\n<p class=\"meta\">Nothing was changed: synfin-stat only reads "
               "sysctls.</p>\n");
}

void st_html_write(FILE *f, const struct st_opts *o, const struct st_collect *c,
                   const struct st_sysctls *s, const struct st_finding *fs, size_t n)
{
    char host[256] = "", when[64] = "";
    gethostname(host, sizeof host - 1);
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&now, &tm));
    fprintf(f, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>"
               "synfin-stat: ");
    esc(f, host);
    fprintf(f, " %s</title>\n<style>%s</style></head>\n<body>\n<h1>TCP sockets of ", when, style);
    esc(f, host);
    fprintf(f, "</h1>\n<p class=\"meta\">synfin-stat --html, %s", when);
    if (o->netns) {
        fprintf(f, ", network namespace ");
        esc(f, o->netns);
    }
    if (o->port)
        fprintf(f, ", port %u", o->port);
    if (o->local_arg) {
        fprintf(f, ", local ");
        esc(f, o->local_arg);
    }
    if (o->remote_arg) {
        fprintf(f, ", remote ");
        esc(f, o->remote_arg);
    }
    fprintf(f, "</p>\n");
    histogram(f, &c->hist);
    peers(f, c, o->top);
    findings(f, fs, n);
    sysctls(f, s);
    fprintf(f, "</body></html>\n");
}

int st_html_run(const struct st_opts *o, const struct sf_sockdiag_query *q)
{
    struct st_advised a;
    int status = 2;
    if (st_advise_gather(o, q, &a))
        goto out;
    FILE *f = fopen(o->html, "w");
    if (!f) {
        fprintf(stderr, "synfin-stat: --html: cannot write %s: %s\n", o->html, strerror(errno));
        goto out;
    }
    st_html_write(f, o, a.c, &a.s, a.fs, a.n);
    if (ferror(f) | fclose(f)) {
        fprintf(stderr, "synfin-stat: --html: writing %s failed: %s\n", o->html, strerror(errno));
        goto out;
    }
    status = 0;
out:
    st_advised_free(&a);
    return status;
}
