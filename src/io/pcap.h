/* Classic pcap files (not pcapng) of raw IPv4/IPv6 packets (LINKTYPE_RAW, 101) with
 * microsecond timestamps: what tcpdump -r, Wireshark and tshark open.
 *
 * Errors are sticky: the first failed write is remembered, later writes do nothing, and
 * sf_pcap_close() reports it, so a caller that only checks the close still learns that the
 * capture is incomplete. */
#ifndef SYNFIN_IO_PCAP_H
#define SYNFIN_IO_PCAP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SF_PCAP_LINKTYPE_RAW 101
#define SF_PCAP_SNAPLEN      262144 /* tcpdump's default: larger packets are truncated */

struct sf_pcap;

/* Creates (truncates) path and writes the file header. NULL with errno set on failure. */
struct sf_pcap *sf_pcap_open(const char *path);
/* Writes to an open stream (a pipe, stdout, a memory stream). The stream is not closed by
 * sf_pcap_close(), only flushed. NULL with errno set on failure. */
struct sf_pcap *sf_pcap_open_stream(FILE *f);

/* One packet captured at time_us (microseconds; the epoch is the caller's: the simulator's
 * virtual clock starts at 0, i.e. 1970-01-01). Returns 0 or a negative errno (the sticky
 * error once one happened). */
int sf_pcap_write(struct sf_pcap *p, uint64_t time_us, const void *pkt, size_t len);

/* Packets written so far. */
uint64_t sf_pcap_count(const struct sf_pcap *p);

/* Flushes, closes (if opened by path) and frees. Returns 0, or the first error of any write,
 * the flush or the close as a negative errno. NULL is accepted and returns 0. */
int sf_pcap_close(struct sf_pcap *p);

#endif
