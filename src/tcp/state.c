/* States, causes, addresses, and the one function every state change goes through.
 *
 * The state machine at a glance (RFC 9293 Figure 5), with where each edge is taken:
 *
 *   from            event                          to             where
 *   CLOSED          connect()                      SYN_SENT       api.c sf_connect
 *   CLOSED          listen()                       LISTEN         api.c sf_listen
 *   LISTEN          SYN                            SYN_RECEIVED   listen.c (a new connection)
 *   LISTEN          ACK with a valid cookie        SYN_RECEIVED   listen.c, then ESTABLISHED
 *   SYN_SENT        SYN-ACK                        ESTABLISHED    input.c input_syn_sent
 *   SYN_SENT        SYN (simultaneous open)        SYN_RECEIVED   input.c input_syn_sent
 *   SYN_SENT        RST / close() / syn_retries    CLOSED         input.c, api.c, timer.c
 *   SYN_SENT        shutdown(WR)                   (FIN queued)   api.c: FIN_WAIT_1 at once
 *                                                                 after the SYN-ACK or SYN
 *   SYN_RECEIVED    ACK of our SYN                 ESTABLISHED    input.c ack_step
 *   SYN_RECEIVED    close()                        FIN_WAIT_1     api.c
 *   SYN_RECEIVED    RST / synack_retries           CLOSED         input.c, timer.c
 *   SYN_RECEIVED    ACK with another valid cookie  CLOSED         listen.c (the cookie's
 *                                                                 connection replaces it)
 *   ESTABLISHED     close() / shutdown(WR)         FIN_WAIT_1     api.c
 *   ESTABLISHED     FIN                            CLOSE_WAIT     input.c fin_step
 *   FIN_WAIT_1      ACK of our FIN                 FIN_WAIT_2     input.c ack_step
 *   FIN_WAIT_1      FIN (ours not yet acked)       CLOSING        input.c fin_step
 *   FIN_WAIT_1      FIN acking ours                TIME_WAIT      input.c fin_step
 *   FIN_WAIT_2      FIN                            TIME_WAIT      input.c fin_step
 *   FIN_WAIT_2      fin_wait2_timeout (orphan)     CLOSED         timer.c
 *   CLOSE_WAIT      close() / shutdown(WR)         LAST_ACK       api.c
 *   CLOSING         ACK of our FIN                 TIME_WAIT      input.c ack_step
 *   LAST_ACK        ACK of our FIN                 CLOSED         input.c ack_step
 *   LAST_ACK        last_ack_timeout               CLOSED         timer.c
 *   TIME_WAIT       time_wait_ms                   CLOSED         engine.c (TIME-WAIT table)
 *   TIME_WAIT       RST (rfc1337=0) / SYN reopen   CLOSED         tw_input.c
 *   any synchronized RST / abort() / retries2 / keepalive / user timeout → CLOSED
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tcp/internal.h"

static const char *const state_names[SF_STATE_COUNT] = {
    "CLOSED",     "LISTEN",     "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1",
    "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING",  "LAST_ACK",     "TIME_WAIT",
};

const char *sf_state_name(enum sf_state s)
{
    return (unsigned)s < SF_STATE_COUNT ? state_names[s] : "INVALID";
}

static const char *const cause_names[SF_CAUSE_COUNT] = {
    [SF_CAUSE_NONE] = "none",
    [SF_CAUSE_SYN] = "SYN",
    [SF_CAUSE_SYN_ACK] = "SYN+ACK",
    [SF_CAUSE_ACK] = "ACK",
    [SF_CAUSE_FIN] = "FIN",
    [SF_CAUSE_FIN_ACK] = "FIN+ACK",
    [SF_CAUSE_RST] = "RST",
    [SF_CAUSE_COOKIE_ACK] = "ACK with syncookie",
    [SF_CAUSE_CONNECT] = "connect()",
    [SF_CAUSE_LISTEN] = "listen()",
    [SF_CAUSE_CLOSE] = "close()",
    [SF_CAUSE_SHUTDOWN] = "shutdown(SHUT_WR)",
    [SF_CAUSE_ABORT] = "abort()",
    [SF_CAUSE_UNREAD_CLOSE] = "close() with unread data",
    [SF_CAUSE_LINGER0] = "close() with SO_LINGER 0",
    [SF_CAUSE_LISTENER_CLOSED] = "listener closed",
    [SF_CAUSE_SYN_TIMEOUT] = "SYN retries exhausted",
    [SF_CAUSE_RETRANS_TIMEOUT] = "retransmission timeout",
    [SF_CAUSE_USER_TIMEOUT] = "user timeout",
    [SF_CAUSE_KEEPALIVE_TIMEOUT] = "keepalive timeout",
    [SF_CAUSE_FIN_WAIT2_TIMEOUT] = "fin_wait2 timeout",
    [SF_CAUSE_LAST_ACK_TIMEOUT] = "last_ack timeout",
    [SF_CAUSE_ICMP_UNREACH] = "ICMP unreachable",
    [SF_CAUSE_TIME_WAIT_TIMEOUT] = "time_wait timer",
    [SF_CAUSE_TW_REOPEN] = "SYN reopened TIME_WAIT",
    [SF_CAUSE_TW_REUSE] = "reused by connect()",
    [SF_CAUSE_TW_OVERFLOW] = "max_tw overflow",
    [SF_CAUSE_ENGINE_FREE] = "engine freed",
};

const char *sf_cause_name(enum sf_cause c)
{
    return (unsigned)c < SF_CAUSE_COUNT && cause_names[c] ? cause_names[c] : "invalid";
}

/* The same causes as identifiers: metric labels and JSON keys, where "close() with SO_LINGER
 * 0" would be awkward to select on. */
static const char *const cause_ids[SF_CAUSE_COUNT] = {
    [SF_CAUSE_NONE] = "none",
    [SF_CAUSE_SYN] = "syn",
    [SF_CAUSE_SYN_ACK] = "syn_ack",
    [SF_CAUSE_ACK] = "ack",
    [SF_CAUSE_FIN] = "fin",
    [SF_CAUSE_FIN_ACK] = "fin_ack",
    [SF_CAUSE_RST] = "rst",
    [SF_CAUSE_COOKIE_ACK] = "cookie_ack",
    [SF_CAUSE_CONNECT] = "connect",
    [SF_CAUSE_LISTEN] = "listen",
    [SF_CAUSE_CLOSE] = "close",
    [SF_CAUSE_SHUTDOWN] = "shutdown",
    [SF_CAUSE_ABORT] = "abort",
    [SF_CAUSE_UNREAD_CLOSE] = "close_unread",
    [SF_CAUSE_LINGER0] = "close_linger0",
    [SF_CAUSE_LISTENER_CLOSED] = "listener_closed",
    [SF_CAUSE_SYN_TIMEOUT] = "syn_timeout",
    [SF_CAUSE_RETRANS_TIMEOUT] = "retransmission_timeout",
    [SF_CAUSE_USER_TIMEOUT] = "user_timeout",
    [SF_CAUSE_KEEPALIVE_TIMEOUT] = "keepalive_timeout",
    [SF_CAUSE_FIN_WAIT2_TIMEOUT] = "fin_wait2_timeout",
    [SF_CAUSE_LAST_ACK_TIMEOUT] = "last_ack_timeout",
    [SF_CAUSE_ICMP_UNREACH] = "icmp_unreachable",
    [SF_CAUSE_TIME_WAIT_TIMEOUT] = "time_wait_timer",
    [SF_CAUSE_TW_REOPEN] = "time_wait_reopened",
    [SF_CAUSE_TW_REUSE] = "time_wait_reused",
    [SF_CAUSE_TW_OVERFLOW] = "time_wait_refused",
    [SF_CAUSE_ENGINE_FREE] = "engine_freed",
};

const char *sf_cause_id(enum sf_cause c)
{
    return (unsigned)c < SF_CAUSE_COUNT && cause_ids[c] ? cause_ids[c] : "invalid";
}

int state_synchronized(enum sf_state s)
{
    return s >= SF_ESTABLISHED;
}

struct sf_endpoint endpoint_of(const struct sf_addr *addr, uint16_t port)
{
    struct sf_endpoint ep;
    memset(&ep, 0, sizeof ep);
    ep.addr = *addr;
    ep.port = port;
    return ep;
}

void report_transition(struct sf_engine *e, uint64_t id, struct sf_conn *c,
                       const struct sf_tuple *t, enum sf_state from, enum sf_state to,
                       enum sf_cause cause)
{
    if (from == SF_TIME_WAIT)
        e->st.states[SF_TIME_WAIT]--;
    if (to == SF_TIME_WAIT)
        e->st.states[SF_TIME_WAIT]++;
    if (!e->ops.transition)
        return;
    struct sf_transition tr = {
        .id = id,
        .conn = c,
        .local = endpoint_of(&t->laddr, t->lport),
        .remote = endpoint_of(&t->raddr, t->rport),
        .from = from,
        .to = to,
        .cause = cause,
        .when = e->now,
    };
    e->ops.transition(e->ctx, &tr);
}

void set_state(struct sf_conn *c, enum sf_state to, enum sf_cause cause)
{
    enum sf_state from = (enum sf_state)c->state;
    if (from == to)
        return;
    struct sf_engine *e = c->e;
    if (from != SF_TIME_WAIT)
        e->st.states[from]--;
    if (to != SF_TIME_WAIT)
        e->st.states[to]++;
    c->state = (uint8_t)to;
    c->last_cause = (uint8_t)cause;
    if (from == SF_SYN_RECEIVED && (c->flags & (F_TFO_PENDING | F_TFO_LQ)))
        fastopen_settle(c, 0);
    if (to == SF_CLOSED || to == SF_TIME_WAIT)
        c->close_cause = (uint8_t)cause;
    if (to == SF_ESTABLISHED && !c->established) {
        c->established = e->now;
        rto_after_handshake(c);
    }
    report_transition(e, c->id, c, &c->t, from, to, cause);
}

/* ---- addresses ------------------------------------------------------------------------ */

struct sf_addr sf_addr_v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    struct sf_addr x;
    memset(&x, 0, sizeof x);
    x.family = SF_AF_INET;
    x.u.v4[0] = a;
    x.u.v4[1] = b;
    x.u.v4[2] = c;
    x.u.v4[3] = d;
    return x;
}

int sf_addr_parse(const char *text, struct sf_addr *out)
{
    unsigned v[4];
    char tail;
    if (strchr(text, ':')) {
        struct sf_addr a;
        memset(&a, 0, sizeof a);
        if (inet_pton(AF_INET6, text, a.u.v6) != 1)
            return -EINVAL;
        a.family = SF_AF_INET6;
        *out = a;
        return 0;
    }
    if (sscanf(text, "%u.%u.%u.%u%c", &v[0], &v[1], &v[2], &v[3], &tail) != 4)
        return -EINVAL;
    for (int i = 0; i < 4; i++)
        if (v[i] > 255)
            return -EINVAL;
    *out = sf_addr_v4((uint8_t)v[0], (uint8_t)v[1], (uint8_t)v[2], (uint8_t)v[3]);
    return 0;
}

char *sf_addr_str(const struct sf_addr *a, char *buf, size_t len)
{
    if (a->family == SF_AF_INET)
        snprintf(buf, len, "%u.%u.%u.%u", a->u.v4[0], a->u.v4[1], a->u.v4[2], a->u.v4[3]);
    else if (a->family == SF_AF_INET6 && inet_ntop(AF_INET6, a->u.v6, buf, (socklen_t)len))
        return buf;
    else
        snprintf(buf, len, "?");
    return buf;
}

char *sf_endpoint_str(const struct sf_endpoint *ep, char *buf, size_t len)
{
    char a[SF_ENDPOINT_STRLEN];
    if (ep->addr.family == SF_AF_INET6) /* [addr]:port, RFC 3986 */
        snprintf(buf, len, "[%s]:%u", sf_addr_str(&ep->addr, a, sizeof a), ep->port);
    else
        snprintf(buf, len, "%s:%u", sf_addr_str(&ep->addr, a, sizeof a), ep->port);
    return buf;
}

int sf_addr_equal(const struct sf_addr *a, const struct sf_addr *b)
{
    if (a->family != b->family)
        return 0;
    return memcmp(a->u.v4, b->u.v4, a->family == SF_AF_INET ? 4 : 16) == 0;
}
