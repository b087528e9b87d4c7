/* An http session: a client connection in `mode http`, its requests one at a time, each sent
 * to a server chosen for it over a pooled or new server connection (docs/lb.md, "HTTP mode").
 *
 * It is a struct lb_session (the session list, the admin listing, drain and kill see it as
 * any other) whose `http` holds the message state. Its two pipes are its input buffers:
 * s->up holds what the client sent (the request being served and any pipelined after it),
 * s->down what the server sent; heads are parsed in place (src/http/h1.h) and bodies
 * stream through them, bounded (back-pressure both ways, never a whole body held). An
 * Upgrade answered 101, or a CONNECT answered 2xx, turns it into a layer-4 session with
 * whatever is buffered still to go (lb_session_tunnel).
 *
 * Split by concern: http_session.c is the life of a client connection (requests, timers,
 * answers synfin makes itself, the close), http_server.c the server side of a request
 * (choice, pool, connect, retry), http_exchange.c the bytes of one exchange (heads
 * rewritten, bodies scanned and relayed). Every function that can end the session returns
 * -1 when it did (s is gone), 0 otherwise. */
#ifndef SYNFIN_LB_HTTP_SESSION_H
#define SYNFIN_LB_HTTP_SESSION_H

#include "http/h1.h"
#include "lb/pool.h"
#include "lb/session.h"
#include "util/strbuf.h"

/* Where a client connection is. */
enum lb_http_phase {
    LB_H_IDLE,     /* between requests: nothing of the next one read yet */
    LB_H_HEAD,     /* reading a request head */
    LB_H_SERVER,   /* the head is in: queued for a server, or connecting to one */
    LB_H_EXCHANGE, /* request going out, response coming back */
    LB_H_ANSWER,   /* writing a response synfin makes itself (400, 502, 503, 504, 408) */
    LB_H_LINGER,   /* the last response is out: waiting for the client's FIN */
};

struct lb_http {
    int phase;              /* enum lb_http_phase */
    uint32_t nreq;          /* requests begun on this client connection */
    struct http_limits lim; /* of request and response heads */
    int end_cause;          /* ANSWER, LINGER: the session's cause once it closes */

    /* The request being served. Its head is at the start of s->up (head_len bytes) until a
     * server connection takes it; then it is rewritten into req_out and dropped. Its body
     * bytes follow: [0, u_sent) written to the server and kept while a retry could need
     * them, then [u_sent, u_sent + u_scan) scanned and not yet written. */
    int method, minor;
    uint32_t head_len;
    unsigned req_ka : 1;      /* the client allows another request after this one */
    unsigned req_upgrade : 1; /* it asks for a tunnel (Upgrade, or CONNECT) */
    unsigned req_done : 1;    /* its body has been scanned to its end */
    unsigned req_sent : 1;    /* ... and written whole to the server */
    unsigned replay_lost : 1; /* bytes of its body were dropped: no retry */
    unsigned close_after : 1; /* the client connection closes after this response */
    struct http_body rb;
    struct sf_strbuf req_out;
    size_t req_out_sent;
    uint32_t u_sent, u_scan;
    uint64_t req_bytes; /* written to the server for this request */

    /* Its response. s->down holds [0, d_scan) scanned, not yet written to the client,
     * then what is not scanned yet. */
    int status;
    unsigned resp_started : 1; /* a byte of it came back */
    unsigned resp_head : 1;    /* its final head has been parsed */
    unsigned resp_done : 1;    /* ... and its body scanned to its end */
    unsigned keep_client : 1;  /* it tells the client the connection stays */
    unsigned server_ka : 1;    /* the server keeps its connection open after it */
    unsigned tunnel : 1;       /* 101, or 2xx to CONNECT: a tunnel once the head is out */
    unsigned server_eof : 1;   /* the server's FIN was read */
    int server_err;            /* ... or its connection failed (errno) */
    struct http_body sb;
    struct sf_strbuf resp_out; /* heads for the client (interim ones, then the final one) */
    size_t resp_out_sent;
    uint32_t d_scan;
    uint64_t resp_bytes; /* written to the client for this request */
    const char *canned;  /* a response synfin answers itself (ANSWER) */
    size_t canned_len, canned_sent;

    /* The server connection of this request, and the client's own idle one (reuse never). */
    struct lb_pconn *pc, *own;
    unsigned reused : 1;  /* pc was idle before this request (pooled, or its own) */
    unsigned retried : 1; /* the one retry on a new connection was used */
    unsigned client_eof : 1;
    unsigned draining : 1; /* synfin drains: close after the response in flight */

    /* Times of this request (loop ns), for its log line: idle since, first byte, head in,
     * queued, connect begun, connection in hand, head sent, response head in. */
    uint64_t t_idle, t_first, t_head, t_queue, t_conn, t_conn_done, t_sent, t_resp, t_linger;
};

/* session.c calls these for sessions of http frontends. */
void lb_http_start(struct lb_session *s);
void lb_http_kill(struct lb_session *s, int cause);
/* Out of the backend queue with a server (NULL: none is usable any more). */
void lb_http_dequeued(struct lb_session *s, struct lb_server *srv);
/* SIGTERM: an idle client connection closes now, the others after the response in flight. */
void lb_http_drain(struct lb_session *s);

/* http_session.c, for the other two. */
void lb_http_run(struct lb_session *s); /* makes what progress events allow */
/* Answers status itself (the request's log line says so), then closes with cause; a server
 * connection in use is closed for pc_cause. */
int lb_http_fail(struct lb_session *s, int status, int cause, int pc_cause);
/* The response is out whole: next request, or the close. */
int lb_http_request_done(struct lb_session *s);
/* Ends the session now: the client connection with RST if abort_client, else FIN; a server
 * connection in use is closed for pc_cause. */
void lb_http_end(struct lb_session *s, int cause, int abort_client, int pc_cause);
/* A scratch head for parsing (one per thread: used at once, never kept). */
struct http_head *lb_http_scratch(void);

/* http_server.c */
int lb_http_server_start(struct lb_session *s, struct lb_server *chosen);
/* The server connection failed, closed or was reset before any byte of the response:
 * retried once on a new connection if the rules allow (docs/lb.md). 1 if not allowed. */
int lb_http_server_retry(struct lb_session *s, int pc_cause);
/* The request is over (keep: its connection may serve another): connection to the pool,
 * to the client's own, or closed for pc_cause; the server slot given back. */
void lb_http_server_release(struct lb_session *s, int keep, int pc_cause);
/* Waiting for room to connect: try again, or give up (session timer). */
int lb_http_server_room_retry(struct lb_session *s);
/* The connect timed out. */
int lb_http_server_connect_timeout(struct lb_session *s);
/* Whether the server is to keep the connection after this request (Connection header). */
int lb_http_server_keepalive(const struct lb_session *s);

/* http_exchange.c */
/* The head still in s->up, rewritten for the server into req_out and dropped. -1: no memory. */
int lb_http_request_out(struct lb_session *s);
int lb_http_exchange(struct lb_session *s, int *moved);

#endif
