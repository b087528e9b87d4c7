/* The service manager's view of synfin: readiness, reloads and stopping, through
 * libsystemd's sd_notify (a no-op unless NOTIFY_SOCKET is set, as for a Type=notify unit). */
#ifndef SYNFIN_TOOLS_NOTIFY_H
#define SYNFIN_TOOLS_NOTIFY_H

/* READY=1 with a STATUS line: every listener accepts. */
void notify_ready(const char *status);
/* RELOADING=1 (with MONOTONIC_USEC, as systemd 253's notify-reload asks) before a reload. */
void notify_reloading(void);
/* STOPPING=1 with a STATUS line: draining or stopping. */
void notify_stopping(const char *status);

#endif
