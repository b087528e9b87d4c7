/* The TUN steering rule (io/steer.h): the C rule gives the queue by hand-made packets, and the
 * BPF program built from it, run by the kernel (BPF_PROG_TEST_RUN), gives the same answer for
 * each (skipped where bpf(2) is refused: not root, or a seccomp filter). Beside it, the engine's
 * side of the bargain: every ephemeral port it picks for a connect maps the flow to its own
 * queue. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io/steer.h"
#include "tcp/tcp.h"

static size_t ip4(uint8_t *b, uint8_t proto, unsigned ihl_words, uint16_t frag)
{
    memset(b, 0, ihl_words * 4u);
    b[0] = (uint8_t)(0x40 | ihl_words);
    b[6] = (uint8_t)(frag >> 8);
    b[7] = (uint8_t)frag;
    b[8] = 64;
    b[9] = proto;
    b[12] = 10, b[15] = 1;
    b[16] = 10, b[19] = 2;
    return ihl_words * 4u;
}

static void ports(uint8_t *p, uint16_t sport, uint16_t dport)
{
    p[0] = (uint8_t)(sport >> 8), p[1] = (uint8_t)sport;
    p[2] = (uint8_t)(dport >> 8), p[3] = (uint8_t)dport;
}

static size_t tcp4(uint8_t *b, unsigned ihl_words, uint16_t sport, uint16_t dport)
{
    size_t h = ip4(b, 6, ihl_words, 0x4000 /* DF */);
    ports(b + h, sport, dport);
    b[h + 12] = 0x50;
    return h + 20;
}

static size_t ip6(uint8_t *b, uint8_t next)
{
    memset(b, 0, 40);
    b[0] = 0x60;
    b[6] = next;
    b[7] = 64;
    b[8] = 0xfd, b[23] = 1;
    b[24] = 0xfd, b[39] = 2;
    return 40;
}

static size_t tcp6(uint8_t *b, uint16_t sport, uint16_t dport)
{
    ports(b + ip6(b, 6), sport, dport);
    b[52] = 0x50;
    return 60;
}

/* An ICMP error (type) quoting a TCP/IPv4 packet from sport to dport. */
static size_t icmp4(uint8_t *b, uint8_t type, uint16_t sport, uint16_t dport)
{
    size_t h = ip4(b, 1, 5, 0);
    b[h] = type;
    size_t in = h + 8;
    tcp4(b + in, 5, sport, dport);
    return in + 28; /* the quoted header and 8 bytes of TCP */
}

static size_t icmp6(uint8_t *b, uint8_t type, uint16_t sport, uint16_t dport)
{
    ip6(b, 58);
    b[40] = type;
    tcp6(b + 48, sport, dport);
    return 48 + 48;
}

struct pkt {
    const char *what;
    uint8_t b[160];
    size_t len;
    int sport, dport; /* the ports that choose its queue; -1: queue 0 */
};

static unsigned want(const struct pkt *p, unsigned n)
{
    return p->sport < 0 ? 0 : sf_steer_ports((uint32_t)p->sport, (uint32_t)p->dport, n);
}

/* The cases, each with the queue it must get among 2 (and 3, computed as the rule says). */
static size_t cases(struct pkt *p)
{
    size_t n = 0;
    memset(p, 0, 32 * sizeof *p);
    p[n].what = "tcp4 1000+80";
    p[n].len = tcp4(p[n].b, 5, 1000, 80), p[n].sport = 1000, p[n].dport = 80, n++;
    p[n].what = "tcp4 1001+80";
    p[n].len = tcp4(p[n].b, 5, 1001, 80), p[n].sport = 1001, p[n].dport = 80, n++;
    p[n].what = "tcp4 with options (ihl 7) 40001+8080";
    p[n].len = tcp4(p[n].b, 7, 40001, 8080), p[n].sport = 40001, p[n].dport = 8080, n++;
    p[n].what = "tcp4 reverse 80+1001";
    p[n].len = tcp4(p[n].b, 5, 80, 1001), p[n].sport = 80, p[n].dport = 1001, n++;
    p[n].what = "tcp4 ports summing past 65535";
    p[n].len = tcp4(p[n].b, 5, 65535, 65534), p[n].sport = 65535, p[n].dport = 65534, n++;
    p[n].what = "tcp4 first fragment (MF)";
    p[n].len = tcp4(p[n].b, 5, 1001, 80), p[n].b[6] = 0x20, p[n].sport = -1, p[n].dport = 0, n++;
    p[n].what = "tcp4 later fragment";
    p[n].len = tcp4(p[n].b, 5, 1001, 80), p[n].b[6] = 0, p[n].b[7] = 3, p[n].sport = -1,
    p[n].dport = 0, n++;
    p[n].what = "tcp4 truncated before the ports";
    p[n].len = tcp4(p[n].b, 5, 1001, 80) - 18, p[n].sport = -1, p[n].dport = 0, n++;
    p[n].what = "udp4";
    p[n].len = ip4(p[n].b, 17, 5, 0) + 8, ports(p[n].b + 20, 1001, 80), p[n].sport = -1,
    p[n].dport = 0, n++;
    p[n].what = "icmp4 unreachable about 33333->80";
    p[n].len = icmp4(p[n].b, 3, 33333, 80), p[n].sport = 33333, p[n].dport = 80, n++;
    p[n].what = "icmp4 time exceeded about 33334->80";
    p[n].len = icmp4(p[n].b, 11, 33334, 80), p[n].sport = 33334, p[n].dport = 80, n++;
    p[n].what = "icmp4 echo request";
    p[n].len = icmp4(p[n].b, 8, 33333, 80), p[n].sport = -1, p[n].dport = 0, n++;
    p[n].what = "icmp4 error about udp";
    p[n].len = icmp4(p[n].b, 3, 33333, 80), p[n].b[20 + 8 + 9] = 17, p[n].sport = -1,
    p[n].dport = 0, n++;
    p[n].what = "icmp4 error quoting too little";
    p[n].len = icmp4(p[n].b, 3, 33333, 80) - 10, p[n].sport = -1, p[n].dport = 0, n++;
    p[n].what = "tcp6 1001+80";
    p[n].len = tcp6(p[n].b, 1001, 80), p[n].sport = 1001, p[n].dport = 80, n++;
    p[n].what = "tcp6 50000+443";
    p[n].len = tcp6(p[n].b, 50000, 443), p[n].sport = 50000, p[n].dport = 443, n++;
    p[n].what = "tcp6 50001+443";
    p[n].len = tcp6(p[n].b, 50001, 443), p[n].sport = 50001, p[n].dport = 443, n++;
    p[n].what = "tcp6 behind an extension header";
    p[n].len = tcp6(p[n].b, 1001, 80), p[n].b[6] = 0, p[n].sport = -1, p[n].dport = 0, n++;
    p[n].what = "icmp6 packet too big about 40001->80";
    p[n].len = icmp6(p[n].b, 2, 40001, 80), p[n].sport = 40001, p[n].dport = 80, n++;
    p[n].what = "icmp6 echo request";
    p[n].len = icmp6(p[n].b, 128, 40001, 80), p[n].sport = -1, p[n].dport = 0, n++;
    p[n].what = "icmp6 truncated";
    p[n].len = 60, icmp6(p[n].b, 1, 40001, 80), p[n].sport = -1, p[n].dport = 0, n++;
    p[n].what = "not IP";
    memset(p[n].b, 0, sizeof p[n].b), p[n].b[0] = 0x25, p[n].len = 40, p[n].sport = -1,
                                      p[n].dport = 0, n++;
    return n;
}

static void rule_in_c(void **state)
{
    (void)state;
    struct pkt p[32];
    size_t n = cases(p);
    for (size_t i = 0; i < n; i++) {
        for (unsigned q = 1; q <= 7; q++) {
            unsigned got = sf_steer_queue(p[i].b, p[i].len, q);
            if (got != want(&p[i], q))
                fail_msg("%s, %u queues: queue %u, want %u", p[i].what, q, got, want(&p[i], q));
        }
    }
}

/* The mix itself, by values worked out apart (Python: ((a + b) * 0x9e3779b1 % 2**32 >> 16) %
 * n), and its point: successive even client ports to one port spread over both queues. */
static void rule_values(void **state)
{
    (void)state;
    assert_int_equal(sf_steer_ports(1000, 80, 2), 1);
    assert_int_equal(sf_steer_ports(1001, 80, 2), 0);
    assert_int_equal(sf_steer_ports(80, 1001, 2), 0);
    assert_int_equal(sf_steer_ports(40001, 8080, 3), 1);
    assert_int_equal(sf_steer_ports(65535, 65534, 7), 3);
    assert_int_equal(sf_steer_ports(50000, 443, 2), 1);
    assert_int_equal(sf_steer_ports(50002, 443, 2), 0);
    assert_int_equal(sf_steer_ports(1234, 80, 1), 0);
    unsigned per[2] = {0, 0};
    for (unsigned port = 32768; port < 61000; port += 2)
        per[sf_steer_ports(port, 38347, 2)]++;
    assert_int_equal(per[0], 7059);
    assert_int_equal(per[1], 7057);
}

/* The kernel runs the program on every case and agrees with the C rule, for 2, 3 and 7. */
static void program_agrees(void **state)
{
    (void)state;
    char err[512];
    int fd = sf_steer_load(2, err, sizeof err);
    if (fd == -EPERM || fd == -EACCES || fd == -ENOSYS) {
        skip(); /* no bpf(2) here: the rule in C is tested above */
    }
    if (fd < 0)
        fail_msg("%s", err);
    struct pkt p[32];
    size_t n = cases(p);
    int probe = sf_steer_run(fd, p[0].b, p[0].len);
    close(fd);
    if (probe == -EPERM || probe == -524 /* ENOTSUPP */ || probe == -EOPNOTSUPP ||
        probe == -EINVAL) {
        skip(); /* BPF_PROG_TEST_RUN for socket filters is missing */
    }
    const unsigned qs[] = {2, 3, 7};
    for (size_t q = 0; q < sizeof qs / sizeof qs[0]; q++) {
        fd = sf_steer_load(qs[q], err, sizeof err);
        if (fd < 0)
            fail_msg("%s", err);
        for (size_t i = 0; i < n; i++) {
            int got = sf_steer_run(fd, p[i].b, p[i].len);
            unsigned w = sf_steer_queue(p[i].b, p[i].len, qs[q]);
            if (got != (int)w || w != want(&p[i], qs[q]))
                fail_msg("%s, %u queues: program says %d, the rule %u", p[i].what, qs[q], got, w);
        }
        close(fd);
    }
}

static void drop_output(void *ctx, const void *pkt, size_t len)
{
    (void)ctx, (void)pkt, (void)len;
}

/* An engine told it is index k of n picks, for every connect, a local port whose flow the
 * rule maps to k; with the remote port varying and over many connects. */
static void engine_ports(void **state)
{
    (void)state;
    for (unsigned n = 2; n <= 3; n++) {
        for (unsigned k = 0; k < n; k++) {
            struct sf_engine_params ep;
            memset(&ep, 0, sizeof ep);
            ep.ops.output = drop_output;
            ep.local_addr.family = SF_AF_INET;
            ep.local_addr.u.v4[0] = 10, ep.local_addr.u.v4[3] = 1;
            ep.port_steer_n = n;
            ep.port_steer_index = k;
            ep.key[0] = (uint8_t)(n * 7 + k);
            struct sf_engine *e = sf_engine_new(&ep);
            assert_non_null(e);
            for (unsigned i = 0; i < 500; i++) {
                struct sf_conn *c = sf_socket(e);
                assert_non_null(c);
                struct sf_endpoint r;
                memset(&r, 0, sizeof r);
                r.addr.family = SF_AF_INET;
                r.addr.u.v4[0] = 10, r.addr.u.v4[3] = 2;
                r.port = (uint16_t)(8000 + i % 7);
                int rc = sf_connect(c, &r);
                assert_true(rc == 0 || rc == -EINPROGRESS);
                struct sf_conn_info in;
                sf_info(c, &in);
                if (sf_steer_ports(in.local.port, r.port, n) != k)
                    fail_msg("n=%u k=%u: port %u to %u maps to queue %u", n, k, in.local.port,
                             r.port, sf_steer_ports(in.local.port, r.port, n));
            }
            sf_engine_free(e);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rule_in_c),
        cmocka_unit_test(rule_values),
        cmocka_unit_test(program_agrees),
        cmocka_unit_test(engine_ports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
