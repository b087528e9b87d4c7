/* Buffer free lists by size; see buffer.h. */
#include "lb/buffer.h"
#include "lb/counter.h"

#include <stdlib.h>
#include <string.h>

void lb_bufpool_init(struct lb_bufpool *p, size_t max_free_bytes)
{
    memset(p, 0, sizeof *p);
    p->max_free_bytes = max_free_bytes;
}

void lb_bufpool_clear(struct lb_bufpool *p)
{
    for (int i = 0; i < LB_BUFPOOL_CLASSES; i++) {
        while (p->cls[i].free) {
            struct lb_buf *b = p->cls[i].free;
            p->cls[i].free = b->next;
            free(b);
        }
        p->cls[i].nfree = 0;
    }
    p->free_bytes = 0;
}

static int class_of(struct lb_bufpool *p, uint32_t cap, int create)
{
    for (int i = 0; i < LB_BUFPOOL_CLASSES; i++)
        if (p->cls[i].cap == cap)
            return i;
    if (!create)
        return -1;
    for (int i = 0; i < LB_BUFPOOL_CLASSES; i++)
        if (p->cls[i].cap == 0 || (!p->cls[i].free)) {
            p->cls[i].cap = cap;
            return i;
        }
    return -1;
}

struct lb_buf *lb_buf_get(struct lb_bufpool *p, uint32_t cap)
{
    int c = class_of(p, cap, 0);
    struct lb_buf *b = NULL;
    if (c >= 0 && p->cls[c].free) {
        b = p->cls[c].free;
        p->cls[c].free = b->next;
        p->cls[c].nfree--;
        LB_COUNT_SUB(p->free_bytes, cap);
    } else {
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->cap = cap;
    }
    b->next = NULL;
    LB_COUNT_INC(p->in_use);
    return b;
}

void lb_buf_put(struct lb_bufpool *p, struct lb_buf *b)
{
    LB_COUNT_DEC(p->in_use);
    int c = p->free_bytes + b->cap <= p->max_free_bytes ? class_of(p, b->cap, 1) : -1;
    if (c < 0) {
        free(b);
        return;
    }
    b->next = p->cls[c].free;
    p->cls[c].free = b;
    p->cls[c].nfree++;
    LB_COUNT_ADD(p->free_bytes, b->cap);
}
