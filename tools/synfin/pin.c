/* cpu_map at run time (pin.h). */
#include "pin.h"

#include <errno.h>
#include <pthread.h>

int pin_threads(const struct lb_config *c, struct workers *w, const cpu_set_t *all, int *pinned)
{
    if (!c->ncpu_map && !*pinned)
        return 0;
    *pinned = c->ncpu_map > 0;
    for (uint32_t t = 0; t < c->threads; t++) {
        pthread_t tid;
        if (t == 0)
            tid = pthread_self();
        else if (workers_thread(w, t, &tid) < 0)
            continue; /* its loop has ended */
        cpu_set_t set;
        if (!lb_config_cpu_set(c, t, &set))
            set = *all;
        int rc = pthread_setaffinity_np(tid, sizeof set, &set);
        if (rc != 0) {
            errno = rc;
            return (int)t + 1;
        }
    }
    return 0;
}
