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

/* Reads one family's dump to its end. Returns 0, the callback's stop value, or -errno. */
/* Reads one dump to its end, handing entries to cb. Returns 0, the callback's stop value, or
 * -errno; *delivered counts the entries cb saw. */
static int read_dump(int fd, uint16_t type, const struct sf_sockdiag_query *q, sf_sockdiag_cb cb,
                     void *arg, unsigned long *delivered)
{
    /* 32 KiB is the kernel's preferred dump batch (it fills up to the buffer size we offer,
     * capped near 32 KiB per message batch); larger gains nothing. */
    static _Thread_local long buf[32768 / sizeof(long)];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        size_t left = (size_t)n;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, left);
             h = NLMSG_NEXT(h, left)) {
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
    }
}

static int dump_family(int family, const struct sf_sockdiag_query *q, sf_sockdiag_cb cb, void *arg,
                       unsigned long *delivered)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0)
        return -errno;
    int rc = send_request(fd, family, q);
    if (rc == 0)
        rc = read_dump(fd, family == AF_UNSPEC ? TCPDIAG_GETSOCK : SOCK_DIAG_BY_FAMILY, q, cb, arg,
                       delivered);
    close(fd);
    return rc;
}

int sf_sockdiag_dump(const struct sf_sockdiag_query *q, sf_sockdiag_cb cb, void *arg)
{
    unsigned long delivered = 0;
    if (q->family == AF_UNSPEC) {
        int rc = dump_family(AF_UNSPEC, q, cb, arg, &delivered);
        /* A kernel that refuses the older request says so before any entry: then ask each
         * family in turn. */
        if (rc >= 0 || delivered || (rc != -EINVAL && rc != -ENOENT && rc != -EOPNOTSUPP))
            return rc;
    } else if (q->family != AF_INET && q->family != AF_INET6) {
        return -EAFNOSUPPORT;
    }
    int families[2], nf = 0;
    if (q->family == AF_INET || q->family == AF_UNSPEC)
        families[nf++] = AF_INET;
    if (q->family == AF_INET6 || q->family == AF_UNSPEC)
        families[nf++] = AF_INET6;
    for (int i = 0; i < nf; i++) {
        int rc = dump_family(families[i], q, cb, arg, &delivered);
        /* A kernel built without IPv6 diag answers ENOENT for AF_INET6: not an error when
         * both families were asked for. */
        if (rc == -ENOENT && q->family == AF_UNSPEC && families[i] == AF_INET6)
            rc = 0;
        if (rc)
            return rc;
    }
    return 0;
}
