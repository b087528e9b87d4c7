/* A simulated peer for the stack transport (stack_peer.c). */
#ifndef SYNFIN_TESTS_STACK_PEER_H
#define SYNFIN_TESTS_STACK_PEER_H

#include <stdint.h>

#include "tcp/tcp.h"

struct stack_peer_args {
    struct sf_addr vip;
    uint16_t vip_port, server_port;
    uint32_t total;  /* client connections to open */
    uint32_t window; /* handshakes in progress at most */
};

/* Runs until fd's other end closes; returns 0, or 1 if it could not start. */
int stack_peer_run(int fd, const struct stack_peer_args *a);

#endif
