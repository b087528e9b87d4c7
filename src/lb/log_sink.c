/* A stdio cookie stream between the log writers (log.c, which keep their fprintf and their
 * once-per-batch flush) and where lines go when they need reshaping: as JSON, without the
 * time stamp under the journal, or one syslog datagram per line. Lines are whole when they
 * are reshaped: the stream's writes are cut anywhere, so it keeps the partial last line. */
#include "lb/log_sink.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#define LINE_MAX_BYTES 4096 /* a longer line is cut there: one datagram, one JSON object */

struct sink {
    FILE *out; /* NULL: syslog */
    int out_owned;
    int json, no_time;
    int fd; /* the syslog socket */
    struct sockaddr_storage to;
    socklen_t tolen;
    int facility, rfc;
    char host[256];
    int pid;
    size_t len;
    int cut; /* the line in progress was cut: drop the rest until its newline */
    char line[LINE_MAX_BYTES];
    char body[2 * LINE_MAX_BYTES + 64];
    char dgram[2 * LINE_MAX_BYTES + 512];
};

int lb_log_stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) < 0)
        return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* ---- key=value to JSON ---- */

struct out {
    char *p;
    size_t len, cap;
    int full;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->len + n >= o->cap) {
        o->full = 1;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void put_json_string(struct out *o, const char *s, size_t n)
{
    put(o, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(o, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(o, esc, 6);
        } else {
            put(o, (const char *)&s[i], 1);
        }
    }
    put(o, "\"", 1);
}

/* A JSON number as written: -?(0|[1-9][0-9]*)(.[0-9]+)? */
static int is_number(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n || s[i] < '0' || s[i] > '9')
        return 0;
    if (s[i] == '0' && i + 1 < n && s[i + 1] != '.')
        return 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i < n && s[i] == '.') {
        if (++i >= n)
            return 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    return i == n;
}

/* Whether the quote at line[i] ends a quoted value: the line ends after it, or the next
 * word is a key (`[a-z_]+=`). A quote inside a message ("'x' is "odd" here") does not. */
static int closing_quote(const char *line, size_t len, size_t i)
{
    if (i + 1 == len)
        return 1;
    if (line[i + 1] != ' ')
        return 0;
    size_t k = i + 2;
    while (k < len && ((line[k] >= 'a' && line[k] <= 'z') || line[k] == '_'))
        k++;
    return k > i + 2 && k < len && line[k] == '=';
}

/* The time stamp ("2026-01-02T03:04:05.000006Z ") a line starts with: its length, or 0. */
static size_t stamp_len(const char *line, size_t len)
{
    if (len < 20 || line[0] < '0' || line[0] > '9' || line[4] != '-' || line[10] != 'T')
        return 0;
    const char *sp = memchr(line, ' ', len);
    return sp && sp[-1] == 'Z' ? (size_t)(sp - line) : 0;
}

int lb_log_line_to_json(const char *line, size_t len, int no_time, char *dst, size_t cap)
{
    struct out o = {dst, 0, cap, 0};
    size_t ts = stamp_len(line, len), i = ts ? ts + 1 : 0;
    int first = 1;
    put(&o, "{", 1);
    if (ts && !no_time) {
        put(&o, "\"time\":", 7);
        put_json_string(&o, line, ts);
        first = 0;
    }
    while (i < len) {
        while (i < len && line[i] == ' ')
            i++;
        if (i >= len)
            break;
        size_t k = i;
        while (i < len && line[i] != '=' && line[i] != ' ')
            i++;
        const char *key = line + k, *val;
        size_t klen = i - k, vlen;
        int quoted = 0;
        if (i < len && line[i] == '=') {
            i++;
            if (i < len && line[i] == '"') {
                /* a quoted value runs to the quote before the next key */
                size_t v = ++i;
                while (i < len && !(line[i] == '"' && closing_quote(line, len, i)))
                    i++;
                val = line + v;
                vlen = i - v;
                if (i < len)
                    i++;
                quoted = 1;
            } else {
                size_t v = i;
                while (i < len && line[i] != ' ')
                    i++;
                val = line + v;
                vlen = i - v;
            }
        } else { /* a word without a key */
            val = key;
            vlen = klen;
            key = "msg";
            klen = 3;
        }
        if (!first)
            put(&o, ",", 1);
        first = 0;
        put_json_string(&o, key, klen);
        put(&o, ":", 1);
        /* request=ID.N is a name, not a number */
        if (!quoted && is_number(val, vlen) && !(klen == 7 && !memcmp(key, "request", 7)))
            put(&o, val, vlen);
        else
            put_json_string(&o, val, vlen);
    }
    put(&o, "}", 1);
    if (o.full)
        return -1;
    dst[o.len] = 0;
    return (int)o.len;
}

/* ---- syslog ---- */

/* warning for what an operator must look at, info for the rest */
static int severity(const char *rest, size_t n)
{
    static const char *const warn[] = {"event=reload_rejected", "event=reload_warning",
                                       "event=fd_exhausted", "event=drain_deadline"};
    for (size_t i = 0; i < sizeof warn / sizeof warn[0]; i++) {
        size_t w = strlen(warn[i]);
        if (n >= w && !memcmp(rest, warn[i], w) && (n == w || rest[w] == ' '))
            return 4;
    }
    return 6;
}

static void send_syslog(struct sink *s, const char *line, size_t len, const char *body, size_t blen)
{
    size_t ts = stamp_len(line, len);
    const char *rest = ts ? line + ts + 1 : line;
    size_t rlen = ts ? len - ts - 1 : len;
    int pri = s->facility * 8 + severity(rest, rlen);
    int n;
    if (s->rfc == 5424) {
        /* MSGID: the line's first key (session, request, event) */
        size_t m = 0;
        while (m < rlen && m < 32 && rest[m] != '=' && rest[m] > ' ' && rest[m] < 0x7f)
            m++;
        n = snprintf(s->dgram, sizeof s->dgram, "<%d>1 %.*s %s synfin %d %.*s - ", pri,
                     ts ? (int)ts : 1, ts ? line : "-", s->host, s->pid, m ? (int)m : 1,
                     m ? rest : "-");
    } else {
        struct timespec now;
        struct tm tm;
        char when[32];
        clock_gettime(CLOCK_REALTIME, &now);
        localtime_r(&now.tv_sec, &tm);
        strftime(when, sizeof when, "%b %e %H:%M:%S", &tm);
        n = snprintf(s->dgram, sizeof s->dgram, "<%d>%s synfin[%d]: ", pri, when, s->pid);
    }
    if (n < 0 || (size_t)n + blen > sizeof s->dgram)
        return;
    memcpy(s->dgram + n, body, blen);
    /* A syslog daemon that is down or slow costs lines, never the event loop. */
    (void)!sendto(s->fd, s->dgram, (size_t)n + blen, MSG_DONTWAIT | MSG_NOSIGNAL,
                  (const struct sockaddr *)&s->to, s->tolen);
}

/* ---- the stream ---- */

static void emit(struct sink *s, const char *line, size_t len)
{
    const char *body = line;
    size_t blen = len;
    if (s->json) {
        int n = lb_log_line_to_json(line, len, s->no_time || !s->out, s->body, sizeof s->body);
        if (n < 0)
            return;
        body = s->body;
        blen = (size_t)n;
    } else if (s->no_time || !s->out) {
        size_t ts = stamp_len(line, len);
        body = ts ? line + ts + 1 : line;
        blen = ts ? len - ts - 1 : len;
    }
    if (!s->out) {
        send_syslog(s, line, len, body, blen);
        return;
    }
    fwrite(body, 1, blen, s->out);
    fputc('\n', s->out);
}

static ssize_t sink_write(void *cookie, const char *buf, size_t size)
{
    struct sink *s = cookie;
    for (size_t i = 0; i < size; i++) {
        if (buf[i] == '\n') {
            if (!s->cut || s->len)
                emit(s, s->line, s->len);
            s->len = 0;
            s->cut = 0;
        } else if (s->len < sizeof s->line) {
            s->line[s->len++] = buf[i];
        } else if (!s->cut) {
            emit(s, s->line, s->len); /* the first LINE_MAX_BYTES of it */
            s->len = 0;
            s->cut = 1;
        }
    }
    if (s->out)
        fflush(s->out);
    return (ssize_t)size;
}

static int sink_close(void *cookie)
{
    struct sink *s = cookie;
    if (s->len)
        emit(s, s->line, s->len);
    int rc = 0;
    if (s->out) {
        rc = fflush(s->out);
        if (s->out_owned)
            rc |= fclose(s->out);
    }
    if (s->fd >= 0)
        close(s->fd);
    free(s);
    return rc ? EOF : 0;
}

static int open_syslog(struct sink *s, const struct lb_config *c)
{
    s->facility = c->log_facility;
    s->rfc = c->log_rfc;
    if (c->log_udp) {
        memcpy(&s->to, &c->log_addr.u, c->log_addr.len);
        s->tolen = c->log_addr.len;
    } else {
        struct sockaddr_un *un = (struct sockaddr_un *)&s->to;
        un->sun_family = AF_UNIX;
        size_t n = strnlen(c->log_path, sizeof un->sun_path - 1); /* the parser's bound */
        memcpy(un->sun_path, c->log_path, n);
        s->tolen = (socklen_t)sizeof *un;
    }
    s->fd = socket(s->to.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s->fd < 0)
        return -1;
    if (gethostname(s->host, sizeof s->host) < 0 || !s->host[0])
        strcpy(s->host, "-");
    s->host[sizeof s->host - 1] = 0;
    for (char *p = s->host; *p; p++)
        if (*p <= ' ' || *p >= 0x7f)
            *p = '-';
    return 0;
}

FILE *lb_log_sink_open(const struct lb_config *c, FILE *out, int out_owned, int no_time)
{
    struct sink *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->fd = -1;
    s->out = out;
    s->out_owned = out_owned;
    s->json = c->log_format == LB_LOG_JSON;
    s->no_time = no_time;
    s->pid = (int)getpid();
    if (!out && open_syslog(s, c) < 0) {
        int e = errno;
        free(s);
        errno = e;
        return NULL;
    }
    cookie_io_functions_t io = {.write = sink_write, .close = sink_close};
    FILE *f = fopencookie(s, "w", io);
    if (!f) {
        int e = errno;
        if (s->fd >= 0)
            close(s->fd);
        free(s);
        errno = e;
        return NULL;
    }
    return f;
}
