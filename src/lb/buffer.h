/* Fixed-size byte buffers from a free list. A pipe holds a buffer only while bytes wait in
 * it, so idle sessions cost no buffer memory and busy ones reuse cache-warm buffers. */
#ifndef SYNFIN_LB_BUFFER_H
#define SYNFIN_LB_BUFFER_H

#include <stddef.h>
#include <stdint.h>

struct lb_buf {
    struct lb_buf *next;
    uint32_t cap;
    char data[];
};

#define LB_BUFPOOL_CLASSES 4

struct lb_bufpool {
    struct {
        uint32_t cap;
        struct lb_buf *free;
        size_t nfree;
    } cls[LB_BUFPOOL_CLASSES];
    size_t max_free_bytes; /* kept on the free lists at most */
    size_t free_bytes;
    size_t in_use; /* buffers handed out */
};

void lb_bufpool_init(struct lb_bufpool *p, size_t max_free_bytes);
void lb_bufpool_clear(struct lb_bufpool *p);
/* A buffer of exactly cap bytes, or NULL when memory runs out. */
struct lb_buf *lb_buf_get(struct lb_bufpool *p, uint32_t cap);
void lb_buf_put(struct lb_bufpool *p, struct lb_buf *b);

#endif
