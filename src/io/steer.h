/* Steering a multi-queue TUN device: which queue (which thread's engine) a packet the kernel
 * sends into the device is read from.
 *
 * The rule: a TCP packet goes to queue sf_steer_ports(source port, destination port, n)
 * (tcp/tcp.h: the sum of the ports, mixed, modulo n). It is symmetric, so a flow's two
 * directions agree, and each engine makes it hold for its own server
 * connections by choosing their local port (sf_engine_params.port_steer_*): the server's
 * answers come back to the queue of the engine that opened the connection. A client's flow
 * lands on whatever queue the rule gives, and that queue's engine owns it.
 *
 * What the rule looks at, packet by packet (the device is IFF_TUN: the packet starts at its
 * IP header):
 *   - TCP over IPv4 (any header length) or IPv6 (TCP as the first next header): its ports;
 *   - an ICMP or ICMPv6 error quoting a TCP packet (IPv4 types 3, 4, 11, 12; ICMPv6 types
 *     below 128): the quoted ports, so the error reaches the engine of the connection it is
 *     about;
 *   - anything else (pings, IPv4 fragments, IPv6 extension headers, truncated packets): 0.
 *
 * sf_steer_load builds that rule as a BPF program (BPF_PROG_TYPE_SOCKET_FILTER, loaded with
 * the bpf(2) syscall: no library), which sf_tun_steer attaches with TUNSETSTEERINGEBPF. With
 * a program attached the kernel neither learns flows (tun_flow_update) nor hashes them
 * (tun_automq_select_queue): the program's answer, modulo the queues attached, is the queue.
 * sf_steer_queue is the same rule in C (the tests hold the two to each other). */
#ifndef SYNFIN_IO_STEER_H
#define SYNFIN_IO_STEER_H

#include <stddef.h>
#include <stdint.h>

/* The queue of a packet under the rule, for n queues (n >= 1). */
unsigned sf_steer_queue(const uint8_t *pkt, size_t len, unsigned n);

/* Loads the rule for n queues (1 to 65535). Returns the program's descriptor, or -errno with
 * a message in err (the verifier's log, or "needs CAP_BPF"). */
int sf_steer_load(unsigned n, char *err, size_t errlen);

/* Runs the loaded program on one IP packet (BPF_PROG_TEST_RUN; tests): its answer, or
 * -errno. */
int sf_steer_run(int prog_fd, const uint8_t *pkt, size_t len);

#endif
