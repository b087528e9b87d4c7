/* Entering a network namespace by name, as `ip netns` names them (/run/netns/NAME). */
#ifndef SYNFIN_DIAG_NETNS_H
#define SYNFIN_DIAG_NETNS_H

/* Moves the calling thread into network namespace NAME: a name made by `ip netns add`
 * (/run/netns/NAME), or an absolute path to a namespace file (/proc/PID/ns/net). After it,
 * sock_diag dumps and /proc/sys/net reads see that namespace. Returns 0 or -errno:
 * -EINVAL for a malformed name or a file that is not a network namespace, -ENOENT when there
 * is no such namespace, -EPERM without CAP_SYS_ADMIN. */
int sf_netns_enter(const char *name);

/* The file sf_netns_enter opens for name, written into buf; -EINVAL for a name that is empty,
 * ".", "..", contains a '/' without being an absolute path, or does not fit. */
int sf_netns_path(const char *name, char *buf, unsigned long size);

#endif
