#include "io/pcap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The file format: a 24-byte header, then per packet a 16-byte record header and the bytes.
 * Fields are in the writer's byte order; the magic tells readers which one that is. */
struct file_header {
    uint32_t magic; /* 0xa1b2c3d4: microsecond timestamps */
    uint16_t version_major, version_minor;
    int32_t thiszone;
    uint32_t sigfigs;
    uint32_t snaplen;
    uint32_t linktype;
};

struct record_header {
    uint32_t ts_sec, ts_usec;
    uint32_t incl_len, orig_len;
};

struct sf_pcap {
    FILE *f;
    int owned; /* opened by path: closed by sf_pcap_close */
    int error; /* first error, negative errno */
    uint64_t count;
};

static int io_error(void)
{
    return errno ? -errno : -EIO;
}

static struct sf_pcap *start(FILE *f, int owned)
{
    struct sf_pcap *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->f = f;
    p->owned = owned;
    const struct file_header h = {
        .magic = 0xa1b2c3d4u,
        .version_major = 2,
        .version_minor = 4,
        .snaplen = SF_PCAP_SNAPLEN,
        .linktype = SF_PCAP_LINKTYPE_RAW,
    };
    errno = 0;
    if (fwrite(&h, sizeof h, 1, f) != 1) {
        int err = errno ? errno : EIO;
        free(p);
        errno = err;
        return NULL;
    }
    return p;
}

struct sf_pcap *sf_pcap_open(const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return NULL;
    struct sf_pcap *p = start(f, 1);
    if (!p) {
        int err = errno;
        fclose(f);
        errno = err;
    }
    return p;
}

struct sf_pcap *sf_pcap_open_stream(FILE *f)
{
    if (!f) {
        errno = EINVAL;
        return NULL;
    }
    return start(f, 0);
}

int sf_pcap_write(struct sf_pcap *p, uint64_t time_us, const void *pkt, size_t len)
{
    if (p->error)
        return p->error;
    if (len > UINT32_MAX) {
        p->error = -EMSGSIZE;
        return p->error;
    }
    size_t incl = len > SF_PCAP_SNAPLEN ? SF_PCAP_SNAPLEN : len;
    const struct record_header r = {
        .ts_sec = (uint32_t)(time_us / 1000000u),
        .ts_usec = (uint32_t)(time_us % 1000000u),
        .incl_len = (uint32_t)incl,
        .orig_len = (uint32_t)len,
    };
    errno = 0;
    if (fwrite(&r, sizeof r, 1, p->f) != 1 || (incl && fwrite(pkt, incl, 1, p->f) != 1)) {
        p->error = io_error();
        return p->error;
    }
    p->count++;
    return 0;
}

uint64_t sf_pcap_count(const struct sf_pcap *p)
{
    return p->count;
}

int sf_pcap_close(struct sf_pcap *p)
{
    if (!p)
        return 0;
    int err = p->error;
    errno = 0;
    if (fflush(p->f) != 0 && !err)
        err = io_error();
    if (p->owned) {
        errno = 0;
        if (fclose(p->f) != 0 && !err)
            err = io_error();
    }
    free(p);
    return err;
}
