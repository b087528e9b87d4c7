/* Socket options at the IP level (SOL_IP / IPPROTO_IP, IPPROTO_IPV6). The engine sends every
 * packet with TOS (traffic class) 0 and TTL (hop limit) 64 and has no option to change them:
 * setting those very values is taken, as Linux takes it, and reading them back gives them;
 * any other value, or any other IP option, makes the script unsupported, named. */
#include "calls.h"

#include <netinet/in.h>
#include <string.h>

#define ENGINE_TOS 0
#define ENGINE_TTL 64

struct ip_name {
    const char *name;
    long value;
};

#define NAME(x)                                                                                    \
    {                                                                                              \
#x, x                                                                                      \
    }

static const struct ip_name names[] = {
    NAME(SOL_IP),
    NAME(IPPROTO_IPV6),
    NAME(SOL_IPV6),
    NAME(IP_TOS),
    NAME(IP_TTL),
    NAME(IP_MTU_DISCOVER),
    NAME(IP_MTU),
    NAME(IP_RECVERR),
    NAME(IP_RECVTOS),
    NAME(IP_PMTUDISC_DO),
    NAME(IP_PMTUDISC_DONT),
    NAME(IP_PMTUDISC_PROBE),
    NAME(IPV6_TCLASS),
    NAME(IPV6_UNICAST_HOPS),
    NAME(IPV6_MTU_DISCOVER),
    NAME(IPV6_RECVERR),
    NAME(IPV6_V6ONLY),
    NAME(IPV6_RECVTCLASS),
};

int dc_ip_symbol(const char *name, long *out)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(names[i].name, name)) {
            *out = names[i].value;
            return 0;
        }
    return -1;
}

static const char *name_of(long level, long opt)
{
    int v6 = level == IPPROTO_IPV6;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].value == opt && !strncmp(names[i].name, v6 ? "IPV6_" : "IP_", v6 ? 5 : 3))
            return names[i].name;
    return "an unknown option";
}

int dc_is_ip_level(long level)
{
    return level == IPPROTO_IP || level == IPPROTO_IPV6;
}

/* The value the engine always uses for (level, opt); -1 if it is not a TOS or TTL. */
static long engine_value(long level, long opt)
{
    if ((level == IPPROTO_IP && opt == IP_TOS) || (level == IPPROTO_IPV6 && opt == IPV6_TCLASS))
        return ENGINE_TOS;
    if ((level == IPPROTO_IP && opt == IP_TTL) ||
        (level == IPPROTO_IPV6 && opt == IPV6_UNICAST_HOPS))
        return ENGINE_TTL;
    return -1;
}

int dc_ip_setsockopt(struct runner *r, struct dr_call *call, long level, long opt)
{
    const struct dr_event *ev = call->ev;
    long v, fixed = engine_value(level, opt);
    if (fixed < 0)
        return dr_unsupported(r, ev, "setsockopt: %s (IP level)", name_of(level, opt));
    if (dc_eval(r, ev, ev->call.args[3], &v) < 0)
        return DR_CALL_FAILED;
    /* Linux keeps a TCP socket's ECN bits its own (the low two of IP_TOS), and -1 means the
     * default TTL or hop limit */
    int same = fixed == ENGINE_TOS ? (v & ~3L) == ENGINE_TOS : (v == ENGINE_TTL || v == -1);
    if (!same)
        return dr_unsupported(r, ev, "setsockopt: %s %ld (the engine always sends %ld)",
                              name_of(level, opt), v, fixed);
    FD_OR_RETURN(d, r, call);
    (void)d;
    return dc_result(call, 0);
}

int dc_ip_getsockopt(struct runner *r, struct dr_call *call, long level, long opt)
{
    const struct dr_event *ev = call->ev;
    long want, fixed = engine_value(level, opt);
    if (fixed < 0)
        return dr_unsupported(r, ev, "getsockopt: %s (IP level)", name_of(level, opt));
    FD_OR_RETURN(d, r, call);
    (void)d;
    const struct dr_expr *v = ev->call.args[3];
    if (!dc_is_ellipsis(v)) {
        if (dc_eval(r, ev, v, &want) < 0)
            return DR_CALL_FAILED;
        if (want != fixed)
            return dr_fail(r, ev, "getsockopt %s: expected: [%ld] / actual: [%ld]",
                           name_of(level, opt), want, fixed);
    }
    return dc_result(call, 0);
}
