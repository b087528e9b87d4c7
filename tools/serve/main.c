/* synfin-serve: a server on synfin's own TCP, reached by real Linux peers through a TUN device.
 *
 *   synfin-serve --tun NAME --kernel-addr 10.77.0.1/24 --addr 10.77.0.2 [--port 80]
 *                [--mode echo|discard|sink|http] [--http-body TEXT] [--backlog N]
 *                [--pcap FILE] [--trace] [--max-seconds S]
 *                [--<engine setting> VALUE ...]   (any setting of docs/engine.md, by name)
 *
 * The loop: read every packet the TUN has (to synfin's address: TCP to the engine, pings
 * answered; others dropped), give the engine the time, and sleep until the next packet or
 * the engine's next deadline. SIGINT/SIGTERM close every connection gracefully (a second
 * signal, or 5 s, ends it at once); a device we created goes away when we exit.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/random.h>
#include <sys/signalfd.h>

#include "app.h"
#include "impair.h"
#include "io/coalesce.h"
#include "io/pcap.h"
#include "io/tun.h"
#include "net/icmp.h"
#include "tcp/tcp.h"

#define DRAIN_LIMIT SF_SEC(5)
/* Packets read per wakeup before the engine's timers get a turn: more than a TUN device
 * queues (500), so that after synfin-serve was off the CPU the ACKs already waiting are read
 * before a retransmission timer can fire for what they acknowledge. */
#define BATCH 512

struct serve {
    struct sf_tun tun;
    struct sf_engine *e;
    struct sf_pcap *pcap;
    struct app app;
    int trace;
    int impaired;
    struct impair impair;
    uint32_t addr; /* ours, network order */
    sf_time_t start;
    uint64_t rx, tx, tx_drops, tx_merged, not_ours, pings, malformed;
    struct sf_coalesce co; /* segments waiting to go as one GSO write (with offload) */
};

static sf_time_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (sf_time_t)ts.tv_sec * 1000000u + (sf_time_t)ts.tv_nsec / 1000u;
}

static uint64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void capture(struct serve *s, const void *pkt, size_t len)
{
    if (s->pcap)
        sf_pcap_write(s->pcap, wall_us(), pkt, len);
}

static void to_engine(struct serve *s, uint8_t *pkt, size_t len);

/* Writes the segments waiting in the coalescer: one GSO packet, or one plain packet. */
static void tx_flush(struct serve *s)
{
    unsigned nseg = s->co.nseg;
    const uint8_t *p;
    uint16_t seg_size, hdr_len;
    size_t len = sf_coalesce_take(&s->co, &p, &seg_size, &hdr_len);
    if (len == 0)
        return;
    if (sf_tun_write_gso(&s->tun, p, len, seg_size, hdr_len) < 0) {
        s->tx_drops += nseg; /* the device queue is full: a link would drop them too */
        return;
    }
    s->tx += nseg;
    if (seg_size)
        s->tx_merged += nseg;
}

/* A packet for the kernel. With offload, runs of data segments wait to leave as one write;
 * anything that cannot join goes after what waits, so the order on the wire is kept. */
static void tx(struct serve *s, const uint8_t *pkt, size_t len)
{
    if (s->tun.offload) {
        if (sf_coalesce_add(&s->co, pkt, len))
            return;
        tx_flush(s);
        if (sf_coalesce_add(&s->co, pkt, len))
            return;
    }
    if (sf_tun_write(&s->tun, pkt, len) < 0)
        s->tx_drops++;
    else
        s->tx++;
}

/* A packet crossing the wire in either direction, after any impairment. */
static void deliver(void *ctx, enum impair_dir dir, const uint8_t *pkt, size_t len)
{
    struct serve *s = ctx;
    if (dir == TO_ENGINE) {
        static uint8_t copy[65536]; /* the engine may not keep it; echo replies rewrite it */
        memcpy(copy, pkt, len);
        to_engine(s, copy, len);
    } else {
        tx(s, pkt, len);
    }
}

static void output(void *ctx, const void *pkt, size_t len)
{
    struct serve *s = ctx;
    capture(s, pkt, len);
    if (s->impaired)
        impair_packet(&s->impair, TO_KERNEL, pkt, len, mono_us(), deliver, s);
    else
        deliver(s, TO_KERNEL, pkt, len);
}

static void transition(void *ctx, const struct sf_transition *t)
{
    struct serve *s = ctx;
    if (!s->trace)
        return;
    char l[SF_ENDPOINT_STRLEN], r[SF_ENDPOINT_STRLEN];
    double at = (double)(t->when - s->start) / 1e6;
    printf("%12.6f %s <-> %s id=%llu %s -> %s (%s)\n", at, sf_endpoint_str(&t->local, l, sizeof l),
           sf_endpoint_str(&t->remote, r, sizeof r), (unsigned long long)t->id,
           sf_state_name(t->from), sf_state_name(t->to), sf_cause_name(t->cause));
}

/* A packet from the kernel side: TCP (or ICMP about TCP) to the engine, pings answered. */
static void packet_in(struct serve *s, uint8_t *pkt, size_t len)
{
    uint32_t dst;
    if (len < 20 || (pkt[0] >> 4) != 4) {
        s->not_ours++;
        return;
    }
    memcpy(&dst, pkt + 16, 4);
    if (dst != s->addr) {
        s->not_ours++; /* for another host on the TUN's subnet: nobody is there */
        return;
    }
    s->rx++;
    if (s->impaired)
        impair_packet(&s->impair, TO_ENGINE, pkt, len, mono_us(), deliver, s);
    else
        to_engine(s, pkt, len);
}

static void to_engine(struct serve *s, uint8_t *pkt, size_t len)
{
    capture(s, pkt, len);
    if (sf_engine_input(s->e, pkt, len, mono_us()) == -EPROTONOSUPPORT) {
        size_t n = sf_icmp_echo_reply(pkt, len);
        if (n) {
            s->pings++;
            output(s, pkt, n);
        }
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: synfin-serve --tun NAME --kernel-addr A.B.C.D/N --addr A.B.C.D [--port P]\n"
               "                    [--mode echo|discard|sink|http] [--http-body TEXT]\n"
               "                    [--backlog N] [--pcap FILE] [--trace] [--max-seconds S]\n"
               "                    [--offload on|off]\n"

               "                    [--impair loss=PCT,dup=PCT,reorder=PCT,hold=MS,seed=N]\n"
               "                    [--SETTING VALUE ...]\n\n"
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
    if (sf_addr_parse(o->addr, &a) < 0 || a.family != SF_AF_INET) {
        fprintf(stderr, "synfin-serve: --addr: '%s' is not an IPv4 address\n", o->addr);
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
    struct sf_addr me;
    if (sf_addr_parse(o->addr, &me) < 0) {
        fprintf(stderr, "synfin-serve: --addr: '%s' is not an IPv4 address\n", o->addr);
        return -1;
    }
    memcpy(&s->addr, me.u.v4, 4);
    if (sf_tun_open(&s->tun, o->tun, o->no_offload ? 0 : SF_TUN_OFFLOAD, err, sizeof err) < 0 ||
        sf_tun_configure(&s->tun, o->kernel_addr, err, sizeof err) < 0) {
        fprintf(stderr, "synfin-serve: %s\n", err);
        return -1;
    }
    struct sf_tcp_config cfg = o->cfg;
    /* Segments must fit the device: the MSS follows its MTU. */
    if (cfg.mss > (uint32_t)s->tun.mtu - 40)
        cfg.mss = (uint32_t)s->tun.mtu - 40;
    struct sf_engine_params p;
    memset(&p, 0, sizeof p);
    p.config = &cfg;
    p.ops.output = output;
    p.ops.transition = transition;
    p.ctx = s;
    if (getrandom(p.key, sizeof p.key, 0) != (ssize_t)sizeof p.key) {
        perror("synfin-serve: getrandom");
        return -1;
    }
    p.local_addr = me;
    p.now = s->start = mono_us();
    s->e = sf_engine_new(&p);
    if (!s->e) {
        fprintf(stderr, "synfin-serve: cannot create the engine\n");
        return -1;
    }
    if (o->pcap && !(s->pcap = sf_pcap_open(o->pcap))) {
        fprintf(stderr, "synfin-serve: --pcap %s: %s\n", o->pcap, strerror(errno));
        return -1;
    }
    s->trace = o->trace;
    if (o->impair) {
        if (impair_parse(&s->impair, o->impair) < 0) {
            fprintf(stderr,
                    "synfin-serve: --impair: '%s' is not loss=PCT,dup=PCT,"
                    "reorder=PCT,hold=MS,seed=N\n",
                    o->impair);
            return -1;
        }
        s->impaired = 1;
    }
    s->app.mode = o->mode;

    s->app.body = o->body;
    s->app.body_len = strlen(o->body);
    static const char *const modes[] = {"echo", "discard", "sink", "http"};
    printf("synfin-serve: %s on %s:%d over %s (%s, kernel side %s, mtu %d, mss %u, "
           "offload %s)%s\n",
           modes[o->mode], o->addr, o->port, s->tun.name, s->tun.created ? "created" : "attached",
           o->kernel_addr, s->tun.mtu, cfg.mss,
           s->tun.offload  ? "on"
           : o->no_offload ? "off"
                           : "refused by the kernel",
           s->pcap ? ", capturing" : "");
    fflush(stdout);
    /* After the banner, so that the listener's CLOSED -> LISTEN is the first trace line. */
    struct sf_conn *l = sf_socket(s->e);
    struct sf_endpoint ep = {.addr = me, .port = (uint16_t)o->port};
    int rc = l ? sf_bind(l, &ep) : -ENOMEM;
    if (rc == 0)
        rc = sf_listen(l, o->backlog);
    if (rc < 0) {
        fprintf(stderr, "synfin-serve: listen on %s:%d: %s\n", o->addr, o->port, strerror(-rc));
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
    sf_engine_stats(s->e, &st);
    fprintf(stderr,
            "synfin-serve: %llu connections, %llu http requests; packets in %llu out %llu "
            "(dropped at the device %llu), pings %llu, not for us %llu; retransmitted %llu; "
            "offload: %llu packets longer than the MTU, %llu checksums completed, %llu bad "
            "headers; %llu segments sent in %llu merged writes\n",
            (unsigned long long)s->app.accepted, (unsigned long long)s->app.requests,
            (unsigned long long)s->rx, (unsigned long long)s->tx, (unsigned long long)s->tx_drops,
            (unsigned long long)s->pings, (unsigned long long)s->not_ours,
            (unsigned long long)st.retrans_segs, (unsigned long long)s->tun.gso_packets,
            (unsigned long long)s->tun.csum_completed, (unsigned long long)s->malformed,
            (unsigned long long)s->tx_merged, (unsigned long long)s->tun.gso_written);
    fprintf(stderr,
            "synfin-serve: engine (%s): live connections %llu, time-wait entries %llu; syncookies "
            "sent %llu, accepted %llu, rejected %llu; syn backlog drops %llu; icmp errors %llu "
            "(path mtu updates %llu, ignored %llu); resets sent %llu\n",
            when, (unsigned long long)st.conns_live, (unsigned long long)st.tw_live,
            (unsigned long long)st.syncookies_sent, (unsigned long long)st.syncookies_ok,
            (unsigned long long)st.syncookies_failed, (unsigned long long)st.syn_backlog_drops,
            (unsigned long long)st.icmp_in, (unsigned long long)st.pmtu_updates,
            (unsigned long long)st.icmp_ignored, (unsigned long long)st.rst_out);
    if (s->impaired)
        fprintf(stderr, "synfin-serve: impaired: dropped %llu, duplicated %llu, reordered %llu\n",
                (unsigned long long)s->impair.dropped, (unsigned long long)s->impair.duplicated,
                (unsigned long long)s->impair.reordered);
}

static int run(struct serve *s, long max_seconds)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) {
        perror("synfin-serve: signalfd");
        return -1;
    }
    static uint8_t buf[65536];
    sf_time_t drain_until = 0, stop_at = max_seconds ? s->start + SF_SEC(max_seconds) : 0;
    for (;;) {
        sf_time_t now = mono_us();
        if (s->impaired)
            impair_release(&s->impair, now, deliver, s);
        sf_engine_advance(s->e, now);
        if (stop_at && now >= stop_at && !drain_until) {
            app_drain(&s->app);
            drain_until = now + DRAIN_LIMIT;
        }
        if (drain_until) {
            struct sf_engine_stats st;
            sf_engine_stats(s->e, &st);
            /* Done when every connection has ended or is a TIME-WAIT entry. */
            if (st.conns_live == 0 || now >= drain_until)
                break;
        }
        sf_time_t next = sf_engine_next_deadline(s->e);
        if (s->impaired && impair_next(&s->impair) < next)
            next = impair_next(&s->impair);
        int timeout = -1;
        if (next != SF_TIME_NEVER)
            timeout = next <= now ? 0 : (int)((next - now + 999) / 1000);
        if (stop_at && (timeout < 0 || (sf_time_t)timeout * 1000 > stop_at - now))
            timeout = now >= stop_at ? 0 : (int)((stop_at - now + 999) / 1000);
        if (drain_until && (timeout < 0 || timeout > 50))
            timeout = 50;
        tx_flush(s); /* before sleeping, nothing may wait */
        struct pollfd pf[2] = {{.fd = s->tun.fd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        if (poll(pf, 2, timeout) < 0 && errno != EINTR) {
            perror("synfin-serve: poll");
            return -1;
        }
        if (pf[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                /* The engine's clock stood still while we slept: what we do now (close()
                 * and its trace line) happens now, not at the last packet or timer. */
                sf_engine_advance(s->e, mono_us());
                if (si.ssi_signo == SIGUSR1) {
                    counters(s, "now");
                } else if (drain_until) {
                    drain_until = mono_us(); /* second signal: now */
                } else {
                    fprintf(stderr, "synfin-serve: signal %u: closing connections\n", si.ssi_signo);
                    app_drain(&s->app);
                    drain_until = mono_us() + DRAIN_LIMIT;
                }
            }
        }
        if (pf[0].revents & POLLIN) {
            for (int i = 0; i < BATCH; i++) {
                ssize_t n = sf_tun_read(&s->tun, buf, sizeof buf);
                if (n == -EAGAIN)
                    break;
                if (n == -EBADMSG) {
                    s->malformed++; /* counted and dropped, like any bad packet */
                    continue;
                }
                if (n < 0) {
                    fprintf(stderr, "synfin-serve: reading %s: %s\n", s->tun.name,
                            strerror((int)-n));
                    return -1;
                }
                packet_in(s, buf, (size_t)n);
            }
        }
    }
    tx_flush(s);
    close(sfd);
    return 0;
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
    if (setup(&s, &o) < 0)
        return 1;
    int rc = run(&s, o.max_seconds);
    counters(&s, "exit");
    impair_free(&s.impair);
    if (s.pcap && sf_pcap_close(s.pcap) < 0) {
        fprintf(stderr, "synfin-serve: the capture is incomplete\n");
        rc = -1;
    }
    sf_engine_free(s.e);
    sf_tun_close(&s.tun);
    return rc < 0 ? 1 : 0;
}
