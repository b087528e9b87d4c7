/* Shell lines of packetdrill scripts (`sysctl -q net.ipv4.tcp_sack=0`, FreeBSD's `sysctl
 * net.inet.tcp.sack.enable=0`, packetdrill's own `set_sysctls.py` and `defaults.sh`): never
 * run, but read for the TCP settings they make and applied to the engine's configuration.
 * The table of names is in shell.c and docs/drill.md. */
#ifndef SYNFIN_DRILL_SHELL_H
#define SYNFIN_DRILL_SHELL_H

#include <stddef.h>

#include "tcp/config.h"

/* Applies what cmd would set to cfg. dir is the script's directory, for the scripts cmd
 * names. Returns 0 when every part of cmd is understood, 1 with the part that is not (and
 * why) in why: the script needs what synfin-drill cannot give it. */
int dr_shell_apply(const char *cmd, const char *dir, struct sf_tcp_config *cfg, char *why,
                   size_t whylen);

#endif
