/* Whole-line appends to a log file (log_lines.h). On a regular file an O_APPEND write(2)
 * lands in one piece at the end whatever other writers do, so a stream whose every write
 * ends at a newline never interleaves with another's within a line. */
#include "lb/log_lines.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TAIL_MAX 4096 /* a line longer than this goes out in pieces: one per fill */

struct lines {
    int fd;
    size_t tail;
    char buf[TAIL_MAX];
};

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* stdio hands over what it buffered, cut anywhere: the lines go out with what waited before
 * them in one write when it fits, the part after the last newline waits. */
static ssize_t lines_write(void *cookie, const char *buf, size_t size)
{
    struct lines *l = cookie;
    const char *nl = memrchr(buf, '\n', size);
    if (!nl) {
        if (l->tail + size > sizeof l->buf) {
            if (write_all(l->fd, l->buf, l->tail) < 0)
                return -1;
            l->tail = 0;
            if (size > sizeof l->buf)
                return write_all(l->fd, buf, size) < 0 ? -1 : (ssize_t)size;
        }
        memcpy(l->buf + l->tail, buf, size);
        l->tail += size;
        return (ssize_t)size;
    }
    size_t whole = (size_t)(nl - buf) + 1;
    if (l->tail) {
        /* the waiting start of a line, then the rest: one write when both are small */
        char *one = malloc(l->tail + whole);
        if (one) {
            memcpy(one, l->buf, l->tail);
            memcpy(one + l->tail, buf, whole);
            int rc = write_all(l->fd, one, l->tail + whole);
            free(one);
            if (rc < 0)
                return -1;
        } else if (write_all(l->fd, l->buf, l->tail) < 0 || write_all(l->fd, buf, whole) < 0) {
            return -1;
        }
        l->tail = 0;
    } else if (write_all(l->fd, buf, whole) < 0) {
        return -1;
    }
    size_t rest = size - whole;
    if (rest > sizeof l->buf) { /* no newline in more than a tail's worth: let it go */
        if (write_all(l->fd, buf + whole, rest) < 0)
            return -1;
        rest = 0;
    }
    memcpy(l->buf, buf + whole, rest);
    l->tail = rest;
    return (ssize_t)size;
}

static int lines_close(void *cookie)
{
    struct lines *l = cookie;
    int rc = l->tail ? write_all(l->fd, l->buf, l->tail) : 0;
    rc |= close(l->fd);
    free(l);
    return rc ? EOF : 0;
}

FILE *lb_log_lines_open(const char *path)
{
    struct lines *l = malloc(sizeof *l);
    if (!l)
        return NULL;
    l->tail = 0;
    l->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (l->fd < 0) {
        int e = errno;
        free(l);
        errno = e;
        return NULL;
    }
    cookie_io_functions_t io = {.write = lines_write, .close = lines_close};
    FILE *f = fopencookie(l, "a", io);
    if (!f) {
        int e = errno;
        close(l->fd);
        free(l);
        errno = e;
        return NULL;
    }
    /* A batch's lines in one write, most of the time (the flush comes after each batch). */
    setvbuf(f, NULL, _IOFBF, 64 << 10);
    return f;
}
