/* Fuzz target: the engine's packet input, as a structured scenario.
 *
 * The input decodes to settings (6 bytes), a first connection (active or passive, handshake
 * completed), then a sequence of steps until the input runs out: the peer's segments with
 * seq/ack relative to the connection's live values and checksums right, raw packets, ICMP
 * errors, clock steps, new connections and the owner's calls; with the header's bits, IPv6
 * and Fast Open (the peer's SYNs with cookies and data, the engine's Fast Open connects and
 * their SYN-ACKs). Up to four connections live at once, on slots chosen by each step. peer.h lists
 * what is checked after each step and at the end, when everything is closed and the clock has run
 * past every timer. */
#include "fuzz.h"
#include "peer.h"

enum {
    OP_SEG, /* four of sixteen: segments are most of what a connection sees */
    OP_SEG2,
    OP_SEG3,
    OP_SEG4,
    OP_CLOCK,
    OP_SEND,
    OP_RECV,
    OP_SHUTDOWN,
    OP_CLOSE,
    OP_ABORT,
    OP_MISC,
    OP_OPEN,
    OP_ACCEPT,
    OP_RAW,
    OP_ICMP,
    OP_LISTENER,
};

static int tfo_ops; /* the header's bit 0x02: OP_ACCEPT's high bits pick Fast Open steps */

static void accept_or_tfo(struct fp *f, struct fz_in *in, uint8_t op)
{
    int slot = (op >> 4) & (FP_SLOTS - 1);
    switch (tfo_ops ? op >> 6 : 0) {
    case 0: fp_accept(f); break;
    case 1: fp_tfo_passive(f, in, slot); break;
    case 2: fp_tfo_active(f, in, slot); break;
    default: fp_tfo_misc(f, in); break;
    }
}

/* The header byte after the settings: bit 0 opens the first connection passively; bit 1
 * turns the Fast Open steps on; bits 2-3 pick the families (0 IPv4, 1 IPv6, 2-3 both, each
 * new connection's port byte choosing); with bit 1, bits 4-7 add Fast Open settings: 0x4
 * (client data without a cookie), 0x200 (server takes data without a cookie), 0x400 (every
 * listener has a queue), and a limit of 1 pending Fast Open connection with a cache of 4.
 * A zero header is the harness as it was before Fast Open and IPv6. */
static void header(struct sf_tcp_config *cfg, uint8_t h)
{
    tfo_ops = (h >> 1) & 1;
    if (!tfo_ops)
        return;
    cfg->fastopen = SF_TFO_CLIENT | SF_TFO_SERVER;
    if (h & 0x10)
        cfg->fastopen |= SF_TFO_CLIENT_NO_COOKIE;
    if (h & 0x20)
        cfg->fastopen |= SF_TFO_SERVER_NO_COOKIE;
    if (h & 0x40)
        cfg->fastopen |= SF_TFO_SERVER_ALWAYS;
    if (h & 0x80) {
        cfg->fastopen_max_pending = 1;
        cfg->fastopen_cache = 4;
    }
}

static void step(struct fp *f, struct fz_in *in)
{
    uint8_t op = fz_u8(in);
    int slot = (op >> 4) & (FP_SLOTS - 1);
    switch (op & 15) {
    case OP_SEG:
    case OP_SEG2:
    case OP_SEG3:
    case OP_SEG4: fp_segment(f, in, slot); break;
    case OP_CLOCK: fp_clock(f, in); break;
    case OP_SEND: fp_owner(f, in, slot, 0); break;
    case OP_RECV: fp_owner(f, in, slot, 1); break;
    case OP_SHUTDOWN: fp_owner(f, in, slot, 2); break;
    case OP_CLOSE: fp_owner(f, in, slot, 3); break;
    case OP_ABORT: fp_owner(f, in, slot, 4); break;
    case OP_MISC: fp_owner(f, in, slot, 5); break;
    case OP_OPEN: fp_open(f, in, slot, op >> 6 & 1, !(op >> 7)); break;
    case OP_ACCEPT: accept_or_tfo(f, in, op); break;
    case OP_RAW: fp_raw(f, in, slot); break;
    case OP_ICMP: fp_icmp(f, in, slot); break;
    default:
        if ((f->listener || f->listener6) && (op >> 6) == 3) {
            fp_unlisten(f); /* queued and embryonic connections are reset */
        } else {
            fp_listen(f, 1 + (op >> 6));
        }
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = {data, size};
    struct sf_tcp_config cfg;
    fp_config(&cfg, &in);
    static struct fp f;
    uint8_t first = fz_u8(&in);
    header(&cfg, first);
    if (fp_init(&f, &cfg) < 0)
        return 0;
    f.fam = (uint8_t)((first >> 2) & 3) > FP_FAM_BOTH ? FP_FAM_BOTH : (uint8_t)((first >> 2) & 3);
    fp_open(&f, &in, 0, first & 1, 1);
    fp_check(&f);
    while (in.n) {
        step(&f, &in);
        fp_check(&f);
    }
    fp_finish(&f);
    return 0;
}
