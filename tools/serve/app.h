/* synfin-serve's applications on synfin's stack: echo, discard, sink and http. */
#ifndef SYNFIN_SERVE_APP_H
#define SYNFIN_SERVE_APP_H

#include <stddef.h>
#include <stdint.h>

#include "tcp/tcp.h"

enum app_mode { MODE_ECHO, MODE_DISCARD, MODE_SINK, MODE_HTTP };

struct aconn;

struct app {
    enum app_mode mode;
    const char *body; /* http mode: the response body */
    size_t body_len;
    struct sf_conn *listener;
    struct aconn *conns; /* open connections, for draining */
    uint64_t accepted, open, requests, resets_sent;
    int draining;
};

/* Parses "echo", "discard", "sink", "http"; -1 if none of them. */
int app_mode_parse(const char *s);
/* The listener's handler: accepts connections and serves them. */
void app_on_listener(struct sf_conn *l, unsigned ev, void *user);
/* Stops accepting and closes every connection gracefully (after what it owes). */
void app_drain(struct app *a);

#endif
