/* --from without a network: URLs, HTTP responses and the stats document, byte by byte. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "stat/from.h"
#include "stat/http_get.h"

static char err[600];

static void urls(void **unused)
{
    (void)unused;
    struct st_url u;
    assert_int_equal(st_url_parse("http://127.0.0.1:8404/stats", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_string_equal(u.port, "8404");
    assert_string_equal(u.path, "/stats");
    assert_int_equal(st_url_parse("127.0.0.1:8404", &u, err, sizeof err), 0);
    assert_string_equal(u.path, "/stats");
    assert_int_equal(st_url_parse("http://[::1]:9/x?y=1#frag", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "::1");
    assert_string_equal(u.port, "9");
    assert_string_equal(u.path, "/x?y=1");
    assert_int_equal(st_url_parse("http://localhost", &u, err, sizeof err), 0);
    assert_string_equal(u.port, "80");
    assert_string_equal(u.path, "/stats");
    assert_int_equal(st_url_parse("http://admin.example:81/", &u, err, sizeof err), 0);
    assert_string_equal(u.path, "/");

    static const char *const bad[] = {
        "https://127.0.0.1:8404/stats",
        "127.0.0.1",
        "http://:80/stats",
        "http://127.0.0.1:0/",
        "http://h:65536/",
        "http://h:8x/",
        "http://user@h:80/",
        "[::1:80",
        "http://[::1]x/",
        "h:80stats",
        "",
        "http://h:123456/",
        "http://h h:80/",
        "ftp://h/",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (st_url_parse(bad[i], &u, err, sizeof err) == 0)
            fail_msg("URL '%s' was accepted", bad[i]);
}

static int parse_resp(const char *text, struct st_http_response *r)
{
    static char buf[4096];
    size_t n = strlen(text);
    memcpy(buf, text, n);
    return st_http_parse_response(buf, n, r, err, sizeof err);
}

static void responses(void **unused)
{
    (void)unused;
    struct st_http_response r;
    assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.reason, "OK");
    assert_int_equal(r.body_len, 2);
    assert_memory_equal(r.body, "{}", 2);

    assert_int_equal(parse_resp("HTTP/1.0 200 OK\nServer: x\n\n{\"a\":1}", &r), 0);
    assert_int_equal(r.body_len, 7); /* bare LFs, body to the end of the connection */

    assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "3;ext=1\r\n{\"a\r\nB\r\n\":12345678}\r\n0\r\nX-Trailer: y\r\n\r\n",
                                &r),
                     0);
    assert_int_equal(r.body_len, 14);
    assert_memory_equal(r.body, "{\"a\":12345678}", 14);

    assert_int_equal(parse_resp("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.reason, "Not Found");

    static const char *const bad[] = {
        "",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", /* headers not finished */
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}",
        "HTTP/2 200 OK\r\n\r\n",
        "SSH-2.0-OpenSSH\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{}",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}xx0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nbroken header\r\n\r\n{}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (parse_resp(bad[i], &r) == 0)
            fail_msg("response %zu was accepted", i);

    const char *partial = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n{}";
    assert_false(st_http_response_complete(partial, strlen(partial)));
    const char *whole = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
    assert_true(st_http_response_complete(whole, strlen(whole)));
}

#define ALL_STATES                                                                                 \
    "\"CLOSED\":0,\"LISTEN\":2,\"SYN_SENT\":0,\"SYN_RECEIVED\":0,\"ESTABLISHED\":10,"              \
    "\"FIN_WAIT_1\":0,\"FIN_WAIT_2\":0,\"CLOSE_WAIT\":0,\"CLOSING\":0,\"LAST_ACK\":0,"             \
    "\"TIME_WAIT\":3"

static int parse_stats(const char *doc, struct st_from_stats *st)
{
    err[0] = '\0';
    return st_from_parse(doc, strlen(doc), st, err, sizeof err);
}

static void stats_documents(void **unused)
{
    (void)unused;
    struct st_from_stats st;
    assert_int_equal(
        parse_stats("{\"version\":1,\"transport\":\"stack\",\"tcp_states\":{" ALL_STATES "}}", &st),
        0);
    assert_string_equal(st.transport, "stack");
    assert_int_equal(st.hist.n[ST_LISTEN], 2);
    assert_int_equal(st.hist.n[ST_ESTABLISHED], 10);
    assert_int_equal(st.hist.n[ST_TIME_WAIT], 3);

    /* Members it does not need, and states it does not know, are the sender's business. */
    assert_int_equal(parse_stats("{\"sessions\":[{\"id\":1}],\"tcp_states\":{\"NEW\":5," ALL_STATES
                                 "},\"transport\":\"kernel\",\"version\":1,\"x\":{\"version\":9}}",
                                 &st),
                     0);
    assert_string_equal(st.transport, "kernel");

    static const struct {
        const char *doc, *why;
    } bad[] = {
        {"[]", "not an object"},
        {"{\"transport\":\"stack\",\"tcp_states\":{" ALL_STATES "}}", "no \"version\""},
        {"{\"version\":1,\"tcp_states\":{" ALL_STATES "}}", "no \"transport\""},
        {"{\"version\":1,\"transport\":\"stack\"}", "no \"tcp_states\""},
        {"{\"version\":2,\"transport\":\"stack\",\"tcp_states\":{" ALL_STATES "}}", "version 2"},
        {"{\"version\":\"1\",\"transport\":\"stack\",\"tcp_states\":{" ALL_STATES "}}",
         "\"version\" is not"},
        {"{\"version\":1,\"transport\":7,\"tcp_states\":{" ALL_STATES "}}",
         "\"transport\" is not a string"},
        {"{\"version\":1,\"transport\":\"\",\"tcp_states\":{" ALL_STATES "}}", "empty"},
        {"{\"version\":1,\"transport\":\"stack\",\"tcp_states\":[]}", "not an object"},
        {"{\"version\":1,\"transport\":\"stack\",\"tcp_states\":{\"LISTEN\":1}}",
         "tcp_states has no CLOSED"},
        {"{\"version\":1,\"transport\":\"stack\",\"tcp_states\":{" ALL_STATES ",\"LISTEN\":1}}",
         "LISTEN appears twice"},
        {"{\"version\":1,\"transport\":\"stack\",\"tcp_states\":{\"CLOSED\":-1," ALL_STATES "}}",
         "tcp_states.CLOSED is not"},
        {"{\"version\":1,\"transport\":\"stack\",\"tcp_states\":{" ALL_STATES ",\"CLOSED\":1.5}}",
         "tcp_states.CLOSED"},
        {"{\"version\":1,\"version\":1,\"transport\":\"stack\",\"tcp_states\":{" ALL_STATES "}}",
         "twice"},
        {"{\"version\":1,\"transport\":\"stack\",\"tcp_states\":{" ALL_STATES "}",
         "not valid JSON"},
        {"{\"version\":1,\"transport\":\"stack\",\"tcp_states\":{" ALL_STATES "}},",
         "not valid JSON"},
        {"", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (parse_stats(bad[i].doc, &st) == 0)
            fail_msg("stats %zu were accepted", i);
        if (!strstr(err, bad[i].why))
            fail_msg("stats %zu: message '%s' lacks '%s'", i, err, bad[i].why);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(urls),
        cmocka_unit_test(responses),
        cmocka_unit_test(stats_documents),
    };
    return cmocka_run_group_tests_name("stat_from", tests, NULL, NULL);
}
