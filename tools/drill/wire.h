/* Script packets to IPv4/TCP or IPv6/TCP bytes and back. The script speaks in relative numbers;
 * this file speaks in absolute ones: the runner maps between them (docs/drill.md). */
#ifndef SYNFIN_DRILL_WIRE_H
#define SYNFIN_DRILL_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "script.h"

#define DR_MAX_PACKET 65535

/* The IP addresses of a packet: IPv4 (src, dst), or IPv6 when v6 is set (src6, dst6). */
struct dr_ip4 {
    uint8_t src[4], dst[4];
    int v6;
    uint8_t src6[16], dst6[16];
};

/* Builds an IPv4/TCP packet from p (numbers taken as they are), with correct checksums and a
 * payload of p->len letters that follow the sequence space. Options are padded with EOL to a
 * multiple of four bytes. Returns the length, or 0 if it does not fit in cap or the options
 * exceed 40 bytes. */
size_t dr_wire_build(uint8_t *buf, size_t cap, const struct dr_ip4 *ip, uint16_t ip_id,
                     const struct dr_packet *p);

/* Decodes an IPv4/TCP packet into p (dir '>', every field set, has_ack when the ACK flag is,
 * has_win, options as a list). Returns 0, or -1 with a reason in err (not IPv4, not TCP,
 * truncated, bad IP or TCP checksum, malformed options). */
int dr_wire_parse(const uint8_t *pkt, size_t len, struct dr_ip4 *ip, struct dr_packet *p, char *err,
                  size_t errlen);

#endif
