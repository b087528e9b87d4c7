/* A packetdrill script, parsed: option lines, then events (packets in and out, system calls),
 * each with its time and its place in the file. */
#ifndef SYNFIN_DRILL_SCRIPT_H
#define SYNFIN_DRILL_SCRIPT_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"

/* Where something is in the script, for error messages: FILE:LINE:COL. */
struct dr_pos {
    int line, col;
};

/* ---- times ------------------------------------------------------------------------------ */

enum dr_time_kind {
    DR_TIME_ABS,       /* 1.5: seconds since the script started */
    DR_TIME_REL,       /* +0.1: after the previous event */
    DR_TIME_ANY,       /* *: any time (outbound packets only) */
    DR_TIME_ABS_RANGE, /* 1.0~1.2 (outbound packets only) */
    DR_TIME_REL_RANGE, /* +1.0~+1.2 (outbound packets only) */
};

struct dr_time {
    enum dr_time_kind kind;
    int64_t start, end; /* microseconds; end only for ranges */
};

/* ---- TCP segments ----------------------------------------------------------------------- */

/* TCP flag bits, as on the wire. */
enum {
    DR_FIN = 0x01,
    DR_SYN = 0x02,
    DR_RST = 0x04,
    DR_PSH = 0x08,
    DR_ACK = 0x10,
    DR_URG = 0x20,
    DR_ECE = 0x40,
    DR_CWR = 0x80,
};

enum dr_opt_kind {
    DR_OPT_EOL,
    DR_OPT_NOP,
    DR_OPT_MSS,    /* a = MSS */
    DR_OPT_WSCALE, /* a = shift */
    DR_OPT_SACKOK,
    DR_OPT_SACK,  /* blocks */
    DR_OPT_TS,    /* a = val, b = ecr */
    DR_OPT_FO,    /* Fast Open, kind 34: a = cookie length (0: a request), fo = the cookie */
    DR_OPT_FOEXP, /* Fast Open, experimental kind 254 with ExID 0xF989: the same */
    DR_OPT_OTHER  /* only in decoded packets: a = kind, b = length */
};

#define DR_MAX_SACK 4
#define DR_MAX_OPTS 40 /* 40 bytes of options, one byte at least each */

struct dr_tcp_opt {
    enum dr_opt_kind kind;
    uint32_t a, b;
    uint8_t nsack;
    uint8_t ecr_abs; /* TS: nplab's "ecr N!", sent as written (no translation) */
    uint32_t sack[DR_MAX_SACK][2];
    /* FO/FOEXP: 1 when the script names its cookie (packetdrill's TFO_COOKIE, a -D of its
     * run_all.py): the cookie the engine's key gives the script's addresses, filled in at
     * run time */
    uint8_t fo_named;
    uint8_t fo[16];
};

enum dr_opts_mode {
    DR_OPTS_NONE, /* no <...>: the segment must carry no options */
    DR_OPTS_LIST, /* <mss 1460,...>: exactly these */
    DR_OPTS_ANY,  /* <...>: not checked (outbound only) */
};

struct dr_packet {
    char dir;      /* '<' inbound (script to engine), '>' outbound (engine to script) */
    int has_ports; /* "1234>8080": src and dst port given */
    uint16_t sport, dport;
    uint8_t flags;   /* DR_FIN | ... */
    uint32_t seq;    /* relative, see docs/drill.md */
    uint32_t len;    /* payload bytes; the end is seq + len */
    uint8_t seq_abs; /* nplab's "seq:end(len)!": seq as on the wire, not from an ISN */
    int has_ack;
    uint32_t ack;
    int has_win; /* outbound: checked only when given */
    uint32_t win;
    int has_urg;
    uint32_t urg;
    enum dr_opts_mode opts_mode;
    size_t nopts;
    struct dr_tcp_opt opts[DR_MAX_OPTS];
    struct dr_pos opts_pos;
    /* IP attributes, packetdrill's "(tos 0x10, flowlabel 0x1)", "[ect0]", "(ttl 3)": inbound
     * they are set, outbound checked when given. A decoded packet has them all (DR_TOS_BYTE). */
    uint8_t tos_check;  /* enum dr_tos_check */
    uint8_t tos;        /* the whole byte (DR_TOS_BYTE) or the ECN bits (DR_TOS_ECN) */
    uint8_t ttl;        /* TTL or hop limit, 0: not given */
    uint32_t flowlabel; /* IPv6, 0: not given */
    /* ICMP: "icmp unreachable frag_needed mtu 1200 [1:1001(1000)]": the type and code by
     * packetdrill's names (resolved for the IP version when the script runs), the MTU (-1:
     * none), and the quoted TCP segment of ours in seq and len (relative, as outbound) */
    int icmp;
    const char *icmp_type, *icmp_code;
    int64_t icmp_mtu;
};

enum dr_tos_check {
    DR_TOS_NONE,
    DR_TOS_ECN,   /* no_ecn, ect0, ect1, ce */
    DR_TOS_ECT01, /* ect0 or ect1 (outbound) */
    DR_TOS_BYTE,  /* tos 0xNN */
};

/* ---- system calls ------------------------------------------------------------------------- */

enum dr_expr_kind {
    DR_X_ELLIPSIS, /* ... */
    DR_X_INT,      /* 42, -1, 0x800 */
    DR_X_WORD,     /* SOCK_STREAM, POLLIN, EAGAIN */
    DR_X_STRING,   /* "text" (adjacent strings concatenated); "text"... */
    DR_X_LIST,     /* [a, b] */
    DR_X_STRUCT,   /* {a, b} or {name=value, ...} */
    DR_X_OR,       /* a | b */
    DR_X_ASSIGN,   /* name = value (inside {} and []); name(args) = value: lhs the CALL */
    DR_X_CALL,     /* htons(8080), inet_addr("1.2.3.4") */
};

struct dr_expr {
    enum dr_expr_kind kind;
    struct dr_pos pos;
    int64_t num;            /* INT */
    const char *text;       /* WORD, STRING, CALL: the name; ASSIGN: the name */
    int string_ellipsis;    /* "text"... */
    struct dr_expr *lhs;    /* OR; ASSIGN to name(args) (msghdr's msg_iov(1)=...) */
    struct dr_expr *rhs;    /* OR, ASSIGN */
    struct dr_expr **items; /* LIST, STRUCT, CALL arguments */
    size_t n;
};

struct dr_syscall {
    const char *name;
    struct dr_pos name_pos;
    struct dr_expr **args;
    size_t nargs;
    int has_end; /* "a...b": a blocking call that returns at b */
    int64_t end; /* microseconds: absolute, or relative like the start */
    struct dr_expr *result;
    const char *err; /* "EAGAIN", or NULL */
    struct dr_pos err_pos;
    const char *note; /* "(Resource temporarily unavailable)", informative only */
};

/* ---- the script ---------------------------------------------------------------------------- */

enum dr_event_kind {
    DR_EV_PACKET,
    DR_EV_SYSCALL,
    DR_EV_SHELL, /* `command`: interpreted, never run (shell.c) */
    DR_EV_CODE,  /* %{ python }%: reported unsupported when reached */
};

struct dr_event {
    struct dr_pos pos; /* of the time: the line packetdrill reports */
    struct dr_time time;
    enum dr_event_kind kind;
    struct dr_packet pkt;
    struct dr_syscall call;
    const char *text; /* SHELL: the command between the backquotes */
};

/* --name=value, or --name alone (value NULL). */
struct dr_option {
    const char *name;
    const char *value;
    struct dr_pos pos, value_pos;
};

struct dr_script {
    const char *path;
    struct dr_option *opts;
    size_t nopts;
    struct dr_event *events;
    size_t nevents;
    struct dr_arena arena; /* everything above lives here */
};

#endif
