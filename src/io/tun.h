/* A Linux TUN device (layer 3, IFF_TUN | IFF_NO_PI): IP packets between the kernel's stack and
 * ours. The kernel routes the TUN's subnet to it; a packet it sends there is read here, and a
 * packet written here arrives in the kernel as if from a link.
 *
 * Receive offload (SF_TUN_OFFLOAD): with IFF_VNET_HDR and TUNSETOFFLOAD(TUN_F_CSUM |
 * TUN_F_TSO4 | TUN_F_TSO6) the kernel stops cutting its TCP stream into MTU-sized packets and stops
 * computing checksums for us: one read brings up to 64 KiB of one connection (a TSO/GSO
 * packet) with the checksum left partial. sf_tun_read completes the checksum (unless
 * csum_leave_partial: nobody will read it) and hands back a plain IP packet, so the engine,
 * the pcap and tshark see ordinary (large) segments; sf_tun_read_flags says the sum is good,
 * so the engine need not verify it. Fewer
 * packets means fewer reads, fewer ACKs from us and less work in the peer.
 *
 * IPv6 rides the same device (the version nibble tells the families apart), with the same
 * offload: TUN_F_TSO6 brings IPv6 TSO packets, whose checksums are completed the same way
 * (the partial sum the kernel leaves already holds the IPv6 pseudo-header), and merged
 * IPv6 runs leave as GSO TCPV6 packets.
 *
 * Transmit offload goes the other way: sf_tun_write_gso writes a run of segments merged by
 * io/coalesce.h as one GSO packet, which the kernel takes up its stack whole (and cuts into
 * the original segments only if it forwards it). */
#ifndef SYNFIN_IO_TUN_H
#define SYNFIN_IO_TUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sf_tun {
    int fd;
    char name[16];
    int created;         /* 1: we created the device (it disappears when we close it) */
    int txqueuelen_want; /* the transmit queue set on a device we create (0: left) */
    int mtu;
    int vnet;    /* bytes of virtio_net_hdr before each packet (0: offload off) */
    int offload; /* 1: the kernel may send TSO packets with partial checksums */
    /* 1: a packet whose checksum the kernel left partial keeps it so (its owner reads no
     * checksum: the engine is told the packet is good, nothing captures it); 0: completed. */
    int csum_leave_partial;
    uint64_t csum_completed;  /* packets whose partial checksum we completed */
    uint64_t csum_left;       /* ... or left partial (csum_leave_partial) */
    uint64_t csum_valid;      /* packets the kernel verified (DATA_VALID) */
    uint64_t gso_packets;     /* packets longer than the MTU (several segments in one) */
    uint64_t gso_written;     /* merged packets written (sf_tun_write_gso) */
    uint64_t partial_written; /* plain packets written with a partial sum (sf_tun_write_partial) */
};

/* SF_TUN_MULTI_QUEUE: the device has several queues (IFF_MULTI_QUEUE), one per descriptor;
 * opening the name again attaches one more queue, numbered in the order of attachment (the
 * first is 0). Which queue a packet from the kernel goes to is the steering program's choice
 * (sf_tun_steer). Every queue of a device must be opened with the same flags. */
enum { SF_TUN_OFFLOAD = 1, SF_TUN_MULTI_QUEUE = 2 };

/* The transmit queue (packets from the kernel to us) of a device synfin creates. */
#define SF_TUN_TXQUEUELEN 4096

/* Opens the TUN device `name`, creating it if it does not exist, or attaching to it if it
 * does (a persistent device made with `ip tuntap add`). Non-blocking. flags: SF_TUN_OFFLOAD
 * asks for receive offload; a kernel that refuses it leaves t->offload 0 (not an error).
 * Returns 0, or -errno with a message in err. */
int sf_tun_open(struct sf_tun *t, const char *name, unsigned flags, char *err, size_t errlen);

/* Takes a descriptor that carries one IP packet per read and write as the device (a
 * SOCK_SEQPACKET socketpair end toward a simulated peer): no offload, MTU 1500, no kernel
 * side to configure. Closed by sf_tun_close. */
void sf_tun_adopt(struct sf_tun *t, int fd, const char *name);

/* Gives the kernel side of the device an address with prefix, IPv4 ("10.77.0.1/24") or IPv6
 * ("fd00:77::1/64"), and brings it up; reads the MTU back into t->mtu. Call once per address
 * (one of each family side by side). Returns 0 or -errno with a message. */
int sf_tun_configure(struct sf_tun *t, const char *cidr, char *err, size_t errlen);

/* Adds (add=1) or removes a route to addr/prefix through the device, for addresses of ours
 * outside the kernel side's subnet. family 4 (addr: 4 bytes, network order) or 6 (16 bytes).
 * Returns 0 or -errno with a message; adding a route that exists is -EEXIST. */
int sf_tun_route(struct sf_tun *t, int family, const uint8_t *addr, int prefix, int add, char *err,
                 size_t errlen);

/* One packet (with offload, possibly a TSO packet longer than the MTU, up to 64 KiB: give a
 * buffer of 65536 bytes); -EAGAIN when none is waiting, -EBADMSG for a malformed offload
 * header (the packet is dropped). */

ssize_t sf_tun_read(struct sf_tun *t, void *buf, size_t cap);
/* The same, and what the virtio header said of the packet's TCP checksum in *flags:
 * SF_TUN_CSUM_VALID when the kernel verified it (DATA_VALID) or made the packet itself and
 * left the sum to us (NEEDS_CSUM: completed here, right by construction, or with
 * csum_leave_partial not even that). Either way summing it again to verify would find what
 * is known: the engine is told (SF_IN_CSUM_VALID) and skips that pass over every byte. 0
 * without offload. */
#define SF_TUN_CSUM_VALID 1u
ssize_t sf_tun_read_flags(struct sf_tun *t, void *buf, size_t cap, unsigned *flags);
/* One packet; -EAGAIN when the device's queue is full (the packet is dropped, as a link
 * would drop it; TCP recovers). */
int sf_tun_write(struct sf_tun *t, const void *pkt, size_t len);

/* A packet merged from segments of seg_size bytes of payload each (the last may be
 * shorter) after hdr_len bytes of IP and TCP header, its TCP checksum partial
 * (sf_coalesce_take); seg_size 0 is a plain packet (sf_tun_write). Needs receive offload on
 * (t->offload): -EOPNOTSUPP otherwise. Errors as sf_tun_write. */
int sf_tun_write_gso(struct sf_tun *t, const void *pkt, size_t len, uint16_t seg_size,
                     uint16_t hdr_len);

/* Attaches the steering program prog_fd (io/steer.h) to the device through this queue
 * (TUNSETSTEERINGEBPF); the device keeps it while it exists, whichever queue closes. 0 or
 * -errno with a message. */
int sf_tun_steer(struct sf_tun *t, int prog_fd, char *err, size_t errlen);

/* Reads the device's MTU into t->mtu (a queue attached to a device configured by another).
 * 0 or -errno with a message. */
int sf_tun_read_mtu(struct sf_tun *t, char *err, size_t errlen);

/* One plain packet (no GSO) whose TCP checksum is partial (sf_engine_params'
 * tx_csum_partial): the kernel completes it, or trusts it as it trusts its own. TCP over
 * IPv4 or IPv6 only; needs receive offload on (-EOPNOTSUPP). Errors as sf_tun_write. */
int sf_tun_write_partial(struct sf_tun *t, const void *pkt, size_t len);

/* Closes the descriptor. A device we created goes away with it; one we attached to stays. */
void sf_tun_close(struct sf_tun *t);

#endif
