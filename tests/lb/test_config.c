/* Config parser: accepted configs give the right values and defaults; every rejected one
 * names the exact line and column. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "lb/config.h"

static struct lb_config *parse(const char *text, struct lb_config_error *e)
{
    return lb_config_parse(text, strlen(text), e);
}

static const char *full =
    "# comment\n"
    "log off;\n"
    "drain_timeout 3s;\n"
    "admin 127.0.0.1:8081;\n"
    "profile fast { connect_timeout 250ms; idle_timeout 2m; server_close rst;\n"
    "               source 127.0.0.2 127.0.0.3:20000-20999; keepalive on; keepalive_idle 30s; }\n"
    "frontend web {\n"
    "    listen 127.0.0.1:8080; backlog 128; reuseport on; maxconn 100;\n"
    "    profile fast; idle_timeout 10s; defer_accept on;\n"
    "    backend app;\n"
    "}\n"
    "backend app {\n"
    "    balance maglev; maglev_table_size 251; retries 2; queue_timeout 1s;\n"
    "    server a 127.0.0.1:9001 weight 3 maxconn 10;\n"
    "    server b [::1]:9002 backup;\n"
    "    check { type http; uri /health; expect 204; interval 500ms; timeout 100ms; rise 1; "
    "fall 2; }\n"
    "}\n"
    "respond 127.0.0.1:9001 \"hi\\n\";\n";

static void full_config(void **u)
{
    (void)u;
    struct lb_config_error e;
    struct lb_config *c = parse(full, &e);
    if (!c)
        fail_msg("%d:%d: %s", e.line, e.col, e.msg);
    assert_int_equal(c->log_target, LB_LOG_OFF);
    assert_int_equal(c->drain_timeout_ms, 3000);
    assert_true(c->has_admin);
    assert_int_equal(lb_addr_port(&c->admin), 8081);
    assert_int_equal(c->nfrontends, 1);
    const struct lb_frontend_conf *f = &c->frontends[0];
    assert_string_equal(f->name, "web");
    assert_int_equal(f->backlog, 128);
    assert_int_equal(f->reuseport, 1);
    assert_int_equal(f->maxconn, 100);
    /* named profile, then the inline override on top */
    assert_int_equal(f->profile.connect_timeout_ms, 250);
    assert_int_equal(f->profile.idle_timeout_ms, 10000);
    assert_int_equal(f->profile.defer_accept, 1);
    assert_int_equal(f->profile.server_close, LB_CLOSE_RST);
    assert_int_equal(f->profile.nsources, 2);
    assert_int_equal(f->profile.sources[1].port_lo, 20000);
    assert_int_equal(f->profile.sources[1].port_hi, 20999);
    assert_int_equal(f->profile.keepalive, 1);
    assert_int_equal(f->profile.keepalive_idle_ms, 30000);
    const struct lb_backend_conf *b = &c->backends[f->backend];
    assert_string_equal(b->name, "app");
    assert_int_equal(b->balance, LB_BAL_MAGLEV);
    assert_int_equal(b->maglev_size, 251);
    assert_int_equal(b->retries, 2);
    assert_int_equal(b->nservers, 2);
    assert_int_equal(b->servers[0].weight, 3);
    assert_int_equal(b->servers[0].maxconn, 10);
    assert_int_equal(b->servers[1].backup, 1);
    assert_int_equal(b->servers[1].addr.u.sa.sa_family, AF_INET6);
    assert_int_equal(b->check.type, LB_CHECK_HTTP);
    assert_string_equal(b->check.uri, "/health");
    assert_int_equal(b->check.expect, 204);
    assert_int_equal(b->check.interval_ms, 500);
    assert_int_equal(b->check.rise, 1);
    /* the backend has no profile: defaults */
    assert_int_equal(b->profile.idle_timeout_ms, 300000);
    assert_int_equal(c->nresponds, 1);
    assert_string_equal(c->responds[0].body, "hi\n");
    lb_config_free(c);
}

static void defaults_documented(void **u)
{
    (void)u;
    struct lb_profile p;
    lb_profile_defaults(&p);
    assert_int_equal(p.connect_timeout_ms, 5000);
    assert_int_equal(p.idle_timeout_ms, 300000);
    assert_int_equal(p.client_fin_timeout_ms, 60000);
    assert_int_equal(p.server_fin_timeout_ms, 60000);
    assert_int_equal(p.keepalive, 0);
    assert_int_equal(p.keepalive_idle_ms, 7200000);
    assert_int_equal(p.keepalive_interval_ms, 75000);
    assert_int_equal(p.keepalive_count, 9);
    assert_int_equal(p.user_timeout_ms, 0);
    assert_int_equal(p.nodelay, 1);
    assert_int_equal(p.defer_accept, 0);
    assert_int_equal(p.reset_on_timeout, 1);
    assert_int_equal(p.server_close, LB_CLOSE_FIN);
    assert_int_equal(p.buffer_size, 65536);
    struct lb_config_error e;
    struct lb_config *c = parse("frontend f { listen 127.0.0.1:1; backend b; }\n"
                                "backend b { server s 127.0.0.1:2; }\n",
                                &e);
    assert_non_null(c);
    assert_int_equal(c->frontends[0].backlog, 511);
    assert_int_equal(c->frontends[0].maxconn, 4096);
    assert_int_equal(c->backends[0].balance, LB_BAL_ROUNDROBIN);
    assert_int_equal(c->backends[0].retries, 3);
    assert_int_equal(c->backends[0].maglev_size, 65537);
    assert_int_equal(c->backends[0].check.type, LB_CHECK_NONE);
    assert_int_equal(c->backends[0].max_fails, 1);
    assert_int_equal(c->backends[0].fail_timeout_ms, 10000);
    assert_int_equal(c->log_target, LB_LOG_STDERR);
    assert_int_equal(c->drain_timeout_ms, 30000);
    lb_config_free(c);
}

struct bad {
    const char *text;
    int line, col;
    const char *msg;
};

#define OKFE "frontend f { listen 127.0.0.1:1; backend b; }\n"
#define OKBE "backend b { server s 127.0.0.1:2; }\n"

static const struct bad bads[] = {
    {"announce { }\n" OKFE OKBE, 1, 1, "announce needs 'table N'"},
    {"announce { table 254; }\n" OKFE OKBE, 1, 18, "table 254 is the kernel's own"},
    {"announce { table 0; }\n" OKFE OKBE, 1, 18, "0 is out of range"},
    {"announce { table 9; table 9; }\n" OKFE OKBE, 1, 21, "duplicate 'table'"},
    {"announce { table 9; bgp 1; }\n" OKFE OKBE, 1, 21, "unknown directive 'bgp' in announce"},
    {"announce { table 9; device a/b; }\n" OKFE OKBE, 1, 28, "a device name has"},
    {"announce { table 9; device abcdefghijklmnop; }\n" OKFE OKBE, 1, 28, "1 to 15 characters"},
    {"announce { table 9; }\nannounce { table 9; }\n" OKFE OKBE, 2, 1, "duplicate 'announce'"},
    {"announce { table 9; }\nfrontend f { listen 0.0.0.0:1; backend b; }\n" OKBE, 2, 21,
     "listens on a wildcard address"},
    {"frontend f { listen 127.0.0.1:1; backend nope; }\n" OKBE, 1, 42, "unknown backend 'nope'"},
    {OKFE "backend b { server s 127.0.0.1; }\n", 2, 22, "missing ':port'"},
    {OKFE "backend b { server s 127.0.0.1:99999; }\n", 2, 22, "bad port"},
    {OKFE "backend b { server s 127.0.0.1:2; bogus 1; }\n", 2, 35, "unknown directive 'bogus'"},
    {OKFE OKBE "profile p { idle_timeout 5; }\n", 3, 26, "needs a unit"},
    {OKFE OKBE "profile p { idle_timeout 5x; }\n", 3, 26, "unknown duration unit"},
    {OKFE OKBE "profile p { nodelay yes; }\n", 3, 21, "expected on or off"},
    {OKFE OKBE "profile p { server_close maybe; }\n", 3, 26, "expected fin or rst"},
    {OKFE "backend b { balance random; server s 127.0.0.1:2; }\n", 2, 21, "unknown balance"},
    {OKFE "backend b { maglev_table_size 100; server s 127.0.0.1:2; }\n", 2, 31, "must be prime"},
    {OKFE "backend b { }\n", 2, 9, "has no server"},
    {"frontend f { listen 127.0.0.1:1; backend b }\n" OKBE, 1, 44, "expected ';' before '}'"},
    {OKFE OKBE "frontend g { listen 127.0.0.1:1; backend b; }\n", 3, 21, "already used"},
    {OKFE OKBE "respond 127.0.0.1:5 \"unterminated;\n", 3, 21, "unterminated string"},
    {OKFE OKBE "backend c {\n", 3, 11, "never closed"},
    {OKFE OKBE "}\n", 3, 1, "unexpected '}'"},
    {OKFE "backend b { server s 127.0.0.1:2 weight 0; }\n", 2, 41, "out of range"},
    {OKFE "backend b { server s 127.0.0.1:2; server s 127.0.0.1:3; }\n", 2, 42, "twice"},
    {OKFE "backend b { server s 127.0.0.1:2; check { type udp; } }\n", 2, 48, "expected tcp, http"},
    {"frontend f { backend b; }\n" OKBE, 1, 10, "has no 'listen'"},
    {OKFE OKBE "frontend f2 { listen 127.0.0.1:3; backend b; profile missing; }\n", 3, 54,
     "unknown profile"},
    {OKFE OKBE "profile p { source 127.0.0.1:5-2; }\n", 3, 20, "port range"},
    {OKFE OKBE "profile p { keepalive_idle 1500ms; }\n", 3, 28, "whole seconds"},
    {OKFE OKBE "log\n", 3, 1, "not terminated"},
    {"", 1, 1, "nothing to run"},
    {OKFE OKBE "profile p { buffer_size 10; }\n", 3, 25, "out of range"},
    {OKFE OKBE "admin 127.0.0.1:9; admin 127.0.0.1:10;\n", 3, 20, "duplicate 'admin'"},
    /* several listen lines: each address once in the whole config, LB_LISTEN_MAX at most */
    {"frontend f { listen 127.0.0.1:1; listen [::1]:1; listen 127.0.0.1:1; backend b; }\n" OKBE, 1,
     57, "address '127.0.0.1:1' is already used"},
    {"frontend f { listen 127.0.0.1:1; listen [::1]:1; backend b; }\n"
     "frontend g { listen [::1]:1; backend b; }\n" OKBE,
     2, 21, "address '[::1]:1' is already used"},
    {"frontend f { listen 127.0.0.1:1; listen 127.0.0.1:2; listen 127.0.0.1:3; listen "
     "127.0.0.1:4;\n"
     "listen 127.0.0.1:5; listen 127.0.0.1:6; listen 127.0.0.1:7; listen 127.0.0.1:8;\n"
     "listen 127.0.0.1:9; backend b; }\n" OKBE,
     3, 1, "too many 'listen' lines (8 at most)"},
    {"frontend f { listen 127.0.0.1:1; listen [::]:9; backend b; }\n"
     "backend b { server s [::1]:9; }\n",
     2, 22, "a local address on the port that frontend 'f' listens on at every address"},
    /* an IPv6 source is written in brackets when it has a port range */
    {OKFE "backend b { server s [::1]:2; source ::1:1024-2000; }\n", 2, 38,
     "an IPv6 source with a port range is written in brackets, as [::1]:1024-2000"},
    {OKFE "backend b { server s [::1]:2; source 2001:db8::5-9; }\n", 2, 38, "written in brackets"},
    /* a directive only the other side reads, written in a frontend or backend block, would
     * be ignored: rejected */
    {"frontend f { listen 127.0.0.1:1; source 127.0.0.2; backend b; }\n" OKBE, 1, 34,
     "'source' concerns the connection to the server: it belongs in a backend"},
    {"frontend f { listen 127.0.0.1:1; backend b;\n  server_close rst; }\n" OKBE, 2, 3,
     "'server_close' concerns the connection to the server"},
    {"frontend f { listen 127.0.0.1:1; backend b; connect_timeout 1s; }\n" OKBE, 1, 45,
     "'connect_timeout' concerns"},
    {"frontend f { listen 127.0.0.1:1; backend b; server_fin_timeout 1s; }\n" OKBE, 1, 45,
     "'server_fin_timeout' concerns"},
    {OKFE "backend b { server s 127.0.0.1:2; defer_accept on; }\n", 2, 35,
     "'defer_accept' concerns the client connection: it belongs in a frontend"},
    {OKFE "backend b { server s 127.0.0.1:2; client_fin_timeout 1s; }\n", 2, 35,
     "'client_fin_timeout' concerns"},
    /* a server that leads back to a frontend (issue 11): the same address, any local address
     * on the port of a wildcard listener, IPv4 through its mapped IPv6 form */
    {OKFE "backend b { server s 127.0.0.1:1; }\n", 2, 22,
     "server 's' at 127.0.0.1:1 is frontend 'f''s own listening address"},
    {"frontend f { listen 0.0.0.0:5; backend b; }\nbackend b { server s 127.0.0.3:5; }\n", 2, 22,
     "a local address on the port that frontend 'f' listens on at every address"},
    {"frontend f { listen [::]:5; backend b; }\nbackend b { server s [::1]:5; }\n", 2, 22,
     "(a loop)"},
    {OKFE "backend b {\n  server s 127.0.0.1:2;\n  server t [::ffff:127.0.0.1]:1; }\n", 4, 12,
     "is frontend 'f''s own listening address"},
    {"frontend f { listen 127.0.0.1:7; backend b; }\n" OKBE
     "frontend g { listen 127.0.0.1:8; backend c; }\nbackend c { server s 127.0.0.1:7; }\n",
     4, 22, "is frontend 'f''s own"},
    /* the smaller ones (issue 11) */
    {"frontend f { listen 127.0.0.1:0; backend b; }\n" OKBE, 1, 21, "port 0 is not a port"},
    {OKFE "backend b { server s 127.0.0.1:0; }\n", 2, 22, "port 0 is not a port"},
    {OKFE OKBE "respond 127.0.0.1:0 \"x\";\n", 3, 9, "port 0"},
    {"frontend f { listen ::1:2000; backend b; }\n" OKBE, 1, 21, "written in brackets"},
    {OKFE "backend b { server s 127.0.0.1:2; check { interval 1s; timeout 5s; } }\n", 2, 64,
     "check timeout '5s' is longer than its interval (1000ms)"},
    {"frontend f { listen 127.0.0.1:1; backend b; maxconn 99999999999999999999999; }\n" OKBE, 1, 53,
     "99999999999999999999999 is out of range (1-1000000)"},
    {OKFE OKBE "profile p { idle_timeout 99999999999999999999999s; }\n", 3, 26,
     "duration too long"},
    {OKFE OKBE "profile p { buffer_size 99999999999999999999999k; }\n", 3, 25, "size too large"},
    {OKFE OKBE "log /nonexistent/dir/x.log;\n", 3, 5,
     "log file '/nonexistent/dir/x.log': directory /nonexistent/dir: No such file"},
    {OKFE OKBE "log /tmp;\n", 3, 5, "log file '/tmp' is a directory"},
    /* http mode: settings where they mean something, modes that match */
    {"frontend f { listen 127.0.0.1:1; backend b; keepalive_requests 5; }\n" OKBE, 1, 45,
     "'keepalive_requests' is an http setting: frontend 'f' needs 'mode http' for it"},
    {"frontend f { listen 127.0.0.1:1; backend b;\n client_close_first client; }\n" OKBE, 2, 2,
     "'client_close_first' is an http setting"},
    {"frontend f { listen 127.0.0.1:1; mode http; backend b; }\n"
     "backend b { mode tcp; server s 127.0.0.1:2; }\n",
     1, 53, "frontend 'f' is mode http, but backend 'b' is mode tcp"},
    {OKFE "backend b { mode http; server s 127.0.0.1:2; }\n", 1, 42,
     "frontend 'f' is mode tcp, but backend 'b' is mode http"},
    {OKFE "backend b { mode tcp; http_reuse always; server s 127.0.0.1:2; }\n", 2, 23,
     "'http_reuse' pools server connections of http sessions: backend 'b' is mode tcp"},
    {OKFE "backend b { http_reuse sometimes; server s 127.0.0.1:2; }\n", 2, 24,
     "expected never, safe, aggressive or always, found 'sometimes'"},
    {"frontend f { listen 127.0.0.1:1; mode https; backend b; }\n" OKBE, 1, 39,
     "expected tcp or http, found 'https'"},
    {"frontend f { listen 127.0.0.1:1; mode http; max_header_size 512; backend b; }\n" OKBE, 1, 61,
     "'512' is out of range (1k-1m)"},
    {"frontend f { listen 127.0.0.1:1; mode http; keepalive_timeout 5; backend b; }\n" OKBE, 1, 63,
     "a duration needs a unit"},
    {OKFE "backend b { pool_idle_timeout 0; server s 127.0.0.1:2; }\n", 2, 31, "too short"},
    {"frontend f { listen 127.0.0.1:1; mode http; backend b; client_close_first never; }\n" OKBE, 1,
     75, "expected synfin or client, found 'never'"},
};

static void announce_block(void **u)
{
    (void)u;
    struct lb_config_error e;
    struct lb_config *c = parse("announce { table 200; withdraw_delay 1500ms; device sfann1; }\n"
                                "frontend f { listen 10.99.0.1:80; backend b; }\n" OKBE,
                                &e);
    if (!c)
        fail_msg("rejected: %d:%d: %s", e.line, e.col, e.msg);
    assert_int_equal(c->announce.enabled, 1);
    assert_int_equal(c->announce.table, 200);
    assert_int_equal(c->announce.withdraw_delay_ms, 1500);
    assert_string_equal(c->announce.device, "sfann1");
    lb_config_free(c);
    c = parse("announce { table 7; }\nfrontend f { listen 10.99.0.1:80; backend b; }\n" OKBE, &e);
    assert_non_null(c);
    assert_int_equal(c->announce.withdraw_delay_ms, 5000); /* defaults */
    assert_string_equal(c->announce.device, "synfin-ann");
    lb_config_free(c);
    c = parse(OKFE OKBE, &e);
    assert_non_null(c);
    assert_int_equal(c->announce.enabled, 0);
    lb_config_free(c);
}

static void errors_have_positions(void **u)
{
    (void)u;
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        struct lb_config_error e;
        struct lb_config *c = parse(bads[i].text, &e);
        if (c)
            fail_msg("case %zu accepted: %s", i, bads[i].text);
        if (e.line != bads[i].line || e.col != bads[i].col || !strstr(e.msg, bads[i].msg))
            fail_msg("case %zu: got %d:%d: %s; want %d:%d: ...%s...", i, e.line, e.col, e.msg,
                     bads[i].line, bads[i].col, bads[i].msg);
    }
}

static void one_sided_directives_on_their_side(void **u)
{
    (void)u;
    struct lb_config_error e;
    /* inline on the side that reads them; a named profile may hold both kinds (ad-hoc mode
     * gives both sides one profile) and each side reads its own */
    struct lb_config *c =
        parse("profile both { source 127.0.0.2; defer_accept on; server_close rst; }\n"
              "frontend f { listen 127.0.0.1:1; backend b; profile both;\n"
              "  defer_accept off; client_fin_timeout 2s; }\n"
              "backend b { server s 127.0.0.1:2; profile both; source 127.0.0.3:2000-2999;\n"
              "  connect_timeout 1s; server_fin_timeout 3s; server_close fin; }\n",
              &e);
    if (!c)
        fail_msg("%d:%d: %s", e.line, e.col, e.msg);
    assert_int_equal(c->frontends[0].profile.defer_accept, 0);
    assert_int_equal(c->frontends[0].profile.client_fin_timeout_ms, 2000);
    const struct lb_profile *b = &c->backends[0].profile;
    assert_int_equal(b->nsources, 1);
    assert_int_equal(b->sources[0].port_lo, 2000);
    assert_int_equal(b->connect_timeout_ms, 1000);
    assert_int_equal(b->server_fin_timeout_ms, 3000);
    assert_int_equal(b->server_close, LB_CLOSE_FIN);
    assert_int_equal(b->defer_accept, 1); /* from the named profile; unread on this side */
    lb_config_free(c);
}

static void garbage_never_crashes(void **u)
{
    (void)u;
    /* Deterministic pseudo-random mutations of a valid config: never a crash or a leak,
     * and every rejection has a position inside the text. */
    size_t n = strlen(full);
    char *buf = malloc(n + 1);
    assert_non_null(buf);
    uint32_t x = 12345;
    for (int round = 0; round < 3000; round++) {
        memcpy(buf, full, n + 1);
        for (int k = 0; k < 1 + round % 4; k++) {
            x = x * 1103515245 + 12345;
            size_t at = (x >> 8) % n;
            x = x * 1103515245 + 12345;
            buf[at] = "{};\"#x 9:\n\\"[(x >> 16) % 11];
        }
        struct lb_config_error e;
        struct lb_config *c = lb_config_parse(buf, n, &e);
        if (c)
            lb_config_free(c);
        else
            assert_true(e.line >= 0 && e.line <= 40);
    }
    free(buf);
}

static void values(void **u)
{
    (void)u;
    uint64_t v;
    const char *why;
    assert_int_equal(lb_parse_duration("250ms", &v, &why), 0);
    assert_int_equal(v, 250);
    assert_int_equal(lb_parse_duration("2h", &v, &why), 0);
    assert_int_equal(v, 7200000);
    assert_int_equal(lb_parse_duration("0", &v, &why), 0);
    assert_int_equal(v, 0);
    assert_int_equal(lb_parse_duration("99999999999999999999s", &v, &why), -1);
    assert_int_equal(lb_parse_duration("31d", &v, &why), -1);
    assert_int_equal(lb_parse_size("64k", &v, &why), 0);
    assert_int_equal(v, 65536);
    assert_int_equal(lb_parse_size("1g", &v, &why), -1);
}

static void file_errors(void **u)
{
    (void)u;
    char err[512];
    assert_null(lb_config_load("/nonexistent/synfin.conf", err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/synfin.conf: No such file"));
    char path[] = "/tmp/synfin-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *t = OKFE "backend b {\n    server s 127.0.0.1:2 wieght 2;\n}\n";
    assert_int_equal(write(fd, t, strlen(t)), (ssize_t)strlen(t));
    close(fd);
    assert_null(lb_config_load(path, err, sizeof err));
    char want[600];
    snprintf(want, sizeof want, "%s:3:26: unknown server option 'wieght'", path);
    assert_non_null(strstr(err, want));
    /* an address used twice: the message names the line of the first use */
    const char *dup = "admin 127.0.0.1:1;\n" OKFE OKBE;
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, dup, strlen(dup)), (ssize_t)strlen(dup));
    close(fd);
    assert_null(lb_config_load(path, err, sizeof err));
    snprintf(want, sizeof want, "%s:2:21: address '127.0.0.1:1' is already used at line 1", path);
    assert_string_equal(err, want);
    struct lb_config_error e;
    assert_null(parse(dup, &e));
    assert_int_equal(e.ref_line, 1);
    assert_string_equal(e.msg, "address '127.0.0.1:1' is already used");
    unlink(path);
    /* a directory is named as one, not as a read error */
    assert_null(lb_config_load("/tmp", err, sizeof err));
    assert_string_equal(err, "/tmp: Is a directory");
}

/* Near misses of the checks above, all valid. */
static void checks_leave_valid_configs_alone(void **u)
{
    (void)u;
    static const char *const goods[] = {
        /* a responder as a server: what the default configuration does */
        "frontend f { listen 127.0.0.1:1; backend b; }\nbackend b { server s 127.0.0.1:2; }\n"
        "respond 127.0.0.1:2 \"x\";\n",
        /* another loopback address on the same port is another socket */
        "frontend f { listen 127.0.0.1:3; backend b; }\nbackend b { server s 127.0.0.2:3; }\n",
        /* a wildcard listener and a server elsewhere on the same port (TEST-NET-1) */
        "frontend f { listen 0.0.0.0:3; backend b; }\nbackend b { server s 192.0.2.1:3; }\n",
        /* an IPv4 wildcard does not take IPv6 */
        "frontend f { listen 0.0.0.0:3; backend b; }\nbackend b { server s [2001:db8::1]:3; }\n",
        /* nor an IPv6 one IPv4 (IPV6_V6ONLY), so the two go side by side */
        "frontend f { listen [::]:3; backend b; }\nbackend b { server s 127.0.0.1:3; }\n",
        "frontend f { listen [::]:3; backend b; }\nbackend b { server s [::ffff:127.0.0.1]:3; }\n",
        "frontend f { listen [::]:3; listen 0.0.0.0:3; backend b; }\n"
        "backend b { server s 192.0.2.1:3; }\n",
        /* IPv6 without a port, as a source, needs no brackets */
        "frontend f { listen 127.0.0.1:3; backend b; }\n"
        "backend b { server s [::1]:4; source ::1 2001:db8::7; }\n",
    };
    for (size_t i = 0; i < sizeof goods / sizeof goods[0]; i++) {
        struct lb_config_error e;
        struct lb_config *c = parse(goods[i], &e);
        if (!c)
            fail_msg("case %zu: %d:%d: %s", i, e.line, e.col, e.msg);
        assert_int_equal(c->nwarnings, 0);
        lb_config_free(c);
    }
    /* only an explicit check timeout longer than the interval is an error: the default (1s)
     * follows a shorter interval */
    struct lb_config_error e;
    struct lb_config *c =
        parse(OKFE "backend b { server s 127.0.0.1:2; check { interval 300ms; } }\n", &e);
    assert_non_null(c);
    assert_int_equal(c->backends[0].check.timeout_ms, 300);
    lb_config_free(c);
}

static void admin_off_loopback_warns(void **u)
{
    (void)u;
    struct lb_config_error e;
    struct lb_config *c = parse(OKFE OKBE "log off;\nadmin 0.0.0.0:9;\n", &e);
    assert_non_null(c);
    assert_int_equal(c->nwarnings, 1);
    assert_int_equal(c->warnings[0].line, 4);
    assert_int_equal(c->warnings[0].col, 7);
    assert_non_null(strstr(c->warnings[0].msg, "admin on 0.0.0.0:9 is reachable from other hosts"));
    assert_non_null(strstr(c->warnings[0].msg, "token"));
    char buf[512];
    lb_config_warning_format(&c->warnings[0], "x.conf", buf, sizeof buf);
    assert_true(!strncmp(buf, "x.conf:4:7: warning: admin on 0.0.0.0:9", 39));
    lb_config_free(c);
    c = parse(OKFE OKBE "admin [::1]:9;\n", &e);
    assert_non_null(c);
    assert_int_equal(c->nwarnings, 0);
    lb_config_free(c);
}

/* Line and column of text[off] (1-based), as the parser counts them. */
static void pos_of(const char *text, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

/* Every directive that may appear once in its block is an error the second time, at the
 * second, naming the first: the whole parser table, block by block. */
static void duplicates_name_both(void **u)
{
    (void)u;
    static const struct {
        const char *before, *dir, *after;
    } cases[] = {
#define FE(d)                                                                                      \
    {                                                                                              \
        "frontend f { listen 127.0.0.1:1; backend b;\n", d, "}\n" OKBE                             \
    }
#define BE(d)                                                                                      \
    {                                                                                              \
        OKFE "backend b { server s 127.0.0.1:2;\n", d, "}\n"                                       \
    }
#define CK(d)                                                                                      \
    {                                                                                              \
        OKFE "backend b { server s 127.0.0.1:2; check {\n", d, "} }\n"                             \
    }
#define PR(d)                                                                                      \
    {                                                                                              \
        OKFE OKBE "profile p {\n", d, "}\n"                                                        \
    }
#define TOP(d)                                                                                     \
    {                                                                                              \
        OKFE OKBE, d, ""                                                                           \
    }
#define STK                                                                                        \
    "transport stack { tun sfops3; address 10.9.0.2; }\n"                                          \
    "frontend f { listen 10.9.0.2:1; backend b; }\n"
#define SB(d)                                                                                      \
    {                                                                                              \
        STK "backend b { server s 10.9.0.3:2;\n", d, "}\n"                                         \
    }
#define ST(d)                                                                                      \
    {                                                                                              \
        "transport stack { address 10.9.0.2;\n", d,                                                \
            "}\nfrontend f { listen 10.9.0.2:1; backend b; }\nbackend b { server s 10.9.0.3:2; "   \
            "}\n"                                                                                  \
    }
        /* a frontend's own, its http settings, its client-side profile directives */
        {"frontend f { listen 127.0.0.1:1;\n", "backend b;", "}\n" OKBE},
        FE("maxconn 10;"),
        FE("backlog 10;"),
        FE("reuseport on;"),
        FE("profile p;"),
        FE("mode http;"),
        FE("keepalive_timeout 1s;"),
        FE("keepalive_requests 5;"),
        FE("max_header_size 8k;"),
        FE("forwarded_for on;"),
        FE("forwarded_proto on;"),
        FE("forwarded on;"),
        FE("via on;"),
        FE("client_close_first client;"),
        FE("idle_timeout 1s;"),
        FE("client_fin_timeout 1s;"),
        FE("keepalive on;"),
        FE("keepalive_idle 10s;"),
        FE("keepalive_interval 10s;"),
        FE("keepalive_count 3;"),
        FE("user_timeout 1s;"),
        FE("nodelay on;"),
        FE("nagle off;"),
        FE("defer_accept on;"),
        FE("reset_on_timeout on;"),
        FE("buffer_size 16k;"),
        /* a backend's own, its pool settings, its server-side profile directives */
        BE("balance leastconn;"),
        BE("maglev_table_size 251;"),
        BE("retries 2;"),
        BE("queue_timeout 1s;"),
        BE("max_fails 2;"),
        BE("fail_timeout 1s;"),
        BE("check { type tcp; }"),
        BE("profile p;"),
        BE("mode http;"),
        BE("http_reuse never;"),
        BE("pool_max_idle 1;"),
        BE("pool_idle_timeout 1s;"),
        BE("pool_max_requests 1;"),
        BE("connect_timeout 1s;"),
        BE("server_fin_timeout 1s;"),
        BE("server_close rst;"),
        BE("source 127.0.0.2;"),
        BE("idle_timeout 1s;"),
        BE("keepalive on;"),
        /* a check block */
        CK("type http;"),
        CK("uri /x;"),
        CK("host h;"),
        CK("expect 204;"),
        CK("interval 5s;"),
        CK("timeout 1s;"),
        CK("rise 2;"),
        CK("fall 2;"),
        /* a profile block */
        PR("idle_timeout 1s;"),
        PR("source 127.0.0.2;"),
        PR("server_close rst;"),
        PR("defer_accept on;"),
        PR("client_close_first client;"),
        /* the top level */
        TOP("admin 127.0.0.1:9;"),
        TOP("log off;"),
        TOP("drain_timeout 1s;"),
        {"", "transport kernel;", OKFE OKBE},
        /* the stack's: its transport block, its engine settings */
        ST("tun sfops3;"),
        ST("offload on;"),
        ST("trace off;"),
        ST("max_time_wait 10;"),
        ST("kernel_addr 10.9.0.1/24;"),
        ST("pcap /tmp/x.pcap;"),
        ST("impair \"loss=1\";"),
        SB("time_wait 1s;"),
        SB("syn_retries 2;"),
        SB("sack on;"),
        SB("rto_min 200ms;"),
#undef FE
#undef BE
#undef CK
#undef PR
#undef TOP
#undef STK
#undef SB
#undef ST
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[1024];
        int n = snprintf(text, sizeof text, "%s  %s\n  %s %s", cases[i].before, cases[i].dir,
                         cases[i].dir, cases[i].after);
        assert_true(n > 0 && (size_t)n < sizeof text);
        size_t first = strlen(cases[i].before) + 2;
        size_t second = first + strlen(cases[i].dir) + 3;
        int l1, c1, l2, c2;
        pos_of(text, first, &l1, &c1);
        pos_of(text, second, &l2, &c2);
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(cases[i].dir, " ;"), cases[i].dir);
        char want[128];
        snprintf(want, sizeof want, "duplicate '%s'", name);
        struct lb_config_error e;
        struct lb_config *c = parse(text, &e);
        if (c)
            fail_msg("case %zu accepted:\n%s", i, text);
        if (e.line != l2 || e.col != c2 || strcmp(e.msg, want) || e.ref_line != l1 ||
            e.ref_col != c1)
            fail_msg(
                "case %zu: got %d:%d: %s (first at %d:%d); want %d:%d: %s (first at %d:%d)\n%s", i,
                e.line, e.col, e.msg, e.ref_line, e.ref_col, l2, c2, want, l1, c1, text);
    }
    /* the message, as synfin -t prints it */
    struct lb_config_error e;
    assert_null(parse("frontend f { listen 127.0.0.1:1;\n  maxconn 10; backend a;\n"
                      "  maxconn 20; }\n",
                      &e));
    char buf[512];
    lb_config_error_format(&e, "x.conf", buf, sizeof buf);
    assert_string_equal(buf, "x.conf:3:3: duplicate 'maxconn' (first at x.conf:2:3)");
    assert_null(parse("frontend f { listen 127.0.0.1:1; backend a; backend b; }\n"
                      "backend a { server s 127.0.0.1:2; }\nbackend b { server s 127.0.0.1:3; }\n",
                      &e));
    lb_config_error_format(&e, "x.conf", buf, sizeof buf);
    assert_string_equal(buf, "x.conf:1:45: duplicate 'backend' (first at x.conf:1:34)");
}

/* Several listen lines: every one kept, in order, IPv4 and IPv6 side by side; printed back
 * as written. On the stack an IPv6 one the stack does not own is an error saying so. */
static void several_listen_lines(void **u)
{
    (void)u;
    struct lb_config_error e;
    struct lb_config *c = parse("frontend f { listen 127.0.0.1:8080; listen [::1]:8080;\n"
                                "  listen 127.0.0.2:8081; backend b; }\n" OKBE,
                                &e);
    if (!c)
        fail_msg("%d:%d: %s", e.line, e.col, e.msg);
    const struct lb_frontend_conf *f = &c->frontends[0];
    assert_int_equal(f->nlisten, 3);
    char a[LB_ADDR_STRLEN];
    assert_string_equal(lb_addr_format(&f->listen[0], a, sizeof a), "127.0.0.1:8080");
    assert_string_equal(lb_addr_format(&f->listen[1], a, sizeof a), "[::1]:8080");
    assert_string_equal(lb_addr_format(&f->listen[2], a, sizeof a), "127.0.0.2:8081");
    assert_int_equal(f->listen_pos[1].line, 1);
    assert_int_equal(f->listen_pos[1].col, 44);
    assert_int_equal(f->listen_pos[2].line, 2);
    char *t = NULL;
    size_t n;
    FILE *o = open_memstream(&t, &n);
    assert_int_equal(lb_config_print(c, o), 0);
    fclose(o);
    assert_non_null(strstr(t, "    listen 127.0.0.1:8080;\n    listen [::1]:8080;\n"
                              "    listen 127.0.0.2:8081;\n"));
    free(t);
    lb_config_free(c);
    assert_null(parse("transport stack { tun sfops3; address 10.9.0.2; }\n"
                      "frontend f { listen 10.9.0.2:1; listen [::1]:1; backend b; }\n"
                      "backend b { server s 10.9.0.3:2; }\n",
                      &e));
    assert_int_equal(e.line, 2);
    assert_int_equal(e.col, 40);
    assert_string_equal(e.msg,
                        "'[::1]:1' is not an address of the stack (transport stack address)");
}

/* HAProxy's and nginx's words name synfin's equivalent (docs/haproxy.md). */
static void foreign_directives_named(void **u)
{
    (void)u;
    static const struct bad hints[] = {
        {"frontend f { bind 127.0.0.1:1; backend b; }\n" OKBE, 1, 14,
         "'bind' is HAProxy's; synfin says 'listen ADDR:PORT' (one line per address) "
         "(docs/haproxy.md)"},
        {"frontend f { listen 127.0.0.1:1; timeout client 30s; backend b; }\n" OKBE, 1, 34,
         "'timeout client' is HAProxy's; synfin says 'idle_timeout DURATION' in the frontend"},
        {OKFE "backend b { timeout connect 5s; server s 127.0.0.1:2; }\n", 2, 13,
         "'timeout connect' is HAProxy's; synfin says 'connect_timeout DURATION'"},
        {"frontend f { listen 127.0.0.1:1; default_backend b; }\n" OKBE, 1, 34,
         "'default_backend' is HAProxy's; synfin says 'backend NAME' in the frontend"},
        {OKFE "backend b { server s 127.0.0.1:2 check; }\n", 2, 34,
         "'check' is HAProxy's; synfin says 'check { ... }' in the backend"},
        {OKFE "backend b { server s 127.0.0.1:2 send-proxy-v2; }\n", 2, 34,
         "'send-proxy-v2' is HAProxy's; synfin says 'send_proxy v2'"},
        {OKFE "backend b { option httplog; server s 127.0.0.1:2; }\n", 2, 13,
         "'option httplog' is HAProxy's; synfin says 'log'"},
        {OKFE "backend b { http-reuse safe; server s 127.0.0.1:2; }\n", 2, 13,
         "'http-reuse' is HAProxy's; synfin says 'http_reuse never|safe|aggressive|always'"},
        {OKFE OKBE "defaults { }\n", 3, 1, "'defaults' is HAProxy's; synfin says 'profile NAME"},
        {OKFE OKBE "listen web { }\n", 3, 1, "'listen' is HAProxy's; synfin says a 'frontend'"},
        /* nginx */
        {OKFE OKBE "upstream app { }\n", 3, 1,
         "'upstream' is nginx's; synfin says 'backend NAME { server NAME ADDR:PORT; }'"},
        {"frontend f { listen 127.0.0.1:1; proxy_pass b; }\n" OKBE, 1, 34,
         "'proxy_pass' is nginx's; synfin says 'backend NAME' in the frontend"},
        {"frontend f { listen 127.0.0.1:1; backend b; proxy_timeout 10m; }\n" OKBE, 1, 45,
         "'proxy_timeout' is nginx's; synfin says 'idle_timeout DURATION'"},
        {OKFE "backend b { server s 127.0.0.1:2; keepalive 32; }\n", 2, 35,
         "'keepalive' is nginx's; synfin says 'pool_max_idle N'"},
        {OKFE "backend b { server s 127.0.0.1:2 max_fails=3; }\n", 2, 34,
         "'max_fails=3' is nginx's; synfin says 'max_fails N' in the backend"},
        {OKFE "backend b { least_conn; server s 127.0.0.1:2; }\n", 2, 13,
         "'least_conn' is nginx's; synfin says 'balance leastconn'"},
        /* not a foreign word: the plain message */
        {OKFE "backend b { server s 127.0.0.1:2; frobnicate 1; }\n", 2, 35,
         "unknown directive 'frobnicate' in backend"},
    };
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++) {
        struct lb_config_error e;
        struct lb_config *c = parse(hints[i].text, &e);
        if (c)
            fail_msg("case %zu accepted: %s", i, hints[i].text);
        if (e.line != hints[i].line || e.col != hints[i].col || !strstr(e.msg, hints[i].msg))
            fail_msg("case %zu: got %d:%d: %s; want %d:%d: ...%s...", i, e.line, e.col, e.msg,
                     hints[i].line, hints[i].col, hints[i].msg);
    }
    /* `keepalive on` in a backend is synfin's own (SO_KEEPALIVE) */
    struct lb_config_error e;
    struct lb_config *c = parse(OKFE "backend b { server s 127.0.0.1:2; keepalive on; }\n", &e);
    assert_non_null(c);
    lb_config_free(c);
}

/* An IPv6 source with a port range (found by the config fuzz harness: the parser dropped the
 * brackets, then read the address's last ':' as a port). */
static void ipv6_source_range(void **u)
{
    (void)u;
    struct lb_config_error e;
    struct lb_config *c = parse("frontend f { listen 127.0.0.1:1; backend b; }\n"
                                "backend b { server s 127.0.0.1:2; "
                                "source [2001:db8::1]:2000-2999 [::1]; }\n",
                                &e);
    if (!c)
        fail_msg("%d:%d: %s", e.line, e.col, e.msg);
    const struct lb_profile *p = &c->backends[0].profile;
    assert_int_equal(p->nsources, 2);
    char host[LB_ADDR_STRLEN];
    assert_string_equal(lb_addr_host(&p->sources[0].addr, host, sizeof host), "2001:db8::1");
    assert_int_equal(p->sources[0].port_lo, 2000);
    assert_int_equal(p->sources[0].port_hi, 2999);
    assert_string_equal(lb_addr_host(&p->sources[1].addr, host, sizeof host), "::1");
    assert_int_equal(p->sources[1].port_lo, 0);
    lb_config_free(c);
}

/* The stack owns IPv4 and IPv6 addresses side by side: an IPv6 VIP, IPv6 servers reached from
 * its own IPv6 address or an IPv6 source of its own, the kernel side one address of each
 * family (printed back joined, which parses again). What it cannot do is an error at the
 * place: an address it does not own, a server whose family no source or stack address has. */
static void stack_ipv4_and_ipv6(void **u)
{
    (void)u;
    struct lb_config_error e;
    struct lb_config *c =
        parse("transport stack { tun sfv6; kernel_addr 10.9.0.1/24 fd00:9::1/64;\n"
              "  address 10.9.0.2 fd00:9::2 fd00:9::3; }\n"
              "frontend f6 { listen [fd00:9::2]:80; listen 10.9.0.2:80; backend b6; }\n"
              "backend b6 { server s [fd00:9::1]:8080; source fd00:9::3; }\n"
              "frontend f4 { listen 10.9.0.2:81; backend b4; }\n"
              "backend b4 { server s 10.9.0.1:8080; server t [fd00:9::1]:8081; }\n",
              &e);
    if (!c)
        fail_msg("%d:%d: %s", e.line, e.col, e.msg);
    assert_string_equal(c->transport.kernel_addr, "10.9.0.1/24,fd00:9::1/64");
    assert_int_equal(c->transport.naddrs, 3);
    char *t = NULL;
    size_t n;
    FILE *o = open_memstream(&t, &n);
    assert_int_equal(lb_config_print(c, o), 0);
    fclose(o);
    assert_non_null(strstr(t, "    kernel_addr 10.9.0.1/24,fd00:9::1/64;\n"
                              "    address 10.9.0.2 fd00:9::2 fd00:9::3;\n"));
    struct lb_config *again = parse(t, &e);
    if (!again)
        fail_msg("printed config: %d:%d: %s\n%s", e.line, e.col, e.msg, t);
    assert_string_equal(again->transport.kernel_addr, c->transport.kernel_addr);
    lb_config_free(again);
    free(t);
    lb_config_free(c);

    static const struct {
        const char *conf;
        int line, col;
        const char *msg;
    } bad[] = {
        {"transport stack { tun sfv6; address 10.9.0.2 fd00:9::2; }\n"
         "frontend f { listen [fd00:9::5]:80; backend b; }\nbackend b { server s 10.9.0.1:1; }\n",
         2, 21, "'[fd00:9::5]:80' is not an address of the stack (transport stack address)"},
        {"transport stack { tun sfv6; address 10.9.0.2 fd00:9::2; }\n"
         "frontend f { listen 10.9.0.2:80; backend b; }\n"
         "backend b { server s [fd00:9::1]:1; source 10.9.0.2; }\n",
         3, 9, "backend 'b': server 's' is IPv6, and so must be every source address"},
        {"transport stack { tun sfv6; address 10.9.0.2; }\n"
         "frontend f { listen 10.9.0.2:80; backend b; }\n"
         "backend b { server s [fd00:9::1]:1; }\n",
         3, 9,
         "backend 'b': server 's' is IPv6 and the stack has no IPv6 address to connect from "
         "(transport stack address)"},
        {"transport stack { tun sfv6; address fd00:9::2; kernel_addr fd00:9::1/129; }\n", 1, 60,
         "'fd00:9::1/129': the prefix is 1 to 128"},
        {"transport stack { tun sfv6; address fd00:9::2; kernel_addr fd00:9::1/64 fd00:8::1/64; "
         "}\n",
         1, 73, "'fd00:8::1/64': one IPv6 address for the kernel side"},
        {"transport stack { tun sfv6; address [fd00:9::2]:80; }\n", 1, 37,
         "'[fd00:9::2]:80': the stack's addresses are IPv4 or IPv6 addresses, no port"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null(parse(bad[i].conf, &e));
        if (e.line != bad[i].line || e.col != bad[i].col || strcmp(e.msg, bad[i].msg))
            fail_msg("case %zu: got %d:%d: %s", i, e.line, e.col, e.msg);
    }
}

/* What the printer writes parses back to what it printed (synfin -T; the config fuzz harness
 * asserts the same on every input it finds). */
static void http_settings(void **u)
{
    (void)u;
    struct lb_config_error e;
    struct lb_config *c =
        parse("profile p { client_close_first client; }\n"
              "frontend f { listen 127.0.0.1:1; mode http; profile p; keepalive_timeout 0;\n"
              "  keepalive_requests 0; max_header_size 64k; forwarded on; via on;\n"
              "  forwarded_for off; forwarded_proto off; backend b; }\n"
              "frontend g { listen 127.0.0.1:3; backend b; }\n"
              "backend b { http_reuse aggressive; pool_max_idle 0; pool_idle_timeout 250ms;\n"
              "  pool_max_requests 7; server s 127.0.0.1:2; }\n"
              "frontend h { listen 127.0.0.1:4; mode http; backend d; }\n"
              "backend d { server s 127.0.0.1:5; }\n",
              &e);
    if (!c)
        fail_msg("%d:%d: %s", e.line, e.col, e.msg);
    const struct lb_frontend_conf *f = &c->frontends[0];
    assert_int_equal(f->mode, LB_MODE_HTTP);
    assert_int_equal(f->http.keepalive_timeout_ms, 0);
    assert_int_equal(f->http.keepalive_requests, 0);
    assert_int_equal(f->http.max_header_size, 65536);
    assert_int_equal(f->http.forwarded, 1);
    assert_int_equal(f->http.via, 1);
    assert_int_equal(f->http.forwarded_for, 0);
    assert_int_equal(f->http.forwarded_proto, 0);
    assert_int_equal(f->profile.client_close_first, LB_FIRST_CLIENT);
    /* a backend without `mode` serves both modes; its pool settings */
    assert_int_equal(c->frontends[1].mode, LB_MODE_TCP);
    const struct lb_backend_conf *b = &c->backends[0];
    assert_int_equal(b->mode, LB_MODE_ANY);
    assert_int_equal(b->http.reuse, LB_REUSE_AGGRESSIVE);
    assert_int_equal(b->http.pool_max_idle, 0);
    assert_int_equal(b->http.pool_idle_timeout_ms, 250);
    assert_int_equal(b->http.pool_max_requests, 7);
    /* the defaults docs/config.md gives */
    const struct lb_frontend_conf *h = &c->frontends[2];
    assert_int_equal(h->http.keepalive_timeout_ms, 5000);
    assert_int_equal(h->http.keepalive_requests, 100);
    assert_int_equal(h->http.max_header_size, 16384);
    assert_int_equal(h->http.forwarded_for, 1);
    assert_int_equal(h->http.forwarded_proto, 1);
    assert_int_equal(h->http.forwarded, 0);
    assert_int_equal(h->http.via, 0);
    assert_int_equal(h->profile.client_close_first, LB_FIRST_SYNFIN);
    const struct lb_backend_conf *d = &c->backends[1];
    assert_int_equal(d->http.reuse, LB_REUSE_SAFE);
    assert_int_equal(d->http.pool_max_idle, 32);
    assert_int_equal(d->http.pool_idle_timeout_ms, 60000);
    assert_int_equal(d->http.pool_max_requests, 1000);
    /* printed, it parses back to the same text */
    char *t1 = NULL, *t2 = NULL;
    size_t n1, n2;
    FILE *o = open_memstream(&t1, &n1);
    assert_int_equal(lb_config_print(c, o), 0);
    fclose(o);
    struct lb_config *c2 = parse(t1, &e);
    if (!c2)
        fail_msg("%d:%d: %s\n%s", e.line, e.col, e.msg, t1);
    o = open_memstream(&t2, &n2);
    assert_int_equal(lb_config_print(c2, o), 0);
    fclose(o);
    assert_string_equal(t1, t2);
    assert_non_null(strstr(t1, "http_reuse aggressive;"));
    assert_non_null(strstr(t1, "client_close_first client;"));
    free(t1);
    free(t2);
    lb_config_free(c2);
    lb_config_free(c);
}

static void printed_config_parses_back(void **u)
{
    (void)u;
    struct lb_config_error e;
    struct lb_config *c = parse(full, &e);
    if (!c)
        fail_msg("%d:%d: %s", e.line, e.col, e.msg);
    char *t1 = NULL, *t2 = NULL;
    size_t n1, n2;
    FILE *f = open_memstream(&t1, &n1);
    assert_int_equal(lb_config_print(c, f), 0);
    fclose(f);
    struct lb_config *c2 = parse(t1, &e);
    if (!c2)
        fail_msg("%d:%d: %s\n%s", e.line, e.col, e.msg, t1);
    f = open_memstream(&t2, &n2);
    assert_int_equal(lb_config_print(c2, f), 0);
    fclose(f);
    assert_string_equal(t1, t2);
    assert_non_null(strstr(t1, "backend "));
    assert_non_null(strstr(t1, "frontend "));
    free(t1);
    free(t2);
    lb_config_free(c2);
    lb_config_free(c);
}

/* The admin block, accept_proxy and send_proxy: values, printed back, errors at positions. */
static void admin_and_proxy_directives(void **u)
{
    (void)u;
    struct lb_config_error e;
    const char *text = "log off;\n"
                       "admin 0.0.0.0:9 { token \"0123456789abcdefXYZ\"; allow 10.0.0.0/8 ::1; }\n"
                       "frontend f { listen 127.0.0.1:1; backend b;\n"
                       "  accept_proxy from 127.0.0.0/8 2001:db8::/32 192.0.2.7;\n"
                       "  accept_proxy_timeout 300ms; }\n"
                       "frontend g { listen 127.0.0.1:5; backend b; accept_proxy from ::1; }\n"
                       "backend b { send_proxy v2; server s 127.0.0.1:2;\n"
                       "  server t 127.0.0.1:3 send_proxy v1 weight 2; server u 127.0.0.1:4 "
                       "send_proxy off; }\n";
    struct lb_config *c = parse(text, &e);
    if (!c)
        fail_msg("%d:%d: %s", e.line, e.col, e.msg);
    assert_string_equal(c->admin_token, "0123456789abcdefXYZ");
    assert_int_equal(c->nadmin_allow, 2);
    assert_int_equal(c->frontends[0].naccept_proxy, 3);
    assert_int_equal(c->frontends[0].accept_proxy[2].bits, 32);
    assert_int_equal(c->frontends[0].accept_proxy_timeout_ms, 300);
    assert_int_equal(c->frontends[1].accept_proxy_timeout_ms, 5000); /* the default */
    assert_int_equal(c->backends[0].servers[0].send_proxy, LB_PROXY_V2);
    assert_int_equal(c->backends[0].servers[1].send_proxy, LB_PROXY_V1);
    assert_int_equal(c->backends[0].servers[2].send_proxy, LB_PROXY_NONE);
    assert_int_equal(c->backends[0].servers[1].weight, 2);
    char *t1 = NULL;
    size_t n1;
    FILE *f = open_memstream(&t1, &n1);
    assert_int_equal(lb_config_print(c, f), 0);
    fclose(f);
    assert_non_null(strstr(t1, "    accept_proxy from 127.0.0.0/8 2001:db8::/32 192.0.2.7/32;\n"
                               "    accept_proxy_timeout 300ms;\n"));
    assert_non_null(strstr(t1, "    accept_proxy from ::1/128;\n    accept_proxy_timeout 5s;\n"));
    assert_non_null(strstr(t1, "    allow 10.0.0.0/8 ::1/128;\n"));
    assert_non_null(strstr(t1, "server t 127.0.0.1:3 weight 2 maxconn 0 send_proxy v1;"));
    struct lb_config *c2 = parse(t1, &e);
    if (!c2)
        fail_msg("%d:%d: %s\n%s", e.line, e.col, e.msg, t1);
    free(t1);
    lb_config_free(c2);
    lb_config_free(c);
    static const struct {
        const char *text;
        int line, col;
        const char *msg;
    } bad[] = {
        {OKFE OKBE "admin 0.0.0.0:9 {\n allow 10.0.0.0/8; }\n", 4, 2, "give it a 'token' too"},
        {OKFE OKBE "admin 127.0.0.1:9 { token short; }\n", 3, 27, "16 to 127 characters"},
        {OKFE OKBE "admin 127.0.0.1:9 { allow 10.1.0.0/8; }\n", 3, 27, "host bits are set"},
        {OKFE OKBE "admin 127.0.0.1:9 { listen 1; }\n", 3, 21, "unknown directive 'listen'"},
        {"frontend f { listen 127.0.0.1:1; backend b; accept_proxy 10.0.0.0/8; }\n" OKBE, 1, 58,
         "accept_proxy takes 'from'"},
        {"frontend f { listen 127.0.0.1:1; backend b; accept_proxy from 10.0.0.0/33; }\n" OKBE, 1,
         63, "0 to 32 bits"},
        {"frontend f { listen 127.0.0.1:1; backend b; accept_proxy from ::1;\n"
         "  accept_proxy_timeout 0; }\n" OKBE,
         2, 24, "'0' is too short (at least 1ms)"},
        {"frontend f { listen 127.0.0.1:1; backend b; accept_proxy from ::1;\n"
         "  accept_proxy_timeout 11m; }\n" OKBE,
         2, 24, "'11m' is too long (at most 10m)"},
        {"frontend f { listen 127.0.0.1:1; backend b; accept_proxy from ::1;\n"
         "  accept_proxy_timeout 5; }\n" OKBE,
         2, 24, "a duration needs a unit"},
        {"frontend f { listen 127.0.0.1:1; backend b; accept_proxy from ::1;\n"
         "  accept_proxy_timeout 1s 2s; }\n" OKBE,
         2, 27, "too many arguments to 'accept_proxy_timeout'"},
        {"frontend f { listen 127.0.0.1:1; backend b; accept_proxy from ::1;\n"
         "  accept_proxy_timeout 1s; accept_proxy_timeout 2s; }\n" OKBE,
         2, 28, "duplicate 'accept_proxy_timeout'"},
        {"frontend f { listen 127.0.0.1:1; backend b;\n  accept_proxy_timeout 1s; }\n" OKBE, 2, 3,
         "'accept_proxy_timeout' without 'accept_proxy'"},
        {"frontend f { listen 127.0.0.1:1; backend b;\n  proxy_protocol_timeout 1s; }\n" OKBE, 2, 3,
         "synfin says 'accept_proxy_timeout DURATION' in the frontend"},
        {OKFE "backend b { send_proxy v3; server s 127.0.0.1:2; }\n", 2, 24, "expected v1, v2"},
        {OKFE "backend b { server s 127.0.0.1:2 send_proxy; }\n", 2, 34, "needs a value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct lb_config *x = parse(bad[i].text, &e);
        if (x)
            fail_msg("case %zu accepted: %s", i, bad[i].text);
        if (e.line != bad[i].line || e.col != bad[i].col || !strstr(e.msg, bad[i].msg))
            fail_msg("case %zu: got %d:%d: %s; want %d:%d: ...%s...", i, e.line, e.col, e.msg,
                     bad[i].line, bad[i].col, bad[i].msg);
    }
}

static void embedded_default_is_valid(void **u)
{
    (void)u;
    struct lb_config_error e;
    struct lb_config *c = parse(lb_default_conf, &e);
    if (!c)
        fail_msg("conf/synfin.conf:%d:%d: %s", e.line, e.col, e.msg);
    assert_int_equal(c->nfrontends, 1);
    assert_int_equal(lb_addr_port(&c->frontends[0].listen[0]), 8080);
    assert_int_equal(lb_addr_port(&c->admin), 8081);
    assert_int_equal(c->nresponds, 2);
    lb_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_config),
        cmocka_unit_test(defaults_documented),
        cmocka_unit_test(errors_have_positions),
        cmocka_unit_test(announce_block),
        cmocka_unit_test(one_sided_directives_on_their_side),
        cmocka_unit_test(garbage_never_crashes),
        cmocka_unit_test(values),
        cmocka_unit_test(file_errors),
        cmocka_unit_test(checks_leave_valid_configs_alone),
        cmocka_unit_test(admin_off_loopback_warns),
        cmocka_unit_test(embedded_default_is_valid),
        cmocka_unit_test(ipv6_source_range),
        cmocka_unit_test(printed_config_parses_back),
        cmocka_unit_test(http_settings),
        cmocka_unit_test(duplicates_name_both),
        cmocka_unit_test(several_listen_lines),
        cmocka_unit_test(stack_ipv4_and_ipv6),
        cmocka_unit_test(foreign_directives_named),
        cmocka_unit_test(admin_and_proxy_directives),
    };
    return cmocka_run_group_tests_name("lb_config", tests, NULL, NULL);
}
