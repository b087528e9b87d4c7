/* The steering rule; see steer.h. The BPF program is assembled here from instructions, with
 * symbolic labels resolved when it is built, so that no compiler for BPF is needed. */
#include "io/steer.h"
#include "tcp/tcp.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <sys/syscall.h>

/* ---- the rule in C ---- */

static unsigned be16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* The ports at off, summed modulo n; 0 when the packet is too short for them. */
static unsigned ports_at(const uint8_t *pkt, size_t len, size_t off, unsigned n)
{
    if (off + 4 > len)
        return 0;
    return sf_steer_ports(be16(pkt + off), be16(pkt + off + 2), n);
}

static int icmp4_error(unsigned type)
{
    return type == 3 || type == 4 || type == 11 || type == 12;
}

unsigned sf_steer_queue(const uint8_t *pkt, size_t len, unsigned n)
{
    if (n <= 1 || len < 1)
        return 0;
    unsigned v = pkt[0] >> 4;
    if (v == 4) {
        size_t ihl = (size_t)(pkt[0] & 15) * 4;
        if (ihl < 20 || len < 20 || (be16(pkt + 6) & 0x3fff))
            return 0; /* a fragment: no ports, or not all of them */
        if (pkt[9] == 6)
            return ports_at(pkt, len, ihl, n);
        if (pkt[9] != 1 || len < ihl + 1 || !icmp4_error(pkt[ihl]))
            return 0;
        /* The error quotes the IP header and 8 bytes of the packet it is about. */
        size_t in = ihl + 8;
        if (len < in + 20)
            return 0;
        size_t inner_ihl = (size_t)(pkt[in] & 15) * 4;
        if (inner_ihl < 20 || pkt[in + 9] != 6)
            return 0;
        return ports_at(pkt, len, in + inner_ihl, n);
    }
    if (v == 6 && len >= 40) {
        if (pkt[6] == 6)
            return ports_at(pkt, len, 40, n);
        if (pkt[6] != 58 || len < 41 || pkt[40] >= 128)
            return 0;
        if (len < 48 + 40 || pkt[48 + 6] != 6)
            return 0;
        return ports_at(pkt, len, 48 + 40, n);
    }
    return 0;
}

/* ---- the same rule as a BPF program ---- */

enum { L_V4, L_ERR4, L_V6, L_PORTS, L_ZERO, L_COUNT };

struct asm_prog {
    struct bpf_insn ins[64];
    unsigned n;
    int label_at[L_COUNT];
    struct {
        unsigned insn;
        int label;
    } fix[32];
    unsigned nfix;
};

static void emit(struct asm_prog *p, uint8_t code, uint8_t dst, uint8_t src, int16_t off,
                 int32_t imm)
{
    struct bpf_insn *i = &p->ins[p->n++];
    memset(i, 0, sizeof *i);
    i->code = code;
    i->dst_reg = dst & 15;
    i->src_reg = src & 15;
    i->off = off;
    i->imm = imm;
}

static void label(struct asm_prog *p, int l)
{
    p->label_at[l] = (int)p->n;
}

/* A jump to label l when (reg op imm); op BPF_JA jumps always. */
static void jump(struct asm_prog *p, uint8_t op, uint8_t reg, int32_t imm, int l)
{
    p->fix[p->nfix].insn = p->n;
    p->fix[p->nfix++].label = l;
    emit(p, (uint8_t)(BPF_JMP | op | BPF_K), reg, 0, 0, imm);
}

static void resolve(struct asm_prog *p)
{
    for (unsigned i = 0; i < p->nfix; i++)
        p->ins[p->fix[i].insn].off =
            (int16_t)(p->label_at[p->fix[i].label] - (int)p->fix[i].insn - 1);
}

#define ALU(op, dst, imm)     emit(p, BPF_ALU64 | (op) | BPF_K, (dst), 0, 0, (imm))
#define ALU32(op, dst, imm)   emit(p, BPF_ALU | (op) | BPF_K, (dst), 0, 0, (imm))
#define MOVR(dst, src)        emit(p, BPF_ALU64 | BPF_MOV | BPF_X, (dst), (src), 0, 0)
#define ADDR(dst, src)        emit(p, BPF_ALU64 | BPF_ADD | BPF_X, (dst), (src), 0, 0)
#define LDABS(size, off)      emit(p, BPF_LD | BPF_ABS | (size), 0, 0, 0, (off))
#define LDIND(size, reg, off) emit(p, BPF_LD | BPF_IND | (size), 0, (reg), 0, (off))

/* r6: the packet (LD_ABS and LD_IND read through it; an access beyond the packet ends the
 * program with 0, the default queue); r7: where the ports are; r0: what was loaded. */
static void assemble(struct asm_prog *p, unsigned n)
{
    memset(p, 0, sizeof *p);
    MOVR(BPF_REG_6, BPF_REG_1);
    LDABS(BPF_B, 0);
    MOVR(BPF_REG_7, BPF_REG_0);
    ALU(BPF_RSH, BPF_REG_7, 4);
    jump(p, BPF_JEQ, BPF_REG_7, 4, L_V4);
    jump(p, BPF_JEQ, BPF_REG_7, 6, L_V6);
    jump(p, BPF_JA, 0, 0, L_ZERO);

    label(p, L_V4);
    ALU(BPF_AND, BPF_REG_0, 15);
    ALU(BPF_LSH, BPF_REG_0, 2);
    MOVR(BPF_REG_7, BPF_REG_0); /* the header's length */
    jump(p, BPF_JLT, BPF_REG_7, 20, L_ZERO);
    LDABS(BPF_H, 6);
    jump(p, BPF_JSET, BPF_REG_0, 0x3fff, L_ZERO); /* a fragment */
    LDABS(BPF_B, 9);
    jump(p, BPF_JEQ, BPF_REG_0, 6, L_PORTS);
    jump(p, BPF_JNE, BPF_REG_0, 1, L_ZERO);
    LDIND(BPF_B, BPF_REG_7, 0); /* the ICMP type */
    jump(p, BPF_JEQ, BPF_REG_0, 3, L_ERR4);
    jump(p, BPF_JEQ, BPF_REG_0, 4, L_ERR4);
    jump(p, BPF_JEQ, BPF_REG_0, 11, L_ERR4);
    jump(p, BPF_JEQ, BPF_REG_0, 12, L_ERR4);
    jump(p, BPF_JA, 0, 0, L_ZERO);

    label(p, L_ERR4); /* the quoted header, 8 bytes into the ICMP message */
    LDIND(BPF_B, BPF_REG_7, 8);
    ALU(BPF_AND, BPF_REG_0, 15);
    ALU(BPF_LSH, BPF_REG_0, 2);
    jump(p, BPF_JLT, BPF_REG_0, 20, L_ZERO);
    MOVR(BPF_REG_8, BPF_REG_0);
    LDIND(BPF_B, BPF_REG_7, 8 + 9);
    jump(p, BPF_JNE, BPF_REG_0, 6, L_ZERO);
    ADDR(BPF_REG_7, BPF_REG_8);
    ALU(BPF_ADD, BPF_REG_7, 8);
    jump(p, BPF_JA, 0, 0, L_PORTS);

    label(p, L_V6);
    ALU(BPF_MOV, BPF_REG_7, 40);
    LDABS(BPF_B, 6); /* next header */
    jump(p, BPF_JEQ, BPF_REG_0, 6, L_PORTS);
    jump(p, BPF_JNE, BPF_REG_0, 58, L_ZERO);
    LDABS(BPF_B, 40); /* the ICMPv6 type: errors are below 128 */
    jump(p, BPF_JGE, BPF_REG_0, 128, L_ZERO);
    LDABS(BPF_B, 48 + 6);
    jump(p, BPF_JNE, BPF_REG_0, 6, L_ZERO);
    ALU(BPF_MOV, BPF_REG_7, 48 + 40);

    label(p, L_PORTS);
    LDIND(BPF_H, BPF_REG_7, 0);
    MOVR(BPF_REG_8, BPF_REG_0);
    LDIND(BPF_H, BPF_REG_7, 2);
    ADDR(BPF_REG_0, BPF_REG_8);
    ALU32(BPF_MUL, BPF_REG_0, (int32_t)0x9e3779b1u); /* sf_steer_ports, modulo 2^32 */
    ALU32(BPF_RSH, BPF_REG_0, 16);
    ALU32(BPF_MOD, BPF_REG_0, (int32_t)n);
    emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);

    label(p, L_ZERO);
    ALU(BPF_MOV, BPF_REG_0, 0);
    emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    resolve(p);
}

static int sys_bpf(int cmd, union bpf_attr *a)
{
    return (int)syscall(SYS_bpf, cmd, a, sizeof *a);
}

int sf_steer_load(unsigned n, char *err, size_t errlen)
{
    if (n < 1 || n > 65535) {
        snprintf(err, errlen, "steer: %u queues (1 to 65535)", n);
        return -EINVAL;
    }
    struct asm_prog p;
    assemble(&p, n);
    char log[4096];
    log[0] = 0;
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
    a.insns = (uint64_t)(uintptr_t)p.ins;
    a.insn_cnt = p.n;
    a.license = (uint64_t)(uintptr_t) "BSD";
    memcpy(a.prog_name, "synfin_steer", sizeof "synfin_steer");
    int fd = sys_bpf(BPF_PROG_LOAD, &a);
    if (fd >= 0)
        return fd;
    int e = errno;
    if (e == EACCES || e == EINVAL) { /* again with the verifier's reasons */
        memset(log, 0, sizeof log);
        a.log_buf = (uint64_t)(uintptr_t)log;
        a.log_size = sizeof log;
        a.log_level = 1;
        fd = sys_bpf(BPF_PROG_LOAD, &a);
        if (fd >= 0)
            return fd;
    }
    size_t l = strlen(log);
    while (l && log[l - 1] == '\n') /* the log's last line says why */
        log[--l] = 0;
    const char *why = strrchr(log, '\n');
    why = why ? why + 1 : log;
    snprintf(err, errlen, "steer: loading the TUN steering program: %s%s%s%s", strerror(e),
             e == EPERM ? " (needs CAP_BPF or CAP_SYS_ADMIN)" : "", *why ? ": " : "", why);
    return -e;
}

int sf_steer_run(int prog_fd, const uint8_t *pkt, size_t len)
{
    /* A socket filter under test runs on an Ethernet frame: the kernel takes the header off
     * (eth_type_trans) and the program sees the IP packet, as on the TUN. */
    uint8_t frame[14 + 2048];
    if (len > sizeof frame - 14)
        return -EMSGSIZE;
    memset(frame, 0, 14);
    frame[12] = (pkt[0] >> 4) == 6 ? 0x86 : 0x08;
    frame[13] = (pkt[0] >> 4) == 6 ? 0xdd : 0x00;
    memcpy(frame + 14, pkt, len);
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.test.prog_fd = (uint32_t)prog_fd;
    a.test.data_in = (uint64_t)(uintptr_t)frame;
    a.test.data_size_in = (uint32_t)(len + 14);
    a.test.repeat = 1;
    /* the frame back, unused: given so that a checker of the call (valgrind reads
     * data_out whatever data_size_out says) sees no unaddressable pointer */
    uint8_t out[sizeof frame];
    a.test.data_out = (uint64_t)(uintptr_t)out;
    a.test.data_size_out = (uint32_t)sizeof out;
    if (sys_bpf(BPF_PROG_TEST_RUN, &a) < 0)
        return -errno;
    return (int)a.test.retval;
}
