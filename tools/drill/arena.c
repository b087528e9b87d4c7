#include "arena.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 16384

struct dr_arena_block {
    struct dr_arena_block *next;
    size_t used, size;
    alignas(max_align_t) unsigned char data[];
};

void *dr_arena_alloc(struct dr_arena *a, size_t size)
{
    const size_t align = alignof(max_align_t);
    size = (size + align - 1) & ~(align - 1);
    struct dr_arena_block *b = a->head;
    if (!b || b->size - b->used < size) {
        size_t cap = size > BLOCK ? size : BLOCK;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->size = cap;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

char *dr_arena_strndup(struct dr_arena *a, const char *s, size_t n)
{
    char *p = dr_arena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

void dr_arena_free(struct dr_arena *a)
{
    struct dr_arena_block *b = a->head;
    while (b) {
        struct dr_arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
}
