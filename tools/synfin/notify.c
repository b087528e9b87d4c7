/* sd_notify readiness. Only this file knows libsystemd: the rest of synfin runs the same
 * whether a service manager listens or not. A failed notification is not an error: the
 * service manager times the unit out and says so, which is what it is for. */
#include "notify.h"

#include <systemd/sd-daemon.h>
#include <time.h>

void notify_ready(const char *status)
{
    sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void notify_reloading(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
               (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
}

void notify_stopping(const char *status)
{
    sd_notifyf(0, "STOPPING=1\nSTATUS=%s", status);
}
