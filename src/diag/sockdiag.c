#include "diag/sockdiag.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

static const char *const kstate_names[SF_KS_MAX] = {
    [0] = "UNKNOWN",
    [SF_KS_ESTABLISHED] = "ESTAB",
    [SF_KS_SYN_SENT] = "SYN-SENT",
    [SF_KS_SYN_RECV] = "SYN-RECV",
    [SF_KS_FIN_WAIT1] = "FIN-WAIT-1",
    [SF_KS_FIN_WAIT2] = "FIN-WAIT-2",
    [SF_KS_TIME_WAIT] = "TIME-WAIT",
    [SF_KS_CLOSE] = "UNCONN",
    [SF_KS_CLOSE_WAIT] = "CLOSE-WAIT",
    [SF_KS_LAST_ACK] = "LAST-ACK",
    [SF_KS_LISTEN] = "LISTEN",
    [SF_KS_CLOSING] = "CLOSING",
    [SF_KS_NEW_SYN_RECV] = "SYN-RECV",
};

const char *sf_kstate_name(int state)
{
    if (state <= 0 || state >= SF_KS_MAX)
        return "UNKNOWN";
    return kstate_names[state];
}

/* Filter bytecode is a chain of tests that must all pass: each test's "yes" leads to the
 * next one, its "no" jumps 4 bytes past the end, which the kernel reads as "reject"; running
 * off the end means "accept". The port test is itself an OR: sport == P, else dport == P. */
struct bytecode {
    uint32_t words[64]; /* 4-byte aligned, as the kernel walks it in 4-byte ops */
    size_t len;         /* bytes used */
    size_t rejects[8];  /* offsets of ops whose "no" must be patched to reject */
    size_t nrejects;
};

#define OPSZ sizeof(struct inet_diag_bc_op)

static struct inet_diag_bc_op *bc_op(struct bytecode *bc, uint8_t code, size_t yes)
{
    struct inet_diag_bc_op *op = (struct inet_diag_bc_op *)((char *)bc->words + bc->len);
    op->code = code;
    op->yes = (uint8_t)yes;
    op->no = 0;
    bc->len += OPSZ;
    return op;
}

static void bc_reject_on_no(struct bytecode *bc, const struct inet_diag_bc_op *op)
{
    bc->rejects[bc->nrejects++] = (size_t)((const char *)op - (const char *)bc->words);
}

static void bc_port_either(struct bytecode *bc, uint16_t port)
{
    /* S_EQ P: yes to the JMP, no to the D_EQ test (past S_EQ, its operand and the JMP). */
    struct inet_diag_bc_op *s = bc_op(bc, INET_DIAG_BC_S_EQ, 2 * OPSZ);
    s->no = 3 * OPSZ;
    bc_op(bc, 0, 0)->no = port;
    /* JMP: source port matched, skip the D_EQ test and its operand. */
    bc_op(bc, INET_DIAG_BC_JMP, OPSZ)->no = 3 * OPSZ;
    struct inet_diag_bc_op *d = bc_op(bc, INET_DIAG_BC_D_EQ, 2 * OPSZ);
    bc_reject_on_no(bc, d);
    bc_op(bc, 0, 0)->no = port;
}

static void bc_hostcond(struct bytecode *bc, uint8_t code, const struct sf_sockdiag_cond *c)
{
    size_t alen = c->family == AF_INET ? 4 : c->family == AF_INET6 ? 16 : 0;
    size_t total = OPSZ + sizeof(struct inet_diag_hostcond) + alen;
    struct inet_diag_bc_op *op = bc_op(bc, code, total);
    bc_reject_on_no(bc, op);
    struct inet_diag_hostcond *h = (struct inet_diag_hostcond *)((char *)bc->words + bc->len);
    h->family = c->family;
    h->prefix_len = alen ? c->prefix_len : 0;
    h->port = c->port;
    memcpy(h->addr, c->addr, alen);
    bc->len += total - OPSZ;
}

/* Builds q's filter; returns its length in bytes (0 when q filters nothing). */
static size_t build_filter(struct bytecode *bc, const struct sf_sockdiag_query *q)
{
    memset(bc, 0, sizeof *bc);
    if (q->port)
        bc_port_either(bc, q->port);
    if (q->local.active)
        bc_hostcond(bc, INET_DIAG_BC_S_COND, &q->local);
    if (q->remote.active)
        bc_hostcond(bc, INET_DIAG_BC_D_COND, &q->remote);
    for (size_t i = 0; i < bc->nrejects; i++) {
        struct inet_diag_bc_op *op = (struct inet_diag_bc_op *)((char *)bc->words + bc->rejects[i]);
        op->no = (uint16_t)(bc->len - bc->rejects[i] + 4);
    }
    return bc->len;
}

/* Sends the dump request. family AF_UNSPEC uses the older TCPDIAG_GETSOCK request, which the
 * kernel answers with one walk of the socket hash for both families; the per-family
 * SOCK_DIAG_BY_FAMILY request needs a walk for each, and each walk visits every socket. */
static int send_request(int fd, int family, const struct sf_sockdiag_query *q)
{
    union {
        struct inet_diag_req_v2 v2;
        struct inet_diag_req v1;
    } req;
    struct nlmsghdr nlh;
    memset(&req, 0, sizeof req);
    memset(&nlh, 0, sizeof nlh);
    size_t rlen;
    if (family == AF_UNSPEC) {
        req.v1.idiag_states = q->states;
        rlen = sizeof req.v1;
        nlh.nlmsg_type = TCPDIAG_GETSOCK;
    } else {
        req.v2.sdiag_family = (uint8_t)family;
        req.v2.sdiag_protocol = IPPROTO_TCP;
        req.v2.idiag_states = q->states;
        rlen = sizeof req.v2;
        nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    }
    struct bytecode bc;
    size_t bl = build_filter(&bc, q);
    struct nlattr attr = {.nla_len = (uint16_t)(NLA_HDRLEN + bl),
                          .nla_type = INET_DIAG_REQ_BYTECODE};
    struct iovec iov[4] = {
        {&nlh, NLMSG_HDRLEN}, {&req, NLMSG_ALIGN(rlen)}, {&attr, NLA_HDRLEN}, {bc.words, bl}};
    size_t len = NLMSG_HDRLEN + NLMSG_ALIGN(rlen) + (bl ? NLA_HDRLEN + bl : 0);
    nlh.nlmsg_len = (uint32_t)len;
    nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    struct sockaddr_nl nladdr = {.nl_family = AF_NETLINK};
    struct msghdr m = {.msg_name = &nladdr,
                       .msg_namelen = sizeof nladdr,
                       .msg_iov = iov,
                       .msg_iovlen = bl ? 4 : 2};
    for (;;) {
        ssize_t n = sendmsg(fd, &m, 0);
        if (n == (ssize_t)len)
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 ? -errno : -EIO;
    }
}

static int prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned bytes = bits / 8, rest = bits % 8;
    if (memcmp(a, b, bytes))
        return 0;
    if (!rest)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return ((a[bytes] ^ b[bytes]) & mask) == 0;
}

static int cond_match(const struct sf_sockdiag_cond *c, int family, const uint8_t *addr,
                      uint16_t port)
{
    if (!c->active)
        return 1;
    if (c->port >= 0 && c->port != port)
        return 0;
    if (c->family == AF_UNSPEC || c->prefix_len == 0)
        return 1;
    if (c->family == family)
        return prefix_match(addr, c->addr, c->prefix_len);
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (c->family == AF_INET && family == AF_INET6 && !memcmp(addr, v4mapped, 12))
        return prefix_match(addr + 12, c->addr, c->prefix_len);
    return 0;
}

int sf_sockdiag_match(const struct sf_sockdiag_query *q, const struct sf_sockdiag_entry *e)
{
    if (q->port && e->sport != q->port && e->dport != q->port)
        return 0;
    return cond_match(&q->local, e->family, e->src, e->sport) &&
           cond_match(&q->remote, e->family, e->dst, e->dport);
}

static void fill_entry(struct sf_sockdiag_entry *e, const struct inet_diag_msg *m)
{
    memset(e, 0, sizeof *e);
    e->family = m->idiag_family;
    e->state = m->idiag_state;
    size_t alen = m->idiag_family == AF_INET6 ? 16 : 4;
    memcpy(e->src, m->id.idiag_src, alen);
    memcpy(e->dst, m->id.idiag_dst, alen);
    e->sport = ntohs(m->id.idiag_sport);
    e->dport = ntohs(m->id.idiag_dport);
    e->rqueue = m->idiag_rqueue;
    e->wqueue = m->idiag_wqueue;
    e->timer = m->idiag_timer;
    e->expires_ms = m->idiag_expires;
    e->uid = m->idiag_uid;
    e->inode = m->idiag_inode;
}

/* Reads one batch (one recv) of a dump, handing entries to cb. Returns 1 when more follow, 0
 * at the dump's end, the callback's stop value, or -errno; *delivered counts the entries cb
 * saw. */
static int read_batch(int fd, uint16_t type, const struct sf_sockdiag_query *q, sf_sockdiag_cb cb,
                      void *arg, unsigned long *delivered)
{
    /* 32 KiB is the kernel's preferred dump batch (it fills up to the buffer size we offer,
     * capped near 32 KiB per message batch); larger gains nothing. */
    static _Thread_local long buf[32768 / sizeof(long)];
    ssize_t n;
    do
        n = recv(fd, buf, sizeof buf, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if (n == 0)
        return -EIO;
    size_t left = (size_t)n;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
        if (h->nlmsg_type == NLMSG_DONE)
            return 0;
        if (h->nlmsg_type == NLMSG_ERROR) {
            const struct nlmsgerr *err = NLMSG_DATA(h);
            if (h->nlmsg_len < NLMSG_LENGTH(sizeof *err))
                return -EIO;
            return err->error ? err->error : -EIO;
        }
        if (h->nlmsg_type != type || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
            continue; /* not ours or truncated: skip, never read past it */
        struct sf_sockdiag_entry e;
        fill_entry(&e, NLMSG_DATA(h));
        if (!sf_sockdiag_match(q, &e))
            continue;
        ++*delivered;
        int rc = cb(&e, arg);
        if (rc)
            return rc;
    }
    return 1;
}

/* The requests of a stream, in order: both families at once (the older request, one walk of
 * the socket hash), else one per family. */
enum { STAGE_BOTH, STAGE_V4, STAGE_V6, STAGE_DONE };

int sf_sockdiag_open(struct sf_sockdiag_stream *st, const struct sf_sockdiag_query *q)
{
    memset(st, 0, sizeof *st);
    st->fd = -1;
    st->q = *q;
    switch (q->family) {
    case AF_UNSPEC: st->stage = STAGE_BOTH; return 0;
    case AF_INET: st->stage = STAGE_V4; return 0;
    case AF_INET6: st->stage = STAGE_V6; return 0;
    default: st->stage = STAGE_DONE; return -EAFNOSUPPORT;
    }
}

void sf_sockdiag_close(struct sf_sockdiag_stream *st)
{
    if (st->fd >= 0)
        close(st->fd);
    st->fd = -1;
    st->stage = STAGE_DONE;
}

/* The stage after one whose dump ended with rc (0 or -errno), or -1 when rc ends the stream. */
static int next_stage(const struct sf_sockdiag_stream *st, int rc)
{
    int both = st->q.family == AF_UNSPEC;
    switch (st->stage) {
    case STAGE_BOTH:
        /* A kernel that refuses the older request says so before any entry: then ask each
         * family in turn. */
        if (rc < 0 && !st->delivered && (rc == -EINVAL || rc == -ENOENT || rc == -EOPNOTSUPP))
            return STAGE_V4;
        return rc == 0 ? STAGE_DONE : -1;
    case STAGE_V4: return rc == 0 ? (both ? STAGE_V6 : STAGE_DONE) : -1;
    default:
        /* A kernel built without IPv6 diag answers ENOENT for AF_INET6: not an error when
         * both families were asked for. */
        return rc == 0 || (rc == -ENOENT && both) ? STAGE_DONE : -1;
    }
}

int sf_sockdiag_step(struct sf_sockdiag_stream *st, unsigned max_batches, sf_sockdiag_cb cb,
                     void *arg)
{
    for (unsigned i = 0; st->stage != STAGE_DONE && (max_batches == 0 || i < max_batches); i++) {
        int rc = 0;
        if (st->fd < 0) {
            int family = st->stage == STAGE_BOTH ? AF_UNSPEC
                         : st->stage == STAGE_V4 ? AF_INET
                                                 : AF_INET6;
            st->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
            rc = st->fd < 0 ? -errno : send_request(st->fd, family, &st->q);
        }
        st->batches++;
        if (rc == 0)
            rc = read_batch(st->fd, st->stage == STAGE_BOTH ? TCPDIAG_GETSOCK : SOCK_DIAG_BY_FAMILY,
                            &st->q, cb, arg, &st->delivered);
        if (rc == 1)
            continue;
        if (st->fd >= 0)
            close(st->fd);
        st->fd = -1;
        int next = rc > 0 ? -1 : next_stage(st, rc);
        if (next < 0) {
            st->stage = STAGE_DONE;
            return rc;
        }
        st->stage = next;
    }
    return st->stage == STAGE_DONE ? 0 : 1;
}

int sf_sockdiag_dump(const struct sf_sockdiag_query *q, sf_sockdiag_cb cb, void *arg)
{
    struct sf_sockdiag_stream st;
    int rc = sf_sockdiag_open(&st, q);
    if (rc == 0)
        rc = sf_sockdiag_step(&st, 0, cb, arg);
    sf_sockdiag_close(&st);
    return rc;
}
