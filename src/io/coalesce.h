/* Transmit coalescing: consecutive full-sized segments of one TCP connection merged into one
 * large packet, written once to a device that cuts it up again (TUN with IFF_VNET_HDR: GSO).
 *
 * The engine emits MSS-sized segments; a 64 KiB burst is some 45 of them, and through TUN
 * each is a write and a pass through the kernel's receive path. Merged, the kernel takes the
 * burst as one GSO packet: one write, one trip up its stack (it segments only where the
 * packet leaves the host). The merged packet says exactly what the segments said: the
 * device's segmentation gives back each segment as the engine made it, headers and all.
 *
 * A segment may join the batch when it continues it: same IP header (but for length, ID and
 * checksum, the ID one more than the last; IPv6: but for the payload length, with TCP right
 * after the fixed header), same TCP header (but for sequence number,
 * checksum and PSH), sequence number where the last one ended, only ACK (and PSH) set, and a
 * payload of the batch's segment size; a shorter one, or one with PSH, is the last. Anything
 * else (SYN, FIN, RST, a pure ACK, another connection) ends the batch. */
#ifndef SYNFIN_IO_COALESCE_H
#define SYNFIN_IO_COALESCE_H

#include <stddef.h>
#include <stdint.h>

#define SF_COALESCE_MAX 65535 /* an IPv4 packet's total length field (IPv6 kept as short) */

struct sf_coalesce {
    uint8_t pkt[SF_COALESCE_MAX];
    size_t len;        /* 0: empty */
    uint16_t seg_size; /* payload of each segment but the last (the GSO size) */
    uint16_t hdr_len;  /* IP + TCP header */
    uint16_t nseg;
    uint16_t next_id; /* IPv4 */
    int v6;           /* the batch is IPv6 (the device's GSO type TCPV6) */
    uint32_t next_seq;
    int last; /* a short segment or PSH came: nothing more may join */
};

/* Adds a packet. Returns 1 if it joined the batch (or began it), 0 if it cannot: then
 * finish and write the batch, and add the packet again. A packet that never coalesces (not a
 * data segment) returns 0 on an empty batch too: write it as it is. */
int sf_coalesce_add(struct sf_coalesce *c, const uint8_t *pkt, size_t len);

/* The batch as one packet, ready to write; empties the batch. With one segment it is that
 * segment unchanged (*seg_size = 0: write it plainly). With more, the IP length (and IPv4's
 * header checksum) cover the whole, PSH is set if the last segment had it, and the TCP checksum is
 * left partial (the pseudo-header sum over the whole length) for the device to finish per segment;
 * *seg_size and *hdr_len describe the cut. Returns the length, 0 when empty. The pointer stays
 * valid until the next add. */
size_t sf_coalesce_take(struct sf_coalesce *c, const uint8_t **pkt, uint16_t *seg_size,
                        uint16_t *hdr_len);

#endif
