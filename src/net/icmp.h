/* ICMPv4: the messages that matter to TCP, and echo.
 *
 * An ICMP error quotes the IP header and the first eight bytes of the datagram that caused it
 * (RFC 792); for TCP that is the ports and the sequence number, enough to find the connection
 * and to check the error is about a segment it really sent (RFC 5927). */
#ifndef SYNFIN_NET_ICMP_H
#define SYNFIN_NET_ICMP_H

#include <stddef.h>
#include <stdint.h>

enum {
    SF_ICMP_ECHO_REPLY = 0,
    SF_ICMP_DEST_UNREACH = 3,
    SF_ICMP_ECHO = 8,
    SF_ICMP_TIME_EXCEEDED = 11,
};
enum {
    SF_ICMP_NET_UNREACH = 0,
    SF_ICMP_HOST_UNREACH = 1,
    SF_ICMP_PROT_UNREACH = 2,
    SF_ICMP_PORT_UNREACH = 3,
    SF_ICMP_FRAG_NEEDED = 4,
};

/* What an ICMP error says about one of our TCP segments. */
struct sf_icmp_tcp {
    uint8_t type, code;
    uint16_t mtu;          /* next-hop MTU (fragmentation needed, RFC 1191), 0 if absent */
    uint32_t saddr, daddr; /* the quoted datagram's addresses: ours, then the peer's */
    uint16_t sport, dport; /* host order */
    uint32_t seq;          /* the quoted segment's sequence number */
};

enum sf_icmp_kind {
    SF_ICMP_MALFORMED = -1,
    SF_ICMP_OTHER = 0,     /* not for us to act on */
    SF_ICMP_IS_ECHO = 1,   /* an echo request */
    SF_ICMP_TCP_ERROR = 2, /* an error about a TCP segment: *out is filled */
};

/* Parses an IPv4 packet carrying ICMP (checksums checked). */
enum sf_icmp_kind sf_icmp_parse(const uint8_t *pkt, size_t len, struct sf_icmp_tcp *out);

/* Turns an echo request (a whole IPv4 packet) into its reply in place: addresses swapped,
 * type 0, checksums redone. Returns the length, or 0 if the packet is not an echo request. */
size_t sf_icmp_echo_reply(uint8_t *pkt, size_t len);

#endif
