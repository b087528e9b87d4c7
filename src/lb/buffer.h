/* Fixed-size byte buffers from a free list. A pipe holds a buffer only while bytes wait in
 * it, so idle sessions cost no buffer memory and busy ones reuse cache-warm buffers. */
#ifndef SYNFIN_LB_BUFFER_H
#define SYNFIN_LB_BUFFER_H

#include <stddef.h>
#include <stdint.h>

struct sf_buf {
    struct sf_buf *next;
    uint32_t cap;
    char data[];
};

#define SF_BUFPOOL_CLASSES 4

struct sf_bufpool {
    struct {
        uint32_t cap;
        struct sf_buf *free;
        size_t nfree;
    } cls[SF_BUFPOOL_CLASSES];
    size_t max_free_bytes; /* kept on the free lists at most */
    size_t free_bytes;
    size_t in_use; /* buffers handed out */
};

void sf_bufpool_init(struct sf_bufpool *p, size_t max_free_bytes);
void sf_bufpool_clear(struct sf_bufpool *p);
/* A buffer of exactly cap bytes, or NULL when memory runs out. */
struct sf_buf *sf_buf_get(struct sf_bufpool *p, uint32_t cap);
void sf_buf_put(struct sf_bufpool *p, struct sf_buf *b);

#endif
