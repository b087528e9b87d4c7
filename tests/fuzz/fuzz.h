/* Shared by every fuzz harness: the libFuzzer entry point, a reader that turns the input into
 * small decisions, and the check that fails the run with a message.
 *
 * A harness is one file defining LLVMFuzzerTestOneInput. Linked with -fsanitize=fuzzer it is a
 * libFuzzer target; linked with replay.c it is a plain program that runs every file of its
 * corpus once (make test). Invariant failures abort, which both count as a crash. */
#ifndef SYNFIN_FUZZ_H
#define SYNFIN_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((noreturn, format(printf, 4, 5))) static inline void
fz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "\n%s:%d: invariant failed: %s\n  ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

/* An invariant the code under test must keep; the message says what was seen. */
#define FZ_CHECK(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                                       \
    } while (0)

/* The input as a stream of decisions. Past its end every read is 0, so a short input still
 * decodes to a complete (short) scenario rather than being rejected. */
struct fz_in {
    const uint8_t *p;
    size_t n;
};

static inline uint8_t fz_u8(struct fz_in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static inline uint16_t fz_u16(struct fz_in *in)
{
    uint16_t hi = fz_u8(in);
    return (uint16_t)(hi << 8 | fz_u8(in));
}

static inline uint32_t fz_u32(struct fz_in *in)
{
    uint32_t hi = fz_u16(in);
    return hi << 16 | fz_u16(in);
}

/* Up to want bytes of the input itself; returns how many. */
static inline size_t fz_bytes(struct fz_in *in, const uint8_t **out, size_t want)
{
    size_t n = want < in->n ? want : in->n;
    *out = in->p;
    in->p += n;
    in->n -= n;
    return n;
}

#endif
