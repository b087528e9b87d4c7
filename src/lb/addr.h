/* Socket addresses as the config and logs write them: 127.0.0.1:8080, [::1]:8080. */
#ifndef SYNFIN_LB_ADDR_H
#define SYNFIN_LB_ADDR_H

#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

struct lb_addr {
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } u;
    socklen_t len;
};

#define LB_ADDR_STRLEN 56

/* Parses "ip:port" or "[ip6]:port". need_port=0 also accepts a bare address (port 0), an
 * IPv6 one with or without brackets.
 * Returns 0, or -1 with a static message in *why. */
int lb_addr_parse(struct lb_addr *a, const char *s, int need_port, const char **why);
/* Formats as parsed ("127.0.0.1:80", "[::1]:80"); returns buf. */
char *lb_addr_format(const struct lb_addr *a, char *buf, size_t len);
/* Formats the address without the port. */
char *lb_addr_host(const struct lb_addr *a, char *buf, size_t len);
int lb_addr_equal(const struct lb_addr *a, const struct lb_addr *b);
/* Same host address, ports ignored. */
int lb_addr_same_host(const struct lb_addr *a, const struct lb_addr *b);
uint16_t lb_addr_port(const struct lb_addr *a);
void lb_addr_set_port(struct lb_addr *a, uint16_t port);
/* Bytes of the host address (4 or 16) for hashing; returns the length. */
size_t lb_addr_key(const struct lb_addr *a, const uint8_t **key);
void lb_addr_from_sockaddr(struct lb_addr *a, const struct sockaddr *sa, socklen_t len);
/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 one; others unchanged. */
void lb_addr_unmap(struct lb_addr *out, const struct lb_addr *a);
/* 0.0.0.0 or :: (a wildcard listener; as a destination, the local host). */
int lb_addr_is_any(const struct lb_addr *a);
/* 127.0.0.0/8, ::1, or ::ffff:127.x.y.z. */
int lb_addr_is_loopback(const struct lb_addr *a);
/* The same host address once IPv4-mapped IPv6 addresses are read as IPv4 (ports ignored). */
int lb_addr_same_host_unmapped(const struct lb_addr *a, const struct lb_addr *b);

#endif
