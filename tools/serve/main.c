/* synfin-serve: a server on synfin's own TCP, reached by real Linux peers through a TUN device.
 *
 *   synfin-serve --tun NAME --kernel-addr 10.77.0.1/24 --addr 10.77.0.2 [--port 80]
 *   synfin-serve --tun NAME --kernel-addr fd00:77::1/64 --addr fd00:77::2 ...  (IPv6)
 *                [--mode echo|discard|sink|http] [--http-body TEXT] [--backlog N]
 *                [--pcap FILE] [--trace] [--max-seconds S]
 *                [--<engine setting> VALUE ...]   (any setting of docs/engine.md, by name)
 *
 * The wire is the host glue's (io/host.h) on the event loop (io/loop.h): the same code that
 * carries the balancer's stack transport. What is here: the options, the applications
 * (app.c), the signals and the drain. SIGINT/SIGTERM close every connection gracefully (a
 * second signal, or 5 s, ends it at once); a device we created goes away when we exit.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>

#include "app.h"
#include "io/host.h"
#include "io/loop.h"
#include "tcp/tcp.h"
#include "util/version.h"

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define DRAIN_LIMIT_NS               (5 * SF_NSEC_PER_SEC)
#define DRAIN_POLL_NS                (50 * SF_NSEC_PER_MS)

struct serve {
    struct sf_loop *loop;
    struct sf_host *host;
    struct app app;
    struct sf_io sig;
    struct sf_loop_timer stop;  /* --max-seconds */
    struct sf_loop_timer drain; /* while draining: is every connection over? */
    uint64_t drain_until;       /* loop time; 0 while not draining */
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: synfin-serve --tun NAME --kernel-addr ADDR/N --addr ADDR [--port P]\n"
            "                    (ADDR: IPv4 or IPv6; --kernel-addr A/N,B/M: one of each family)\n"
            "                    [--mode echo|discard|sink|http] [--http-body TEXT]\n"
            "                    [--backlog N] [--pcap FILE] [--trace] [--max-seconds S]\n"
            "                    [--offload on|off]\n"

            "                    [--impair loss=PCT,dup=PCT,reorder=PCT,hold=MS,seed=N]\n"
            "                    [--SETTING VALUE ...]\n"
            "       synfin-serve -v | --version\n\n"
            "Engine settings (docs/engine.md), with '-' or '_':\n");
    for (size_t i = 0; i < sf_tcp_settings_count; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s", sf_tcp_settings[i].name);
        for (char *p = name; *p; p++)
            if (*p == '_')
                *p = '-';
        fprintf(f, "  --%-22s %-9u %s\n", name, sf_tcp_settings[i].def, sf_tcp_settings[i].unit);
    }
}

struct opts {
    const char *tun, *kernel_addr, *addr, *pcap, *body, *impair;
    int port, backlog, trace, no_offload;
    long max_seconds;
    enum app_mode mode;
    struct sf_tcp_config cfg;
};

static int parse_args(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof *o);
    o->port = 80;
    o->backlog = 1024;
    o->mode = MODE_HTTP;
    o->body = "hello from synfin\n";
    sf_tcp_config_defaults(&o->cfg);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (sf_version_arg(a)) {
            sf_version_print(stdout, "synfin-serve");
            exit(fflush(stdout) ? 1 : 0);
        }
        if (strcmp(a, "--trace") == 0) {
            o->trace = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0 || i + 1 >= argc) {
            fprintf(stderr, "synfin-serve: %s: %s\n", a,
                    strncmp(a, "--", 2) ? "unexpected argument" : "needs a value");
            return -1;
        }
        const char *v = argv[++i];
        const char *name = a + 2;
        char *end;
        if (strcmp(name, "tun") == 0)
            o->tun = v;
        else if (strcmp(name, "kernel-addr") == 0)
            o->kernel_addr = v;
        else if (strcmp(name, "addr") == 0)
            o->addr = v;
        else if (strcmp(name, "pcap") == 0)
            o->pcap = v;
        else if (strcmp(name, "http-body") == 0)
            o->body = v;
        else if (strcmp(name, "impair") == 0)
            o->impair = v;
        else if (strcmp(name, "offload") == 0) {
            if (strcmp(v, "on") && strcmp(v, "off")) {
                fprintf(stderr, "synfin-serve: --offload: '%s' is not on or off\n", v);
                return -1;
            }
            o->no_offload = !strcmp(v, "off");
        } else if (strcmp(name, "mode") == 0) {
            int m = app_mode_parse(v);
            if (m < 0) {
                fprintf(stderr,
                        "synfin-serve: --mode: '%s' is not echo, discard, sink or "
                        "http\n",
                        v);
                return -1;
            }
            o->mode = (enum app_mode)m;
        } else if (strcmp(name, "port") == 0 || strcmp(name, "backlog") == 0 ||
                   strcmp(name, "max-seconds") == 0) {
            long n = strtol(v, &end, 10);
            long max = strcmp(name, "port") == 0 ? 65535 : 1L << 30;
            if (*end || n < 1 || n > max) {
                fprintf(stderr, "synfin-serve: --%s: '%s' is not a number in 1..%ld\n", name, v,
                        max);
                return -1;
            }
            if (name[0] == 'p')
                o->port = (int)n;
            else if (name[0] == 'b')
                o->backlog = (int)n;
            else
                o->max_seconds = n;
        } else {
            char err[160];
            int rc = sf_tcp_config_set(&o->cfg, name, v, err, sizeof err);
            if (rc < 0) {
                /* A value error starts with the setting's own name ("rfc1337: ..."): the
                 * flag already says which. */
                const char *why = strchr(err, ':');
                why = why && strchr(err, ' ') > why ? why + 2 : err;
                fprintf(stderr, "synfin-serve: --%s: %s\n", name, why);
                return -1;
            }
        }
    }
    char err[160];
    if (!o->tun || !o->kernel_addr || !o->addr) {
        fprintf(stderr, "synfin-serve: --tun, --kernel-addr and --addr are required\n");
        return -1;
    }
    struct sf_addr a;
    if (sf_addr_parse(o->addr, &a) < 0) {
        fprintf(stderr, "synfin-serve: --addr: '%s' is not an IPv4 or IPv6 address\n", o->addr);
        return -1;
    }

    if (sf_tcp_config_check(&o->cfg, err, sizeof err) < 0) {
        fprintf(stderr, "synfin-serve: %s\n", err);
        return -1;
    }
    return 0;
}

static int setup(struct serve *s, const struct opts *o)
{
    char err[256];
    struct sf_host_config hc;
    memset(&hc, 0, sizeof hc);
    hc.fd = -1;
    hc.tun = o->tun;
    hc.kernel_cidr = o->kernel_addr;
    if (sf_addr_parse(o->addr, &hc.addrs[0]) < 0) {
        fprintf(stderr, "synfin-serve: --addr: '%s' is not an IPv4 or IPv6 address\n", o->addr);
        return -1;
    }
    hc.naddrs = 1;
    hc.tcp = o->cfg;
    hc.offload = !o->no_offload;
    hc.pcap = o->pcap;
    hc.impair = o->impair;
    hc.trace = o->trace ? stdout : NULL;
    if (!(s->loop = sf_loop_new()) || !(s->host = sf_host_new(s->loop, &hc, err, sizeof err))) {
        fprintf(stderr, "synfin-serve: %s\n", s->loop ? err : "cannot create the event loop");
        return -1;
    }
    s->app.mode = o->mode;
    s->app.body = o->body;
    s->app.body_len = strlen(o->body);
    static const char *const modes[] = {"echo", "discard", "sink", "http"};
    const struct sf_tun *tun = sf_host_tun(s->host);
    char where[SF_ENDPOINT_STRLEN];
    struct sf_endpoint at = {.addr = hc.addrs[0], .port = (uint16_t)o->port};
    sf_endpoint_str(&at, where, sizeof where);
    printf("synfin-serve: %s on %s over %s (%s, kernel side %s, mtu %d, mss %u, "
           "offload %s)%s\n",
           modes[o->mode], where, tun->name, tun->created ? "created" : "attached", o->kernel_addr,
           tun->mtu,
           sf_host_tcp_config(s->host)->mss - (hc.addrs[0].family == SF_AF_INET6 ? 20u : 0u),
           tun->offload    ? "on"
           : o->no_offload ? "off"
                           : "refused by the kernel",
           sf_host_capturing(s->host) ? ", capturing" : "");
    fflush(stdout);
    /* After the banner, so that the listener's CLOSED -> LISTEN is the first trace line. */
    struct sf_engine *e = sf_host_engine(s->host);
    struct sf_conn *l = sf_socket(e);
    struct sf_endpoint ep = {.addr = hc.addrs[0], .port = (uint16_t)o->port};
    int rc = l ? sf_bind(l, &ep) : -ENOMEM;
    if (rc == 0)
        rc = sf_listen(l, o->backlog);
    if (rc < 0) {
        fprintf(stderr, "synfin-serve: listen on %s: %s\n", where, strerror(-rc));
        return -1;
    }
    sf_set_handler(l, app_on_listener, &s->app);
    s->app.listener = l;
    return 0;
}

/* The counters, on stderr: at exit ("exit") and on SIGUSR1 ("now"). */
static void counters(struct serve *s, const char *when)
{
    struct sf_engine_stats st;
    struct sf_host_stats hs;
    sf_engine_stats(sf_host_engine(s->host), &st);
    sf_host_stats(s->host, &hs);
    const struct sf_tun *tun = sf_host_tun(s->host);
    fprintf(stderr,
            "synfin-serve: %llu connections, %llu http requests; packets in %llu out %llu "
            "(dropped at the device %llu), pings %llu, not for us %llu; retransmitted %llu; "
            "offload: %llu packets longer than the MTU, %llu checksums completed (%llu left "
            "partial, %llu verified by the kernel), %llu bad headers; %llu segments sent in "
            "%llu merged writes, %llu packets with their checksum left to the kernel\n",
            (unsigned long long)s->app.accepted, (unsigned long long)s->app.requests,
            (unsigned long long)hs.rx, (unsigned long long)hs.tx, (unsigned long long)hs.tx_drops,
            (unsigned long long)hs.pings, (unsigned long long)hs.not_ours,
            (unsigned long long)st.retrans_segs, (unsigned long long)tun->gso_packets,
            (unsigned long long)tun->csum_completed, (unsigned long long)tun->csum_left,
            (unsigned long long)tun->csum_valid, (unsigned long long)hs.malformed,
            (unsigned long long)hs.tx_merged, (unsigned long long)tun->gso_written,
            (unsigned long long)(tun->gso_written + tun->partial_written));
    fprintf(stderr,
            "synfin-serve: engine (%s): live connections %llu, time-wait entries %llu; syncookies "
            "sent %llu, accepted %llu, rejected %llu; syn backlog drops %llu; icmp errors %llu "
            "(path mtu updates %llu, ignored %llu); resets sent %llu\n",
            when, (unsigned long long)st.conns_live, (unsigned long long)st.tw_live,
            (unsigned long long)st.syncookies_sent, (unsigned long long)st.syncookies_ok,
            (unsigned long long)st.syncookies_failed, (unsigned long long)st.syn_backlog_drops,
            (unsigned long long)st.icmp_in, (unsigned long long)st.pmtu_updates,
            (unsigned long long)st.icmp_ignored, (unsigned long long)st.rst_out);
    if (hs.dropped + hs.duplicated + hs.reordered)
        fprintf(stderr, "synfin-serve: impaired: dropped %llu, duplicated %llu, reordered %llu\n",
                (unsigned long long)hs.dropped, (unsigned long long)hs.duplicated,
                (unsigned long long)hs.reordered);
}

/* Done when every connection has ended or is a TIME-WAIT entry, or at the drain limit. */
static void on_drain_poll(struct sf_loop_timer *t)
{
    struct serve *s = CONTAINER(t, struct serve, drain);
    struct sf_engine_stats st;
    sf_engine_stats(sf_host_engine(s->host), &st);
    uint64_t now = sf_loop_now(s->loop);
    if (st.conns_live == 0 || now >= s->drain_until) {
        sf_loop_stop(s->loop);
        return;
    }
    uint64_t next = now + DRAIN_POLL_NS;
    sf_loop_timer_set(s->loop, t, next < s->drain_until ? next : s->drain_until);
}

static void start_drain(struct serve *s)
{
    app_drain(&s->app);
    s->drain_until = sf_loop_now(s->loop) + DRAIN_LIMIT_NS;
    sf_loop_timer_set(s->loop, &s->drain, sf_loop_now(s->loop));
}

static void on_stop(struct sf_loop_timer *t)
{
    struct serve *s = CONTAINER(t, struct serve, stop);
    if (!s->drain_until)
        start_drain(s);
}

static void on_signal(struct sf_io *io, uint32_t events)
{
    struct serve *s = CONTAINER(io, struct serve, sig);
    (void)events;
    struct signalfd_siginfo si;
    while (read(io->fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGUSR1) {
            counters(s, "now");
        } else if (s->drain_until) {
            s->drain_until = sf_loop_now(s->loop); /* second signal: now */
            sf_loop_timer_set(s->loop, &s->drain, s->drain_until);
        } else {
            fprintf(stderr, "synfin-serve: signal %u: closing connections\n", si.ssi_signo);
            start_drain(s);
        }
    }
}

static int run(struct serve *s, long max_seconds)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    s->sig.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    s->sig.fn = on_signal;
    if (s->sig.fd < 0 || sf_loop_add(s->loop, &s->sig, EPOLLIN) < 0) {
        perror("synfin-serve: signalfd");
        return -1;
    }
    s->stop.fn = on_stop;
    s->drain.fn = on_drain_poll;
    if (max_seconds)
        sf_loop_timer_set(s->loop, &s->stop,
                          sf_loop_now(s->loop) + (uint64_t)max_seconds * SF_NSEC_PER_SEC);
    int rc = sf_loop_run(s->loop);
    if (rc < 0)
        fprintf(stderr, "synfin-serve: event loop: %s\n", strerror(-rc));
    close(s->sig.fd);
    return rc;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse_args(argc, argv, &o) < 0) {
        usage(stderr);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    static struct serve s;
    int rc = setup(&s, &o) < 0 ? -1 : run(&s, o.max_seconds);
    if (s.host) {
        counters(&s, "exit");
        if (sf_host_free(s.host) < 0) {
            fprintf(stderr, "synfin-serve: the capture is incomplete\n");
            rc = -1;
        }
    }
    sf_loop_free(s.loop);
    return rc < 0 ? 1 : 0;
}
