#include "format.h"

#include <stdarg.h>
#include <stdio.h>

void dr_text_init(struct dr_text *t, char *buf, size_t cap)
{
    t->buf = buf;
    t->cap = cap;
    t->len = 0;
    if (cap)
        buf[0] = 0;
}

void dr_text_add(struct dr_text *t, const char *fmt, ...)
{
    if (t->len + 1 >= t->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    t->len += (size_t)n;
    if (t->len >= t->cap)
        t->len = t->cap - 1;
}

/* In tcpdump's order, as packetdrill prints them. */
void dr_format_flags(struct dr_text *t, unsigned flags)
{
    static const struct {
        unsigned bit;
        char c;
    } order[] = {{DR_FIN, 'F'}, {DR_SYN, 'S'}, {DR_RST, 'R'}, {DR_PSH, 'P'},
                 {DR_ACK, '.'}, {DR_URG, 'U'}, {DR_ECE, 'E'}, {DR_CWR, 'W'}};
    if (!flags) {
        dr_text_add(t, "-");
        return;
    }
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (flags & order[i].bit)
            dr_text_add(t, "%c", order[i].c);
}

void dr_format_options(struct dr_text *t, const struct dr_packet *p)
{
    if (p->opts_mode == DR_OPTS_ANY) {
        dr_text_add(t, "<...>");
        return;
    }
    if (p->opts_mode == DR_OPTS_NONE)
        return;
    dr_text_add(t, "<");
    for (size_t i = 0; i < p->nopts; i++) {
        const struct dr_tcp_opt *o = &p->opts[i];
        if (i)
            dr_text_add(t, ",");
        switch (o->kind) {
        case DR_OPT_EOL: dr_text_add(t, "eol"); break;
        case DR_OPT_NOP: dr_text_add(t, "nop"); break;
        case DR_OPT_MSS: dr_text_add(t, "mss %u", o->a); break;
        case DR_OPT_WSCALE: dr_text_add(t, "wscale %u", o->a); break;
        case DR_OPT_SACKOK: dr_text_add(t, "sackOK"); break;
        case DR_OPT_SACK:
            dr_text_add(t, "sack");
            for (unsigned k = 0; k < o->nsack; k++)
                dr_text_add(t, " %u:%u", o->sack[k][0], o->sack[k][1]);
            break;
        case DR_OPT_TS:
            dr_text_add(t, "TS val %u ecr %u%s", o->a, o->b, o->ecr_abs ? "!" : "");
            break;
        case DR_OPT_FO:
        case DR_OPT_FOEXP:
            dr_text_add(t, o->kind == DR_OPT_FO ? "FO" : "FOEXP");
            if (o->fo_named)
                dr_text_add(t, " TFO_COOKIE");
            else if (o->a)
                dr_text_add(t, " ");
            for (unsigned k = 0; !o->fo_named && k < o->a; k++)
                dr_text_add(t, "%02x", o->fo[k]);
            break;
        case DR_OPT_OTHER: dr_text_add(t, "kind %u len %u", o->a, o->b); break;
        }
    }
    dr_text_add(t, ">");
}

/* "(tos 0x0, ttl 64)", "[ect0]": what the line gives, or all a decoded packet has. */
static void ip_attributes(struct dr_text *t, const struct dr_packet *p)
{
    static const char *const ecn[] = {"noecn", "ect1", "ect0", "ce"};
    if (p->tos_check == DR_TOS_NONE && !p->ttl && !p->flowlabel)
        return;
    const char *sep = "(";
    if (p->tos_check == DR_TOS_ECN)
        dr_text_add(t, "%s%s", sep, ecn[p->tos & 3]), sep = ", ";
    if (p->tos_check == DR_TOS_ECT01)
        dr_text_add(t, "%sect01", sep), sep = ", ";
    if (p->tos_check == DR_TOS_BYTE)
        dr_text_add(t, "%stos 0x%x", sep, p->tos), sep = ", ";
    if (p->flowlabel)
        dr_text_add(t, "%sflowlabel 0x%x", sep, p->flowlabel), sep = ", ";
    if (p->ttl)
        dr_text_add(t, "%sttl %u", sep, p->ttl);
    dr_text_add(t, ") ");
}

void dr_format_packet(struct dr_text *t, const struct dr_packet *p)
{
    dr_text_add(t, "%c ", p->dir);
    ip_attributes(t, p);
    if (p->icmp) {
        dr_text_add(t, "icmp %s", p->icmp_type ? p->icmp_type : "?");
        if (p->icmp_code)
            dr_text_add(t, " %s", p->icmp_code);
        if (p->icmp_mtu >= 0)
            dr_text_add(t, " mtu %lld", (long long)p->icmp_mtu);
        dr_text_add(t, " [%u:%u(%u)]", p->seq, p->seq + p->len, p->len);
        return;
    }
    if (p->has_ports)
        dr_text_add(t, "%u>%u ", p->sport, p->dport);
    dr_format_flags(t, p->flags);
    dr_text_add(t, " %u:%u(%u)%s", p->seq, p->seq + p->len, p->len, p->seq_abs ? "!" : "");
    if (p->has_ack)
        dr_text_add(t, " ack %u", p->ack);
    if (p->has_win)
        dr_text_add(t, " win %u", p->win);
    if (p->has_urg)
        dr_text_add(t, " urg %u", p->urg);
    if (p->opts_mode != DR_OPTS_NONE) {
        dr_text_add(t, " ");
        dr_format_options(t, p);
    }
}

static void items(struct dr_text *t, const struct dr_expr *e, const char *open, const char *close)
{
    dr_text_add(t, "%s", open);
    for (size_t i = 0; i < e->n; i++) {
        if (i)
            dr_text_add(t, ", ");
        dr_format_expr(t, e->items[i]);
    }
    dr_text_add(t, "%s", close);
}

void dr_format_expr(struct dr_text *t, const struct dr_expr *e)
{
    switch (e->kind) {
    case DR_X_ELLIPSIS: dr_text_add(t, "..."); break;
    case DR_X_INT: dr_text_add(t, "%lld", (long long)e->num); break;
    case DR_X_WORD: dr_text_add(t, "%s", e->text); break;
    case DR_X_STRING: dr_text_add(t, "\"%s\"%s", e->text, e->string_ellipsis ? "..." : ""); break;
    case DR_X_LIST: items(t, e, "[", "]"); break;
    case DR_X_STRUCT: items(t, e, "{", "}"); break;
    case DR_X_CALL:
        dr_text_add(t, "%s", e->text);
        items(t, e, "(", ")");
        break;
    case DR_X_OR:
        dr_format_expr(t, e->lhs);
        dr_text_add(t, "|");
        dr_format_expr(t, e->rhs);
        break;
    case DR_X_ASSIGN:
        if (e->lhs) /* msg_iov(1)=[...] */
            dr_format_expr(t, e->lhs);
        else
            dr_text_add(t, "%s", e->text);
        dr_text_add(t, "=");
        dr_format_expr(t, e->rhs);
        break;
    }
}

void dr_format_call_args(struct dr_text *t, const struct dr_syscall *c)
{
    dr_text_add(t, "%s(", c->name);
    for (size_t i = 0; i < c->nargs; i++) {
        if (i)
            dr_text_add(t, ", ");
        dr_format_expr(t, c->args[i]);
    }
    dr_text_add(t, ")");
}

void dr_format_call(struct dr_text *t, const struct dr_syscall *c)
{
    dr_format_call_args(t, c);
    dr_text_add(t, " = ");
    dr_format_expr(t, c->result);
    if (c->err)
        dr_text_add(t, " %s", c->err);
}

void dr_format_action(struct dr_text *t, const struct dr_event *ev)
{
    if (ev->kind == DR_EV_PACKET)
        dr_format_packet(t, &ev->pkt);
    else if (ev->kind == DR_EV_SHELL)
        dr_text_add(t, "`%s`", ev->text);
    else if (ev->kind == DR_EV_CODE)
        dr_text_add(t, "%%{ ... }%%");
    else
        dr_format_call(t, &ev->call);
}
