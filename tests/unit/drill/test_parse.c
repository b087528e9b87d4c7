#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "format.h"
#include "parse.h"

static struct dr_script *ok(const char *src)
{
    struct dr_error err;
    struct dr_script *s = dr_parse("t.pkt", src, strlen(src), &err);
    if (!s)
        print_error("unexpected error %d:%d: %s\n", err.pos.line, err.pos.col, err.msg);
    assert_non_null(s);
    return s;
}

/* Parses src expecting an error at line:col whose message contains what. */
static void bad(const char *src, int line, int col, const char *what)
{
    struct dr_error err;
    struct dr_script *s = dr_parse("t.pkt", src, strlen(src), &err);
    if (s)
        print_error("parsed, expected an error: %s\n", what);
    assert_null(s);
    if (err.pos.line != line || err.pos.col != col || !strstr(err.msg, what))
        print_error("got %d:%d: %s\nwanted %d:%d: ...%s...\n", err.pos.line, err.pos.col, err.msg,
                    line, col, what);
    assert_int_equal(err.pos.line, line);
    assert_int_equal(err.pos.col, col);
    assert_non_null(strstr(err.msg, what));
}

static const char *fmt_packet(const struct dr_packet *p)
{
    static char buf[512];
    struct dr_text t;
    dr_text_init(&t, buf, sizeof buf);
    dr_format_packet(&t, p);
    return buf;
}

static const char *fmt_expr(const struct dr_expr *e)
{
    static char buf[512];
    struct dr_text t;
    dr_text_init(&t, buf, sizeof buf);
    dr_format_expr(&t, e);
    return buf;
}

/* ---- options and times ------------------------------------------------------------------ */

static void options(void **state)
{
    (void)state;
    struct dr_script *s = ok("--tolerance_usecs=10000\n"
                             "--local_ip=10.1.2.3 --rfc1337=off\n"
                             "  --verbose\n"
                             "--name=\"quoted\"\n"
                             "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n");
    assert_int_equal(s->nopts, 5);
    assert_string_equal(s->opts[0].name, "tolerance_usecs");
    assert_string_equal(s->opts[0].value, "10000");
    assert_int_equal(s->opts[0].pos.line, 1);
    assert_int_equal(s->opts[0].pos.col, 1);
    assert_int_equal(s->opts[0].value_pos.col, 19);
    assert_string_equal(s->opts[1].value, "10.1.2.3");
    assert_string_equal(s->opts[2].name, "rfc1337");
    assert_string_equal(s->opts[2].value, "off");
    assert_int_equal(s->opts[2].pos.line, 2);
    assert_int_equal(s->opts[2].pos.col, 21);
    assert_string_equal(s->opts[3].name, "verbose");
    assert_null(s->opts[3].value);
    assert_string_equal(s->opts[4].value, "quoted");
    dr_script_free(s);
}

static void times(void **state)
{
    (void)state;
    struct dr_script *s = ok("0 close(3) = 0\n"
                             "+0.1 close(3) = 0\n"
                             "0.25 close(3) = 0\n"
                             "+.5 close(3) = 0\n"
                             "* > . 1:1(0) ack 1\n"
                             "1.0~1.2 > . 1:1(0) ack 1\n"
                             "+1~+2 > . 1:1(0) ack 1\n"
                             "3 close(3) = 0\n"
                             "3.0000015 close(3) = 0\n"
                             "4...4.250 read(3, ..., 10) = 10\n"
                             "+0...0.5 connect(3, ..., ...) = 0\n");
    assert_int_equal(s->nevents, 11);
    const struct dr_event *e = s->events;
    assert_int_equal(e[0].time.kind, DR_TIME_ABS);
    assert_int_equal(e[0].time.start, 0);
    assert_int_equal(e[1].time.kind, DR_TIME_REL);
    assert_int_equal(e[1].time.start, 100000);
    assert_int_equal(e[2].time.start, 250000);
    assert_int_equal(e[3].time.kind, DR_TIME_REL);
    assert_int_equal(e[3].time.start, 500000);
    assert_int_equal(e[4].time.kind, DR_TIME_ANY);
    assert_int_equal(e[5].time.kind, DR_TIME_ABS_RANGE);
    assert_int_equal(e[5].time.start, 1000000);
    assert_int_equal(e[5].time.end, 1200000);
    assert_int_equal(e[6].time.kind, DR_TIME_REL_RANGE);
    assert_int_equal(e[6].time.start, 1000000);
    assert_int_equal(e[6].time.end, 2000000);
    assert_int_equal(e[8].time.start, 3000002); /* rounded to the nearest microsecond */
    assert_true(e[9].call.has_end);
    assert_int_equal(e[9].time.start, 4000000);
    assert_int_equal(e[9].call.end, 4250000);
    assert_int_equal(e[10].time.kind, DR_TIME_REL);
    assert_int_equal(e[10].call.end, 500000);
    assert_int_equal(e[10].pos.line, 11);
    dr_script_free(s);

    int64_t us;
    assert_int_equal(dr_parse_seconds("12", 2, &us), 0);
    assert_int_equal(us, 12000000);
    assert_int_equal(dr_parse_seconds(".000001", 7, &us), 0);
    assert_int_equal(us, 1);
    assert_int_equal(dr_parse_seconds("1.", 2, &us), -1);
    assert_int_equal(dr_parse_seconds("", 0, &us), -1);
    assert_int_equal(dr_parse_seconds("99999999999", 11, &us), -1);
}

/* ---- packets ------------------------------------------------------------------------------ */

static void packet_fields(void **state)
{
    (void)state;
    struct dr_script *s =
        ok("0 < S 0:0(0) win 32792 <mss 1000,sackOK,TS val 100 ecr 0,nop,wscale 7>\n"
           "+0 > S. 0:0(0) ack 1 <...>\n"
           "+0 < 40001>8080 P. 1:1001(1000) ack 1 win 257 urg 3\n"
           "+0 > . 1:1(0) ack 1001 win 1024 <nop,nop,sack 2001:3001 4001:5001,eol>\n"
           "+0 < - 5:5(0) win 0\n"
           "+0 < FSRPUEW. 4294967295:9(10) win 1\n"
           "+0 > R 1:1(0)\n"
           "+0 < FSRP.UEW 1:1(0) win 1\n");
    assert_int_equal(s->nevents, 8);
    const struct dr_packet *p = &s->events[0].pkt;
    assert_int_equal(s->events[0].kind, DR_EV_PACKET);
    assert_int_equal(p->dir, '<');
    assert_int_equal(p->flags, DR_SYN);
    assert_int_equal(p->seq, 0);
    assert_int_equal(p->len, 0);
    assert_false(p->has_ack);
    assert_int_equal(p->win, 32792);
    assert_int_equal(p->opts_mode, DR_OPTS_LIST);
    assert_int_equal(p->nopts, 5);
    assert_int_equal(p->opts[0].kind, DR_OPT_MSS);
    assert_int_equal(p->opts[0].a, 1000);
    assert_int_equal(p->opts[2].kind, DR_OPT_TS);
    assert_int_equal(p->opts[2].a, 100);
    assert_int_equal(p->opts[2].b, 0);
    assert_int_equal(p->opts[4].kind, DR_OPT_WSCALE);
    assert_int_equal(p->opts[4].a, 7);
    assert_string_equal(fmt_packet(p),
                        "< S 0:0(0) win 32792 <mss 1000,sackOK,TS val 100 ecr 0,nop,wscale 7>");
    p = &s->events[1].pkt;
    assert_int_equal(p->flags, DR_SYN | DR_ACK);
    assert_int_equal(p->opts_mode, DR_OPTS_ANY);
    assert_false(p->has_win);
    assert_string_equal(fmt_packet(p), "> S. 0:0(0) ack 1 <...>");
    p = &s->events[2].pkt;
    assert_true(p->has_ports);
    assert_int_equal(p->sport, 40001);
    assert_int_equal(p->dport, 8080);
    assert_int_equal(p->flags, DR_PSH | DR_ACK);
    assert_int_equal(p->len, 1000);
    assert_int_equal(p->urg, 3);
    assert_string_equal(fmt_packet(p), "< 40001>8080 P. 1:1001(1000) ack 1 win 257 urg 3");
    p = &s->events[3].pkt;
    assert_int_equal(p->opts[2].kind, DR_OPT_SACK);
    assert_int_equal(p->opts[2].nsack, 2);
    assert_int_equal(p->opts[2].sack[1][0], 4001);
    assert_int_equal(p->opts[3].kind, DR_OPT_EOL);
    assert_string_equal(fmt_packet(p),
                        "> . 1:1(0) ack 1001 win 1024 <nop,nop,sack 2001:3001 4001:5001,eol>");
    p = &s->events[4].pkt;
    assert_int_equal(p->flags, 0);
    assert_string_equal(fmt_packet(p), "< - 5:5(0) win 0");
    p = &s->events[5].pkt;
    assert_int_equal(p->flags, 0xff);
    assert_int_equal(p->seq, 4294967295u); /* the end wraps around */
    assert_string_equal(fmt_packet(p), "< FSRP.UEW 4294967295:9(10) win 1");
    p = &s->events[6].pkt;
    assert_int_equal(p->flags, DR_RST);
    assert_int_equal(p->opts_mode, DR_OPTS_NONE);
    assert_int_equal(s->events[7].pkt.flags, 0xff); /* as it is printed */
    dr_script_free(s);
}

/* ---- system calls ----------------------------------------------------------------------- */

static void syscalls(void **state)
{
    (void)state;
    struct dr_script *s =
        ok("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
           "+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n"
           "+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n"
           "+0 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0\n"
           "+0 poll([{fd=4, events=POLLIN|POLLOUT, revents=POLLIN}], 1, 0) = 1\n"
           "+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0\n"
           "+0 write(3, \"ab\" \"c\\n\"..., 0x10) = 16\n"
           "+0 bind(3, {sa_family=AF_INET, sin_port=htons(8080), "
           "sin_addr=inet_addr(\"192.168.0.1\")}, 16) = 0\n"
           "+0 getsockopt(4, SOL_TCP, TCP_INFO, {tcpi_state=TCP_ESTABLISHED, ...}, ...) = 0\n"
           "+0 read(4, ..., 1000) = -1 EAGAIN\n"
           "+0 close(4) = 0\n"
           "+0 getsockopt(4, SOL_SOCKET, SO_ERROR, ..., ...) = ...\n");
    assert_int_equal(s->nevents, 12);
    const struct dr_syscall *c = &s->events[0].call;
    assert_int_equal(s->events[0].kind, DR_EV_SYSCALL);
    assert_string_equal(c->name, "socket");
    assert_int_equal(c->name_pos.col, 3);
    assert_int_equal(c->nargs, 3);
    assert_int_equal(c->args[0]->kind, DR_X_ELLIPSIS);
    assert_int_equal(c->args[1]->kind, DR_X_WORD);
    assert_string_equal(c->args[1]->text, "SOCK_STREAM");
    assert_int_equal(c->result->kind, DR_X_INT);
    assert_int_equal(c->result->num, 3);
    assert_null(c->err);
    c = &s->events[1].call;
    assert_int_equal(c->args[2]->kind, DR_X_OR);
    assert_string_equal(fmt_expr(c->args[2]), "O_RDWR|O_NONBLOCK");
    c = &s->events[2].call;
    assert_int_equal(c->result->num, -1);
    assert_string_equal(c->err, "EINPROGRESS");
    assert_int_equal(c->err_pos.col, 30);
    assert_string_equal(c->note, "Operation now in progress");
    c = &s->events[3].call;
    assert_int_equal(c->args[3]->kind, DR_X_STRUCT);
    assert_int_equal(c->args[3]->n, 2);
    assert_int_equal(c->args[3]->items[0]->kind, DR_X_ASSIGN);
    assert_string_equal(c->args[3]->items[0]->text, "onoff");
    assert_int_equal(c->args[3]->items[1]->rhs->num, 0);
    c = &s->events[4].call;
    assert_string_equal(fmt_expr(c->args[0]), "[{fd=4, events=POLLIN|POLLOUT, revents=POLLIN}]");
    c = &s->events[5].call;
    assert_int_equal(c->args[3]->kind, DR_X_LIST);
    assert_int_equal(c->args[3]->items[0]->num, 0);
    c = &s->events[6].call;
    assert_int_equal(c->args[1]->kind, DR_X_STRING);
    assert_string_equal(c->args[1]->text, "abc\n");
    assert_true(c->args[1]->string_ellipsis);
    assert_int_equal(c->args[2]->num, 16);
    c = &s->events[7].call;
    assert_string_equal(fmt_expr(c->args[1]), "{sa_family=AF_INET, sin_port=htons(8080), "
                                              "sin_addr=inet_addr(\"192.168.0.1\")}");
    assert_int_equal(c->args[1]->items[1]->rhs->kind, DR_X_CALL);
    c = &s->events[8].call;
    assert_string_equal(fmt_expr(c->args[3]), "{tcpi_state=TCP_ESTABLISHED, ...}");
    c = &s->events[9].call;
    assert_string_equal(c->err, "EAGAIN");
    assert_null(c->note);
    c = &s->events[11].call;
    assert_int_equal(c->result->kind, DR_X_ELLIPSIS);
    dr_script_free(s);
}

/* ---- comments and positions ------------------------------------------------------------ */

static void comments(void **state)
{
    (void)state;
    struct dr_script *s = ok("// a comment line\n"
                             "/* a block\n"
                             "   over lines */ --mss=1000 // trailing\n"
                             "0 /* inline */ close(3) = 0 // done\n"
                             "\t+1 > F. 1:1(0) ack 1 /* <not an option> */\n"
                             "/* last */");
    assert_int_equal(s->nopts, 1);
    assert_int_equal(s->opts[0].pos.line, 3);
    assert_int_equal(s->opts[0].pos.col, 18);
    assert_int_equal(s->nevents, 2);
    assert_int_equal(s->events[0].pos.line, 4);
    assert_int_equal(s->events[0].call.name_pos.col, 16);
    assert_int_equal(s->events[1].pos.line, 5);
    assert_int_equal(s->events[1].pos.col, 2);
    assert_int_equal(s->events[1].pkt.opts_mode, DR_OPTS_NONE);
    dr_script_free(s);
}

/* ---- errors, each with its line and column ------------------------------------------------ */

static void errors(void **state)
{
    (void)state;
    bad("0 > Sx 0:0(0)\n", 1, 6, "unknown TCP flag 'x'");
    bad("0 > SS 0:0(0)\n", 1, 6, "given twice");
    bad("0 close(3) = 0\n+0 > S 0:1(0)\n", 2, 8, "inconsistent sequence numbers");
    bad("0 < S 0:0(0)\n", 1, 1, "window must be specified");
    bad("0 < S 0:0(0) win 10 <...>\n", 1, 21, "only be used with outbound");
    bad("0 close(3) = 0\n* close(3) = 0\n", 2, 1, "* can only be used with outbound");
    bad("0 close(3) = 0\n1~2 < . 1:1(0) win 1\n", 2, 1, "range can only be used with outbound");
    bad("0 close(3) = 0\n2~1 > . 1:1(0)\n", 2, 1, "backwards");
    bad("0 close(3) = 0\n2 close(3) = 0\n1 close(3) = 0\n", 3, 1, "time goes backward");
    bad("1 close(3) = 0\n", 1, 1, "first event should be at time 0");
    bad("0 close(3) = 0\n--mss=100\n", 2, 1, "option lines must come before");
    bad("0 close(3) = 0 /* never closed\n", 1, 16, "unterminated /* comment");
    bad("0 > S 0:0(0) <mss 1,foo>\n", 1, 21, "unknown TCP option 'foo'");
    bad("0 > S 0:0(0) <mss 70000>\n", 1, 19, "mss value 70000 out of range");
    bad("0 > S 0:0(0) <TS val 1>\n", 1, 23, "expected 'ecr'");
    bad("0 > S 0:0(0) <sack 1:2 3:4 5:6 7:8 9:10>\n", 1, 36, "at most 4 SACK blocks");
    bad("0 > S 0:0(0) <mss 1 wscale 2>\n", 1, 21, "expected '>' or ','");
    bad("0 > . 1:1(0) ack 1 ack 2\n", 1, 20, "'ack' given twice");
    bad("0 > . 1:1(0) win 70000\n", 1, 18, "window 70000 out of range");
    bad("0 > . 1:1(0) ack 4294967296\n", 1, 18, "ack number 4294967296 out of range");
    bad("0 > 1:1(0)\n", 1, 5, "expected TCP flags");
    bad("0 > S. W. 1:1(0)\n", 1, 8, "expected start sequence number");
    bad("0 > S.X 1:1(0)\n", 1, 7, "unknown TCP flag 'X'");
    bad("0 12xyz\n", 1, 3, "malformed number");
    bad("0 12abc\n", 1, 3, "expected a system call name"); /* hex string: a word */
    bad("0 close(3) = 1.2.3\n", 1, 14, "malformed number");
    bad("0 close(3) = 0 $\n", 1, 16, "unexpected character '$'");
    bad("0 close(3 = 0\n", 1, 11, "expected ')' or ','");
    bad("0 close(3) 0\n", 1, 12, "expected '='");
    bad("0 close(3) = 0\n> S 0:0(0)\n", 2, 1, "expected an event time");
    bad("0 (3)\n", 1, 3, "expected a packet");
    bad("0 write(3, \"abc, 3) = 3\n", 1, 12, "unterminated string");
    bad("0 close(3) = -1 EAGAIN (Resource\n", 1, 24, "unterminated note");
    bad("-1 close(3) = 0\n", 1, 1, "negative time");
    bad("// nothing\n", 2, 1, "no events");
    bad("--mss=\n", 2, 1, "expected a value after --mss=");
    bad("0 > [ect2] S 0:0(0)\n", 1, 6, "expected an IP attribute");
    bad("0 < [ect01] S 0:0(0) win 1\n", 1, 6, "only be used with outbound");
    bad("0 < (tos 16) S 0:0(0) win 1\n", 1, 10, "tos as a hex number");
    bad("0 < udp (10)\n", 1, 5, "synfin-drill speaks TCP and ICMP");
    bad("0 < S 0:0(0) win 1 <FO 123>\n", 1, 24, "odd number of digits");
    bad("0 < icmp unreachable [1:2(3)]\n", 1, 23, "inconsistent TCP sequence numbers");
    bad("0 close(0x) = 0\n", 1, 9, "malformed hex number");
    bad("0 close(99999999999999999999) = 0\n", 1, 9, "out of range");
}

/* A script as packetdrill's own tests write them. */
static void packetdrill_style(void **state)
{
    (void)state;
    struct dr_script *s = ok("// Test a passive open and a close.\n"
                             "--tolerance_usecs=8000\n"
                             "\n"
                             "0.000 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                             "0.000 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n"
                             "0.000 bind(3, ..., ...) = 0\n"
                             "0.000 listen(3, 1) = 0\n"
                             "\n"
                             "0.100 < S 0:0(0) win 32792 <mss 1460,sackOK,nop,nop,nop,wscale 7>\n"
                             "0.100 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 7>\n"
                             "0.200 < . 1:1(0) ack 1 win 257\n"
                             "0.200 accept(3, ..., ...) = 4\n"
                             "\n"
                             "0.300 write(4, ..., 1000) = 1000\n"
                             "0.300 > P. 1:1001(1000) ack 1\n"
                             "0.400 < . 1:1(0) ack 1001 win 257\n"
                             "0.500 close(4) = 0\n"
                             "0.500 > F. 1001:1001(0) ack 1\n");
    assert_int_equal(s->nopts, 1);
    assert_int_equal(s->nevents, 13);
    assert_int_equal(s->events[12].pkt.flags, DR_FIN | DR_ACK);
    assert_int_equal(s->events[12].time.start, 500000);
    assert_int_equal(s->events[12].pos.line, 18);
    dr_script_free(s);
}

/* packetdrill's grammar: an untimed init command, timed shell and code events, an untimed
 * cleanup command (dropped). */
static void shell_and_code(void **unused)
{
    (void)unused;
    struct dr_script *s = ok("`sysctl -w net.ipv4.tcp_sack=0`\n0 close(3) = 0\n"
                             "+0 `../common/defaults.sh`\n+0 %{ print(1) }%\n"
                             "`/tmp/sysctl_restore_${PPID}.sh`\n");
    assert_int_equal(s->nevents, 4);
    assert_int_equal(s->events[0].kind, DR_EV_SHELL);
    assert_string_equal(s->events[0].text, "sysctl -w net.ipv4.tcp_sack=0");
    assert_int_equal(s->events[0].time.kind, DR_TIME_ABS);
    assert_int_equal(s->events[1].kind, DR_EV_SYSCALL);
    assert_int_equal(s->events[2].kind, DR_EV_SHELL);
    assert_int_equal(s->events[2].pos.line, 3);
    assert_string_equal(s->events[2].text, "../common/defaults.sh");
    assert_int_equal(s->events[3].kind, DR_EV_CODE);
    dr_script_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(options),           cmocka_unit_test(times),
        cmocka_unit_test(packet_fields),     cmocka_unit_test(syscalls),
        cmocka_unit_test(comments),          cmocka_unit_test(errors),
        cmocka_unit_test(packetdrill_style), cmocka_unit_test(shell_and_code),
    };
    return cmocka_run_group_tests_name("drill_parse", tests, NULL, NULL);
}
