#include "from.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_get.h"
#include "json_out.h"
#include "json_read.h"
#include "report.h"

/* The admin listener answers on loopback at once; five seconds means it is not answering. */
#define FROM_TIMEOUT_MS 5000
/* The stats document grows with sessions listed in it; we need only its head, but parse it
 * all to be sure it is whole. */
#define FROM_MAX_BYTES (8u << 20)

enum { STOP_BAD = 1 };

struct reader {
    struct st_from_stats *out;
    int version_seen, transport_seen, states_seen;
    unsigned state_seen; /* bit per state */
    char *err;
    size_t errlen;
};

static int bad(struct reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, r->errlen, fmt, ap);
    va_end(ap);
    return STOP_BAD;
}

static int top_member(struct reader *r, const struct st_jstep *k, const struct st_jval *v)
{
    if (st_json_key_is(k->key, k->key_len, "version")) {
        uint64_t n;
        if (r->version_seen++)
            return bad(r, "\"version\" appears twice");
        if (st_json_uint(v, &n))
            return bad(r, "\"version\" is not a whole number");
        if (n != 1)
            return bad(r, "stats version %llu is not one this synfin-stat reads (1)",
                       (unsigned long long)n);
    } else if (st_json_key_is(k->key, k->key_len, "transport")) {
        if (r->transport_seen++)
            return bad(r, "\"transport\" appears twice");
        if (v->type != ST_J_STRING)
            return bad(r, "\"transport\" is not a string");
        if (st_json_unescape(v->raw, v->len, r->out->transport, sizeof r->out->transport) <= 0)
            return bad(r, "\"transport\" is empty or too long");
    } else if (st_json_key_is(k->key, k->key_len, "tcp_states")) {
        if (r->states_seen++)
            return bad(r, "\"tcp_states\" appears twice");
        if (v->type != ST_J_OBJECT)
            return bad(r, "\"tcp_states\" is not an object");
    }
    return 0; /* other members are the load balancer's business */
}

static int state_member(struct reader *r, const struct st_jstep *k, const struct st_jval *v)
{
    char name[32];
    if (st_json_unescape(k->key, k->key_len, name, sizeof name) < 0)
        return 0;
    int s = st_state_from_name(name, strlen(name));
    if (s < 0)
        return 0; /* a state this tool does not know: not one of the eleven */
    if (r->state_seen & (1u << s))
        return bad(r, "tcp_states.%s appears twice", name);
    r->state_seen |= 1u << s;
    if (st_json_uint(v, &r->out->hist.n[s]))
        return bad(r, "tcp_states.%s is not a non-negative whole number", name);
    return 0;
}

static int on_value(const struct st_jstep *path, int depth, const struct st_jval *v, void *arg)
{
    struct reader *r = arg;
    if (depth == 0)
        return v->type == ST_J_OBJECT ? 0 : bad(r, "the document is not an object");
    if (depth == 1)
        return top_member(r, &path[0], v);
    if (depth == 2 && path[0].key && st_json_key_is(path[0].key, path[0].key_len, "tcp_states"))
        return state_member(r, &path[1], v);
    return 0;
}

int st_from_parse(const char *json, size_t len, struct st_from_stats *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct reader r = {.out = out, .err = err, .errlen = errlen};
    char why[256];
    int rc = st_json_parse(json, len, on_value, &r, why, sizeof why);
    if (rc == STOP_BAD)
        return -1;
    if (rc) {
        snprintf(err, errlen, "the stats are not valid JSON: %s", why);
        return -1;
    }
    const char *missing = !r.version_seen     ? "\"version\""
                          : !r.transport_seen ? "\"transport\""
                          : !r.states_seen    ? "\"tcp_states\""
                                              : NULL;
    if (missing) {
        snprintf(err, errlen, "no %s in the stats", missing);
        return -1;
    }
    for (int s = 0; s < ST_NSTATES; s++) {
        if (!(r.state_seen & (1u << s))) {
            snprintf(err, errlen, "tcp_states has no %s", st_state_name(s));
            return -1;
        }
    }
    return 0;
}

int st_from_fetch(const char *target, struct st_from_stats *out, char *err, size_t errlen)
{
    struct st_url u;
    if (st_url_parse(target, &u, err, errlen))
        return -1;
    char *buf = NULL;
    size_t len = 0;
    if (st_http_get(&u, FROM_TIMEOUT_MS, FROM_MAX_BYTES, &buf, &len, err, errlen))
        return -1;
    struct st_http_response resp;
    char why[256];
    int rc = -1;
    if (st_http_parse_response(buf, len, &resp, why, sizeof why)) {
        snprintf(err, errlen, "bad HTTP response from %s: %s", target, why);
    } else if (resp.status != 200) {
        snprintf(err, errlen, "%s answered HTTP %d %s", target, resp.status, resp.reason);
    } else if (st_from_parse(resp.body, resp.body_len, out, why, sizeof why)) {
        snprintf(err, errlen, "%s: %s", target, why);
    } else {
        rc = 0;
    }
    free(buf);
    return rc;
}

int st_from_once(const struct st_opts *o)
{
    struct st_from_stats st;
    char err[600];
    if (st_from_fetch(o->from, &st, err, sizeof err)) {
        fprintf(stderr, "synfin-stat: %s\n", err);
        return 2;
    }
    if (o->json) {
        struct st_json j;
        st_json_init(&j, stdout);
        st_json_object(&j, NULL);
        st_json_header(&j, o, o->from);
        st_json_string(&j, "transport", st.transport);
        st_json_hist(&j, "tcp_states", &st.hist);
        st_json_u64(&j, "total", st_hist_total(&st.hist));
        st_json_end(&j, '}');
    } else {
        st_print_hist(stdout, &st.hist);
    }
    return 0;
}
