/* The bytes of one http exchange: the request head rewritten for the server (hop-by-hop
 * fields out, the forwarding fields in), the request body scanned as it streams to the
 * server, the response head parsed (interim ones relayed, a malformed one answered 502) and
 * rewritten for the client, its body scanned as it streams back. Each body passes through a
 * bounded buffer unchanged: http_body_scan only says where it ends. */
#include "lb/http_session.h"
#include "lb/counter.h"
#include "lb/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A request still sendable again: nothing of the response seen, its body bytes all kept. */
static int replayable(const struct lb_http *h)
{
    return h->reused && !h->retried && !h->resp_started && !h->replay_lost &&
           http_method_idempotent(h->method);
}

static void drop_front(struct lb_session *s, struct lb_pipe *p, uint32_t n)
{
    p->off += n;
    p->len -= n;
    if (!p->len)
        lb_pipe_release(p, &s->lb->pool);
}

int lb_http_request_out(struct lb_session *s)
{
    struct lb_http *h = s->http;
    struct lb_pipe *p = &s->up;
    if (!h->head_len)
        return 0; /* a retry: req_out holds it still */
    struct http_head *hd = lb_http_scratch();
    const char *buf = p->buf->data + p->off;
    if (http_parse_head(buf, h->head_len, HTTP_REQUEST, 0, &h->lim, hd) != (int)h->head_len)
        return -1; /* the same bytes parsed before: cannot happen */
    const struct lb_http_fe_conf *c = &s->fe->conf.http;
    char addr[LB_ADDR_STRLEN], fwd[LB_ADDR_STRLEN + 32], via[32];
    struct lb_addr client;
    lb_addr_unmap(&client, &s->client);
    lb_addr_host(&client, addr, sizeof addr);
    struct http_rewrite rw;
    memset(&rw, 0, sizeof rw);
    rw.keep_alive = lb_http_server_keepalive(s);
    rw.upgrade = hd->upgrade;
    if (c->forwarded_for)
        rw.xff = addr;
    if (c->forwarded_proto)
        rw.proto = "http";
    if (c->forwarded) { /* RFC 7239 6: an IPv6 node is quoted and bracketed */
        int v6 = client.u.sa.sa_family == AF_INET6;
        snprintf(fwd, sizeof fwd, v6 ? "for=\"[%s]\";proto=http" : "for=%s;proto=http", addr);
        rw.forwarded = fwd;
    }
    if (c->via) {
        snprintf(via, sizeof via, "1.%d synfin", h->minor);
        rw.via = via;
    }
    h->req_out.len = 0;
    h->req_out_sent = 0;
    if (http_head_write(buf, hd, &rw, &h->req_out) < 0 || h->req_out.failed)
        return -1;
    drop_front(s, p, h->head_len);
    h->head_len = 0;
    return 0;
}

/* Writes to the server; -errno of a failure is kept for server_gone. Returns bytes or 0. */
static size_t to_server(struct lb_session *s, const char *b, size_t n, int *moved)
{
    struct lb_http *h = s->http;
    ssize_t w = lb_conn_write(s->sc, b, n);
    if (w == -EAGAIN) {
        s->ss.wr = 0;
        return 0;
    }
    if (w < 0) {
        h->server_err = (int)-w;
        s->ss.wr = 0;
        return 0;
    }
    h->req_bytes += (uint64_t)w;
    s->up.bytes += (uint64_t)w;
    s->last_s = sf_loop_now(s->lb->loop);
    *moved = 1;
    if ((size_t)w < n)
        s->ss.wr = 0;
    return (size_t)w;
}

/* The request body broke its own framing halfway (a bad chunk): what went out cannot be
 * taken back, so the server connection goes; the client gets a 400 if it got nothing yet. */
static int bad_request_body(struct lb_session *s, int err)
{
    LB_COUNT_INC(s->fe->http_errors[err < HTTP_E_COUNT ? err : 0]);
    if (!s->http->resp_started)
        return lb_http_fail(s, 400, LB_CAUSE_BAD_REQUEST, LB_PC_ABORTED);
    lb_http_end(s, LB_CAUSE_BAD_REQUEST, 1, LB_PC_ABORTED);
    return -1;
}

static int send_request(struct lb_session *s, int *moved)
{
    struct lb_http *h = s->http;
    struct lb_pipe *p = &s->up;
    while (h->req_out_sent < h->req_out.len && s->ss.wr && !h->server_err)
        h->req_out_sent +=
            to_server(s, h->req_out.p + h->req_out_sent, h->req_out.len - h->req_out_sent, moved);
    if (h->req_out_sent < h->req_out.len || h->server_err)
        return 0;
    if (!h->t_sent)
        h->t_sent = sf_loop_now(s->lb->loop);
    uint32_t seen = h->u_sent + h->u_scan;
    if (!h->req_done && p->len > seen) {
        int done = 0;
        ssize_t n = http_body_scan(&h->rb, p->buf->data + p->off + seen, p->len - seen, &done);
        if (n < 0)
            return bad_request_body(s, (int)-n);
        h->u_scan += (uint32_t)n;
        h->req_done = done != 0;
    }
    while (h->u_scan && s->ss.wr && !h->server_err) {
        size_t w = to_server(s, p->buf->data + p->off + h->u_sent, h->u_scan, moved);
        h->u_scan -= (uint32_t)w;
        h->u_sent += (uint32_t)w;
    }
    if (h->u_sent && !replayable(h)) {
        uint32_t n = h->u_sent;
        h->u_sent = 0;
        drop_front(s, p, n);
    }
    h->req_sent = h->req_done && !h->u_scan;
    if (h->client_eof && !h->req_done && p->len == h->u_sent + h->u_scan) {
        /* The client closed before its request body ended. */
        lb_http_end(s, LB_CAUSE_CLIENT_FIN, 0, LB_PC_ABORTED);
        return -1;
    }
    return 0;
}

static int read_server(struct lb_session *s, int *moved)
{
    struct lb_http *h = s->http;
    struct lb_pipe *p = &s->down;
    while (s->ss.rd && !h->server_eof && !h->server_err && !h->resp_done) {
        if (!p->buf) {
            p->buf = lb_buf_get(&s->lb->pool, p->cap);
            if (!p->buf) {
                lb_http_end(s, LB_CAUSE_ERROR, 1, LB_PC_ABORTED);
                return -1;
            }
            p->off = p->len = 0;
        }
        if (p->off + p->len == p->cap && p->off > 0) {
            memmove(p->buf->data, p->buf->data + p->off, p->len);
            p->off = 0;
        }
        uint32_t room = p->cap - p->off - p->len;
        if (!room)
            break; /* full: back-pressure on the server */
        ssize_t n = lb_conn_read(s->sc, p->buf->data + p->off + p->len, room);
        if (n > 0) {
            p->len += (uint32_t)n;
            h->resp_started = 1;
            *moved = 1;
            s->last_s = sf_loop_now(s->lb->loop);
            if ((uint32_t)n < room && !s->ss.err) {
                s->ss.rd = 0;
                h->server_eof = s->ss.hup;
            }
        } else if (n == 0) {
            h->server_eof = 1;
            s->ss.rd = 0;
        } else if (n == -EAGAIN) {
            s->ss.rd = 0;
        } else {
            h->server_err = (int)-n;
            s->ss.rd = 0;
        }
    }
    if (!p->len)
        lb_pipe_release(p, &s->lb->pool);
    return 0;
}

/* http_head_write says `Connection: keep-alive` only in an HTTP/1.0 message (a persistent
 * 1.1 needs nothing), but an HTTP/1.0 client keeps its connection only when the answer says
 * so, whatever the answer's own version (RFC 9112 C.2.2): the field is added before the
 * head's empty line. */
static int say_keep_alive(struct sf_strbuf *out)
{
    static const char ka[] = "Connection: keep-alive\r\n\r\n";
    if (out->len < 2)
        return -1;
    out->len -= 2;
    sf_sb_append(out, ka, sizeof ka - 1);
    return out->failed ? -1 : 0;
}

/* The final response head in hd, for the client. */
static int response_final(struct lb_session *s, const char *buf, const struct http_head *hd)
{
    struct lb_http *h = s->http;
    h->status = hd->status;
    h->t_resp = sf_loop_now(s->lb->loop);
    if (hd->body == HTTP_BODY_TUNNEL) {
        if (!h->req_upgrade) /* a 101 to a request that asked for nothing */
            return lb_http_fail(s, 502, LB_CAUSE_BAD_RESPONSE, LB_PC_ABORTED);
        h->tunnel = 1;
    }
    h->server_ka = hd->keep_alive && hd->body != HTTP_BODY_EOF && !h->tunnel;
    h->keep_client = !h->close_after && hd->body != HTTP_BODY_EOF && h->req_done && !h->draining &&
                     !h->client_eof && !h->tunnel;
    char via[32];
    struct http_rewrite rw;
    memset(&rw, 0, sizeof rw);
    rw.keep_alive = h->keep_client || h->tunnel;
    rw.upgrade = h->tunnel && hd->status == 101;
    if (s->fe->conf.http.via) {
        snprintf(via, sizeof via, "1.%d synfin", hd->minor);
        rw.via = via;
    }
    if (http_head_write(buf, hd, &rw, &h->resp_out) < 0 ||
        (h->keep_client && h->minor == 0 && hd->minor == 1 && say_keep_alive(&h->resp_out) < 0)) {
        lb_http_end(s, LB_CAUSE_ERROR, 1, LB_PC_ABORTED);
        return -1;
    }
    http_body_init(&h->sb, hd, &h->lim);
    h->resp_done = hd->body == HTTP_BODY_NONE || h->tunnel;
    h->resp_head = 1;
    return 0;
}

static int response_head(struct lb_session *s, int *moved)
{
    struct lb_http *h = s->http;
    struct lb_pipe *p = &s->down;
    while (!h->resp_head && p->len) {
        struct http_head *hd = lb_http_scratch();
        const char *buf = p->buf->data + p->off;
        int r = http_parse_head(buf, p->len, HTTP_RESPONSE, h->method, &h->lim, hd);
        if (r == 0)
            return 0;
        *moved = 1;
        if (r < 0) {
            LB_COUNT_INC(s->fe->http_errors[-r < HTTP_E_COUNT ? -r : 0]);
            return lb_http_fail(s, 502, LB_CAUSE_BAD_RESPONSE, LB_PC_ABORTED);
        }
        if (hd->interim) { /* 100 Continue, 103 Early Hints: relayed, the final one follows */
            sf_sb_append(&h->resp_out, buf, (size_t)r);
        } else if (response_final(s, buf, hd) < 0) {
            return -1;
        } else if (h->phase != LB_H_EXCHANGE) {
            return 0;
        }
        drop_front(s, p, (uint32_t)r);
    }
    return 0;
}

static int scan_response(struct lb_session *s, int *moved)
{
    struct lb_http *h = s->http;
    struct lb_pipe *p = &s->down;
    if (!h->resp_done && p->len > h->d_scan) {
        int done = 0;
        ssize_t n =
            http_body_scan(&h->sb, p->buf->data + p->off + h->d_scan, p->len - h->d_scan, &done);
        if (n < 0) { /* its head is out already: nothing to do but cut the client off */
            LB_COUNT_INC(s->fe->http_errors[-n < HTTP_E_COUNT ? -n : 0]);
            lb_http_end(s, LB_CAUSE_BAD_RESPONSE, 1, LB_PC_ABORTED);
            return -1;
        }
        h->d_scan += (uint32_t)n;
        h->resp_done = done != 0;
        *moved |= n > 0;
    }
    /* A body without a length ends with the connection. */
    if (!h->resp_done && h->server_eof && h->sb.kind == HTTP_BODY_EOF && h->d_scan == p->len)
        h->resp_done = 1;
    return 0;
}

/* The server connection ended (FIN, RST, a failed write) before the response did. */
static int server_gone(struct lb_session *s)
{
    struct lb_http *h = s->http;
    int pcc = h->server_err ? LB_PC_SERVER_RST : LB_PC_SERVER_CLOSE;
    int cause = h->server_err ? LB_CAUSE_SERVER_RST : LB_CAUSE_SERVER_FIN;
    if (!h->resp_started) {
        int r = lb_http_server_retry(s, pcc);
        if (r <= 0)
            return r;
    }
    if (!h->resp_head && !h->resp_bytes)
        return lb_http_fail(s, 502, cause, pcc);
    lb_http_end(s, cause, 1, pcc);
    return -1;
}

/* Body bytes already read go out in the same write as the head before them, as far as the
 * head's buffer has room (it is never grown for them): a small response then costs the
 * client one segment and one wake-up, not two (a write each was a third of the system calls
 * of a keep-alive request). */
static void body_after_head(struct lb_session *s)
{
    struct lb_http *h = s->http;
    struct sf_strbuf *o = &h->resp_out;
    if (o->failed || h->resp_out_sent >= o->len || !h->d_scan || o->len + 1 >= o->cap)
        return;
    size_t room = o->cap - o->len - 1;
    uint32_t n = h->d_scan < room ? h->d_scan : (uint32_t)room;
    sf_sb_append(o, s->down.buf->data + s->down.off, n);
    h->d_scan -= n;
    drop_front(s, &s->down, n);
}

static int write_client(struct lb_session *s, int *moved)
{
    struct lb_http *h = s->http;
    struct lb_pipe *p = &s->down;
    body_after_head(s);
    for (;;) {
        const char *b;
        size_t n;
        if (h->resp_out_sent < h->resp_out.len) {
            b = h->resp_out.p + h->resp_out_sent;
            n = h->resp_out.len - h->resp_out_sent;
        } else if (h->d_scan) {
            b = p->buf->data + p->off;
            n = h->d_scan;
        } else {
            break;
        }
        if (!s->cs.wr)
            break;
        ssize_t w = lb_conn_write(s->cc, b, n);
        if (w == -EAGAIN) {
            s->cs.wr = 0;
            break;
        }
        if (w < 0) {
            lb_http_end(s, LB_CAUSE_CLIENT_RST, 1, LB_PC_ABORTED);
            return -1;
        }
        *moved = 1;
        h->resp_bytes += (uint64_t)w;
        s->down.bytes += (uint64_t)w;
        s->last_c = sf_loop_now(s->lb->loop);
        if (h->resp_out_sent < h->resp_out.len) {
            h->resp_out_sent += (size_t)w;
            if (h->resp_out_sent == h->resp_out.len)
                h->resp_out.len = h->resp_out_sent = 0;
        } else {
            h->d_scan -= (uint32_t)w;
            drop_front(s, p, (uint32_t)w);
        }
        if ((size_t)w < n)
            s->cs.wr = 0;
    }
    return 0;
}

/* The 101 (or CONNECT's 2xx) is out: from here on bytes both ways, no HTTP. The session
 * becomes a layer-4 one; what each pipe holds is still to be written. */
static int to_tunnel(struct lb_session *s)
{
    struct lb_http *h = s->http;
    struct lb_server *srv = s->srv;
    LB_COUNT_INC(s->fe->http_status[h->status / 100]);
    LB_COUNT_INC(s->be->http_status[h->status / 100]);
    lb_log_request(s->lb, s);
    /* The session's end adds all it moved to the server: take off what earlier requests
     * (counted when each ended, maybe on other servers) moved. */
    LB_COUNT_SUB(srv->bytes_in, s->up.bytes - h->req_bytes);
    LB_COUNT_SUB(srv->bytes_out, s->down.bytes - h->resp_bytes);
    s->sc = lb_pconn_detach(h->pc);
    h->pc = NULL;
    if (h->u_sent)
        drop_front(s, &s->up, h->u_sent);
    s->up.eof = h->client_eof;
    s->down.eof = h->server_eof;
    if (h->own)
        lb_pconn_close(h->own, LB_PC_PRIVATE);
    sf_sb_free(&h->req_out);
    sf_sb_free(&h->resp_out);
    free(h);
    s->http = NULL;
    lb_session_tunnel(s);
    return -1;
}

int lb_http_exchange(struct lb_session *s, int *moved)
{
    struct lb_http *h = s->http;
    if (send_request(s, moved) < 0 || read_server(s, moved) < 0 || response_head(s, moved) < 0)
        return -1;
    if (h->phase != LB_H_EXCHANGE)
        return 0;
    if (h->resp_head && scan_response(s, moved) < 0)
        return -1;
    if ((h->server_eof || h->server_err) && !h->resp_done)
        return server_gone(s);
    if (write_client(s, moved) < 0)
        return -1;
    if (h->resp_done && !h->resp_out.len && !h->d_scan) {
        *moved = 1;
        return h->tunnel ? to_tunnel(s) : lb_http_request_done(s);
    }
    return 0;
}
