/* ICMPv6 (RFC 4443): the errors that matter to TCP. Packet Too Big carries the next hop's MTU
 * (RFC 8201); Destination Unreachable says nobody listens. Like ICMPv4's, an error quotes as
 * much of the offending packet as fits: the IPv6 header and at least the TCP ports and
 * sequence number are needed to find the connection and believe the error (RFC 5927). */
#ifndef SYNFIN_NET_ICMP6_H
#define SYNFIN_NET_ICMP6_H

#include <stddef.h>
#include <stdint.h>

#include "net/icmp.h"

enum {
    SF_ICMP6_DEST_UNREACH = 1,
    SF_ICMP6_PACKET_TOO_BIG = 2,
    SF_ICMP6_TIME_EXCEEDED = 3,
    SF_ICMP6_ECHO_REQUEST = 128,
    SF_ICMP6_ECHO_REPLY = 129,
};
enum {
    SF_ICMP6_ADMIN_PROHIBITED = 1,
    SF_ICMP6_ADDR_UNREACH = 3,
    SF_ICMP6_PORT_UNREACH = 4,
};

struct sf_icmp6_tcp {
    uint8_t type, code;
    uint32_t mtu;                 /* Packet Too Big: the next hop's MTU */
    uint8_t saddr[16], daddr[16]; /* the quoted packet's addresses: ours, then the peer's */
    uint16_t sport, dport;        /* host order */
    uint32_t seq;                 /* the quoted segment's sequence number */
};

/* Parses an IPv6 packet carrying ICMPv6 (checksum with its pseudo-header checked): an error
 * quoting a TCP segment fills *out (SF_ICMP_TCP_ERROR), an echo request is SF_ICMP_IS_ECHO;
 * anything else is SF_ICMP_OTHER or SF_ICMP_MALFORMED. */
enum sf_icmp_kind sf_icmp6_parse(const uint8_t *pkt, size_t len, struct sf_icmp6_tcp *out);

/* Turns an echo request (a whole IPv6 packet, ICMPv6 right after the fixed header) into its
 * reply in place: addresses swapped, type 129, hop limit 64, checksum redone. Returns the
 * length, or 0 if the packet is not an echo request. */
size_t sf_icmp6_echo_reply(uint8_t *pkt, size_t len);

#endif
