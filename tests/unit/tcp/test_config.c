/* Settings by name, their checks, and the documentation's table kept in step with the code. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcp/config.h"

static void defaults_are_valid(void **state)
{
    (void)state;
    struct sf_tcp_config c;
    char err[128];
    sf_tcp_config_defaults(&c);
    assert_int_equal(sf_tcp_config_check(&c, err, sizeof err), 0);
    assert_int_equal(c.time_wait_ms, 60000);
    assert_int_equal(c.rfc1337, 1);
    assert_int_equal(c.keepalive_time, 7200);
}

static void set_by_name(void **state)
{
    (void)state;
    struct sf_tcp_config c;
    char err[128];
    sf_tcp_config_defaults(&c);
    assert_int_equal(sf_tcp_config_set(&c, "time_wait_ms", "2000", err, sizeof err), 0);
    assert_int_equal(c.time_wait_ms, 2000);
    assert_int_equal(sf_tcp_config_set(&c, "rfc1337", "off", err, sizeof err), 0);
    assert_int_equal(c.rfc1337, 0);
    assert_int_equal(sf_tcp_config_set(&c, "keepalive-time", "30", err, sizeof err), 0);
    assert_int_equal(c.keepalive_time, 30);
    assert_int_equal(sf_tcp_config_set(&c, "no_such", "1", err, sizeof err), -ENOENT);
    assert_int_equal(sf_tcp_config_set(&c, "syncookies", "3", err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "syncookies"));
    assert_int_equal(sf_tcp_config_set(&c, "mss", "12x", err, sizeof err), -EINVAL);
    assert_string_equal(err, "mss: '12x' is not a whole number in 88..65455 (bytes)");
    assert_int_equal(sf_tcp_config_set(&c, "rfc1337", "maybe", err, sizeof err), -EINVAL);
    assert_string_equal(
        err, "rfc1337: 'maybe' is not on or off (also accepted: 1/0, yes/no, true/false)");
    assert_int_equal(sf_tcp_config_set(&c, "mss", "-5", err, sizeof err), -EINVAL);
    assert_int_equal(sf_tcp_config_set(&c, "mss", "99999999999", err, sizeof err), -EINVAL);
    c.rto_min_ms = 5000;
    c.rto_max_ms = 1000;
    assert_int_equal(sf_tcp_config_check(&c, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "rto_min_ms"));
}

/* docs/engine.md lists every setting, with the default the code has. */
static void documented(void **state)
{
    (void)state;
    FILE *f = fopen("docs/engine.md", "r");
    if (!f)
        skip(); /* run from elsewhere than the source tree */
    static char doc[65536];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = 0;
    for (size_t i = 0; i < sf_tcp_settings_count; i++) {
        char row[128];
        snprintf(row, sizeof row, "| `%s` | %u |", sf_tcp_settings[i].name, sf_tcp_settings[i].def);
        if (!strstr(doc, row))
            fail_msg("docs/engine.md has no row \"%s\"", row);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_are_valid),
        cmocka_unit_test(set_by_name),
        cmocka_unit_test(documented),
    };
    return cmocka_run_group_tests_name("tcp_config", tests, NULL, NULL);
}
