/* Packets and expressions printed back in script syntax, as packetdrill prints them, for
 * failure messages and --verbose. */
#ifndef SYNFIN_DRILL_FORMAT_H
#define SYNFIN_DRILL_FORMAT_H

#include <stddef.h>

#include "script.h"

/* A bounded text builder: appends never overflow; the text is cut when full. */
struct dr_text {
    char *buf;
    size_t cap, len;
};

void dr_text_init(struct dr_text *t, char *buf, size_t cap);
__attribute__((format(printf, 2, 3))) void dr_text_add(struct dr_text *t, const char *fmt, ...);

/* "S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>", with the
 * direction first ("> ") and the ports when the packet names them. */
void dr_format_packet(struct dr_text *t, const struct dr_packet *p);
void dr_format_flags(struct dr_text *t, unsigned flags);
void dr_format_options(struct dr_text *t, const struct dr_packet *p);
void dr_format_expr(struct dr_text *t, const struct dr_expr *e);
/* "connect(3, ..., ...)" */
void dr_format_call_args(struct dr_text *t, const struct dr_syscall *c);
/* "connect(3, ..., ...) = -1 EINPROGRESS" */
void dr_format_call(struct dr_text *t, const struct dr_syscall *c);
/* The action of an event: its packet or its call. */
void dr_format_action(struct dr_text *t, const struct dr_event *ev);

#endif
