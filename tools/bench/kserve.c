/* bench-kserve: synfin-serve's echo and sink modes on the kernel's TCP, for `make bench-tun`.
 *
 * The bulk figures compare two stacks, not two programs: this server does what synfin-serve
 * does with the bytes (echo them back; or hash them and answer "<bytes> <sha256>\n" on the
 * peer's FIN, with the same SHA-256 code) from one thread and one epoll loop, so what differs
 * is the TCP underneath.
 *
 *   bench-kserve ADDR PORT echo|sink
 *   bench-kserve -v | --version */
#include "util/sha256.h"
#include "util/version.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

struct kconn {
    int fd;
    struct sf_sha256 sha;
    /* echo: bytes read but not yet written back (the peer is slow to read) */
    size_t off, len;
    unsigned char buf[65536];
};

static int echo_mode;

static void drop(int ep, struct kconn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

/* Returns 0 to keep the connection, -1 when it is over. */
static int serve(struct kconn *c)
{
    for (;;) {
        if (echo_mode && c->len) {
            ssize_t w = write(c->fd, c->buf + c->off, c->len);
            if (w < 0)
                return errno == EAGAIN ? 0 : -1;
            c->off += (size_t)w;
            c->len -= (size_t)w;
            if (c->len)
                continue;
        }
        ssize_t n = read(c->fd, c->buf, sizeof c->buf);
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        if (n == 0) {
            if (!echo_mode) {
                uint8_t d[32];
                char hex[65], line[128];
                unsigned long long bytes = c->sha.bytes;
                sf_sha256_final(&c->sha, d);
                sf_sha256_hex(d, hex);
                int l = snprintf(line, sizeof line, "%llu %s\n", bytes, hex);
                /* A short line into an empty send buffer: one write takes it. */
                if (write(c->fd, line, (size_t)l) != l)
                    return -1;
            }
            shutdown(c->fd, SHUT_WR);
            return -1;
        }
        if (echo_mode) {
            c->off = 0;
            c->len = (size_t)n;
        } else {
            sf_sha256_update(&c->sha, c->buf, (size_t)n);
        }
    }
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    if (argc == 2 && sf_version_arg(argv[1])) {
        sf_version_print(stdout, "bench-kserve");
        return fflush(stdout) ? 1 : 0;
    }
    if (argc != 4 || inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1 || !atoi(argv[2]) ||
        (strcmp(argv[3], "echo") && strcmp(argv[3], "sink"))) {
        fprintf(stderr, "usage: bench-kserve ADDR PORT echo|sink\n");
        return 2;
    }
    sa.sin_port = htons((uint16_t)atoi(argv[2]));
    echo_mode = !strcmp(argv[3], "echo");
    int one = 1;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int ep = epoll_create1(0);
    if (l < 0 || ep < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 128) < 0) {
        perror("bench-kserve");
        return 1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) < 0) {
        perror("bench-kserve: epoll_ctl");
        return 1;
    }
    printf("bench-kserve: %s on %s:%s\n", argv[3], argv[1], argv[2]);
    fflush(stdout);
    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(ep, evs, 64, -1);
        if (n < 0 && errno != EINTR) {
            perror("bench-kserve: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct kconn *c = evs[i].data.ptr;
            if (c) {
                if (serve(c) < 0)
                    drop(ep, c);
                continue;
            }
            int fd;
            while ((fd = accept4(l, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                c = calloc(1, sizeof *c);
                struct epoll_event cev = {.events = EPOLLIN | EPOLLOUT | EPOLLET};
                cev.data.ptr = c;
                if (!c || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev) < 0) {
                    free(c);
                    close(fd);
                    continue;
                }
                c->fd = fd;
                sf_sha256_init(&c->sha);
                if (serve(c) < 0)
                    drop(ep, c);
            }
        }
    }
}
