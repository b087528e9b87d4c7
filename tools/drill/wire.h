/* Script packets to IPv4/TCP or IPv6/TCP bytes and back. The script speaks in relative numbers;
 * this file speaks in absolute ones: the runner maps between them (docs/drill.md). */
#ifndef SYNFIN_DRILL_WIRE_H
#define SYNFIN_DRILL_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "script.h"

#define DR_MAX_PACKET 65535

/* The IP addresses of a packet: IPv4 (src, dst), or IPv6 when v6 is set (src6, dst6); the
 * TOS (traffic class), TTL (hop limit; 0 means 64) and IPv6 flow label it is sent with. */
struct dr_ip4 {
    uint8_t src[4], dst[4];
    int v6;
    uint8_t src6[16], dst6[16];
    uint8_t tos, ttl;
    uint32_t flowlabel;
};

/* Builds an IPv4/TCP packet from p (numbers taken as they are), with correct checksums and a
 * payload of p->len letters that follow the sequence space. Options are padded with EOL to a
 * multiple of four bytes. Returns the length, or 0 if it does not fit in cap or the options
 * exceed 40 bytes. */
size_t dr_wire_build(uint8_t *buf, size_t cap, const struct dr_ip4 *ip, uint16_t ip_id,
                     const struct dr_packet *p);

/* An ICMP or ICMPv6 error from ip's source to its destination about the TCP segment `quoted`
 * (addresses reversed: one the destination sent; its seq as on the wire), as packetdrill
 * builds it: the quoted IP header and the first 8 bytes of TCP. mtu goes in the
 * next-hop MTU (IPv4 fragmentation needed) or MTU (ICMPv6 packet too big) field. Returns the
 * length, or 0 if it does not fit. */
size_t dr_wire_build_icmp(uint8_t *buf, size_t cap, const struct dr_ip4 *ip, uint16_t ip_id,
                          int type, int code, uint32_t mtu, const struct dr_packet *quoted);

/* packetdrill's ICMP type and code names ("unreachable", "frag_needed", "packet_too_big",
 * "type_N", "code_N") to numbers for IPv4 or IPv6; code NULL is 0. Returns 0, -1 for an
 * unknown type, -2 for an unknown code. */
int dr_icmp_lookup(int v6, const char *type, const char *code, int *t, int *c);

/* Decodes an IPv4/TCP packet into p (dir '>', every field set, has_ack when the ACK flag is,
 * has_win, options as a list, its tos, ttl and flow label with tos_check DR_TOS_BYTE). Returns 0,
 * or -1 with a reason in err (not IPv4, not TCP, truncated, bad IP or TCP checksum, malformed
 * options). */
int dr_wire_parse(const uint8_t *pkt, size_t len, struct dr_ip4 *ip, struct dr_packet *p, char *err,
                  size_t errlen);

#endif
