/* synfin-stat's command line: every option, the endpoint grammar, and what is refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "stat/advise.h"
#include "stat/args.h"
#include "stat/report.h"

static char err[512];

/* Parses a NULL-terminated list of words after the program name. */
static int parse_words(struct st_opts *o, const char *const *words)
{
    char *argv[32] = {"synfin-stat"};
    int argc = 1;
    while (*words && argc < 31)
        argv[argc++] = (char *)*words++;
    err[0] = '\0';
    return st_parse_args(argc, argv, o, err, sizeof err);
}

#define parse(o, ...) parse_words(o, (const char *const[]){__VA_ARGS__, NULL})

static void defaults(void **unused)
{
    (void)unused;
    struct st_opts o;
    assert_int_equal(parse_words(&o, (const char *const[]){NULL}), 0);
    assert_int_equal(o.port, 0);
    assert_false(o.local.active);
    assert_false(o.remote.active);
    assert_null(o.netns);
    assert_int_equal(o.top, ST_TOP_DEFAULT);
    assert_true(o.watch == 0);
    assert_false(o.json || o.by_peer || o.advise);
}

static void every_option(void **unused)
{
    (void)unused;
    struct st_opts o;
    assert_int_equal(parse(&o, "--port", "443", "--local=10.0.0.0/8", "-r", "[::1]:80", "--netns",
                           "blue", "--by-peer", "--top", "5", "--watch", "0.5", "--count", "3",
                           "-j"),
                     0);
    assert_int_equal(o.port, 443);
    assert_true(o.local.active);
    assert_int_equal(o.local.family, AF_INET);
    assert_int_equal(o.local.prefix_len, 8);
    assert_int_equal(o.local.port, -1);
    assert_string_equal(o.local_arg, "10.0.0.0/8");
    assert_int_equal(o.remote.family, AF_INET6);
    assert_int_equal(o.remote.prefix_len, 128);
    assert_int_equal(o.remote.port, 80);
    assert_string_equal(o.netns, "blue");
    assert_true(o.by_peer && o.json);
    assert_int_equal(o.top, 5);
    assert_true(o.watch > 0.49 && o.watch < 0.51);
    assert_int_equal(o.count, 3);

    assert_int_equal(parse(&o, "--from", "127.0.0.1:8404", "--watch", "2"), 0);
    assert_string_equal(o.from, "127.0.0.1:8404");
    assert_int_equal(parse(&o, "--advise", "--netns", "/proc/1/ns/net", "--json"), 0);
    assert_true(o.advise);
    assert_int_equal(parse(&o, "--help", "--bogus-is-not-reached"), -1);
    assert_int_equal(parse(&o, "-h"), 0);
    assert_true(o.help);
}

static void endpoint_forms(void **unused)
{
    (void)unused;
    struct sf_sockdiag_cond c;
    uint8_t want[16];

    assert_int_equal(st_parse_endpoint("192.0.2.7:8080", &c, err, sizeof err), 0);
    inet_pton(AF_INET, "192.0.2.7", want);
    assert_memory_equal(c.addr, want, 4);
    assert_int_equal(c.family, AF_INET);
    assert_int_equal(c.prefix_len, 32);
    assert_int_equal(c.port, 8080);

    assert_int_equal(st_parse_endpoint("2001:db8::1", &c, err, sizeof err), 0);
    inet_pton(AF_INET6, "2001:db8::1", want);
    assert_memory_equal(c.addr, want, 16);
    assert_int_equal(c.port, -1);

    assert_int_equal(st_parse_endpoint("[2001:db8::/32]:443", &c, err, sizeof err), 0);
    assert_int_equal(c.prefix_len, 32);
    assert_int_equal(c.port, 443);

    assert_int_equal(st_parse_endpoint("2001:db8::/48", &c, err, sizeof err), 0);
    assert_int_equal(c.prefix_len, 48);

    assert_int_equal(st_parse_endpoint(":22", &c, err, sizeof err), 0);
    assert_int_equal(c.family, AF_UNSPEC);
    assert_int_equal(c.port, 22);
    assert_int_equal(st_parse_endpoint("*:22", &c, err, sizeof err), 0);
    assert_int_equal(c.port, 22);

    assert_int_equal(st_parse_endpoint("0.0.0.0/0", &c, err, sizeof err), 0);
    assert_int_equal(c.family, AF_UNSPEC); /* /0: any address of any family */
    assert_int_equal(st_parse_endpoint("10.1.2.3/31", &c, err, sizeof err), 0);
    assert_int_equal(c.prefix_len, 31);
}

static void endpoint_errors(void **unused)
{
    (void)unused;
    struct sf_sockdiag_cond c;
    static const char *const bad[] = {
        "",
        "*",
        ":",
        "10.0.0.1:",
        "10.0.0.1:0",
        "10.0.0.1:65536",
        "host:80",
        "10.0.0.256",
        "[::1",
        "[::1]x",
        "[10.0.0.1]",
        "10.0.0.0/33",
        "::1/129",
        "10.0.0.0/",
        "::1:x:y",
        "10.0.0.1:-1",
        "10.0.0.1:+5",
        " 10.0.0.1",
        "10.0.0.1:8 0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        if (st_parse_endpoint(bad[i], &c, err, sizeof err) == 0)
            fail_msg("'%s' was accepted as an endpoint", bad[i]);
        assert_true(strlen(err) > 0);
    }
    char longer[300];
    memset(longer, '1', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    assert_int_equal(st_parse_endpoint(longer, &c, err, sizeof err), -1);
}

static void refused(void **unused)
{
    (void)unused;
    struct st_opts o;
    static const struct {
        const char *a[5]; /* NULL-terminated */
        const char *why;  /* a piece of the message */
    } cases[] = {
        {{"--port", "0"}, "not a port number"},
        {{"--port", "65536"}, "not a port number"},
        {{"--port", "http"}, "not a port number"},
        {{"--port"}, "needs a value"},
        {{"--port", "1", "--port", "2"}, "given twice"},
        {{"--local", "nowhere"}, "--local"},
        {{"--netns", "a/b"}, "not a namespace name"},
        {{"--netns", ".."}, "not a namespace name"},
        {{"--netns", ""}, "not a namespace name"},
        {{"--top", "0", "--by-peer"}, "--top"},
        {{"--top", "3"}, "--top needs --by-peer"},
        {{"--watch", "0"}, "--watch"},
        {{"--watch", "1e3"}, "--watch"},
        {{"--watch", "-1"}, "--watch"},
        {{"--watch", "1.2.3"}, "--watch"},
        {{"--count", "2"}, "--count needs --watch"},
        {{"--from", "127.0.0.1:1", "--port", "80"}, "cannot be used with --from"},
        {{"--from", "127.0.0.1:1", "--netns", "x"}, "cannot be used with --from"},
        {{"--from", "127.0.0.1:1", "--advise"}, "cannot be used with --from"},
        {{"--advise", "--watch", "1"}, "--advise cannot be used with --watch"},
        {{"--advise", "--by-peer"}, "--advise cannot be used with --by-peer"},
        {{"--json=yes"}, "takes no value"},
        {{"--jsonx"}, "unknown option"},
        {{"-x"}, "unknown option"},
        {{"stray"}, "unexpected argument"},
        {{"--from", ""}, "needs a URL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *const *a = cases[i].a;
        int rc = parse_words(&o, a);
        if (rc != -1)
            fail_msg("case %zu (%s ...) was accepted", i, a[0]);
        if (!strstr(err, cases[i].why))
            fail_msg("case %zu (%s ...): message '%s' lacks '%s'", i, a[0], err, cases[i].why);
    }
}

static void numbers(void **unused)
{
    (void)unused;
    unsigned long v;
    assert_int_equal(st_parse_uint("18446744073709551615", 0, ~0ul, &v), 0);
    assert_true(v == ~0ul);
    assert_int_equal(st_parse_uint("18446744073709551616", 0, ~0ul, &v), -1);
    assert_int_equal(st_parse_uint("007", 1, 10, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(st_parse_uint("11", 1, 10, &v), -1);
    double d;
    assert_int_equal(st_parse_seconds("2.25", 0.1, 10, &d), 0);
    assert_true(d > 2.249 && d < 2.251);
    assert_int_equal(st_parse_seconds(".5", 0.1, 10, &d), 0);
    assert_int_equal(st_parse_seconds("5.", 0.1, 10, &d), 0);
    assert_int_equal(st_parse_seconds(".", 0.1, 10, &d), -1);
    assert_int_equal(st_parse_seconds("0.05", 0.1, 10, &d), -1);
    assert_int_equal(st_parse_seconds("nan", 0.1, 10, &d), -1);
    assert_int_equal(st_parse_seconds("1234567890123", 0.1, 1e13, &d), -1);
}

/* The sock_diag failures the issue names: each says what it means. */
static void dump_errors_explained(void **unused)
{
    (void)unused;
    char msg[400];
    st_dump_error_text(-EPROTONOSUPPORT, NULL, msg, sizeof msg);
    assert_non_null(strstr(msg, "answers no TCP sock_diag requests"));
    assert_non_null(strstr(msg, "CONFIG_INET_DIAG"));
    st_dump_error_text(-EPERM, "blue", msg, sizeof msg);
    assert_non_null(strstr(msg, "not allowed to read the TCP socket table in network namespace "
                                "blue"));
    st_dump_error_text(-EINVAL, NULL, msg, sizeof msg);
    assert_non_null(strstr(msg, "rejected"));
    st_dump_error_text(-ENOBUFS, NULL, msg, sizeof msg);
    assert_non_null(strstr(msg, "failed: No buffer space available"));
}

static void ignore_list(void **unused)
{
    (void)unused;
    struct st_opts o;
    assert_int_equal(parse(&o, "--advise", "--ignore", "keepalive,close-wait"), 0);
    assert_string_equal(o.ignore, "keepalive,close-wait");
    assert_int_equal(parse(&o, "--advise", "--ignore", "keepalive,"), -1);
    assert_int_equal(parse(&o, "--advise", "--ignore", "keep"), -1);
    assert_non_null(strstr(err, "'keep' is not a finding id"));
    assert_int_equal(parse(&o, "--ignore", "keepalive"), -1);
    assert_non_null(strstr(err, "--ignore needs --advise"));
    assert_true(st_finding_listed("a,keepalive,b", "keepalive"));
    assert_false(st_finding_listed("a,keepalivex", "keepalive"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(every_option),
        cmocka_unit_test(endpoint_forms),
        cmocka_unit_test(endpoint_errors),
        cmocka_unit_test(refused),
        cmocka_unit_test(numbers),
        cmocka_unit_test(dump_errors_explained),
        cmocka_unit_test(ignore_list),
    };
    return cmocka_run_group_tests_name("stat_args", tests, NULL, NULL);
}
