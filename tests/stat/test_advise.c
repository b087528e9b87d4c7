/* The advisor's rules on synthetic sysctls and counts: each fires on its bad case with the
 * numbers it read, stays quiet on good settings, and the arithmetic is right. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "stat/advise.h"

/* Settings a careful operator would choose: nothing should need attention. */
static struct st_sysctls good(void)
{
    struct st_sysctls s;
    memset(&s, 0, sizeof s);
    long v[SC_N] = {
        [SC_TW_REUSE] = 1,         [SC_FIN_TIMEOUT] = 30,       [SC_MAX_TW_BUCKETS] = 262144,
        [SC_SYNCOOKIES] = 1,       [SC_MAX_SYN_BACKLOG] = 4096, [SC_SOMAXCONN] = 4096,
        [SC_PORT_LO] = 1024,       [SC_PORT_HI] = 65535,        [SC_KEEPALIVE_TIME] = 120,
        [SC_KEEPALIVE_INTVL] = 30, [SC_KEEPALIVE_PROBES] = 4,   [SC_TIMESTAMPS] = 1,
        [SC_TW_REUSE_DELAY] = 1000};
    for (int i = 0; i < SC_N; i++) {
        s.v[i] = v[i];
        s.present[i] = i != SC_TW_RECYCLE; /* gone since 4.12 */
    }
    return s;
}

static struct st_live quiet(void)
{
    struct st_live l;
    memset(&l, 0, sizeof l);
    l.hist.n[ST_LISTEN] = 3;
    l.hist.n[ST_ESTABLISHED] = 40;
    l.listeners = 3;
    l.fullest.family = AF_INET;
    l.fullest.port = 80;
    l.fullest.backlog = 4096;
    return l;
}

static void busy_destination(struct st_live *l, const char *dst, uint16_t port, uint64_t tw)
{
    l->top_family = AF_INET;
    inet_pton(AF_INET, "10.0.0.1", l->top_laddr);
    inet_pton(AF_INET, dst, l->top_raddr);
    l->top_rport = port;
    l->top_tw = tw;
    l->tw_out = tw;
    l->hist.n[ST_TIME_WAIT] = tw;
}

static struct st_finding fs[ST_MAX_FINDINGS];
static size_t nfs;

static size_t run(const struct st_sysctls *s, const struct st_live *l)
{
    memset(fs, 0, sizeof fs);
    nfs = st_advise(s, l, NULL, fs, ST_MAX_FINDINGS);
    return nfs;
}

static const struct st_finding *find(const char *id)
{
    for (size_t i = 0; i < nfs; i++)
        if (!strcmp(fs[i].id, id))
            return &fs[i];
    return NULL;
}

static int attention_count(void)
{
    int n = 0;
    for (size_t i = 0; i < nfs; i++)
        n += fs[i].attention;
    return n;
}

/* Every finding is complete: a title, evidence, risk, change and reason. */
static void complete(void)
{
    for (size_t i = 0; i < nfs; i++) {
        const struct st_finding *f = &fs[i];
        if (!f->id || !f->title[0] || !f->evidence[0] || !f->risk[0] || !f->change[0] ||
            !f->reason[0])
            fail_msg("finding %s is missing a part", f->id ? f->id : "?");
    }
}

static void expect(const char *id, int attention, const char *in_evidence)
{
    const struct st_finding *f = find(id);
    if (!f)
        fail_msg("no '%s' finding", id);
    assert_int_equal(f->attention, attention);
    if (in_evidence && !strstr(f->evidence, in_evidence))
        fail_msg("'%s' evidence \"%s\" lacks \"%s\"", id, f->evidence, in_evidence);
    complete();
}

static void good_settings_need_nothing(void **unused)
{
    (void)unused;
    struct st_sysctls s = good();
    struct st_live l = quiet();
    run(&s, &l);
    assert_int_equal(attention_count(), 0);
    expect("port-range", 0, "1024 65535 (64512 ports)");
    assert_non_null(strstr(find("port-range")->title, "1075 per second")); /* 64512 / 60 */
}

static void port_exhaustion_arithmetic(void **unused)
{
    (void)unused;
    struct st_sysctls s = good();
    s.v[SC_PORT_LO] = 32768;
    s.v[SC_PORT_HI] = 60999; /* 28232 ports */
    struct st_live l = quiet();
    busy_destination(&l, "10.0.0.9", 8080, 20000);
    run(&s, &l);
    expect("port-exhaustion", 1, "20000 outgoing TIME_WAIT from 10.0.0.1 to 10.0.0.9:8080");
    const struct st_finding *f = find("port-exhaustion");
    assert_non_null(strstr(f->title, "70%")); /* 20000 / 28232 */
    assert_non_null(strstr(f->risk, "28232 ports / 60 s = 470 new connections per second"));
    assert_non_null(strstr(f->change, "ip_local_port_range = 1024 65535"));
    assert_null(strstr(f->change, "tcp_tw_reuse")); /* already 1 */
    s.v[SC_TW_REUSE] = 0;
    run(&s, &l);
    assert_non_null(strstr(find("port-exhaustion")->change, "net.ipv4.tcp_tw_reuse = 1"));
    s.v[SC_TW_REUSE] = 1;
    assert_null(find("port-range-narrow")); /* one finding for the range, not two */

    busy_destination(&l, "10.0.0.9", 8080, 14115); /* just under half */
    run(&s, &l);
    assert_null(find("port-exhaustion"));
    expect("port-range", 0, NULL);
}

static void narrow_port_range(void **unused)
{
    (void)unused;
    struct st_sysctls s = good();
    s.v[SC_PORT_LO] = 60000;
    s.v[SC_PORT_HI] = 60999;
    struct st_live l = quiet();
    run(&s, &l);
    expect("port-range-narrow", 1, "60000 60999 (1000 ports");
    assert_non_null(strstr(find("port-range-narrow")->risk, "= 16 new connections per second"));
}

static void tw_reuse_for_outgoing(void **unused)
{
    (void)unused;
    struct st_sysctls s = good();
    struct st_live l = quiet();
    busy_destination(&l, "192.0.2.10", 443, 10000); /* 15% of 64512 */
    s.v[SC_TW_REUSE] = 0;
    run(&s, &l);
    expect("tw-reuse", 1, "net.ipv4.tcp_tw_reuse = 0");
    assert_non_null(strstr(find("tw-reuse")->reason, "removed in Linux 4.12"));
    assert_non_null(strstr(find("tw-reuse")->reason, "NAT"));

    s.v[SC_TW_REUSE] = 2; /* loopback only: not this destination */
    run(&s, &l);
    expect("tw-reuse", 1, "(loopback only)");

    busy_destination(&l, "127.0.0.1", 443, 10000); /* loopback: 2 covers it */
    run(&s, &l);
    assert_null(find("tw-reuse"));

    s.v[SC_TW_REUSE] = 0;
    busy_destination(&l, "192.0.2.10", 443, 5000); /* under 10%: not worth it */
    run(&s, &l);
    assert_null(find("tw-reuse"));
}

static void tw_recycle_on_an_old_kernel(void **unused)
{
    (void)unused;
    struct st_sysctls s = good();
    s.present[SC_TW_RECYCLE] = 1;
    s.v[SC_TW_RECYCLE] = 1;
    struct st_live l = quiet();
    run(&s, &l);
    expect("tw-recycle", 1, "net.ipv4.tcp_tw_recycle = 1");
    assert_non_null(strstr(find("tw-recycle")->risk, "NAT"));

    s.v[SC_TW_RECYCLE] = 0;
    run(&s, &l);
    assert_null(find("tw-recycle"));

    s.present[SC_TW_RECYCLE] = 0;
    struct st_conf_notes notes;
    strcpy(notes.tw_recycle, "/etc/sysctl.d/90-tuning.conf:3");
    nfs = st_advise(&s, &l, &notes, fs, ST_MAX_FINDINGS);
    expect("tw-recycle-config", 0, "/etc/sysctl.d/90-tuning.conf:3");
    assert_int_equal(attention_count(), 0);
}

static void time_wait_bucket_limit(void **unused)
{
    (void)unused;
    struct st_sysctls s = good();
    s.v[SC_MAX_TW_BUCKETS] = 5000;
    struct st_live l = quiet();
    l.hist.n[ST_TIME_WAIT] = 5000;
    run(&s, &l);
    expect("max-tw-buckets", 1, "5000 TIME_WAIT; net.ipv4.tcp_max_tw_buckets = 5000");
    assert_non_null(strstr(find("max-tw-buckets")->change, "= 262144"));
    l.hist.n[ST_TIME_WAIT] = 3999; /* under 80% */
    run(&s, &l);
    assert_null(find("max-tw-buckets"));
    s.v[SC_MAX_TW_BUCKETS] = 200000;
    l.hist.n[ST_TIME_WAIT] = 190000;
    run(&s, &l);
    assert_non_null(strstr(find("max-tw-buckets")->change, "= 380000"));
}

static void one_sysctl_each(void **unused)
{
    (void)unused;
    static const struct {
        enum st_sysctl id;
        long bad;
        const char *finding, *evidence;
    } cases[] = {
        {SC_FIN_TIMEOUT, 300, "fin-timeout", "tcp_fin_timeout = 300"},
        {SC_SYNCOOKIES, 0, "syncookies", "tcp_syncookies = 0"},
        {SC_SYNCOOKIES, 2, "syncookies", "tcp_syncookies = 2"},
        {SC_MAX_SYN_BACKLOG, 64, "syn-backlog", "tcp_max_syn_backlog = 64"},
        {SC_SOMAXCONN, 128, "somaxconn", "somaxconn = 128"},
        {SC_KEEPALIVE_TIME, 3600, "keepalive", "a dead peer is noticed after 3720 s"},
        {SC_KEEPALIVE_TIME, 7201, "keepalive", "a dead peer is noticed after 7321 s"},
        {SC_TW_REUSE_DELAY, 60000, "tw-reuse-delay", "tcp_tw_reuse_delay = 60000 ms"},
        {SC_TIMESTAMPS, 0, "timestamps", "tcp_timestamps = 0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct st_sysctls s = good();
        s.v[cases[i].id] = cases[i].bad;
        struct st_live l = quiet();
        run(&s, &l);
        expect(cases[i].finding, 1, cases[i].evidence);
        if (attention_count() != 1)
            fail_msg("%s: %d findings need attention, want 1", cases[i].finding, attention_count());
    }
    /* The myth: tcp_fin_timeout does not touch TIME_WAIT. */
    struct st_sysctls s = good();
    s.v[SC_FIN_TIMEOUT] = 120;
    struct st_live l = quiet();
    run(&s, &l);
    assert_non_null(strstr(find("fin-timeout")->reason, "does not shorten TIME_WAIT"));
    /* A missing sysctl is skipped, never guessed. */
    s = good();
    s.v[SC_SYNCOOKIES] = 0;
    s.present[SC_SYNCOOKIES] = 0;
    run(&s, &l);
    assert_null(find("syncookies"));
}

/* What a stock kernel has is not a finding: the keepalive time RFC 1122 requires as the
 * default is a note (exit 0), the same value chosen elsewhere is one. */
static void stock_kernel_needs_nothing(void **unused)
{
    (void)unused;
    struct st_sysctls s;
    memset(&s, 0, sizeof s);
    /* Linux 6.14+ defaults (a new network namespace on a host with 4 GiB or more) */
    long v[SC_N] = {
        [SC_TW_REUSE] = 2,         [SC_FIN_TIMEOUT] = 60,       [SC_MAX_TW_BUCKETS] = 262144,
        [SC_SYNCOOKIES] = 1,       [SC_MAX_SYN_BACKLOG] = 1024, [SC_SOMAXCONN] = 4096,
        [SC_PORT_LO] = 32768,      [SC_PORT_HI] = 60999,        [SC_KEEPALIVE_TIME] = 7200,
        [SC_KEEPALIVE_INTVL] = 75, [SC_KEEPALIVE_PROBES] = 9,   [SC_TIMESTAMPS] = 1,
        [SC_TW_REUSE_DELAY] = 1000};
    for (int i = 0; i < SC_N; i++) {
        s.v[i] = v[i];
        s.present[i] = i != SC_TW_RECYCLE;
    }
    struct st_live l = quiet();
    run(&s, &l);
    assert_int_equal(attention_count(), 0);
    expect("keepalive", 0, "net.ipv4.tcp_keepalive_time = 7200");
    const struct st_finding *f = find("keepalive");
    assert_non_null(strstr(f->title, "RFC 1122"));
    assert_non_null(strstr(f->reason, "MUST default to no less than two hours"));
    assert_non_null(strstr(f->change, "TCP_KEEPIDLE"));
    expect("port-range", 0, "32768 60999");
    assert_null(find("tw-reuse-delay"));
    /* before 6.14: no tcp_tw_reuse_delay, nothing said of it */
    s.present[SC_TW_REUSE_DELAY] = 0;
    run(&s, &l);
    assert_int_equal(attention_count(), 0);
    assert_null(find("tw-reuse-delay"));
}

/* tcp_tw_reuse_delay (Linux 6.14+) is read and used: a delay as long as TIME_WAIT makes
 * tw_reuse useless (a finding), a short one is a note, the reuse finding quotes it. */
static void tw_reuse_delay_known(void **unused)
{
    (void)unused;
    struct st_sysctls s = good();
    struct st_live l = quiet();
    s.v[SC_TW_REUSE_DELAY] = 60000;
    run(&s, &l);
    expect("tw-reuse-delay", 1, "net.ipv4.tcp_tw_reuse = 1; net.ipv4.tcp_tw_reuse_delay = 60000");
    assert_non_null(strstr(find("tw-reuse-delay")->title, "never acts"));
    s.v[SC_TW_REUSE] = 0; /* reuse off: its delay means nothing */
    run(&s, &l);
    assert_null(find("tw-reuse-delay"));
    s = good();
    s.v[SC_TW_REUSE_DELAY] = 10;
    run(&s, &l);
    expect("tw-reuse-delay", 0, "net.ipv4.tcp_tw_reuse_delay = 10 ms");
    assert_int_equal(attention_count(), 0);
    s.v[SC_TW_REUSE_DELAY] = 1000;
    run(&s, &l);
    assert_null(find("tw-reuse-delay"));
    /* the tw-reuse finding says how old a TIME_WAIT must be */
    s = good();
    s.v[SC_TW_REUSE] = 0;
    s.v[SC_TW_REUSE_DELAY] = 2500;
    busy_destination(&l, "10.0.0.9", 443, 20000);
    run(&s, &l);
    assert_non_null(strstr(find("tw-reuse")->reason, "older than 2500 ms"));
    char err[128];
    assert_int_equal(st_check_finding_ids("tw-reuse-delay,keepalive", err, sizeof err), 0);
}

static void queues(void **unused)
{
    (void)unused;
    struct st_sysctls s = good();
    struct st_live l = quiet();
    l.hist.n[ST_SYN_RECEIVED] = 3000; /* of 4096 */
    run(&s, &l);
    expect("syn-backlog", 1, "3000 SYN_RECEIVED");

    l = quiet();
    inet_pton(AF_INET, "10.0.0.1", l.fullest.addr);
    l.fullest.port = 8080;
    l.fullest.queued = 129;
    l.fullest.backlog = 128;
    run(&s, &l);
    expect("accept-queue", 1, "129 connections wait to be accepted on 10.0.0.1:8080");
    assert_non_null(strstr(find("accept-queue")->title, "full"));
    l.fullest.queued = 10;
    run(&s, &l);
    assert_null(find("accept-queue"));
}

static void close_wait_is_an_application_bug(void **unused)
{
    (void)unused;
    struct st_sysctls s = good();
    struct st_live l = quiet();
    l.hist.n[ST_CLOSE_WAIT] = 250;
    l.cw_in = 250;
    l.cw_port = 8443;
    l.cw_port_count = 240;
    strcpy(l.cw_remote, "10.1.1.1:*");
    l.cw_remote_count = 200;
    run(&s, &l);
    expect("close-wait", 1, "240 of them on local port 8443");
    const struct st_finding *f = find("close-wait");
    assert_non_null(strstr(f->change, "No sysctl: fix the application"));
    assert_non_null(strstr(f->change, "sport = :8443"));
    l.hist.n[ST_CLOSE_WAIT] = 99;
    run(&s, &l);
    assert_null(find("close-wait"));
}

static void server_closing_first_is_a_note(void **unused)
{
    (void)unused;
    struct st_sysctls s = good();
    struct st_live l = quiet();
    l.hist.n[ST_TIME_WAIT] = 5000;
    l.tw_in = 5000;
    l.tw_in_port = 80;
    l.tw_in_port_count = 4900;
    run(&s, &l);
    expect("server-closes-first", 0, "4900 of them on listening port 80");
    assert_int_equal(attention_count(), 0);
}

static void bounded_output(void **unused)
{
    (void)unused;
    struct st_sysctls s = good();
    s.v[SC_SYNCOOKIES] = 0;
    s.v[SC_TIMESTAMPS] = 0;
    s.v[SC_KEEPALIVE_TIME] = 7200;
    struct st_live l = quiet();
    struct st_finding two[2];
    assert_int_equal(st_advise(&s, &l, NULL, two, 2), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_settings_need_nothing),
        cmocka_unit_test(port_exhaustion_arithmetic),
        cmocka_unit_test(narrow_port_range),
        cmocka_unit_test(tw_reuse_for_outgoing),
        cmocka_unit_test(tw_recycle_on_an_old_kernel),
        cmocka_unit_test(time_wait_bucket_limit),
        cmocka_unit_test(one_sysctl_each),
        cmocka_unit_test(queues),
        cmocka_unit_test(stock_kernel_needs_nothing),
        cmocka_unit_test(tw_reuse_delay_known),
        cmocka_unit_test(close_wait_is_an_application_bug),
        cmocka_unit_test(server_closing_first_is_a_note),
        cmocka_unit_test(bounded_output),
    };
    return cmocka_run_group_tests_name("stat_advise", tests, NULL, NULL);
}
