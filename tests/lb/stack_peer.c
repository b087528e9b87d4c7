/* A simulated peer for the stack transport: one engine that is every client and every server
 * at once, on the other end of a packet descriptor (a SOCK_SEQPACKET socketpair). It listens
 * on 0.0.0.0:8000 (the servers) and opens `total` client connections to the balancer's VIP,
 * each from an address of its own, at most `window` handshakes at a time; it holds every
 * connection open and idle until the descriptor's other end closes. Run in a child process,
 * so that the balancer's process holds the balancer alone. */
#include "stack_peer.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tcp/tcp.h"

struct peer {
    int fd;
    struct sf_engine *e;
    uint32_t opened, connected;
    uint64_t dropped;
};

static sf_time_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (sf_time_t)ts.tv_sec * 1000000u + (sf_time_t)ts.tv_nsec / 1000u;
}

static void output(void *ctx, const void *pkt, size_t len)
{
    struct peer *p = ctx;
    if (write(p->fd, pkt, len) != (ssize_t)len)
        p->dropped++; /* a full socket buffer: a link would drop it; TCP sends it again */
}

static void on_client(struct sf_conn *c, unsigned ev, void *user)
{
    struct peer *p = user;
    (void)c;
    if (ev & SF_EV_CONNECTED)
        p->connected++;
}

static void on_server_listener(struct sf_conn *l, unsigned ev, void *user)
{
    (void)user;
    if (!(ev & SF_EV_ACCEPT))
        return;
    int err;
    while (sf_accept(l, &err)) {
        /* Held, idle, until the engine is freed. */
    }
}

static void open_clients(struct peer *p, const struct stack_peer_args *a)
{
    struct sf_endpoint vip = {.addr = a->vip, .port = a->vip_port};
    while (p->opened < a->total && p->opened - p->connected < a->window) {
        uint32_t i = p->opened++;
        struct sf_conn *c = sf_socket(p->e);
        if (!c)
            return;
        /* 10.2.0.1 upwards: one address per client, so every 4-tuple is new. */
        uint32_t host = i + 1;
        struct sf_endpoint me = {
            .addr =
                sf_addr_v4(10, (uint8_t)(2 + (host >> 16)), (uint8_t)(host >> 8), (uint8_t)host),
            .port = 40000,
        };
        sf_set_handler(c, on_client, p);
        sf_setopt(c, SF_OPT_REUSEADDR, 1); /* port 40000 on every address */
        if (sf_bind(c, &me) < 0 || sf_connect(c, &vip) != -EINPROGRESS)
            sf_abort(c);
    }
}

int stack_peer_run(int fd, const struct stack_peer_args *a)
{
    struct peer p = {.fd = fd};
    struct sf_tcp_config cfg;
    sf_tcp_config_defaults(&cfg);
    cfg.syn_retries = 10; /* a slow balancer under a burst is not a dead one */
    struct sf_engine_params ep;
    memset(&ep, 0, sizeof ep);
    ep.config = &cfg;
    ep.ops.output = output;
    ep.ctx = &p;
    for (int i = 0; i < 32; i++)
        ep.key[i] = (uint8_t)(i * 7 + 1);
    ep.local_addr = sf_addr_v4(10, 1, 0, 1);
    ep.now = mono_us();
    p.e = sf_engine_new(&ep);
    if (!p.e)
        return 1;
    struct sf_conn *l = sf_socket(p.e);
    struct sf_endpoint any = {.addr = {.family = SF_AF_INET}, .port = a->server_port};
    if (!l || sf_bind(l, &any) < 0 || sf_listen(l, 65535) < 0)
        return 1;
    sf_set_handler(l, on_server_listener, &p);
    static uint8_t buf[65536];
    for (;;) {
        open_clients(&p, a);
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        sf_time_t next = sf_engine_next_deadline(p.e), now = mono_us();
        int timeout = next == SF_TIME_NEVER ? 100 : next <= now ? 0 : (int)((next - now) / 1000);
        if (timeout > 100)
            timeout = 100;
        if (poll(&pf, 1, timeout) < 0 && errno != EINTR)
            break;
        for (int k = 0; k < 1024; k++) {
            ssize_t n = read(fd, buf, sizeof buf);
            if (n == 0)
                goto out; /* the balancer's side closed: done */
            if (n < 0)
                break;
            sf_engine_input(p.e, buf, (size_t)n, mono_us());
        }
        sf_engine_advance(p.e, mono_us());
    }
out:
    sf_engine_free(p.e);
    return 0;
}
