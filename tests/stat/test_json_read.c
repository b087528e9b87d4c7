/* The strict JSON reader: what RFC 8259 allows passes, everything else fails with a place. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "stat/json_read.h"

static int parse(const char *s)
{
    char err[200];
    return st_json_parse(s, strlen(s), NULL, NULL, err, sizeof err);
}

static void valid_documents(void **unused)
{
    (void)unused;
    static const char *const ok[] = {
        "{}",
        "[]",
        "0",
        "-0",
        "1.5e-3",
        "-12.0E+2",
        "\"\"",
        "true",
        "false",
        "null",
        " \t\r\n{ \"a\" : [ 1 , 2 , { } ] , \"b\" : null } \n",
        "\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\ud83d\\ude00\"",
        "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
        "[[[[[[[[[[]]]]]]]]]]",
        "{\"a\":{\"a\":{\"a\":1}}}",
        "1E5",
        "[0,-1,2.25]",
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (parse(ok[i]))
            fail_msg("valid JSON rejected: %s", ok[i]);
}

static void invalid_documents(void **unused)
{
    (void)unused;
    static const char *const bad[] = {
        "",
        " ",
        "{",
        "}",
        "[1,]",
        "{\"a\":1,}",
        "{a:1}",
        "{'a':1}",
        "[01]",
        "[1.]",
        "[.5]",
        "[+1]",
        "[1e]",
        "[-]",
        "NaN",
        "Infinity",
        "tru",
        "nul",
        "[true false]",
        "{\"a\" 1}",
        "{\"a\":}",
        "\"abc",
        "\"\\x\"",
        "\"\\u12G4\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\ud800\\u0041\"",
        "\"tab\there\"",
        "{} {}",
        "[1] x",
        "\"\xc3\"",
        "\"\xc0\x80\"",
        "\"\xed\xa0\x80\"",
        "\"\xff\"",
        "[\x01]",
        "// comment\n{}",
        "{\"a\":1}\x00",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        size_t len = strlen(bad[i]);
        if (i == sizeof bad / sizeof *bad - 1)
            len += 1; /* keep the NUL byte in the input */
        char err[200] = "";
        if (st_json_parse(bad[i], len, NULL, NULL, err, sizeof err) != -1)
            fail_msg("invalid JSON accepted: case %zu '%s'", i, bad[i]);
        if (!strstr(err, "line "))
            fail_msg("case %zu: no position in '%s'", i, err);
    }
}

static void nesting_is_bounded(void **unused)
{
    (void)unused;
    char deep[2 * ST_JREAD_MAX_DEPTH + 10];
    size_t n = ST_JREAD_MAX_DEPTH + 2;
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    char err[200];
    assert_int_equal(st_json_parse(deep, 2 * n, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "nested too deep"));
    n = ST_JREAD_MAX_DEPTH;
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    assert_int_equal(st_json_parse(deep, 2 * n, NULL, NULL, err, sizeof err), 0);
}

static void error_positions(void **unused)
{
    (void)unused;
    char err[200];
    const char *s = "{\n  \"a\": 1,\n  \"b\": x\n}";
    assert_int_equal(st_json_parse(s, strlen(s), NULL, NULL, err, sizeof err), -1);
    assert_string_equal(err, "line 3, column 8: unexpected character 'x'");
}

struct seen {
    char log[512];
};

static int record(const struct st_jstep *path, int depth, const struct st_jval *v, void *arg)
{
    struct seen *s = arg;
    char item[96] = "";
    size_t o = 0;
    for (int i = 0; i < depth && o < sizeof item; i++) {
        int n = path[i].key ? snprintf(item + o, sizeof item - o, "/%.*s", (int)path[i].key_len,
                                       path[i].key)
                            : snprintf(item + o, sizeof item - o, "/%zu", path[i].index);
        if (n > 0)
            o += (size_t)n;
    }
    size_t l = strlen(s->log);
    snprintf(s->log + l, sizeof s->log - l, "%s=%d:%.*s ", depth ? item : "/", v->type, (int)v->len,
             v->raw);
    return v->type == ST_J_FALSE ? 42 : 0;
}

static void visitor_sees_paths(void **unused)
{
    (void)unused;
    struct seen s = {""};
    const char *doc = "{\"a\":[10,\"x\\n\"],\"b\":{\"c\":null}}";
    assert_int_equal(st_json_parse(doc, strlen(doc), record, &s, NULL, 0), 0);
    assert_string_equal(s.log, "/=5:{ /a=6:[ /a/0=3:10 /a/1=4:x\\n /b=5:{ /b/c=0:null ");
    memset(&s, 0, sizeof s);
    const char *stop = "[1,false,2]";
    assert_int_equal(st_json_parse(stop, strlen(stop), record, &s, NULL, 0), 42);
}

static void helpers(void **unused)
{
    (void)unused;
    char out[16];
    const char *raw = "a\\u00e9\\ud83d\\ude00\\t";
    assert_int_equal(st_json_unescape(raw, strlen(raw), out, sizeof out), 8);
    assert_string_equal(out, "a\xc3\xa9\xf0\x9f\x98\x80\t");
    assert_int_equal(st_json_unescape("abc", 3, out, 3), -1); /* no room for the NUL */
    assert_int_equal(st_json_unescape("\\u0000", 6, out, sizeof out), -1);
    assert_true(st_json_key_is("TIME_WAIT", 9, "TIME_WAIT"));
    assert_true(st_json_key_is("TIME\\u005fWAIT", 14, "TIME_WAIT"));
    assert_false(st_json_key_is("TIME_WAI", 8, "TIME_WAIT"));
    /* Past 255 decoded bytes too (found by tests/fuzz/fuzz_json.c: such a string compared
     * unequal to its own decoding). */
    char longraw[320], longtext[320];
    memset(longtext, 'x', 300);
    longtext[300] = 0;
    memcpy(longraw, "\\u0078", 6);
    memset(longraw + 6, 'x', 299);
    longraw[305] = 0;
    assert_true(st_json_key_is(longraw, 305, longtext));
    longtext[299] = 'y';
    assert_false(st_json_key_is(longraw, 305, longtext));

    uint64_t n;
    struct st_jval v = {ST_J_NUMBER, "9007199254740992", 16};
    assert_int_equal(st_json_uint(&v, &n), 0);
    assert_true(n == 9007199254740992ull);
    static const char *const not_uint[] = {"9007199254740993", "-1", "1.0", "1e3",
                                           "12345678901234567"};
    for (size_t i = 0; i < sizeof not_uint / sizeof *not_uint; i++) {
        struct st_jval w = {ST_J_NUMBER, not_uint[i], strlen(not_uint[i])};
        assert_int_equal(st_json_uint(&w, &n), -1);
    }
    struct st_jval str = {ST_J_STRING, "1", 1};
    assert_int_equal(st_json_uint(&str, &n), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_documents),    cmocka_unit_test(invalid_documents),
        cmocka_unit_test(nesting_is_bounded), cmocka_unit_test(error_positions),
        cmocka_unit_test(visitor_sees_paths), cmocka_unit_test(helpers),
    };
    return cmocka_run_group_tests_name("stat_json_read", tests, NULL, NULL);
}
