/* Log lines as JSON (log_format json): every key in order, numbers as numbers but the
 * request id, quoted values whole, escapes where JSON needs them, the time stamp kept or
 * left out, a line too long for the buffer refused rather than cut inside an object. And
 * the stream itself: lines cut anywhere by stdio arrive whole. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lb/log_sink.h"

static const char *json(const char *line, int no_time)
{
    static char out[4096];
    int n = lb_log_line_to_json(line, strlen(line), no_time, out, sizeof out);
    assert_true(n >= 0);
    assert_int_equal((size_t)n, strlen(out));
    return out;
}

static void session_line(void **state)
{
    (void)state;
    assert_string_equal(
        json("2026-01-01T12:00:00.123456Z session=42 frontend=web client=127.0.0.1:51234 "
             "server=- queue_ms=0.000 connect_ms=-1.000 retries=0 client_close=fin",
             0),
        "{\"time\":\"2026-01-01T12:00:00.123456Z\",\"session\":42,\"frontend\":\"web\","
        "\"client\":\"127.0.0.1:51234\",\"server\":\"-\",\"queue_ms\":0.000,"
        "\"connect_ms\":-1.000,\"retries\":0,\"client_close\":\"fin\"}");
}

static void time_left_out(void **state)
{
    (void)state;
    assert_string_equal(json("2026-01-01T12:00:00.000001Z event=start pid=7", 1),
                        "{\"event\":\"start\",\"pid\":7}");
    /* a line without a time stamp is all keys */
    assert_string_equal(json("event=stop sessions=0", 0), "{\"event\":\"stop\",\"sessions\":0}");
}

static void values_that_are_not_numbers(void **state)
{
    (void)state;
    /* request=SESSION.N names a request; 007, 1., .5, 1e3 and [::1]:80 are strings */
    assert_string_equal(json("request=12.3 a=007 b=1. c=.5 d=1e3 e=[::1]:80 f=0 g=10", 1),
                        "{\"request\":\"12.3\",\"a\":\"007\",\"b\":\"1.\",\"c\":\".5\","
                        "\"d\":\"1e3\",\"e\":\"[::1]:80\",\"f\":0,\"g\":10}");
}

static void quoted_values_and_escapes(void **state)
{
    (void)state;
    assert_string_equal(
        json("event=reload_rejected error=\"c.conf:3:1: 'x' is \"odd\" \\ here\" next=1", 1),
        "{\"event\":\"reload_rejected\",\"error\":\"c.conf:3:1: 'x' is \\\"odd\\\" \\\\ "
        "here\",\"next\":1}");
    assert_string_equal(json("k=\"42\" t=a\tb", 1), "{\"k\":\"42\",\"t\":\"a\\u0009b\"}");
    /* a word without a key is kept */
    assert_string_equal(json("event=x stray", 1), "{\"event\":\"x\",\"msg\":\"stray\"}");
}

static void too_long_is_refused(void **state)
{
    (void)state;
    char out[32];
    const char *line = "event=start pid=12345 frontends=1 backends=1";
    assert_int_equal(lb_log_line_to_json(line, strlen(line), 1, out, sizeof out), -1);
}

/* The stream: what stdio hands over in pieces comes out as whole JSON lines. */
static void stream_reassembles_lines(void **state)
{
    (void)state;
    char path[] = "/tmp/synfin-log-sink-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *out = fdopen(fd, "w");
    assert_non_null(out);
    struct lb_config c;
    memset(&c, 0, sizeof c);
    c.log_target = LB_LOG_FILE;
    c.log_format = LB_LOG_JSON;
    FILE *s = lb_log_sink_open(&c, out, 1, 0);
    assert_non_null(s);
    setvbuf(s, NULL, _IOFBF, 7); /* writes cut in the middle of words */
    fputs("2026-01-01T00:00:00.000000Z session=1 cause=server_fin\n", s);
    fputs("2026-01-01T00:00:01.000000Z event=stop", s);
    fflush(s);
    fputs(" sessions=0\n", s);
    assert_int_equal(fclose(s), 0);
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    char got[512];
    size_t n = fread(got, 1, sizeof got - 1, in);
    got[n] = 0;
    fclose(in);
    unlink(path);
    assert_string_equal(got, "{\"time\":\"2026-01-01T00:00:00.000000Z\",\"session\":1,"
                             "\"cause\":\"server_fin\"}\n"
                             "{\"time\":\"2026-01-01T00:00:01.000000Z\",\"event\":\"stop\","
                             "\"sessions\":0}\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(session_line),
        cmocka_unit_test(time_left_out),
        cmocka_unit_test(values_that_are_not_numbers),
        cmocka_unit_test(quoted_values_and_escapes),
        cmocka_unit_test(too_long_is_refused),
        cmocka_unit_test(stream_reassembles_lines),
    };
    return cmocka_run_group_tests_name("lb_log_sink", tests, NULL, NULL);
}
