/* Fuzz target: the engine's packet input, as a structured scenario.
 *
 * The input decodes to settings (6 bytes), a first connection (active or passive, handshake
 * completed), then a sequence of steps until the input runs out: the peer's segments with
 * seq/ack relative to the connection's live values and checksums right, raw packets, ICMP
 * errors, clock steps, new connections and the owner's calls. Up to four connections live
 * at once, on slots chosen by each step. peer.h lists what is checked after each step and at
 * the end, when everything is closed and the clock has run past every timer. */
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
    case OP_ACCEPT: fp_accept(f); break;
    case OP_RAW: fp_raw(f, in, slot); break;
    case OP_ICMP: fp_icmp(f, in, slot); break;
    default:
        if (f->listener && (op >> 6) == 3) {
            sf_close(f->listener); /* queued and embryonic connections are reset */
            f->listener = NULL;
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
    if (fp_init(&f, &cfg) < 0)
        return 0;
    uint8_t first = fz_u8(&in);
    fp_open(&f, &in, 0, first & 1, 1);
    fp_check(&f);
    while (in.n) {
        step(&f, &in);
        fp_check(&f);
    }
    fp_finish(&f);
    return 0;
}
