/* synfin-stat: the TCP state histogram, who holds TIME_WAIT and CLOSE_WAIT, and a tuning
 * advisor. Exit status: 0 fine, 1 the advisor found something, 2 an error. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "advise.h"
#include "args.h"
#include "collect.h"
#include "diag/netns.h"
#include "from.h"
#include "html.h"
#include "report.h"
#include "util/version.h"
#include "watch.h"

static int once(const struct st_opts *o, const struct sf_sockdiag_query *q)
{
    struct st_collect c;
    memset(&c, 0, sizeof c);
    if (o->by_peer && !(c.peers = st_peers_new(ST_PEER_CAPACITY))) {
        fprintf(stderr, "synfin-stat: out of memory for --by-peer tables\n");
        return 2;
    }
    int rc = st_collect(q, &c);
    if (rc) {
        st_report_dump_error(rc, o->netns);
        st_peers_free(c.peers);
        return 2;
    }
    if (o->json) {
        struct st_json j;
        st_json_init(&j, stdout);
        st_json_object(&j, NULL);
        st_json_header(&j, o, "kernel");
        st_json_hist(&j, "tcp_states", &c.hist);
        st_json_u64(&j, "total", st_hist_total(&c.hist));
        if (c.peers)
            st_json_peers(&j, &c, o->top);
        st_json_end(&j, '}');
    } else {
        st_print_hist(stdout, &c.hist);
        if (c.peers) {
            fputc('\n', stdout);
            st_print_peers(stdout, &c, o->top);
        }
    }
    st_peers_free(c.peers);
    return 0;
}

static int flush_stdout(int status)
{
    if (fflush(stdout) || ferror(stdout)) {
        fprintf(stderr, "synfin-stat: writing the output failed: %s\n", strerror(errno));
        return 2;
    }
    return status;
}

int main(int argc, char **argv)
{
    struct st_opts o;
    char err[512];
    if (st_parse_args(argc, argv, &o, err, sizeof err)) {
        fprintf(stderr, "synfin-stat: %s\nTry 'synfin-stat --help'.\n", err);
        return 2;
    }
    if (o.help) {
        st_usage(stdout);
        return flush_stdout(0);
    }
    if (o.version) {
        sf_version_print(stdout, "synfin-stat");
        return flush_stdout(0);
    }
    if (o.from)
        return flush_stdout(o.watch > 0 ? st_watch(&o, NULL) : st_from_once(&o));

    if (o.netns) {
        int rc = sf_netns_enter(o.netns);
        if (rc) {
            st_report_netns_error(rc, o.netns);
            return 2;
        }
    }
    struct sf_sockdiag_query q = {.family = AF_UNSPEC,
                                  .states = SF_KSTATES_ALL,
                                  .port = (uint16_t)o.port,
                                  .local = o.local,
                                  .remote = o.remote};
    if (o.advise)
        return flush_stdout(st_advise_run(&o, &q));
    if (o.html)
        return flush_stdout(st_html_run(&o, &q));
    if (o.watch > 0)
        return flush_stdout(st_watch(&o, &q));
    return flush_stdout(once(&o, &q));
}
